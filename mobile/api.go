package mobile

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clave-go/clave/gateway/method"
	"github.com/clave-go/clave/internal/limit"
)

// APIBase is the path under which the app API lives; the gateway mounts
// [API] there without stripping it.
const APIBase = "/app/v1/"

// MaxAPIBody bounds the body of every call of the app API; a larger one is
// refused with 413 before any of it is parsed.
const MaxAPIBody = 16 << 10

// maxAPIWait caps the long-poll of the app's request list: long enough to
// save the phone most polls, short enough for common proxies' timeouts.
const maxAPIWait = 60 * time.Second

// challengeInfo binds the derived challenge key to its one use.
const challengeInfo = "clave mobile v1 activation challenge"

// AppInbox is the app's share of the gateway's push channel: the messages
// sent to a citizen's app, such as Cl@ve PIN codes. [PushBox] implements it
// in memory, [SQLPushBox] in a database several gateway processes share.
type AppInbox interface {
	// AppMessages returns copies of the unexpired messages of citizen
	// (a normalised DNI or NIE), newest first. An error is the storage's,
	// and the app is answered 503.
	AppMessages(ctx context.Context, citizen string) ([]method.Message, error)
}

// APILimits bound what one client, and the calls about one citizen, can do
// through the unauthenticated calls of the app API, on top of the rules of
// [Config]. A device's own calls are signed and need none. Zero fields take
// the defaults, which are far above what a person activating a phone meets.
type APILimits struct {
	// ClientCodes is how many SMS activation codes one client may ask for
	// per ClientWindow; default 10.
	ClientCodes int

	// ClientIdentifiers is how many different DNI/NIE one client may ask
	// codes for per ClientWindow; default 5. Going from identifier to
	// identifier is what probing the registry looks like.
	ClientIdentifiers int

	// ClientActivations is how many activation attempts (any method) one
	// client may make per ClientWindow; default 20. A 6-digit code is only
	// safe behind attempt limits.
	ClientActivations int

	// ClientWindow is the span of the per-client limits; default 10
	// minutes.
	ClientWindow time.Duration

	// CitizenCodes is how many SMS activation codes may be asked for one
	// DNI/NIE per CitizenWindow, whoever asks; default 3, so nobody can
	// flood a phone with SMS. Identifiers that are not registered are
	// counted alike, so the limit tells nothing about the registry.
	CitizenCodes int

	// CitizenWindow is the span of CitizenCodes; default 1 hour.
	CitizenWindow time.Duration

	// MaxStrangers bounds the decoy codes remembered, in memory, for
	// identifiers that are not registered; default 100,000. Past it the
	// oldest is forgotten.
	MaxStrangers int

	// MaxWait is the longest a device's long-poll waits; default, and
	// at most, 60 seconds. Lower it below the timeouts of proxies in
	// front of the gateway.
	MaxWait time.Duration
}

func (l APILimits) withDefaults() APILimits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.ClientCodes, 10)
	def(&l.ClientIdentifiers, 5)
	def(&l.ClientActivations, 20)
	def(&l.CitizenCodes, 3)
	def(&l.MaxStrangers, 100_000)
	if l.ClientWindow <= 0 {
		l.ClientWindow = 10 * time.Minute
	}
	if l.CitizenWindow <= 0 {
		l.CitizenWindow = time.Hour
	}
	if l.MaxWait <= 0 || l.MaxWait > maxAPIWait {
		l.MaxWait = maxAPIWait
	}
	return l
}

