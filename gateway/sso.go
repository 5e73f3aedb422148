package gateway

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/clave-go/clave/gateway/method"
	"github.com/clave-go/clave/internal/flow"
	"github.com/clave-go/clave/internal/pages"
	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/internal/store"
	"github.com/clave-go/clave/saml"
)

const flowCookiePrefix = "clave_gw_"

// errUnavailable marks a request the gateway could not check because its
// storage failed: answered 503, never as the service's mistake.
var errUnavailable = errors.New("gateway: storage unavailable")

func (g *Gateway) routes() {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+saml.ServiceProviderPath, g.handleServiceProvider)
	mux.HandleFunc("GET "+saml.CertificatesPath, g.handleCertificates)
	mux.HandleFunc("GET /login/{login}", g.handleChooser)
	// Everything that changes a login under /login/{login}/ checks its form
	// token first, the methods' pages included.
	mux.Handle("POST /login/{login}/cancel", g.checkForm(http.HandlerFunc(g.handleCancel)))
	g.available = map[saml.Method]bool{}
	for _, m := range g.methods {
		if h := m.Handler(host{g}); h != nil {
			mux.Handle("/login/{login}/"+m.Slug()+"/", g.checkForm(h))
			g.available[m.ID()] = true
		}
	}
	g.apiRoutes(mux)
	g.mobileRoutes(mux)
	g.permanenteRoutes(mux)
	// ServeHTTP gives every response the common security headers, the admin
	// routes' (mounted later on this mux) included; pages replace the CSP
	// with their own.
	g.mux = mux
}

func (g *Gateway) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string, err error) {
	detail := ""
	if err != nil {
		// The technical reason helps whoever integrates a service; it never
		// carries personal data (validation errors name fields, not values).
		detail = err.Error()
	}
	g.render(w, r, status, "error", map[string]any{"Message": msg, "Detail": detail})
}

// wayBack gives an error page about a login it can name a way back to the
// service: while the login is open in this browser, the form that cancels
// it (the service receives the cancel response, and the citizen lands on
// the service); once it is over, a link to the origin of the service's ACS
// URL, the one address of the service the gateway knows and trusts. A page
// about no login (an untrusted request) offers neither: nothing it names
// was verified.
func (g *Gateway) wayBack(r *http.Request, data map[string]any) {
	if data["CancelURL"] != nil || data["BackURL"] != nil {
		return
	}
	id := r.PathValue("login")
	if id == "" || len(id) > 64 {
		return
	}
	if f, err := g.flowOf(r); err == nil {
		if tok := formTokenOf(r); tok != "" {
			data["CancelURL"], data["FormToken"] = "/login/"+f.ID+"/cancel", tok
			return
		}
	}
	f, err := g.flows.Get(r.Context(), id)
	if err != nil {
		return
	}
	if u, err := url.Parse(f.ACSURL); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
		data["BackURL"] = u.Scheme + "://" + u.Host + "/"
		data["Service"] = g.serviceName(f)
	}
}

// serviceName is the name the citizen is shown for a flow's service.
func (g *Gateway) serviceName(f *flow.Flow) string {
	if sp, ok := g.serviceProvider(f.SPID); ok && sp.Name != "" {
		return sp.Name
	}
	return f.App
}

