package mobile

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/clave-go/clave/internal/store"
)

// maxKeptDevices bounds the devices an account remembers: the active one and
// the most recent inactive ones, enough to tell "replaced" from "unknown" to a
// phone that was in a drawer, without letting activations grow an account
// forever.
const maxKeptDevices = 5

// ActivationMethod is how a device proved it belongs to the citizen when it
// was activated.
type ActivationMethod string

// The activation methods of the real Cl@ve Móvil.
const (
	// BySMS is a 6-digit code sent by SMS to the registered phone.
	BySMS ActivationMethod = "sms"
	// ByCertificate is an electronic certificate whose key signed a
	// challenge.
	ByCertificate ActivationMethod = "certificate"
	// ByDNIe is the DNIe read over NFC: its card access number (CAN) and
	// a signature by the card's key.
	ByDNIe ActivationMethod = "dnie"
)

// valid reports whether m is one of the known methods.
func (m ActivationMethod) valid() bool { return m == BySMS || m == ByCertificate || m == ByDNIe }

// DeviceStatus tells whether a device may sign, and if not, why.
type DeviceStatus string

// Device statuses. Only an active device's signatures are accepted.
const (
	// DeviceActive is the citizen's one device that may confirm.
	DeviceActive DeviceStatus = "active"
	// DeviceDeactivated was switched off by the citizen.
	DeviceDeactivated DeviceStatus = "deactivated"
	// DeviceReplaced lost its place when another device was activated.
	DeviceReplaced DeviceStatus = "replaced"
)

// Device is a phone activated for a citizen. The key pair is made on the
// phone at activation; the private half never leaves it and is released there
// only by the local unlock factor, so a signature proves both possession of
// the phone and the unlock.
//
// Keys are Ed25519 rather than ECDSA P-256: signing needs no per-signature
// randomness (a weak phone RNG cannot leak the key, as a repeated ECDSA nonce
// does), a key is 32 plain bytes with no encoding or curve choice to get
// wrong, and Go's verification is strict about non-canonical signatures. A
// phone whose hardware keystore only offers P-256 would need a second key
// type; the app of this module keeps its key in software, encrypted under the
// unlock passphrase.
type Device struct {
	// ID names the device in the app's calls; random and unguessable.
	ID string

	// Citizen is the normalised DNI or NIE the device was activated for.
	Citizen string

	// PublicKey verifies the device's signed confirmations.
	PublicKey ed25519.PublicKey

	// Method is how the device was activated.
	Method ActivationMethod

	// Status tells whether the device may sign.
	Status DeviceStatus

	// ActivatedAt is when the device was activated; DeactivatedAt when it
	// stopped being active, zero while it is.
	ActivatedAt, DeactivatedAt time.Time
}

// Active reports whether d's signatures are accepted.
func (d Device) Active() bool { return d.Status == DeviceActive }

// ActivationCode is an outstanding SMS activation code, without the code.
type ActivationCode struct {
	// Hash is an HMAC-SHA256 of the citizen and the code under the service
	// secret, so that a leaked database gives no code.
	Hash []byte

	// ExpiresAt is the first instant at which the code is no longer valid.
	ExpiresAt time.Time

	// Failures counts wrong codes typed; at Config.ActivationAttempts the
	// code is spent.
	Failures int
}

// Account is everything Cl@ve Móvil keeps about one citizen's devices. It is
// plain data with its rules as methods, so that every [Store] can stay a dumb,
// atomic container.
type Account struct {
	// Devices are the citizen's devices, oldest first; at most one is
	// active.
	Devices []Device

	// Activation is the outstanding SMS activation code, if any.
	Activation *ActivationCode
}

// Active returns the citizen's active device.
func (a *Account) Active() (Device, bool) {
	for _, d := range a.Devices {
		if d.Active() {
			return d, true
		}
	}
	return Device{}, false
}

// Activate adds d as the citizen's active device and marks any other active
// one [DeviceReplaced] at now: one active device per citizen, so that a lost
// phone stops confirming as soon as a new one is set up. Only the most
// recent devices are remembered.
func (a *Account) Activate(d Device, now time.Time) {
	for i := range a.Devices {
		if a.Devices[i].Active() {
			a.Devices[i].Status = DeviceReplaced
			a.Devices[i].DeactivatedAt = now
		}
	}
	d.Status = DeviceActive
	d.ActivatedAt = now
	d.DeactivatedAt = time.Time{}
	a.Devices = append(a.Devices, d)
	if extra := len(a.Devices) - maxKeptDevices; extra > 0 {
		a.Devices = slices.Clone(a.Devices[extra:])
	}
}