// APIConfig is what the app API is built from. Service, Citizens and
// Notifier are required; every other field has a safe zero value.
type APIConfig struct {
	// Service holds the rules and the store of Cl@ve Móvil.
	Service *Service

	// Citizens finds the registered citizens a phone is activated for.
	Citizens method.Citizens

	// Notifier sends the SMS activation codes to the registered phone.
	Notifier method.Notifier

	// Inbox holds the messages pushed to the citizen's app (Cl@ve PIN
	// codes), which GET /app/v1/pins lists; nil lists none.
	Inbox AppInbox

	// CertificateRoots are the CAs of the citizen certificates accepted
	// for activation by certificate; nil refuses that method. It is never
	// replaced by the system's roots, which would accept any web server's
	// certificate as a citizen's.
	CertificateRoots *x509.CertPool

	// DNIeRoots are the CAs of the DNIe cards accepted for activation by
	// DNIe; nil refuses that method.
	DNIeRoots *x509.CertPool

	// CardAccessNumber returns the card access number (CAN) printed on the
	// DNIe whose authentication certificate is card, or "" when it cannot
	// tell; nil refuses activation by DNIe. The CAN proves the phone held
	// the card, not just a copy of its certificate.
	CardAccessNumber func(card *x509.Certificate) string

	// Client names the client that sent a call, for the per-client
	// limits; nil means the host of RemoteAddr. Behind a proxy, use the
	// address the proxy forwards, and only from a proxy you trust.
	Client func(*http.Request) string

	// Now is the clock; nil means the Service's, so that codes, requests
	// and certificates are all judged at one time.
	Now func() time.Time

	// Logger receives refusals and failures, without secrets or full
	// identifiers; nil means slog.Default().
	Logger *slog.Logger

	// Secret keys the HMAC of the stateless activation challenges: at
	// least 32 random bytes. Gateways behind one load balancer share it,
	// so a challenge from one is accepted by another. nil draws a random
	// one: challenges outstanding at a restart are then refused.
	Secret []byte

	// Limits bound the unauthenticated calls; see [APILimits].
	Limits APILimits

	// Permanente holds the citizens' Cl@ve Permanente accounts, which the
	// app manages under /app/v1/permanente (a *permanente.Service); nil
	// answers those calls 404 not_found, as a gateway without Cl@ve
	// Permanente. Recovering a forgotten password also needs it to
	// implement [PermanenteRecovery].
	Permanente PermanenteAccounts
}

// API is the citizen app's JSON API, version 1, served under [APIBase]:
// activation of the phone, then calls signed with its key (see [SignCall])
// to list, scan and answer login requests, read the Cl@ve PIN inbox and the
// history. It is safe for concurrent use. See the package documentation
// for the endpoints.
type API struct {
	svc       *Service
	citizens  method.Citizens
	notifier  method.Notifier
	inbox     AppInbox
	certRoots *x509.CertPool
	dnieRoots *x509.CertPool
	can       func(*x509.Certificate) string
	client    func(*http.Request) string
	now       func() time.Time
	log       *slog.Logger
	key       []byte
	limits    APILimits

	clientCodes, clientActivations *limit.Window
	clientIDs                      *limit.Distinct
	citizenCodes                   *limit.Window
	strangers                      *apiStrangers
	perm                           *permanenteAPI
}

