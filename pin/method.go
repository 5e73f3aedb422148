package pin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/clave-go/clave/gateway/method"
	"github.com/clave-go/clave/internal/dni"
	"github.com/clave-go/clave/internal/limit"
	"github.com/clave-go/clave/internal/pages"
	"github.com/clave-go/clave/saml"
)

// Devices tells whether a citizen has an active Cl@ve app, which then receives
// the PIN instead of an SMS. Cl@ve Móvil implements it; without it every PIN
// goes by SMS.
type Devices interface {
	HasActiveDevice(ctx context.Context, citizen string) (bool, error)
}

// Flow data keys of this method.
const (
	keyCitizen = "pin.citizen"
	keyCode    = "pin.code"
	keyExpires = "pin.expires"
)

// Method is Cl@ve PIN on the gateway's chooser (a method.Method): the
// citizen's pages, on top of a Service.
type Method struct {
	svc *Service
	// strangers issues and checks the decoys of identifiers that are not
	// registered, in bounded memory: nothing is stored for them, yet they
	// get the same answers, limits and failure counting as citizens.
	strangers *Service
	citizens  method.Citizens
	notifier  method.Notifier
	devices   Devices
	log       *slog.Logger
	limits    limiters
	// siegeLogged is when the last siege warning was logged (Unix ns, wall
	// clock: it only spaces log lines).
	siegeLogged atomic.Int64
}

// Limits bound how fast any client, and everyone together, can ask for and
// try PINs, on top of the per-citizen rules of Config. They stop guessing
// spread across many identifiers, which per-citizen counters cannot see, and
// are far above what a person meets: one login takes a request or two and a
// few attempts. Zero fields take the defaults.
type Limits struct {
	// ClientRequests is how many PINs one client may ask for per
	// ClientWindow; default 20.
	ClientRequests int
	// ClientAttempts is how many PINs one client may type per ClientWindow;
	// default 40.
	ClientAttempts int
	// ClientIdentifiers is how many different DNI/NIE one client may ask
	// PINs for per ClientWindow; default 10. Going from identifier to
	// identifier is what guessing across citizens looks like.
	ClientIdentifiers int
	// ClientWindow is the span of the per-client limits; default 10 min.
	ClientWindow time.Duration
	// GlobalRequests and GlobalAttempts bound everyone together per minute;
	// defaults 3,000 and 6,000. Past them an attack is under way: it is
	// logged, and every client is held to the siege limits below until the
	// minute ends. A refusal for everyone would let an attacker lock all
	// citizens out; the siege limits let a person through (one login is a
	// request and an attempt or two) while an attacker spread over many
	// addresses gets as much from each as a person does.
	GlobalRequests, GlobalAttempts int
	// SiegeRequests and SiegeAttempts are the per-client limits, per
	// ClientWindow, while a global limit is exceeded; defaults 2 and 3.
	SiegeRequests, SiegeAttempts int
	// MaxStrangers bounds the decoys kept in memory for unregistered
	// identifiers; default 100,000 (a few tens of MB at most).
	MaxStrangers int
}

type limiters struct {
	clientRequests, clientAttempts *limit.Window
	clientIDs                      *limit.Distinct
	globalRequests, globalAttempts *limit.Window
	siegeRequests, siegeAttempts   *limit.Window
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.ClientRequests, 20)
	def(&l.ClientAttempts, 40)
	def(&l.ClientIdentifiers, 10)
	def(&l.GlobalRequests, 3000)
	def(&l.GlobalAttempts, 6000)
	def(&l.SiegeRequests, 2)
	def(&l.SiegeAttempts, 3)
	def(&l.MaxStrangers, 100_000)
	if l.ClientWindow <= 0 {
		l.ClientWindow = 10 * time.Minute
	}
	return l
}

// ErrTooManyAttempts is returned by Issue when a per-client or global limit
// of Limits refuses the call.
var ErrTooManyAttempts = errors.New("pin: too many attempts from this client or overall")

// ErrUnavailable wraps a failure of the gateway's own storage: the citizen
// did nothing wrong and should try again; nothing was counted against them.
var ErrUnavailable = errors.New("pin: temporarily unavailable")

// NewMethod builds the Cl@ve PIN method: PINs issued and checked by svc,
// delivered through n to the citizens found in citizens. devices may be set
// later with WithDevices. log may be nil (slog.Default).
func NewMethod(svc *Service, citizens method.Citizens, n method.Notifier, log *slog.Logger) *Method {
	if log == nil {
		log = slog.Default()
	}
	m := &Method{svc: svc, citizens: citizens, notifier: n, log: log}
	m.WithLimits(Limits{})
	return m
}

// WithLimits replaces the default Limits.
func (m *Method) WithLimits(l Limits) *Method {
	l = l.withDefaults()
	now := m.svc.cfg.Now
	win := func(max int, per time.Duration) *limit.Window {
		return &limit.Window{Max: max, Per: per, Now: now}
	}
	m.limits = limiters{
		clientRequests: win(l.ClientRequests, l.ClientWindow),
		clientAttempts: win(l.ClientAttempts, l.ClientWindow),
		clientIDs:      &limit.Distinct{Max: l.ClientIdentifiers, Per: l.ClientWindow, Now: now},
		globalRequests: win(l.GlobalRequests, time.Minute),
		globalAttempts: win(l.GlobalAttempts, time.Minute),
		siegeRequests:  win(l.SiegeRequests, l.ClientWindow),
		siegeAttempts:  win(l.SiegeAttempts, l.ClientWindow),
	}
	cfg := m.svc.cfg
	cfg.Rand = nil // crypto/rand; the decoys' codes must not be predictable either
	cfg.Secret = nil
	m.strangers, _ = New(cfg, &MemoryStore{Max: l.MaxStrangers})
	return m
}

// allow applies the per-client and global limits to a request (attempt
// false) or an attempt at a PIN, for the identifier id; client "" is a
// call that is not a browser's (the gateway's API, limited per service).
func (m *Method) allow(ctx context.Context, client, id string, attempt bool) error {
	perClient, global, siege, what := m.limits.clientRequests, m.limits.globalRequests, m.limits.siegeRequests, "requests"
	if attempt {
		perClient, global, siege, what = m.limits.clientAttempts, m.limits.globalAttempts, m.limits.siegeAttempts, "attempts"
	}
	if client != "" {
		if ok, _ := perClient.Allow(client); !ok {
			m.log.WarnContext(ctx, "pin: client over its limit", "limit", what)
			return ErrTooManyAttempts
		}
		if ok, _ := m.limits.clientIDs.Allow(client, id); !ok {
			m.log.WarnContext(ctx, "pin: client trying many identifiers; refused", "limit", "identifiers")
			return ErrTooManyAttempts
		}
	}
	if ok, _ := global.Allow(""); !ok {
		// Under siege: each client gets what a person needs, no more.
		// Calls that are not a browser's (client "") come from services'
		// back ends, limited per service by the gateway.
		if client != "" {
			if ok, _ := siege.Allow(client); !ok {
				return ErrTooManyAttempts
			}
		}
		if now := time.Now().UnixNano(); now-m.siegeLogged.Load() > int64(10*time.Second) {
			m.siegeLogged.Store(now)
			m.log.WarnContext(ctx, "pin: global limit reached: guessing across identifiers suspected; clients held to the siege limits", "limit", what)
		}
	}
	return nil
}

// WithDevices makes the method deliver PINs to active apps.
func (m *Method) WithDevices(d Devices) *Method {
	m.devices = d
	return m
}

// ID implements method.Method.
func (m *Method) ID() saml.Method { return saml.MethodAEATPIN }

// MaxLoA implements method.Method: advanced registration gives substantial.
func (m *Method) MaxLoA() saml.LoA { return saml.LoASubstantial }

// Slug implements method.Method.
func (m *Method) Slug() string { return "pin" }

// LoAFor is the level a citizen reaches with Cl@ve PIN: a basic registration
// (video or letter) gives low, an advanced one substantial.
func LoAFor(c method.Citizen) saml.LoA { return c.Level.LoA() }

// Handler implements method.Method.
func (m *Method) Handler(host method.Host) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/{login}/pin/{$}", func(w http.ResponseWriter, r *http.Request) { m.page(host, w, r, "") })
	// Forgetting the PIN asked for changes the login: a form (with the
	// gateway's token, as every form here), not a link.
	mux.HandleFunc("POST /login/{login}/pin/new", func(w http.ResponseWriter, r *http.Request) { m.restart(host, w, r) })
	mux.HandleFunc("POST /login/{login}/pin/request", func(w http.ResponseWriter, r *http.Request) { m.request(host, w, r) })
	mux.HandleFunc("POST /login/{login}/pin/verify", func(w http.ResponseWriter, r *http.Request) { m.verify(host, w, r) })
	// A page answering a form (a wrong PIN, say) links to its own address
	// in another language; a GET there shows the login's current page.
	for _, path := range []string{"new", "request", "verify"} {
		mux.HandleFunc("GET /login/{login}/pin/"+path, func(w http.ResponseWriter, r *http.Request) {
			pages.Back(w, r, "/login/"+r.PathValue("login")+"/pin/")
		})
	}
	return mux
}

