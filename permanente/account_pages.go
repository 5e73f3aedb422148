package permanente

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/clave-go/clave/gateway/method"
	"github.com/clave-go/clave/internal/dni"
	"github.com/clave-go/clave/internal/pages"
	"github.com/clave-go/clave/internal/seal"
)

// Cookies of the account pages, both limited to AccountPath.
const (
	// csrfCookie holds a random value; the forms carry an HMAC of it.
	csrfCookie = "clave_pm"
	// stateCookie holds the sealed step of an activation or reset.
	stateCookie = "clave_pm_state"
)

// stateLifetime bounds a sealed step: an SMS code's validity and a
// ticket's, with room to type. The Service's own expiries decide; this only
// drops stale cookies.
const stateLifetime = 30 * time.Minute

// AccountConfig configures [AccountPages].
type AccountConfig struct {
	// Service holds the accounts (required).
	Service *Service
	// Citizens is the gateway's registry (required): the email compared
	// at activation, the phone that receives the SMS codes, and the names
	// the password policy keeps out of passwords.
	Citizens method.Citizens
	// Notifier sends the SMS codes (required).
	Notifier method.Notifier
	// Now is the clock of the sealed steps; default the Service's.
	Now func() time.Time
	// Logger receives the pages' events, never a secret or a full
	// identifier; default slog.Default.
	Logger *slog.Logger
	// Client names the client of a request for Limits; default the host
	// part of RemoteAddr. Behind a reverse proxy it must read the address
	// the proxy forwards, as the gateway's does.
	Client func(r *http.Request) string
	// Identify identifies citizens with another method for a new
	// activation code (GET /permanente/regenerate); nil leaves that
	// service out (the app still offers it).
	Identify Identifier
	// Limits bound what one client, and everyone, may try on these pages.
	Limits Limits
}

// AccountPages serves the Cl@ve Permanente account services, outside any
// login, under [AccountPath]:
//
//	GET  /permanente/                     the services
//	GET  /permanente/activate             activation: DNI/NIE, email and activation code,
//	POST /permanente/activate/start       then the SMS code (…/sms), then the password
//	POST /permanente/activate/sms         (…/password); …/restart starts again
//	POST /permanente/activate/password
//	POST /permanente/activate/restart
//	GET  /permanente/reset                forgotten password: DNI/NIE and the kept
//	POST /permanente/reset/…              activation code, SMS code, new password
//	GET, POST /permanente/change          change: DNI/NIE, current password, new one twice
//	GET, POST /permanente/delete          unsubscribe: DNI/NIE, password, confirmation
//	GET  /permanente/regenerate           a new activation code, after identifying with
//	POST /permanente/regenerate/start     another method (AccountConfig.Identify): the
//	POST /permanente/regenerate/verify    DNI/NIE and contrast datum, then its secret
//
// Every form carries an anti-CSRF token (double submit): a random cookie,
// HttpOnly, SameSite=Strict and limited to AccountPath, and a form field
// holding an HMAC of it under a key derived from the Service's secret, so
// that a page that can set cookies on the gateway's host (another port of
// it) still cannot forge the field. A post without both, matching, is
// refused with 403.
//
// The step of an activation or reset (whose citizen, and the ticket of the
// password step) travels in a cookie sealed (AES-GCM) under another key
// derived from the Service's secret, rather than in memory: it survives a
// restart and reaches any replica, like a login's data, costs no memory an
// attacker could fill, and expires with the seal. Replaying an old cookie
// gains nothing: the store's flow is what counts, and its codes and tickets
// are single use.
//
// Identifiers that are unknown, inactive, without Cl@ve Permanente, or with
// a wrong email get the answers of a wrong activation code or password,
// blocked after as many (as the login pages do).
type AccountPages struct {
	svc      *Service
	citizens method.Citizens
	notifier method.Notifier
	now      func() time.Time
	log      *slog.Logger
	client   func(r *http.Request) string
	guard    *guard
	identify Identifier
	state    *seal.Sealer
	csrfKey  []byte
	mux      *http.ServeMux
}

