package mobile

import (
	"context"
	"crypto/hmac"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/clave-go/clave/internal/store"
)

// maxRequesterLen bounds the requesting body's name kept with a request.
const maxRequesterLen = 256

// Kind tells how a login request reached the phone.
type Kind string

// The two ways of logging in with Cl@ve Móvil.
const (
	// KindQR is a login whose page shows a QR code the app scans; the
	// citizen is unknown until then.
	KindQR Kind = "qr"
	// KindPush is a login without QR: the citizen typed their DNI or NIE
	// and contrast datum, and the request is pushed to their device.
	KindPush Kind = "push"
)

func (k Kind) valid() bool { return k == KindQR || k == KindPush }

// State is where a login request stands.
type State string

// Request states. Pending is the only one that changes; the others are final.
const (
	StatePending   State = "pending"
	StateConfirmed State = "confirmed"
	StateDeclined  State = "declined"
	StateExpired   State = "expired"
)

func (s State) final() bool { return s == StateConfirmed || s == StateDeclined || s == StateExpired }

// SMSPIN is the outstanding SMS login PIN of a push request, without the PIN.
type SMSPIN struct {
	// Hash is an HMAC-SHA256 of the request ID and the PIN under the
	// service secret.
	Hash []byte

	// IssuedAt is when it was sent; ExpiresAt the first instant at which it
	// no longer verifies.
	IssuedAt, ExpiresAt time.Time

	// Used records that it logged the citizen in.
	Used bool
}

// Request is a login waiting for the citizen's phone. It is plain data with
// its state machine as methods, so that every [Store] can stay a dumb, atomic
// container.
type Request struct {
	// ID names the request in the app's calls and the QR payload; random
	// and unguessable.
	ID string

	// LoginID is the gateway login the request belongs to.
	LoginID string

	// Citizen is the normalised DNI or NIE, empty for a QR request until a
	// device scans it.
	Citizen string

	// Requester is the requesting body's name, shown on the page and in
	// the app.
	Requester string

	// Kind is QR or push.
	Kind Kind

	// Decoy marks a request made for an unknown citizen or a wrong
	// contrast datum, so that the page looks the same: no device can see
	// or confirm it and its SMS PIN never verifies.
	Decoy bool

	// Nonce is the one-time secret of the QR payload and of every
	// confirmation; random and unguessable.
	Nonce string

	// Secret is the per-request input of [VerificationCode].
	Secret []byte

	// CreatedAt is when the request was made (the push, for KindPush);
	// ExpiresAt the first instant at which it can no longer be decided.
	CreatedAt, ExpiresAt time.Time

	// State is the stored state; see [Request.StateAt] for the state at a
	// given time.
	State State

	// DecidedAt is when the request reached a final state.
	DecidedAt time.Time

	// DeviceID is the device that scanned or decided the request; empty
	// when confirmed by SMS PIN.
	DeviceID string

	// PIN is the outstanding SMS login PIN, if one was sent.
	PIN *SMSPIN

	// PINFailures counts wrong SMS PINs across resends; PINSends the PINs
	// sent.
	PINFailures, PINSends int
}

// VerificationCode returns the 3-digit code of r, as [VerificationCode].
func (r *Request) VerificationCode() string { return VerificationCode(r.Secret, r.ID) }

// StateAt returns r's state at now: a pending request past its expiry is
// expired even before anyone stores it so.
func (r *Request) StateAt(now time.Time) State {
	if r.State == StatePending && !now.Before(r.ExpiresAt) {
		return StateExpired
	}
	return r.State
}

// Confirmation returns the confirmation of r with decision d signed at at, as
// the app builds it.
func (r *Request) Confirmation(d Decision, at time.Time) Confirmation {
	return Confirmation{LoginID: r.LoginID, RequestID: r.ID, Nonce: r.Nonce, Decision: d, At: at}
}

// HistoryEntry returns r's entry in the citizen's history, and false while r
// is pending or has no citizen to show it to (a QR nobody scanned, a decoy).
// Stores save it with the request that reaches a final state.
func (r *Request) HistoryEntry() (Entry, bool) {
	if !r.State.final() || r.Citizen == "" || r.Decoy {
		return Entry{}, false
	}
	return Entry{RequestID: r.ID, Citizen: r.Citizen, At: r.CreatedAt, Requester: r.Requester, Kind: r.Kind, Outcome: r.State}, true
}

