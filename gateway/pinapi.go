package gateway

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/clave-go/clave/internal/dni"
	"github.com/clave-go/clave/internal/flow"
	"github.com/clave-go/clave/internal/pages"
	"github.com/clave-go/clave/internal/pinwire"
	"github.com/clave-go/clave/pin"
	"github.com/clave-go/clave/saml"
)

// APIRateLimit is a token bucket: PerMinute calls a minute on average, at
// most Burst at once.
type APIRateLimit struct {
	PerMinute int
	Burst     int
}

// Rules of the app APIs. A call must be fresh: at most pinAPIMaxAge old and
// at most pinAPISkew ahead of the gateway's clock. Its nonce is remembered
// until pinAPINonceTTL after issued_at, beyond the window in which the call
// could be accepted at all, so a captured call is useless once seen.
const (
	pinAPISkew     = 60 * time.Second
	pinAPIMaxAge   = 5 * time.Minute
	pinAPINonceTTL = 10 * time.Minute

	defaultAPIPerMinute = 600
	defaultAPIBurst     = 60

	// verifyPerIdentifier verifies a minute for one citizen, whichever
	// service asks: pin's failure counter blocks after 30, but only this
	// keeps a service (or a stolen service key) from spending those 30 in
	// a second and locking the citizen out at will.
	verifyPerIdentifier = 10
	verifyWindow        = time.Minute
	// maxTrackedIdentifiers bounds the per-identifier log; when it is full
	// of live entries verifies are refused, never let through unlimited.
	maxTrackedIdentifiers = 100_000
	// maxTrackedSPs bounds the per-service buckets; only authenticated,
	// registered services get one, so it is reached only by a registry of
	// that size.
	maxTrackedSPs = 10_000

	maxSignatureHeader = 4096
	maxRequestIDLen    = 64
)

// pinAPI serves the app-native Cl@ve PIN API. It lives beside the Gateway
// rather than in it: its limiters are made when the routes are mounted.
type pinAPI struct {
	g      *Gateway
	limits *apiLimiter
}

// apiRoutes mounts the gateway's APIs for services' own apps.
func (g *Gateway) apiRoutes(mux *http.ServeMux) {
	a := &pinAPI{g: g, limits: newAPILimiter(g.cfg.APIRate)}
	mux.HandleFunc("POST "+pinwire.RequestPath, a.handleRequest)
	mux.HandleFunc("POST "+pinwire.VerifyPath, a.handleVerify)
}

// apiFailure is a refusal: an HTTP status, an error code for the service,
// and, for rate limits, when to retry. It never says anything about a
// citizen that the browser pages would not.
type apiFailure struct {
	status  int
	code    string
	retryAt time.Time
	// reason is logged, never sent.
	reason string
}

func refuse(status int, code, reason string) *apiFailure {
	return &apiFailure{status: status, code: code, reason: reason}
}

// pinRefusal is the API's answer to an error of Cl@ve PIN, the same for
// requests and verifications. Wrong, expired, used and unknown PINs are one
// answer on purpose: telling them apart would help whoever guesses.
func pinRefusal(err error) *apiFailure {
	var limited *pin.RateLimitError
	switch {
	case errors.Is(err, pin.ErrUnavailable):
		return refuse(http.StatusServiceUnavailable, pinwire.CodeUnavailable, "storage unavailable")
	case errors.Is(err, pin.ErrTooManyAttempts):
		return refuse(http.StatusTooManyRequests, pinwire.CodeRateLimited, "global PIN limit")
	case errors.As(err, &limited):
		f := refuse(http.StatusTooManyRequests, pinwire.CodeRateLimited, "citizen's PIN request limit")
		f.retryAt = limited.RetryAt
		return f
	case errors.Is(err, pin.ErrBadRequestCode):
		return refuse(http.StatusBadRequest, pinwire.CodeBadCode, "chosen request code")
	case errors.Is(err, pin.ErrBadCitizen):
		return refuse(http.StatusBadRequest, pinwire.CodeBadDocument, "not a DNI or NIE")
	case errors.Is(err, pin.ErrBlocked):
		return refuse(http.StatusForbidden, pinwire.CodeBlocked, "citizen blocked")
	case errors.Is(err, pin.ErrPhoneRequired):
		return refuse(http.StatusUnauthorized, pinwire.CodePhoneRequired, "phone required")
	case errors.Is(err, pin.ErrWrongPIN), errors.Is(err, pin.ErrNoPending), errors.Is(err, pin.ErrExpired), errors.Is(err, pin.ErrUsed):
		return refuse(http.StatusUnauthorized, pinwire.CodeWrongPIN, "pin not accepted")
	default:
		return refuse(http.StatusInternalServerError, pinwire.CodeInternal, err.Error())
	}
}