// Deactivate marks the device id [DeviceDeactivated] at now. It fails with
// [ErrNoDevice] if the account has no such device and [ErrDeviceInactive] if
// it is not active.
func (a *Account) Deactivate(id string, now time.Time) error {
	for i := range a.Devices {
		if a.Devices[i].ID != id {
			continue
		}
		if !a.Devices[i].Active() {
			return ErrDeviceInactive
		}
		a.Devices[i].Status = DeviceDeactivated
		a.Devices[i].DeactivatedAt = now
		return nil
	}
	return ErrNoDevice
}

// IssueActivationCode issues a 6-digit SMS activation code for citizen,
// superseding any outstanding one, for the gateway to send to the registered
// phone.
func (s *Service) IssueActivationCode(ctx context.Context, citizen string) (Code, error) {
	return s.issueActivation(ctx, citizen, false)
}

// IssueActivationDecoy is IssueActivationCode for a code that must never
// verify, for an unknown citizen or a wrong contrast datum, so that the answer
// (countdown, attempts) is the same as for a code that was sent. Its stored
// hash is random, so no typed code matches it.
func (s *Service) IssueActivationDecoy(ctx context.Context, citizen string) (Code, error) {
	return s.issueActivation(ctx, citizen, true)
}

func (s *Service) issueActivation(ctx context.Context, citizen string, decoy bool) (Code, error) {
	id, err := parseCitizen(citizen)
	if err != nil {
		return Code{}, err
	}
	value, err := s.digits(CodeLength)
	if err != nil {
		return Code{}, err
	}
	code := Code{Value: value, ExpiresAt: s.cfg.Now().Add(s.cfg.ActivationValidity)}
	hash := s.mac("activation", id, value)
	if decoy {
		if hash, err = decoyHash(); err != nil {
			return Code{}, err
		}
		code.Value = ""
	}
	err = s.st.UpdateAccount(ctx, id, func(a *Account) error {
		a.Activation = &ActivationCode{Hash: hash, ExpiresAt: code.ExpiresAt}
		return nil
	})
	if err != nil {
		return Code{}, fmt.Errorf("mobile: issue activation code: %w", err)
	}
	return code, nil
}

// ActivateWithCode activates the device whose public key is pub for citizen,
// if code is the outstanding SMS activation code, and deactivates the
// citizen's previous device. It returns the new device, or [ErrBadCitizen],
// [ErrBadKey], [ErrNoCode], [ErrExpired], [ErrWrongCode] or
// [ErrTooManyAttempts]. A wrong code counts against the code; the attempt
// that spends it returns ErrTooManyAttempts.
func (s *Service) ActivateWithCode(ctx context.Context, citizen, code string, pub ed25519.PublicKey) (Device, error) {
	id, err := parseCitizen(citizen)
	if err != nil {
		return Device{}, err
	}
	d, err := s.newDevice(id, BySMS, pub)
	if err != nil {
		return Device{}, err
	}
	mac := s.mac("activation", id, normaliseTyped(code))
	now := s.cfg.Now()
	var outcome error
	err = s.st.UpdateAccount(ctx, id, func(a *Account) error {
		outcome = s.checkActivation(a, mac, now)
		if outcome == nil {
			a.Activation = nil
			a.Activate(d, now)
		}
		return nil
	})
	if err != nil {
		return Device{}, fmt.Errorf("mobile: activate: %w", err)
	}
	if outcome != nil {
		return Device{}, outcome
	}
	d.Status, d.ActivatedAt = DeviceActive, now
	s.cfg.Signals.Publish(ctx, CitizenTopic(id))
	return d, nil
}

