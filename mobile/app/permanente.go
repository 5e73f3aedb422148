package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/clave-go/clave/permanente"
)

// Errors of the Cl@ve Permanente calls, one per stable error code, matched
// by an [*APIError] of that code as the other codes are. A gateway without
// Cl@ve Permanente answers those calls with [ErrNotFound].
var (
	// ErrWeakPassword (weak_password) reports a new password that breaks
	// the Cl@ve Permanente policy; the error is a [*WeakPasswordError]
	// listing the broken rules.
	ErrWeakPassword = errors.New("app: the new password does not meet the policy")

	// ErrWrongPassword (wrong_password) reports a wrong current password.
	// It counts as a failed login: the fifth in a row blocks the password.
	ErrWrongPassword = errors.New("app: wrong password")

	// ErrPasswordBlocked (blocked) reports a password blocked by failed
	// attempts; [Session.RecoverPassword] unblocks it.
	ErrPasswordBlocked = errors.New("app: password blocked")

	// ErrNotRegistered (not_registered) reports a citizen without Cl@ve
	// Permanente.
	ErrNotRegistered = errors.New("app: no Cl@ve Permanente")

	// ErrNotActivated (not_activated) reports a Cl@ve Permanente never
	// activated: the citizen sets the first password with the activation
	// code, on the gateway's pages.
	ErrNotActivated = errors.New("app: Cl@ve Permanente not activated")

	// ErrRegistrationInactive (registration_inactive) reports a citizen
	// whose Cl@ve registration is blocked or given up.
	ErrRegistrationInactive = errors.New("app: Cl@ve registration not active")

	// ErrConflict (conflict) reports a password changed by someone else
	// during the call: read the status and try again.
	ErrConflict = errors.New("app: password changed meanwhile")
)

// permanenteCodes maps the error codes of the Cl@ve Permanente calls to
// their sentinels.
var permanenteCodes = map[string]error{
	"weak_password":         ErrWeakPassword,
	"wrong_password":        ErrWrongPassword,
	"blocked":               ErrPasswordBlocked,
	"not_registered":        ErrNotRegistered,
	"not_activated":         ErrNotActivated,
	"registration_inactive": ErrRegistrationInactive,
	"conflict":              ErrConflict,
}

// maxRules bounds the rules kept of a weak_password answer: the policy has
// ten.
const maxRules = 16

// WeakPasswordError is the gateway's refusal of a new password that breaks
// the Cl@ve Permanente policy. It matches [ErrWeakPassword] and unwraps to
// the [*APIError] of the answer.
type WeakPasswordError struct {
	// Rules are the broken rules in the policy's order, for the app to
	// explain each in the citizen's language: permanente.RuleTooShort,
	// permanente.RuleHasName, ... (permanente.RuleReused for the current
	// or the previous password). A rule this version does not know is kept
	// as the gateway named it.
	Rules []permanente.Rule

	// Err is the gateway's answer.
	Err *APIError
}

// Error names the broken rules; it never holds the password.
func (e *WeakPasswordError) Error() string {
	names := make([]string, len(e.Rules))
	for i, r := range e.Rules {
		names[i] = string(r)
	}
	return fmt.Sprintf("app: the new password does not meet the Cl@ve Permanente policy: %s (weak_password, HTTP %d)",
		strings.Join(names, ", "), e.Err.Status)
}

// Unwrap returns the gateway's answer.
func (e *WeakPasswordError) Unwrap() error { return e.Err }

// weakPassword builds the error of a weak_password answer from its rules,
// made printable and bounded: they come from the gateway.
func weakPassword(e *APIError, rules []string) *WeakPasswordError {
	out := make([]permanente.Rule, 0, min(len(rules), maxRules))
	for _, r := range rules {
		if len(out) == maxRules {
			break
		}
		if r = printable(r, 32); r != "" {
			out = append(out, permanente.Rule(r))
		}
	}
	return &WeakPasswordError{Rules: out, Err: e}
}

// PermanenteStatus is the citizen's Cl@ve Permanente as the gateway sees it.
type PermanenteStatus struct {
	// Registered reports that the citizen has Cl@ve Permanente; Activated
	// that they chose a password.
	Registered, Activated bool

	// ActivationBlocked reports an activation code blocked by wrong
	// entries: [Session.RegenerateActivationCode] gives a new one.
	ActivationBlocked bool

	// PasswordBlocked reports a password blocked by failed attempts:
	// [Session.RecoverPassword] sets a new one.
	PasswordBlocked bool

	// PasswordExpired reports a password past its two years: the next
	// login asks for a new one, or [Session.ChangePassword] sets it now.
	PasswordExpired bool

	// PasswordSetAt is when the password was chosen, PasswordExpiresAt
	// when it expires; both zero before activation.
	PasswordSetAt, PasswordExpiresAt time.Time
}

