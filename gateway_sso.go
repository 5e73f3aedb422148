package clave

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/clave-go/clave/internal/flow"
	"github.com/clave-go/clave/internal/pages"
	"github.com/clave-go/clave/internal/registry"
	"github.com/clave-go/clave/internal/store"
	"github.com/clave-go/clave/saml"
)

const flowCookiePrefix = "clave_gw_"

// ErrFlow is returned by the gateway's Host.Flow when a login at the gateway
// cannot be continued: unknown, finished, expired, or started in another browser.
var ErrFlow = errors.New("clave: no such login in progress")

func (g *Gateway) routes() {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+saml.ServiceProviderPath, g.handleServiceProvider)
	mux.HandleFunc("GET "+saml.CertificatesPath, g.handleCertificates)
	mux.HandleFunc("GET /login/{flow}", g.handleChooser)
	mux.HandleFunc("POST /login/{flow}/cancel", g.handleCancel)
	g.available = map[saml.Method]bool{}
	for _, m := range g.methods {
		if h := m.Handler(g); h != nil {
			mux.Handle("/login/{flow}/"+m.Slug()+"/", h)
			g.available[m.ID()] = true
		}
	}
	g.apiRoutes(mux)
	g.mux = mux
}

func (g *Gateway) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string, err error) {
	detail := ""
	if err != nil {
		// The technical reason helps whoever integrates a service; it never
		// carries personal data (validation errors name fields, not values).
		detail = err.Error()
	}
	pages.Render(w, r, status, "error", map[string]any{"Message": msg, "Detail": detail})
}

// handleServiceProvider receives AuthnRequests (SAMLRequest) and logout
// requests (logoutRequest). Anything that cannot be trusted ends on an error
// page: nothing is ever posted to an ACS URL that was not verified and
// registered.
func (g *Gateway) handleServiceProvider(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, saml.DefaultMaxMessageSize*4/3+8192)
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
		ACSURL: req.ACSURL, RelayState: relay, MinLoA: req.LoA, Disabled: req.Disabled,
		NameIDFormat: req.NameIDFormat, Lang: pages.Lang(r), CreatedAt: now, ExpiresAt: now.Add(g.cfg.FlowTimeout),
		Data: map[string]string{},
	}
	for _, a := range req.Attributes {
		f.Attributes = append(f.Attributes, a.Name)
	}
	if err := g.flows.Create(ctx, f); err != nil {
		g.errorPage(w, r, http.StatusInternalServerError, "error.request", nil)
		return
	}
	// The flow cookie goes back with the chooser's navigation (same site), so
	// Lax is enough and keeps it from cross-site requests.
	http.SetCookie(w, &http.Cookie{Name: flowCookiePrefix + id, Value: key, Path: "/login/" + id,
		Expires: f.ExpiresAt, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
	g.log.InfoContext(ctx, "gateway: login started", "sp", req.SPID, "flow", id, "loa", req.LoA.String())
	if g.answerArmedPersona(w, r, f) {
		return
	}
	http.Redirect(w, r, "/login/"+id, http.StatusSeeOther)
}

// checkRequest applies the request rules in order, records the exchange with
// its checklist for inspection, and returns the verified request.
func (g *Gateway) checkRequest(r *http.Request) (*saml.ReceivedAuthnRequest, string, error) {
	cl := newChecklist()
	ex := Exchange{Time: g.cfg.Now(), Kind: "AuthnRequest", SPID: "(unreadable)"}
	defer func() {
		ex.Checks = cl.checks
		g.inspect.record(ex)
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
	req, err := saml.ParseAuthnRequest(raw, g.spTrust, saml.RequestPolicy{Now: g.cfg.Now})
	if err != nil {
		cl.fail(ruleOf(err), err)
		return nil, "", err
	}
	cl.pass("loa")
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
	if err == nil && seen {
		err = fmt.Errorf("request %s was already received", req.ID)
	}
	if err != nil {
		cl.fail("replay", err)
		return nil, "", err
	}
	cl.pass("replay")
	return req, relay, nil
}

// Flow implements flow.Host.
func (g *Gateway) Flow(r *http.Request) (*flow.Flow, error) {
	id := r.PathValue("flow")
	if id == "" || len(id) > 64 {
		return nil, ErrFlow
	}
	f, err := g.flows.Get(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrFlow
	}
	if err != nil {
		return nil, err
	}
	ck, err := r.Cookie(flowCookiePrefix + id)
	if err != nil || !f.CheckBrowserKey(ck.Value) {
		return nil, ErrFlow
	}
	if f.Done || !g.cfg.Now().Before(f.ExpiresAt) {
		return nil, ErrFlow
	}
	return f, nil
}

// Update implements flow.Host.
func (g *Gateway) Update(ctx context.Context, id string, fn func(*flow.Flow) error) error {
	return g.flows.Update(ctx, id, fn)
}

// Render implements flow.Host.
func (g *Gateway) Render(w http.ResponseWriter, r *http.Request, status int, page string, data map[string]any) {
	pages.Render(w, r, status, page, data)
}

// Now implements flow.Host.
func (g *Gateway) Now() time.Time { return g.cfg.Now() }

type chooserEntry struct {
	ID        saml.Method
	Key, Href string
	Available bool
}

func (g *Gateway) handleChooser(w http.ResponseWriter, r *http.Request) {
	f, err := g.Flow(r)
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
	name := f.App
	if sp, ok := g.serviceProvider(f.SPID); ok && sp.Name != "" {
		name = sp.Name
	}
	pages.Render(w, r, http.StatusOK, "chooser", map[string]any{
		"Requester": name, "Methods": entries, "CancelURL": "/login/" + f.ID + "/cancel",
	})
}

// offered lists the methods the chooser shows for a flow: not disabled by the
// request and able to reach its level of assurance.
func (g *Gateway) offered(f *flow.Flow) []flow.Method {
	var out []flow.Method
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
	f, err := g.Flow(r)
	if err != nil {
		g.errorPage(w, r, http.StatusNotFound, "error.flow", nil)
		return
	}
	g.Fail(w, r, f, &saml.StatusError{Code: saml.StatusRequester, SubCode: saml.StatusRequestDenied, Message: "Cancelado por el usuario"})
}

// Complete implements flow.Host: the citizen is authenticated.
func (g *Gateway) Complete(w http.ResponseWriter, r *http.Request, f *flow.Flow, c registry.Citizen, loa saml.LoA) {
	if loa < f.MinLoA {
		g.Fail(w, r, f, &saml.StatusError{Code: saml.StatusResponder, SubCode: saml.StatusNoAuthnContext, Message: "Nivel de seguridad insuficiente"})
		return
	}
	g.answer(w, r, f, &c, loa, nil)
}

// Fail implements flow.Host.
func (g *Gateway) Fail(w http.ResponseWriter, r *http.Request, f *flow.Flow, st *saml.StatusError) {
	g.answer(w, r, f, nil, 0, st)
}

// answer marks the flow done (exactly once) and posts the signed Response.
func (g *Gateway) answer(w http.ResponseWriter, r *http.Request, f *flow.Flow, c *registry.Citizen, loa saml.LoA, st *saml.StatusError) {
	ctx := r.Context()
	err := g.flows.Update(ctx, f.ID, func(cur *flow.Flow) error {
		if cur.Done {
			return ErrFlow
		}
		cur.Done = true
		return nil
	})
	if err != nil {
		g.errorPage(w, r, http.StatusConflict, "error.flow", nil)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: flowCookiePrefix + f.ID, Path: "/login/" + f.ID, MaxAge: -1, HttpOnly: true})
	xml, err := g.buildResponse(f, c, loa, st)
	if err != nil {
		g.log.ErrorContext(ctx, "gateway: cannot build response", "flow", f.ID, "error", err)
		g.errorPage(w, r, http.StatusInternalServerError, "error.request", nil)
		return
	}
	form := saml.PostForm{Action: f.ACSURL, Field: saml.FieldSAMLResponse, Message: xml, RelayState: f.RelayState}
	form = g.applyArmedFault(ctx, f, form)
	g.inspect.record(Exchange{Time: g.cfg.Now(), SPID: f.SPID, Kind: "Response", FlowID: f.ID, raw: form.Message})
	if st != nil {
		g.log.InfoContext(ctx, "gateway: login failed", "sp", f.SPID, "flow", f.ID, "status", st.SubCode)
	} else {
		g.log.InfoContext(ctx, "gateway: login completed", "sp", f.SPID, "flow", f.ID, "person", c.ID, "loa", loa.String())
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
	out, err := saml.MarshalCertificatesDocument(pub)
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
	req, err := saml.ParseLogoutRequest(raw, g.spTrust, saml.RequestPolicy{Now: g.cfg.Now})
	if err != nil {
		g.errorPage(w, r, http.StatusBadRequest, "error.request", err)
		return
	}
	sp, _ := g.serviceProvider(req.SPID)
	if !sp.allows(req.ReturnURL) {
		g.errorPage(w, r, http.StatusBadRequest, "error.request", fmt.Errorf("return URL %q is not registered for %s", req.ReturnURL, req.SPID))
		return
	}
	if seen, err := g.flows.SeenRequest(r.Context(), req.SPID, req.ID, g.cfg.Now().Add(time.Hour)); err != nil || seen {
		g.errorPage(w, r, http.StatusBadRequest, "error.request", errors.New("logout request already received"))
		return
	}
	doc, err := saml.BuildLogoutResponse(saml.LogoutResponseParams{InResponseTo: req.ID, Destination: req.ReturnURL, IssueInstant: g.cfg.Now()})
	if err == nil {
		var out []byte
		if out, err = saml.SignDocument(doc, g.signer); err == nil {
			saml.PostForm{Action: req.ReturnURL, Field: saml.FieldLogoutResponse, Message: out}.ServeHTTP(w, r)
			return
		}
	}
	g.errorPage(w, r, http.StatusInternalServerError, "error.request", nil)
}