func (a *pinAPI) writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	// Answers carry signed identities; no cache may keep one.
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (a *pinAPI) fail(w http.ResponseWriter, r *http.Request, call, spid string, f *apiFailure) {
	out := pinwire.Failure{Error: f.code}
	if !f.retryAt.IsZero() {
		t := f.retryAt.UTC()
		out.RetryAt = &t
	}
	// Authentication failures and our own faults deserve attention; a wrong
	// PIN is ordinary.
	level := slog.LevelInfo
	if (f.status == http.StatusUnauthorized && f.code != pinwire.CodeWrongPIN && f.code != pinwire.CodePhoneRequired) || f.status >= 500 {
		level = slog.LevelWarn
	}
	a.g.log.Log(r.Context(), level, "gateway: pin api refused", "call", call, "sp", spid, "outcome", f.code, "reason", f.reason)
	if f.status == http.StatusServiceUnavailable {
		a.g.storeError(r.Context(), "pin_api", errors.New(f.reason))
	}
	a.writeJSON(w, f.status, out)
}

// authenticate reads the body and admits the call: signed by a registered
// service, decoded strictly, fresh, never seen, within the service's rate.
// The signature is checked on the raw bytes before anything in them is
// parsed, so unauthenticated input reaches no JSON decoder.
func (a *pinAPI) authenticate(w http.ResponseWriter, r *http.Request, body interface{ Envelope() pinwire.Envelope }) (*ServiceProvider, *apiFailure) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, pinwire.MaxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, refuse(http.StatusRequestEntityTooLarge, pinwire.CodeTooLarge, "body over 8 KiB")
		}
		return nil, refuse(http.StatusBadRequest, pinwire.CodeBadRequest, "cannot read body")
	}
	spid, sig, err := parseSignatureHeader(r.Header.Values(pinwire.SignatureHeader))
	if err != nil {
		return nil, refuse(http.StatusUnauthorized, pinwire.CodeUnauthorized, err.Error())
	}
	sp, ok := a.g.serviceProvider(spid)
	if !ok {
		// The claimed SPID is not logged: anyone can write anything there.
		return nil, refuse(http.StatusUnauthorized, pinwire.CodeUnauthorized, "unknown service provider")
	}
	now := a.g.cfg.Now()
	if !verifyBodySignature(sp.Certificates, now, raw, sig) {
		return sp, refuse(http.StatusUnauthorized, pinwire.CodeUnauthorized, "signature does not verify with a registered certificate")
	}
	if err := decodeStrict(raw, body); err != nil {
		return sp, refuse(http.StatusBadRequest, pinwire.CodeBadRequest, err.Error())
	}
	env := body.Envelope()
	if env.SPID != sp.SPID {
		return sp, refuse(http.StatusUnauthorized, pinwire.CodeUnauthorized, "body spid differs from the signature's")
	}
	issued, err := time.Parse(time.RFC3339, env.IssuedAt)
	if err != nil {
		return sp, refuse(http.StatusBadRequest, pinwire.CodeBadRequest, "issued_at is not RFC 3339")
	}
	if issued.After(now.Add(pinAPISkew)) || issued.Before(now.Add(-pinAPIMaxAge)) {
		return sp, refuse(http.StatusUnauthorized, pinwire.CodeStale, "issued_at outside the accepted window")
	}
	if !validNonce(env.Nonce) {
		return sp, refuse(http.StatusBadRequest, pinwire.CodeBadRequest, "nonce must be 16-64 characters of [A-Za-z0-9_-]")
	}
	// The nonce is spent before the rate limit is charged: replaying a
	// captured call must not drain the service's budget.
	seen, err := a.g.flows.SeenRequest(r.Context(), sp.SPID, "nonce:"+env.Nonce, issued.Add(pinAPINonceTTL))
	if err != nil {
		return sp, refuse(http.StatusInternalServerError, pinwire.CodeInternal, "nonce store: "+err.Error())
	}
	if seen {
		return sp, refuse(http.StatusUnauthorized, pinwire.CodeReplayed, "nonce already used")
	}
	if retry, ok := a.limits.allowSP(sp.SPID, now); !ok {
		f := refuse(http.StatusTooManyRequests, pinwire.CodeRateLimited, "service over its rate")
		f.retryAt = retry
		return sp, f
	}
	return sp, nil
}

