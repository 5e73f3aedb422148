package permanente

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Activation is a citizen's latest activation code, without the code.
type Activation struct {
	// Hash is an HMAC-SHA256 of the citizen and the code under the service
	// secret, so that a leaked database gives no code.
	Hash []byte

	// IssuedAt is when the code was issued.
	IssuedAt time.Time

	// Failures counts wrong entries since the code was issued or last
	// typed right; beyond Config.ActivationFailures the code is blocked.
	Failures int
}

// Password is a citizen's password, without the password.
type Password struct {
	// Hash is the argon2id hash in PHC format, with its own salt and
	// parameters.
	Hash string

	// SetAt is when the password was chosen; it expires
	// Config.PasswordMaxAge later.
	SetAt time.Time

	// Previous is the hash of the password before this one, empty if
	// none: it may not be chosen again.
	Previous string

	// Failures counts consecutive wrong passwords; at
	// Config.PasswordFailures the password is blocked until reset.
	Failures int
}

// Purpose tells which flow a [Flow] belongs to.
type Purpose string

// The flows that end in choosing a password.
const (
	// PurposeActivation sets the first password.
	PurposeActivation Purpose = "activation"
	// PurposeReset replaces a forgotten or blocked password.
	PurposeReset Purpose = "reset"
	// PurposeChange replaces an expired password, right after a login
	// with it (Result.ChangeTicket).
	PurposeChange Purpose = "change"
)

// Step is where a [Flow] stands.
type Step string

// Flow steps: the activation code was right, then the SMS code.
const (
	// StepSMS waits for the SMS code; Flow.Hash is the code's HMAC.
	StepSMS Step = "sms"
	// StepPassword waits for the new password; Flow.Hash is the ticket's
	// HMAC.
	StepPassword Step = "password"
)

// Flow is an activation or a password reset in progress, past the
// activation code, or the change of an expired password:
//
//	StartActivation / StartReset          → StepSMS (SMS code sent)
//	VerifyActivationSMS / VerifyResetSMS  → StepPassword (ticket handed out)
//	CompleteActivation / CompleteReset    → done, the flow is dropped
//	Login with an expired password        → StepPassword (Result.ChangeTicket)
//	CompleteChange                        → done, the flow is dropped
//
// A wrong SMS code counts; the last allowed one drops the flow (ErrRestart),
// and so does an expired code. Starting again replaces the flow, and a new
// activation code drops it.
type Flow struct {
	// Purpose is activation, reset or change.
	Purpose Purpose

	// Step is the step waited for.
	Step Step

	// Hash is the HMAC of the SMS code (StepSMS) or of the ticket
	// (StepPassword).
	Hash []byte

	// ExpiresAt is the first instant at which the code or ticket no
	// longer verifies.
	ExpiresAt time.Time

	// Failures counts wrong SMS codes.
	Failures int
}

// LoginCode is the outstanding SMS code of a reinforced login, without the
// code.
type LoginCode struct {
	// LoginID is the gateway login it was issued for.
	LoginID string

	// Hash is an HMAC of the citizen, the login and the code.
	Hash []byte

	// ExpiresAt is the first instant at which it no longer verifies.
	ExpiresAt time.Time

	// Failures counts wrong entries for this login, across resends; at
	// Config.SMSAttempts the login can no longer be completed by SMS.
	Failures int
}

// Account is everything Cl@ve Permanente keeps about one citizen. It is plain
// data, so that every [Store] can stay a dumb, atomic container; [Service]
// holds the rules. A citizen without an account is not registered.
type Account struct {
	// Activation is the latest activation code; nil when the citizen is
	// not registered.
	Activation *Activation

	// Password is the current password; nil until activation.
	Password *Password

	// Flow is the activation or reset in progress, if any.
	Flow *Flow

	// Login is the SMS code of the latest reinforced login, if any.
	Login *LoginCode
}

// Registered reports whether the citizen has Cl@ve Permanente.
func (a *Account) Registered() bool { return a.Activation != nil }

// Activated reports whether the citizen has chosen a password.
func (a *Account) Activated() bool { return a.Password != nil }

// Status is what the citizen's management pages show of an account.
type Status struct {
	// Registered reports that the citizen has Cl@ve Permanente;
	// Activated that they have chosen a password.
	Registered, Activated bool

	// ActivationBlocked reports an activation code blocked by wrong
	// entries: only a new code helps.
	ActivationBlocked bool

	// PasswordBlocked reports a password blocked by failed logins: only a
	// reset helps.
	PasswordBlocked bool

	// PasswordSetAt is when the password was chosen; PasswordExpiresAt the
	// first instant at which a login forces a change. Zero before
	// activation.
	PasswordSetAt, PasswordExpiresAt time.Time
}

// Status returns citizen's account state, for a citizen who identified by
// other means, or [ErrNotRegistered].
func (s *Service) Status(ctx context.Context, citizen string) (Status, error) {
	id, err := parseCitizen(citizen)
	if err != nil {
		return Status{}, err
	}
	a, err := s.st.Account(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Status{}, ErrNotRegistered
	}
	if err != nil {
		return Status{}, fmt.Errorf("permanente: status: %w", err)
	}
	if !a.Registered() {
		return Status{}, ErrNotRegistered
	}
	st := Status{Registered: true, ActivationBlocked: s.activationBlocked(a.Activation)}
	if p := a.Password; p != nil {
		st.Activated = true
		st.PasswordBlocked = s.passwordBlocked(p)
		st.PasswordSetAt, st.PasswordExpiresAt = p.SetAt, s.expiry(p)
	}
	return st, nil
}

func (s *Service) activationBlocked(a *Activation) bool { return a.Failures > s.cfg.ActivationFailures }

func (s *Service) passwordBlocked(p *Password) bool { return p.Failures >= s.cfg.PasswordFailures }

func (s *Service) expiry(p *Password) time.Time { return p.SetAt.Add(s.cfg.PasswordMaxAge) }

// Register gives citizen Cl@ve Permanente and returns their first activation
// code, in clear this once, for the invitation letter. The caller has
// registered the citizen (identity checked, phone and email recorded). It
// returns [ErrAlreadyRegistered] for a citizen who has it.
func (s *Service) Register(ctx context.Context, citizen string) (ActivationCode, error) {
	return s.issueActivation(ctx, citizen, false)
}

// RegenerateActivationCode issues a new activation code for citizen and
// returns it in clear this once. Only the new code is valid from then on: it
// replaces the old one, unblocks, and drops any activation or reset in
// progress (started with the old code). The caller has made sure that the
// citizen identified by another method, or with the app's unlock factor. It
// returns [ErrNotRegistered] for a citizen without Cl@ve Permanente.
func (s *Service) RegenerateActivationCode(ctx context.Context, citizen string) (ActivationCode, error) {
	return s.issueActivation(ctx, citizen, true)
}

func (s *Service) issueActivation(ctx context.Context, citizen string, regenerate bool) (ActivationCode, error) {
	id, err := parseCitizen(citizen)
	if err != nil {
		return ActivationCode{}, err
	}
	value, err := s.activationCode()
	if err != nil {
		return ActivationCode{}, err
	}
	code := ActivationCode{Value: value, IssuedAt: s.cfg.Now()}
	var outcome error
	err = s.st.UpdateAccount(ctx, id, func(a *Account) error {
		switch {
		case regenerate && !a.Registered():
			outcome = ErrNotRegistered
		case !regenerate && a.Registered():
			outcome = ErrAlreadyRegistered
		}
		if outcome != nil {
			return outcome
		}
		a.Activation = &Activation{Hash: s.mac(labelActivation, id, value), IssuedAt: code.IssuedAt}
		a.Flow = nil
		return nil
	})
	if outcome != nil {
		return ActivationCode{}, outcome
	}
	if err != nil {
		return ActivationCode{}, fmt.Errorf("permanente: issue activation code: %w", err)
	}
	return code, nil
}

// DeleteUser removes citizen's Cl@ve Permanente: password, activation code
// and anything in progress. The citizen may be registered again later, with
// a new activation code. The caller has made sure that the citizen
// identified. It returns [ErrNotRegistered] for a citizen without it.
func (s *Service) DeleteUser(ctx context.Context, citizen string) error {
	id, err := parseCitizen(citizen)
	if err != nil {
		return err
	}
	var outcome error
	err = s.st.UpdateAccount(ctx, id, func(a *Account) error {
		if !a.Registered() {
			outcome = ErrNotRegistered
			return outcome
		}
		*a = Account{}
		return nil
	})
	if outcome != nil {
		return outcome
	}
	if err != nil {
		return fmt.Errorf("permanente: delete user: %w", err)
	}
	return nil
}
