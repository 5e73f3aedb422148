package app

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/saml"
)

// appConfig is what the site needs: Config, its defaults set and its
// database open.
type appConfig struct {
	// Client validates the gateway's responses (and runs the browser login
	// when SAML is set).
	Client *clave.Client
	// PIN calls the gateway's app-native Cl@ve PIN API.
	PIN *clave.PINClient
	// ACSURL is the Client's ACS URL, registered with the gateway.
	ACSURL string
	// LoA is asked of every PIN login.
	LoA saml.LoA
	// SAML offers the other methods through the gateway's own pages.
	SAML  bool
	Store *store
	Now   func() time.Time
	Log   *slog.Logger
}

// maxPending bounds the PIN logins waiting for their PIN.
const maxPending = 10_000

// pendingPIN is a PIN asked for and not yet verified. It lives in memory:
// a restart asks the citizen for a new PIN, which is what the gateway
// would want anyway after 10 minutes.
type pendingPIN struct {
	Document          string
	Entity, Procedure string
	RequestCode       string
	Channel           string
	ExpiresAt         time.Time
	NeedPhone         bool
	csrf              string
}

type app struct {
	appConfig
	mu      sync.Mutex
	pending map[string]*pendingPIN
}

// newSite serves the procedures app.
func newSite(cfg appConfig) http.Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	a := &app{appConfig: cfg, pending: map[string]*pendingPIN{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("GET /entidades", a.entities)
	mux.HandleFunc("GET /entidades/{entity}", a.procedures)
	mux.HandleFunc("GET /pin/{entity}/{proc}", a.choose)
	mux.HandleFunc("POST /pin/solicitar", a.requestPIN)
	mux.HandleFunc("POST /pin/verificar", a.verifyPIN)
	mux.HandleFunc("GET /usuarios", a.users)
	mux.HandleFunc("GET /usuarios/nuevo", a.userForm)
	mux.HandleFunc("POST /usuarios/nuevo", a.saveUser)
	mux.HandleFunc("GET /usuarios/{id}/editar", a.userForm)
	mux.HandleFunc("POST /usuarios/{id}/editar", a.saveUser)
	mux.HandleFunc("POST /usuarios/{id}/borrar", a.deleteUser)
	mux.HandleFunc("GET /descargas", a.downloads)
	mux.HandleFunc("GET /descargas/{id}", a.download)
	mux.HandleFunc("GET /descargas/{id}/ver", a.openDownload)
	mux.HandleFunc("POST /descargas/{id}/renombrar", a.renameDownload)
	mux.HandleFunc("POST /descargas/{id}/borrar", a.deleteDownload)
	mux.HandleFunc("GET /compartido/{token}", a.shared)
	if cfg.SAML {
		mux.Handle("/clave/acs", cfg.Client.ACSHandler())
		mux.Handle("/pasarela/{entity}/{proc}", cfg.Client.RequireLogin(http.HandlerFunc(a.viaGateway)))
	}
	return withCSRF(withHeaders(mux))
}

// page is what every template gets.
type page struct {
	Title  string
	Nonce  string
	CSRF   string
	Error  *userError
	Notice string
	SAML   bool
	Data   any
}

// userError is a failure told in plain Spanish, with what to do next.
type userError struct{ Message, Next string }

func (a *app) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	nonce, err := randomToken(16)
	if err != nil {
		http.Error(w, "error interno", http.StatusInternalServerError)
		return
	}
	p.Nonce, p.CSRF, p.SAML = nonce, csrfToken(r), a.SAML
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// Pages show DNIs and fiscal data: no cache keeps them.
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'nonce-"+nonce+"'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	if err := pages[name].Execute(w, p); err != nil {
		a.Log.Error("procedures: render", "page", name, "error", err)
	}
}

func (a *app) fail(w http.ResponseWriter, r *http.Request, status int, title string, e userError) {
	a.render(w, r, status, "message", page{Title: title, Error: &e})
}