// open authenticates a call and reads the citizen's document from its body,
// answering the failure itself when either is wrong.
func (a *pinAPI) open(w http.ResponseWriter, r *http.Request, call string, body interface{ Envelope() pinwire.Envelope }, document func() string) (*ServiceProvider, dni.ID, bool) {
	sp, f := a.authenticate(w, r, body)
	if f != nil {
		a.fail(w, r, call, apiSPID(sp), f)
		return nil, dni.ID{}, false
	}
	id, err := dni.Parse(document())
	if err != nil || (id.Kind() != dni.KindDNI && id.Kind() != dni.KindNIE) {
		a.fail(w, r, call, sp.SPID, refuse(http.StatusBadRequest, pinwire.CodeBadDocument, "not a DNI or NIE"))
		return nil, dni.ID{}, false
	}
	return sp, id, true
}

// handleRequest issues a PIN, exactly as the browser form does: whether the
// citizen is registered, active and typed the right contrast datum decides
// only whether the PIN is delivered, never the answer.
func (a *pinAPI) handleRequest(w http.ResponseWriter, r *http.Request) {
	const call = "request"
	var body pinwire.Request
	sp, id, ok := a.open(w, r, call, &body, func() string { return body.Document })
	if !ok {
		return
	}
	// The SMS speaks the language the service's API call asks for in
	// Accept-Language (its user's), Spanish when none.
	ctx := pages.WithLang(r.Context(), pages.Lang(r))
	issued, err := a.g.pinMethod.Issue(ctx, "", id.String(), body.Contrast, body.Code)
	if err != nil {
		a.fail(w, r, call, sp.SPID, pinRefusal(err))
		return
	}
	a.g.log.InfoContext(ctx, "gateway: pin api", "call", call, "sp", sp.SPID, "outcome", "issued", "person", id)
	a.writeJSON(w, http.StatusOK, pinwire.Ticket{RequestCode: issued.RequestCode, ExpiresAt: issued.ExpiresAt.UTC()})
}

