package permanente_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/permanente"
)

const maxAge = 2 * 365 * 24 * time.Hour

// TestLoginBlocksAfterFive: the fifth consecutive failure blocks the
// password, against the right one too, until a reset.
func TestLoginBlocksAfterFive(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st permanente.Store) {
		e := newEnv(t, st)
		code := e.activate(t, citizen, goodPassword)
		for i := range 4 {
			_, err := e.svc.Login(e.ctx, citizen, otherPassword)
			require.ErrorIs(t, err, permanente.ErrWrongPassword, "failure %d", i+1)
		}
		_, err := e.svc.Login(e.ctx, citizen, otherPassword)
		require.ErrorIs(t, err, permanente.ErrBlocked, "the fifth failure blocks")
		_, err = e.svc.Login(e.ctx, citizen, goodPassword)
		assert.ErrorIs(t, err, permanente.ErrBlocked, "even the right password")
		status, err := e.svc.Status(e.ctx, citizen)
		require.NoError(t, err)
		assert.True(t, status.PasswordBlocked)
		_, err = e.svc.IssueLoginSMS(e.ctx, citizen, "login-1")
		assert.ErrorIs(t, err, permanente.ErrBlocked)
		assert.ErrorIs(t, e.svc.ChangePassword(e.ctx, citizen, goodPassword, thirdPassword, profile), permanente.ErrBlocked)

		require.NoError(t, e.reset(t, citizen, code, thirdPassword))
		_, err = e.svc.Login(e.ctx, citizen, thirdPassword)
		assert.NoError(t, err)
	})
}

func TestLoginSuccessResetsCount(t *testing.T) {
	t.Parallel()
	e := newEnv(t, permanente.NewMemoryStore())
	e.activate(t, citizen, goodPassword)
	for range 3 {
		for range 4 {
			_, err := e.svc.Login(e.ctx, citizen, otherPassword)
			require.ErrorIs(t, err, permanente.ErrWrongPassword)
		}
		_, err := e.svc.Login(e.ctx, citizen, goodPassword)
		require.NoError(t, err)
	}
}

// TestLoginStrangers: unknown and not activated citizens are answered as a
// wrong password, and are not blocked or created.
func TestLoginStrangers(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st permanente.Store) {
		e := newEnv(t, st)
		e.activate(t, citizen, goodPassword)
		e.register(t, otherOne)
		for _, who := range []string{unknown, otherOne} {
			for range 7 {
				_, err := e.svc.Login(e.ctx, who, goodPassword)
				require.ErrorIs(t, err, permanente.ErrWrongPassword)
				assert.NotErrorIs(t, err, permanente.ErrBlocked)
			}
		}
		_, err := e.svc.Login(e.ctx, citizen, otherPassword)
		assert.ErrorIs(t, err, permanente.ErrWrongPassword)
		_, err = e.st.Account(e.ctx, unknown)
		assert.ErrorIs(t, err, permanente.ErrNotFound)
	})
}

func TestLoginRefusesHugePasswords(t *testing.T) {
	t.Parallel()
	e := newEnv(t, permanente.NewMemoryStore())
	e.activate(t, citizen, goodPassword)
	huge := goodPassword + strings.Repeat("x", 600)
	for range 4 {
		_, err := e.svc.Login(e.ctx, citizen, huge)
		require.ErrorIs(t, err, permanente.ErrWrongPassword)
	}
	_, err := e.svc.Login(e.ctx, citizen, huge)
	assert.ErrorIs(t, err, permanente.ErrBlocked, "counted as failures")
}

