package permanente

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"
)

// Defaults for the zero fields of [Config]. The limits on activation codes
// and passwords and the password lifetime are those of the real Cl@ve
// Permanente; the SMS code's validity and attempts and the ticket's lifetime
// are ours (DESIGN.md §3, [default]).
const (
	defaultActivationFailures = 5
	defaultSMSAttempts        = 3
	defaultSMSValidity        = 5 * time.Minute
	defaultTicketValidity     = 10 * time.Minute
	defaultPasswordFailures   = 5
	defaultPasswordMaxAge     = 2 * 365 * 24 * time.Hour

	// minSecretLen is the shortest secret accepted, 256 bits as the HMAC.
	minSecretLen = 32

	// hmacInfo binds the derived key to this use, so that a secret shared
	// with another component (mobile, pin) never yields the same key.
	hmacInfo = "clave permanente v1 hmac"
)

// Errors returned by this package; match them with [errors.Is]. None of them
// carries a citizen identifier, a password, a code or a ticket.
var (
	// ErrBadCitizen reports an identifier that is not a valid DNI or NIE.
	ErrBadCitizen = errors.New("permanente: invalid citizen identifier")

	// ErrNotRegistered reports a citizen without Cl@ve Permanente. Only
	// the operations of a citizen who already identified by other means
	// (regeneration, deletion, status) return it; the others answer an
	// unknown citizen as they answer a wrong code or password, so that
	// they do not tell who is registered.
	ErrNotRegistered = errors.New("permanente: not registered")

	// ErrAlreadyRegistered reports a registration of a citizen who already
	// has Cl@ve Permanente: the way to a new activation code is
	// [Service.RegenerateActivationCode].
	ErrAlreadyRegistered = errors.New("permanente: already registered")

	// ErrNotActivated reports an operation that needs a password on an
	// account that was never activated.
	ErrNotActivated = errors.New("permanente: not activated")

	// ErrAlreadyActivated reports an activation of an account that has a
	// password: a forgotten one goes through the reset flow. It is only
	// returned after the activation code was verified.
	ErrAlreadyActivated = errors.New("permanente: already activated")

	// ErrWrongActivationCode reports an activation code that does not
	// match, is malformed, or belongs to no registered citizen: one error,
	// so that it does not tell who is registered.
	ErrWrongActivationCode = errors.New("permanente: wrong activation code")

	// ErrActivationBlocked reports an activation code blocked by too many
	// wrong entries; only a new code ([Service.RegenerateActivationCode])
	// unblocks it.
	ErrActivationBlocked = errors.New("permanente: activation code blocked")

	// ErrNoCode reports that no SMS code is outstanding for that step or
	// login: none was issued, it was used, or the flow restarted.
	ErrNoCode = errors.New("permanente: no code outstanding")

	// ErrWrongCode reports an SMS code that does not match; attempts
	// remain.
	ErrWrongCode = errors.New("permanente: wrong code")

	// ErrExpired reports an SMS code used after its validity.
	ErrExpired = errors.New("permanente: expired")

	// ErrRestart reports an activation or reset whose SMS code was spent
	// by wrong entries: the flow is dropped and starts again with the
	// activation code, which this does not count against.
	ErrRestart = errors.New("permanente: too many wrong codes, start again")

	// ErrTooManyAttempts reports a login SMS code spent by wrong entries,
	// returned by the attempt that spent it and every later one for that
	// login.
	ErrTooManyAttempts = errors.New("permanente: too many failed attempts")

	// ErrBadTicket reports an activation or reset ticket that is missing,
	// wrong, already used or expired.
	ErrBadTicket = errors.New("permanente: invalid or expired ticket")

	// ErrBadLoginID reports an empty or oversized login identifier.
	ErrBadLoginID = errors.New("permanente: invalid login identifier")

	// ErrWrongPassword reports a password that does not match, or a
	// citizen without an active Cl@ve Permanente: one error, reached with
	// the same hashing work, so that neither the answer nor its timing
	// tells who is registered.
	ErrWrongPassword = errors.New("permanente: wrong password")

	// ErrBlocked reports a password blocked by too many failures; the
	// forgotten-password flow unblocks it.
	ErrBlocked = errors.New("permanente: password blocked")

	// ErrPasswordExpired reports a right password older than
	// [Config.PasswordMaxAge]: the login succeeded, but the citizen must
	// choose a new password before going on.
	ErrPasswordExpired = errors.New("permanente: password expired")

	// ErrWeakPassword is matched by every [*PolicyError]: a new password
	// that breaks the policy.
	ErrWeakPassword = errors.New("permanente: password does not meet the policy")
)

