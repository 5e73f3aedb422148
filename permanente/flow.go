package permanente

import (
	"context"
	"crypto/hmac"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"
)

// StartActivation begins the activation of citizen's Cl@ve Permanente with
// the activation code they typed, in any case and with or without
// separators. If it is right, it returns a 6-digit SMS code, in clear this
// once, for the gateway to send to the registered phone; the citizen types
// it into [Service.VerifyActivationSMS].
//
// It returns [ErrWrongActivationCode] for a wrong or malformed code and for
// a citizen without Cl@ve Permanente alike. A wrong, well-formed code counts
// against the activation code, and the entry beyond Config.ActivationFailures
// blocks it: that one and all later return [ErrActivationBlocked], until
// [Service.RegenerateActivationCode]. A right code resets the count. It
// returns [ErrAlreadyActivated] if the citizen has a password.
//
// Starting again replaces a flow in progress, with a new SMS code.
func (s *Service) StartActivation(ctx context.Context, citizen, activationCode string) (Code, error) {
	return s.start(ctx, PurposeActivation, citizen, activationCode)
}

// VerifyActivationSMS checks the SMS code of citizen's activation. If it is
// right it returns a ticket, a random single-use secret valid for
// Config.TicketValidity, that [Service.CompleteActivation] takes with the
// new password; the page keeps it in the form.
//
// It returns [ErrNoCode] when no activation waits for an SMS code,
// [ErrExpired] for a code past its validity, [ErrWrongCode] while attempts
// remain and [ErrRestart] on the wrong entry that spends the code. Expiry
// and ErrRestart drop the activation: it starts again with
// [Service.StartActivation], and the activation code is not counted
// against.
func (s *Service) VerifyActivationSMS(ctx context.Context, citizen, sms string) (string, error) {
	return s.verifySMS(ctx, PurposeActivation, citizen, sms)
}

// CompleteActivation sets citizen's first password, if ticket is the one
// [Service.VerifyActivationSMS] returned. The password must pass
// [CheckPassword] for p (whose ID the Service sets to citizen): if not, the
// error joins a [*PolicyError] per broken rule and the ticket stays valid,
// so the form can be corrected and sent again. It returns [ErrBadTicket] for
// a missing, wrong, used or expired ticket.
func (s *Service) CompleteActivation(ctx context.Context, citizen, ticket, password string, p Profile) error {
	return s.complete(ctx, PurposeActivation, citizen, ticket, password, p)
}

// StartReset begins the forgotten-password flow for citizen, with the
// activation code they kept. It behaves as [Service.StartActivation] (the
// same count and block of the activation code) but returns
// [ErrNotActivated] for a citizen who has no password yet.
func (s *Service) StartReset(ctx context.Context, citizen, activationCode string) (Code, error) {
	return s.start(ctx, PurposeReset, citizen, activationCode)
}

// VerifyResetSMS is [Service.VerifyActivationSMS] for the forgotten-password
// flow: it returns the ticket [Service.CompleteReset] takes.
func (s *Service) VerifyResetSMS(ctx context.Context, citizen, sms string) (string, error) {
	return s.verifySMS(ctx, PurposeReset, citizen, sms)
}

// CompleteReset replaces citizen's password, if ticket is the one
// [Service.VerifyResetSMS] returned, and unblocks it. Besides
// [CheckPassword], the new password may be neither the current one nor the
// one before it ([RuleReused]). Errors are those of
// [Service.CompleteActivation], and [ErrConflict] if the password changed
// meanwhile.
func (s *Service) CompleteReset(ctx context.Context, citizen, ticket, password string, p Profile) error {
	return s.complete(ctx, PurposeReset, citizen, ticket, password, p)
}

// CompleteChange replaces citizen's expired password, if ticket is the
// Result.ChangeTicket that [Service.Login] returned with
// [ErrPasswordExpired]. The new password is checked as by
// [Service.CompleteReset] (the policy, and neither the current password nor
// the one before it), and errors are the same.
func (s *Service) CompleteChange(ctx context.Context, citizen, ticket, password string, p Profile) error {
	return s.complete(ctx, PurposeChange, citizen, ticket, password, p)
}

