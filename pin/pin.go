// Package pin implements the rules and storage of Cl@ve PIN: a one-time,
// 3-character PIN, paired with a 4-character request code, that a citizen
// requests, receives on their device or by SMS, and types back within 10
// minutes to log in.
//
//	svc, err := pin.New(pin.Config{Secret: secret}, pin.NewMemoryStore())
//	issued, err := svc.Request(ctx, "12345678Z", "")
//	// deliver issued.PIN to the citizen; show issued.RequestCode on the page
//	err = svc.Verify(ctx, "12345678Z", typedCode, typedPIN, typedPhone, registeredPhone)
//
// [Service] enforces the rules: validity, single use, one outstanding PIN per
// citizen, request-rate limits, and a per-citizen failure counter that first
// asks for the registered phone and then blocks. [Store] keeps the state;
// [MemoryStore] and [SQLStore] both pass the suite in pin/pintest. The package
// knows nothing of HTTP, SMS or SAML: the gateway composes it with those.
//
// PINs are never stored: only an HMAC under [Config.Secret], so that a copy
// of the database reveals no PIN and cannot be used to test guesses offline.
package pin

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/clave-go/clave/internal/dni"
	"github.com/clave-go/clave/internal/store"
)

// Defaults for the zero fields of [Config]. The validity and the block
// threshold and length are those of the real Cl@ve PIN; the others are ours.
const (
	defaultValidity     = 10 * time.Minute
	defaultMaxPerWindow = 5
	defaultWindow       = 10 * time.Minute
	defaultMaxPerDay    = 20
	defaultPhoneAfter   = 10
	defaultBlockAfter   = 30
	defaultBlockFor     = 24 * time.Hour

	// day is the span of the daily request limit: a sliding 24 hours, so
	// that midnight is no reset an attacker can wait for.
	day = 24 * time.Hour

	// minSecretLen is the shortest secret accepted, 256 bits as the HMAC.
	minSecretLen = 32

	// hmacInfo binds the derived key to this use, so that a secret shared
	// with another component never yields the same key.
	hmacInfo = "clave pin v1 hmac"
)

// Errors returned by [Service]; match them with [errors.Is]. None of them
// carries the citizen identifier, the PIN or a phone number.
var (
	// ErrBadCitizen reports an identifier that is not a valid DNI or NIE.
	ErrBadCitizen = errors.New("pin: invalid citizen identifier")

	// ErrBadRequestCode reports a chosen request code that is not exactly
	// 4 letters (A-Z) or digits.
	ErrBadRequestCode = errors.New("pin: request code must be 4 letters or digits")

	// ErrRateLimited reports a request over the per-citizen limits; the
	// error is a [*RateLimitError] telling when to retry.
	ErrRateLimited = errors.New("pin: too many PIN requests")

	// ErrNoPending reports that no PIN is outstanding for that request code:
	// none was requested, it was superseded, or the code is wrong. These are
	// one error so that the answer does not help guess request codes.
	ErrNoPending = errors.New("pin: no pending PIN for this request code")

	// ErrExpired reports a PIN typed after its validity.
	ErrExpired = errors.New("pin: PIN expired")

	// ErrUsed reports a PIN that already verified once.
	ErrUsed = errors.New("pin: PIN already used")

	// ErrWrongPIN reports a PIN that does not match.
	ErrWrongPIN = errors.New("pin: wrong PIN")

	// ErrPhoneRequired reports that, after repeated failures, the
	// registered phone must be typed too and was missing or wrong.
	ErrPhoneRequired = errors.New("pin: registered phone required")

	// ErrBlocked reports a citizen blocked after too many failures; see
	// [Status.BlockedUntil].
	ErrBlocked = errors.New("pin: blocked after too many failed attempts")
)

// RateLimitError is the [ErrRateLimited] error, with the time a new request
// becomes possible so the page can say so instead of inviting retries.
type RateLimitError struct {
	// RetryAt is the first instant at which a request would be accepted.
	RetryAt time.Time
}

// Error implements error.
func (e *RateLimitError) Error() string {
	return ErrRateLimited.Error() + "; retry at " + e.RetryAt.UTC().Format(time.RFC3339)
}