// handleServiceProvider receives AuthnRequests (SAMLRequest) and logout
// requests (logoutRequest). Anything that cannot be trusted ends on an error
// page: nothing is ever posted to an ACS URL that was not verified and
// registered.
func (g *Gateway) handleServiceProvider(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, saml.MaxFormSize(0))
	if err := r.ParseForm(); err != nil {
		g.errorPage(w, r, http.StatusBadRequest, "error.request", err)
		return
	}
	if r.PostForm.Get(saml.FieldLogoutRequest) != "" {
		g.handleLogout(w, r)
		return
	}
	ctx := r.Context()
	req, relay, err := g.checkRequest(r)
	if errors.Is(err, errUnavailable) {
		g.log.ErrorContext(ctx, "gateway: request not checked", "error", err)
		g.errorPage(w, r, http.StatusServiceUnavailable, "error.unavailable", nil)
		return
	}
	if err != nil {
		g.log.WarnContext(ctx, "gateway: request refused", "error", err)
		g.errorPage(w, r, http.StatusBadRequest, "error.request", err)
		return
	}
	now := g.cfg.Now()
	id, err := flow.NewID()
	if err != nil {
		g.errorPage(w, r, http.StatusInternalServerError, "error.request", nil)
		return
	}
	key, hash, err := flow.NewBrowserKey()
	if err != nil {
		g.errorPage(w, r, http.StatusInternalServerError, "error.request", nil)
		return
	}
	f := &flow.Flow{
		ID: id, BrowserKeyHash: hash, SPID: req.SPID, App: req.ApplicationName, RequestID: req.ID,
		ACSURL: req.ACSURL, RelayState: strings.Clone(relay), MinLoA: req.LoA, Disabled: req.Disabled,
		NameIDFormat: req.NameIDFormat, Lang: pages.Lang(r), CreatedAt: now, ExpiresAt: now.Add(g.cfg.FlowTimeout),
		Data: map[string]string{},
	}
	for _, a := range req.Attributes {
		f.Attributes = append(f.Attributes, a.Name)
	}
	if err := g.flows.Create(ctx, f); err != nil {
		g.storeError(ctx, "flows", err)
		g.errorPage(w, r, http.StatusInternalServerError, "error.request", nil)
		return
	}
	// The flow cookie goes back with the chooser's navigation (same site), so
	// Lax is enough and keeps it from cross-site requests.
	http.SetCookie(w, &http.Cookie{Name: flowCookiePrefix + id, Value: key, Path: "/login/" + id,
		Expires: f.ExpiresAt, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
	g.log.InfoContext(ctx, "gateway: login started", "sp", req.SPID, "flow", id, "loa", req.LoA.String())
	g.observer().LoginStarted(ctx, observed(f))
	// A page answering this request (an armed persona's) has forms before the
	// browser has the cookie.
	r = r.WithContext(withNewLogin(ctx, id, key))
	if g.answerArmedPersona(w, r, f) {
		return
	}
	http.Redirect(w, r, "/login/"+id, http.StatusSeeOther)
}

// checkRequest applies the request rules in order, records the exchange with
// its checklist for inspection, and returns the verified request.
func (g *Gateway) checkRequest(r *http.Request) (*samlidp.ReceivedAuthnRequest, string, error) {
	cl := newChecklist()
	ex := Exchange{Time: g.cfg.Now(), Kind: "AuthnRequest", SPID: "(unreadable)"}
	defer func() {
		ex.Checks = cl.checks
		// Only requests a registered service signed are kept: anyone on the
		// network can post the rest, which are logged, without their bodies.
		if _, ok := g.serviceProvider(ex.SPID); ok && cl.verified() {
			g.inspect.record(ex)
			return
		}
		g.log.InfoContext(r.Context(), "gateway: request of an unauthenticated sender not kept for inspection",
			"claimed_sp", ex.SPID, "failed", cl.failed())
	}()
	raw, err := saml.DecodeMessage(r.PostForm.Get(saml.FieldSAMLRequest), 0)
	if err != nil {
		cl.fail("form", err)
		return nil, "", err
	}
	ex.SPID, ex.raw = spidOf(raw), raw
	relay := r.PostForm.Get(saml.FieldRelayState)
	if err := saml.CheckRelayState(relay); err != nil {
		cl.fail("relaystate", err)
		return nil, "", err
	}
	req, err := samlidp.ParseAuthnRequest(raw, g.spTrust, samlidp.RequestPolicy{Now: g.cfg.Now})
	if err != nil {
		cl.fail(ruleOf(err), err)
		return nil, "", err
	}
	cl.pass("loa")
	ex.SPID = req.SPID // verified: file it where it belongs, whatever a byte scan found
	sp, _ := g.serviceProvider(req.SPID)
	if !sp.allows(req.ACSURL) {
		err = fmt.Errorf("ACS URL %q is not registered for %s", req.ACSURL, req.SPID)
		cl.fail("acs", err)
		return nil, "", err
	}
	if req.Destination != g.endpoint {
		err = fmt.Errorf("Destination %q is not this gateway (%s)", req.Destination, g.endpoint)
		cl.fail("destination", err)
		return nil, "", err
	}
	if req.IsPassive {
		err = errors.New("passive authentication is not offered")
		cl.fail("passive", err)
		return nil, "", err
	}
	seen, err := g.flows.SeenRequest(r.Context(), req.SPID, req.ID, g.cfg.Now().Add(time.Hour))
	if err != nil {
		g.storeError(r.Context(), "flows", err)
		return nil, "", fmt.Errorf("%w: %w", errUnavailable, err)
	}
	if seen {
		err = fmt.Errorf("request %s was already received", req.ID)
	}
	if err != nil {
		cl.fail("replay", err)
		return nil, "", err
	}
	cl.pass("replay")
	return req, relay, nil
}

// flowOf returns the flow named in the request path, checked against the
// browser's cookie, not done and not expired.
func (g *Gateway) flowOf(r *http.Request) (*flow.Flow, error) {
	id := r.PathValue("login")
	if id == "" || len(id) > 64 {
		return nil, method.ErrNoLogin
	}
	f, err := g.flows.Get(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, method.ErrNoLogin
	}
	if err != nil {
		return nil, err
	}
	ck, err := r.Cookie(flowCookiePrefix + id)
	if err != nil || !f.CheckBrowserKey(ck.Value) {
		return nil, method.ErrNoLogin
	}
	if f.Done || !g.cfg.Now().Before(f.ExpiresAt) {
		return nil, method.ErrNoLogin
	}
	return f, nil
}

// render writes one of the gateway's pages, with the form token of the login
// the request names (data's "FormToken") for the page's forms.
func (g *Gateway) render(w http.ResponseWriter, r *http.Request, status int, page string, data map[string]any) {
	if data == nil {
		data = map[string]any{}
	}
	if _, ok := data["FormToken"]; !ok {
		if t := formTokenOf(r); t != "" {
			data["FormToken"] = t
		}
	}
	if page == "error" {
		g.wayBack(r, data)
	}
	pages.Render(w, r, status, page, data)
}

// host is the gateway as the methods see it (method.Host).
type host struct{ g *Gateway }

// Login implements method.Host.
func (h host) Login(r *http.Request) (*method.Login, error) {
	f, err := h.g.flowOf(r)
	if err != nil {
		return nil, err
	}
	return h.g.loginOf(f), nil
}

// loginOf is the method's view of a flow.
func (g *Gateway) loginOf(f *flow.Flow) *method.Login {
	name := g.serviceName(f)
	data := make(map[string]string, len(f.Data))
	for k, v := range f.Data {
		data[k] = v
	}
	return &method.Login{ID: f.ID, SPID: f.SPID, Requester: name, RequestID: f.RequestID, MinLoA: f.MinLoA,
		Lang: f.Lang, CreatedAt: f.CreatedAt, ExpiresAt: f.ExpiresAt, Data: data}
}

// Update implements method.Host: only the method's data changes.
func (h host) Update(ctx context.Context, loginID string, fn func(data map[string]string) error) error {
	err := h.g.flows.Update(ctx, loginID, func(f *flow.Flow) error {
		if f.Done {
			return method.ErrNoLogin
		}
		if f.Data == nil {
			f.Data = map[string]string{}
		}
		return fn(f.Data)
	})
	if errors.Is(err, store.ErrNotFound) {
		return method.ErrNoLogin
	}
	return err
}

// Complete implements method.Host.
func (h host) Complete(w http.ResponseWriter, r *http.Request, m method.Method, l *method.Login, c method.Citizen, loa saml.LoA) {
	f, ok := h.g.flowFor(w, r, l)
	if !ok {
		return
	}
	f.Method = m.ID()
	h.g.complete(w, r, f, c, loa)
}

// Fail implements method.Host.
func (h host) Fail(w http.ResponseWriter, r *http.Request, l *method.Login, st *saml.StatusError) {
	if f, ok := h.g.flowFor(w, r, l); ok {
		h.g.fail(w, r, f, st)
	}
}

// flowFor reads the flow behind a method's Login, answering the browser when
// it cannot be continued.
func (g *Gateway) flowFor(w http.ResponseWriter, r *http.Request, l *method.Login) (*flow.Flow, bool) {
	if l == nil {
		g.errorPage(w, r, http.StatusNotFound, "error.flow", nil)
		return nil, false
	}
	f, err := g.flows.Get(r.Context(), l.ID)
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && f.Done):
		g.errorPage(w, r, http.StatusNotFound, "error.flow", nil)
		return nil, false
	case err != nil:
		g.log.ErrorContext(r.Context(), "gateway: reading a login", "flow", l.ID, "error", err)
		g.storeError(r.Context(), "flows", err)
		g.errorPage(w, r, http.StatusServiceUnavailable, "error.request", nil)
		return nil, false
	}
	return f, true
}

