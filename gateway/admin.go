package gateway

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clave-go/clave/internal/faults"
	"github.com/clave-go/clave/internal/samlidp"
)

// The admin page and API of the test controls. The API takes the token as a
// bearer credential; the page logs in once with a form and then carries an
// HttpOnly, SameSite=Strict cookie naming a random session kept by the
// gateway (never the token), which logging out or 12 hours end, and every
// form it posts carries a CSRF token derived from that cookie. Wrong tokens
// are logged and throttled per client and in all. The token itself is never
// logged nor written to a page.

const (
	minAdminToken    = 16
	adminCookie      = "clave_admin"
	adminLoginCookie = "clave_admin_login"
	adminPath        = "/admin/"
	maxAdminBody     = 16 << 10

	// adminSessionTTL ends a page session, by the configured clock: moving
	// the gateway's clock from the page must not log its user out.
	adminSessionTTL = 12 * time.Hour
	// maxAdminSessions bounds the sessions kept; a login past it ends the
	// session that expires first. Only holders of the token make sessions.
	maxAdminSessions = 64
	// Wrong tokens: a client may try adminFailsPerClient distinct ones in
	// adminFailWindow, and all clients together adminFailsGlobal, before
	// every token check is answered 429 until the window ends. Distinct,
	// because guessing needs new tokens while a script retrying one stale
	// token learns nothing from it, and should not lock its admin out.
	adminFailWindow     = time.Minute
	adminFailsPerClient = 5
	adminFailsGlobal    = 20
	// maxAdminFailClients bounds the clients tracked; the global limit lets
	// few of them be live in a window, so a sweep always makes room.
	maxAdminFailClients = 1024
)

// adminSite is the admin page and API with their state: the page's sessions
// and the count of wrong tokens.
type adminSite struct {
	g *Gateway
	// now is the configured clock, without the offset the controls add.
	now func() time.Time

	mu sync.Mutex
	// sessions maps the MAC of a session ID (so that the table alone does
	// not give a usable cookie) to its expiry.
	sessions map[string]time.Time
	fails    map[string]*failWindow
	global   failWindow
}

// failWindow holds the MACs of the distinct wrong tokens of a window.
type failWindow struct {
	start time.Time
	macs  []string
}

// add counts mac in the window starting at or before now, and reports
// whether it was new.
func (f *failWindow) add(now time.Time, mac string) bool {
	if now.Sub(f.start) >= adminFailWindow {
		f.start, f.macs = now, f.macs[:0]
	}
	if slices.Contains(f.macs, mac) {
		return false
	}
	f.macs = append(f.macs, mac)
	return true
}

// wait is how long until the window reopens when it holds limit tokens.
func (f *failWindow) wait(now time.Time, limit int) time.Duration {
	if f == nil || len(f.macs) < limit || now.Sub(f.start) >= adminFailWindow {
		return 0
	}
	return f.start.Add(adminFailWindow).Sub(now)
}

// mountAdmin adds /admin/ to the gateway's routes.
func (g *Gateway) mountAdmin() error {
	if len(g.cfg.AdminToken) < minAdminToken {
		return fmt.Errorf("gateway: gateway AdminToken must have at least %d characters", minAdminToken)
	}
	key, err := newSecret(32)
	if err != nil {
		return err
	}
	g.controls.adminKey = key
	g.controls.adminMAC = g.adminHash("token", g.cfg.AdminToken)
	a := &adminSite{g: g, now: g.clock.base, sessions: map[string]time.Time{}, fails: map[string]*failWindow{}}

	g.mux.HandleFunc("GET /admin/{$}", a.adminPage)
	g.mux.HandleFunc("POST /admin/login", a.adminLogin)
	g.mux.HandleFunc("POST /admin/logout", a.adminForm(a.adminLogout))
	g.mux.HandleFunc("POST /admin/arm", a.adminForm(g.adminArm))
	g.mux.HandleFunc("POST /admin/persona", a.adminForm(g.adminPersona))
	g.mux.HandleFunc("POST /admin/clock", a.adminForm(g.adminClock))
	g.mux.HandleFunc("POST /admin/disarm", a.adminForm(g.adminDisarm))
	g.mux.HandleFunc("GET /admin/inspect", a.adminInspect)

	api := http.NewServeMux()
	api.HandleFunc("GET /admin/api/faults", g.apiFaults)
	api.HandleFunc("GET /admin/api/state", g.apiState)
	api.HandleFunc("POST /admin/api/arm", g.apiArm)
	api.HandleFunc("POST /admin/api/persona", g.apiPersona)
	api.HandleFunc("POST /admin/api/clock", g.apiClock)
	api.HandleFunc("POST /admin/api/disarm", g.apiDisarm)
	api.HandleFunc("GET /admin/api/inspect", g.apiInspect)
	api.HandleFunc("POST /admin/api/credentials", g.apiCredentials)
	api.HandleFunc("POST /admin/api/permanente", g.apiPermanente)
	// Authentication comes before routing, so that without the token every
	// path under the API answers alike.
	g.mux.Handle("/admin/api/", a.apiAuth(api))
	return nil
}