// NewAPI returns the app API on cfg. It fails when a required field is
// missing or the Secret is too short, rather than serve a weaker API.
func NewAPI(cfg APIConfig) (*API, error) {
	switch {
	case cfg.Service == nil:
		return nil, errors.New("mobile: APIConfig.Service is required")
	case cfg.Citizens == nil:
		return nil, errors.New("mobile: APIConfig.Citizens is required")
	case cfg.Notifier == nil:
		return nil, errors.New("mobile: APIConfig.Notifier is required")
	}
	secret := cfg.Secret
	if len(secret) == 0 {
		secret = make([]byte, minSecretLen)
		if _, err := rand.Read(secret); err != nil {
			return nil, fmt.Errorf("mobile: generating API secret: %w", err)
		}
	} else if len(secret) < minSecretLen {
		return nil, fmt.Errorf("mobile: API secret must be at least %d bytes", minSecretLen)
	}
	key, err := hkdf.Key(sha256.New, secret, nil, challengeInfo, sha256.Size)
	if err != nil {
		return nil, fmt.Errorf("mobile: deriving API key: %w", err)
	}
	a := &API{
		svc:       cfg.Service,
		citizens:  cfg.Citizens,
		notifier:  cfg.Notifier,
		inbox:     cfg.Inbox,
		certRoots: cfg.CertificateRoots,
		dnieRoots: cfg.DNIeRoots,
		can:       cfg.CardAccessNumber,
		client:    cfg.Client,
		now:       cfg.Now,
		log:       cfg.Logger,
		key:       key,
		limits:    cfg.Limits.withDefaults(),
	}
	if a.client == nil {
		a.client = apiRemoteHost
	}
	if a.now == nil {
		a.now = cfg.Service.cfg.Now
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	l := a.limits
	a.clientCodes = &limit.Window{Max: l.ClientCodes, Per: l.ClientWindow, Now: a.now}
	a.clientActivations = &limit.Window{Max: l.ClientActivations, Per: l.ClientWindow, Now: a.now}
	a.clientIDs = &limit.Distinct{Max: l.ClientIdentifiers, Per: l.ClientWindow, Now: a.now}
	a.citizenCodes = &limit.Window{Max: l.CitizenCodes, Per: l.CitizenWindow, Now: a.now}
	a.strangers = newAPIStrangers(l.MaxStrangers)
	a.perm = newPermanenteAPI(cfg.Permanente, a.now)
	return a, nil
}

// apiRemoteHost is the default APIConfig.Client: the peer's address without
// its port.
func apiRemoteHost(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// signedHandler serves a call once its signature, device and freshness
// have been checked; body is the exact bytes that were signed.
type signedHandler func(w http.ResponseWriter, r *http.Request, dev Device, body []byte)

// ServeHTTP serves the app API under [APIBase]. Every answer is JSON; every
// refusal is {"error":{"code":…,"message":…}} with a stable code.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, APIBase)
	if !ok {
		a.fail(w, r, errEndpoint)
		return
	}
	switch rest {
	case "activation/sms":
		a.route(w, r, http.MethodPost, a.requestCode)
	case "activation/challenge":
		a.route(w, r, http.MethodGet, a.challenge)
	case "activation":
		a.route(w, r, http.MethodPost, a.activate)
	case "device":
		switch r.Method {
		case http.MethodGet:
			a.signed(w, r, a.device)
		case http.MethodDelete:
			a.signed(w, r, a.deactivate)
		default:
			w.Header().Set("Allow", "GET, DELETE")
			a.fail(w, r, errMethod)
		}
	case "requests":
		a.routeSigned(w, r, http.MethodGet, a.requests)
	case "requests/scan":
		a.routeSigned(w, r, http.MethodPost, a.scan)
	case "pins":
		a.routeSigned(w, r, http.MethodGet, a.pins)
	case "history":
		a.routeSigned(w, r, http.MethodGet, a.history)
	case "permanente", "permanente/activation-code", "permanente/password", "permanente/recovery":
		a.servePermanente(w, r, rest)
	default:
		id, ok := decisionPath(rest)
		if !ok {
			a.fail(w, r, errEndpoint)
			return
		}
		a.routeSigned(w, r, http.MethodPost, func(w http.ResponseWriter, r *http.Request, dev Device, body []byte) {
			a.decide(w, r, dev, body, id)
		})
	}
}

// callName names the endpoint of path for logs, which never get the path
// itself: whoever calls writes it.
func callName(path string) string {
	rest, _ := strings.CutPrefix(path, APIBase)
	switch rest {
	case "activation/sms", "activation/challenge", "activation", "device", "requests", "requests/scan", "pins", "history",
		"permanente", "permanente/activation-code", "permanente/password", "permanente/recovery":
		return rest
	}
	if _, ok := decisionPath(rest); ok {
		return "requests/{id}/decision"
	}
	return "(unknown)"
}

// decisionPath reads "requests/{id}/decision". The ID is checked only for
// shape; an unknown one is the Service's to refuse.
func decisionPath(rest string) (string, bool) {
	mid, ok := strings.CutPrefix(rest, "requests/")
	if !ok {
		return "", false
	}
	id, ok := strings.CutSuffix(mid, "/decision")
	if !ok || strings.Contains(id, "/") || id == "" {
		return "", false
	}
	return id, true
}

func (a *API) route(w http.ResponseWriter, r *http.Request, verb string, h http.HandlerFunc) {
	if r.Method != verb {
		w.Header().Set("Allow", verb)
		a.fail(w, r, errMethod)
		return
	}
	h(w, r)
}

func (a *API) routeSigned(w http.ResponseWriter, r *http.Request, verb string, h signedHandler) {
	if r.Method != verb {
		w.Header().Set("Allow", verb)
		a.fail(w, r, errMethod)
		return
	}
	a.signed(w, r, h)
}

// signed admits a device's call: the four headers present, the device
// known, the signature over method, URI, time, nonce and body verifying
// under its key, the device active, then the time and nonce fresh. The
// signature is checked before the nonce is stored, so that unsigned junk
// never fills the nonce store.
func (a *API) signed(w http.ResponseWriter, r *http.Request, h signedHandler) {
	body, ok := a.readBody(w, r)
	if !ok {
		return
	}
	for _, k := range []string{HeaderDevice, HeaderTime, HeaderNonce, HeaderSignature} {
		if len(r.Header.Values(k)) != 1 {
			a.fail(w, r, apiErr(http.StatusUnauthorized, "unauthenticated", "The call lacks a single "+k+" header."))
			return
		}
	}
	id := r.Header.Get(HeaderDevice)
	if !validField(id) {
		a.fail(w, r, errUnknownDevice)
		return
	}
	dev, err := a.svc.Device(r.Context(), id)
	if err != nil {
		a.fail(w, r, a.refusal(r.Context(), "device", err))
		return
	}
	call, err := VerifyCall(r, dev.PublicKey, body)
	switch {
	case errors.Is(err, ErrBadSignature):
		a.fail(w, r, apiErr(http.StatusUnauthorized, "bad_signature", "The call's signature does not verify."))
		return
	case err != nil:
		a.fail(w, r, apiErr(http.StatusUnauthorized, "unauthenticated", "The call's Clave-* headers are malformed."))
		return
	}
	if !dev.Active() {
		a.fail(w, r, a.refusal(r.Context(), "device", ErrDeviceInactive))
		return
	}
	if err := a.svc.CheckFresh(r.Context(), call.Nonce, call.At); err != nil {
		if errors.Is(err, ErrBadPayload) {
			err = errUnauthenticated
		}
		a.fail(w, r, a.refusal(r.Context(), "call", err))
		return
	}
	h(w, r, dev, body)
}

// readBody reads the whole body, at most MaxAPIBody bytes.
func (a *API) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if r.Body == nil {
		return nil, true
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxAPIBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			a.fail(w, r, apiErr(http.StatusRequestEntityTooLarge, "too_large", "The body is over 16 KiB."))
		} else {
			a.fail(w, r, errBadRequest("The body could not be read."))
		}
		return nil, false
	}
	return body, true
}