// handleVerify checks a PIN and answers the signed SAML Response for the
// service's request ID, the one a browser login would have posted.
func (a *pinAPI) handleVerify(w http.ResponseWriter, r *http.Request) {
	const call = "verify"
	var body pinwire.Verify
	sp, id, ok := a.open(w, r, call, &body, func() string { return body.Document })
	if !ok {
		return
	}
	ctx := r.Context()
	if !validRequestID(body.RequestID) {
		a.fail(w, r, call, sp.SPID, refuse(http.StatusBadRequest, pinwire.CodeBadRequestID, "request_id must be an NCName of at most 64 characters"))
		return
	}
	if !sp.allows(body.ACSURL) {
		a.fail(w, r, call, sp.SPID, refuse(http.StatusBadRequest, pinwire.CodeBadACS, "acs_url is not registered"))
		return
	}
	minLoA, ok := saml.ParseLoA(body.LoA)
	if !ok || minLoA.String() != body.LoA {
		a.fail(w, r, call, sp.SPID, refuse(http.StatusBadRequest, pinwire.CodeBadLoA, "loa must be low, substantial or high"))
		return
	}
	// A level no PIN login reaches is refused before the PIN is spent; it
	// says nothing about the citizen.
	if minLoA > a.pinMaxLoA() {
		a.fail(w, r, call, sp.SPID, refuse(http.StatusForbidden, pinwire.CodeLoANotReached, "above what Cl@ve PIN gives"))
		return
	}
	now := a.g.cfg.Now()
	if retry, ok := a.limits.allowIdentifier(id.String(), now); !ok {
		f := refuse(http.StatusTooManyRequests, pinwire.CodeRateLimited, "verifies for this citizen")
		f.retryAt = retry
		a.fail(w, r, call, sp.SPID, f)
		return
	}
	// A request ID already answered is refused before the PIN is looked
	// at, so that the refusal spends nothing.
	if seen, err := a.g.flows.RequestSeen(ctx, sp.SPID, body.RequestID); err != nil || seen {
		if err != nil {
			a.g.log.ErrorContext(ctx, "gateway: pin api: request store", "error", err)
			a.fail(w, r, call, sp.SPID, refuse(http.StatusServiceUnavailable, pinwire.CodeUnavailable, "request store unavailable"))
			return
		}
		a.fail(w, r, call, sp.SPID, refuse(http.StatusConflict, pinwire.CodeRequestReused, "request_id already answered"))
		return
	}
	c, err := a.g.pinMethod.Check(ctx, "", id.String(), body.RequestCode, strings.TrimSpace(body.PIN), body.Phone)
	if err != nil {
		a.fail(w, r, call, sp.SPID, pinRefusal(err))
		return
	}
	loa := pin.LoAFor(c)
	if loa < minLoA {
		a.fail(w, r, call, sp.SPID, refuse(http.StatusForbidden, pinwire.CodeLoANotReached, "registration level below loa"))
		return
	}
	// The request ID joins those of browser logins: one Response per ID,
	// whichever way it was asked for.
	seen, err := a.g.flows.SeenRequest(ctx, sp.SPID, body.RequestID, now.Add(time.Hour))
	if err != nil {
		a.g.log.ErrorContext(ctx, "gateway: pin api: request store", "error", err)
		a.fail(w, r, call, sp.SPID, refuse(http.StatusServiceUnavailable, pinwire.CodeUnavailable, "request store unavailable"))
		return
	}
	if seen {
		a.fail(w, r, call, sp.SPID, refuse(http.StatusConflict, pinwire.CodeRequestReused, "request_id already answered"))
		return
	}
	// The flow exists only to build the Response: no browser, no RelayState,
	// nothing stored, hence no ID.
	fl := &flow.Flow{
		SPID: sp.SPID, RequestID: body.RequestID, ACSURL: body.ACSURL, MinLoA: minLoA,
		Method: saml.MethodAEATPIN, NameIDFormat: saml.NameIDTransient, CreatedAt: now, ExpiresAt: now,
	}
	xml, err := a.g.buildResponse(fl, &c, loa, nil)
	if err != nil {
		a.fail(w, r, call, sp.SPID, refuse(http.StatusInternalServerError, pinwire.CodeInternal, "build response: "+err.Error()))
		return
	}
	a.g.log.InfoContext(ctx, "gateway: pin api", "call", call, "sp", sp.SPID, "outcome", "login completed", "person", c.Masked(), "loa", loa.String())
	a.writeJSON(w, http.StatusOK, pinwire.Response{SAMLResponse: base64.StdEncoding.EncodeToString(xml)})
}

// pinMaxLoA is the highest level the gateway's Cl@ve PIN method gives.
func (a *pinAPI) pinMaxLoA() saml.LoA {
	for _, m := range a.g.methods {
		if m.ID() == saml.MethodAEATPIN {
			return m.MaxLoA()
		}
	}
	return 0
}

func apiSPID(sp *ServiceProvider) string {
	if sp == nil {
		return ""
	}
	return sp.SPID
}

// parseSignatureHeader reads `spid="…", alg="rsa-sha256", sig="…"`: each
// parameter exactly once, nothing else, values without quotes or escapes.
func parseSignatureHeader(values []string) (spid string, sig []byte, err error) {
	if len(values) != 1 {
		return "", nil, fmt.Errorf("need exactly one %s header", pinwire.SignatureHeader)
	}
	s := values[0]
	if len(s) > maxSignatureHeader {
		return "", nil, fmt.Errorf("%s header too long", pinwire.SignatureHeader)
	}
	params := map[string]string{}
	for s = strings.TrimLeft(s, " \t"); s != ""; {
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return "", nil, errors.New("malformed signature header")
		}
		key := strings.TrimRight(s[:eq], " \t")
		s = s[eq+1:]
		if !strings.HasPrefix(s, `"`) {
			return "", nil, errors.New("malformed signature header")
		}
		end := strings.IndexByte(s[1:], '"')
		if end < 0 {
			return "", nil, errors.New("malformed signature header")
		}
		val := s[1 : 1+end]
		s = strings.TrimLeft(s[2+end:], " \t")
		if s != "" {
			if s[0] != ',' {
				return "", nil, errors.New("malformed signature header")
			}
			s = strings.TrimLeft(s[1:], " \t")
			if s == "" {
				return "", nil, errors.New("malformed signature header")
			}
		}
		if key != "spid" && key != "alg" && key != "sig" {
			return "", nil, fmt.Errorf("unknown signature parameter %q", key)
		}
		if _, dup := params[key]; dup || strings.ContainsRune(val, '\\') {
			return "", nil, errors.New("malformed signature header")
		}
		params[key] = val
	}
	if len(params) != 3 || params["spid"] == "" {
		return "", nil, errors.New("signature header needs spid, alg and sig")
	}
	if params["alg"] != pinwire.SignatureAlg {
		return "", nil, fmt.Errorf("signature algorithm must be %s", pinwire.SignatureAlg)
	}
	sig, err = base64.StdEncoding.Strict().DecodeString(params["sig"])
	if err != nil || len(sig) == 0 {
		return "", nil, errors.New("signature is not base64")
	}
	return params["spid"], sig, nil
}

// verifyBodySignature tries every registered certificate valid now, as the
// SAML side does, so a service can roll its key over without downtime.
func verifyBodySignature(certs []*x509.Certificate, now time.Time, body, sig []byte) bool {
	sum := sha256.Sum256(body)
	for _, c := range certs {
		pub, ok := c.PublicKey.(*rsa.PublicKey)
		if !ok || now.Before(c.NotBefore) || now.After(c.NotAfter) {
			continue
		}
		if rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) == nil {
			return true
		}
	}
	return false
}

// decodeStrict decodes exactly one JSON object into v: no unknown, duplicate
// or differently-cased keys, only string values, nothing after it. The
// standard decoder alone would accept "SPID" for "spid" and let a repeated
// key silently win, so the keys are walked too.
func decodeStrict(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("body: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("body: data after the JSON object")
	}
	allowed := jsonKeys(v)
	seen := map[string]bool{}
	dec = json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return errors.New("body: not a JSON object")
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return fmt.Errorf("body: %w", err)
		}
		k, _ := t.(string)
		if !allowed[k] || seen[k] {
			return fmt.Errorf("body: unexpected or repeated key %q", k)
		}
		seen[k] = true
		if t, err := dec.Token(); err != nil {
			return fmt.Errorf("body: %w", err)
		} else if _, ok := t.(string); !ok {
			return fmt.Errorf("body: %q must be a string", k)
		}
	}
	return nil
}

// jsonKeys lists the JSON names of a pointer-to-struct's fields.
func jsonKeys(v any) map[string]bool {
	t := reflect.TypeOf(v).Elem()
	out := make(map[string]bool, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		out[name] = true
	}
	return out
}

func validNonce(s string) bool {
	if len(s) < 16 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// validRequestID accepts an ASCII NCName of at most 64 characters, what
// saml.NewID and every SAML library make; the ID ends up in InResponseTo.
func validRequestID(s string) bool {
	if s == "" || len(s) > maxRequestIDLen {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
		case i > 0 && (r == '-' || r == '.' || r >= '0' && r <= '9'):
		default:
			return false
		}
	}
	return true
}

// apiLimiter keeps the API's rate limits in memory, on the gateway's clock:
// a token bucket per service and a sliding log of verifies per citizen.
// Replicas each keep their own, which multiplies the limits by their number;
// pin's failure counter, in the shared store, is the bound that holds anyway.
type apiLimiter struct {
	perMinute float64
	burst     float64

	mu  sync.Mutex
	sps map[string]*bucket
	ids map[string][]time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newAPILimiter(r APIRateLimit) *apiLimiter {
	l := &apiLimiter{perMinute: defaultAPIPerMinute, burst: defaultAPIBurst, sps: map[string]*bucket{}, ids: map[string][]time.Time{}}
	if r.PerMinute > 0 {
		l.perMinute = float64(r.PerMinute)
	}
	if r.Burst > 0 {
		l.burst = float64(r.Burst)
	}
	return l
}

// refill brings b to now; a clock that went back refills nothing.
func (l *apiLimiter) refill(b *bucket, now time.Time) {
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(l.burst, b.tokens+el.Minutes()*l.perMinute)
	}
	b.last = now
}

// allowSP takes a token from the service's bucket, or says when one will be
// there.
func (l *apiLimiter) allowSP(spid string, now time.Time) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.sps[spid]
	if !ok {
		if len(l.sps) >= maxTrackedSPs {
			// A full bucket is the same as none: forget those.
			for k, o := range l.sps {
				l.refill(o, now)
				if o.tokens >= l.burst {
					delete(l.sps, k)
				}
			}
		}
		b = &bucket{tokens: l.burst, last: now}
		l.sps[spid] = b
	}
	l.refill(b, now)
	if b.tokens >= 1 {
		b.tokens--
		return time.Time{}, true
	}
	wait := time.Duration((1 - b.tokens) / l.perMinute * float64(time.Minute))
	return ceilSecond(now.Add(wait)), false
}

// allowIdentifier records a verify for a citizen unless verifyPerIdentifier
// happened in the last verifyWindow.
func (l *apiLimiter) allowIdentifier(id string, now time.Time) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	from := now.Add(-verifyWindow)
	log := l.ids[id]
	live := log[:0]
	for _, t := range log {
		if t.After(from) {
			live = append(live, t)
		}
	}
	if len(live) >= verifyPerIdentifier {
		l.ids[id] = live
		return live[len(live)-verifyPerIdentifier].Add(verifyWindow), false
	}
	if len(live) == 0 && len(l.ids) >= maxTrackedIdentifiers {
		delete(l.ids, id)
		for k, ts := range l.ids {
			if len(ts) == 0 || !ts[len(ts)-1].After(from) {
				delete(l.ids, k)
			}
		}
		if len(l.ids) >= maxTrackedIdentifiers {
			return now.Add(verifyWindow), false
		}
	}
	l.ids[id] = append(live, now)
	return time.Time{}, true
}

// ceilSecond rounds up to a whole second: retry_at travels as RFC 3339, and
// rounding down would invite a call that is still refused.
func ceilSecond(t time.Time) time.Time {
	if r := t.Truncate(time.Second); !r.Equal(t) {
		return r.Add(time.Second)
	}
	return t
}