// adminHash is an HMAC under the gateway's admin key, labelled by purpose.
func (g *Gateway) adminHash(purpose, s string) []byte {
	m := hmac.New(sha256.New, g.controls.adminKey)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(s))
	return m.Sum(nil)
}

// checkToken checks a presented token (not empty) in constant time: both
// sides are MACs of the same length, whatever the token's length. A client
// over its limit of wrong tokens, or every client when all together are
// over theirs, is refused without a check: wait says for how long. Every
// refusal is logged with the client, never the token.
func (a *adminSite) checkToken(r *http.Request, token string) (ok bool, wait time.Duration) {
	mac := a.g.adminHash("token", token)
	client := a.g.cfg.ClientAddress(r)
	a.mu.Lock()
	now := a.now()
	wait = max(a.fails[client].wait(now, adminFailsPerClient), a.global.wait(now, adminFailsGlobal))
	if wait == 0 {
		if ok = hmac.Equal(mac, a.g.controls.adminMAC); !ok {
			a.countFailure(now, client, string(mac))
		}
	}
	a.mu.Unlock()
	switch {
	case wait > 0:
		a.g.log.WarnContext(r.Context(), "gateway: admin token refused unchecked: too many wrong tokens",
			"client", client, "path", r.URL.Path, "retry_after", wait.String())
	case !ok:
		a.g.log.WarnContext(r.Context(), "gateway: wrong admin token", "client", client, "path", r.URL.Path)
	}
	return ok, wait
}

// countFailure records a wrong token of client; a.mu is held.
func (a *adminSite) countFailure(now time.Time, client, mac string) {
	a.global.add(now, mac)
	f := a.fails[client]
	if f == nil {
		if len(a.fails) >= maxAdminFailClients {
			for c, old := range a.fails {
				if now.Sub(old.start) >= adminFailWindow {
					delete(a.fails, c)
				}
			}
		}
		if len(a.fails) >= maxAdminFailClients {
			return // the global limit still counts it
		}
		f = &failWindow{start: now}
		a.fails[client] = f
	}
	f.add(now, mac)
}

// newSession starts a page session and returns its ID, the cookie's value.
// Past maxAdminSessions the session expiring first ends.
func (a *adminSite) newSession() (string, error) {
	secret, err := newSecret(32)
	if err != nil {
		return "", err
	}
	id := hex.EncodeToString(secret)
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if len(a.sessions) >= maxAdminSessions {
		first := ""
		for k, exp := range a.sessions {
			if !now.Before(exp) {
				delete(a.sessions, k)
			} else if first == "" || exp.Before(a.sessions[first]) {
				first = k
			}
		}
		if len(a.sessions) >= maxAdminSessions {
			delete(a.sessions, first)
		}
	}
	a.sessions[a.sessionKey(id)] = now.Add(adminSessionTTL)
	return id, nil
}

func (a *adminSite) sessionKey(id string) string { return string(a.g.adminHash("session", id)) }

// sessionOK reports whether the request's cookie names a live session.
func (a *adminSite) sessionOK(r *http.Request) bool {
	ck, err := r.Cookie(adminCookie)
	if err != nil || ck.Value == "" {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	exp, ok := a.sessions[a.sessionKey(ck.Value)]
	return ok && a.now().Before(exp)
}

// endSession forgets the request's session: its cookie no longer works.
func (a *adminSite) endSession(r *http.Request) {
	if ck, err := r.Cookie(adminCookie); err == nil {
		a.mu.Lock()
		delete(a.sessions, a.sessionKey(ck.Value))
		a.mu.Unlock()
	}
}

// csrfToken is the CSRF token of the request's session, derived from its
// cookie; only pages behind a session check show it.
func (g *Gateway) csrfToken(r *http.Request) string {
	ck, err := r.Cookie(adminCookie)
	if err != nil {
		return ""
	}
	return hex.EncodeToString(g.adminHash("csrf", ck.Value))
}

func (g *Gateway) csrfOK(r *http.Request) bool {
	got, err := hex.DecodeString(r.PostForm.Get("csrf"))
	want, _ := hex.DecodeString(g.csrfToken(r))
	return err == nil && len(want) > 0 && hmac.Equal(got, want)
}

func setAdminCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: adminPath, MaxAge: maxAge,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

// adminPage shows the controls, or the login form without a session.
func (a *adminSite) adminPage(w http.ResponseWriter, r *http.Request) {
	if !a.sessionOK(r) {
		a.g.adminLoginPage(w, r, http.StatusOK, "")
		return
	}
	a.g.renderAdmin(w, r, http.StatusOK, r.URL.Query().Get("done"), "")
}

// adminLoginPage renders the login form with a fresh login CSRF pair: a
// random cookie and the form's MAC of it.
func (g *Gateway) adminLoginPage(w http.ResponseWriter, r *http.Request, status int, errKey string) {
	nonce, err := newSecret(16)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	v := hex.EncodeToString(nonce)
	setAdminCookie(w, r, adminLoginCookie, v, 600)
	g.render(w, r, status, "admin_login", map[string]any{
		"Action": adminPath + "login", "CSRF": hex.EncodeToString(g.adminHash("login", v)), "Error": errKey,
	})
}

func (a *adminSite) adminLogin(w http.ResponseWriter, r *http.Request) {
	g := a.g
	r.Body = http.MaxBytesReader(w, r.Body, maxAdminBody)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	ck, err := r.Cookie(adminLoginCookie)
	got, herr := hex.DecodeString(r.PostForm.Get("csrf"))
	if err != nil || herr != nil || !hmac.Equal(got, g.adminHash("login", ck.Value)) {
		g.adminForbidden(w, r)
		return
	}
	ok, wait := a.checkToken(r, r.PostForm.Get("token"))
	if wait > 0 {
		w.Header().Set("Retry-After", retryAfter(wait))
		g.adminLoginPage(w, r, http.StatusTooManyRequests, "pin.toomany")
		return
	}
	if !ok {
		g.adminLoginPage(w, r, http.StatusUnauthorized, "admin.badtoken")
		return
	}
	id, err := a.newSession()
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	setAdminCookie(w, r, adminLoginCookie, "", -1)
	setAdminCookie(w, r, adminCookie, id, 0)
	g.log.InfoContext(r.Context(), "gateway: admin logged in", "client", g.cfg.ClientAddress(r))
	http.Redirect(w, r, adminPath, http.StatusSeeOther)
}

// retryAfter is a Retry-After value: whole seconds, rounded up.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(int((d + time.Second - 1) / time.Second))
}

func (g *Gateway) adminForbidden(w http.ResponseWriter, r *http.Request) {
	g.log.WarnContext(r.Context(), "gateway: admin form without a valid CSRF token refused", "path", r.URL.Path)
	g.errorPage(w, r, http.StatusForbidden, "admin.csrf", nil)
}

// adminForm wraps the page's POST handlers: session, then CSRF token.
func (a *adminSite) adminForm(next func(http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxAdminBody)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		if !a.sessionOK(r) {
			a.g.adminLoginPage(w, r, http.StatusUnauthorized, "")
			return
		}
		if !a.g.csrfOK(r) {
			a.g.adminForbidden(w, r)
			return
		}
		next(w, r)
	}
}

func (g *Gateway) adminDone(w http.ResponseWriter, r *http.Request, done string) {
	http.Redirect(w, r, adminPath+"?done="+done, http.StatusSeeOther)
}

func (a *adminSite) adminLogout(w http.ResponseWriter, r *http.Request) {
	a.endSession(r)
	setAdminCookie(w, r, adminCookie, "", -1)
	a.g.log.InfoContext(r.Context(), "gateway: admin logged out", "client", a.g.cfg.ClientAddress(r))
	http.Redirect(w, r, adminPath, http.StatusSeeOther)
}