// readJSON reads the body into v, a pointer to a struct: exactly one JSON
// object whose keys are v's JSON names exactly (no unknown, repeated or
// differently cased key), and nothing after it.
func (a *API) readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, ok := a.readBody(w, r)
	if !ok {
		return false
	}
	return a.decodeJSON(w, r, body, v)
}

func (a *API) decodeJSON(w http.ResponseWriter, r *http.Request, body []byte, v any) bool {
	if err := decodeAPIJSON(body, v); err != nil {
		a.fail(w, r, errBadRequest("The body is not the expected JSON object: "+err.Error()+"."))
		return false
	}
	return true
}

// decodeAPIJSON decodes exactly one JSON object into v. The standard decoder
// alone matches keys case-insensitively and lets a repeated key silently
// win; so the top-level keys are walked too.
func decodeAPIJSON(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errors.New("malformed JSON or a field of the wrong type")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	allowed := apiJSONNames(v)
	seen := make(map[string]bool, len(allowed))
	dec = json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return errors.New("not a JSON object")
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return errors.New("malformed JSON")
		}
		k, _ := t.(string)
		if !allowed[k] || seen[k] {
			return errors.New("unknown or repeated field")
		}
		seen[k] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return errors.New("malformed JSON")
		}
	}
	return nil
}

// apiJSONNames lists the JSON names of the fields of a pointer to struct.
func apiJSONNames(v any) map[string]bool {
	t := reflect.TypeOf(v).Elem()
	out := make(map[string]bool, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out[name] = true
		}
	}
	return out
}

// apiQuery parses the URL query, refusing unknown, repeated and malformed
// parameters.
func apiQuery(r *http.Request, known ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errors.New("malformed query")
	}
	for k, vs := range q {
		if len(vs) != 1 || !slices.Contains(known, k) {
			return nil, errors.New("unknown or repeated query parameter")
		}
	}
	return q, nil
}

