package app

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clave-go/clave/mobile"
)

// MaxWait is the longest [Session.Pending] waits for a request: the API's
// bound on its long-poll.
const MaxWait = 60 * time.Second

// callNonceBytes is the entropy of a signed call's nonce.
const callNonceBytes = 16

// Session is an unlocked phone: it holds the device key in memory and
// signs the device's calls with it. It is safe for concurrent use. Lock it
// when done, so that the key does not outlive the need for it.
type Session struct {
	// Client is where the calls go, how and with which clock.
	Client Client

	phone Phone

	mu   sync.RWMutex
	priv ed25519.PrivateKey
}

// Phone returns the phone the session unlocked.
func (s *Session) Phone() Phone { return s.phone }

// Lock erases the key from memory; later calls fail with [ErrLocked].
func (s *Session) Lock() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.priv)
	s.priv = nil
}

// call sends a call signed by the device with [mobile.SignCall]: a fresh
// random nonce, and the time from the Client's clock.
func (s *Session) call(ctx context.Context, method, path string, query url.Values, in, out any) error {
	sign := func(r *http.Request, body []byte) error {
		nonce := make([]byte, callNonceBytes)
		if _, err := rand.Read(nonce); err != nil {
			return fmt.Errorf("reading randomness: %w", err)
		}
		s.mu.RLock()
		defer s.mu.RUnlock()
		if s.priv == nil {
			return ErrLocked
		}
		return mobile.SignCall(r, s.phone.DeviceID, s.priv, s.Client.now(), b64.EncodeToString(nonce), body)
	}
	return s.Client.call(ctx, method, path, query, in, sign, out)
}

// Device asks the gateway how it sees this phone: a phone replaced by
// another, or deactivated, answers [ErrDeviceInactive].
func (s *Session) Device(ctx context.Context) (DeviceInfo, error) {
	var out struct {
		DeviceID      string    `json:"device_id"`
		CitizenMasked string    `json:"citizen_masked"`
		Method        string    `json:"method"`
		Status        string    `json:"status"`
		ActivatedAt   time.Time `json:"activated_at"`
	}
	if err := s.call(ctx, http.MethodGet, "/device", nil, nil, &out); err != nil {
		return DeviceInfo{}, err
	}
	return DeviceInfo{DeviceID: out.DeviceID, CitizenMasked: out.CitizenMasked, Method: mobile.ActivationMethod(out.Method),
		Status: mobile.DeviceStatus(out.Status), ActivatedAt: out.ActivatedAt}, nil
}

// Deactivate switches this phone off for good: the gateway refuses its
// signatures from then on, and a new activation is needed to use Cl@ve
// Móvil again.
func (s *Session) Deactivate(ctx context.Context) error {
	return s.call(ctx, http.MethodDelete, "/device", nil, nil, nil)
}

// Pending returns the requests this phone can answer now. With wait above
// zero and none pending, the gateway holds the call until one arrives or
// wait passes (rounded up to whole seconds, at most [MaxWait]), so that a
// loop of Pending calls learns of a login at once without polling hard.
func (s *Session) Pending(ctx context.Context, wait time.Duration) ([]Request, error) {
	var q url.Values
	if wait > 0 {
		secs := int(math.Ceil(min(wait, MaxWait).Seconds()))
		q = url.Values{"wait": {strconv.Itoa(secs)}}
	}
	var out struct {
		Requests []requestJSON `json:"requests"`
	}
	if err := s.call(ctx, http.MethodGet, "/requests", q, nil, &out); err != nil {
		return nil, err
	}
	reqs := make([]Request, 0, len(out.Requests))
	for _, j := range out.Requests {
		r, err := j.request()
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, r)
	}
	return reqs, nil
}

// Scan sends the text of a login page's QR code ("CLAVEMOVIL:1:...") and
// returns the request it names, now bound to this phone's citizen, for the
// citizen to check and answer. Text that is not such a code gives
// [ErrNotQRCode], without asking the gateway. A code that names no request, or whose
// request ended, gives [ErrNotFound] or [ErrExpired]; one scanned by
// another citizen, [ErrClaimed].
func (s *Session) Scan(ctx context.Context, payload string) (Request, error) {
	payload = strings.TrimSpace(payload)
	if _, _, err := mobile.ParseQRPayload(payload); err != nil {
		return Request{}, ErrNotQRCode
	}
	in := struct {
		Payload string `json:"payload"`
	}{payload}
	var out requestJSON
	if err := s.call(ctx, http.MethodPost, "/requests/scan", nil, in, &out); err != nil {
		return Request{}, err
	}
	return out.request()
}

// Confirm signs the citizen's confirmation of req and sends it: the login
// goes on. It first recomputes the verification code from the request's
// secret and refuses, with [ErrCodeMismatch], a request whose stated code
// is not that one. When the citizen typed the code read on the login page,
// use [Session.ConfirmCode] instead.
func (s *Session) Confirm(ctx context.Context, req Request) error {
	if err := checkCode(req, ""); err != nil {
		return err
	}
	return s.decide(ctx, req, mobile.Confirm)
}

