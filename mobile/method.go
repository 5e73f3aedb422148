package mobile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/skip2/go-qrcode"

	"github.com/clave-go/clave/gateway/method"
	"github.com/clave-go/clave/internal/dni"
	"github.com/clave-go/clave/internal/limit"
	"github.com/clave-go/clave/internal/pages"
	"github.com/clave-go/clave/internal/park"
	"github.com/clave-go/clave/saml"
)

// keyRequest is the login data key holding the login's current request.
const keyRequest = "movil.request"

// Method is Cl@ve Móvil on the gateway's chooser (a method.Method): the
// pages of a login with QR and without (push, then the SMS PIN fallback),
// on top of a [Service]. The page waits for the phone through server-sent
// events, or by refreshing itself when JavaScript is off; the phone's side
// is the app API ([API]).
type Method struct {
	svc    *Service
	log    *slog.Logger
	limits MethodLimits

	pushes, attempts             *limit.Window
	identifiers                  *limit.Distinct
	pushesPerCitizen             *limit.Window
	globalPushes, globalAttempts *limit.Window
	siegePushes, siegeAttempts   *limit.Window

	// pruned is when Prune last ran (Unix ns of the method's clock), so
	// that page views run it at most once a minute.
	pruned atomic.Int64
	// siegeLogged is when the last siege warning was logged (Unix ns, wall
	// clock: it only spaces log lines).
	siegeLogged atomic.Int64
}

// MethodLimits bound what one client can do on the pages, on top of the
// per-request rules of Config: pushes are a message on a citizen's phone,
// and SMS PINs are guessable one attempt at a time. Zero fields take the
// defaults.
type MethodLimits struct {
	// ClientPushes is how many logins without QR one client may start per
	// Window; default 20.
	ClientPushes int
	// ClientIdentifiers is how many different DNI/NIE one client may
	// start them for per Window; default 10.
	ClientIdentifiers int
	// ClientAttempts is how many SMS PINs one client may type per Window;
	// default 40.
	ClientAttempts int
	// CitizenPushes is how many pushes one citizen may receive per Window,
	// whoever asks; default 10, so nobody can flood a phone.
	CitizenPushes int
	// Window is the span of the limits; default 10 minutes.
	Window time.Duration
	// GlobalPushes and GlobalAttempts bound everyone together per minute;
	// defaults 3,000 and 6,000. Past them, as for Cl@ve PIN, an attack
	// spread over many addresses is under way: it is logged, and every
	// client is held to SiegePushes and SiegeAttempts per Window (defaults
	// 2 and 3), enough for a person's login, until the minute ends.
	GlobalPushes, GlobalAttempts int
	SiegePushes, SiegeAttempts   int
}

func (l MethodLimits) withDefaults() MethodLimits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.ClientPushes, 20)
	def(&l.ClientIdentifiers, 10)
	def(&l.ClientAttempts, 40)
	def(&l.CitizenPushes, 10)
	def(&l.GlobalPushes, 3000)
	def(&l.GlobalAttempts, 6000)
	def(&l.SiegePushes, 2)
	def(&l.SiegeAttempts, 3)
	if l.Window <= 0 {
		l.Window = 10 * time.Minute
	}
	return l
}

// NewMethod builds the Cl@ve Móvil method on svc. log may be nil
// (slog.Default).
func NewMethod(svc *Service, limits MethodLimits, log *slog.Logger) *Method {
	if log == nil {
		log = slog.Default()
	}
	l := limits.withDefaults()
	now := svc.cfg.Now
	return &Method{
		svc: svc, log: log, limits: l,
		pushes:           &limit.Window{Max: l.ClientPushes, Per: l.Window, Now: now},
		attempts:         &limit.Window{Max: l.ClientAttempts, Per: l.Window, Now: now},
		identifiers:      &limit.Distinct{Max: l.ClientIdentifiers, Per: l.Window, Now: now},
		pushesPerCitizen: &limit.Window{Max: l.CitizenPushes, Per: l.Window, Now: now},
		globalPushes:     &limit.Window{Max: l.GlobalPushes, Per: time.Minute, Now: now},
		globalAttempts:   &limit.Window{Max: l.GlobalAttempts, Per: time.Minute, Now: now},
		siegePushes:      &limit.Window{Max: l.SiegePushes, Per: l.Window, Now: now},
		siegeAttempts:    &limit.Window{Max: l.SiegeAttempts, Per: l.Window, Now: now},
	}
}

// ID implements method.Method.
func (m *Method) ID() saml.Method { return saml.MethodMovil }

// MaxLoA implements method.Method: advanced registration gives substantial.
func (m *Method) MaxLoA() saml.LoA { return saml.LoASubstantial }

// Slug implements method.Method.
func (m *Method) Slug() string { return "movil" }

// LoAFor is the level a citizen reaches with Cl@ve Móvil: a basic
// registration gives low, an advanced one substantial.
func LoAFor(c method.Citizen) saml.LoA { return c.Level.LoA() }

// Handler implements method.Method.
func (m *Method) Handler(host method.Host) http.Handler {
	mux := http.NewServeMux()
	p := "/login/{login}/movil/"
	mux.HandleFunc("GET "+p+"{$}", func(w http.ResponseWriter, r *http.Request) { m.page(host, w, r) })
	mux.HandleFunc("GET "+p+"qr.png", func(w http.ResponseWriter, r *http.Request) { m.qr(host, w, r) })
	mux.HandleFunc("GET "+p+"noqr", func(w http.ResponseWriter, r *http.Request) { m.noQR(host, w, r) })
	mux.HandleFunc("GET "+p+"events", func(w http.ResponseWriter, r *http.Request) { m.events(host, w, r) })
	mux.HandleFunc("POST "+p+"push", func(w http.ResponseWriter, r *http.Request) { m.push(host, w, r) })
	mux.HandleFunc("POST "+p+"sms", func(w http.ResponseWriter, r *http.Request) { m.sms(host, w, r) })
	mux.HandleFunc("POST "+p+"verify", func(w http.ResponseWriter, r *http.Request) { m.verify(host, w, r) })
	mux.HandleFunc("POST "+p+"qr", func(w http.ResponseWriter, r *http.Request) { m.restart(host, w, r) })
	// A page answering a form (an error, say) links to its own address in
	// another language; a GET there shows the login's current page.
	back := func(to string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			pages.Back(w, r, "/login/"+r.PathValue("login")+"/movil/"+to)
		}
	}
	mux.HandleFunc("GET "+p+"push", back("noqr"))
	for _, path := range []string{"sms", "verify", "qr"} {
		mux.HandleFunc("GET "+p+path, back(""))
	}
	return mux
}

func base(l *method.Login) string { return "/login/" + l.ID + "/movil/" }

// login reads the login of r, answering the browser when there is none.
func (m *Method) login(host method.Host, w http.ResponseWriter, r *http.Request) (*method.Login, bool) {
	l, err := host.Login(r)
	switch {
	case errors.Is(err, method.ErrNoLogin):
		host.Render(w, r, http.StatusNotFound, "error", map[string]any{"Message": "error.flow"})
		return nil, false
	case err != nil:
		m.unavailable(host, w, r, "reading the login", err)
		return nil, false
	}
	return l, true
}

// unavailable answers a failure of the gateway's own storage: the citizen
// did nothing wrong and may try again.
func (m *Method) unavailable(host method.Host, w http.ResponseWriter, r *http.Request, what string, err error) {
	m.log.ErrorContext(r.Context(), "movil: "+what, "error", err)
	host.Render(w, r, http.StatusServiceUnavailable, "error", map[string]any{"Message": "error.unavailable"})
}

// current returns the login's request, or ErrNoRequest when it has none.
func (m *Method) current(ctx context.Context, l *method.Login) (Request, error) {
	return m.request(ctx, waiter{login: l.ID, request: l.Data[keyRequest]})
}

// waiter is what a waiting page's stream keeps of its login: the login and
// its request, and nothing more, since thousands wait at once.
type waiter struct{ login, request string }

// request returns w's request, or ErrNoRequest.
func (m *Method) request(ctx context.Context, w waiter) (Request, error) {
	if w.request == "" {
		return Request{}, ErrNoRequest
	}
	req, err := m.svc.Request(ctx, w.request)
	if err == nil && req.LoginID != w.login {
		return Request{}, ErrNoRequest // never another login's request
	}
	return req, err
}

// page shows the login's request waiting for the phone, making a QR request
// when there is none, or ends the login once the request is decided.
func (m *Method) page(host method.Host, w http.ResponseWriter, r *http.Request) {
	l, ok := m.login(host, w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	m.maybePrune(ctx)
	req, err := m.current(ctx, l)
	if errors.Is(err, ErrNoRequest) {
		req, err = m.svc.NewRequest(ctx, RequestSpec{LoginID: l.ID, Requester: l.Requester, Kind: KindQR})
		if err == nil {
			err = host.Update(ctx, l.ID, func(data map[string]string) error {
				data[keyRequest] = req.ID
				return nil
			})
		}
	}
	if err != nil {
		m.unavailable(host, w, r, "reading the request", err)
		return
	}
	now := host.Now()
	if st := req.StateAt(now); st != StatePending {
		if st == StateExpired {
			// Recorded now, with its history entry, not at the next Prune.
			if err := m.svc.Expire(ctx, req.ID); err != nil {
				m.unavailable(host, w, r, "expiring the request", err)
				return
			}
		}
		m.finish(host, w, r, l, &req, st)
		return
	}
	m.render(host, w, r, l, &req, http.StatusOK, "")
}

// render shows the waiting page of req with an optional error message.
func (m *Method) render(host method.Host, w http.ResponseWriter, r *http.Request, l *method.Login, req *Request, status int, errKey string) {
	now := host.Now()
	left := max(req.ExpiresAt.Sub(now), 0)
	data := map[string]any{
		"Requester": l.Requester, "Code": req.VerificationCode(), "Error": errKey,
		"Seconds": int(left.Seconds()), "Left": clock(left),
		"Base": base(l), "CancelURL": "/login/" + l.ID + "/cancel",
	}
	// Without JavaScript the page refreshes itself to learn the outcome,
	// but only while there is nothing to type.
	data["Refresh"] = req.Kind == KindQR || req.PIN == nil
	if req.Kind == KindQR {
		host.Render(w, r, status, "movil_qr", data)
		return
	}
	wait := max(m.svc.PINAvailableAt(req).Sub(now), 0)
	data["PINWait"] = int(wait.Seconds())
	data["PINReady"] = wait == 0
	data["PINSent"] = req.PIN != nil
	host.Render(w, r, status, "movil_push", data)
}

// clock formats d as m:ss.
func clock(d time.Duration) string {
	s := int(d.Seconds())
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// finish ends the login with the outcome of req, which reached state st.
func (m *Method) finish(host method.Host, w http.ResponseWriter, r *http.Request, l *method.Login, req *Request, st State) {
	ctx := r.Context()
	switch st {
	case StateConfirmed:
		c, err := host.Citizens().Citizen(ctx, req.Citizen)
		switch {
		case errors.Is(err, method.ErrUnknownCitizen):
			m.log.WarnContext(ctx, "movil: confirmed for an identifier no longer registered", "login", l.ID)
			host.Fail(w, r, l, &saml.StatusError{Code: saml.StatusResponder, SubCode: saml.StatusAuthnFailed, Message: "Autenticación fallida"})
			return
		case err != nil:
			m.unavailable(host, w, r, "reading the registry", err)
			return
		}
		if c.Status != method.StatusActive {
			m.log.InfoContext(ctx, "movil: confirmed by a citizen who may not log in", "person", c.Masked())
			host.Fail(w, r, l, &saml.StatusError{Code: saml.StatusResponder, SubCode: saml.StatusAuthnFailed, Message: "Autenticación fallida"})
			return
		}
		m.log.InfoContext(ctx, "movil: login confirmed", "login", l.ID, "person", c.Masked(), "kind", req.Kind)
		host.Complete(w, r, m, l, c, LoAFor(c))
	case StateDeclined:
		m.log.InfoContext(ctx, "movil: login declined", "login", l.ID, "kind", req.Kind)
		host.Fail(w, r, l, &saml.StatusError{Code: saml.StatusRequester, SubCode: saml.StatusRequestDenied, Message: "Rechazado por el usuario"})
	default:
		m.log.InfoContext(ctx, "movil: login expired", "login", l.ID, "kind", req.Kind)
		host.Fail(w, r, l, &saml.StatusError{Code: saml.StatusResponder, SubCode: saml.StatusAuthnFailed, Message: "Tiempo de espera agotado"})
	}
}

// qr serves the QR code of the login's pending QR request as a PNG.
func (m *Method) qr(host method.Host, w http.ResponseWriter, r *http.Request) {
	l, err := host.Login(r)
	if err != nil {
		http.Error(w, "no such login", http.StatusNotFound)
		return
	}
	req, err := m.current(r.Context(), l)
	if err != nil || req.Kind != KindQR || req.StateAt(host.Now()) != StatePending {
		http.Error(w, "no QR code to show", http.StatusNotFound)
		return
	}
	png, err := QRCode(&req)
	if err != nil {
		m.log.ErrorContext(r.Context(), "movil: drawing the QR code", "error", err)
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(png)
}

// QRSize is the side of the QR code's PNG, in pixels.
const QRSize = 256

// QRCode draws req's QR code ([QRPayload]) as a PNG of QRSize pixels, with
// medium error correction.
func QRCode(req *Request) ([]byte, error) {
	q, err := qrcode.New(QRPayload(req), qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("mobile: QR code: %w", err)
	}
	return q.PNG(QRSize)
}

// restart forgets the login's request, for a fresh QR code.
func (m *Method) restart(host method.Host, w http.ResponseWriter, r *http.Request) {
	l, ok := m.login(host, w, r)
	if !ok {
		return
	}
	if err := m.forget(r.Context(), host, l); err != nil {
		m.unavailable(host, w, r, "saving the login", err)
		return
	}
	http.Redirect(w, r, base(l), http.StatusSeeOther)
}

// forget withdraws the login's request, so that no phone can answer it any
// more, and removes it from the login.
func (m *Method) forget(ctx context.Context, host method.Host, l *method.Login) error {
	if id := l.Data[keyRequest]; id != "" {
		if err := m.svc.Withdraw(ctx, id); err != nil {
			return err
		}
	}
	return host.Update(ctx, l.ID, func(data map[string]string) error {
		delete(data, keyRequest)
		return nil
	})
}

// push starts a login without QR: the citizen typed their DNI/NIE and
// contrast datum; their active device gets the request. Anyone else (an
// unknown identifier, a wrong datum, a blocked citizen) gets a decoy request
// that looks the same and that nothing can confirm.
func (m *Method) push(host method.Host, w http.ResponseWriter, r *http.Request) {
	l, ok := m.login(host, w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		m.pushForm(host, w, r, l, http.StatusBadRequest, "movil.baddocument")
		return
	}
	id, err := dni.Parse(r.PostForm.Get("document"))
	if err != nil || (id.Kind() != dni.KindDNI && id.Kind() != dni.KindNIE) {
		m.pushForm(host, w, r, l, http.StatusBadRequest, "movil.baddocument")
		return
	}
	client := host.Client(r)
	if !m.allow(ctx, client, m.pushes, m.globalPushes, m.siegePushes, "pushes") {
		m.pushForm(host, w, r, l, http.StatusTooManyRequests, "movil.toomany")
		return
	}
	if ok, _ := m.identifiers.Allow(client, id.String()); !ok {
		m.log.WarnContext(ctx, "movil: client trying many identifiers; refused")
		m.pushForm(host, w, r, l, http.StatusTooManyRequests, "movil.toomany")
		return
	}
	c, err := host.Citizens().Citizen(ctx, id.String())
	decoy := false
	switch {
	case errors.Is(err, method.ErrUnknownCitizen):
		decoy = true
	case err != nil:
		m.unavailable(host, w, r, "reading the registry", err)
		return
	default:
		decoy = c.Status != method.StatusActive || !c.MatchContrast(r.PostForm.Get("contrast"))
	}
	if !decoy {
		if ok, _ := m.pushesPerCitizen.Allow(c.ID); !ok {
			// Answered like any push, so the limit reveals nobody; the
			// phone just gets no more messages for a while.
			m.log.WarnContext(ctx, "movil: citizen over the push limit; decoy", "person", c.Masked())
			decoy = true
		}
	}
	if err := m.forget(ctx, host, l); err != nil {
		m.unavailable(host, w, r, "withdrawing the previous request", err)
		return
	}
	req, err := m.svc.NewRequest(ctx, RequestSpec{LoginID: l.ID, Requester: l.Requester, Kind: KindPush, Citizen: id.String(), Decoy: decoy})
	if err != nil {
		m.unavailable(host, w, r, "making the request", err)
		return
	}
	if err := host.Update(ctx, l.ID, func(data map[string]string) error {
		data[keyRequest] = req.ID
		return nil
	}); err != nil {
		m.unavailable(host, w, r, "saving the login", err)
		return
	}
	if decoy {
		m.log.InfoContext(ctx, "movil: decoy push (unknown, inactive or wrong contrast datum)", "person", id)
	} else {
		m.log.InfoContext(ctx, "movil: push", "login", l.ID, "person", c.Masked())
		msg := method.Message{Channel: method.App, To: c.ID, ExpiresAt: req.ExpiresAt,
			Text: pages.Textf(pages.Lang(r), "sms.movil.push", l.Requester, req.VerificationCode())}
		if err := host.Notifier().Send(ctx, msg); err != nil {
			// The app also learns of the request by polling; the
			// SMS PIN remains.
			m.log.WarnContext(ctx, "movil: push notification failed", "person", c.Masked(), "error", err)
		}
	}
	http.Redirect(w, r, base(l), http.StatusSeeOther)
}

// allow applies a per-client limit and, past the global one, the siege
// limit to client.
func (m *Method) allow(ctx context.Context, client string, perClient, global, siege *limit.Window, what string) bool {
	if ok, _ := perClient.Allow(client); !ok {
		m.log.WarnContext(ctx, "movil: client over its limit", "limit", what)
		return false
	}
	if ok, _ := global.Allow(""); ok {
		return true
	}
	if now := time.Now().UnixNano(); now-m.siegeLogged.Load() > int64(10*time.Second) {
		m.siegeLogged.Store(now)
		m.log.WarnContext(ctx, "movil: global limit reached: clients held to the siege limits", "limit", what)
	}
	ok, _ := siege.Allow(client)
	return ok
}

// pushForm shows the form of a login without QR, with errKey's message
// when not empty. It has a page of its own, which never refreshes itself:
// the waiting pages do without JavaScript, which would wipe what is typed.
func (m *Method) pushForm(host method.Host, w http.ResponseWriter, r *http.Request, l *method.Login, status int, errKey string) {
	host.Render(w, r, status, "movil_noqr", map[string]any{
		"Requester": l.Requester, "Error": errKey, "Base": base(l), "CancelURL": "/login/" + l.ID + "/cancel",
	})
}

// noQR shows the form of a login without QR.
func (m *Method) noQR(host method.Host, w http.ResponseWriter, r *http.Request) {
	if l, ok := m.login(host, w, r); ok {
		m.pushForm(host, w, r, l, http.StatusOK, "")
	}
}

// loginRequest reads the login of r and its request, answering the browser
// when there is none (a login without a request goes back to its page).
func (m *Method) loginRequest(host method.Host, w http.ResponseWriter, r *http.Request) (*method.Login, Request, bool) {
	l, ok := m.login(host, w, r)
	if !ok {
		return nil, Request{}, false
	}
	req, err := m.current(r.Context(), l)
	switch {
	case errors.Is(err, ErrNoRequest):
		http.Redirect(w, r, base(l), http.StatusSeeOther)
		return nil, Request{}, false
	case err != nil:
		m.unavailable(host, w, r, "reading the request", err)
		return nil, Request{}, false
	}
	return l, req, true
}

// sms sends the SMS PIN of a login without QR, once the delay after the
// push is over.
func (m *Method) sms(host method.Host, w http.ResponseWriter, r *http.Request) {
	l, req, ok := m.loginRequest(host, w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	code, err := m.svc.IssueSMSPIN(ctx, req.ID)
	switch {
	case errors.Is(err, ErrTooEarly):
		m.render(host, w, r, l, &req, http.StatusConflict, "movil.tooearly")
		return
	case errors.Is(err, ErrSendLimit), errors.Is(err, ErrTooManyAttempts):
		m.render(host, w, r, l, &req, http.StatusTooManyRequests, "movil.sendlimit")
		return
	case errors.Is(err, ErrWrongKind), errors.Is(err, ErrExpired), errors.Is(err, ErrAlreadyDecided):
		http.Redirect(w, r, base(l), http.StatusSeeOther)
		return
	case err != nil:
		m.unavailable(host, w, r, "issuing the SMS PIN", err)
		return
	}
	if code.Value != "" { // a decoy's PIN is never sent
		c, err := host.Citizens().Citizen(ctx, req.Citizen)
		if err != nil {
			m.unavailable(host, w, r, "reading the registry", err)
			return
		}
		msg := method.Message{Channel: method.SMS, To: c.Phone, Code: code.Value, ExpiresAt: code.ExpiresAt,
			Text: pages.Textf(pages.Lang(r), "sms.movil.pin", l.Requester, code.Value, code.ExpiresAt.In(madrid).Format("15:04"))}
		if err := host.Notifier().Send(ctx, msg); err != nil {
			m.log.ErrorContext(ctx, "movil: SMS PIN delivery failed", "person", c.Masked(), "error", err)
		}
	}
	http.Redirect(w, r, base(l), http.StatusSeeOther)
}

// verify checks the SMS PIN typed in the "Login PIN" field.
func (m *Method) verify(host method.Host, w http.ResponseWriter, r *http.Request) {
	l, req, ok := m.loginRequest(host, w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		m.render(host, w, r, l, &req, http.StatusBadRequest, "movil.wrongpin")
		return
	}
	if !m.allow(ctx, host.Client(r), m.attempts, m.globalAttempts, m.siegeAttempts, "SMS PIN attempts") {
		m.render(host, w, r, l, &req, http.StatusTooManyRequests, "movil.toomany")
		return
	}
	err := m.svc.VerifySMSPIN(ctx, req.ID, strings.TrimSpace(r.PostForm.Get("pin")))
	switch {
	case err == nil:
		req.State = StateConfirmed
		m.finish(host, w, r, l, &req, StateConfirmed)
	case errors.Is(err, ErrTooManyAttempts):
		m.render(host, w, r, l, &req, http.StatusTooManyRequests, "movil.pinblocked")
	case errors.Is(err, ErrWrongCode), errors.Is(err, ErrNoCode), errors.Is(err, ErrUsed):
		m.render(host, w, r, l, &req, http.StatusUnauthorized, "movil.wrongpin")
	case errors.Is(err, ErrExpired), errors.Is(err, ErrAlreadyDecided), errors.Is(err, ErrNoRequest):
		http.Redirect(w, r, base(l), http.StatusSeeOther)
	default:
		m.unavailable(host, w, r, "checking the SMS PIN", err)
	}
}

// heartbeat is how often a waiting page's event stream sends a comment,
// so that proxies keep it open and a browser that left is noticed.
const heartbeat = 25 * time.Second

// events streams the state of the login's request as server-sent events:
// "event: state" with data pending, confirmed, declined or expired; the
// stream ends after a final state. The page then reloads itself, which
// ends the login.
//
// A waiting page holds no handler: once the first event is sent, the
// connection is taken over from net/http (package park) and waits with a
// small goroutine, one subscription and one timer, so that thousands of
// pages can wait at once. The store is read again only when the request's
// signal fires or its expiry comes, not at each heartbeat.
func (m *Method) events(host method.Host, w http.ResponseWriter, r *http.Request) {
	l, err := host.Login(r)
	if err != nil {
		http.Error(w, "no such login", http.StatusNotFound)
		return
	}
	wt := waiter{login: l.ID, request: l.Data[keyRequest]}
	if wt.request == "" {
		http.Error(w, "no request", http.StatusNotFound)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	topic := RequestTopic(wt.request)
	c, err := park.Take(w)
	if err != nil {
		// Where the connection cannot be taken over (HTTP/2), the
		// handler waits itself.
		wake, stop := wakeChannel(m.svc.Signals(), topic)
		defer stop()
		rc := http.NewResponseController(w)
		write := func(p []byte) error {
			_ = rc.SetWriteDeadline(time.Now().Add(heartbeat + 10*time.Second))
			if _, err := w.Write(p); err != nil {
				return err
			}
			return rc.Flush()
		}
		m.stream(r.Context(), host, wt, write, handlerWait(r.Context().Done(), wake))
		return
	}
	// Subscribed before the store is read: a change in between still
	// wakes the wait.
	stop := m.svc.Signals().Subscribe(topic, c.Wake)
	if c.WriteHead(http.StatusOK, h) != nil {
		stop()
		_ = c.Close()
		return
	}
	go func() {
		defer stop()
		defer c.Close()
		m.stream(context.Background(), host, wt, c.Write, c.Wait)
	}()
}

// waitFunc waits until a wake-up (true), until (false) or the client
// leaving (an error).
type waitFunc func(until time.Time) (bool, error)

// handlerWait is a waitFunc for a handler that waits itself, woken by wake
// and ended by done.
func handlerWait(done, wake <-chan struct{}) waitFunc {
	return func(until time.Time) (bool, error) {
		t := time.NewTimer(time.Until(until))
		defer t.Stop()
		select {
		case <-wake:
			return true, nil
		case <-t.C:
			return false, nil
		case <-done:
			return false, context.Canceled
		}
	}
}

// stream writes the state of wt's request, then a heartbeat every so often
// and its final state once the request's signal or its expiry says there
// may be one. It returns then, when a write fails or when the client left.
// The store is read only at a wake-up or at expiry, not at each heartbeat.
func (m *Method) stream(ctx context.Context, host method.Host, wt waiter, write func([]byte) error, wait waitFunc) {
	st, expires, ok := m.state(ctx, host, wt)
	if !ok || write(stateEvent(st)) != nil || st != StatePending {
		return
	}
	for {
		next := host.Now().Add(heartbeat)
		if exp := expires.Add(time.Second); exp.Before(next) {
			next = exp
		}
		woken, err := wait(time.Now().Add(max(next.Sub(host.Now()), time.Second)))
		if err != nil {
			return // the browser left
		}
		if !woken && host.Now().Before(expires) {
			if write(heartbeatComment) != nil {
				return
			}
			continue
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		st, expires, ok = m.state(rctx, host, wt)
		cancel()
		if !ok {
			return // the browser reconnects
		}
		if st != StatePending {
			_ = write(stateEvent(st))
			return
		}
		// Still pending: an SMS PIN may have extended it.
	}
}

// state reads the state of l's request and when it expires; false when
// the store could not be read (logged).
func (m *Method) state(ctx context.Context, host method.Host, wt waiter) (State, time.Time, bool) {
	req, err := m.request(ctx, wt)
	switch {
	case errors.Is(err, ErrNoRequest):
		return StateExpired, time.Time{}, true
	case err != nil:
		if ctx.Err() == nil {
			m.log.ErrorContext(ctx, "movil: reading the request for its page", "error", err)
		}
		return "", time.Time{}, false
	}
	return req.StateAt(host.Now()), req.ExpiresAt, true
}

var heartbeatComment = []byte(": waiting\n\n")

// stateEvent is the server-sent event announcing st.
func stateEvent(st State) []byte { return []byte("event: state\ndata: " + string(st) + "\n\n") }

// maybePrune runs Service.Prune in the background at most once a minute of
// the method's clock, so that expired requests reach the history and
// waiting pages without a loop of their own.
func (m *Method) maybePrune(ctx context.Context) {
	now := m.svc.cfg.Now().UnixNano()
	last := m.pruned.Load()
	if now-last < int64(time.Minute) || !m.pruned.CompareAndSwap(last, now) {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := m.svc.Prune(ctx); err != nil {
			m.log.WarnContext(ctx, "movil: prune", "error", err)
		}
	}()
}

// Prune runs Service.Prune now, as after the gateway's clock moved.
func (m *Method) Prune(ctx context.Context) error {
	m.pruned.Store(m.svc.cfg.Now().UnixNano())
	return m.svc.Prune(ctx)
}

// madrid is the time zone of the SMS texts; UTC+1 when the system has no
// zone database.
var madrid = func() *time.Location {
	if loc, err := time.LoadLocation("Europe/Madrid"); err == nil {
		return loc
	}
	return time.FixedZone("CET", 3600)
}()

// compile-time check.
var _ method.Method = (*Method)(nil)
