package mobile

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Defaults for the zero fields of [Config]. The request lifetime, the 60
// seconds before the SMS fallback and the 6-digit codes are those of the real
// Cl@ve Móvil; the rest are ours (DESIGN.md §3, [default]).
const (
	defaultRequestValidity    = 5 * time.Minute
	defaultSkew               = 2 * time.Minute
	defaultActivationValidity = 10 * time.Minute
	defaultActivationAttempts = 3
	defaultPINValidity        = 10 * time.Minute
	defaultPINDelay           = 60 * time.Second
	defaultPINAttempts        = 3
	defaultPINSends           = 3
	defaultKeep               = 10 * time.Minute

	// minSecretLen is the shortest secret accepted, 256 bits as the HMAC.
	minSecretLen = 32

	// hmacInfo binds the derived key to this use, so that a secret shared
	// with another component (pin, say) never yields the same key.
	hmacInfo = "clave mobile v1 hmac"
)

// Errors returned by this package; match them with [errors.Is]. None of them
// carries a citizen identifier, a code or a key.
var (
	// ErrBadCitizen reports an identifier that is not a valid DNI or NIE.
	ErrBadCitizen = errors.New("mobile: invalid citizen identifier")

	// ErrNoCode reports that no activation code or SMS PIN is outstanding.
	ErrNoCode = errors.New("mobile: no code outstanding")

	// ErrExpired reports a code, PIN or request used after its validity.
	ErrExpired = errors.New("mobile: expired")

	// ErrWrongCode reports an activation code or SMS PIN that does not
	// match; attempts remain.
	ErrWrongCode = errors.New("mobile: wrong code")

	// ErrTooManyAttempts reports a code or PIN spent by failed attempts,
	// returned by the attempt that spent it and every later one.
	ErrTooManyAttempts = errors.New("mobile: too many failed attempts")

	// ErrUsed reports an SMS PIN that already logged the citizen in.
	ErrUsed = errors.New("mobile: already used")

	// ErrSendLimit reports a request for which the SMS PIN was already sent
	// as often as allowed: it stops anyone flooding a citizen with SMS.
	ErrSendLimit = errors.New("mobile: SMS PIN sent too often")

	// ErrTooEarly reports an SMS PIN asked for before the delay after the
	// push: the citizen is given time to use the app first.
	ErrTooEarly = errors.New("mobile: SMS PIN not available yet")

	// ErrWrongKind reports an operation the request's kind does not offer
	// (the SMS fallback of a QR login, a push request without citizen).
	ErrWrongKind = errors.New("mobile: not available for this kind of request")

	// ErrBadKey reports a public key that is not an Ed25519 key.
	ErrBadKey = errors.New("mobile: invalid device public key")

	// ErrBadMethod reports an unknown activation method, or the SMS
	// method outside [Service.ActivateWithCode].
	ErrBadMethod = errors.New("mobile: invalid activation method")

	// ErrNoDevice reports an unknown device, or a citizen without an
	// active device.
	ErrNoDevice = errors.New("mobile: no such device")

	// ErrDeviceInactive reports a device that was deactivated or replaced
	// by another: its signatures are refused.
	ErrDeviceInactive = errors.New("mobile: device not active")

	// ErrWrongDevice reports a device that is not the active device of the
	// request's citizen.
	ErrWrongDevice = errors.New("mobile: request belongs to another citizen")

	// ErrBadSignature reports a confirmation whose signature does not
	// verify under the device's key.
	ErrBadSignature = errors.New("mobile: bad signature")

	// ErrBadPayload reports a signed payload that is not a canonical
	// confirmation.
	ErrBadPayload = errors.New("mobile: malformed confirmation")

	// ErrMismatch reports a confirmation signed for another login, request
	// or nonce.
	ErrMismatch = errors.New("mobile: confirmation is for another request")

	// ErrStale reports a signed timestamp outside the allowed skew.
	ErrStale = errors.New("mobile: timestamp outside the allowed skew")

	// ErrReplay reports a nonce that was already used.
	ErrReplay = errors.New("mobile: replayed")

	// ErrNoRequest reports an unknown request, a wrong QR nonce or a decoy:
	// one error, so that the answer does not help guess nonces.
	ErrNoRequest = errors.New("mobile: no such request")

	// ErrNotClaimed reports a confirmation of a QR request that no device
	// has scanned yet.
	ErrNotClaimed = errors.New("mobile: request not scanned yet")

	// ErrClaimed reports a QR request already scanned by another citizen.
	ErrClaimed = errors.New("mobile: request already scanned by another citizen")

	// ErrAlreadyDecided reports a request already confirmed or declined:
	// a second confirmation is refused.
	ErrAlreadyDecided = errors.New("mobile: request already decided")

	// ErrBadQuery reports a history query with an unknown filter value or
	// a negative limit or offset.
	ErrBadQuery = errors.New("mobile: invalid history query")
)

