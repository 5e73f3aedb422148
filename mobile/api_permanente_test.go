package mobile_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/gateway/method"
	"github.com/clave-go/clave/mobile"
	"github.com/clave-go/clave/permanente"
)

const (
	permanentePath = "/app/v1/permanente"
	codePath       = "/app/v1/permanente/activation-code"
	passwordPath   = "/app/v1/permanente/password"
	recoveryPath   = "/app/v1/permanente/recovery"

	// Passwords that meet the policy for the test citizen.
	pwFirst  = "Cuervo#Azul42"
	pwSecond = "Lince!Iberico7"
	pwThird  = "Garza%Real2031"
)

// The interface is the Service's own method set.
var _ mobile.PermanenteAccounts = (*permanente.Service)(nil)

// cheapArgon keeps the tests fast; production uses permanente's defaults.
var cheapArgon = permanente.Argon2Params{Time: 1, Memory: 64, Threads: 1}

// recoveringAccounts is a real permanente.Service with the recovery the
// app needs, made here of the Service's own forgotten-password flow driven
// with the activation code it keeps: it sets the password of an identified
// citizen with the policy, the reuse rule and the unblocking of a reset.
type recoveringAccounts struct {
	*permanente.Service

	mu    sync.Mutex
	codes map[string]string // citizen → latest activation code
}

func (r *recoveringAccounts) keep(citizen string, c permanente.ActivationCode) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.codes[citizen] = c.Value
}

func (r *recoveringAccounts) RegenerateActivationCode(ctx context.Context, citizen string) (permanente.ActivationCode, error) {
	c, err := r.Service.RegenerateActivationCode(ctx, citizen)
	if err == nil {
		r.keep(citizen, c)
	}
	return c, err
}

func (r *recoveringAccounts) RecoverPassword(ctx context.Context, citizen, password string, p permanente.Profile) error {
	if _, err := r.Status(ctx, citizen); err != nil {
		return err
	}
	r.mu.Lock()
	code := r.codes[citizen]
	r.mu.Unlock()
	sms, err := r.StartReset(ctx, citizen, code)
	if err != nil {
		return err
	}
	ticket, err := r.VerifyResetSMS(ctx, citizen, sms.Value)
	if err != nil {
		return err
	}
	return r.CompleteReset(ctx, citizen, ticket, password, p)
}

// flakyAccounts is a permanente Store that fails while down.
type flakyAccounts struct {
	permanente.Store
	down atomic.Bool
}

func (f *flakyAccounts) Account(ctx context.Context, c string) (permanente.Account, error) {
	if f.down.Load() {
		return permanente.Account{}, errDisk
	}
	return f.Store.Account(ctx, c)
}

func (f *flakyAccounts) UpdateAccount(ctx context.Context, c string, fn func(*permanente.Account) error) error {
	if f.down.Load() {
		return errDisk
	}
	return f.Store.UpdateAccount(ctx, c, fn)
}

// permEnv is the app API with Cl@ve Permanente, and the citizen's phone.
type permEnv struct {
	*apiEnv
	accounts *recoveringAccounts
	pstore   *flakyAccounts
	phone    *appPhone

	mu      sync.Mutex
	secrets []string // passwords and codes that must never reach the logs
}

// newPermEnv starts the API with a real permanente.Service whose
// accounts edit may replace in the config (nil for none).
func newPermEnv(t *testing.T, edit func(e *permEnv, c *mobile.APIConfig)) *permEnv {
	t.Helper()
	e := &permEnv{pstore: &flakyAccounts{Store: permanente.NewMemoryStore()}}
	// The API's clock, once there is one: nothing reads it before.
	now := func() time.Time { return e.clock.Now() }
	e.apiEnv = newAPIEnv(t, func(c *mobile.APIConfig) {
		svc, err := permanente.New(permanente.Config{Secret: testSecret, Now: now, Argon2: cheapArgon}, e.pstore)
		require.NoError(t, err)
		e.accounts = &recoveringAccounts{Service: svc, codes: map[string]string{}}
		c.Permanente = e.accounts
		if edit != nil {
			edit(e, c)
		}
	})
	who := e.citizens.byID[citizen]
	who.GivenName, who.FirstSurname, who.SecondSurname = "María José", "García-Pelayo", "Núñez"
	e.citizens.byID[citizen] = who
	e.phone = e.activated(t, citizen)
	t.Cleanup(func() {
		logs := e.logs.String()
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, s := range e.secrets {
			require.NotContains(t, logs, s, "secret in the logs")
		}
	})
	return e
}