// NewAccountPages builds the account services' pages.
func NewAccountPages(cfg AccountConfig) (*AccountPages, error) {
	if cfg.Service == nil || cfg.Citizens == nil || cfg.Notifier == nil {
		return nil, errors.New("permanente: account pages need a Service, Citizens and a Notifier")
	}
	if cfg.Now == nil {
		cfg.Now = cfg.Service.cfg.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Client == nil {
		cfg.Client = remoteHost
	}
	csrfKey, err := hkdf.Key(sha256.New, cfg.Service.key, nil, "clave permanente v1 account csrf", sha256.Size)
	if err != nil {
		return nil, fmt.Errorf("permanente: deriving the form key: %w", err)
	}
	p := &AccountPages{
		svc: cfg.Service, citizens: cfg.Citizens, notifier: cfg.Notifier, now: cfg.Now, log: cfg.Logger,
		client: cfg.Client, guard: newGuard(cfg.Limits, cfg.Now, cfg.Logger), identify: cfg.Identify,
		state: mustSealer(cfg.Service.key, "permanente account step"), csrfKey: csrfKey,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /permanente/{$}", p.home)
	for _, f := range []accountFlow{activation, reset} {
		base := AccountPath + f.slug
		mux.HandleFunc("GET "+base, func(w http.ResponseWriter, r *http.Request) { p.flowPage(f, w, r) })
		mux.HandleFunc("POST "+base+"/start", p.form(func(w http.ResponseWriter, r *http.Request) { p.start(f, w, r) }))
		mux.HandleFunc("POST "+base+"/sms", p.form(func(w http.ResponseWriter, r *http.Request) { p.sms(f, w, r) }))
		mux.HandleFunc("POST "+base+"/password", p.form(func(w http.ResponseWriter, r *http.Request) { p.password(f, w, r) }))
		mux.HandleFunc("POST "+base+"/restart", p.form(func(w http.ResponseWriter, r *http.Request) {
			p.clearState(w, r)
			http.Redirect(w, r, base, http.StatusSeeOther)
		}))
		// A page answering a post carries the language switch, a link to
		// its own address: it leads back to the flow's current step.
		mux.HandleFunc("GET "+base+"/{step}", func(w http.ResponseWriter, r *http.Request) {
			pages.Back(w, r, base)
		})
	}
	mux.HandleFunc("GET /permanente/change", func(w http.ResponseWriter, r *http.Request) {
		p.render(w, r, http.StatusOK, "permanente_change", nil)
	})
	mux.HandleFunc("POST /permanente/change", p.form(p.change))
	mux.HandleFunc("GET /permanente/delete", func(w http.ResponseWriter, r *http.Request) {
		p.render(w, r, http.StatusOK, "permanente_delete", nil)
	})
	mux.HandleFunc("POST /permanente/delete", p.form(p.deleteUser))
	if p.identify != nil {
		mux.HandleFunc("GET /permanente/regenerate", p.regenerate)
		mux.HandleFunc("POST /permanente/regenerate/start", p.form(p.regenerateStart))
		mux.HandleFunc("POST /permanente/regenerate/verify", p.form(p.regenerateVerify))
	}
	p.mux = mux
	return p, nil
}

// ServeHTTP implements http.Handler.
func (p *AccountPages) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.mux.ServeHTTP(w, r) }

// accountFlow is activation or reset: the same three steps.
type accountFlow struct {
	purpose Purpose
	slug    string
}

var (
	activation = accountFlow{purpose: PurposeActivation, slug: "activate"}
	reset      = accountFlow{purpose: PurposeReset, slug: "reset"}
)

func (f accountFlow) base() string { return AccountPath + f.slug + "/" }

// remoteHost is the host part of r.RemoteAddr.
func remoteHost(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// render writes a page with the form token of the browser's cookie,
// setting a new cookie when it has none.
func (p *AccountPages) render(w http.ResponseWriter, r *http.Request, status int, page string, data map[string]any) {
	if data == nil {
		data = map[string]any{}
	}
	data["FormToken"] = p.formToken(w, r)
	data["HomeURL"] = AccountPath
	pages.Render(w, r, status, page, data)
}

// formToken is the form field matching the browser's clave_pm cookie,
// which it sets first when missing or malformed.
func (p *AccountPages) formToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && validCSRFCookie(c.Value) {
		return p.tokenFor(c.Value)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "" // the forms then fail closed
	}
	v := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: AccountPath, HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	return p.tokenFor(v)
}

// validCSRFCookie accepts what formToken sets: 32 bytes in unpadded
// base64url.
func validCSRFCookie(v string) bool {
	b, err := base64.RawURLEncoding.DecodeString(v)
	return err == nil && len(b) == 32
}

func (p *AccountPages) tokenFor(cookie string) string {
	m := hmac.New(sha256.New, p.csrfKey)
	m.Write([]byte(cookie))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// form bounds and parses a posted form and checks its token against the
// cookie before next runs; 403 otherwise.
func (p *AccountPages) form(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			p.render(w, r, http.StatusBadRequest, "error", map[string]any{"Message": "error.form"})
			return
		}
		c, err := r.Cookie(csrfCookie)
		field := r.PostForm.Get("csrf")
		if err != nil || !validCSRFCookie(c.Value) || field == "" ||
			subtle.ConstantTimeCompare([]byte(field), []byte(p.tokenFor(c.Value))) != 1 {
			p.log.WarnContext(r.Context(), "permanente: account form without a valid token refused")
			p.render(w, r, http.StatusForbidden, "error", map[string]any{"Message": "error.form"})
			return
		}
		next(w, r)
	}
}