// Expire marks r expired if it is pending past its expiry, and reports
// whether it did.
func (r *Request) Expire(now time.Time) bool {
	if r.State != StatePending || now.Before(r.ExpiresAt) {
		return false
	}
	r.State = StateExpired
	r.DecidedAt = r.ExpiresAt
	return true
}

// open checks that r can still be decided at now, expiring it if not.
func (r *Request) open(now time.Time) error {
	if r.Expire(now) || r.State == StateExpired {
		return ErrExpired
	}
	if r.State != StatePending {
		return ErrAlreadyDecided
	}
	return nil
}

// Claim binds r to the citizen of dev, which scanned r's QR code showing
// nonce. The QR nonce is one-time in that only one citizen can claim it:
// another gets [ErrClaimed], while the same citizen may fetch the request
// again. A wrong nonce or a decoy gives [ErrNoRequest]; dev must be active.
// On [ErrExpired] r is marked expired.
func (r *Request) Claim(dev Device, nonce string, now time.Time) error {
	if r.Decoy || subtle.ConstantTimeCompare([]byte(nonce), []byte(r.Nonce)) != 1 {
		return ErrNoRequest
	}
	if !dev.Active() {
		return ErrDeviceInactive
	}
	if err := r.open(now); err != nil {
		return err
	}
	switch {
	case r.Citizen == "":
		r.Citizen = dev.Citizen
	case r.Citizen != dev.Citizen:
		if r.Kind == KindPush {
			return ErrWrongDevice
		}
		return ErrClaimed
	}
	r.DeviceID = dev.ID
	return nil
}

// Decide applies c, a confirmation whose signature by dev was verified
// ([VerifyConfirmation]), to r at now. It refuses, in this order: a decoy
// ([ErrNoRequest]); a confirmation for another login, request or nonce
// ([ErrMismatch]); one signed more than skew away from now ([ErrStale]); a
// device no longer active ([ErrDeviceInactive]); a QR request nobody scanned
// ([ErrNotClaimed]); a device of another citizen ([ErrWrongDevice]); a
// request already decided ([ErrAlreadyDecided]), so that a replayed or second
// confirmation changes nothing; and an expired one ([ErrExpired], marking r
// expired). dev must be the device as stored now, so that its status is
// current: one active device per citizen makes "active and the citizen's" the
// same as "the citizen's active device".
func (r *Request) Decide(c Confirmation, dev Device, now time.Time, skew time.Duration) error {
	if r.Decoy {
		return ErrNoRequest
	}
	if c.LoginID != r.LoginID || c.RequestID != r.ID || subtle.ConstantTimeCompare([]byte(c.Nonce), []byte(r.Nonce)) != 1 {
		return ErrMismatch
	}
	if !fresh(c.At, now, skew) {
		return ErrStale
	}
	if !dev.Active() {
		return ErrDeviceInactive
	}
	if r.Citizen == "" {
		return ErrNotClaimed
	}
	if dev.Citizen != r.Citizen {
		return ErrWrongDevice
	}
	if err := r.open(now); err != nil {
		return err
	}
	switch c.Decision {
	case Confirm:
		r.State = StateConfirmed
	case Decline:
		r.State = StateDeclined
	default:
		return ErrBadPayload
	}
	r.DecidedAt = now
	r.DeviceID = dev.ID
	return nil
}

// RequestSpec describes a login request to make with [Service.NewRequest].
type RequestSpec struct {
	// LoginID is the gateway login (method.Login.ID): letters, digits,
	// '-', '_' or '.', up to 128.
	LoginID string

	// Requester is the requesting body's name (method.Login.Requester).
	Requester string

	// Kind is QR or push.
	Kind Kind

	// Citizen is the DNI or NIE, required for KindPush. For KindQR it is
	// usually empty; if set, only that citizen can scan the request.
	Citizen string

	// Decoy makes a request that nobody can confirm (see Request.Decoy).
	Decoy bool
}