// Unwrap makes errors.Is(err, ErrRateLimited) hold.
func (e *RateLimitError) Unwrap() error { return ErrRateLimited }

// Config holds the rules of a [Service]. The zero value of every field gives
// the Cl@ve defaults, so Config{} is a working configuration; only a gateway
// that must survive restarts needs to set Secret.
type Config struct {
	// Secret keys the HMAC that stores PINs. It must be at least 32 bytes
	// of random data, kept out of the database. If nil, New draws a random
	// one: PINs then stop verifying when the process restarts (they fail as
	// wrong PINs), which is acceptable only with a MemoryStore. A gateway
	// with a SQLStore configures it so that pending PINs survive restarts
	// and are shared by replicas.
	Secret []byte

	// Now returns the current time; nil means time.Now. Tests inject a
	// clock so that expiry, limits and blocks need no sleeping.
	Now func() time.Time

	// Rand is the source of PINs, request codes and a generated Secret;
	// nil means crypto/rand. Anything else is for tests only, since PINs
	// must be unpredictable. It need not be safe for concurrent use.
	Rand io.Reader

	// Validity is how long a PIN can be used; default 10 minutes.
	Validity time.Duration

	// MaxPerWindow is how many PINs a citizen can request within Window;
	// default 5. It stops anyone flooding a citizen with SMS.
	MaxPerWindow int

	// Window is the sliding span of MaxPerWindow; default 10 minutes.
	Window time.Duration

	// MaxPerDay is how many PINs a citizen can request within 24 hours;
	// default 20. It bounds the guesses possible across PINs even with
	// the failure counter reset by legitimate logins.
	MaxPerDay int

	// PhoneAfter is the number of failed verifications after which the
	// registered phone is also required; default 10. A guesser who knows
	// only the DNI is stopped well before the block, which an attacker
	// could otherwise use to lock a citizen out.
	PhoneAfter int

	// BlockAfter is the number of failed verifications a citizen may
	// accumulate; one more blocks them for BlockFor. Default 30.
	BlockAfter int

	// BlockFor is how long a block lasts; default 24 hours. Requests are
	// refused too while it lasts.
	BlockFor time.Duration
}

// Issued is the outcome of a successful [Service.Request].
type Issued struct {
	// RequestCode pairs the PIN with this request; the citizen types both.
	RequestCode string

	// PIN is the only copy of the PIN in clear, to be delivered to the
	// citizen and then dropped; empty for a decoy (RequestDecoy).
	PIN string

	// ExpiresAt is the first instant at which the PIN no longer verifies,
	// for the countdown shown with it.
	ExpiresAt time.Time
}

// String hides the PIN, so that logging an Issued does not leak it.
func (i Issued) String() string {
	return fmt.Sprintf("{RequestCode:%s PIN:*** ExpiresAt:%s}", i.RequestCode, i.ExpiresAt.Format(time.RFC3339))
}

// Status is what a form needs to know about a citizen before verification.
type Status struct {
	// Failures is the number of failed verifications since the last
	// success or the end of the last block.
	Failures int

	// NeedsPhone tells the form to ask for the registered phone as well.
	NeedsPhone bool

	// BlockedUntil is when the current block ends; zero when not blocked.
	BlockedUntil time.Time

	// Pending describes the outstanding PIN, nil when none can verify.
	Pending *PendingInfo
}

// PendingInfo describes an outstanding PIN without revealing it.
type PendingInfo struct {
	// RequestCode lets the form remind the citizen which PIN to type.
	RequestCode string

	// ExpiresAt is when the PIN stops verifying, for the countdown.
	ExpiresAt time.Time
}