func (m *Method) flowOr404(host method.Host, w http.ResponseWriter, r *http.Request) (*method.Login, bool) {
	f, err := host.Login(r)
	switch {
	case errors.Is(err, method.ErrNoLogin):
		host.Render(w, r, http.StatusNotFound, "error", map[string]any{"Message": "error.flow"})
		return nil, false
	case err != nil:
		m.log.ErrorContext(r.Context(), "pin: reading the login", "error", err)
		host.Render(w, r, http.StatusServiceUnavailable, "error", map[string]any{"Message": "error.request"})
		return nil, false
	}
	return f, true
}

func base(f *method.Login) string { return "/login/" + f.ID + "/pin/" }

// page shows the identification form, or the PIN form once a PIN was asked for.
func (m *Method) page(host method.Host, w http.ResponseWriter, r *http.Request, errKey string) {
	f, ok := m.flowOr404(host, w, r)
	if !ok {
		return
	}
	if f.Data[keyCitizen] == "" {
		m.renderForm(host, w, r, f, http.StatusOK, errKey, "")
		return
	}
	m.renderVerify(host, w, r, f, http.StatusOK, errKey)
}

func (m *Method) renderForm(host method.Host, w http.ResponseWriter, r *http.Request, f *method.Login, status int, errKey, doc string) {
	host.Render(w, r, status, "pin_form", map[string]any{
		"Action": base(f) + "request", "CancelURL": "/login/" + f.ID + "/cancel", "Error": errKey, "Document": doc,
	})
}

func (m *Method) renderVerify(host method.Host, w http.ResponseWriter, r *http.Request, f *method.Login, status int, errKey string) {
	st, err := m.status(r.Context(), f.Data[keyCitizen])
	if err != nil {
		m.log.ErrorContext(r.Context(), "pin: status", "error", err)
	}
	exp, _ := time.Parse(time.RFC3339Nano, f.Data[keyExpires])
	left := exp.Sub(host.Now())
	if left < 0 {
		left = 0
	}
	host.Render(w, r, status, "pin_verify", map[string]any{
		"Action": base(f) + "verify", "RestartURL": base(f) + "new", "CancelURL": "/login/" + f.ID + "/cancel",
		"RequestCode": f.Data[keyCode], "Seconds": int(left.Seconds()),
		"Left":       fmt.Sprintf("%d:%02d", int(left.Minutes()), int(left.Seconds())%60),
		"NeedsPhone": st.NeedsPhone, "Error": errKey,
	})
}

// restart forgets the identifier typed, to ask for another PIN.
func (m *Method) restart(host method.Host, w http.ResponseWriter, r *http.Request) {
	f, ok := m.flowOr404(host, w, r)
	if !ok {
		return
	}
	_ = host.Update(r.Context(), f.ID, func(data map[string]string) error {
		delete(data, keyCitizen)
		delete(data, keyCode)
		delete(data, keyExpires)
		return nil
	})
	http.Redirect(w, r, base(f), http.StatusSeeOther)
}

// request issues a PIN (see Issue: a decoy for anyone who may not receive
// one, answered alike).
func (m *Method) request(host method.Host, w http.ResponseWriter, r *http.Request) {
	f, ok := m.flowOr404(host, w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		m.renderForm(host, w, r, f, http.StatusBadRequest, "pin.baddocument", "")
		return
	}
	id, err := dni.Parse(r.PostForm.Get("document"))
	if err != nil || id.Kind() == dni.KindEIDAS {
		m.renderForm(host, w, r, f, http.StatusBadRequest, "pin.baddocument", "")
		return
	}
	ctx := pages.WithLang(r.Context(), pages.Lang(r)) // the SMS speaks the page's language
	issued, err := m.Issue(ctx, host.Client(r), id.String(), r.PostForm.Get("contrast"), r.PostForm.Get("code"))
	switch {
	case errors.Is(err, ErrTooManyAttempts):
		m.renderForm(host, w, r, f, http.StatusTooManyRequests, "pin.toomany", id.String())
		return
	case errors.Is(err, ErrUnavailable):
		host.Render(w, r, http.StatusServiceUnavailable, "error", map[string]any{"Message": "error.unavailable"})
		return
	case errors.Is(err, ErrBadRequestCode):
		m.renderForm(host, w, r, f, http.StatusBadRequest, "pin.badcode", id.String())
		return
	case errors.Is(err, ErrRateLimited):
		m.renderForm(host, w, r, f, http.StatusTooManyRequests, "pin.ratelimited", id.String())
		return
	case errors.Is(err, ErrBlocked):
		m.renderForm(host, w, r, f, http.StatusForbidden, "pin.blocked", id.String())
		return
	case err != nil:
		m.log.ErrorContext(ctx, "pin: request", "error", err)
		host.Render(w, r, http.StatusInternalServerError, "error", map[string]any{"Message": "error.request"})
		return
	}
	err = host.Update(ctx, f.ID, func(data map[string]string) error {
		data[keyCitizen] = id.String()
		data[keyCode] = issued.RequestCode
		data[keyExpires] = issued.ExpiresAt.Format(time.RFC3339Nano)
		return nil
	})
	if err != nil {
		m.log.ErrorContext(ctx, "pin: saving the login", "error", err)
		host.Render(w, r, http.StatusServiceUnavailable, "error", map[string]any{"Message": "error.unavailable"})
		return
	}
	http.Redirect(w, r, base(f), http.StatusSeeOther)
}