// NewRequest makes and stores a pending login request with a fresh ID, QR
// nonce and verification-code secret, valid for Config.RequestValidity. For
// KindPush, CreatedAt is the push: deliver it at once.
func (s *Service) NewRequest(ctx context.Context, spec RequestSpec) (Request, error) {
	if !spec.Kind.valid() {
		return Request{}, ErrWrongKind
	}
	if !validField(spec.LoginID) || len(spec.Requester) > maxRequesterLen {
		return Request{}, errors.New("mobile: invalid login ID or requester")
	}
	citizen := ""
	if spec.Citizen != "" {
		var err error
		if citizen, err = parseCitizen(spec.Citizen); err != nil {
			return Request{}, err
		}
	} else if spec.Kind == KindPush {
		return Request{}, ErrWrongKind
	}
	b, err := s.random(2*tokenBytes + secretBytes)
	if err != nil {
		return Request{}, err
	}
	now := s.cfg.Now()
	r := Request{
		ID:        token(b[:tokenBytes]),
		LoginID:   spec.LoginID,
		Citizen:   citizen,
		Requester: spec.Requester,
		Kind:      spec.Kind,
		Decoy:     spec.Decoy,
		Nonce:     token(b[tokenBytes : 2*tokenBytes]),
		Secret:    b[2*tokenBytes:],
		CreatedAt: now,
		ExpiresAt: now.Add(s.cfg.RequestValidity),
		State:     StatePending,
	}
	if err := s.st.CreateRequest(ctx, r); err != nil {
		return Request{}, fmt.Errorf("mobile: new request: %w", err)
	}
	if r.Citizen != "" && !r.Decoy {
		s.cfg.Signals.Publish(ctx, CitizenTopic(r.Citizen))
	}
	return r, nil
}

// Request returns the request id, or [ErrNoRequest].
func (s *Service) Request(ctx context.Context, id string) (Request, error) {
	r, err := s.st.Request(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Request{}, ErrNoRequest
	}
	if err != nil {
		return Request{}, fmt.Errorf("mobile: request: %w", err)
	}
	return r, nil
}

// PendingRequests returns the requests the active device deviceID can answer
// now: its citizen's pending, unexpired requests, decoys left out.
func (s *Service) PendingRequests(ctx context.Context, deviceID string) ([]Request, error) {
	dev, err := s.Device(ctx, deviceID)
	if err != nil {
		return nil, err
	}
	if !dev.Active() {
		return nil, ErrDeviceInactive
	}
	all, err := s.st.PendingRequests(ctx, dev.Citizen)
	if err != nil {
		return nil, fmt.Errorf("mobile: pending requests: %w", err)
	}
	now := s.cfg.Now()
	var out []Request
	for _, r := range all {
		if !r.Decoy && r.StateAt(now) == StatePending {
			out = append(out, r)
		}
	}
	return out, nil
}

// Claim binds the QR request id to the citizen of device deviceID, which
// scanned a QR code showing nonce, and returns the request for the app to
// show (requester, verification code). See [Request.Claim].
func (s *Service) Claim(ctx context.Context, id, nonce, deviceID string) (Request, error) {
	dev, err := s.Device(ctx, deviceID)
	if err != nil {
		return Request{}, err
	}
	return s.update(ctx, id, func(r *Request, now time.Time) error { return r.Claim(dev, nonce, now) })
}

// Decide applies a confirmation that device deviceID signed (payload and
// sig, as made by [SignConfirmation]) and returns the decided request. It
// fails with the errors of [VerifyConfirmation] and [Request.Decide], or
// [ErrNoDevice] and [ErrNoRequest]. A decided request is recorded in the
// citizen's history by the store, atomically.
//
// The device is read before the request is updated: a confirmation racing
// with the activation of another device may be accepted, as it would have
// been a moment earlier.
func (s *Service) Decide(ctx context.Context, deviceID string, payload, sig []byte) (Request, error) {
	dev, err := s.Device(ctx, deviceID)
	if err != nil {
		return Request{}, err
	}
	c, err := VerifyConfirmation(dev.PublicKey, payload, sig)
	if err != nil {
		return Request{}, err
	}
	return s.update(ctx, c.RequestID, func(r *Request, now time.Time) error {
		return r.Decide(c, dev, now, s.cfg.Skew)
	})
}