// TestPasswordExpiry: after 2 years a right password logs in only to be
// changed.
func TestPasswordExpiry(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st permanente.Store) {
		e := newEnv(t, st)
		e.activate(t, citizen, goodPassword)
		e.clock.Advance(maxAge - time.Nanosecond)
		res, err := e.svc.Login(e.ctx, citizen, goodPassword)
		require.NoError(t, err)
		assert.False(t, res.MustChange)
		assert.True(t, t0.Add(maxAge).Equal(res.PasswordExpiresAt))

		e.clock.Advance(time.Nanosecond)
		res, err = e.svc.Login(e.ctx, citizen, goodPassword)
		require.ErrorIs(t, err, permanente.ErrPasswordExpired)
		assert.True(t, res.MustChange)
		assert.Equal(t, citizen, res.Citizen)
		_, err = e.svc.Login(e.ctx, citizen, otherPassword)
		assert.ErrorIs(t, err, permanente.ErrWrongPassword, "a wrong password is still wrong")

		err = e.svc.ChangePassword(e.ctx, citizen, goodPassword, goodPassword, profile)
		assert.Equal(t, []permanente.Rule{permanente.RuleReused}, permanente.BrokenRules(err))
		require.NoError(t, e.svc.ChangePassword(e.ctx, citizen, goodPassword, otherPassword, profile))
		res, err = e.svc.Login(e.ctx, citizen, otherPassword)
		require.NoError(t, err)
		assert.False(t, res.MustChange)
		assert.True(t, e.clock.Now().Add(maxAge).Equal(res.PasswordExpiresAt))
	})
}

func TestPasswordMaxAgeConfig(t *testing.T) {
	t.Parallel()
	e := newEnvConfig(t, permanente.NewMemoryStore(), permanente.Config{PasswordMaxAge: 90 * 24 * time.Hour})
	e.activate(t, citizen, goodPassword)
	e.clock.Advance(90 * 24 * time.Hour)
	_, err := e.svc.Login(e.ctx, citizen, goodPassword)
	assert.ErrorIs(t, err, permanente.ErrPasswordExpired)
}

func TestChangePassword(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st permanente.Store) {
		e := newEnv(t, st)
		e.activate(t, citizen, goodPassword)

		err := e.svc.ChangePassword(e.ctx, citizen, "Wrong#Pass1", otherPassword, profile)
		assert.ErrorIs(t, err, permanente.ErrWrongPassword)
		err = e.svc.ChangePassword(e.ctx, citizen, goodPassword, "Jose1234", profile)
		assert.Equal(t, []permanente.Rule{permanente.RuleNoSpecial, permanente.RuleHasName}, permanente.BrokenRules(err))
		err = e.svc.ChangePassword(e.ctx, citizen, goodPassword, goodPassword, profile)
		assert.Equal(t, []permanente.Rule{permanente.RuleReused}, permanente.BrokenRules(err))

		e.clock.Advance(time.Hour)
		require.NoError(t, e.svc.ChangePassword(e.ctx, citizen, goodPassword, otherPassword, profile))
		_, err = e.svc.Login(e.ctx, citizen, goodPassword)
		assert.ErrorIs(t, err, permanente.ErrWrongPassword)
		res, err := e.svc.Login(e.ctx, citizen, otherPassword)
		require.NoError(t, err)
		assert.True(t, t0.Add(time.Hour).Equal(res.PasswordSetAt))

		err = e.svc.ChangePassword(e.ctx, citizen, otherPassword, goodPassword, profile)
		assert.Equal(t, []permanente.Rule{permanente.RuleReused}, permanente.BrokenRules(err), "the previous one")
		require.NoError(t, e.svc.ChangePassword(e.ctx, citizen, otherPassword, thirdPassword, profile))
		require.NoError(t, e.svc.ChangePassword(e.ctx, citizen, thirdPassword, goodPassword, profile),
			"two back is allowed")
	})
}

// TestChangePasswordCounts: the change cannot be used to guess the current
// password.
func TestChangePasswordCounts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, permanente.NewMemoryStore())
	e.activate(t, citizen, goodPassword)
	for range 4 {
		require.ErrorIs(t, e.svc.ChangePassword(e.ctx, citizen, "Wrong#Pass1", otherPassword, profile),
			permanente.ErrWrongPassword)
	}
	assert.ErrorIs(t, e.svc.ChangePassword(e.ctx, citizen, "Wrong#Pass1", otherPassword, profile), permanente.ErrBlocked)
	_, err := e.svc.Login(e.ctx, citizen, goodPassword)
	assert.ErrorIs(t, err, permanente.ErrBlocked)
	assert.ErrorIs(t, e.svc.ChangePassword(e.ctx, unknown, goodPassword, otherPassword, profile),
		permanente.ErrWrongPassword)
}

func TestLoginSMS(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st permanente.Store) {
		e := newEnv(t, st)
		e.activate(t, citizen, goodPassword)

		sms, err := e.svc.IssueLoginSMS(e.ctx, citizen, "login-1")
		require.NoError(t, err)
		assert.Regexp(t, `^[0-9]{6}$`, sms.Value)
		assert.True(t, t0.Add(5*time.Minute).Equal(sms.ExpiresAt))
		assert.ErrorIs(t, e.svc.VerifyLoginSMS(e.ctx, citizen, "login-2", sms.Value), permanente.ErrNoCode,
			"bound to its login")
		assert.ErrorIs(t, e.svc.VerifyLoginSMS(e.ctx, otherOne, "login-1", sms.Value), permanente.ErrNoCode)
		require.NoError(t, e.svc.VerifyLoginSMS(e.ctx, citizen, "login-1", sms.Value))
		assert.ErrorIs(t, e.svc.VerifyLoginSMS(e.ctx, citizen, "login-1", sms.Value), permanente.ErrNoCode, "single use")

		// Expiry.
		sms, err = e.svc.IssueLoginSMS(e.ctx, citizen, "login-2")
		require.NoError(t, err)
		e.clock.Advance(5 * time.Minute)
		assert.ErrorIs(t, e.svc.VerifyLoginSMS(e.ctx, citizen, "login-2", sms.Value), permanente.ErrExpired)

		// A newer login's code replaces the older one.
		first, err := e.svc.IssueLoginSMS(e.ctx, citizen, "login-3")
		require.NoError(t, err)
		second, err := e.svc.IssueLoginSMS(e.ctx, citizen, "login-4")
		require.NoError(t, err)
		assert.ErrorIs(t, e.svc.VerifyLoginSMS(e.ctx, citizen, "login-3", first.Value), permanente.ErrNoCode)
		require.NoError(t, e.svc.VerifyLoginSMS(e.ctx, citizen, "login-4", second.Value))
	})
}

// TestLoginSMSAttempts: 3 wrong entries spend a login's code, across
// resends.
func TestLoginSMSAttempts(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st permanente.Store) {
		e := newEnv(t, st)
		e.activate(t, citizen, goodPassword)

		sms, err := e.svc.IssueLoginSMS(e.ctx, citizen, "login-1")
		require.NoError(t, err)
		for range 2 {
			require.ErrorIs(t, e.svc.VerifyLoginSMS(e.ctx, citizen, "login-1", wrongCode(sms)), permanente.ErrWrongCode)
		}
		require.ErrorIs(t, e.svc.VerifyLoginSMS(e.ctx, citizen, "login-1", wrongCode(sms)), permanente.ErrTooManyAttempts)
		assert.ErrorIs(t, e.svc.VerifyLoginSMS(e.ctx, citizen, "login-1", sms.Value), permanente.ErrTooManyAttempts,
			"even the right code")
		_, err = e.svc.IssueLoginSMS(e.ctx, citizen, "login-1")
		assert.ErrorIs(t, err, permanente.ErrTooManyAttempts, "no fresh attempts by resending")

		// Two wrong, a resend, one wrong: spent.
		sms, err = e.svc.IssueLoginSMS(e.ctx, citizen, "login-2")
		require.NoError(t, err)
		for range 2 {
			require.ErrorIs(t, e.svc.VerifyLoginSMS(e.ctx, citizen, "login-2", wrongCode(sms)), permanente.ErrWrongCode)
		}
		sms, err = e.svc.IssueLoginSMS(e.ctx, citizen, "login-2")
		require.NoError(t, err)
		require.ErrorIs(t, e.svc.VerifyLoginSMS(e.ctx, citizen, "login-2", wrongCode(sms)), permanente.ErrTooManyAttempts)

		// A new login starts afresh.
		sms, err = e.svc.IssueLoginSMS(e.ctx, citizen, "login-3")
		require.NoError(t, err)
		assert.NoError(t, e.svc.VerifyLoginSMS(e.ctx, citizen, "login-3", sms.Value))
	})
}

func TestLoginSMSRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, permanente.NewMemoryStore())
	e.register(t, otherOne)
	_, err := e.svc.IssueLoginSMS(e.ctx, otherOne, "login-1")
	assert.ErrorIs(t, err, permanente.ErrNotActivated)
	_, err = e.svc.IssueLoginSMS(e.ctx, unknown, "login-1")
	assert.ErrorIs(t, err, permanente.ErrNotActivated)
	e.activate(t, citizen, goodPassword)
	for _, bad := range []string{"", strings.Repeat("l", 257)} {
		_, err = e.svc.IssueLoginSMS(e.ctx, citizen, bad)
		assert.ErrorIs(t, err, permanente.ErrBadLoginID)
		assert.ErrorIs(t, e.svc.VerifyLoginSMS(e.ctx, citizen, bad, "123456"), permanente.ErrBadLoginID)
	}
	assert.ErrorIs(t, e.svc.VerifyLoginSMS(e.ctx, citizen, "login-1", "123456"), permanente.ErrNoCode)
}

