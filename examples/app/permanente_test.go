package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
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
	pwThird  = "Garza%Real2031"
)

// recoveringAccounts is a real permanente.Service that can also recover a
// password for the app, through its own forgotten-password flow driven
// with the activation code it keeps.
type recoveringAccounts struct {
	*permanente.Service

	mu   sync.Mutex
	code string
}

func (r *recoveringAccounts) keep(c permanente.ActivationCode) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.code = c.Value
}

func (r *recoveringAccounts) RegenerateActivationCode(ctx context.Context, citizen string) (permanente.ActivationCode, error) {
	c, err := r.Service.RegenerateActivationCode(ctx, citizen)
	if err == nil {
		r.keep(c)
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

// permGateway is an app API with Cl@ve Permanente, and a phone activated
// on it whose state is in a file.
type permGateway struct {
	accounts *recoveringAccounts
	state    string
}

func newPermGateway(t *testing.T) *permGateway {
	t.Helper()
	svc, err := mobile.New(mobile.Config{}, mobile.NewMemoryStore())
	require.NoError(t, err)
	ps, err := permanente.New(permanente.Config{Argon2: permanente.Argon2Params{Time: 1, Memory: 64, Threads: 1}},
		permanente.NewMemoryStore())
	require.NoError(t, err)
	g := &permGateway{accounts: &recoveringAccounts{Service: ps}, state: filepath.Join(t.TempDir(), "phone.json")}
	sms := &outbox{codes: make(chan string, 1)}
	api, err := mobile.NewAPI(mobile.APIConfig{
		Service: svc,
		Citizens: registry{citizen: {ID: citizen, ValidUntil: time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC),
			GivenName: "Juan", FirstSurname: "Español", Phone: "+34600000001", Status: method.StatusActive,
			Level: method.LevelAdvanced}},
		Notifier:   sms,
		Logger:     slog.New(slog.DiscardHandler),
		Permanente: g.accounts,
	})
	require.NoError(t, err)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)

	c := &app.Client{BaseURL: srv.URL, KDF: app.KDFParams{MemoryKiB: 64}}
	_, err = c.RequestActivationCode(t.Context(), citizen, "01/01/2040")
	require.NoError(t, err)
	phone, err := c.ActivateSMS(t.Context(), citizen, <-sms.codes, []byte("unlock factor"))
	require.NoError(t, err)
	require.NoError(t, phone.Save(g.state))
	return g
}

// activate gives the citizen an activated Cl@ve Permanente, as the
// gateway's pages would.
func (g *permGateway) activate(t *testing.T, password string) {
	t.Helper()
	ctx := t.Context()
	code, err := g.accounts.Register(ctx, citizen)
	require.NoError(t, err)
	g.accounts.keep(code)
	sms, err := g.accounts.StartActivation(ctx, citizen, code.Value)
	require.NoError(t, err)
	ticket, err := g.accounts.VerifyActivationSMS(ctx, citizen, sms.Value)
	require.NoError(t, err)
	require.NoError(t, g.accounts.CompleteActivation(ctx, citizen, ticket, password, permanente.Profile{}))
}