// Render implements method.Host.
func (h host) Render(w http.ResponseWriter, r *http.Request, status int, page string, data map[string]any) {
	h.g.methodAnswered(r, status)
	h.g.render(w, r, status, page, data)
}

// FormToken implements method.Host.
func (h host) FormToken(r *http.Request) string { return formTokenOf(r) }

// Page implements method.Host.
func (h host) Page(w http.ResponseWriter, r *http.Request, status int, title string, body template.HTML) {
	pages.Layout(w, r, status, title, body)
}

// Citizens implements method.Host.
func (h host) Citizens() method.Citizens { return citizenLookup{h.g.citizens} }

// Notifier implements method.Host.
func (h host) Notifier() method.Notifier { return h.g.notifier }

// Now implements method.Host.
func (h host) Now() time.Time { return h.g.cfg.Now() }

// Client implements method.Host.
func (h host) Client(r *http.Request) string { return h.g.cfg.ClientAddress(r) }

// Logger implements method.Host.
func (h host) Logger() *slog.Logger { return h.g.log }

type chooserEntry struct {
	ID        saml.Method
	Key, Href string
	Available bool
}

func (g *Gateway) handleChooser(w http.ResponseWriter, r *http.Request) {
	f, err := g.flowOf(r)
	if err != nil {
		g.errorPage(w, r, http.StatusNotFound, "error.flow", nil)
		return
	}
	var entries []chooserEntry
	for _, m := range g.offered(f) {
		entries = append(entries, chooserEntry{
			ID: m.ID(), Key: "method." + string(m.ID()),
			Href:      "/login/" + f.ID + "/" + m.Slug() + "/",
			Available: g.available[m.ID()],
		})
	}
	name := g.serviceName(f)
	g.render(w, r, http.StatusOK, "chooser", map[string]any{
		"Requester": name, "Methods": entries, "CancelURL": "/login/" + f.ID + "/cancel",
	})
}

// offered lists the methods the chooser shows for a flow: not disabled by the
// request and able to reach its level of assurance.
func (g *Gateway) offered(f *flow.Flow) []method.Method {
	var out []method.Method
	for _, m := range g.methods {
		disabled := false
		for _, d := range f.Disabled {
			disabled = disabled || d == m.ID()
		}
		if !disabled && m.MaxLoA() >= f.MinLoA {
			out = append(out, m)
		}
	}
	return out
}

func (g *Gateway) handleCancel(w http.ResponseWriter, r *http.Request) {
	f, err := g.flowOf(r)
	if err != nil {
		g.errorPage(w, r, http.StatusNotFound, "error.flow", nil)
		return
	}
	g.fail(w, r, f, &saml.StatusError{Code: saml.StatusRequester, SubCode: saml.StatusRequestDenied, Message: "Cancelado por el usuario"})
}

// complete ends a flow with the citizen authenticated at loa.
func (g *Gateway) complete(w http.ResponseWriter, r *http.Request, f *flow.Flow, c Citizen, loa saml.LoA) {
	if loa < f.MinLoA {
		g.refuseLevel(w, r, f, c)
		return
	}
	g.answer(w, r, f, &c, loa, nil)
}

// refuseLevel ends a flow whose citizen authenticated below the level the
// service asked for. The service receives NoAuthnContext, as from the real
// gateway; but the citizen, who did nothing wrong and cannot fix it by
// trying again, first reads why (a basic registration, and where to get an
// advanced one) on a page of the gateway, whose button posts the response
// to the service.
func (g *Gateway) refuseLevel(w http.ResponseWriter, r *http.Request, f *flow.Flow, c Citizen) {
	basic := c.Level == LevelBasic
	msg := "Nivel de seguridad insuficiente"
	if basic {
		msg += ": registro básico; el servicio requiere un registro avanzado"
	}
	st := &saml.StatusError{Code: saml.StatusResponder, SubCode: saml.StatusNoAuthnContext, Message: msg}
	g.answerWith(w, r, f, nil, 0, st, func(form saml.PostForm) {
		g.render(w, r, http.StatusOK, "loa_refused", map[string]any{
			"Requester": g.serviceName(f), "Basic": basic, "FormOrigin": form.Action,
			"Post": map[string]string{"Action": form.Action, "Field": form.Field,
				"Value": base64.StdEncoding.EncodeToString(form.Message), "RelayState": form.RelayState},
		})
	})
}

// fail ends a flow with an error status.
func (g *Gateway) fail(w http.ResponseWriter, r *http.Request, f *flow.Flow, st *saml.StatusError) {
	g.answer(w, r, f, nil, 0, st)
}

// answer marks the flow done (exactly once) and posts the signed Response.
func (g *Gateway) answer(w http.ResponseWriter, r *http.Request, f *flow.Flow, c *Citizen, loa saml.LoA, st *saml.StatusError) {
	g.answerWith(w, r, f, c, loa, st, nil)
}

// answerWith is answer, with the signed Response's form handed to page,
// when not nil, instead of posting itself.
func (g *Gateway) answerWith(w http.ResponseWriter, r *http.Request, f *flow.Flow, c *Citizen, loa saml.LoA, st *saml.StatusError, page func(saml.PostForm)) {
	ctx := r.Context()
	err := g.flows.Update(ctx, f.ID, func(cur *flow.Flow) error {
		if cur.Done {
			return method.ErrNoLogin
		}
		cur.Done = true
		if f.Method != "" {
			cur.Method = f.Method
		}
		return nil
	})
	switch {
	case errors.Is(err, method.ErrNoLogin), errors.Is(err, store.ErrNotFound):
		g.errorPage(w, r, http.StatusConflict, "error.flow", nil)
		return
	case err != nil:
		// The storage's failure, never answered as the login's end.
		g.log.ErrorContext(ctx, "gateway: finishing a login", "flow", f.ID, "error", err)
		g.storeError(ctx, "flows", err)
		g.errorPage(w, r, http.StatusServiceUnavailable, "error.unavailable", nil)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: flowCookiePrefix + f.ID, Path: "/login/" + f.ID, MaxAge: -1, HttpOnly: true})
	xml, err := g.buildResponse(f, c, loa, st)
	if err != nil {
		g.log.ErrorContext(ctx, "gateway: cannot build response", "flow", f.ID, "error", err)
		g.errorPage(w, r, http.StatusInternalServerError, "error.request", nil)
		g.loginFinished(r, f, st, false)
		return
	}
	form := saml.PostForm{Action: f.ACSURL, Field: saml.FieldSAMLResponse, Message: xml, RelayState: f.RelayState}
	form = g.applyArmedFault(ctx, f, form)
	g.inspect.record(Exchange{Time: g.cfg.Now(), SPID: f.SPID, Kind: "Response", FlowID: f.ID, raw: form.Message})
	if st != nil {
		g.log.InfoContext(ctx, "gateway: login failed", "sp", f.SPID, "flow", f.ID, "status", st.SubCode)
	} else {
		g.log.InfoContext(ctx, "gateway: login completed", "sp", f.SPID, "flow", f.ID, "person", c.Masked(), "loa", loa.String())
	}
	// Observed before the page leaves: once the browser has it, the login
	// is over for whoever watches.
	g.loginFinished(r, f, st, true)
	if page != nil {
		page(form)
		return
	}
	form.ServeHTTP(w, r)
}

func (g *Gateway) handleCertificates(w http.ResponseWriter, r *http.Request) {
	var pub []saml.PublishedCertificate
	for i, c := range g.TrustedCertificates() {
		state := "active"
		if i > 0 {
			state = "next"
		}
		pub = append(pub, saml.PublishedCertificate{Use: saml.UseSigning, KeyName: c.Subject.CommonName, State: state, Certificate: c})
	}
	out, err := samlidp.MarshalCertificatesDocument(pub)
	if err != nil {
		http.Error(w, "cannot publish certificates", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	_, _ = w.Write(out)
}

// handleLogout answers a signed LogoutRequest with a signed LogoutResponse posted
// in logoutResponse to the request's Issuer, which must be a registered ACS URL
// of that service.
func (g *Gateway) handleLogout(w http.ResponseWriter, r *http.Request) {
	raw, err := saml.DecodeMessage(r.PostForm.Get(saml.FieldLogoutRequest), 0)
	if err != nil {
		g.errorPage(w, r, http.StatusBadRequest, "error.request", err)
		return
	}
	req, err := samlidp.ParseLogoutRequest(raw, g.spTrust, samlidp.RequestPolicy{Now: g.cfg.Now})
	if err != nil {
		g.errorPage(w, r, http.StatusBadRequest, "error.request", err)
		return
	}
	sp, _ := g.serviceProvider(req.SPID)
	if !sp.allows(req.ReturnURL) {
		g.errorPage(w, r, http.StatusBadRequest, "error.request", fmt.Errorf("return URL %q is not registered for %s", req.ReturnURL, req.SPID))
		return
	}
	seen, err := g.flows.SeenRequest(r.Context(), req.SPID, req.ID, g.cfg.Now().Add(time.Hour))
	if err != nil {
		g.log.ErrorContext(r.Context(), "gateway: logout request not checked", "error", err)
		g.storeError(r.Context(), "flows", err)
		g.errorPage(w, r, http.StatusServiceUnavailable, "error.unavailable", nil)
		return
	}
	if seen {
		g.errorPage(w, r, http.StatusBadRequest, "error.request", errors.New("logout request already received"))
		return
	}
	doc, err := samlidp.BuildLogoutResponse(samlidp.LogoutResponseParams{InResponseTo: req.ID, Destination: req.ReturnURL, IssueInstant: g.cfg.Now()})
	if err == nil {
		var out []byte
		if out, err = samlidp.SignDocument(doc, g.signer); err == nil {
			saml.PostForm{Action: req.ReturnURL, Field: saml.FieldLogoutResponse, Message: out}.ServeHTTP(w, r)
			return
		}
	}
	g.errorPage(w, r, http.StatusInternalServerError, "error.request", nil)
}