func (e *permEnv) secret(s ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.secrets = append(e.secrets, s...)
}

// register gives who Cl@ve Permanente, as the registration office would.
func (e *permEnv) register(t testing.TB, who string) permanente.ActivationCode {
	t.Helper()
	c, err := e.accounts.Register(context.Background(), who)
	require.NoError(t, err)
	e.accounts.keep(who, c)
	e.secret(c.Value, c.Grouped())
	return c
}

// activate registers who and activates Cl@ve Permanente with password.
func (e *permEnv) activate(t testing.TB, who, password string) {
	t.Helper()
	ctx := context.Background()
	code := e.register(t, who)
	sms, err := e.accounts.StartActivation(ctx, who, code.Value)
	require.NoError(t, err)
	ticket, err := e.accounts.VerifyActivationSMS(ctx, who, sms.Value)
	require.NoError(t, err)
	c := e.citizens.byID[who]
	require.NoError(t, e.accounts.CompleteActivation(ctx, who, ticket, password,
		permanente.Profile{GivenName: c.GivenName, FirstSurname: c.FirstSurname, SecondSurname: c.SecondSurname}))
	e.secret(password)
}

// call is a fresh call signed by the citizen's phone.
func (e *permEnv) call(t testing.TB, verb, path string, body any) answer {
	t.Helper()
	if m, ok := body.(map[string]string); ok {
		for _, v := range m {
			if len(v) >= 8 {
				e.secret(v)
			}
		}
	}
	return e.signed(t, e.phone, verb, path, body)
}

// login checks a password as the gateway's login page would.
func (e *permEnv) login(who, password string) error {
	_, err := e.accounts.Login(context.Background(), who, password)
	return err
}

// permStatus is GET /app/v1/permanente's answer.
type permStatus struct {
	Registered        bool   `json:"registered"`
	Activated         bool   `json:"activated"`
	ActivationBlocked bool   `json:"activation_blocked"`
	PasswordBlocked   bool   `json:"password_blocked"`
	PasswordExpired   bool   `json:"password_expired"`
	PasswordSetAt     string `json:"password_set_at"`
	PasswordExpiresAt string `json:"password_expires_at"`
}

func (e *permEnv) status(t testing.TB) permStatus {
	t.Helper()
	a := e.call(t, http.MethodGet, permanentePath, nil)
	require.Equal(t, http.StatusOK, a.status, string(a.body))
	var s permStatus
	a.decode(t, &s)
	return s
}

// requireWeak checks a weak_password refusal and its rules, in the shape
// of the contract.
func requireWeak(t testing.TB, a answer, rules ...permanente.Rule) {
	t.Helper()
	require.Equal(t, http.StatusUnprocessableEntity, a.status, string(a.body))
	require.Equal(t, "application/json", a.header.Get("Content-Type"))
	var env struct {
		Error struct {
			Code    string            `json:"code"`
			Message string            `json:"message"`
			Rules   []permanente.Rule `json:"rules"`
		} `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(a.body))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&env), string(a.body))
	assert.Equal(t, "weak_password", env.Error.Code)
	assert.NotEmpty(t, env.Error.Message)
	assert.Equal(t, rules, env.Error.Rules)
}

func TestAPIPermanenteStatus(t *testing.T) {
	e := newPermEnv(t, nil)
	assert.Equal(t, permStatus{}, e.status(t), "not registered is a status")

	e.register(t, citizen)
	assert.Equal(t, permStatus{Registered: true}, e.status(t))

	require.NoError(t, e.accounts.DeleteUser(context.Background(), citizen))
	e.activate(t, citizen, pwFirst)
	a := e.call(t, http.MethodGet, permanentePath, nil)
	require.Equal(t, http.StatusOK, a.status)
	assert.JSONEq(t, `{"registered":true,"activated":true,"activation_blocked":false,"password_blocked":false,
		"password_expired":false,"password_set_at":"2030-03-01T10:00:00Z","password_expires_at":"2032-02-29T10:00:00Z"}`, string(a.body))
	assert.Equal(t, "no-store", a.header.Get("Cache-Control"))

	// Two years on, the password has expired: the app says so ahead of
	// the login that would force a change.
	e.clock.Advance(2 * 365 * 24 * time.Hour)
	s := e.status(t)
	assert.True(t, s.PasswordExpired)
	assert.False(t, s.PasswordBlocked)
}

func TestAPIPermanenteRegenerate(t *testing.T) {
	e := newPermEnv(t, nil)
	ctx := context.Background()
	requireError(t, e.call(t, http.MethodPost, codePath, nil), http.StatusConflict, "not_registered")

	old := e.register(t, citizen)
	// Block the activation code with wrong entries: only a new one helps.
	for range 6 {
		_, err := e.accounts.StartActivation(ctx, citizen, "AAAA-AAAA-AAAA-AAAA")
		require.Error(t, err)
	}
	_, err := e.accounts.StartActivation(ctx, citizen, old.Value)
	require.ErrorIs(t, err, permanente.ErrActivationBlocked)
	assert.True(t, e.status(t).ActivationBlocked)

	a := e.call(t, http.MethodPost, codePath, nil)
	require.Equal(t, http.StatusOK, a.status, string(a.body))
	var out struct {
		ActivationCode string `json:"activation_code"`
		IssuedAt       string `json:"issued_at"`
	}
	a.decode(t, &out)
	e.secret(out.ActivationCode, strings.ReplaceAll(out.ActivationCode, "-", ""))
	assert.Regexp(t, `^[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}$`, out.ActivationCode)
	assert.Equal(t, t0.Format(time.RFC3339), out.IssuedAt)
	assert.False(t, e.status(t).ActivationBlocked)

	// Only the latest code is valid.
	_, err = e.accounts.StartActivation(ctx, citizen, old.Value)
	assert.ErrorIs(t, err, permanente.ErrWrongActivationCode)
	_, err = e.accounts.StartActivation(ctx, citizen, out.ActivationCode)
	require.NoError(t, err)

	// An empty object is no body; anything else is refused.
	require.Equal(t, http.StatusOK, e.call(t, http.MethodPost, codePath, []byte(`{}`)).status)
	requireError(t, e.call(t, http.MethodPost, codePath, map[string]string{"citizen": otherOne}), http.StatusBadRequest, "bad_request")
	assert.Contains(t, e.logs.String(), "activation code regenerated")
}

func TestAPIPermanenteRegenerateLimit(t *testing.T) {
	e := newPermEnv(t, nil)
	e.register(t, citizen)
	for range 5 {
		e.regenerate(t)
	}
	a := e.call(t, http.MethodPost, codePath, nil)
	requireError(t, a, http.StatusTooManyRequests, "too_many_attempts")
	assert.NotEmpty(t, a.header.Get("Retry-After"))
	e.clock.Advance(time.Hour)
	e.regenerate(t)
}

// regenerate asks for a new activation code through the API.
func (e *permEnv) regenerate(t testing.TB) string {
	t.Helper()
	a := e.call(t, http.MethodPost, codePath, nil)
	require.Equal(t, http.StatusOK, a.status, string(a.body))
	var out struct {
		ActivationCode string `json:"activation_code"`
		IssuedAt       string `json:"issued_at"`
	}
	a.decode(t, &out)
	e.secret(out.ActivationCode, strings.ReplaceAll(out.ActivationCode, "-", ""))
	assert.Equal(t, wireTime(e.clock.Now()), out.IssuedAt)
	return out.ActivationCode
}

func TestAPIPermanenteChange(t *testing.T) {
	e := newPermEnv(t, nil)
	change := func(current, next string) answer {
		return e.call(t, http.MethodPost, passwordPath, map[string]string{"current": current, "new": next})
	}
	requireError(t, change(pwFirst, pwSecond), http.StatusConflict, "not_registered")
	e.register(t, citizen)
	requireError(t, change(pwFirst, pwSecond), http.StatusConflict, "not_activated")
	require.NoError(t, e.accounts.DeleteUser(context.Background(), citizen))
	e.activate(t, citizen, pwFirst)
	e.clock.Advance(time.Hour) // a fresh allowance of password calls

	// Each broken rule, listed by its stable name.
	for _, c := range []struct {
		pw    string
		rules []permanente.Rule
	}{
		{"abc", []permanente.Rule{permanente.RuleTooShort, permanente.RuleNoUpper, permanente.RuleNoDigit, permanente.RuleNoSpecial}},
		{"abcdefgh", []permanente.Rule{permanente.RuleNoUpper, permanente.RuleNoDigit, permanente.RuleNoSpecial}},
		{"ABCDEFG1!", []permanente.Rule{permanente.RuleNoLower}},
		{"Garcia#Pelayo7", []permanente.Rule{permanente.RuleHasName}},
		{"Mi#12345678z", []permanente.Rule{permanente.RuleHasID}},
		{"Tab\tbed#Aa1", []permanente.Rule{permanente.RuleControl}},
		{strings.Repeat("Aa1#", 33), []permanente.Rule{permanente.RuleTooLong}},
		{pwFirst, []permanente.Rule{permanente.RuleReused}},
	} {
		requireWeak(t, change(pwFirst, c.pw), c.rules...)
	}
	requireWeak(t, change(pwFirst, ""), permanente.RuleTooShort, permanente.RuleNoLower, permanente.RuleNoUpper,
		permanente.RuleNoDigit, permanente.RuleNoSpecial)

	// A wrong current password counts as a failed login would, and is
	// refused before the new one is looked at.
	requireError(t, change("Wrong#Pass1", pwSecond), http.StatusUnauthorized, "wrong_password")
	requireError(t, change("", pwSecond), http.StatusBadRequest, "bad_request")

	e.clock.Advance(time.Hour)
	a := change(pwFirst, pwSecond)
	require.Equal(t, http.StatusOK, a.status, string(a.body))
	var s permStatus
	a.decode(t, &s)
	now := e.clock.Now()
	assert.Equal(t, permStatus{Registered: true, Activated: true, PasswordSetAt: wireTime(now),
		PasswordExpiresAt: wireTime(now.Add(2 * 365 * 24 * time.Hour))}, s)
	require.NoError(t, e.login(citizen, pwSecond))
	require.ErrorIs(t, e.login(citizen, pwFirst), permanente.ErrWrongPassword)

	// Neither the current nor the previous password comes back.
	requireWeak(t, change(pwSecond, pwFirst), permanente.RuleReused)
	requireWeak(t, change(pwSecond, pwSecond), permanente.RuleReused)
	require.Equal(t, http.StatusOK, change(pwSecond, pwThird).status)
	assert.Contains(t, e.logs.String(), "permanente password changed")
}

func TestAPIPermanenteChangeBlocks(t *testing.T) {
	e := newPermEnv(t, nil)
	e.activate(t, citizen, pwFirst)
	change := func(current string) answer {
		return e.call(t, http.MethodPost, passwordPath, map[string]string{"current": current, "new": pwSecond})
	}
	// The failures of the app add up with those of the login page.
	require.ErrorIs(t, e.login(citizen, "Wrong#Pass0"), permanente.ErrWrongPassword)
	for i := 1; i < 4; i++ {
		requireError(t, change("Wrong#Pass"+string(rune('0'+i))), http.StatusUnauthorized, "wrong_password")
	}
	requireError(t, change("Wrong#Pass9"), http.StatusLocked, "blocked")
	requireError(t, change(pwFirst), http.StatusLocked, "blocked")
	assert.True(t, e.status(t).PasswordBlocked)
	require.ErrorIs(t, e.login(citizen, pwFirst), permanente.ErrBlocked)
}

func TestAPIPermanenteRecover(t *testing.T) {
	e := newPermEnv(t, nil)
	recoverPw := func(next string) answer {
		return e.call(t, http.MethodPost, recoveryPath, map[string]string{"new": next})
	}
	requireError(t, recoverPw(pwSecond), http.StatusConflict, "not_registered")
	e.register(t, citizen)
	requireError(t, recoverPw(pwSecond), http.StatusConflict, "not_activated")
	require.NoError(t, e.accounts.DeleteUser(context.Background(), citizen))
	e.activate(t, citizen, pwFirst)

	// Forgotten, and blocked by guesses at the login page.
	for range 5 {
		require.Error(t, e.login(citizen, "Guess#Work1"))
	}
	require.True(t, e.status(t).PasswordBlocked)

	requireWeak(t, recoverPw("short"), permanente.RuleTooShort, permanente.RuleNoUpper, permanente.RuleNoDigit, permanente.RuleNoSpecial)
	requireWeak(t, recoverPw("Nunez#Maria77"), permanente.RuleHasName)
	requireWeak(t, recoverPw(pwFirst), permanente.RuleReused)
	requireError(t, e.call(t, http.MethodPost, recoveryPath, map[string]string{"new": pwSecond, "current": pwFirst}),
		http.StatusBadRequest, "bad_request")

	e.clock.Advance(time.Minute)
	a := recoverPw(pwSecond)
	require.Equal(t, http.StatusOK, a.status, string(a.body))
	var s permStatus
	a.decode(t, &s)
	now := e.clock.Now()
	assert.Equal(t, permStatus{Registered: true, Activated: true, PasswordSetAt: wireTime(now),
		PasswordExpiresAt: wireTime(now.Add(2 * 365 * 24 * time.Hour))}, s, "unblocked")
	require.NoError(t, e.login(citizen, pwSecond))
	require.ErrorIs(t, e.login(citizen, pwFirst), permanente.ErrWrongPassword)

	// The previous password cannot come back this way either.
	requireWeak(t, recoverPw(pwFirst), permanente.RuleReused)
	requireWeak(t, recoverPw(pwSecond), permanente.RuleReused)
	assert.Contains(t, e.logs.String(), "permanente password recovered")
}

func TestAPIPermanenteDelete(t *testing.T) {
	e := newPermEnv(t, nil)
	requireError(t, e.call(t, http.MethodDelete, permanentePath, nil), http.StatusConflict, "not_registered")
	e.activate(t, citizen, pwFirst)

	a := e.call(t, http.MethodDelete, permanentePath, nil)
	require.Equal(t, http.StatusOK, a.status, string(a.body))
	assert.JSONEq(t, `{"registered":false,"activated":false,"activation_blocked":false,"password_blocked":false,"password_expired":false}`, string(a.body))
	assert.Equal(t, permStatus{}, e.status(t))
	require.ErrorIs(t, e.login(citizen, pwFirst), permanente.ErrWrongPassword)

	requireError(t, e.call(t, http.MethodDelete, permanentePath, nil), http.StatusConflict, "not_registered")
	requireError(t, e.call(t, http.MethodPost, codePath, nil), http.StatusConflict, "not_registered")
	requireError(t, e.call(t, http.MethodPost, passwordPath, map[string]string{"current": pwFirst, "new": pwSecond}), http.StatusConflict, "not_registered")
	requireError(t, e.call(t, http.MethodPost, recoveryPath, map[string]string{"new": pwSecond}), http.StatusConflict, "not_registered")

	// The phone is still Cl@ve Móvil's: only Cl@ve Permanente went.
	require.Equal(t, http.StatusOK, e.call(t, http.MethodGet, "/app/v1/device", nil).status)
	assert.Contains(t, e.logs.String(), "permanente user deleted")
}

// permanenteCalls are the endpoints with a body that each accepts.
var permanenteCalls = []struct {
	verb, path string
	body       any
}{
	{http.MethodGet, permanentePath, nil},
	{http.MethodPost, codePath, nil},
	{http.MethodPost, passwordPath, map[string]string{"current": pwFirst, "new": pwSecond}},
	{http.MethodPost, recoveryPath, map[string]string{"new": pwSecond}},
	{http.MethodDelete, permanentePath, nil},
}

func TestAPIPermanenteSignedOnly(t *testing.T) {
	e := newPermEnv(t, nil)
	e.activate(t, citizen, pwFirst)
	ctx := context.Background()
	for _, c := range permanenteCalls {
		name := c.verb + " " + c.path
		// Unsigned.
		requireError(t, e.send(t, ctx, c.verb, c.path, c.body, nil), http.StatusUnauthorized, "unauthenticated")
		// Signed by another key under this device's name.
		thief := &appPhone{priv: newAppPhone().priv, id: e.phone.id}
		requireError(t, e.signed(t, thief, c.verb, c.path, c.body), http.StatusUnauthorized, "bad_signature")
		// Signed over another body.
		a := e.send(t, ctx, c.verb, c.path, c.body, func(r *http.Request, raw []byte) {
			require.NoError(t, mobile.SignCall(r, e.phone.id, e.phone.priv, e.clock.Now(), e.nonce(), append(raw, ' ')))
		})
		requireError(t, a, http.StatusUnauthorized, "bad_signature")
		// Stale.
		requireError(t, e.signedAt(t, ctx, e.phone, c.verb, c.path, c.body, e.clock.Now().Add(-3*time.Minute), e.nonce()),
			http.StatusUnauthorized, "stale")
		// Replayed: only the first goes through.
		n := e.nonce()
		first := e.signedAt(t, ctx, e.phone, c.verb, c.path, c.body, e.clock.Now(), n)
		require.Less(t, first.status, 500, "%s: %s", name, first.body)
		requireError(t, e.signedAt(t, ctx, e.phone, c.verb, c.path, c.body, e.clock.Now(), n), http.StatusUnauthorized, "replay")
	}
	// Each call took effect once: the user was deleted by the last.
	assert.Equal(t, permStatus{}, e.status(t))

	// A phone replaced by another signs nothing any more.
	old := e.phone
	e.phone = e.activated(t, citizen)
	for _, c := range permanenteCalls {
		requireError(t, e.signed(t, old, c.verb, c.path, c.body), http.StatusForbidden, "device_inactive")
	}
}

func TestAPIPermanenteRefusals(t *testing.T) {
	e := newPermEnv(t, nil)
	e.activate(t, citizen, pwFirst)

	t.Run("routing", func(t *testing.T) {
		for _, c := range []struct{ verb, path, allow string }{
			{http.MethodPost, permanentePath, "GET, DELETE"},
			{http.MethodGet, codePath, "POST"},
			{http.MethodPut, passwordPath, "POST"},
			{http.MethodGet, recoveryPath, "POST"},
		} {
			a := e.call(t, c.verb, c.path, nil)
			requireError(t, a, http.StatusMethodNotAllowed, "method_not_allowed")
			assert.Equal(t, c.allow, a.header.Get("Allow"))
		}
		for _, path := range []string{permanentePath + "/", permanentePath + "/nothing", "/app/v1/permanente/password/x"} {
			requireError(t, e.call(t, http.MethodGet, path, nil), http.StatusNotFound, "not_found")
		}
	})
	t.Run("bad input", func(t *testing.T) {
		requireError(t, e.call(t, http.MethodGet, permanentePath+"?verbose=1", nil), http.StatusBadRequest, "bad_request")
		requireError(t, e.call(t, http.MethodDelete, permanentePath+"?all=1", nil), http.StatusBadRequest, "bad_request")
		requireError(t, e.call(t, http.MethodPost, passwordPath, []byte(`{"current":"a","new":"b","New":"c"}`)), http.StatusBadRequest, "bad_request")
		requireError(t, e.call(t, http.MethodPost, passwordPath, []byte(`{"current":1}`)), http.StatusBadRequest, "bad_request")
		requireError(t, e.call(t, http.MethodPost, recoveryPath, []byte(`["x"]`)), http.StatusBadRequest, "bad_request")
		requireError(t, e.call(t, http.MethodPost, recoveryPath, bytes.Repeat([]byte("x"), mobile.MaxAPIBody+1)),
			http.StatusRequestEntityTooLarge, "too_large")
		big, _ := json.Marshal(map[string]string{"new": strings.Repeat("Aa1#", (mobile.MaxAPIBody-20)/4)})
		requireWeak(t, e.call(t, http.MethodPost, recoveryPath, big), permanente.RuleTooLong)
		require.NoError(t, e.login(citizen, pwFirst), "nothing changed")
	})
	t.Run("registration not active", func(t *testing.T) {
		for _, who := range []string{blockedOne, stranger} {
			p := e.activated(t, who)
			for _, c := range permanenteCalls {
				requireError(t, e.signed(t, p, c.verb, c.path, c.body), http.StatusForbidden, "registration_inactive")
			}
		}
	})
	t.Run("storage failure", func(t *testing.T) {
		e.pstore.down.Store(true)
		for _, c := range permanenteCalls {
			requireError(t, e.call(t, c.verb, c.path, c.body), http.StatusServiceUnavailable, "unavailable")
		}
		e.pstore.down.Store(false)
		e.citizens.down.Store(true)
		for _, c := range permanenteCalls {
			requireError(t, e.call(t, c.verb, c.path, c.body), http.StatusServiceUnavailable, "unavailable")
		}
		e.citizens.down.Store(false)
		assert.Contains(t, e.logs.String(), "storage failure")
		require.NoError(t, e.login(citizen, pwFirst), "nothing changed")
	})
}

func TestAPIPermanentePasswordLimits(t *testing.T) {
	t.Run("per citizen", func(t *testing.T) {
		e := newPermEnv(t, nil)
		e.activate(t, citizen, pwFirst)
		for i := range 10 {
			path, body := recoveryPath, any(map[string]string{"new": "weak"})
			if i%2 == 0 {
				path, body = passwordPath, map[string]string{"current": pwFirst, "new": "weak"}
			}
			requireWeak(t, e.call(t, http.MethodPost, path, body), permanente.RuleTooShort, permanente.RuleNoUpper,
				permanente.RuleNoDigit, permanente.RuleNoSpecial)
		}
		a := e.call(t, http.MethodPost, passwordPath, map[string]string{"current": pwFirst, "new": pwSecond})
		requireError(t, a, http.StatusTooManyRequests, "too_many_attempts")
		assert.NotEmpty(t, a.header.Get("Retry-After"))
		requireError(t, e.call(t, http.MethodPost, recoveryPath, map[string]string{"new": pwSecond}), http.StatusTooManyRequests, "too_many_attempts")
		// Another phone of the same citizen shares the count.
		e.phone = e.activated(t, citizen)
		requireError(t, e.call(t, http.MethodPost, recoveryPath, map[string]string{"new": pwSecond}), http.StatusTooManyRequests, "too_many_attempts")
		// Reading is not limited.
		assert.True(t, e.status(t).Activated)

		e.clock.Advance(time.Hour)
		require.Equal(t, http.StatusOK, e.call(t, http.MethodPost, passwordPath, map[string]string{"current": pwFirst, "new": pwSecond}).status)
	})
	t.Run("per client", func(t *testing.T) {
		e := newPermEnv(t, nil)
		var phones []*appPhone
		for i := range 4 {
			who := dniOf(300 + i)
			e.citizens.byID[who] = method.Citizen{ID: who, Status: method.StatusActive, Phone: "+3460000030" + string(rune('0'+i))}
			phones = append(phones, e.activated(t, who))
		}
		for _, p := range phones[:3] {
			for range 10 {
				requireError(t, e.signed(t, p, http.MethodPost, recoveryPath, map[string]string{"new": pwSecond}), http.StatusConflict, "not_registered")
			}
		}
		requireError(t, e.signed(t, phones[3], http.MethodPost, recoveryPath, map[string]string{"new": pwSecond}), http.StatusTooManyRequests, "too_many_attempts")
		a := e.send(t, context.Background(), http.MethodPost, recoveryPath, map[string]string{"new": pwSecond}, func(r *http.Request, raw []byte) {
			r.Header.Set("X-Test-Client", "elsewhere")
			require.NoError(t, mobile.SignCall(r, phones[3].id, phones[3].priv, e.clock.Now(), e.nonce(), raw))
		})
		requireError(t, a, http.StatusConflict, "not_registered")
		e.clock.Advance(10 * time.Minute)
		requireError(t, e.signed(t, phones[3], http.MethodPost, recoveryPath, map[string]string{"new": pwSecond}), http.StatusConflict, "not_registered")
	})
}

// hiddenRecovery shows only the PermanenteAccounts methods of what it
// holds: accounts that cannot recover a password.
type hiddenRecovery struct{ mobile.PermanenteAccounts }

func TestAPIPermanenteAbsent(t *testing.T) {
	for name, edit := range map[string]func(*permEnv, *mobile.APIConfig){
		"nil":         func(_ *permEnv, c *mobile.APIConfig) { c.Permanente = nil },
		"nil pointer": func(_ *permEnv, c *mobile.APIConfig) { c.Permanente = (*permanente.Service)(nil) },
	} {
		t.Run(name, func(t *testing.T) {
			e := newPermEnv(t, edit)
			ctx := context.Background()
			for _, c := range permanenteCalls {
				requireError(t, e.call(t, c.verb, c.path, c.body), http.StatusNotFound, "not_found")
				requireError(t, e.send(t, ctx, c.verb, c.path, c.body, nil), http.StatusNotFound, "not_found")
				requireError(t, e.call(t, http.MethodPut, c.path, nil), http.StatusNotFound, "not_found")
			}
		})
	}
	t.Run("no recovery", func(t *testing.T) {
		e := newPermEnv(t, func(e *permEnv, c *mobile.APIConfig) { c.Permanente = hiddenRecovery{e.accounts} })
		e.activate(t, citizen, pwFirst)
		requireError(t, e.call(t, http.MethodPost, recoveryPath, map[string]string{"new": pwSecond}), http.StatusNotFound, "not_found")
		assert.True(t, e.status(t).Activated)
		require.Equal(t, http.StatusOK, e.call(t, http.MethodPost, passwordPath, map[string]string{"current": pwFirst, "new": pwSecond}).status)
	})
}

// TestAPIPermanenteStoresNoSecret reads the accounts' store after every
// call: no password or code is kept in clear.
func TestAPIPermanenteStoresNoSecret(t *testing.T) {
	e := newPermEnv(t, nil)
	e.activate(t, citizen, pwFirst)
	require.Equal(t, http.StatusOK, e.call(t, http.MethodPost, passwordPath, map[string]string{"current": pwFirst, "new": pwSecond}).status)
	require.Equal(t, http.StatusOK, e.call(t, http.MethodPost, recoveryPath, map[string]string{"new": pwThird}).status)
	code := e.regenerate(t)
	acc, err := e.pstore.Account(context.Background(), citizen)
	require.NoError(t, err)
	dump, err := json.Marshal(acc)
	require.NoError(t, err)
	for _, s := range []string{pwFirst, pwSecond, pwThird, code, strings.ReplaceAll(code, "-", "")} {
		assert.NotContains(t, string(dump), s)
	}
}

// wireTime is t as the API writes it.
func wireTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }
