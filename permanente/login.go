package permanente

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"time"
)

// maxLoginIDLen bounds the gateway login identifier kept with a login code.
const maxLoginIDLen = 256

// Result is a successful password check.
type Result struct {
	// Citizen is the normalised DNI or NIE.
	Citizen string

	// MustChange reports an expired password: the login is not complete
	// until the citizen chooses a new one with [Service.ChangePassword].
	// It comes with [ErrPasswordExpired].
	MustChange bool

	// PasswordSetAt is when the password was chosen, PasswordExpiresAt
	// the first instant at which it is expired, for a page to warn ahead.
	PasswordSetAt, PasswordExpiresAt time.Time

	// ChangeTicket comes with MustChange: a single-use secret, valid
	// Config.TicketValidity, with which [Service.CompleteChange] sets the
	// new password without the citizen typing the expired one again. The
	// page keeps it out of the store (it is held sealed, or in the form).
	ChangeTicket string
}

// Login checks citizen's password. A right password resets the failure
// count and returns the [Result]; a wrong one counts, and the failure that
// reaches Config.PasswordFailures blocks the password: that one and every
// later attempt, right or wrong, return [ErrBlocked] until the
// forgotten-password flow.
//
// A right password older than Config.PasswordMaxAge returns the Result with
// MustChange set, a ChangeTicket and [ErrPasswordExpired]: the citizen is
// identified, but the gateway must have them choose a new password
// ([Service.CompleteChange], or [Service.ChangePassword]) before completing
// the login. A caller that only checks err != nil fails closed.
//
// A citizen who is not registered or not activated gets [ErrWrongPassword],
// as for a wrong password, after hashing the password against a dummy with
// the configured parameters, so that the time taken does not tell them
// apart either.
func (s *Service) Login(ctx context.Context, citizen, password string) (Result, error) {
	id, err := parseCitizen(citizen)
	if err != nil {
		return Result{}, err
	}
	p, err := s.authenticate(ctx, id, password)
	if err != nil && !errors.Is(err, ErrPasswordExpired) {
		return Result{}, err
	}
	res := Result{Citizen: id, MustChange: err != nil, PasswordSetAt: p.SetAt, PasswordExpiresAt: s.expiry(&p)}
	if res.MustChange {
		if res.ChangeTicket, err = s.changeTicket(ctx, id, p); err != nil {
			return Result{}, err
		}
		return res, ErrPasswordExpired
	}
	return res, nil
}

// changeTicket opens the change of id's expired password p: a flow that
// waits for the new password with a fresh ticket, replacing any activation
// or reset in progress (the citizen has just proved they know the
// password). It fails with ErrConflict if the password changed meanwhile.
func (s *Service) changeTicket(ctx context.Context, id string, p Password) (string, error) {
	ticket, err := s.ticket()
	if err != nil {
		return "", err
	}
	now := s.cfg.Now()
	var outcome error
	err = s.st.UpdateAccount(ctx, id, func(a *Account) error {
		if a.Password == nil || a.Password.Hash != p.Hash {
			outcome = fmt.Errorf("permanente: password changed meanwhile: %w", ErrConflict)
			return outcome
		}
		a.Flow = &Flow{Purpose: PurposeChange, Step: StepPassword, Hash: s.mac(labelTicket, id, string(PurposeChange), ticket),
			ExpiresAt: now.Add(s.cfg.TicketValidity)}
		return nil
	})
	if outcome != nil {
		return "", outcome
	}
	if err != nil {
		return "", fmt.Errorf("permanente: login: %w", err)
	}
	return ticket, nil
}

// authenticate checks id's password and counts the outcome. It returns the
// password record that matched (also with ErrPasswordExpired). The hashing
// runs before the store update, outside any lock; if the password changed in
// between, the attempt is refused without being counted.
func (s *Service) authenticate(ctx context.Context, id, password string) (Password, error) {
	a, err := s.st.Account(ctx, id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Password{}, fmt.Errorf("permanente: login: %w", err)
	}
	encoded := s.dummy
	if a.Password != nil {
		encoded = a.Password.Hash
	}
	target := encoded
	if len(password) > maxPasswordBytes {
		// Hashed all the same, so that it takes the usual time, but never
		// a match: no password that long was accepted.
		password, target = "", s.dummy
	}
	ok, stale, err := s.verifyPassword(password, target)
	if err != nil {
		return Password{}, fmt.Errorf("permanente: login: %w", err)
	}
	ok = ok && target == encoded
	var rehash string
	if ok && stale {
		if rehash, err = s.hashPassword(password); err != nil {
			return Password{}, err
		}
	}
	now := s.cfg.Now()
	var (
		outcome error
		matched Password
	)
	err = s.st.UpdateAccount(ctx, id, func(a *Account) error {
		p := a.Password
		switch {
		case p == nil:
			outcome = ErrWrongPassword
			return nil
		case p.Hash != encoded:
			outcome = ErrWrongPassword // changed meanwhile: not this attempt's fault
			return nil
		case s.passwordBlocked(p):
			outcome = ErrBlocked
			return nil
		case !ok:
			p.Failures++
			outcome = ErrWrongPassword
			if s.passwordBlocked(p) {
				outcome = ErrBlocked
			}
			return nil
		}
		p.Failures = 0
		if rehash != "" {
			p.Hash = rehash
		}
		matched = *p
		if !now.Before(s.expiry(p)) {
			outcome = ErrPasswordExpired
		}
		return nil
	})
	if err != nil {
		return Password{}, fmt.Errorf("permanente: login: %w", err)
	}
	return matched, outcome
}

