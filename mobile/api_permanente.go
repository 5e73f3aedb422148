package mobile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"time"

	"github.com/clave-go/clave/gateway/method"
	"github.com/clave-go/clave/internal/limit"
	"github.com/clave-go/clave/permanente"
)

// PermanenteAccounts is what the app API needs of Cl@ve Permanente to let a
// citizen manage their account from the app: the operations on the account
// of a citizen who is already identified, here by the signature of their
// active phone, which only the unlock factor releases. *permanente.Service
// implements it.
type PermanenteAccounts interface {
	// Status returns the citizen's account state, or
	// permanente.ErrNotRegistered.
	Status(ctx context.Context, citizen string) (permanente.Status, error)

	// RegenerateActivationCode issues a new activation code, the only
	// valid one from then on.
	RegenerateActivationCode(ctx context.Context, citizen string) (permanente.ActivationCode, error)

	// ChangePassword replaces the password given the current one, which
	// is checked and counted as a login's.
	ChangePassword(ctx context.Context, citizen, current, password string, p permanente.Profile) error

	// DeleteUser removes the citizen's Cl@ve Permanente.
	DeleteUser(ctx context.Context, citizen string) error
}

// PermanenteRecovery is implemented by a [PermanenteAccounts] that can set
// a forgotten password for a citizen identified by other means than the
// activation code and SMS flow: here the app, whose signed call is the
// proof of identity. POST /app/v1/permanente/recovery answers 404
// not_found on a gateway whose accounts do not implement it.
type PermanenteRecovery interface {
	// RecoverPassword checks password against the policy for p (its ID
	// being citizen) and refuses the current and the previous password
	// ([permanente.RuleReused]), with an error matching
	// [permanente.ErrWeakPassword] whose [permanente.BrokenRules] list
	// every broken rule; then it sets it, unblocks the password and drops
	// any activation or reset in progress. It returns
	// [permanente.ErrNotRegistered] or [permanente.ErrNotActivated] for a
	// citizen without a password to recover, and [permanente.ErrConflict]
	// if the password changed meanwhile.
	RecoverPassword(ctx context.Context, citizen, password string, p permanente.Profile) error
}

// Limits of the Cl@ve Permanente calls, on top of those of the Service
// behind them (5 wrong current passwords block the password). A person
// changes a password a few times a year; these bound what a stolen,
// unlocked phone or a client with many of them can try, and the argon2
// work each call costs the gateway.
const (
	// permanentePasswords is how many password-bearing calls (change,
	// recovery) one citizen's phone may make per permanenteWindow.
	permanentePasswords = 10

	// permanenteClientPasswords is how many password-bearing calls one
	// client may make per permanenteClientWindow, whatever the phones.
	permanenteClientPasswords = 30

	// permanenteCodes is how many activation codes one citizen's phone may
	// have issued per permanenteWindow: each one replaces the last.
	permanenteCodes = 5

	permanenteWindow       = time.Hour
	permanenteClientWindow = 10 * time.Minute
)

// permanenteAPI is the Cl@ve Permanente share of the app API: the accounts
// and the limits of the calls on them.
type permanenteAPI struct {
	accounts PermanenteAccounts
	recovery PermanenteRecovery // nil when the accounts cannot recover

	passwords, clientPasswords, codes *limit.Window
}

// newPermanenteAPI returns the Cl@ve Permanente calls on acc, or nil for a
// gateway without it (a nil acc, or a nil pointer in it).
func newPermanenteAPI(acc PermanenteAccounts, now func() time.Time) *permanenteAPI {
	if acc == nil {
		return nil
	}
	if v := reflect.ValueOf(acc); v.Kind() == reflect.Pointer && v.IsNil() {
		return nil
	}
	p := &permanenteAPI{
		accounts:        acc,
		passwords:       &limit.Window{Max: permanentePasswords, Per: permanenteWindow, Now: now},
		clientPasswords: &limit.Window{Max: permanenteClientPasswords, Per: permanenteClientWindow, Now: now},
		codes:           &limit.Window{Max: permanenteCodes, Per: permanenteWindow, Now: now},
	}
	p.recovery, _ = acc.(PermanenteRecovery)
	return p
}