// Config holds the rules of a [Service]. The zero value of every field gives
// the Cl@ve Permanente defaults, so Config{} is a working configuration; a
// gateway with a SQLStore sets Secret so that codes survive restarts.
type Config struct {
	// Secret keys the HMAC that stores activation codes, SMS codes and
	// tickets. It must be at least 32 bytes of random data, kept out of
	// the database. If nil, New draws a random one: activation codes then
	// stop verifying at restart, so a persistent gateway must set it.
	// Passwords do not depend on it.
	Secret []byte

	// Now returns the current time; nil means time.Now. Tests inject a
	// clock so that expiry needs no sleeping.
	Now func() time.Time

	// Rand is the source of codes, tickets, salts and a generated Secret;
	// nil means crypto/rand. Anything else is for tests only: a
	// predictable source makes every code guessable. It need not be safe
	// for concurrent use.
	Rand io.Reader

	// Argon2 are the cost parameters of new password hashes; zero fields
	// take OWASP's minimum for argon2id (2 passes over 19 MiB, 1 thread).
	// Lower costs make a stolen database cheaper to crack; tests use tiny
	// ones for speed. Stored hashes carry their own parameters, and a
	// successful login re-hashes a password whose parameters differ.
	Argon2 Argon2Params

	// ActivationFailures is how many wrong entries an activation code
	// tolerates; the next one blocks it until it is regenerated. Default
	// 5: "more than 5 wrong entries block it".
	ActivationFailures int

	// SMSAttempts is how many wrong entries spend an SMS code; default 3.
	// A 6-digit code is only safe behind this limit.
	SMSAttempts int

	// SMSValidity is how long an SMS code can be used; default 5 minutes.
	SMSValidity time.Duration

	// TicketValidity is how long after the SMS step the new password can
	// be set; default 10 minutes.
	TicketValidity time.Duration

	// PasswordFailures is how many consecutive wrong passwords block the
	// password until it is reset; default 5.
	PasswordFailures int

	// PasswordMaxAge is how long a password lasts; a login after that
	// forces a change. Default 2 years of 365 days.
	PasswordMaxAge time.Duration
}

// Service applies the Cl@ve Permanente rules over a [Store]. It is safe for
// concurrent use; every check-and-set is taken inside one Store update, so
// concurrent attempts cannot both spend the same allowance. Password hashing,
// the slow part, runs outside those updates.
type Service struct {
	cfg   Config
	key   []byte
	st    Store
	randM sync.Mutex // serialises cfg.Rand, which may not be concurrency-safe

	// dummy is a hash no password matches, with the configured
	// parameters, verified for citizens without a password so that they
	// cost the same work as the others.
	dummy string

	// strangers answers the pages' attempts on identifiers without an
	// account that can take them, shared by every page of this Service.
	strangers *strangers

	// kdf is argon2.IDKey; a test counts its calls.
	kdf func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte
}

// New returns a Service with cfg's rules on st. It fails on a short Secret,
// a negative setting or out-of-range argon2 parameters rather than silently
// weakening a rule.
func New(cfg Config, st Store) (*Service, error) {
	if st == nil {
		return nil, errors.New("permanente: nil store")
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
		{&cfg.SMSValidity, defaultSMSValidity}, {&cfg.TicketValidity, defaultTicketValidity},
		{&cfg.PasswordMaxAge, defaultPasswordMaxAge},
	} {
		if *d.v < 0 {
			return nil, errors.New("permanente: negative duration in config")
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	for _, n := range []struct {
		v   *int
		def int
	}{
		{&cfg.ActivationFailures, defaultActivationFailures}, {&cfg.SMSAttempts, defaultSMSAttempts},
		{&cfg.PasswordFailures, defaultPasswordFailures},
	} {
		if *n.v < 0 {
			return nil, errors.New("permanente: negative limit in config")
		}
		if *n.v == 0 {
			*n.v = n.def
		}
	}
	cfg.Argon2 = cfg.Argon2.withDefaults()
	if err := cfg.Argon2.check(); err != nil {
		return nil, err
	}
	secret := cfg.Secret
	if secret == nil {
		secret = make([]byte, minSecretLen)
		if _, err := io.ReadFull(cfg.Rand, secret); err != nil {
			return nil, fmt.Errorf("permanente: generating secret: %w", err)
		}
	} else if len(secret) < minSecretLen {
		return nil, fmt.Errorf("permanente: secret must be at least %d bytes", minSecretLen)
	}
	key, err := hkdf.Key(sha256.New, secret, nil, hmacInfo, sha256.Size)
	if err != nil {
		return nil, fmt.Errorf("permanente: deriving key: %w", err)
	}
	cfg.Secret = nil // only the derived key is needed; keep one copy fewer
	dummy, err := dummyHash(cfg.Argon2)
	if err != nil {
		return nil, fmt.Errorf("permanente: dummy hash: %w", err)
	}
	return &Service{cfg: cfg, key: key, st: st, dummy: dummy, kdf: argon2.IDKey, strangers: newStrangers(cfg)}, nil
}

// SMSValidity is how long an SMS code can be used, for the countdown shown
// with it.
func (s *Service) SMSValidity() time.Duration { return s.cfg.SMSValidity }

// random reads n bytes from cfg.Rand under the lock.
func (s *Service) random(n int) ([]byte, error) {
	s.randM.Lock()
	defer s.randM.Unlock()
	b := make([]byte, n)
	if _, err := io.ReadFull(s.cfg.Rand, b); err != nil {
		return nil, fmt.Errorf("permanente: reading randomness: %w", err)
	}
	return b, nil
}