// Issue issues a PIN for id and delivers it when id is a registered, active
// citizen who typed the right contrast datum. Anyone else gets a decoy that
// never verifies (Service.RequestDecoy), issued, rate-limited and counted
// the same way, so no answer built on it reveals who is registered and no
// guess at it can succeed. Decoys of unregistered identifiers are kept in
// bounded memory, never in the store. Every front door to Cl@ve PIN (these
// pages, the gateway's API for services' own apps) issues through it.
//
// id is a DNI or NIE in any form a person types it; an invalid one is
// refused with ErrBadCitizen. client names the caller for the per-client
// limits ("" for a service's API call). A storage failure wraps
// ErrUnavailable. The SMS is written in the language ctx carries (set by
// the gateway's pages and API from the request), Spanish when none.
func (m *Method) Issue(ctx context.Context, client, id, contrast, chosenCode string) (Issued, error) {
	doc, err := dni.Parse(id)
	if err != nil || (doc.Kind() != dni.KindDNI && doc.Kind() != dni.KindNIE) {
		return Issued{}, ErrBadCitizen
	}
	if err := m.allow(ctx, client, doc.String(), false); err != nil {
		return Issued{}, err
	}
	c, err := m.citizens.Citizen(ctx, doc.String())
	switch {
	case errors.Is(err, method.ErrUnknownCitizen):
		m.log.InfoContext(ctx, "pin: decoy for an unregistered identifier", "person", doc)
		return m.strangers.RequestDecoy(ctx, doc.String(), chosenCode)
	case err != nil:
		m.log.ErrorContext(ctx, "pin: reading the registry", "error", err)
		return Issued{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if c.Status != method.StatusActive || !c.MatchContrast(contrast) {
		m.log.InfoContext(ctx, "pin: decoy (inactive or wrong contrast datum)", "person", doc)
		issued, err := m.svc.RequestDecoy(ctx, doc.String(), chosenCode)
		return issued, m.storage(ctx, err)
	}
	issued, err := m.svc.Request(ctx, doc.String(), chosenCode)
	if err != nil {
		return Issued{}, m.storage(ctx, err)
	}
	m.deliver(ctx, c, issued)
	return issued, nil
}

// Check verifies a PIN typed for id with its request code, and returns the
// citizen it authenticates. It answers alike for registered and
// unregistered identifiers: ErrWrongPIN, ErrNoPending, ErrExpired, ErrUsed,
// ErrPhoneRequired, ErrBlocked, ErrTooManyAttempts, or ErrUnavailable when
// the gateway's storage failed (nothing counted then). client names the
// caller for the per-client limits ("" for a service's API call).
func (m *Method) Check(ctx context.Context, client, id, requestCode, typedPIN, typedPhone string) (method.Citizen, error) {
	doc, err := dni.Parse(id)
	if err != nil || (doc.Kind() != dni.KindDNI && doc.Kind() != dni.KindNIE) {
		return method.Citizen{}, ErrBadCitizen
	}
	if err := m.allow(ctx, client, doc.String(), true); err != nil {
		return method.Citizen{}, err
	}
	c, err := m.citizens.Citizen(ctx, doc.String())
	switch {
	case errors.Is(err, method.ErrUnknownCitizen):
		err := m.strangers.Verify(ctx, doc.String(), requestCode, typedPIN, typedPhone, "")
		if err == nil { // cannot happen: a decoy's hash matches no PIN
			err = ErrWrongPIN
		}
		return method.Citizen{}, m.storage(ctx, err)
	case err != nil:
		m.log.ErrorContext(ctx, "pin: reading the registry", "error", err)
		return method.Citizen{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if err := m.svc.Verify(ctx, doc.String(), requestCode, typedPIN, typedPhone, c.Phone); err != nil {
		return method.Citizen{}, m.storage(ctx, err)
	}
	if c.Status != method.StatusActive {
		// A decoy never verifies; only reachable if the citizen was
		// blocked between request and verification.
		return method.Citizen{}, ErrWrongPIN
	}
	return c, nil
}

// storage turns an error that is none of the rules' outcomes into
// ErrUnavailable, logged: a database failure is never the citizen's mistake.
func (m *Method) storage(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	for _, rule := range []error{ErrBadCitizen, ErrBadRequestCode, ErrRateLimited, ErrNoPending, ErrExpired,
		ErrUsed, ErrWrongPIN, ErrPhoneRequired, ErrBlocked, ErrTooManyAttempts, ErrUnavailable} {
		if errors.Is(err, rule) {
			return err
		}
	}
	m.log.ErrorContext(ctx, "pin: storage failure", "error", err)
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// status is the PIN state of id, from the store that holds it.
func (m *Method) status(ctx context.Context, id string) (Status, error) {
	_, err := m.citizens.Citizen(ctx, id)
	if errors.Is(err, method.ErrUnknownCitizen) {
		return m.strangers.Status(ctx, id)
	}
	if err != nil {
		return Status{}, err
	}
	return m.svc.Status(ctx, id)
}

// deliver sends an issued PIN to the citizen: to the active Cl@ve app when
// there is one, by SMS to the registered phone otherwise, in the language of
// the page that asked for it (carried by ctx).
func (m *Method) deliver(ctx context.Context, c method.Citizen, is Issued) {
	text := pages.Textf(pages.LangOf(ctx), "sms.pin", is.PIN, is.RequestCode, is.ExpiresAt.Format("15:04"))
	msg := method.Message{Channel: method.SMS, To: c.Phone, Text: text, Code: is.PIN, ExpiresAt: is.ExpiresAt}
	if m.devices != nil {
		if active, err := m.devices.HasActiveDevice(ctx, c.ID); err == nil && active {
			msg.Channel, msg.To = method.App, c.ID
		}
	}
	if err := m.notifier.Send(ctx, msg); err != nil {
		m.log.ErrorContext(ctx, "pin: delivery failed", "person", c.Masked(), "channel", msg.Channel, "error", err)
	}
}

// verify checks the typed PIN and ends the flow on success.
func (m *Method) verify(host method.Host, w http.ResponseWriter, r *http.Request) {
	f, ok := m.flowOr404(host, w, r)
	if !ok {
		return
	}
	who := f.Data[keyCitizen]
	if who == "" {
		http.Redirect(w, r, base(f), http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		m.renderVerify(host, w, r, f, http.StatusBadRequest, "pin.wrong")
		return
	}
	ctx := r.Context()
	c, err := m.Check(ctx, host.Client(r), who, f.Data[keyCode], strings.TrimSpace(r.PostForm.Get("pin")), r.PostForm.Get("phone"))
	switch {
	case err == nil:
		host.Complete(w, r, m, f, c, LoAFor(c))
	case errors.Is(err, ErrUnavailable):
		host.Render(w, r, http.StatusServiceUnavailable, "error", map[string]any{"Message": "error.unavailable"})
	case errors.Is(err, ErrTooManyAttempts):
		m.renderVerify(host, w, r, f, http.StatusTooManyRequests, "pin.toomany")
	case errors.Is(err, ErrBlocked):
		m.renderVerify(host, w, r, f, http.StatusForbidden, "pin.blocked")
	case errors.Is(err, ErrPhoneRequired):
		m.renderVerify(host, w, r, f, http.StatusUnauthorized, "pin.phone_required")
	case errors.Is(err, ErrExpired), errors.Is(err, ErrUsed):
		// Its own message: typing the PIN again cannot help, asking for
		// another one does. Decoys expire like PINs, so an identifier that
		// is not registered reads the same.
		m.renderVerify(host, w, r, f, http.StatusUnauthorized, "pin.expired")
	default:
		m.renderVerify(host, w, r, f, http.StatusUnauthorized, "pin.wrong")
	}
}