// servePermanente routes the calls under /app/v1/permanente. A gateway
// without Cl@ve Permanente answers them as it answers any unknown
// endpoint, before looking at the call.
func (a *API) servePermanente(w http.ResponseWriter, r *http.Request, rest string) {
	if a.perm == nil || (rest == "permanente/recovery" && a.perm.recovery == nil) {
		a.fail(w, r, errEndpoint)
		return
	}
	switch rest {
	case "permanente":
		switch r.Method {
		case http.MethodGet:
			a.signed(w, r, a.permanenteStatus)
		case http.MethodDelete:
			a.signed(w, r, a.permanenteDelete)
		default:
			w.Header().Set("Allow", "GET, DELETE")
			a.fail(w, r, errMethod)
		}
	case "permanente/activation-code":
		a.routeSigned(w, r, http.MethodPost, a.permanenteRegenerate)
	case "permanente/password":
		a.routeSigned(w, r, http.MethodPost, a.permanenteChange)
	case "permanente/recovery":
		a.routeSigned(w, r, http.MethodPost, a.permanenteRecover)
	default:
		a.fail(w, r, errEndpoint)
	}
}

// Refusals of the Cl@ve Permanente calls.
var (
	errRegistrationInactive = apiErr(http.StatusForbidden, "registration_inactive", "The citizen's Cl@ve registration is not active.")
	errNotRegistered        = apiErr(http.StatusConflict, "not_registered", "The citizen has no Cl@ve Permanente.")
	errNotActivated         = apiErr(http.StatusConflict, "not_activated", "Cl@ve Permanente is not activated yet: activate it with the activation code.")
	errWrongPassword        = apiErr(http.StatusUnauthorized, "wrong_password", "The current password is wrong.")
	errPasswordBlocked      = apiErr(http.StatusLocked, "blocked", "The password is blocked by failed attempts; recover it to unblock it.")
	errPasswordConflict     = apiErr(http.StatusConflict, "conflict", "The password changed meanwhile; read the status and try again.")
	errNoCurrent            = errBadRequest("current, the current password, is required.")
)

// permanenteRefusal maps an error of the accounts to its answer; what is
// none of their rules' outcomes is left to [API.refusal], which logs it and
// answers 503.
func (a *API) permanenteRefusal(ctx context.Context, call string, err error) *apiError {
	for _, m := range []struct {
		err error
		to  *apiError
	}{
		{permanente.ErrNotRegistered, errNotRegistered},
		{permanente.ErrNotActivated, errNotActivated},
		{permanente.ErrWrongPassword, errWrongPassword},
		{permanente.ErrBlocked, errPasswordBlocked},
		{permanente.ErrConflict, errPasswordConflict},
		{permanente.ErrBadCitizen, errBadRequest("The identifier is not a valid DNI or NIE.")},
	} {
		if errors.Is(err, m.err) {
			return m.to
		}
	}
	return a.refusal(ctx, call, err)
}

// failWeak refuses a new password that breaks the policy, listing every
// broken rule by its stable name so that the app can explain each one in
// the citizen's language. Nothing of the password is logged or echoed.
func (a *API) failWeak(w http.ResponseWriter, r *http.Request, err error) {
	rules := permanente.BrokenRules(err)
	if rules == nil {
		rules = []permanente.Rule{}
	}
	a.log.Log(r.Context(), slog.LevelDebug, "mobile api: refused", "call", callName(r.URL.Path), "code", "weak_password",
		"rules", rules)
	var out struct {
		Error struct {
			Code    string            `json:"code"`
			Message string            `json:"message"`
			Rules   []permanente.Rule `json:"rules"`
		} `json:"error"`
	}
	out.Error.Code = "weak_password"
	out.Error.Message = "The new password does not meet the Cl@ve Permanente policy; rules lists what it breaks."
	out.Error.Rules = rules
	writeAPIJSON(w, http.StatusUnprocessableEntity, out)
}

// permanenteCitizen looks the device's citizen up in the registry: only a
// citizen whose Cl@ve registration is active may manage Cl@ve Permanente,
// and the registry has the names the password policy checks.
func (a *API) permanenteCitizen(w http.ResponseWriter, r *http.Request, dev Device) (method.Citizen, bool) {
	c, err := a.citizens.Citizen(r.Context(), dev.Citizen)
	switch {
	case errors.Is(err, method.ErrUnknownCitizen), errors.Is(err, method.ErrInvalid), err == nil && c.Status != method.StatusActive:
		a.fail(w, r, errRegistrationInactive)
		return method.Citizen{}, false
	case err != nil:
		a.fail(w, r, a.refusal(r.Context(), "permanente", fmt.Errorf("mobile api: citizens: %w", err)))
		return method.Citizen{}, false
	}
	return c, true
}