func (g *Gateway) adminArm(w http.ResponseWriter, r *http.Request) {
	if err := g.ArmFault(r.PostForm.Get("spid"), r.PostForm.Get("case")); err != nil {
		g.renderAdmin(w, r, http.StatusBadRequest, "", err.Error())
		return
	}
	g.adminDone(w, r, "armed")
}

func (g *Gateway) adminPersona(w http.ResponseWriter, r *http.Request) {
	if err := g.ArmPersona(r.PostForm.Get("spid"), r.PostForm.Get("persona")); err != nil {
		g.renderAdmin(w, r, http.StatusBadRequest, "", err.Error())
		return
	}
	g.adminDone(w, r, "persona")
}

func (g *Gateway) adminClock(w http.ResponseWriter, r *http.Request) {
	d, err := parseAdvance(r.PostForm.Get("advance"))
	if err != nil {
		g.renderAdmin(w, r, http.StatusBadRequest, "", err.Error())
		return
	}
	g.AdvanceClock(d)
	g.adminDone(w, r, "clock")
}

func (g *Gateway) adminDisarm(w http.ResponseWriter, r *http.Request) {
	g.DisarmAll()
	g.adminDone(w, r, "disarmed")
}

// clockSteps are the page's advance buttons.
var clockSteps = []struct{ Value, Label string }{
	{"1m", "+1 min"}, {"10m", "+10 min"}, {"1h", "+1 h"}, {"24h", "+1 día / day"},
}

// adminDoneKeys are the confirmations the page may show; anything else in
// ?done= is ignored rather than echoed.
var adminDoneKeys = map[string]bool{"armed": true, "persona": true, "clock": true, "disarmed": true}

func (g *Gateway) renderAdmin(w http.ResponseWriter, r *http.Request, status int, done, errText string) {
	st := g.controlState()
	doneKey := ""
	if adminDoneKeys[done] {
		doneKey = "admin.done." + done
	}
	g.render(w, r, status, "admin", map[string]any{
		"CSRF": g.csrfToken(r), "State": st, "Catalogue": catalogueView(), "Steps": clockSteps,
		"Done": doneKey, "ErrorText": errText,
	})
}

// parseAdvance reads a clock step: a Go duration ("10m", "1h30m") or whole
// days ("2d"), positive.
func parseAdvance(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	var err error
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days int
		if _, err = fmt.Sscanf(n, "%d", &days); err == nil && fmt.Sprint(days) == n && days <= 3660 {
			d = time.Duration(days) * 24 * time.Hour
		} else {
			err = errors.New("bad number of days")
		}
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("gateway: advance %q: want a positive duration such as 10m, 1h or 1d", s)
	}
	return d, nil
}

// The JSON shapes of the admin API; the page shows the same data.

type faultJSON struct {
	ID              string `json:"id"`
	Group           string `json:"group"`
	Title           string `json:"title"`
	How             string `json:"how"`
	Expect          string `json:"expect"`
	NeedsEncryption bool   `json:"needs_encryption,omitempty"`
}

func catalogueView() []faultJSON {
	cs := faults.Catalogue()
	out := make([]faultJSON, len(cs))
	for i, c := range cs {
		out[i] = faultJSON{ID: c.ID, Group: string(c.Group), Title: c.Title, How: c.How, Expect: string(c.Expect), NeedsEncryption: c.NeedsEncryption}
	}
	return out
}

type personaJSON struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Outcome string `json:"outcome"`
}

type spStateJSON struct {
	SPID          string   `json:"spid"`
	Name          string   `json:"name,omitempty"`
	ArmedFaults   []string `json:"armed_faults"`
	ArmedPersonas []string `json:"armed_personas"`
}

type stateJSON struct {
	Now              time.Time     `json:"now"`
	ClockOffset      string        `json:"clock_offset"`
	ServiceProviders []spStateJSON `json:"service_providers"`
	Personas         []personaJSON `json:"personas"`
}

