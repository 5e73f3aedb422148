package permanente_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/permanente"
)

func TestActivation(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st permanente.Store) {
		e := newEnv(t, st)
		code := e.register(t, citizen)
		assert.Len(t, code.Value, permanente.ActivationCodeLength)
		for _, r := range code.Value {
			assert.Contains(t, permanente.ActivationAlphabet, string(r))
		}
		assert.Regexp(t, `^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$`, code.Grouped())
		assert.True(t, t0.Equal(code.IssuedAt))

		status, err := e.svc.Status(e.ctx, citizen)
		require.NoError(t, err)
		assert.Equal(t, permanente.Status{Registered: true}, status)

		sms, err := e.svc.StartActivation(e.ctx, citizen, code.Grouped())
		require.NoError(t, err)
		assert.Regexp(t, `^[0-9]{6}$`, sms.Value)
		assert.True(t, t0.Add(5*time.Minute).Equal(sms.ExpiresAt))

		ticket, err := e.svc.VerifyActivationSMS(e.ctx, citizen, sms.Value)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, len(ticket), 40)
		require.NoError(t, e.svc.CompleteActivation(e.ctx, citizen, ticket, goodPassword, profile))

		res, err := e.svc.Login(e.ctx, citizen, goodPassword)
		require.NoError(t, err)
		assert.Equal(t, permanente.Result{Citizen: citizen, PasswordSetAt: t0,
			PasswordExpiresAt: t0.Add(2 * 365 * 24 * time.Hour)}, res)

		status, err = e.svc.Status(e.ctx, citizen)
		require.NoError(t, err)
		assert.True(t, status.Activated)
		assert.True(t, t0.Equal(status.PasswordSetAt))

		_, err = e.svc.StartActivation(e.ctx, citizen, code.Value)
		assert.ErrorIs(t, err, permanente.ErrAlreadyActivated, "a second activation goes through the reset")
	})
}

// TestActivationCodeTyping: case, spaces, tabs, hyphens and dots do not
// matter; each start replaces the flow.
func TestActivationCodeTyping(t *testing.T) {
	t.Parallel()
	e := newEnv(t, permanente.NewMemoryStore())
	code := e.register(t, citizen)
	v := code.Value
	for _, typed := range []string{
		v, code.Grouped(), strings.ToLower(code.Grouped()),
		v[:4] + " " + v[4:8] + " " + v[8:12] + " " + v[12:],
		"  " + strings.ToLower(v[:8]) + "\t" + v[8:] + " ",
		v[:4] + "." + v[4:8] + "." + v[8:12] + "." + v[12:],
	} {
		_, err := e.svc.StartActivation(e.ctx, citizen, typed)
		assert.NoError(t, err, "%q", typed)
	}
	// The citizen is written any way dni.Parse accepts.
	_, err := e.svc.StartActivation(e.ctx, "12.345.678-z", v)
	assert.NoError(t, err)
}

// TestActivationCodeBlock: more than 5 wrong entries block the code, even
// against the right one, until it is regenerated; the old code then never
// works again.
func TestActivationCodeBlock(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st permanente.Store) {
		e := newEnv(t, st)
		code := e.register(t, citizen)
		wrong := wrongActivation(code)

		// A right entry resets the count.
		for range 5 {
			_, err := e.svc.StartActivation(e.ctx, citizen, wrong)
			require.ErrorIs(t, err, permanente.ErrWrongActivationCode)
		}
		_, err := e.svc.StartActivation(e.ctx, citizen, code.Value)
		require.NoError(t, err)

		for i := range 5 {
			_, err := e.svc.StartActivation(e.ctx, citizen, wrong)
			require.ErrorIs(t, err, permanente.ErrWrongActivationCode, "wrong entry %d", i+1)
		}
		_, err = e.svc.StartActivation(e.ctx, citizen, wrong)
		require.ErrorIs(t, err, permanente.ErrActivationBlocked, "the sixth wrong entry blocks")
		_, err = e.svc.StartActivation(e.ctx, citizen, code.Value)
		assert.ErrorIs(t, err, permanente.ErrActivationBlocked, "even the right code")
		_, err = e.svc.StartReset(e.ctx, citizen, code.Value)
		assert.ErrorIs(t, err, permanente.ErrActivationBlocked)
		status, err := e.svc.Status(e.ctx, citizen)
		require.NoError(t, err)
		assert.True(t, status.ActivationBlocked)

		e.clock.Advance(time.Hour)
		fresh, err := e.svc.RegenerateActivationCode(e.ctx, citizen)
		require.NoError(t, err)
		assert.NotEqual(t, code.Value, fresh.Value)
		assert.True(t, t0.Add(time.Hour).Equal(fresh.IssuedAt))
		_, err = e.svc.StartActivation(e.ctx, citizen, code.Value)
		assert.ErrorIs(t, err, permanente.ErrWrongActivationCode, "only the latest code is valid")
		_, err = e.svc.StartActivation(e.ctx, citizen, fresh.Grouped())
		assert.NoError(t, err)
	})
}

// TestRegenerationInvalidatesOldCode: without any block, a regenerated code
// replaces the old one and drops the flow it started.
func TestRegenerationInvalidatesOldCode(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st permanente.Store) {
		e := newEnv(t, st)
		old := e.register(t, citizen)
		sms, err := e.svc.StartActivation(e.ctx, citizen, old.Value)
		require.NoError(t, err)
		fresh, err := e.svc.RegenerateActivationCode(e.ctx, citizen)
		require.NoError(t, err)
		_, err = e.svc.VerifyActivationSMS(e.ctx, citizen, sms.Value)
		assert.ErrorIs(t, err, permanente.ErrNoCode, "the flow of the old code is dropped")
		_, err = e.svc.StartActivation(e.ctx, citizen, old.Value)
		assert.ErrorIs(t, err, permanente.ErrWrongActivationCode)
		_, err = e.svc.StartActivation(e.ctx, citizen, fresh.Value)
		assert.NoError(t, err)
	})
}

// TestMalformedActivationCodeNotCounted: a typing slip cannot be a guess.
func TestMalformedActivationCodeNotCounted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, permanente.NewMemoryStore())
	code := e.register(t, citizen)
	for _, typed := range []string{"", "ABCD", code.Value + "A", "O0I1" + code.Value[4:], strings.Repeat("A", 100),
		code.Value[:15] + "!"} {
		for range 3 {
			_, err := e.svc.StartActivation(e.ctx, citizen, typed)
			require.ErrorIs(t, err, permanente.ErrWrongActivationCode, "%q", typed)
		}
	}
	_, err := e.svc.StartActivation(e.ctx, citizen, code.Value)
	assert.NoError(t, err)
}

// TestActivationStrangers: an unknown citizen, or another citizen's code,
// gets the answer of a wrong code.
func TestActivationStrangers(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st permanente.Store) {
		e := newEnv(t, st)
		code := e.register(t, citizen)
		for _, f := range []func(context.Context, string, string) (permanente.Code, error){
			e.svc.StartActivation, e.svc.StartReset,
		} {
			_, err := f(e.ctx, unknown, code.Value)
			assert.ErrorIs(t, err, permanente.ErrWrongActivationCode)
			e.register(t, otherOne)
			_, err = f(e.ctx, otherOne, code.Value)
			assert.ErrorIs(t, err, permanente.ErrWrongActivationCode, "codes are bound to their citizen")
			require.NoError(t, e.svc.DeleteUser(e.ctx, otherOne))
		}
		_, err := e.st.Account(e.ctx, unknown)
		assert.ErrorIs(t, err, permanente.ErrNotFound, "no account is made for strangers")
	})
}

// TestSMSRestart: the third wrong SMS code drops the flow; the activation
// code is not counted against, and the citizen starts again.
func TestSMSRestart(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st permanente.Store) {
		e := newEnv(t, st)
		code := e.register(t, citizen)
		for round := range 4 {
			sms, err := e.svc.StartActivation(e.ctx, citizen, code.Value)
			require.NoError(t, err, "round %d: the activation code is not blocked by restarts", round)
			for range 2 {
				_, err = e.svc.VerifyActivationSMS(e.ctx, citizen, wrongCode(sms))
				require.ErrorIs(t, err, permanente.ErrWrongCode)
			}
			_, err = e.svc.VerifyActivationSMS(e.ctx, citizen, wrongCode(sms))
			require.ErrorIs(t, err, permanente.ErrRestart)
			_, err = e.svc.VerifyActivationSMS(e.ctx, citizen, sms.Value)
			require.ErrorIs(t, err, permanente.ErrNoCode, "the spent code is gone")
		}
		status, err := e.svc.Status(e.ctx, citizen)
		require.NoError(t, err)
		assert.False(t, status.ActivationBlocked)

		// Two wrong, then the right one.
		sms, err := e.svc.StartActivation(e.ctx, citizen, code.Value)
		require.NoError(t, err)
		for range 2 {
			_, err = e.svc.VerifyActivationSMS(e.ctx, citizen, wrongCode(sms))
			require.ErrorIs(t, err, permanente.ErrWrongCode)
		}
		_, err = e.svc.VerifyActivationSMS(e.ctx, citizen, " "+sms.Value[:3]+" "+sms.Value[3:]+" ")
		assert.NoError(t, err, "spaces in a typed SMS code are ignored")
	})
}