// profile is what the password policy knows of c.
func profile(c method.Citizen) permanente.Profile {
	return permanente.Profile{GivenName: c.GivenName, FirstSurname: c.FirstSurname, SecondSurname: c.SecondSurname, ID: c.ID}
}

// allowPassword counts a password-bearing call against the citizen's and
// the client's limits.
func (a *API) allowPassword(w http.ResponseWriter, r *http.Request, dev Device) bool {
	if ok, at := a.perm.passwords.Allow(dev.Citizen); !ok {
		a.fail(w, r, limited(at))
		return false
	}
	if ok, at := a.perm.clientPasswords.Allow(a.client(r)); !ok {
		a.fail(w, r, limited(at))
		return false
	}
	return true
}

// wirePermanente is a Cl@ve Permanente account as the app shows it. The
// times are absent before activation.
type wirePermanente struct {
	Registered        bool   `json:"registered"`
	Activated         bool   `json:"activated"`
	ActivationBlocked bool   `json:"activation_blocked"`
	PasswordBlocked   bool   `json:"password_blocked"`
	PasswordExpired   bool   `json:"password_expired"`
	PasswordSetAt     string `json:"password_set_at,omitempty"`
	PasswordExpiresAt string `json:"password_expires_at,omitempty"`
}

func (a *API) toWirePermanente(s permanente.Status) wirePermanente {
	out := wirePermanente{Registered: s.Registered, Activated: s.Activated, ActivationBlocked: s.ActivationBlocked,
		PasswordBlocked: s.PasswordBlocked}
	if s.Activated {
		out.PasswordSetAt, out.PasswordExpiresAt = apiTime(s.PasswordSetAt), apiTime(s.PasswordExpiresAt)
		out.PasswordExpired = !a.now().Before(s.PasswordExpiresAt)
	}
	return out
}

// readPermanente reads the account's status: a citizen without Cl@ve
// Permanente is a status, not an error, for GET.
func (a *API) readPermanente(ctx context.Context, citizen string) (permanente.Status, error) {
	s, err := a.perm.accounts.Status(ctx, citizen)
	if errors.Is(err, permanente.ErrNotRegistered) {
		return permanente.Status{}, nil
	}
	return s, err
}

// permanenteStatus serves GET /app/v1/permanente.
func (a *API) permanenteStatus(w http.ResponseWriter, r *http.Request, dev Device, _ []byte) {
	if !a.noQuery(w, r) {
		return
	}
	if _, ok := a.permanenteCitizen(w, r, dev); !ok {
		return
	}
	s, err := a.readPermanente(r.Context(), dev.Citizen)
	if err != nil {
		a.fail(w, r, a.permanenteRefusal(r.Context(), "permanente status", err))
		return
	}
	writeAPIJSON(w, http.StatusOK, a.toWirePermanente(s))
}

// permanenteRegenerate serves POST /app/v1/permanente/activation-code: the
// unlock factor released the key that signed the call, which is what
// regenerating from the app asks for. The new code is shown once and
// never logged.
func (a *API) permanenteRegenerate(w http.ResponseWriter, r *http.Request, dev Device, body []byte) {
	if !a.noQuery(w, r) || !a.noBody(w, r, body) {
		return
	}
	if ok, at := a.perm.codes.Allow(dev.Citizen); !ok {
		a.fail(w, r, limited(at))
		return
	}
	if _, ok := a.permanenteCitizen(w, r, dev); !ok {
		return
	}
	code, err := a.perm.accounts.RegenerateActivationCode(r.Context(), dev.Citizen)
	if err != nil {
		a.fail(w, r, a.permanenteRefusal(r.Context(), "permanente activation code", err))
		return
	}
	a.log.InfoContext(r.Context(), "mobile api: permanente activation code regenerated", "person", maskedID(dev.Citizen))
	writeAPIJSON(w, http.StatusOK, struct {
		ActivationCode string `json:"activation_code"`
		IssuedAt       string `json:"issued_at"`
	}{code.Grouped(), apiTime(code.IssuedAt)})
}

// noBody refuses a body on a call that takes none ({} is none too).
func (a *API) noBody(w http.ResponseWriter, r *http.Request, body []byte) bool {
	if len(body) == 0 {
		return true
	}
	var none struct{}
	return a.decodeJSON(w, r, body, &none)
}