func (s *Service) start(ctx context.Context, purpose Purpose, citizen, typed string) (Code, error) {
	id, err := parseCitizen(citizen)
	if err != nil {
		return Code{}, err
	}
	normalised, wellFormed := normaliseActivationCode(typed)
	mac := s.mac(labelActivation, id, normalised)
	value, err := s.digits()
	if err != nil {
		return Code{}, err
	}
	now := s.cfg.Now()
	code := Code{Value: value, ExpiresAt: now.Add(s.cfg.SMSValidity)}
	var outcome error
	err = s.st.UpdateAccount(ctx, id, func(a *Account) error {
		outcome = s.checkActivationCode(a, mac, wellFormed)
		if outcome != nil {
			return nil // keeps the count
		}
		switch {
		case purpose == PurposeActivation && a.Activated():
			outcome = ErrAlreadyActivated
			return nil
		case purpose == PurposeReset && !a.Activated():
			outcome = ErrNotActivated
			return nil
		}
		a.Flow = &Flow{Purpose: purpose, Step: StepSMS, Hash: s.mac(labelSMS, id, string(purpose), value),
			ExpiresAt: code.ExpiresAt}
		return nil
	})
	if err != nil {
		return Code{}, fmt.Errorf("permanente: start %s: %w", purpose, err)
	}
	if outcome != nil {
		return Code{}, outcome
	}
	return code, nil
}

// checkActivationCode applies the activation-code rules to a; it runs inside
// Store.UpdateAccount. A malformed entry is not counted: it cannot be a
// guess at the code.
func (s *Service) checkActivationCode(a *Account, mac []byte, wellFormed bool) error {
	c := a.Activation
	switch {
	case c == nil:
		return ErrWrongActivationCode
	case s.activationBlocked(c):
		return ErrActivationBlocked
	case !wellFormed:
		return ErrWrongActivationCode
	case !hmac.Equal(mac, c.Hash):
		c.Failures++
		if s.activationBlocked(c) {
			return ErrActivationBlocked
		}
		return ErrWrongActivationCode
	}
	c.Failures = 0
	return nil
}