func (p *AccountPages) unavailable(w http.ResponseWriter, r *http.Request, what string, err error) {
	if !errors.Is(err, errUnavailable) {
		p.log.ErrorContext(r.Context(), "permanente: "+what, "error", err)
	}
	p.render(w, r, http.StatusServiceUnavailable, "error", map[string]any{"Message": "error.unavailable"})
}

// accountState is the step of an activation or reset, sealed in
// stateCookie.
type accountState struct {
	Purpose Purpose `json:"p"`
	Citizen string  `json:"c"`
	Step    Step    `json:"s"`
	Ticket  string  `json:"t,omitempty"`
}

// readState opens the browser's step of flow f, if it has one.
func (p *AccountPages) readState(r *http.Request, f accountFlow) (accountState, bool) {
	c, err := r.Cookie(stateCookie)
	if err != nil {
		return accountState{}, false
	}
	var st accountState
	if err := p.state.Open(stateCookie, c.Value, p.now(), &st); err != nil || st.Purpose != f.purpose {
		return accountState{}, false
	}
	return st, true
}

func (p *AccountPages) writeState(w http.ResponseWriter, r *http.Request, st accountState) error {
	exp := p.now().Add(stateLifetime)
	v, err := p.state.Seal(stateCookie, st, exp)
	if err != nil {
		return fmt.Errorf("permanente: sealing the step: %w", err)
	}
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: v, Path: AccountPath, MaxAge: int(stateLifetime.Seconds()),
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	return nil
}

func (p *AccountPages) clearState(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Path: AccountPath, MaxAge: -1, HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

// home lists the services.
func (p *AccountPages) home(w http.ResponseWriter, r *http.Request) {
	p.render(w, r, http.StatusOK, "permanente_home", map[string]any{"Regenerate": p.identify != nil})
}

// flowPage shows the current step of flow f.
func (p *AccountPages) flowPage(f accountFlow, w http.ResponseWriter, r *http.Request) {
	st, ok := p.readState(r, f)
	switch {
	case ok && st.Step == StepSMS:
		p.renderCode(f, w, r, st, http.StatusOK, "")
	case ok && st.Step == StepPassword:
		p.renderNewPassword(f, w, r, http.StatusOK, "", nil)
	default:
		p.renderStart(f, w, r, http.StatusOK, "", "")
	}
}

func (p *AccountPages) renderStart(f accountFlow, w http.ResponseWriter, r *http.Request, status int, errKey, doc string) {
	p.render(w, r, status, "permanente_start", map[string]any{
		"Base": f.base(), "Flow": f.slug, "Activation": f.purpose == PurposeActivation, "Error": errKey, "Document": doc,
	})
}

func (p *AccountPages) renderCode(f accountFlow, w http.ResponseWriter, r *http.Request, st accountState, status int, errKey string) {
	phone := ""
	if c, err := p.citizens.Citizen(r.Context(), st.Citizen); err == nil {
		phone = maskPhone(c.Phone)
	}
	p.render(w, r, status, "permanente_code", map[string]any{
		"Base": f.base(), "Flow": f.slug, "Error": errKey, "Phone": phone, "Minutes": int(p.svc.cfg.SMSValidity.Minutes()),
	})
}

func (p *AccountPages) renderNewPassword(f accountFlow, w http.ResponseWriter, r *http.Request, status int, errKey string, rules []string) {
	p.render(w, r, status, "permanente_newpassword", map[string]any{
		"Base": f.base(), "Flow": f.slug, "Error": errKey, "Rules": rules,
	})
}

func (p *AccountPages) renderDone(w http.ResponseWriter, r *http.Request, message string) {
	p.render(w, r, http.StatusOK, "permanente_done", map[string]any{"Message": message})
}

// contrast reports whether the citizen can take an activation code on the
// pages: registered at the gateway, active, with Cl@ve Permanente, and for
// an activation the email the registry holds, compared without regard to
// case or surrounding spaces and in constant time.
func (p *AccountPages) contrast(ctx context.Context, f accountFlow, id, email string) (method.Citizen, bool, error) {
	c, err := p.citizens.Citizen(ctx, id)
	known := err == nil && c.Status == method.StatusActive
	if err != nil && !errors.Is(err, method.ErrUnknownCitizen) {
		return method.Citizen{}, false, storage(ctx, p.log, "reading the registry", err)
	}
	if f.purpose == PurposeActivation {
		known = sameEmail(c.Email, email) && known
	}
	// Read for every identifier alike, so that the work does not tell them
	// apart.
	_, err = p.svc.Status(ctx, id)
	switch {
	case errors.Is(err, ErrNotRegistered):
		known = false
	case err != nil:
		return method.Citizen{}, false, storage(ctx, p.log, "reading the account", err)
	}
	return c, known, nil
}

// sameEmail compares a registered email with a typed one, ignoring case
// and surrounding spaces, in time that depends on neither (both are hashed
// first). An empty registered email matches nothing.
func sameEmail(registered, typed string) bool {
	norm := func(s string) [sha256.Size]byte { return sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(s)))) }
	a, b := norm(registered), norm(typed)
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1 && strings.TrimSpace(registered) != ""
}

// start checks the activation code (and, for an activation, the email) and
// sends the SMS code.
func (p *AccountPages) start(f accountFlow, w http.ResponseWriter, r *http.Request) {
	id, err := dni.Parse(r.PostForm.Get("document"))
	if err != nil || (id.Kind() != dni.KindDNI && id.Kind() != dni.KindNIE) {
		p.renderStart(f, w, r, http.StatusBadRequest, "permanente.baddocument", "")
		return
	}
	ctx := r.Context()
	if !p.guard.allow(ctx, p.client(r), id.String()) {
		p.renderStart(f, w, r, http.StatusTooManyRequests, "permanente.toomany", id.String())
		return
	}
	typed := r.PostForm.Get("code")
	c, known, err := p.contrast(ctx, f, id.String(), r.PostForm.Get("email"))
	var code Code
	switch {
	case err != nil:
	case !known:
		err = p.svc.strangers.activation(id.String(), typed)
	case f.purpose == PurposeActivation:
		code, err = p.svc.StartActivation(ctx, id.String(), typed)
	default:
		code, err = p.svc.StartReset(ctx, id.String(), typed)
	}
	switch err := storage(ctx, p.log, "checking the activation code", err); {
	case err == nil:
	case errors.Is(err, ErrWrongActivationCode):
		p.log.InfoContext(ctx, "permanente: wrong activation code or contrast data", "flow", f.slug, "person", id)
		p.renderStart(f, w, r, http.StatusUnauthorized, "permanente.code.wrong", id.String())
		return
	case errors.Is(err, ErrActivationBlocked):
		p.renderStart(f, w, r, http.StatusForbidden, "permanente.code.blocked", id.String())
		return
	case errors.Is(err, ErrAlreadyActivated):
		p.renderStart(f, w, r, http.StatusConflict, "permanente.activate.already", id.String())
		return
	case errors.Is(err, ErrNotActivated):
		p.renderStart(f, w, r, http.StatusConflict, "permanente.reset.notactive", id.String())
		return
	default:
		p.unavailable(w, r, "checking the activation code", err)
		return
	}
	if !p.guard.allowSMS(ctx, c) {
		p.renderStart(f, w, r, http.StatusTooManyRequests, "permanente.sms.sendlimit", id.String())
		return
	}
	if err := p.writeState(w, r, accountState{Purpose: f.purpose, Citizen: c.ID, Step: StepSMS}); err != nil {
		p.unavailable(w, r, "saving the step", err)
		return
	}
	key := "sms.permanente.activate"
	if f.purpose == PurposeReset {
		key = "sms.permanente.reset"
	}
	text := pages.Textf(pages.Lang(r), key, code.Value, code.ExpiresAt.In(madrid).Format("15:04"))
	sendSMS(ctx, p.notifier, p.log, c, text, code)
	p.log.InfoContext(ctx, "permanente: SMS code sent", "flow", f.slug, "person", c.Masked())
	http.Redirect(w, r, AccountPath+f.slug, http.StatusSeeOther)
}

// sms checks the SMS code of flow f and moves on to the password.
func (p *AccountPages) sms(f accountFlow, w http.ResponseWriter, r *http.Request) {
	st, ok := p.readState(r, f)
	if !ok || st.Step != StepSMS {
		http.Redirect(w, r, AccountPath+f.slug, http.StatusSeeOther)
		return
	}
	ctx := r.Context()
	if !p.guard.allow(ctx, p.client(r), "") {
		p.renderCode(f, w, r, st, http.StatusTooManyRequests, "permanente.toomany")
		return
	}
	var (
		ticket string
		err    error
	)
	if f.purpose == PurposeActivation {
		ticket, err = p.svc.VerifyActivationSMS(ctx, st.Citizen, r.PostForm.Get("code"))
	} else {
		ticket, err = p.svc.VerifyResetSMS(ctx, st.Citizen, r.PostForm.Get("code"))
	}
	switch err := storage(ctx, p.log, "checking the SMS code", err); {
	case err == nil:
		st.Step, st.Ticket = StepPassword, ticket
		if err := p.writeState(w, r, st); err != nil {
			p.unavailable(w, r, "saving the step", err)
			return
		}
		http.Redirect(w, r, AccountPath+f.slug, http.StatusSeeOther)
	case errors.Is(err, ErrWrongCode):
		p.renderCode(f, w, r, st, http.StatusUnauthorized, "permanente.sms.wrong")
	case errors.Is(err, ErrRestart):
		p.log.InfoContext(ctx, "permanente: SMS code spent by wrong entries; starting again", "flow", f.slug)
		p.clearState(w, r)
		p.renderStart(f, w, r, http.StatusUnauthorized, "permanente.sms.restart", st.Citizen)
	case errors.Is(err, errUnavailable):
		p.unavailable(w, r, "checking the SMS code", err)
	default: // expired, or no code outstanding
		p.clearState(w, r)
		p.renderStart(f, w, r, http.StatusUnauthorized, "permanente.sms.flowexpired", st.Citizen)
	}
}

// password sets the password that ends flow f.
func (p *AccountPages) password(f accountFlow, w http.ResponseWriter, r *http.Request) {
	st, ok := p.readState(r, f)
	if !ok || st.Step != StepPassword {
		http.Redirect(w, r, AccountPath+f.slug, http.StatusSeeOther)
		return
	}
	pw := r.PostForm.Get("password")
	if pw != r.PostForm.Get("password2") {
		p.renderNewPassword(f, w, r, http.StatusBadRequest, "permanente.mismatch", nil)
		return
	}
	ctx := r.Context()
	if !p.guard.allow(ctx, p.client(r), "") {
		p.renderNewPassword(f, w, r, http.StatusTooManyRequests, "permanente.toomany", nil)
		return
	}
	c, err := p.citizens.Citizen(ctx, st.Citizen)
	if err == nil {
		if f.purpose == PurposeActivation {
			err = p.svc.CompleteActivation(ctx, st.Citizen, st.Ticket, pw, profileOf(c))
		} else {
			err = p.svc.CompleteReset(ctx, st.Citizen, st.Ticket, pw, profileOf(c))
		}
	} else if errors.Is(err, method.ErrUnknownCitizen) {
		err = ErrBadTicket
	}
	switch err := storage(ctx, p.log, "setting the password", err); {
	case err == nil:
		p.clearState(w, r)
		p.log.InfoContext(ctx, "permanente: password set", "flow", f.slug, "person", c.Masked())
		if f.purpose == PurposeActivation {
			p.renderDone(w, r, "permanente.activate.done")
		} else {
			p.renderDone(w, r, "permanente.reset.done")
		}
	case errors.Is(err, ErrWeakPassword):
		p.renderNewPassword(f, w, r, http.StatusBadRequest, "permanente.policy", ruleKeys(err))
	case errors.Is(err, errUnavailable):
		p.unavailable(w, r, "setting the password", err)
	default: // the ticket expired or was used, or the password changed meanwhile
		p.clearState(w, r)
		p.renderStart(f, w, r, http.StatusUnauthorized, "permanente.sms.flowexpired", st.Citizen)
	}
}

// change replaces a password given the current one.
func (p *AccountPages) change(w http.ResponseWriter, r *http.Request) {
	page := func(status int, errKey, doc string, rules []string) {
		p.render(w, r, status, "permanente_change", map[string]any{"Error": errKey, "Document": doc, "Rules": rules})
	}
	id, err := dni.Parse(r.PostForm.Get("document"))
	if err != nil || (id.Kind() != dni.KindDNI && id.Kind() != dni.KindNIE) {
		page(http.StatusBadRequest, "permanente.baddocument", "", nil)
		return
	}
	pw := r.PostForm.Get("password")
	if pw != r.PostForm.Get("password2") {
		page(http.StatusBadRequest, "permanente.mismatch", id.String(), nil)
		return
	}
	ctx := r.Context()
	if !p.guard.allow(ctx, p.client(r), id.String()) {
		page(http.StatusTooManyRequests, "permanente.toomany", id.String(), nil)
		return
	}
	current := r.PostForm.Get("current")
	c, ok, err := loginable(ctx, p.svc, p.citizens, p.log, id.String())
	switch {
	case err != nil:
	case !ok:
		err = strangerPassword(ctx, p.svc, p.log, id.String(), current)
	default:
		err = storage(ctx, p.log, "changing the password", p.svc.ChangePassword(ctx, id.String(), current, pw, profileOf(c)))
	}
	switch {
	case err == nil:
		p.log.InfoContext(ctx, "permanente: password changed", "person", c.Masked())
		p.renderDone(w, r, "permanente.change.done")
	case errors.Is(err, ErrWeakPassword):
		page(http.StatusBadRequest, "permanente.policy", id.String(), ruleKeys(err))
	case errors.Is(err, ErrBlocked):
		page(http.StatusForbidden, "permanente.blocked", id.String(), nil)
	case errors.Is(err, ErrWrongPassword):
		page(http.StatusUnauthorized, "permanente.wrong", id.String(), nil)
	case errors.Is(err, ErrConflict):
		page(http.StatusConflict, "permanente.conflict", id.String(), nil)
	default:
		p.unavailable(w, r, "changing the password", err)
	}
}

// deleteUser removes a citizen's Cl@ve Permanente, given the password.
func (p *AccountPages) deleteUser(w http.ResponseWriter, r *http.Request) {
	page := func(status int, errKey, doc string) {
		p.render(w, r, status, "permanente_delete", map[string]any{"Error": errKey, "Document": doc})
	}
	id, err := dni.Parse(r.PostForm.Get("document"))
	if err != nil || (id.Kind() != dni.KindDNI && id.Kind() != dni.KindNIE) {
		page(http.StatusBadRequest, "permanente.baddocument", "")
		return
	}
	if r.PostForm.Get("confirm") != "yes" {
		page(http.StatusBadRequest, "permanente.delete.unconfirmed", id.String())
		return
	}
	ctx := r.Context()
	if !p.guard.allow(ctx, p.client(r), id.String()) {
		page(http.StatusTooManyRequests, "permanente.toomany", id.String())
		return
	}
	c, _, err := checkPassword(ctx, p.svc, p.citizens, p.log, id.String(), r.PostForm.Get("password"))
	if err == nil || errors.Is(err, ErrPasswordExpired) { // an expired password still proves who they are
		err = p.svc.DeleteUser(ctx, c.ID)
		if errors.Is(err, ErrNotRegistered) {
			err = nil // deleted meanwhile: done all the same
		}
		err = storage(ctx, p.log, "deleting the user", err)
	}
	switch {
	case err == nil:
		p.log.InfoContext(ctx, "permanente: user deleted", "person", c.Masked())
		p.renderDone(w, r, "permanente.delete.done")
	case errors.Is(err, ErrBlocked):
		page(http.StatusForbidden, "permanente.blocked", id.String())
	case errors.Is(err, ErrWrongPassword):
		page(http.StatusUnauthorized, "permanente.wrong", id.String())
	default:
		p.unavailable(w, r, "deleting the user", err)
	}
}