// passwordCall is the body of POST /app/v1/permanente/password.
type passwordCall struct {
	Current string `json:"current"`
	New     string `json:"new"`
}

// recoveryCall is the body of POST /app/v1/permanente/recovery.
type recoveryCall struct {
	New string `json:"new"`
}

// permanenteChange serves POST /app/v1/permanente/password: a new password
// given the current one, which counts towards blocking as a login's does.
func (a *API) permanenteChange(w http.ResponseWriter, r *http.Request, dev Device, body []byte) {
	var in passwordCall
	if !a.noQuery(w, r) || !a.decodeJSON(w, r, body, &in) {
		return
	}
	if in.Current == "" {
		// A client's slip, not a guess: not worth one of the attempts.
		a.fail(w, r, errNoCurrent)
		return
	}
	if !a.allowPassword(w, r, dev) {
		return
	}
	c, ok := a.permanenteCitizen(w, r, dev)
	if !ok || !a.passwordToSet(w, r, dev) {
		return
	}
	err := a.perm.accounts.ChangePassword(r.Context(), dev.Citizen, in.Current, in.New, profile(c))
	a.passwordSet(w, r, dev, "changed", err)
}

// permanenteRecover serves POST /app/v1/permanente/recovery: the forgotten
// password replaced, with the app as the proof of identity; it unblocks a
// blocked password.
func (a *API) permanenteRecover(w http.ResponseWriter, r *http.Request, dev Device, body []byte) {
	var in recoveryCall
	if !a.noQuery(w, r) || !a.decodeJSON(w, r, body, &in) {
		return
	}
	if !a.allowPassword(w, r, dev) {
		return
	}
	c, ok := a.permanenteCitizen(w, r, dev)
	if !ok || !a.passwordToSet(w, r, dev) {
		return
	}
	err := a.perm.recovery.RecoverPassword(r.Context(), dev.Citizen, in.New, profile(c))
	a.passwordSet(w, r, dev, "recovered", err)
}

// passwordToSet checks that the citizen has a password to change or
// recover. The accounts answer a citizen without one as a wrong password,
// so as not to tell strangers who is registered; the app's citizen is
// identified and gets the reason.
func (a *API) passwordToSet(w http.ResponseWriter, r *http.Request, dev Device) bool {
	s, err := a.perm.accounts.Status(r.Context(), dev.Citizen)
	if err == nil && !s.Activated {
		err = permanente.ErrNotActivated
	}
	if err != nil {
		a.fail(w, r, a.permanenteRefusal(r.Context(), "permanente password", err))
		return false
	}
	return true
}

// passwordSet answers a change or recovery that ended with err: the new
// status when it succeeded.
func (a *API) passwordSet(w http.ResponseWriter, r *http.Request, dev Device, what string, err error) {
	ctx := r.Context()
	switch {
	case errors.Is(err, permanente.ErrWeakPassword):
		a.failWeak(w, r, err)
		return
	case err != nil:
		a.fail(w, r, a.permanenteRefusal(ctx, "permanente password", err))
		return
	}
	a.log.InfoContext(ctx, "mobile api: permanente password "+what, "person", maskedID(dev.Citizen))
	s, err := a.perm.accounts.Status(ctx, dev.Citizen)
	if err != nil {
		// The password is set: say so, without the times that could not
		// be read.
		a.log.ErrorContext(ctx, "mobile api: status after password change", "error", err)
		writeAPIJSON(w, http.StatusOK, wirePermanente{Registered: true, Activated: true})
		return
	}
	writeAPIJSON(w, http.StatusOK, a.toWirePermanente(s))
}

// permanenteDelete serves DELETE /app/v1/permanente: the citizen gives up
// Cl@ve Permanente (not Cl@ve, nor this phone).
func (a *API) permanenteDelete(w http.ResponseWriter, r *http.Request, dev Device, _ []byte) {
	if !a.noQuery(w, r) {
		return
	}
	if _, ok := a.permanenteCitizen(w, r, dev); !ok {
		return
	}
	if err := a.perm.accounts.DeleteUser(r.Context(), dev.Citizen); err != nil {
		a.fail(w, r, a.permanenteRefusal(r.Context(), "permanente delete", err))
		return
	}
	a.log.InfoContext(r.Context(), "mobile api: permanente user deleted", "person", maskedID(dev.Citizen))
	writeAPIJSON(w, http.StatusOK, wirePermanente{})
}