// apiError is a refusal as the app sees it.
type apiError struct {
	status        int
	code, message string
	// retryAt, if set, is sent as Retry-After.
	retryAt time.Time
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func apiErr(status int, code, message string) *apiError {
	return &apiError{status: status, code: code, message: message}
}

func errBadRequest(message string) *apiError {
	return apiErr(http.StatusBadRequest, "bad_request", message)
}

var (
	errEndpoint        = apiErr(http.StatusNotFound, "not_found", "There is no such endpoint in version 1 of the app API.")
	errMethod          = apiErr(http.StatusMethodNotAllowed, "method_not_allowed", "The endpoint does not take this HTTP method.")
	errUnknownDevice   = apiErr(http.StatusUnauthorized, "unauthenticated", "The device is unknown.")
	errUnauthenticated = apiErr(http.StatusUnauthorized, "unauthenticated", "The call's Clave-* headers are malformed.")
	errTooMany         = apiErr(http.StatusTooManyRequests, "too_many_attempts", "Too many attempts; try again later.")
	errUnavailable     = apiErr(http.StatusServiceUnavailable, "unavailable", "The gateway cannot serve this now; nothing was counted against you. Try again later.")
)

// refusal maps an error of the Service (or of this API) to its answer. An
// error that is none of the rules' outcomes is a failure of the gateway's
// storage: it is logged and answered 503, never as the citizen's mistake.
func (a *API) refusal(ctx context.Context, call string, err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	for _, m := range []struct {
		err    error
		status int
		code   string
		msg    string
	}{
		{ErrNoDevice, http.StatusUnauthorized, "unauthenticated", "The device is unknown."},
		{ErrDeviceInactive, http.StatusForbidden, "device_inactive", "This device was deactivated or replaced by another; activate it again."},
		{ErrStale, http.StatusUnauthorized, "stale", "The time of the call is too far from the gateway's; check the phone's clock."},
		{ErrReplay, http.StatusUnauthorized, "replay", "This call was already made."},
		{ErrWrongCode, http.StatusUnauthorized, "wrong_code", "The activation code is wrong."},
		{ErrTooManyAttempts, http.StatusTooManyRequests, "too_many_attempts", "The code was spent by failed attempts; ask for another."},
		{ErrNoCode, http.StatusConflict, "no_code", "No activation code is outstanding; ask for one."},
		{ErrExpired, http.StatusGone, "expired", "It expired."},
		{ErrNoRequest, http.StatusNotFound, "not_found", "There is no such request."},
		{ErrClaimed, http.StatusConflict, "claimed", "The request was scanned by another citizen."},
		{ErrNotClaimed, http.StatusConflict, "not_claimed", "The request was never scanned."},
		{ErrAlreadyDecided, http.StatusConflict, "already_decided", "The request was already answered."},
		{ErrMismatch, http.StatusBadRequest, "mismatch", "The confirmation is for another request."},
		{ErrWrongDevice, http.StatusForbidden, "wrong_device", "The request belongs to another citizen."},
		{ErrBadSignature, http.StatusBadRequest, "bad_confirmation", "The confirmation's signature does not verify."},
		{ErrBadPayload, http.StatusBadRequest, "bad_confirmation", "The confirmation is malformed."},
		{ErrBadKey, http.StatusBadRequest, "bad_request", "The public key is not an Ed25519 key."},
		{ErrBadCitizen, http.StatusBadRequest, "bad_request", "The identifier is not a valid DNI or NIE."},
		{ErrBadQuery, http.StatusBadRequest, "bad_request", "The query is invalid."},
		{ErrWrongKind, http.StatusBadRequest, "bad_request", "Not available for this kind of request."},
	} {
		if errors.Is(err, m.err) {
			return apiErr(m.status, m.code, m.msg)
		}
	}
	if ctx.Err() != nil {
		// The client left; nobody reads the answer.
		return errUnavailable
	}
	a.log.ErrorContext(ctx, "mobile api: storage failure", "call", call, "error", err)
	return errUnavailable
}

// fail writes e. Refusals are logged at debug level, limits at info, and
// what deserves attention (forged signatures and proofs, replays) at warn;
// storage failures were logged where they happened.
func (a *API) fail(w http.ResponseWriter, r *http.Request, e *apiError) {
	level := slog.LevelDebug
	switch e.code {
	case "too_many_attempts":
		level = slog.LevelInfo
	case "bad_signature", "bad_proof", "replay", "bad_confirmation":
		level = slog.LevelWarn
	}
	a.log.Log(r.Context(), level, "mobile api: refused", "call", callName(r.URL.Path), "code", e.code)
	if !e.retryAt.IsZero() {
		secs := int64(e.retryAt.Sub(a.now()) / time.Second)
		w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
	}
	var out struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	out.Error.Code, out.Error.Message = e.code, e.message
	writeAPIJSON(w, e.status, out)
}

// writeAPIJSON writes v as the answer. Answers carry nonces and secrets of
// login requests: no cache may keep one.
func writeAPIJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// apiTime is the form of every time on the wire: RFC 3339 in UTC, to the
// second.
func apiTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }
