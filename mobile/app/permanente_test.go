package app_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/gateway/method"
	"github.com/clave-go/clave/mobile"
	"github.com/clave-go/clave/mobile/app"
	"github.com/clave-go/clave/permanente"
)

const (
	pwFirst  = "Cuervo#Azul42"
	pwSecond = "Lince!Iberico7"
)

// recoveringAccounts is a real permanente.Service that can also recover a
// password for the app, through its own forgotten-password flow driven
// with the activation code it keeps.
type recoveringAccounts struct {
	*permanente.Service

	mu   sync.Mutex
	code string
}

func (r *recoveringAccounts) RegenerateActivationCode(ctx context.Context, citizen string) (permanente.ActivationCode, error) {
	c, err := r.Service.RegenerateActivationCode(ctx, citizen)
	if err == nil {
		r.mu.Lock()
		r.code = c.Value
		r.mu.Unlock()
	}
	return c, err
}

func (r *recoveringAccounts) RecoverPassword(ctx context.Context, citizen, password string, p permanente.Profile) error {
	if _, err := r.Status(ctx, citizen); err != nil {
		return err
	}
	r.mu.Lock()
	code := r.code
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

// permGateway is a real app API with Cl@ve Permanente over httptest.
type permGateway struct {
	accounts *recoveringAccounts
	sms      *outbox
	clock    *clock
	srv      *httptest.Server
}

// newPermGateway serves the app API; with accounts false, a gateway
// without Cl@ve Permanente.
func newPermGateway(t *testing.T, accounts bool) *permGateway {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 30, 22, 50, 0, 0, time.UTC)}
	svc, err := mobile.New(mobile.Config{Now: clk.Now}, mobile.NewMemoryStore())
	require.NoError(t, err)
	g := &permGateway{sms: &outbox{}, clock: clk}
	cfg := mobile.APIConfig{
		Service: svc,
		Citizens: registry{citizen: {ID: citizen, ValidUntil: time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC),
			GivenName: "Juan", FirstSurname: "Español", SecondSurname: "Español",
			Phone: "+34600000001", Status: method.StatusActive, Level: method.LevelAdvanced}},
		Notifier: g.sms,
		Logger:   slog.New(slog.DiscardHandler),
	}
	if accounts {
		ps, err := permanente.New(permanente.Config{Now: clk.Now, Argon2: permanente.Argon2Params{Time: 1, Memory: 64, Threads: 1}},
			permanente.NewMemoryStore())
		require.NoError(t, err)
		g.accounts = &recoveringAccounts{Service: ps}
		cfg.Permanente = g.accounts
	}
	api, err := mobile.NewAPI(cfg)
	require.NoError(t, err)
	g.srv = httptest.NewServer(api)
	t.Cleanup(g.srv.Close)
	return g
}

// session activates a phone by SMS and unlocks it.
func (g *permGateway) session(t *testing.T) *app.Session {
	t.Helper()
	c := &app.Client{BaseURL: g.srv.URL, HTTP: g.srv.Client(), Now: g.clock.Now, KDF: cheapKDF}
	_, err := c.RequestActivationCode(t.Context(), citizen, contrastOK)
	require.NoError(t, err)
	phone, err := c.ActivateSMS(t.Context(), citizen, g.sms.lastCode(), passphrase)
	require.NoError(t, err)
	s, err := phone.Unlock(passphrase)
	require.NoError(t, err)
	t.Cleanup(s.Lock)
	return s
}

// activate registers the citizen for Cl@ve Permanente and sets password,
// as the gateway's activation pages would.
func (g *permGateway) activate(t *testing.T, password string) {
	t.Helper()
	ctx := t.Context()
	code, err := g.accounts.Register(ctx, citizen)
	require.NoError(t, err)
	g.accounts.mu.Lock()
	g.accounts.code = code.Value
	g.accounts.mu.Unlock()
	sms, err := g.accounts.StartActivation(ctx, citizen, code.Value)
	require.NoError(t, err)
	ticket, err := g.accounts.VerifyActivationSMS(ctx, citizen, sms.Value)
	require.NoError(t, err)
	require.NoError(t, g.accounts.CompleteActivation(ctx, citizen, ticket, password, permanente.Profile{}))
}

func TestPermanenteManagement(t *testing.T) {
	g := newPermGateway(t, true)
	s := g.session(t)
	ctx := t.Context()

	st, err := s.PermanenteStatus(ctx)
	require.NoError(t, err)
	assert.Equal(t, app.PermanenteStatus{}, st)
	_, err = s.ChangePassword(ctx, pwFirst, pwSecond)
	require.ErrorIs(t, err, app.ErrNotRegistered)
	_, err = s.RegenerateActivationCode(ctx)
	require.ErrorIs(t, err, app.ErrNotRegistered)

	g.activate(t, pwFirst)
	now := g.clock.Now()
	st, err = s.PermanenteStatus(ctx)
	require.NoError(t, err)
	assert.Equal(t, app.PermanenteStatus{Registered: true, Activated: true, PasswordSetAt: now,
		PasswordExpiresAt: now.Add(2 * 365 * 24 * time.Hour)}, st)

	// A weak password, with every rule it breaks.
	_, err = s.ChangePassword(ctx, pwFirst, "espanol")
	require.ErrorIs(t, err, app.ErrWeakPassword)
	var weak *app.WeakPasswordError
	require.ErrorAs(t, err, &weak)
	assert.Equal(t, []permanente.Rule{permanente.RuleTooShort, permanente.RuleNoUpper, permanente.RuleNoDigit,
		permanente.RuleNoSpecial, permanente.RuleHasName}, weak.Rules)
	var apiErr *app.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusUnprocessableEntity, apiErr.Status)
	assert.Contains(t, err.Error(), "too_short, no_upper")
	assert.NotContains(t, err.Error(), "espanol")

	_, err = s.ChangePassword(ctx, "Wrong#Pass1", pwSecond)
	require.ErrorIs(t, err, app.ErrWrongPassword)
	_, err = s.ChangePassword(ctx, "", pwSecond)
	require.ErrorIs(t, err, app.ErrBadRequest)

	g.clock.Add(time.Minute)
	st, err = s.ChangePassword(ctx, pwFirst, pwSecond)
	require.NoError(t, err)
	assert.Equal(t, g.clock.Now(), st.PasswordSetAt)
	_, err = g.accounts.Login(ctx, citizen, pwSecond)
	require.NoError(t, err)

	// A new activation code: only it opens the forgotten-password flow.
	old := g.accounts.code
	code, err := s.RegenerateActivationCode(ctx)
	require.NoError(t, err)
	assert.Regexp(t, `^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$`, code.Grouped())
	assert.Equal(t, g.clock.Now(), code.IssuedAt)
	assert.NotContains(t, code.String(), code.Value)
	_, err = g.accounts.StartReset(ctx, citizen, old)
	require.ErrorIs(t, err, permanente.ErrWrongActivationCode)
	_, err = g.accounts.StartReset(ctx, citizen, code.Grouped())
	require.NoError(t, err)

	// Blocked by guesses, then recovered from the app.
	for range 5 {
		_, _ = g.accounts.Login(ctx, citizen, "Guess#Work1")
	}
	_, err = s.ChangePassword(ctx, pwSecond, pwFirst)
	require.ErrorIs(t, err, app.ErrPasswordBlocked)
	st, err = s.PermanenteStatus(ctx)
	require.NoError(t, err)
	assert.True(t, st.PasswordBlocked)

	_, err = s.RecoverPassword(ctx, pwFirst)
	require.ErrorAs(t, err, &weak)
	assert.Equal(t, []permanente.Rule{permanente.RuleReused}, weak.Rules, "the previous password")
	st, err = s.RecoverPassword(ctx, "Garza%Real2031")
	require.NoError(t, err)
	assert.False(t, st.PasswordBlocked)
	_, err = g.accounts.Login(ctx, citizen, "Garza%Real2031")
	require.NoError(t, err)

	require.NoError(t, s.DeletePermanente(ctx))
	st, err = s.PermanenteStatus(ctx)
	require.NoError(t, err)
	assert.False(t, st.Registered)
	require.ErrorIs(t, s.DeletePermanente(ctx), app.ErrNotRegistered)
	_, err = s.RecoverPassword(ctx, pwSecond)
	require.ErrorIs(t, err, app.ErrNotRegistered)
}

func TestPermanenteNotActivated(t *testing.T) {
	g := newPermGateway(t, true)
	s := g.session(t)
	_, err := g.accounts.Register(t.Context(), citizen)
	require.NoError(t, err)
	_, err = s.ChangePassword(t.Context(), pwFirst, pwSecond)
	require.ErrorIs(t, err, app.ErrNotActivated)
	_, err = s.RecoverPassword(t.Context(), pwSecond)
	require.ErrorIs(t, err, app.ErrNotActivated)
}