func TestPermanenteRoundTrip(t *testing.T) {
	t.Setenv(passwordEnv, "")
	g := newPermGateway(t)
	ctx := t.Context()
	pass := writeFile(t, "passphrase", "unlock factor\n")
	app := func(stdin string, args ...string) result {
		t.Helper()
		return runApp(t, strings.NewReader(stdin), append([]string{"-state", g.state, "-passphrase-file", pass, "permanente"}, args...)...)
	}
	passwords := func(lines ...string) string {
		return writeFile(t, "passwords", strings.Join(lines, "\n")+"\n")
	}

	r := app("", "status")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "You have no Cl@ve Permanente.\n", r.stdout)
	r = app("", "change", "-password-file", passwords(pwFirst, pwSecond))
	assert.Equal(t, exitError, r.code)
	assert.Equal(t, "app: The citizen has no Cl@ve Permanente. (not_registered, HTTP 409)\n", r.stderr)

	g.activate(t, pwFirst)
	r = app("", "status")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "Cl@ve Permanente:  activated")
	assert.Contains(t, r.stdout, "Password:          valid")
	assert.Contains(t, r.stdout, "Expires on:        ")

	// Change: refused with every broken rule spelled out, or for a wrong
	// current password; then done, from a file.
	r = app("", "change", "-password-file", passwords(pwFirst, "juan"))
	assert.Equal(t, exitError, r.code)
	assert.Equal(t, "app: the new password was refused: it is shorter than 8 characters; it has no upper-case letter; "+
		"it has no digit; it has no special character; it contains the citizen's name or surname (weak_password)\n", r.stderr)
	r = app("", "change", "-password-file", passwords("Wrong#Pass1", pwSecond))
	assert.Equal(t, exitError, r.code)
	assert.Contains(t, r.stderr, "(wrong_password, HTTP 401)")
	r = app("", "change", "-password-file", passwords(pwFirst))
	assert.Equal(t, exitError, r.code)
	assert.Equal(t, "app: change needs two lines, the current password and then the new one\n", r.stderr)

	r = app("", "change", "-password-file", passwords(pwFirst, pwSecond))
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "Password changed; it expires on ")
	_, err := g.accounts.Login(ctx, citizen, pwSecond)
	require.NoError(t, err)

	// From the environment, and typed, the new one twice.
	t.Setenv(passwordEnv, pwSecond+"\n"+pwThird)
	r = app("", "-json", "change")
	require.Equal(t, exitOK, r.code, r.stderr)
	var st map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &st))
	assert.Equal(t, true, st["activated"])
	assert.Contains(t, st, "password_expires_at")
	t.Setenv(passwordEnv, "")
	r = app(pwThird+"\n"+pwFirst+"\n"+pwSecond+"\n", "change")
	assert.Equal(t, exitError, r.code)
	assert.Contains(t, r.stderr, "app: the two new passwords differ")
	r = app(pwThird+"\n"+pwFirst+"\n"+pwFirst+"\n", "change")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stderr, "they are shown as you type")
	_, err = g.accounts.Login(ctx, citizen, pwFirst)
	require.NoError(t, err)

	// A new activation code; only it is valid.
	old := g.accounts.code
	r = app("", "regenerate")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Regexp(t, `^New activation code: [A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}\n`, r.stdout)
	code := strings.Fields(r.stdout)[3]
	_, err = g.accounts.StartReset(ctx, citizen, old)
	require.ErrorIs(t, err, permanente.ErrWrongActivationCode)
	_, err = g.accounts.StartReset(ctx, citizen, code)
	require.NoError(t, err)
	r = app("", "-json", "regenerate")
	require.Equal(t, exitOK, r.code, r.stderr)
	var regenerated struct {
		ActivationCode string    `json:"activation_code"`
		IssuedAt       time.Time `json:"issued_at"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &regenerated))
	assert.Equal(t, g.accounts.code, strings.ReplaceAll(regenerated.ActivationCode, "-", ""))

	// Blocked by guesses, recovered from the app.
	for range 5 {
		_, _ = g.accounts.Login(ctx, citizen, "Guess#Work1")
	}
	r = app("", "status")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "Password:          blocked by failed attempts")
	r = app("", "recover", "-password-file", passwords(pwThird))
	assert.Equal(t, exitError, r.code)
	assert.Equal(t, "app: the new password was refused: it was used before (weak_password)\n", r.stderr)
	r = app("", "recover", "-password-file", passwords("Nutria&Rio2033"))
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "New password set, and unblocked if it was blocked; it expires on ")
	_, err = g.accounts.Login(ctx, citizen, "Nutria&Rio2033")
	require.NoError(t, err)

	// Deletion, asked first.
	r = app("no\n", "delete")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "Nothing deleted.\n", r.stdout)
	r = app("yes\n", "delete")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "was deleted")
	r = app("", "-json", "status")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.JSONEq(t, `{"registered":false,"activated":false,"activation_blocked":false,"password_blocked":false,"password_expired":false}`, r.stdout)
	r = app("", "delete", "-yes")
	assert.Equal(t, exitError, r.code)
	assert.Contains(t, r.stderr, "(not_registered, HTTP 409)")

	// The phone itself is untouched.
	r = runApp(t, nil, "-state", g.state, "-passphrase-file", pass, "status")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "Status:      active")
}

func TestPermanenteUsageErrors(t *testing.T) {
	state := filepath.Join(t.TempDir(), "missing.json")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "give what to do: status, regenerate, change, recover, delete"},
		{[]string{"bogus"}, `unknown action "bogus"`},
		{[]string{"status", "extra"}, `unexpected argument "extra"`},
		{[]string{"status", "-password-file", "p.txt"}, "-password-file is for change and recover"},
		{[]string{"change", "-yes"}, "-yes is for delete"},
		{[]string{"change", "-password", pwFirst}, "flag provided but not defined: -password"},
		{[]string{"recover", "-new", pwFirst}, "flag provided but not defined: -new"},
	} {
		r := runApp(t, nil, append([]string{"-state", state, "permanente"}, tc.args...)...)
		assert.Equal(t, exitUsage, r.code, "%v", tc.args)
		assert.Contains(t, r.stderr, "app permanente: "+tc.want, "%v", tc.args)
		assert.Contains(t, r.stderr, "Usage: app permanente", "%v", tc.args)
		assert.NotContains(t, r.stderr, pwFirst)
	}
}

func TestPasswordsFromFileKeepSpaces(t *testing.T) {
	t.Setenv(passwordEnv, "")
	a := &cli{stderr: &strings.Builder{}}
	file := writeFile(t, "pw", " old pass \r\n new pass\t\r\nignored\n")
	current, next, err := a.passwords(file, true)
	require.NoError(t, err)
	assert.Equal(t, " old pass ", current)
	assert.Equal(t, " new pass\t", next)
	_, next, err = a.passwords(file, false)
	require.NoError(t, err)
	assert.Equal(t, " old pass ", next)

	_, _, err = a.passwords(writeFile(t, "empty", ""), false)
	require.NoError(t, err, "an empty line is an empty password, for the gateway to refuse")
	a.stdin = newReader("")
	_, _, err = a.passwords("", false)
	require.Error(t, err)
}