func (a *app) internal(w http.ResponseWriter, r *http.Request, err error) {
	a.Log.Error("procedures", "path", r.URL.Path, "error", err)
	a.fail(w, r, http.StatusInternalServerError, "No se ha podido completar", userError{"Ha ocurrido un error en la aplicación.", "Inténtelo de nuevo dentro de unos minutos."})
}

func (a *app) notFound(w http.ResponseWriter, r *http.Request) {
	a.fail(w, r, http.StatusNotFound, "No encontrado", userError{"La página o el elemento que busca no existe (quizá se borró).", ""})
}

func (a *app) home(w http.ResponseWriter, r *http.Request) {
	a.render(w, r, http.StatusOK, "home", page{Title: "Trámites con Cl@ve"})
}

// via is how the citizen chose to identify: "pin" (the app-native API) or
// "pasarela" (the gateway's own pages).
func (a *app) via(r *http.Request) (id, name string, ok bool) {
	switch r.URL.Query().Get("via") {
	case "pin", "":
		return "pin", "Identificación con Cl@ve PIN", true
	case "pasarela":
		return "pasarela", "Identificación con otros métodos de Cl@ve", a.SAML
	}
	return "", "", false
}

func (a *app) entities(w http.ResponseWriter, r *http.Request) {
	id, name, ok := a.via(r)
	if !ok {
		a.notFound(w, r)
		return
	}
	a.render(w, r, http.StatusOK, "entities", page{Title: "Organismo", Data: map[string]any{"Via": name, "ViaID": id, "Entities": entities}})
}

func (a *app) procedures(w http.ResponseWriter, r *http.Request) {
	id, name, ok := a.via(r)
	e, found := findEntity(r.PathValue("entity"))
	if !ok || !found {
		a.notFound(w, r)
		return
	}
	a.render(w, r, http.StatusOK, "procedures", page{Title: e.Name, Data: map[string]any{"Via": name, "ViaID": id, "Entity": e}})
}

// choose lets the citizen pick a saved user and the PIN's channel.
func (a *app) choose(w http.ResponseWriter, r *http.Request) {
	e, p, ok := findProcedure(r.PathValue("entity"), r.PathValue("proc"))
	if !ok {
		a.notFound(w, r)
		return
	}
	a.renderChoose(w, r, http.StatusOK, e, p, nil)
}

func (a *app) renderChoose(w http.ResponseWriter, r *http.Request, status int, e *entity, p *procedure, ue *userError) {
	users, err := a.Store.users(r.Context())
	if err != nil {
		a.internal(w, r, err)
		return
	}
	a.render(w, r, status, "choose", page{Title: "Identificación con Cl@ve PIN", Error: ue, Data: map[string]any{
		"Entity": e, "Procedure": p, "Users": users, "Back": "/pin/" + e.ID + "/" + p.ID}})
}

// requestPIN asks the gateway for a PIN for the chosen saved user.
func (a *app) requestPIN(w http.ResponseWriter, r *http.Request) {
	e, p, ok := findProcedure(r.PostFormValue("entity"), r.PostFormValue("procedure"))
	if !ok {
		a.notFound(w, r)
		return
	}
	id, err := strconv.ParseInt(r.PostFormValue("user"), 10, 64)
	if err != nil {
		a.renderChoose(w, r, http.StatusBadRequest, e, p, &userError{"Elija quién hace el trámite.", "Si no aparece, añada un usuario."})
		return
	}
	u, err := a.Store.user(r.Context(), id)
	if errors.Is(err, errNotFound) {
		a.renderChoose(w, r, http.StatusBadRequest, e, p, &userError{"Ese usuario ya no está guardado.", "Elija otro o añádalo de nuevo."})
		return
	} else if err != nil {
		a.internal(w, r, err)
		return
	}
	channel := "sms"
	if r.PostFormValue("channel") == "app" {
		channel = "app"
	}
	ticket, err := a.PIN.RequestPIN(r.Context(), clave.PINRequest{Document: u.Document, Contrast: u.Contrast, Code: strings.TrimSpace(r.PostFormValue("code"))})
	if err != nil {
		ue, _ := a.pinError(err)
		a.renderChoose(w, r, statusOf(err), e, p, &ue)
		return
	}
	pend := &pendingPIN{Document: u.Document, Entity: e.ID, Procedure: p.ID, RequestCode: ticket.RequestCode,
		Channel: channel, ExpiresAt: ticket.ExpiresAt, csrf: csrfToken(r)}
	pid, err := a.remember(pend)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	a.renderVerify(w, r, http.StatusOK, pid, pend, nil)
}