// permanenteJSON is a PermanenteStatus on the wire.
type permanenteJSON struct {
	Registered        bool      `json:"registered"`
	Activated         bool      `json:"activated"`
	ActivationBlocked bool      `json:"activation_blocked"`
	PasswordBlocked   bool      `json:"password_blocked"`
	PasswordExpired   bool      `json:"password_expired"`
	PasswordSetAt     time.Time `json:"password_set_at"`
	PasswordExpiresAt time.Time `json:"password_expires_at"`
}

func (j permanenteJSON) status() PermanenteStatus {
	return PermanenteStatus{Registered: j.Registered, Activated: j.Activated, ActivationBlocked: j.ActivationBlocked,
		PasswordBlocked: j.PasswordBlocked, PasswordExpired: j.PasswordExpired, PasswordSetAt: j.PasswordSetAt,
		PasswordExpiresAt: j.PasswordExpiresAt}
}

// PermanenteStatus reads the citizen's Cl@ve Permanente: whether they have
// it (a citizen without it is a status, not an error), whether it is
// activated or blocked, and when the password expires.
func (s *Session) PermanenteStatus(ctx context.Context) (PermanenteStatus, error) {
	var out permanenteJSON
	if err := s.call(ctx, http.MethodGet, "/permanente", nil, nil, &out); err != nil {
		return PermanenteStatus{}, err
	}
	return out.status(), nil
}

// RegenerateActivationCode has the gateway issue a new Cl@ve Permanente
// activation code, which the app shows to the citizen once: the unlocked
// session is the proof of identity the regeneration asks for. Only the new
// code is valid from then on, and it unblocks a blocked one; the citizen
// keeps it, since it also opens the forgotten-password flow of the
// gateway's pages. Its String hides it from logs: show
// [permanente.ActivationCode.Grouped].
func (s *Session) RegenerateActivationCode(ctx context.Context) (permanente.ActivationCode, error) {
	var out struct {
		ActivationCode string    `json:"activation_code"`
		IssuedAt       time.Time `json:"issued_at"`
	}
	if err := s.call(ctx, http.MethodPost, "/permanente/activation-code", nil, nil, &out); err != nil {
		return permanente.ActivationCode{}, err
	}
	value := strings.ReplaceAll(out.ActivationCode, "-", "")
	if len(value) != permanente.ActivationCodeLength || strings.Trim(value, permanente.ActivationAlphabet) != "" {
		return permanente.ActivationCode{}, fmt.Errorf("%w: not an activation code", ErrBadAnswer)
	}
	return permanente.ActivationCode{Value: value, IssuedAt: out.IssuedAt}, nil
}

// ChangePassword replaces the Cl@ve Permanente password, given the current
// one, and returns the new status. A wrong current password gives
// [ErrWrongPassword] and counts towards blocking it ([ErrPasswordBlocked]);
// a new one that breaks the policy, or is the current or the previous
// password, gives a [*WeakPasswordError] and changes nothing.
func (s *Session) ChangePassword(ctx context.Context, current, newPassword string) (PermanenteStatus, error) {
	if current == "" {
		return PermanenteStatus{}, fmt.Errorf("%w: the current password is required", ErrBadRequest)
	}
	in := struct {
		Current string `json:"current"`
		New     string `json:"new"`
	}{current, newPassword}
	var out permanenteJSON
	if err := s.call(ctx, http.MethodPost, "/permanente/password", nil, in, &out); err != nil {
		return PermanenteStatus{}, err
	}
	return out.status(), nil
}

// RecoverPassword sets a new Cl@ve Permanente password for a citizen who
// forgot theirs, with no activation code or SMS: the unlocked session is
// the proof of identity. It unblocks a blocked password. The new one must
// meet the policy and be neither the current nor the previous password,
// else a [*WeakPasswordError]. A gateway that cannot recover passwords
// from the app answers [ErrNotFound].
func (s *Session) RecoverPassword(ctx context.Context, newPassword string) (PermanenteStatus, error) {
	in := struct {
		New string `json:"new"`
	}{newPassword}
	var out permanenteJSON
	if err := s.call(ctx, http.MethodPost, "/permanente/recovery", nil, in, &out); err != nil {
		return PermanenteStatus{}, err
	}
	return out.status(), nil
}

// DeletePermanente deletes the citizen's Cl@ve Permanente user: password
// and activation code. Cl@ve and this phone stay; Cl@ve Permanente can be
// had again only by registering for it anew.
func (s *Session) DeletePermanente(ctx context.Context) error {
	return s.call(ctx, http.MethodDelete, "/permanente", nil, nil, nil)
}