// Service applies the Cl@ve PIN rules over a [Store]. It is safe for
// concurrent use; every decision is taken inside one [Store.Update], so
// concurrent calls for a citizen cannot both consume a PIN or exceed a limit.
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
		return nil, errors.New("pin: nil store")
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
	}{{&cfg.Validity, defaultValidity}, {&cfg.Window, defaultWindow}, {&cfg.BlockFor, defaultBlockFor}} {
		if *d.v < 0 {
			return nil, errors.New("pin: negative duration in config")
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	for _, n := range []struct {
		v   *int
		def int
	}{{&cfg.MaxPerWindow, defaultMaxPerWindow}, {&cfg.MaxPerDay, defaultMaxPerDay},
		{&cfg.PhoneAfter, defaultPhoneAfter}, {&cfg.BlockAfter, defaultBlockAfter}} {
		if *n.v < 0 {
			return nil, errors.New("pin: negative limit in config")
		}
		if *n.v == 0 {
			*n.v = n.def
		}
	}
	secret := cfg.Secret
	if secret == nil {
		secret = make([]byte, minSecretLen)
		if _, err := io.ReadFull(cfg.Rand, secret); err != nil {
			return nil, fmt.Errorf("pin: generating secret: %w", err)
		}
	} else if len(secret) < minSecretLen {
		return nil, fmt.Errorf("pin: secret must be at least %d bytes", minSecretLen)
	}
	key, err := hkdf.Key(sha256.New, secret, nil, hmacInfo, sha256.Size)
	if err != nil {
		return nil, fmt.Errorf("pin: deriving key: %w", err)
	}
	cfg.Secret = nil // only the derived key is needed; keep one copy fewer
	return &Service{cfg: cfg, key: key, st: st}, nil
}

// Request issues a new PIN for citizen, superseding any outstanding one.
// chosenCode is the request code the citizen picked, or "" for a system-made
// one. It fails with [ErrBadCitizen], [ErrBadRequestCode], [ErrBlocked] or a
// [*RateLimitError]; a refused request changes nothing, so the previous PIN
// stays valid.
func (s *Service) Request(ctx context.Context, citizen, chosenCode string) (Issued, error) {
	return s.request(ctx, citizen, chosenCode, false)
}

// RequestDecoy is Request for a PIN that must never verify: the gateway
// issues one when the citizen typed the wrong contrast datum, or may not
// log in, so that the answer (request code, countdown, limits, failure
// counting) is the same as for a PIN that was delivered, while guessing it
// is pointless. Its stored hash is random rather than derived from a PIN, so
// no typed PIN can match it.
func (s *Service) RequestDecoy(ctx context.Context, citizen, chosenCode string) (Issued, error) {
	return s.request(ctx, citizen, chosenCode, true)
}

func (s *Service) request(ctx context.Context, citizen, chosenCode string, decoy bool) (Issued, error) {
	id, err := parseCitizen(citizen)
	if err != nil {
		return Issued{}, err
	}
	code := ""
	if strings.TrimSpace(chosenCode) != "" {
		var ok bool
		if code, ok = normaliseRequestCode(chosenCode); !ok {
			return Issued{}, ErrBadRequestCode
		}
	}
	// Drawn before the store is locked: randomness may be slow, the lock
	// should not be.
	s.randM.Lock()
	if code == "" {
		code, err = newRequestCode(s.cfg.Rand)
	}
	var p string
	if err == nil {
		p, err = newPIN(s.cfg.Rand)
	}
	s.randM.Unlock()
	if err != nil {
		return Issued{}, err
	}

	now := s.cfg.Now()
	issued := Issued{RequestCode: code, PIN: p, ExpiresAt: now.Add(s.cfg.Validity)}
	hash := s.mac(id, code, p)
	if decoy {
		// crypto/rand, not cfg.Rand: a predictable decoy hash would be a
		// PIN after all.
		if _, err := rand.Read(hash); err != nil {
			return Issued{}, err
		}
		issued.PIN = ""
	}
	var refused error
	err = s.st.Update(ctx, id, func(r *Record) error {
		s.endBlock(r, now)
		if !r.BlockedUntil.IsZero() {
			refused = ErrBlocked
			return refused
		}
		s.pruneRequests(r, now)
		if retry, limited := s.retryAt(r.Requests, now); limited {
			refused = &RateLimitError{RetryAt: retry}
			return refused
		}
		r.Requests = append(r.Requests, now)
		r.Pending = &Pending{RequestCode: code, Hash: hash, ExpiresAt: issued.ExpiresAt}
		return nil
	})
	if refused != nil {
		return Issued{}, refused
	}
	if err != nil {
		return Issued{}, fmt.Errorf("pin: request: %w", err)
	}
	return issued, nil
}

// Verify checks a PIN typed by citizen with its request code, consuming it on
// success. typedPhone is what the citizen typed in the phone field (may be
// empty) and registeredPhone the phone on record; they matter only once the
// citizen has enough failures for [Status.NeedsPhone].
//
// It returns nil, or [ErrBadCitizen], [ErrNoPending], [ErrExpired],
// [ErrUsed], [ErrWrongPIN], [ErrPhoneRequired] or [ErrBlocked]. A wrong
// request code (while a PIN exists), a wrong PIN and a missing or wrong phone
// count as failures; the failure that crosses the limit returns ErrBlocked.
// Expired and used PINs do not count: they are honest mistakes and reveal
// nothing an attacker could use.
func (s *Service) Verify(ctx context.Context, citizen, requestCode, typedPIN, typedPhone, registeredPhone string) error {
	id, err := parseCitizen(citizen)
	if err != nil {
		return err
	}
	code := normaliseTypedCode(requestCode)
	// Computed outside the lock; both are constant-time with respect to
	// the secrets they are later compared with.
	mac := s.mac(id, code, normalisePIN(typedPIN))
	phoneOK := phoneMatches(typedPhone, registeredPhone)

	now := s.cfg.Now()
	var outcome error
	err = s.st.Update(ctx, id, func(r *Record) error {
		outcome = s.verify(r, code, mac, phoneOK, now)
		return nil
	})
	if err != nil {
		return fmt.Errorf("pin: verify: %w", err)
	}
	return outcome
}

// verify applies the verification rules to r and returns the outcome. It
// runs inside Store.Update, so reading and changing r is atomic.
func (s *Service) verify(r *Record, code string, mac []byte, phoneOK bool, now time.Time) error {
	s.endBlock(r, now)
	if !r.BlockedUntil.IsZero() {
		return ErrBlocked
	}
	p := r.Pending
	if p == nil {
		// Nothing to guess at; counting would only let anyone push any
		// citizen towards a block.
		return ErrNoPending
	}
	if subtle.ConstantTimeCompare([]byte(code), []byte(p.RequestCode)) != 1 {
		return s.fail(r, now, ErrNoPending)
	}
	if p.Used {
		return ErrUsed
	}
	if !now.Before(p.ExpiresAt) {
		return ErrExpired
	}
	// The phone is checked before the PIN so that, once it is required,
	// the answer says nothing about the PIN to someone without it.
	if r.Failures >= s.cfg.PhoneAfter && !phoneOK {
		return s.fail(r, now, ErrPhoneRequired)
	}
	if !hmac.Equal(mac, p.Hash) {
		return s.fail(r, now, ErrWrongPIN)
	}
	p.Used = true
	r.Failures = 0
	return nil
}

// fail counts a failed verification and blocks past the limit. The pending
// PIN is dropped with the block so that it cannot be guessed at once the
// block ends.
func (s *Service) fail(r *Record, now time.Time, err error) error {
	r.Failures++
	if r.Failures > s.cfg.BlockAfter {
		r.BlockedUntil = now.Add(s.cfg.BlockFor)
		r.Pending = nil
		return ErrBlocked
	}
	return err
}

// Status reports citizen's failure count, block and outstanding PIN, so the
// form can ask for the phone or show the block before the citizen types.
func (s *Service) Status(ctx context.Context, citizen string) (Status, error) {
	id, err := parseCitizen(citizen)
	if err != nil {
		return Status{}, err
	}
	r, err := s.st.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Status{}, nil
	}
	if err != nil {
		return Status{}, fmt.Errorf("pin: status: %w", err)
	}
	now := s.cfg.Now()
	s.endBlock(&r, now)
	st := Status{Failures: r.Failures, NeedsPhone: r.Failures >= s.cfg.PhoneAfter, BlockedUntil: r.BlockedUntil}
	if p := r.Pending; p != nil && !p.Used && now.Before(p.ExpiresAt) {
		st.Pending = &PendingInfo{RequestCode: p.RequestCode, ExpiresAt: p.ExpiresAt}
	}
	return st, nil
}