func TestSMSExpiryAndSingleUse(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st permanente.Store) {
		e := newEnv(t, st)
		code := e.register(t, citizen)

		sms, err := e.svc.StartActivation(e.ctx, citizen, code.Value)
		require.NoError(t, err)
		e.clock.Advance(5 * time.Minute)
		_, err = e.svc.VerifyActivationSMS(e.ctx, citizen, sms.Value)
		assert.ErrorIs(t, err, permanente.ErrExpired)
		_, err = e.svc.VerifyActivationSMS(e.ctx, citizen, sms.Value)
		assert.ErrorIs(t, err, permanente.ErrNoCode, "an expired code is dropped")

		sms, err = e.svc.StartActivation(e.ctx, citizen, code.Value)
		require.NoError(t, err)
		e.clock.Advance(5*time.Minute - time.Nanosecond)
		_, err = e.svc.VerifyActivationSMS(e.ctx, citizen, sms.Value)
		require.NoError(t, err, "valid until its last nanosecond")
		_, err = e.svc.VerifyActivationSMS(e.ctx, citizen, sms.Value)
		assert.ErrorIs(t, err, permanente.ErrNoCode, "single use")
	})
}

// TestSMSCodesBoundToFlow: an activation's SMS code does not verify a reset,
// and a newer start replaces the older code.
func TestSMSCodesBoundToFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, permanente.NewMemoryStore())
	code := e.register(t, citizen)
	first, err := e.svc.StartActivation(e.ctx, citizen, code.Value)
	require.NoError(t, err)
	_, err = e.svc.VerifyResetSMS(e.ctx, citizen, first.Value)
	assert.ErrorIs(t, err, permanente.ErrNoCode)
	second, err := e.svc.StartActivation(e.ctx, citizen, code.Value)
	require.NoError(t, err)
	if first.Value != second.Value {
		_, err = e.svc.VerifyActivationSMS(e.ctx, citizen, first.Value)
		assert.ErrorIs(t, err, permanente.ErrWrongCode)
	}
	_, err = e.svc.VerifyActivationSMS(e.ctx, citizen, second.Value)
	assert.NoError(t, err)
}

func TestTicket(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st permanente.Store) {
		e := newEnv(t, st)
		code := e.register(t, citizen)
		sms, err := e.svc.StartActivation(e.ctx, citizen, code.Value)
		require.NoError(t, err)
		ticket, err := e.svc.VerifyActivationSMS(e.ctx, citizen, sms.Value)
		require.NoError(t, err)

		for _, bad := range []string{"", "x", ticket + "x", strings.Repeat("a", 1000)} {
			err = e.svc.CompleteActivation(e.ctx, citizen, bad, goodPassword, profile)
			assert.ErrorIs(t, err, permanente.ErrBadTicket)
		}
		assert.ErrorIs(t, e.svc.CompleteReset(e.ctx, citizen, ticket, goodPassword, profile), permanente.ErrBadTicket,
			"an activation ticket does not reset")
		assert.ErrorIs(t, e.svc.CompleteActivation(e.ctx, otherOne, ticket, goodPassword, profile), permanente.ErrBadTicket)

		err = e.svc.CompleteActivation(e.ctx, citizen, ticket, "garcia", profile)
		assert.ErrorIs(t, err, permanente.ErrWeakPassword)
		assert.Equal(t, []permanente.Rule{permanente.RuleTooShort, permanente.RuleNoUpper, permanente.RuleNoDigit,
			permanente.RuleNoSpecial, permanente.RuleHasName}, permanente.BrokenRules(err))
		err = e.svc.CompleteActivation(e.ctx, citizen, ticket, "Clave#12345678Z", profile)
		assert.Equal(t, []permanente.Rule{permanente.RuleHasID}, permanente.BrokenRules(err),
			"the citizen's own ID is checked whatever the profile says")

		require.NoError(t, e.svc.CompleteActivation(e.ctx, citizen, ticket, goodPassword, profile),
			"a refused password leaves the ticket valid")
		assert.ErrorIs(t, e.svc.CompleteActivation(e.ctx, citizen, ticket, otherPassword, profile),
			permanente.ErrBadTicket, "single use")
	})
}