func (a *app) renderVerify(w http.ResponseWriter, r *http.Request, status int, pid string, pend *pendingPIN, ue *userError) {
	e, p, _ := findProcedure(pend.Entity, pend.Procedure)
	a.render(w, r, status, "verify", page{Title: "Escriba su PIN", Error: ue, Data: map[string]any{
		"Entity": e, "Procedure": p, "Pending": pend, "PendingID": pid}})
}

// remember keeps a pending PIN login under a random ID, dropping the
// expired ones.
func (a *app) remember(p *pendingPIN) (string, error) {
	id, err := randomToken(24)
	if err != nil {
		return "", err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.Now()
	for k, v := range a.pending {
		if now.After(v.ExpiresAt) {
			delete(a.pending, k)
		}
	}
	if len(a.pending) >= maxPending {
		return "", errors.New("too many pending PIN logins")
	}
	a.pending[id] = p
	return id, nil
}

// verifyPIN checks the typed PIN with the gateway and validates the signed
// Response it answers, then gives the procedure's result.
func (a *app) verifyPIN(w http.ResponseWriter, r *http.Request) {
	pid := r.PostFormValue("pending")
	a.mu.Lock()
	pend, ok := a.pending[pid]
	a.mu.Unlock()
	// A pending login belongs to the browser that asked for it.
	if !ok || subtle.ConstantTimeCompare([]byte(pend.csrf), []byte(csrfToken(r))) != 1 || a.Now().After(pend.ExpiresAt) {
		a.fail(w, r, http.StatusBadRequest, "Solicitud caducada", userError{"Esta solicitud de PIN ya no es válida (caducó o ya se usó).", "Vuelva a elegir el trámite y pida un PIN nuevo."})
		return
	}
	requestID, err := saml.NewID(nil)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	ctx := r.Context()
	resp, err := a.PIN.VerifyPIN(ctx, clave.PINVerification{Document: pend.Document, RequestCode: pend.RequestCode,
		PIN: strings.ToUpper(strings.TrimSpace(r.PostFormValue("pin"))), Phone: strings.TrimSpace(r.PostFormValue("phone")),
		RequestID: requestID, ACSURL: a.ACSURL, LoA: a.LoA})
	if err != nil {
		ue, needPhone := a.pinError(err)
		a.mu.Lock()
		pend.NeedPhone = pend.NeedPhone || needPhone
		a.mu.Unlock()
		a.renderVerify(w, r, statusOf(err), pid, pend, &ue)
		return
	}
	a.mu.Lock()
	delete(a.pending, pid)
	a.mu.Unlock()
	id, err := a.Client.ValidateAppResponse(ctx, resp, requestID, a.LoA)
	if err != nil {
		a.Log.Warn("procedures: response refused", "error", err)
		a.fail(w, r, http.StatusBadGateway, "No se ha podido identificar", userError{"La respuesta de Cl@ve no superó las comprobaciones de seguridad.", "Vuelva a intentarlo; si se repite, avise al organismo."})
		return
	}
	e, p, _ := findProcedure(pend.Entity, pend.Procedure)
	a.result(w, r, e, p, id)
}

// result gives a validated citizen the procedure: a consultation on screen
// or a document saved in Downloads.
func (a *app) result(w http.ResponseWriter, r *http.Request, e *entity, p *procedure, id *clave.Identity) {
	now := a.Now()
	if p.Kind == consultation {
		a.render(w, r, http.StatusOK, "consultation", page{Title: p.Name, Data: map[string]any{
			"Entity": e, "Procedure": p, "ID": id, "Rows": madeUpData(p, id, now)}})
		return
	}
	d, err := generateDocument(e, p, id, now)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	n, err := a.Store.addDownload(r.Context(), d)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/descargas/%d?nuevo=1", n), http.StatusSeeOther)
}

// viaGateway is a procedure after a login on the gateway's own pages.
func (a *app) viaGateway(w http.ResponseWriter, r *http.Request) {
	e, p, ok := findProcedure(r.PathValue("entity"), r.PathValue("proc"))
	id, _ := clave.IdentityFromContext(r.Context())
	if !ok || id == nil {
		a.notFound(w, r)
		return
	}
	if p.Kind == document && r.Method == http.MethodGet {
		a.render(w, r, http.StatusOK, "confirmDocument", page{Title: p.Name, Data: map[string]any{"Entity": e, "Procedure": p, "ID": id}})
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	a.result(w, r, e, p, id)
}

// pinError tells a PIN API refusal in plain Spanish, and whether the phone
// must be asked for.
func (a *app) pinError(err error) (userError, bool) {
	var apiErr *clave.PINAPIError
	switch {
	case errors.Is(err, clave.ErrPINWrong):
		return userError{"El PIN no es correcto, ha caducado o ya se usó.",
			"Revise el PIN que aparece junto a su código de solicitud y escríbalo de nuevo. Si no le llegó ningún PIN, compruebe el DNI/NIE y el dato de contraste del usuario guardado y pida otro."}, false
	case errors.Is(err, clave.ErrPINPhoneRequired):
		return userError{"Tras varios intentos fallidos, la pasarela pide también su teléfono móvil registrado en Cl@ve.",
			"Escriba el PIN y su teléfono (con el prefijo +34)."}, true
	case errors.Is(err, clave.ErrPINBlocked):
		return userError{"Su Cl@ve PIN está bloqueado por demasiados intentos fallidos.",
			"Podrá volver a intentarlo pasadas al menos 24 horas, o identifíquese con otro método de Cl@ve."}, false
	case errors.Is(err, clave.ErrPINRateLimited):
		next := "Espere unos minutos antes de volver a intentarlo."
		if errors.As(err, &apiErr) && !apiErr.RetryAt.IsZero() {
			next = "Podrá volver a intentarlo a partir de las " + apiErr.RetryAt.In(time.Local).Format("15:04") + "."
		}
		return userError{"Se han hecho demasiadas solicitudes en poco tiempo.", next}, false
	case errors.Is(err, clave.ErrPINUnavailable):
		return userError{"El servicio Cl@ve PIN no está disponible en este momento.", "Inténtelo de nuevo dentro de unos minutos."}, false
	case errors.As(err, &apiErr):
		switch apiErr.Code {
		case "bad_document":
			return userError{"La pasarela no reconoce el formato del DNI/NIE.", "Edite el usuario guardado y revise el documento."}, false
		case "bad_code":
			return userError{"El código de solicitud debe tener 4 letras o números.", "Escríbalo de nuevo o déjelo vacío para que se genere uno."}, false
		case "loa_not_reached":
			return userError{"Su registro en Cl@ve no da el nivel de seguridad que pide este trámite.", "Identifíquese con otro método, o eleve su registro a avanzado."}, false
		}
	}
	a.Log.Error("procedures: PIN API", "error", err)
	return userError{"No se ha podido contactar con Cl@ve.", "Inténtelo de nuevo dentro de unos minutos."}, false
}

// statusOf is the page's status for a PIN API error.
func statusOf(err error) int {
	var apiErr *clave.PINAPIError
	if errors.As(err, &apiErr) {
		switch {
		case apiErr.Status == http.StatusTooManyRequests:
			return http.StatusTooManyRequests
		case apiErr.Status < 500:
			return http.StatusBadRequest
		}
	}
	return http.StatusBadGateway
}

func (a *app) users(w http.ResponseWriter, r *http.Request) {
	users, err := a.Store.users(r.Context())
	if err != nil {
		a.internal(w, r, err)
		return
	}
	notice := map[string]string{"guardado": "Usuario guardado.", "borrado": "Usuario borrado."}[r.URL.Query().Get("hecho")]
	a.render(w, r, http.StatusOK, "users", page{Title: "Usuarios de Cl@ve PIN guardados", Notice: notice, Data: map[string]any{"Users": users}})
}

// localPath keeps a "volver" parameter to this site's own paths.
func localPath(s string) string {
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.ContainsAny(s, "\\\r\n") {
		return ""
	}
	return s
}

func (a *app) userForm(w http.ResponseWriter, r *http.Request) {
	title, in := "Nuevo usuario de Cl@ve PIN", savedUserInput{}
	if r.PathValue("id") != "" {
		id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
		u, err := a.Store.user(r.Context(), id)
		if errors.Is(err, errNotFound) {
			a.notFound(w, r)
			return
		} else if err != nil {
			a.internal(w, r, err)
			return
		}
		title, in = "Editar usuario", savedUserInput{Document: u.Document, Contrast: u.Contrast, Label: u.Label}
	}
	a.render(w, r, http.StatusOK, "userForm", page{Title: title, Data: map[string]any{
		"Input": in, "Errors": map[string]string{}, "Back": localPath(r.URL.Query().Get("volver"))}})
}

func (a *app) saveUser(w http.ResponseWriter, r *http.Request) {
	raw := savedUserInput{Document: r.PostFormValue("document"), Contrast: r.PostFormValue("contrast"), Label: r.PostFormValue("label")}
	back := localPath(r.PostFormValue("volver"))
	in, errs := raw.check()
	title := "Nuevo usuario de Cl@ve PIN"
	if r.PathValue("id") != "" {
		title = "Editar usuario"
	}
	if len(errs) > 0 {
		a.render(w, r, http.StatusUnprocessableEntity, "userForm", page{Title: title,
			Error: &userError{"Revise los datos marcados.", ""}, Data: map[string]any{"Input": raw, "Errors": errs, "Back": back}})
		return
	}
	var err error
	if r.PathValue("id") != "" {
		id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
		err = a.Store.updateUser(r.Context(), id, in)
	} else {
		_, err = a.Store.addUser(r.Context(), in)
	}
	if errors.Is(err, errNotFound) {
		a.notFound(w, r)
		return
	} else if err != nil {
		a.internal(w, r, err)
		return
	}
	if back == "" {
		back = "/usuarios?hecho=guardado"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

func (a *app) deleteUser(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err := a.Store.deleteUser(r.Context(), id); errors.Is(err, errNotFound) {
		a.notFound(w, r)
		return
	} else if err != nil {
		a.internal(w, r, err)
		return
	}
	http.Redirect(w, r, "/usuarios?hecho=borrado", http.StatusSeeOther)
}

func (a *app) downloads(w http.ResponseWriter, r *http.Request) {
	ds, err := a.Store.downloads(r.Context())
	if err != nil {
		a.internal(w, r, err)
		return
	}
	notice := ""
	if r.URL.Query().Get("hecho") == "borrado" {
		notice = "Documento borrado."
	}
	a.render(w, r, http.StatusOK, "downloads", page{Title: "Descargas", Notice: notice, Data: map[string]any{"Downloads": ds}})
}

// loadDownload reads the download of the path's {id}, answering itself
// when it cannot.
func (a *app) loadDownload(w http.ResponseWriter, r *http.Request) (download, bool) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	d, err := a.Store.download(r.Context(), id)
	if errors.Is(err, errNotFound) {
		a.notFound(w, r)
		return d, false
	} else if err != nil {
		a.internal(w, r, err)
		return d, false
	}
	return d, true
}

func (a *app) download(w http.ResponseWriter, r *http.Request) {
	d, ok := a.loadDownload(w, r)
	if !ok {
		return
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	notice := map[string]string{"1": "Documento generado y guardado en Descargas.", "renombrado": "Documento renombrado."}[r.URL.Query().Get("nuevo")]
	share := (&url.URL{Scheme: scheme, Host: r.Host, Path: "/compartido/" + d.ShareToken}).String()
	a.render(w, r, http.StatusOK, "download", page{Title: d.Name, Notice: notice, Data: map[string]any{"D": d, "ShareURL": share}})
}

// serveDocument answers a generated document, under a policy that runs
// nothing and loads nothing: it is data, not part of the site.
func serveDocument(w http.ResponseWriter, d download, disposition string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; sandbox")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Disposition", mime.FormatMediaType(disposition, map[string]string{"filename": d.Name}))
	_, _ = w.Write([]byte(d.Content))
}

func (a *app) openDownload(w http.ResponseWriter, r *http.Request) {
	if d, ok := a.loadDownload(w, r); ok {
		serveDocument(w, d, "inline")
	}
}

// shared is the share link: the token alone opens the document.
func (a *app) shared(w http.ResponseWriter, r *http.Request) {
	d, err := a.Store.downloadByToken(r.Context(), r.PathValue("token"))
	if errors.Is(err, errNotFound) {
		a.fail(w, r, http.StatusNotFound, "Enlace no válido", userError{"Este enlace no corresponde a ningún documento: puede que se haya borrado.", "Pida a quien se lo envió un enlace nuevo."})
		return
	} else if err != nil {
		a.internal(w, r, err)
		return
	}
	serveDocument(w, d, "attachment")
}

func (a *app) renameDownload(w http.ResponseWriter, r *http.Request) {
	d, ok := a.loadDownload(w, r)
	if !ok {
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" || len([]rune(name)) > 120 || strings.ContainsAny(name, "/\\\x00\r\n") {
		a.render(w, r, http.StatusUnprocessableEntity, "message", page{Title: "Renombrar", Error: &userError{
			"El nombre no puede estar vacío, pasar de 120 caracteres ni llevar barras.", "Vuelva atrás y escriba otro nombre."}})
		return
	}
	if !strings.HasSuffix(strings.ToLower(name), ".html") {
		name += ".html"
	}
	if err := a.Store.renameDownload(r.Context(), d.ID, name); err != nil {
		a.internal(w, r, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/descargas/%d?nuevo=renombrado", d.ID), http.StatusSeeOther)
}

func (a *app) deleteDownload(w http.ResponseWriter, r *http.Request) {
	d, ok := a.loadDownload(w, r)
	if !ok {
		return
	}
	if err := a.Store.deleteDownload(r.Context(), d.ID); err != nil {
		a.internal(w, r, err)
		return
	}
	http.Redirect(w, r, "/descargas?hecho=borrado", http.StatusSeeOther)
}

// withHeaders gives every answer what no page goes without: no framing, no
// MIME sniffing, no Referer (share links are secrets), HSTS over TLS.
func withHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

const csrfCookie = "procedures_csrf"

type csrfKey struct{}

// csrfToken is the browser's CSRF token, as withCSRF found or made it.
func csrfToken(r *http.Request) string {
	s, _ := r.Context().Value(csrfKey{}).(string)
	return s
}

// withCSRF guards every form: the browser holds a random token in a
// SameSite=Strict cookie, and each POST must carry the same token in its
// "csrf" field, which another site can neither read nor set. The ACS is
// left out: the gateway posts there from its own origin, and the SDK checks
// that post against the login this browser started.
func withCSRF(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := ""
		if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 43 {
			token = c.Value
		}
		if r.Method == http.MethodPost && r.URL.Path != "/clave/acs" {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			sent := r.PostFormValue("csrf")
			if token == "" || subtle.ConstantTimeCompare([]byte(sent), []byte(token)) != 1 {
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				w.WriteHeader(http.StatusForbidden)
				_, _ = w.Write([]byte("El formulario ha caducado o no viene de esta aplicación. Vuelva a la página anterior, recárguela y envíelo de nuevo.\n"))
				return
			}
		}
		if token == "" {
			var err error
			if token, err = randomToken(32); err != nil {
				http.Error(w, "error interno", http.StatusInternalServerError)
				return
			}
			http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: token, Path: "/", HttpOnly: true,
				Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), csrfKey{}, token)))
	})
}