func TestPermanenteAbsentIsNotFound(t *testing.T) {
	g := newPermGateway(t, false)
	s := g.session(t)
	_, err := s.PermanenteStatus(t.Context())
	require.ErrorIs(t, err, app.ErrNotFound)
	_, err = s.RecoverPassword(t.Context(), pwSecond)
	require.ErrorIs(t, err, app.ErrNotFound)
}

func TestPermanenteLockedSession(t *testing.T) {
	g := newPermGateway(t, true)
	s := g.session(t)
	s.Lock()
	_, err := s.PermanenteStatus(t.Context())
	require.ErrorIs(t, err, app.ErrLocked)
	require.ErrorIs(t, s.DeletePermanente(t.Context()), app.ErrLocked)
}

// serveOnly answers every call with status and body.
func serveOnly(t *testing.T, status int, body string) *app.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return &app.Client{BaseURL: srv.URL, HTTP: srv.Client()}
}

func TestWeakPasswordDecoding(t *testing.T) {
	tests := []struct {
		name, body string
		rules      []permanente.Rule
	}{
		{"rules", `{"error":{"code":"weak_password","message":"m","rules":["too_short","has_id"]}}`,
			[]permanente.Rule{permanente.RuleTooShort, permanente.RuleHasID}},
		{"unknown rule kept", `{"error":{"code":"weak_password","message":"m","rules":["in_a_dictionary"]}}`,
			[]permanente.Rule{"in_a_dictionary"}},
		{"control characters", `{"error":{"code":"weak_password","message":"m","rules":["no\u001b[31m_digit",""]}}`,
			[]permanente.Rule{"no[31m_digit"}},
		{"no rules", `{"error":{"code":"weak_password","message":"m"}}`, []permanente.Rule{}},
		{"rules not a list", `{"error":{"code":"weak_password","message":"m","rules":{"a":1}}}`, []permanente.Rule{}},
		{"too many", `{"error":{"code":"weak_password","message":"m","rules":[` + strings.Repeat(`"x",`, 40) + `"x"]}}`,
			[]permanente.Rule{"x", "x", "x", "x", "x", "x", "x", "x", "x", "x", "x", "x", "x", "x", "x", "x"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := serveOnly(t, http.StatusUnprocessableEntity, tc.body).Challenge(t.Context())
			require.ErrorIs(t, err, app.ErrWeakPassword)
			var weak *app.WeakPasswordError
			require.ErrorAs(t, err, &weak)
			assert.Equal(t, tc.rules, weak.Rules)
			assert.Equal(t, &app.APIError{Status: 422, Code: "weak_password", Message: "m"}, weak.Err)
		})
	}
}

func TestPermanenteErrorCodes(t *testing.T) {
	sentinels := map[string]error{
		"weak_password":         app.ErrWeakPassword,
		"wrong_password":        app.ErrWrongPassword,
		"blocked":               app.ErrPasswordBlocked,
		"not_registered":        app.ErrNotRegistered,
		"not_activated":         app.ErrNotActivated,
		"registration_inactive": app.ErrRegistrationInactive,
		"conflict":              app.ErrConflict,
		"not_found":             app.ErrNotFound,
		"too_many_attempts":     app.ErrTooManyAttempts,
	}
	for code, want := range sentinels {
		e := &app.APIError{Status: 400, Code: code}
		for other, s := range sentinels {
			assert.Equal(t, code == other, errors.Is(e, s), "%s is %s", code, other)
		}
		assert.ErrorIs(t, e, want)
	}
}

func TestRegeneratedCodeIsChecked(t *testing.T) {
	g := newPermGateway(t, true)
	s := g.session(t)
	for _, body := range []string{`{"activation_code":"ABCD-EFGH","issued_at":"2026-11-30T22:50:00Z"}`,
		`{"activation_code":"ABCD-EFGH-JKLM-NPQ0","issued_at":"2026-11-30T22:50:00Z"}`} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(body))
		}))
		s.Client.BaseURL, s.Client.HTTP = srv.URL, srv.Client()
		_, err := s.RegenerateActivationCode(t.Context())
		require.ErrorIs(t, err, app.ErrBadAnswer, body)
		srv.Close()
	}
}