// TestConcurrentLogins: wrong passwords racing on the counter block exactly
// at the fifth failure, however they interleave.
func TestConcurrentLogins(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st permanente.Store) {
		e := newEnv(t, st)
		e.activate(t, citizen, goodPassword)
		const n = 20
		var (
			wg              sync.WaitGroup
			mu              sync.Mutex
			wrong, blocked  int
			unexpectedError error
		)
		for range n {
			wg.Go(func() {
				_, err := e.svc.Login(e.ctx, citizen, otherPassword)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					unexpectedError = assert.AnError
				case errors.Is(err, permanente.ErrWrongPassword):
					wrong++
				case errors.Is(err, permanente.ErrBlocked):
					blocked++
				default:
					unexpectedError = err
				}
			})
		}
		wg.Wait()
		require.NoError(t, unexpectedError)
		assert.Equal(t, 4, wrong)
		assert.Equal(t, n-4, blocked)
	})
}

// TestConcurrentRightAndWrong: two logins racing, one right, one wrong,
// from four failures: whichever is counted first decides, and the store
// never loses either update.
func TestConcurrentRightAndWrong(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st permanente.Store) {
		e := newEnv(t, st)
		e.activate(t, citizen, goodPassword)
		for range 4 {
			_, err := e.svc.Login(e.ctx, citizen, otherPassword)
			require.ErrorIs(t, err, permanente.ErrWrongPassword)
		}
		var wg sync.WaitGroup
		var rightErr, wrongErr error
		wg.Go(func() { _, rightErr = e.svc.Login(e.ctx, citizen, goodPassword) })
		wg.Go(func() { _, wrongErr = e.svc.Login(e.ctx, citizen, otherPassword) })
		wg.Wait()
		a, err := e.st.Account(e.ctx, citizen)
		require.NoError(t, err)
		if rightErr == nil {
			// The right one first: the count restarted, the wrong one is 1.
			assert.ErrorIs(t, wrongErr, permanente.ErrWrongPassword)
			assert.Equal(t, 1, a.Password.Failures)
		} else {
			assert.ErrorIs(t, wrongErr, permanente.ErrBlocked)
			assert.ErrorIs(t, rightErr, permanente.ErrBlocked)
			assert.Equal(t, 5, a.Password.Failures)
		}
	})
}

// TestRehash: a password hashed with older parameters is re-hashed at the
// next successful login, and still verifies.
func TestRehash(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st permanente.Store) {
		e := newEnv(t, st)
		e.activate(t, citizen, goodPassword)
		before, err := st.Account(e.ctx, citizen)
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(before.Password.Hash, "$argon2id$v=19$m=64,t=1,p=1$"), before.Password.Hash)

		stronger := newEnvConfig(t, st, permanente.Config{Argon2: permanente.Argon2Params{Time: 2, Memory: 128, Threads: 2}})
		_, err = stronger.svc.Login(e.ctx, citizen, otherPassword)
		require.ErrorIs(t, err, permanente.ErrWrongPassword)
		same, err := st.Account(e.ctx, citizen)
		require.NoError(t, err)
		assert.Equal(t, before.Password.Hash, same.Password.Hash, "a failed login changes no hash")

		_, err = stronger.svc.Login(e.ctx, citizen, goodPassword)
		require.NoError(t, err)
		after, err := st.Account(e.ctx, citizen)
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(after.Password.Hash, "$argon2id$v=19$m=128,t=2,p=2$"), after.Password.Hash)
		assert.True(t, before.Password.SetAt.Equal(after.Password.SetAt), "a re-hash is not a new password")
		_, err = stronger.svc.Login(e.ctx, citizen, goodPassword)
		assert.NoError(t, err)
		_, err = e.svc.Login(e.ctx, citizen, goodPassword)
		assert.NoError(t, err, "the old service reads the new parameters from the hash")
	})
}