// ConfirmCode is [Session.Confirm] for a citizen who also typed the code
// shown on the login page: a typed code that differs refuses the
// confirmation with [ErrCodeMismatch], since the request on the phone is
// then not the login on the screen.
func (s *Session) ConfirmCode(ctx context.Context, req Request, typed string) error {
	if err := checkCode(req, typed); err != nil {
		return err
	}
	return s.decide(ctx, req, mobile.Confirm)
}

// Decline signs the citizen's refusal of req and sends it: the login
// fails. Declining needs no code check: refusing is always safe.
func (s *Session) Decline(ctx context.Context, req Request) error {
	return s.decide(ctx, req, mobile.Decline)
}

// checkCode checks req's stated verification code against the one its
// secret gives and, when typed is not empty, against the typed one too
// (spaces ignored).
func checkCode(req Request, typed string) error {
	want := mobile.VerificationCode(req.Secret, req.ID)
	if subtle.ConstantTimeCompare([]byte(want), []byte(req.VerificationCode)) != 1 {
		return fmt.Errorf("%w: the gateway's code is not the request's", ErrCodeMismatch)
	}
	if typed == "" {
		return nil
	}
	typed = strings.ReplaceAll(strings.TrimSpace(typed), " ", "")
	if subtle.ConstantTimeCompare([]byte(want), []byte(typed)) != 1 {
		return fmt.Errorf("%w: the typed code is not the request's", ErrCodeMismatch)
	}
	return nil
}

// decide signs req's confirmation with decision d, stamped with the
// Client's clock to the second, and posts it.
func (s *Session) decide(ctx context.Context, req Request, d mobile.Decision) error {
	c := mobile.Confirmation{LoginID: req.LoginID, RequestID: req.ID, Nonce: req.Nonce, Decision: d,
		At: s.Client.now().Truncate(time.Second)}
	s.mu.RLock()
	if s.priv == nil {
		s.mu.RUnlock()
		return ErrLocked
	}
	payload, sig, err := mobile.SignConfirmation(s.priv, c)
	s.mu.RUnlock()
	if err != nil {
		return fmt.Errorf("app: signing the %s: %w", d, err)
	}
	in := struct {
		Confirmation string `json:"confirmation"`
		Signature    string `json:"signature"`
	}{b64.EncodeToString(payload), b64.EncodeToString(sig)}
	var out struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	if err := s.call(ctx, http.MethodPost, "/requests/"+url.PathEscape(req.ID)+"/decision", nil, in, &out); err != nil {
		return err
	}
	want := mobile.StateConfirmed
	if d == mobile.Decline {
		want = mobile.StateDeclined
	}
	if out.ID != req.ID || mobile.State(out.State) != want {
		return fmt.Errorf("%w: decision answered with request %q in state %q", ErrBadAnswer, out.ID, out.State)
	}
	return nil
}

// PINs returns the Cl@ve PINs waiting in the app's inbox, newest first:
// those not yet expired.
func (s *Session) PINs(ctx context.Context) ([]PIN, error) {
	var out struct {
		PINs []struct {
			PIN         string    `json:"pin"`
			Text        string    `json:"text"`
			SentAt      time.Time `json:"sent_at"`
			ExpiresAt   time.Time `json:"expires_at"`
			SecondsLeft int       `json:"seconds_left"`
		} `json:"pins"`
	}
	if err := s.call(ctx, http.MethodGet, "/pins", nil, nil, &out); err != nil {
		return nil, err
	}
	pins := make([]PIN, 0, len(out.PINs))
	for _, p := range out.PINs {
		pins = append(pins, PIN{Code: p.PIN, Text: printable(p.Text, maxMessageLen), SentAt: p.SentAt,
			ExpiresAt: p.ExpiresAt, SecondsLeft: p.SecondsLeft})
	}
	return pins, nil
}

// History returns a page of the citizen's "My Cl@ve Móvil" history, as q
// selects it. Values the gateway does not accept give [ErrBadRequest].
func (s *Session) History(ctx context.Context, q HistoryQuery) ([]Entry, error) {
	v, err := q.values()
	if err != nil {
		return nil, err
	}
	var out struct {
		Entries []struct {
			RequestID string    `json:"request_id"`
			At        time.Time `json:"at"`
			Requester string    `json:"requester"`
			Kind      string    `json:"kind"`
			Outcome   string    `json:"outcome"`
		} `json:"entries"`
	}
	if err := s.call(ctx, http.MethodGet, "/history", v, nil, &out); err != nil {
		return nil, err
	}
	entries := make([]Entry, 0, len(out.Entries))
	for _, e := range out.Entries {
		entries = append(entries, Entry{RequestID: e.RequestID, At: e.At, Requester: printable(e.Requester, maxMessageLen),
			Kind: mobile.Kind(e.Kind), Outcome: mobile.State(e.Outcome)})
	}
	return entries, nil
}