// Config holds the rules of a [Service]. The zero value of every field gives
// the Cl@ve Móvil defaults, so Config{} is a working configuration; a gateway
// with a SQLStore sets Secret so that codes survive restarts.
type Config struct {
	// Secret keys the HMAC that stores activation codes and SMS PINs. It
	// must be at least 32 bytes of random data, kept out of the database.
	// If nil, New draws a random one: outstanding codes then stop
	// verifying at restart (they fail as wrong codes).
	Secret []byte

	// Now returns the current time; nil means time.Now. Tests inject a
	// clock so that expiry needs no sleeping.
	Now func() time.Time

	// Rand is the source of codes, nonces, identifiers and a generated
	// Secret; nil means crypto/rand. Anything else is for tests only: a
	// predictable nonce lets anyone confirm a QR login shown to another.
	// It need not be safe for concurrent use.
	Rand io.Reader

	// RequestValidity is how long a login request waits for the phone;
	// default 5 minutes, the countdown on the real gateway's page.
	RequestValidity time.Duration

	// Skew is how far a signed timestamp may be from Now, either way;
	// default 2 minutes. Larger tolerates worse phone clocks, and widens
	// the window in which a captured signed call could be replayed
	// against a store that forgot its nonce.
	Skew time.Duration

	// ActivationValidity is how long an SMS activation code can be used;
	// default 10 minutes.
	ActivationValidity time.Duration

	// ActivationAttempts is how many wrong activation codes spend the
	// code; default 3. A 6-digit code is only safe behind this limit.
	ActivationAttempts int

	// PINValidity is how long an SMS login PIN can be used; default 10
	// minutes. Issuing one extends its request to the PIN's expiry.
	PINValidity time.Duration

	// PINDelay is how long after a push the SMS PIN becomes available;
	// default 60 seconds, so that the app is tried first.
	PINDelay time.Duration

	// PINAttempts is how many wrong SMS PINs a request tolerates across
	// resends; default 3. Counting across resends stops a guesser from
	// resetting the count by asking for a new PIN.
	PINAttempts int

	// PINSends is how many times the SMS PIN of a request can be sent;
	// default 3.
	PINSends int

	// Keep is how long a decided or expired request stays readable after
	// its expiry before [Service.Prune] deletes it, so that a late page
	// or app still learns the outcome; default 10 minutes. The history
	// entry is kept regardless.
	Keep time.Duration

	// Signals is told of every change of a request (see [RequestTopic])
	// and of every new push request of a citizen ([CitizenTopic]); nil
	// means a [LocalSignals] of the Service's own, which
	// [Service.Signals] returns for waiters to subscribe to.
	Signals Signals
}

// Service applies the Cl@ve Móvil rules over a [Store]. It is safe for
// concurrent use; every check-and-set is taken inside one Store update, so
// concurrent confirmations of a request cannot both succeed.
type Service struct {
	cfg   Config
	key   []byte
	st    Store
	randM sync.Mutex // serialises cfg.Rand, which may not be concurrency-safe
}

// New returns a Service with cfg's rules on st. It fails on a short Secret or
// a negative setting rather than silently weakening a rule.
func New(cfg Config, st Store) (*Service, error) {
	if st == nil {
		return nil, errors.New("mobile: nil store")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&cfg.RequestValidity, defaultRequestValidity}, {&cfg.Skew, defaultSkew},
		{&cfg.ActivationValidity, defaultActivationValidity}, {&cfg.PINValidity, defaultPINValidity},
		{&cfg.PINDelay, defaultPINDelay}, {&cfg.Keep, defaultKeep},
	} {
		if *d.v < 0 {
			return nil, errors.New("mobile: negative duration in config")
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	for _, n := range []struct {
		v   *int
		def int
	}{{&cfg.ActivationAttempts, defaultActivationAttempts}, {&cfg.PINAttempts, defaultPINAttempts}, {&cfg.PINSends, defaultPINSends}} {
		if *n.v < 0 {
			return nil, errors.New("mobile: negative limit in config")
		}
		if *n.v == 0 {
			*n.v = n.def
		}
	}
	secret := cfg.Secret
	if secret == nil {
		secret = make([]byte, minSecretLen)
		if _, err := io.ReadFull(cfg.Rand, secret); err != nil {
			return nil, fmt.Errorf("mobile: generating secret: %w", err)
		}
	} else if len(secret) < minSecretLen {
		return nil, fmt.Errorf("mobile: secret must be at least %d bytes", minSecretLen)
	}
	key, err := hkdf.Key(sha256.New, secret, nil, hmacInfo, sha256.Size)
	if err != nil {
		return nil, fmt.Errorf("mobile: deriving key: %w", err)
	}
	cfg.Secret = nil // only the derived key is needed; keep one copy fewer
	if cfg.Signals == nil {
		cfg.Signals = NewLocalSignals()
	}
	return &Service{cfg: cfg, key: key, st: st}, nil
}

// Signals returns the signals the Service publishes to, for a page or an app
// call to wait on.
func (s *Service) Signals() Signals { return s.cfg.Signals }

// random reads n bytes from cfg.Rand under the lock.
func (s *Service) random(n int) ([]byte, error) {
	s.randM.Lock()
	defer s.randM.Unlock()
	b := make([]byte, n)
	if _, err := io.ReadFull(s.cfg.Rand, b); err != nil {
		return nil, fmt.Errorf("mobile: reading randomness: %w", err)
	}
	return b, nil
}

// digits draws a code of n decimal digits under the lock.
func (s *Service) digits(n int) (string, error) {
	s.randM.Lock()
	defer s.randM.Unlock()
	return randomDigits(s.cfg.Rand, n)
}