// checkActivation applies the activation-code rules to a; it runs inside
// Store.UpdateAccount.
func (s *Service) checkActivation(a *Account, mac []byte, now time.Time) error {
	c := a.Activation
	switch {
	case c == nil:
		return ErrNoCode
	case !now.Before(c.ExpiresAt):
		// Dropped: nothing to keep an expired code for.
		a.Activation = nil
		return ErrExpired
	case c.Failures >= s.cfg.ActivationAttempts:
		return ErrTooManyAttempts
	case !hmac.Equal(mac, c.Hash):
		c.Failures++
		if c.Failures >= s.cfg.ActivationAttempts {
			return ErrTooManyAttempts
		}
		return ErrWrongCode
	}
	return nil
}

// Activate activates the device whose public key is pub for citizen by a
// method whose proof the caller has checked: [ByCertificate] (the gateway
// verified the certificate's chain, that it names citizen, and its signature
// over a challenge) or [ByDNIe] (the CAN and the card's signature). The
// citizen's previous device is deactivated. It returns [ErrBadMethod] for
// [BySMS], which goes through ActivateWithCode.
func (s *Service) Activate(ctx context.Context, citizen string, m ActivationMethod, pub ed25519.PublicKey) (Device, error) {
	if !m.valid() || m == BySMS {
		return Device{}, ErrBadMethod
	}
	id, err := parseCitizen(citizen)
	if err != nil {
		return Device{}, err
	}
	d, err := s.newDevice(id, m, pub)
	if err != nil {
		return Device{}, err
	}
	now := s.cfg.Now()
	err = s.st.UpdateAccount(ctx, id, func(a *Account) error {
		a.Activate(d, now)
		return nil
	})
	if err != nil {
		return Device{}, fmt.Errorf("mobile: activate: %w", err)
	}
	d.Status, d.ActivatedAt = DeviceActive, now
	s.cfg.Signals.Publish(ctx, CitizenTopic(id)) // the old device's long-poll learns it is off
	return d, nil
}

// newDevice checks pub and draws a device ID.
func (s *Service) newDevice(citizen string, m ActivationMethod, pub ed25519.PublicKey) (Device, error) {
	if len(pub) != ed25519.PublicKeySize {
		return Device{}, ErrBadKey
	}
	b, err := s.random(tokenBytes)
	if err != nil {
		return Device{}, err
	}
	return Device{ID: token(b), Citizen: citizen, PublicKey: slices.Clone(pub), Method: m}, nil
}

// Deactivate switches off citizen's device id, as the citizen asks from the
// app; its signatures are refused from then on. It returns [ErrNoDevice] or
// [ErrDeviceInactive].
func (s *Service) Deactivate(ctx context.Context, citizen, id string) error {
	c, err := parseCitizen(citizen)
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	var outcome error
	err = s.st.UpdateAccount(ctx, c, func(a *Account) error {
		outcome = a.Deactivate(id, now)
		return outcome
	})
	if outcome != nil {
		return outcome
	}
	if err != nil {
		return fmt.Errorf("mobile: deactivate: %w", err)
	}
	s.cfg.Signals.Publish(ctx, CitizenTopic(c))
	return nil
}

// Device returns the device id, active or not, or [ErrNoDevice].
func (s *Service) Device(ctx context.Context, id string) (Device, error) {
	d, err := s.st.Device(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Device{}, ErrNoDevice
	}
	if err != nil {
		return Device{}, fmt.Errorf("mobile: device: %w", err)
	}
	return d, nil
}

// ActiveDevice returns citizen's active device, or [ErrNoDevice] when there
// is none.
func (s *Service) ActiveDevice(ctx context.Context, citizen string) (Device, error) {
	c, err := parseCitizen(citizen)
	if err != nil {
		return Device{}, err
	}
	a, err := s.st.Account(ctx, c)
	if errors.Is(err, store.ErrNotFound) {
		return Device{}, ErrNoDevice
	}
	if err != nil {
		return Device{}, fmt.Errorf("mobile: active device: %w", err)
	}
	d, ok := a.Active()
	if !ok {
		return Device{}, ErrNoDevice
	}
	return d, nil
}

// HasActiveDevice reports whether citizen has an active device, which then
// receives Cl@ve PINs in the app instead of by SMS (it serves pin.Devices).
func (s *Service) HasActiveDevice(ctx context.Context, citizen string) (bool, error) {
	_, err := s.ActiveDevice(ctx, citizen)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNoDevice), errors.Is(err, ErrBadCitizen):
		return false, nil
	}
	return false, err
}