func TestTicketExpiry(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st permanente.Store) {
		e := newEnv(t, st)
		code := e.register(t, citizen)
		sms, err := e.svc.StartActivation(e.ctx, citizen, code.Value)
		require.NoError(t, err)
		ticket, err := e.svc.VerifyActivationSMS(e.ctx, citizen, sms.Value)
		require.NoError(t, err)
		e.clock.Advance(10 * time.Minute)
		assert.ErrorIs(t, e.svc.CompleteActivation(e.ctx, citizen, ticket, goodPassword, profile), permanente.ErrBadTicket)
		_, err = e.svc.Login(e.ctx, citizen, goodPassword)
		assert.ErrorIs(t, err, permanente.ErrWrongPassword)
	})
}

// TestReset: 5 failures block the password; the forgotten-password flow
// unblocks it, refusing the password it replaces.
func TestReset(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st permanente.Store) {
		e := newEnv(t, st)
		code := e.activate(t, citizen, goodPassword)
		for range 5 {
			_, err := e.svc.Login(e.ctx, citizen, "Wrong#Pass1")
			require.Error(t, err)
		}
		_, err := e.svc.Login(e.ctx, citizen, goodPassword)
		require.ErrorIs(t, err, permanente.ErrBlocked)

		e.clock.Advance(time.Hour)
		err = e.reset(t, citizen, code, goodPassword)
		assert.Equal(t, []permanente.Rule{permanente.RuleReused}, permanente.BrokenRules(err),
			"the new password must differ from the last")
		require.NoError(t, e.reset(t, citizen, code, otherPassword))

		_, err = e.svc.Login(e.ctx, citizen, goodPassword)
		assert.ErrorIs(t, err, permanente.ErrWrongPassword)
		res, err := e.svc.Login(e.ctx, citizen, otherPassword)
		require.NoError(t, err, "unblocked")
		assert.True(t, t0.Add(time.Hour).Equal(res.PasswordSetAt))

		// The password before the current one is refused too.
		err = e.reset(t, citizen, code, goodPassword)
		assert.Equal(t, []permanente.Rule{permanente.RuleReused}, permanente.BrokenRules(err))
		require.NoError(t, e.reset(t, citizen, code, thirdPassword))
		require.NoError(t, e.reset(t, citizen, code, goodPassword), "two passwords back is allowed")
	})
}

func TestResetNeedsActivation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, permanente.NewMemoryStore())
	code := e.register(t, citizen)
	_, err := e.svc.StartReset(e.ctx, citizen, code.Value)
	assert.ErrorIs(t, err, permanente.ErrNotActivated)
	_, err = e.svc.StartReset(e.ctx, citizen, wrongActivation(code))
	assert.ErrorIs(t, err, permanente.ErrWrongActivationCode, "the code is checked first")
}

func TestRestartDuringReset(t *testing.T) {
	t.Parallel()
	e := newEnv(t, permanente.NewMemoryStore())
	code := e.activate(t, citizen, goodPassword)
	sms, err := e.svc.StartReset(e.ctx, citizen, code.Value)
	require.NoError(t, err)
	for range 2 {
		_, err = e.svc.VerifyResetSMS(e.ctx, citizen, wrongCode(sms))
		require.ErrorIs(t, err, permanente.ErrWrongCode)
	}
	_, err = e.svc.VerifyResetSMS(e.ctx, citizen, wrongCode(sms))
	assert.ErrorIs(t, err, permanente.ErrRestart)
	_, err = e.svc.Login(e.ctx, citizen, goodPassword)
	assert.NoError(t, err, "a failed reset leaves the password alone")
}

func TestDeleteUser(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st permanente.Store) {
		e := newEnv(t, st)
		code := e.activate(t, citizen, goodPassword)
		require.NoError(t, e.svc.DeleteUser(e.ctx, citizen))

		_, err := e.svc.Login(e.ctx, citizen, goodPassword)
		assert.ErrorIs(t, err, permanente.ErrWrongPassword)
		_, err = e.svc.StartReset(e.ctx, citizen, code.Value)
		assert.ErrorIs(t, err, permanente.ErrWrongActivationCode, "the activation code is gone too")
		_, err = e.svc.Status(e.ctx, citizen)
		assert.ErrorIs(t, err, permanente.ErrNotRegistered)
		assert.ErrorIs(t, e.svc.DeleteUser(e.ctx, citizen), permanente.ErrNotRegistered)
		_, err = e.svc.RegenerateActivationCode(e.ctx, citizen)
		assert.ErrorIs(t, err, permanente.ErrNotRegistered)
		_, err = e.st.Account(e.ctx, citizen)
		assert.ErrorIs(t, err, permanente.ErrNotFound)

		// Registered again later: a new code, a fresh start.
		fresh := e.register(t, citizen)
		_, err = e.svc.StartActivation(e.ctx, citizen, code.Value)
		assert.ErrorIs(t, err, permanente.ErrWrongActivationCode)
		sms, err := e.svc.StartActivation(e.ctx, citizen, fresh.Value)
		require.NoError(t, err)
		ticket, err := e.svc.VerifyActivationSMS(e.ctx, citizen, sms.Value)
		require.NoError(t, err)
		require.NoError(t, e.svc.CompleteActivation(e.ctx, citizen, ticket, goodPassword, profile))
		_, err = e.svc.Login(e.ctx, citizen, goodPassword)
		assert.NoError(t, err)
	})
}

func TestRegistration(t *testing.T) {
	t.Parallel()
	e := newEnv(t, permanente.NewMemoryStore())
	e.register(t, citizen)
	_, err := e.svc.Register(e.ctx, "12345678z")
	assert.ErrorIs(t, err, permanente.ErrAlreadyRegistered)
	_, err = e.svc.RegenerateActivationCode(e.ctx, unknown)
	assert.ErrorIs(t, err, permanente.ErrNotRegistered)
	_, err = e.svc.Status(e.ctx, unknown)
	assert.ErrorIs(t, err, permanente.ErrNotRegistered)
}

func TestBadCitizen(t *testing.T) {
	t.Parallel()
	e := newEnv(t, permanente.NewMemoryStore())
	for _, bad := range []string{"", "12345678A", "ES/DE/123456", strings.Repeat("1", 300)} {
		calls := []error{
			e.svc.DeleteUser(e.ctx, bad),
			e.svc.CompleteActivation(e.ctx, bad, "t", goodPassword, profile),
			e.svc.CompleteReset(e.ctx, bad, "t", goodPassword, profile),
			e.svc.ChangePassword(e.ctx, bad, goodPassword, otherPassword, profile),
			e.svc.VerifyLoginSMS(e.ctx, bad, "l", "123456"),
		}
		_, err := e.svc.Register(e.ctx, bad)
		calls = append(calls, err)
		_, err = e.svc.RegenerateActivationCode(e.ctx, bad)
		calls = append(calls, err)
		_, err = e.svc.Status(e.ctx, bad)
		calls = append(calls, err)
		_, err = e.svc.StartActivation(e.ctx, bad, "x")
		calls = append(calls, err)
		_, err = e.svc.StartReset(e.ctx, bad, "x")
		calls = append(calls, err)
		_, err = e.svc.VerifyActivationSMS(e.ctx, bad, "x")
		calls = append(calls, err)
		_, err = e.svc.VerifyResetSMS(e.ctx, bad, "x")
		calls = append(calls, err)
		_, err = e.svc.Login(e.ctx, bad, goodPassword)
		calls = append(calls, err)
		_, err = e.svc.IssueLoginSMS(e.ctx, bad, "l")
		calls = append(calls, err)
		for i, err := range calls {
			assert.ErrorIs(t, err, permanente.ErrBadCitizen, "%q call %d", bad, i)
			if bad != "" {
				assert.NotContains(t, err.Error(), bad, "errors do not carry the identifier")
			}
		}
	}
}

func TestCodesHideValues(t *testing.T) {
	t.Parallel()
	e := newEnv(t, permanente.NewMemoryStore())
	code := e.register(t, citizen)
	sms, err := e.svc.StartActivation(e.ctx, citizen, code.Value)
	require.NoError(t, err)
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		assert.NotContains(t, fmt.Sprintf(format, code), code.Value, format)
		assert.NotContains(t, fmt.Sprintf(format, sms), sms.Value, format)
	}
}