func (s *Service) verifySMS(ctx context.Context, purpose Purpose, citizen, typed string) (string, error) {
	id, err := parseCitizen(citizen)
	if err != nil {
		return "", err
	}
	mac := s.mac(labelSMS, id, string(purpose), normaliseTyped(typed))
	ticket, err := s.ticket()
	if err != nil {
		return "", err
	}
	now := s.cfg.Now()
	var outcome error
	err = s.st.UpdateAccount(ctx, id, func(a *Account) error {
		f := a.Flow
		switch {
		case f == nil || f.Purpose != purpose || f.Step != StepSMS:
			outcome = ErrNoCode
		case !now.Before(f.ExpiresAt):
			a.Flow = nil
			outcome = ErrExpired
		case !hmac.Equal(mac, f.Hash):
			f.Failures++
			outcome = ErrWrongCode
			if f.Failures >= s.cfg.SMSAttempts {
				a.Flow = nil
				outcome = ErrRestart
			}
		default:
			a.Flow = &Flow{Purpose: purpose, Step: StepPassword, Hash: s.mac(labelTicket, id, string(purpose), ticket),
				ExpiresAt: now.Add(s.cfg.TicketValidity)}
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("permanente: verify %s code: %w", purpose, err)
	}
	if outcome != nil {
		return "", outcome
	}
	return ticket, nil
}

// ticketValid reports whether f waits for the password of purpose with the
// ticket whose HMAC is mac, at now.
func ticketValid(f *Flow, purpose Purpose, mac []byte, now time.Time) bool {
	return f != nil && f.Purpose == purpose && f.Step == StepPassword && now.Before(f.ExpiresAt) &&
		hmac.Equal(mac, f.Hash)
}

func (s *Service) complete(ctx context.Context, purpose Purpose, citizen, ticket, password string, p Profile) error {
	id, err := parseCitizen(citizen)
	if err != nil {
		return err
	}
	if len(ticket) > maxTypedLen {
		return ErrBadTicket
	}
	mac := s.mac(labelTicket, id, string(purpose), ticket)
	a, err := s.st.Account(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return ErrBadTicket
	}
	if err != nil {
		return fmt.Errorf("permanente: complete %s: %w", purpose, err)
	}
	if !ticketValid(a.Flow, purpose, mac, s.cfg.Now()) {
		return ErrBadTicket
	}
	var old Password
	if purpose != PurposeActivation {
		if a.Password == nil {
			return ErrBadTicket
		}
		old = *a.Password
	}
	if err := s.checkNew(password, id, p, old, ""); err != nil {
		return err
	}
	hash, err := s.hashPassword(password)
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	var outcome error
	err = s.st.UpdateAccount(ctx, id, func(a *Account) error {
		switch {
		case !ticketValid(a.Flow, purpose, mac, now):
			outcome = ErrBadTicket
		case purpose != PurposeActivation && (a.Password == nil || a.Password.Hash != old.Hash):
			outcome = fmt.Errorf("permanente: password changed during the %s: %w", purpose, ErrConflict)
		case purpose == PurposeActivation && a.Password != nil:
			outcome = ErrBadTicket
		}
		if outcome != nil {
			return outcome
		}
		a.Password = &Password{Hash: hash, SetAt: now, Previous: old.Hash}
		a.Flow = nil
		return nil
	})
	if outcome != nil {
		return outcome
	}
	if err != nil {
		return fmt.Errorf("permanente: complete %s: %w", purpose, err)
	}
	return nil
}

// checkNew checks a new password for citizen id: the policy, then, if it
// passes, that it is neither old's password nor the one before. current is
// the old password in clear when the caller has it (a change), which spares
// hashing it; otherwise old.Hash is verified (a reset). A zero old is a first
// password.
func (s *Service) checkNew(pw, id string, p Profile, old Password, current string) error {
	p.ID = id
	if err := CheckPassword(pw, p); err != nil {
		return err
	}
	reused := false
	switch {
	case current != "":
		reused = subtle.ConstantTimeCompare([]byte(pw), []byte(current)) == 1
	case old.Hash != "":
		ok, _, err := s.verifyPassword(pw, old.Hash)
		if err != nil {
			return err
		}
		reused = ok
	}
	if !reused && old.Previous != "" {
		ok, _, err := s.verifyPassword(pw, old.Previous)
		if err != nil {
			return err
		}
		reused = ok
	}
	if reused {
		return policyErrors([]Rule{RuleReused})
	}
	return nil
}

// RecoverPassword sets citizen's password without the activation-code and
// SMS flow, for a caller that identified the citizen otherwise: the Cl@ve
// app, whose signed call proves the device and its unlock factor. The new
// password is checked as by [Service.CompleteReset] (the policy, and neither
// the current password nor the one before it); like a reset, it unblocks
// the password and drops any flow in progress. It returns [ErrBadCitizen],
// [ErrNotRegistered] or [ErrNotActivated] when there is no password to
// recover, joined *PolicyError values, or ErrConflict when the password
// changed meanwhile. The activation code is left as it is.
func (s *Service) RecoverPassword(ctx context.Context, citizen, password string, p Profile) error {
	id, err := parseCitizen(citizen)
	if err != nil {
		return err
	}
	a, err := s.st.Account(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return ErrNotRegistered
	case err != nil:
		return fmt.Errorf("permanente: recover password: %w", err)
	case !a.Registered():
		return ErrNotRegistered
	case a.Password == nil:
		return ErrNotActivated
	}
	return s.replacePassword(ctx, id, *a.Password, "", password, p, true)
}