// update runs a state-machine step on request id. A refused step changes
// nothing, except expiry, which is saved (with its history entry).
func (s *Service) update(ctx context.Context, id string, step func(*Request, time.Time) error) (Request, error) {
	now := s.cfg.Now()
	var (
		outcome error
		out     Request
	)
	err := s.st.UpdateRequest(ctx, id, func(r *Request) error {
		outcome = step(r, now)
		out = *r
		if outcome != nil && !errors.Is(outcome, ErrExpired) {
			return outcome
		}
		return nil
	})
	switch {
	case outcome != nil:
		if errors.Is(outcome, ErrExpired) && err == nil {
			s.cfg.Signals.Publish(ctx, RequestTopic(id))
		}
		return Request{}, outcome
	case errors.Is(err, store.ErrNotFound):
		return Request{}, ErrNoRequest
	case err != nil:
		return Request{}, fmt.Errorf("mobile: update request: %w", err)
	}
	s.cfg.Signals.Publish(ctx, RequestTopic(id))
	return out, nil
}

// Expire records request id as expired if it is pending past its expiry,
// with its history entry, as Prune would: a page that finds its request
// expired ends it at once rather than waiting for the next Prune.
func (s *Service) Expire(ctx context.Context, id string) error {
	return s.end(ctx, id, func(r *Request, now time.Time) bool { return r.Expire(now) })
}

// Withdraw ends request id now if it is still pending, recording it as
// expired: its login moved on (to a new QR code, another push), so the
// phone must no longer be able to answer it.
func (s *Service) Withdraw(ctx context.Context, id string) error {
	return s.end(ctx, id, func(r *Request, now time.Time) bool {
		if r.State != StatePending || !now.Before(r.ExpiresAt) {
			return r.Expire(now)
		}
		r.ExpiresAt = now
		return r.Expire(now)
	})
}

// end applies a final step to request id, publishing the change; an
// unknown request or one the step leaves alone is no error.
func (s *Service) end(ctx context.Context, id string, step func(*Request, time.Time) bool) error {
	now := s.cfg.Now()
	err := s.st.UpdateRequest(ctx, id, func(r *Request) error {
		if !step(r, now) {
			return errUnchanged
		}
		return nil
	})
	switch {
	case err == nil:
		s.cfg.Signals.Publish(ctx, RequestTopic(id))
		return nil
	case errors.Is(err, errUnchanged), errors.Is(err, store.ErrNotFound):
		return nil
	}
	return fmt.Errorf("mobile: end request: %w", err)
}

// PINAvailableAt is when the SMS PIN of a push request r may be sent, for the
// page's countdown.
func (s *Service) PINAvailableAt(r *Request) time.Time { return r.CreatedAt.Add(s.cfg.PINDelay) }

// IssueSMSPIN issues the SMS login PIN of push request id, superseding any
// earlier one, for the gateway to send to the registered phone. It is
// refused before Config.PINDelay after the push ([ErrTooEarly]), for a QR
// request ([ErrWrongKind]), past the send limit ([ErrSendLimit]) or the
// attempts ([ErrTooManyAttempts]), and for a decided or expired request. The
// request is extended to the PIN's expiry. A decoy request gets a code with
// no Value, that never verifies.
func (s *Service) IssueSMSPIN(ctx context.Context, id string) (Code, error) {
	value, err := s.digits(CodeLength)
	if err != nil {
		return Code{}, err
	}
	hash := s.mac("pin", id, value)
	decoy, err := decoyHash()
	if err != nil {
		return Code{}, err
	}
	var code Code
	_, err = s.update(ctx, id, func(r *Request, now time.Time) error {
		if r.Kind != KindPush {
			return ErrWrongKind
		}
		if err := r.open(now); err != nil {
			return err
		}
		switch {
		case now.Before(s.PINAvailableAt(r)):
			return ErrTooEarly
		case r.PINFailures >= s.cfg.PINAttempts:
			return ErrTooManyAttempts
		case r.PINSends >= s.cfg.PINSends:
			return ErrSendLimit
		}
		code = Code{Value: value, ExpiresAt: now.Add(s.cfg.PINValidity)}
		r.PIN = &SMSPIN{Hash: hash, IssuedAt: now, ExpiresAt: code.ExpiresAt}
		if r.Decoy {
			r.PIN.Hash, code.Value = decoy, ""
		}
		r.PINSends++
		if code.ExpiresAt.After(r.ExpiresAt) {
			r.ExpiresAt = code.ExpiresAt
		}
		return nil
	})
	if err != nil {
		return Code{}, err
	}
	return code, nil
}