func (g *Gateway) controlState() stateJSON {
	fs, ps := g.controls.armed()
	g.mu.RLock()
	sps := make([]spStateJSON, 0, len(g.sps))
	for id, sp := range g.sps {
		sps = append(sps, spStateJSON{SPID: id, Name: sp.Name, ArmedFaults: nonNil(fs[id]), ArmedPersonas: nonNil(ps[id])})
	}
	g.mu.RUnlock()
	sort.Slice(sps, func(i, j int) bool { return sps[i].SPID < sps[j].SPID })
	var pj []personaJSON
	for _, p := range Personas() {
		pj = append(pj, personaJSON(p))
	}
	return stateJSON{
		Now: g.cfg.Now(), ClockOffset: time.Duration(g.clock.offset.Load()).String(),
		ServiceProviders: sps, Personas: pj,
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// apiAuth admits requests bearing the admin token.
func (a *adminSite) apiAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		token = strings.TrimSpace(token)
		var wait time.Duration
		if ok = ok && token != ""; ok {
			ok, wait = a.checkToken(r, token)
		}
		if wait > 0 {
			w.Header().Set("Retry-After", retryAfter(wait))
			writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "too many wrong admin tokens; try again later"})
			return
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="clave-admin"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "admin token required"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, err error) {
	status := http.StatusBadRequest
	if errors.Is(err, ErrUnknownFault) || errors.Is(err, ErrUnknownPersona) || errors.Is(err, samlidp.ErrUnknownSP) {
		status = http.StatusNotFound
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

// readJSON decodes a small JSON body strictly into v.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err = dec.Decode(v); err == nil && dec.More() {
			err = errors.New("unexpected data after the JSON object")
		}
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad JSON body: " + err.Error()})
		return false
	}
	return true
}

func (g *Gateway) apiFaults(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, catalogueView())
}

func (g *Gateway) apiState(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, g.controlState())
}

func (g *Gateway) apiArm(w http.ResponseWriter, r *http.Request) {
	var in struct {
		SPID string `json:"spid"`
		Case string `json:"case"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	if err := g.ArmFault(in.SPID, in.Case); err != nil {
		apiError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, g.controlState())
}

func (g *Gateway) apiPersona(w http.ResponseWriter, r *http.Request) {
	var in struct {
		SPID    string `json:"spid"`
		Persona string `json:"persona"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	if err := g.ArmPersona(in.SPID, in.Persona); err != nil {
		apiError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, g.controlState())
}

// apiCredentials issues a test certificate or simulated DNIe card to a
// registered citizen, for the Cl@ve app to activate a device with: the
// certificate chain and the private key (PKCS #8) as PEM, and the card's
// access number.
func (g *Gateway) apiCredentials(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Citizen string `json:"citizen"`
		Kind    string `json:"kind"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	var (
		cred *Credential
		err  error
	)
	switch in.Kind {
	case "certificate":
		cred, err = g.IssueCertificate(r.Context(), in.Citizen)
	case "dnie":
		cred, err = g.IssueDNIe(r.Context(), in.Citizen)
	default:
		err = errors.New(`kind must be "certificate" or "dnie"`)
	}
	if errors.Is(err, ErrNotRegistered) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not a registered citizen"})
		return
	}
	if err != nil {
		apiError(w, err)
		return
	}
	pemText, err := cred.PEM()
	if err != nil {
		apiError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"pem": string(pemText), "can": cred.CAN})
}

func (g *Gateway) apiClock(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Advance string `json:"advance"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	d, err := parseAdvance(in.Advance)
	if err != nil {
		apiError(w, err)
		return
	}
	g.AdvanceClock(d)
	writeJSON(w, http.StatusOK, g.controlState())
}

func (g *Gateway) apiDisarm(w http.ResponseWriter, r *http.Request) {
	g.DisarmAll()
	writeJSON(w, http.StatusOK, g.controlState())
}

// adminInspect shows the last exchanges with one service (?spid=), or the list
// of services with exchanges.
func (a *adminSite) adminInspect(w http.ResponseWriter, r *http.Request) {
	g := a.g
	if !a.sessionOK(r) {
		g.adminLoginPage(w, r, http.StatusUnauthorized, "")
		return
	}
	spid := r.URL.Query().Get("spid")
	data := map[string]any{"Services": g.InspectedServices(), "SPID": spid}
	if spid != "" {
		data["Exchanges"] = g.Inspect(spid)
	}
	g.render(w, r, http.StatusOK, "admin_inspect", data)
}

// apiInspect is adminInspect in JSON: {"services": [...]} and, with ?spid=,
// {"exchanges": [...]} newest first, each request with its checklist.
func (g *Gateway) apiInspect(w http.ResponseWriter, r *http.Request) {
	out := map[string]any{"services": g.InspectedServices()}
	if spid := r.URL.Query().Get("spid"); spid != "" {
		out["exchanges"] = g.Inspect(spid)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(out)
}