// ChangePassword replaces citizen's password, given the current one: from
// the management pages, or after a login returned [ErrPasswordExpired]. The
// current password is checked and counted as by [Service.Login] (so the
// change cannot be used to guess it), then the new one must pass
// [CheckPassword] for p (whose ID the Service sets to citizen) and be
// neither the current password nor the one before ([RuleReused]); if not,
// the error joins a [*PolicyError] per broken rule and nothing changes. It
// returns [ErrConflict] if the password changed meanwhile.
func (s *Service) ChangePassword(ctx context.Context, citizen, current, password string, p Profile) error {
	id, err := parseCitizen(citizen)
	if err != nil {
		return err
	}
	old, err := s.authenticate(ctx, id, current)
	if err != nil && !errors.Is(err, ErrPasswordExpired) {
		return err
	}
	return s.replacePassword(ctx, id, old, current, password, p, false)
}

// replacePassword replaces old, id's password (whose clear text current is,
// when the caller has it), with password: checked by checkNew, hashed
// outside the store update, and set only if the stored password is still
// old (ErrConflict otherwise). A new password clears the failure count;
// dropFlow also ends any activation or reset in progress.
func (s *Service) replacePassword(ctx context.Context, id string, old Password, current, password string, p Profile, dropFlow bool) error {
	if err := s.checkNew(password, id, p, old, current); err != nil {
		return err
	}
	hash, err := s.hashPassword(password)
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	var outcome error
	err = s.st.UpdateAccount(ctx, id, func(a *Account) error {
		if a.Password == nil || a.Password.Hash != old.Hash {
			outcome = fmt.Errorf("permanente: password changed meanwhile: %w", ErrConflict)
			return outcome
		}
		a.Password = &Password{Hash: hash, SetAt: now, Previous: old.Hash}
		if dropFlow {
			a.Flow = nil
		}
		return nil
	})
	if outcome != nil {
		return outcome
	}
	if err != nil {
		return fmt.Errorf("permanente: replace password: %w", err)
	}
	return nil
}

// IssueLoginSMS issues the SMS code of the reinforced step of a login, for
// the levels of assurance that need it, after [Service.Login] accepted the
// password; the gateway sends it to the registered phone. The code is bound
// to loginID, the gateway's identifier of the login, valid
// Config.SMSValidity, single use, and replaces any earlier login's code.
// Issuing again for the same login (a resend) keeps its count of wrong
// entries, and once that is spent returns [ErrTooManyAttempts]. It returns
// [ErrNotActivated] for a citizen without a password and [ErrBlocked] for a
// blocked one.
func (s *Service) IssueLoginSMS(ctx context.Context, citizen, loginID string) (Code, error) {
	id, err := parseCitizen(citizen)
	if err != nil {
		return Code{}, err
	}
	if loginID == "" || len(loginID) > maxLoginIDLen {
		return Code{}, ErrBadLoginID
	}
	value, err := s.digits()
	if err != nil {
		return Code{}, err
	}
	code := Code{Value: value, ExpiresAt: s.cfg.Now().Add(s.cfg.SMSValidity)}
	var outcome error
	err = s.st.UpdateAccount(ctx, id, func(a *Account) error {
		failures := 0
		if l := a.Login; l != nil && l.LoginID == loginID {
			failures = l.Failures
		}
		switch {
		case a.Password == nil:
			outcome = ErrNotActivated
		case s.passwordBlocked(a.Password):
			outcome = ErrBlocked
		case failures >= s.cfg.SMSAttempts:
			outcome = ErrTooManyAttempts
		}
		if outcome != nil {
			return outcome
		}
		a.Login = &LoginCode{LoginID: loginID, Hash: s.mac(labelLogin, id, loginID, value),
			ExpiresAt: code.ExpiresAt, Failures: failures}
		return nil
	})
	if outcome != nil {
		return Code{}, outcome
	}
	if err != nil {
		return Code{}, fmt.Errorf("permanente: issue login code: %w", err)
	}
	return code, nil
}

// VerifyLoginSMS checks the SMS code of the reinforced step of login
// loginID. A right code is spent: a second use returns [ErrNoCode]. It
// returns [ErrNoCode] when no code is outstanding for that login (none
// issued, used, or replaced by another login's), [ErrExpired], [ErrWrongCode]
// while attempts remain, and [ErrTooManyAttempts] on the wrong entry that
// spends the code and after: the gateway then fails the login.
func (s *Service) VerifyLoginSMS(ctx context.Context, citizen, loginID, typed string) error {
	id, err := parseCitizen(citizen)
	if err != nil {
		return err
	}
	if loginID == "" || len(loginID) > maxLoginIDLen {
		return ErrBadLoginID
	}
	mac := s.mac(labelLogin, id, loginID, normaliseTyped(typed))
	now := s.cfg.Now()
	var outcome error
	err = s.st.UpdateAccount(ctx, id, func(a *Account) error {
		l := a.Login
		switch {
		case l == nil || l.LoginID != loginID:
			outcome = ErrNoCode
		case l.Failures >= s.cfg.SMSAttempts:
			outcome = ErrTooManyAttempts
		case !now.Before(l.ExpiresAt):
			outcome = ErrExpired
		case !hmac.Equal(mac, l.Hash):
			l.Failures++
			outcome = ErrWrongCode
			if l.Failures >= s.cfg.SMSAttempts {
				outcome = ErrTooManyAttempts
			}
		default:
			a.Login = nil
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("permanente: verify login code: %w", err)
	}
	return outcome
}