// VerifySMSPIN checks the PIN typed in the "Login PIN" field for request id
// and, if it matches, confirms the request. It returns nil, or
// [ErrNoRequest], [ErrNoCode], [ErrUsed], [ErrAlreadyDecided], [ErrExpired],
// [ErrWrongCode] or [ErrTooManyAttempts]; a wrong PIN counts, and the one
// that reaches Config.PINAttempts returns ErrTooManyAttempts.
func (s *Service) VerifySMSPIN(ctx context.Context, id, typed string) error {
	mac := s.mac("pin", id, normaliseTyped(typed))
	var outcome error
	err := s.st.UpdateRequest(ctx, id, func(r *Request) error {
		outcome = s.verifyPIN(r, mac, s.cfg.Now())
		return nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return ErrNoRequest
	case err != nil:
		return fmt.Errorf("mobile: verify SMS PIN: %w", err)
	}
	if outcome == nil {
		s.cfg.Signals.Publish(ctx, RequestTopic(id))
	}
	return outcome
}

// verifyPIN applies the SMS PIN rules to r; it runs inside
// Store.UpdateRequest.
func (s *Service) verifyPIN(r *Request, mac []byte, now time.Time) error {
	p := r.PIN
	if p == nil {
		return ErrNoCode
	}
	if p.Used {
		return ErrUsed
	}
	if err := r.open(now); err != nil {
		return err
	}
	if !now.Before(p.ExpiresAt) {
		return ErrExpired
	}
	if r.PINFailures >= s.cfg.PINAttempts {
		return ErrTooManyAttempts
	}
	if !hmac.Equal(mac, p.Hash) {
		r.PINFailures++
		if r.PINFailures >= s.cfg.PINAttempts {
			return ErrTooManyAttempts
		}
		return ErrWrongCode
	}
	p.Used = true
	r.State = StateConfirmed
	r.DecidedAt = now
	r.DeviceID = ""
	return nil
}

// CheckFresh guards a signed call of the app: at, the time it was signed,
// must be within Config.Skew of now ([ErrStale]), and nonce, the call's
// unique value, never seen before ([ErrReplay]). The nonce is remembered
// until at+Skew, after which the time check alone refuses the call.
func (s *Service) CheckFresh(ctx context.Context, nonce string, at time.Time) error {
	if !validField(nonce) {
		return ErrBadPayload
	}
	if !fresh(at, s.cfg.Now(), s.cfg.Skew) {
		return ErrStale
	}
	err := s.st.UseNonce(ctx, nonce, at.Add(s.cfg.Skew))
	if errors.Is(err, store.ErrConflict) {
		return ErrReplay
	}
	if err != nil {
		return fmt.Errorf("mobile: check nonce: %w", err)
	}
	return nil
}

// pruneBatch is how many expired requests Prune handles per store call.
const pruneBatch = 100

// Prune expires the pending requests past their expiry (recording them in
// the history), deletes decided and expired requests Config.Keep after their
// expiry, and forgets nonces no longer needed. Run it every minute or so; it
// is safe to run concurrently with everything else.
func (s *Service) Prune(ctx context.Context) error {
	now := s.cfg.Now()
	for {
		list, err := s.st.ExpiredRequests(ctx, now, pruneBatch)
		if err != nil {
			return fmt.Errorf("mobile: prune: %w", err)
		}
		expired := 0
		for _, r := range list {
			err := s.st.UpdateRequest(ctx, r.ID, func(r *Request) error {
				if !r.Expire(now) {
					return errUnchanged
				}
				return nil
			})
			switch {
			case err == nil:
				expired++
				s.cfg.Signals.Publish(ctx, RequestTopic(r.ID))
			case errors.Is(err, errUnchanged), errors.Is(err, store.ErrNotFound):
			default:
				return fmt.Errorf("mobile: prune: %w", err)
			}
		}
		if len(list) < pruneBatch || expired == 0 {
			break
		}
	}
	if _, err := s.st.DeleteRequests(ctx, now.Add(-s.cfg.Keep)); err != nil {
		return fmt.Errorf("mobile: prune: %w", err)
	}
	if _, err := s.st.PruneNonces(ctx, now); err != nil {
		return fmt.Errorf("mobile: prune: %w", err)
	}
	return nil
}

// errUnchanged aborts an update that has nothing to save.
var errUnchanged = errors.New("mobile: unchanged")