// endBlock lifts a block that is over. The counter restarts from zero then:
// keeping it would re-block the citizen on their first typo.
func (s *Service) endBlock(r *Record, now time.Time) {
	if !r.BlockedUntil.IsZero() && !now.Before(r.BlockedUntil) {
		r.BlockedUntil = time.Time{}
		r.Failures = 0
	}
}

// pruneRequests keeps only the request times that can still count against a
// limit, at most as many as the larger limit, so a record stays small.
func (s *Service) pruneRequests(r *Record, now time.Time) {
	horizon := now.Add(-max(day, s.cfg.Window))
	r.Requests = slices.DeleteFunc(r.Requests, func(t time.Time) bool { return !t.After(horizon) })
	slices.SortFunc(r.Requests, time.Time.Compare)
	if keep := max(s.cfg.MaxPerDay, s.cfg.MaxPerWindow); len(r.Requests) > keep {
		r.Requests = slices.Clone(r.Requests[len(r.Requests)-keep:])
	}
	if len(r.Requests) == 0 {
		r.Requests = nil
	}
}

// retryAt reports whether one more request at now would exceed a limit and,
// if so, when enough past requests will have left their span to allow it.
// reqs must be sorted.
func (s *Service) retryAt(reqs []time.Time, now time.Time) (time.Time, bool) {
	var retry time.Time
	for _, l := range []struct {
		span time.Duration
		max  int
	}{{s.cfg.Window, s.cfg.MaxPerWindow}, {day, s.cfg.MaxPerDay}} {
		from := now.Add(-l.span)
		in := slices.DeleteFunc(slices.Clone(reqs), func(t time.Time) bool { return !t.After(from) })
		if len(in) < l.max {
			continue
		}
		if at := in[len(in)-l.max].Add(l.span); at.After(retry) {
			retry = at
		}
	}
	return retry, !retry.IsZero()
}

// mac binds the PIN to the citizen and the request code, so a stored hash is
// useless for any other citizen or request. The fields are NUL-separated so
// that no two different triples give the same input.
func (s *Service) mac(citizen, code, p string) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(citizen))
	h.Write([]byte{0})
	h.Write([]byte(code))
	h.Write([]byte{0})
	h.Write([]byte(p))
	return h.Sum(nil)
}

// parseCitizen normalises a DNI or NIE, so that one citizen has one record
// however the identifier was written. eIDAS identifiers are refused: Cl@ve
// PIN is for Spanish registrations only.
func parseCitizen(s string) (string, error) {
	id, err := dni.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadCitizen, err)
	}
	if k := id.Kind(); k != dni.KindDNI && k != dni.KindNIE {
		return "", ErrBadCitizen
	}
	return id.String(), nil
}

// phoneMatches compares the typed and registered phones in constant time.
// Both are hashed first because ConstantTimeCompare returns early on a length
// difference, which would leak the registered number's length.
func phoneMatches(typed, registered string) bool {
	t, r := normalisePhone(typed), normalisePhone(registered)
	ht, hr := sha256.Sum256([]byte(t)), sha256.Sum256([]byte(r))
	eq := subtle.ConstantTimeCompare(ht[:], hr[:]) == 1
	return eq && t != "" && r != ""
}

// normalisePhone reduces a phone number to its digits so that "+34 612 34 56
// 78" and "612345678" match. The Spanish country code is dropped because
// registered numbers may be stored with or without it. Anything that is not
// a phone number normalises to "", which matches nothing.
func normalisePhone(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > maxTypedLen {
		return ""
	}
	var b strings.Builder
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			b.WriteRune(c)
		case c == '+' && b.Len() == 0:
			b.WriteString("00")
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		default:
			return ""
		}
	}
	d := b.String()
	switch {
	case len(d) == 13 && strings.HasPrefix(d, "0034"):
		d = d[4:]
	case len(d) == 11 && strings.HasPrefix(d, "34"):
		// Spanish numbers have 9 digits, so 11 starting with 34 can only
		// be the country code without its prefix.
		d = d[2:]
	}
	return d
}
