package app

import (
	"context"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/clavetest"
	"github.com/clave-go/clave/gateway"
)

const demoPhone = "+34600000001" // clavetest.DemoCitizen's registered phone

// world is the procedures app on a loopback server, in front of an
// in-process reference gateway, with a citizen's browser.
type world struct {
	t      *testing.T
	gw     *clavetest.Gateway
	srv    *httptest.Server
	db     string
	client *http.Client
	close  func()
}

func newWorld(t *testing.T) *world {
	gw := clavetest.NewGateway()
	t.Cleanup(gw.Close)
	w := &world{t: t, gw: gw, db: filepath.Join(t.TempDir(), "procedures.db")}
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	w.client = &http.Client{Jar: jar}
	w.start()
	return w
}

// start runs the app on w.db; a second start after stop is a restart.
func (w *world) start() {
	t := w.t
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { h.ServeHTTP(rw, r) }))
	cfg := w.gw.Config(srv.URL + "/clave/acs")
	c, err := clave.New(cfg)
	require.NoError(t, err)
	pc := &clave.PINClient{GatewayBaseURL: w.gw.URL, SPID: clavetest.SPID, Key: w.gw.AgencyKey(), Now: w.gw.Gateway.Now}
	a, err := New(context.Background(), Config{Client: c, PIN: pc, ACSURL: cfg.ACSURL, SAML: true, DB: w.db,
		Now: w.gw.Gateway.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	h = a
	w.srv = srv
	w.close = func() { srv.Close(); a.Close() }
	t.Cleanup(w.close)
}

func (w *world) restart() {
	w.close()
	w.start()
}

func (w *world) get(path string) (int, string) {
	resp, err := w.client.Get(w.url(path))
	require.NoError(w.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(w.t, err)
	return resp.StatusCode, string(body)
}

func (w *world) url(path string) string {
	if strings.HasPrefix(path, "http") {
		return path
	}
	return w.srv.URL + path
}

// post submits a form as the page would, with the browser's CSRF token.
func (w *world) post(path string, form url.Values) (int, string) {
	u, _ := url.Parse(w.srv.URL)
	if form.Get("csrf") == "" {
		for _, c := range w.client.Jar.Cookies(u) {
			if c.Name == csrfCookie {
				form.Set("csrf", c.Value)
			}
		}
	}
	resp, err := w.client.PostForm(w.url(path), form)
	require.NoError(w.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(w.t, err)
	return resp.StatusCode, string(body)
}

func find(t *testing.T, re, page string) string {
	m := regexp.MustCompile(re).FindStringSubmatch(page)
	require.NotNil(t, m, "%s not in page:\n%s", re, page)
	return html.UnescapeString(m[1])
}

// saveDemoUser saves clavetest's demo citizen, typed the way people type.
func (w *world) saveDemoUser() {
	w.get("/usuarios/nuevo")
	status, page := w.post("/usuarios/nuevo", url.Values{"document": {"12.345.678-z"},
		"contrast": {clavetest.DemoCitizen.Contrast}, "label": {"María"}})
	require.Equal(w.t, http.StatusOK, status, page)
	assert.Contains(w.t, page, "Usuario guardado.")
	assert.Contains(w.t, page, "María")
	assert.Contains(w.t, page, "*****678Z")
}

// askPIN starts a PIN login for the first saved user and returns the
// verification page.
func (w *world) askPIN(entity, proc string) string {
	status, page := w.get("/pin/" + entity + "/" + proc)
	require.Equal(w.t, http.StatusOK, status)
	user := find(w.t, `name="user" value="([0-9]+)"`, page)
	status, page = w.post("/pin/solicitar", url.Values{"entity": {entity}, "procedure": {proc}, "user": {user}, "channel": {"sms"}})
	require.Equal(w.t, http.StatusOK, status, page)
	return page
}

// smsPIN is the PIN the gateway sent by SMS with the request code on page.
func (w *world) smsPIN(page string) string {
	code := find(w.t, `id="request-code">([A-Z0-9]{4})<`, page)
	in := w.gw.Inbox()
	require.NotNil(w.t, in)
	ms := in.Messages(gateway.ChannelSMS, demoPhone)
	for i := len(ms) - 1; i >= 0; i-- {
		if strings.Contains(ms[i].Text, code) {
			return ms[i].Code
		}
	}
	w.t.Fatalf("no SMS carries request code %s", code)
	return ""
}

func (w *world) verify(page, pin string) (int, string) {
	return w.post("/pin/verificar", url.Values{"pending": {find(w.t, `name="pending" value="([^"]+)"`, page)}, "pin": {pin}})
}

func TestConsultationBySMS(t *testing.T) {
	w := newWorld(t)
	w.saveDemoUser()
	page := w.askPIN("aeat", "datos-fiscales")
	assert.Contains(t, page, "por SMS")
	status, page := w.verify(page, strings.ToLower(w.smsPIN(page)))
	require.Equal(t, http.StatusOK, status, page)
	assert.Contains(t, page, "Consulta de datos fiscales")
	assert.Contains(t, page, "MARIA GARCIA LOPEZ")
	assert.Contains(t, page, "*****678Z")
	assert.NotContains(t, page, "12345678Z", "the DNI is masked")
	assert.Contains(t, page, "substantial")
	assert.Contains(t, page, "Rendimientos del trabajo")
}

func TestWrongPIN(t *testing.T) {
	w := newWorld(t)
	w.saveDemoUser()
	page := w.askPIN("dgt", "puntos")
	right := w.smsPIN(page)
	wrong := "AAA"
	if right == wrong {
		wrong = "BBB"
	}
	status, bad := w.verify(page, wrong)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, bad, `role="alert"`)
	assert.Contains(t, bad, "El PIN no es correcto, ha caducado o ya se usó.")
	assert.Contains(t, bad, "pida otro")

	// The same request can still be completed with the right PIN.
	status, good := w.verify(page, right)
	require.Equal(t, http.StatusOK, status, good)
	assert.Contains(t, good, "Saldo de puntos")

	// And a PIN logs in once.
	status, again := w.verify(page, right)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, again, "ya no es válida")
}

func TestDocumentLifecycle(t *testing.T) {
	w := newWorld(t)
	w.saveDemoUser()
	page := w.askPIN("aeat", "certificado-corriente")
	status, page := w.verify(page, w.smsPIN(page))
	require.Equal(t, http.StatusOK, status, page)
	assert.Contains(t, page, "Documento generado y guardado en Descargas.")
	share := find(t, `id="share" readonly value="([^"]+)"`, page)
	assert.Regexp(t, `/compartido/[A-Za-z0-9_-]{43}$`, share, "an unguessable token")
	docPath := find(t, `<a href="(/descargas/[0-9]+)/ver">`, page)

	status, doc := w.get(docPath + "/ver")
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, doc, "MARIA GARCIA LOPEZ")
	assert.Contains(t, doc, "Al corriente")

	status, page = w.post(docPath+"/renombrar", url.Values{"name": {"certificado hacienda"}})
	require.Equal(t, http.StatusOK, status, page)
	assert.Contains(t, page, "certificado hacienda.html")
	_, list := w.get("/descargas")
	assert.Contains(t, list, "certificado hacienda.html")

	// The share link works for anyone, without the browser's cookies.
	resp, err := http.Get(share)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Content-Disposition"), "attachment")
	assert.Contains(t, resp.Header.Get("Content-Disposition"), "certificado hacienda.html")
	assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "sandbox")
	assert.Equal(t, doc, string(body))

	status, list = w.post(docPath+"/borrar", url.Values{})
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, list, "Documento borrado.")
	assert.NotContains(t, list, "certificado hacienda")
	resp, err = http.Get(share)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "a deleted document's link stops working")
}

func TestPersistsAcrossRestart(t *testing.T) {
	w := newWorld(t)
	w.saveDemoUser()
	page := w.askPIN("seg-social", "certificado-afiliacion")
	status, page := w.verify(page, w.smsPIN(page))
	require.Equal(t, http.StatusOK, status, page)
	share := find(t, `id="share" readonly value="([^"]+)"`, page)
	share = strings.TrimPrefix(share, w.srv.URL)

	w.restart()
	_, users := w.get("/usuarios")
	assert.Contains(t, users, "María")
	assert.Contains(t, users, "*****678Z")
	_, list := w.get("/descargas")
	assert.Contains(t, list, "Certificado de número de afiliación")
	status, _ = w.get(share)
	assert.Equal(t, http.StatusOK, status, "the share link survives the restart")

	// And the saved user still logs in after the restart.
	page = w.askPIN("aeat", "datos-fiscales")
	status, page = w.verify(page, w.smsPIN(page))
	require.Equal(t, http.StatusOK, status, page)
	assert.Contains(t, page, "MARIA GARCIA LOPEZ")
}

func TestSavedUserValidation(t *testing.T) {
	w := newWorld(t)
	w.get("/usuarios/nuevo")
	for _, tc := range []struct {
		name, document, contrast, want string
	}{
		{"wrong letter", "12345678A", "01/01/2030", "La letra del DNI/NIE no corresponde"},
		{"not a document", "1234", "01/01/2030", "El DNI debe tener 8 números y una letra"},
		{"date format", "12345678Z", "2030-01-01", "dd/mm/aaaa"},
		{"impossible date", "12345678Z", "31/02/2030", "dd/mm/aaaa"},
		{"NIE support number", "X1234567L", "12345678", "número de soporte"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, page := w.post("/usuarios/nuevo", url.Values{"document": {tc.document}, "contrast": {tc.contrast}})
			assert.Equal(t, http.StatusUnprocessableEntity, status)
			assert.Contains(t, page, `role="alert"`)
			assert.Contains(t, page, html.EscapeString(tc.want))
			assert.Contains(t, page, `aria-invalid="true"`)
		})
	}
	// A NIE with its support number, then edited and deleted.
	status, page := w.post("/usuarios/nuevo", url.Values{"document": {"x1234567l"}, "contrast": {"e12345678"}, "label": {"Ana"}})
	require.Equal(t, http.StatusOK, status, page)
	assert.Contains(t, page, "E12345678")
	edit := find(t, `<a href="(/usuarios/[0-9]+)/editar">`, page)
	status, page = w.post(edit+"/editar", url.Values{"document": {"X1234567L"}, "contrast": {"C87654321"}, "label": {"Ana López"}})
	require.Equal(t, http.StatusOK, status, page)
	assert.Contains(t, page, "Ana López")
	assert.Contains(t, page, "C87654321")
	status, page = w.post(edit+"/borrar", url.Values{})
	require.Equal(t, http.StatusOK, status, page)
	assert.Contains(t, page, "Usuario borrado.")
	assert.NotContains(t, page, "Ana López")
}

func TestPagesAndCSRF(t *testing.T) {
	w := newWorld(t)
	status, page := w.get("/")
	require.Equal(t, http.StatusOK, status)
	for _, want := range []string{`<html lang="es">`, `name="viewport"`, "<main>", "Cl@ve PIN", "Otros métodos de Cl@ve"} {
		assert.Contains(t, page, want)
	}
	resp, err := http.Get(w.url("/usuarios/nuevo")) // a browser without cookies yet
	require.NoError(t, err)
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'none'", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
		assert.Contains(t, csp, d)
	}
	assert.NotContains(t, csp, "unsafe-inline")
	assert.Equal(t, "no-referrer", resp.Header.Get("Referrer-Policy"))
	var csrf *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == csrfCookie {
			csrf = c
		}
	}
	require.NotNil(t, csrf)
	assert.Equal(t, http.SameSiteStrictMode, csrf.SameSite)
	assert.True(t, csrf.HttpOnly)

	status, _ = w.post("/usuarios/nuevo", url.Values{"csrf": {"forged"}, "document": {"12345678Z"}, "contrast": {"01/01/2030"}})
	assert.Equal(t, http.StatusForbidden, status, "a form without the browser's token is refused")
	_, users := w.get("/usuarios")
	assert.NotContains(t, users, "*****678Z")
}

func TestPINThroughTheApp(t *testing.T) {
	w := newWorld(t)
	_, err := w.gw.Phone(context.Background(), clavetest.DemoCitizen)
	require.NoError(t, err)
	w.saveDemoUser()
	status, page := w.get("/pin/aeat/datos-fiscales")
	require.Equal(t, http.StatusOK, status)
	user := find(t, `name="user" value="([0-9]+)"`, page)
	status, page = w.post("/pin/solicitar", url.Values{"entity": {"aeat"}, "procedure": {"datos-fiscales"}, "user": {user}, "channel": {"app"}, "code": {"ab12"}})
	require.Equal(t, http.StatusOK, status, page)
	assert.Contains(t, page, `id="request-code">AB12<`, "the citizen may choose the request code")
	assert.Contains(t, page, "abra la app")

	// With an active device, the gateway pushes the PIN to the app's inbox.
	var pin string
	for _, m := range w.gw.Inbox().Messages(gateway.ChannelApp, clavetest.DemoCitizen.ID) {
		if strings.Contains(m.Text, "AB12") {
			pin = m.Code
		}
	}
	require.NotEmpty(t, pin, "a PIN in the app's inbox")
	status, page = w.verify(page, pin)
	require.Equal(t, http.StatusOK, status, page)
	assert.Contains(t, page, "MARIA GARCIA LOPEZ")
}

// validDNI gives the DNI of number n with its control letter.
func validDNI(n int) string {
	return strings.Repeat("0", 8-len(itoa(n))) + itoa(n) + string(checkLetters[n%23])
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestPINErrorsInPlainSpanish(t *testing.T) {
	w := newWorld(t)
	w.get("/usuarios/nuevo")
	// Someone not registered at Cl@ve is answered like anyone else: a
	// request code, then a PIN that never verifies.
	status, page := w.post("/usuarios/nuevo", url.Values{"document": {validDNI(87654321)}, "contrast": {"01/01/2031"}, "label": {"Desconocido"}})
	require.Equal(t, http.StatusOK, status, page)
	page = w.askPIN("aeat", "datos-fiscales")
	assert.Regexp(t, `id="request-code">[A-Z0-9]{4}<`, page)
	status, page = w.verify(page, "ABC")
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, page, "El PIN no es correcto")
	assert.Contains(t, page, "dato de contraste")

	// Asking too often is refused, with when to try again.
	var last string
	for range 6 {
		_, last = w.post("/pin/solicitar", url.Values{"entity": {"aeat"}, "procedure": {"datos-fiscales"},
			"user": {find(t, `name="user" value="([0-9]+)"`, w.must(w.get("/pin/aeat/datos-fiscales")))}, "channel": {"sms"}})
	}
	assert.Contains(t, last, `role="alert"`)
	assert.Contains(t, last, "Se han hecho demasiadas solicitudes en poco tiempo.")
	assert.Contains(t, last, "Podrá volver a intentarlo a partir de las")

	// A PIN asked for more than 10 minutes ago has expired.
	w.gw.AdvanceClock(24 * time.Hour)
	page = w.askPIN("dgt", "puntos")
	w.gw.AdvanceClock(11 * time.Minute)
	status, page = w.verify(page, "ABC")
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, page, "Esta solicitud de PIN ya no es válida (caducó o ya se usó).")
	assert.Contains(t, page, "pida un PIN nuevo")
}

func (w *world) must(_ int, page string) string { return page }

func TestLoginThroughTheGatewayPages(t *testing.T) {
	w := newWorld(t)
	b := w.gw.Browser()
	page, status, err := b.LogIn(context.Background(), w.srv.URL+"/pasarela/aeat/datos-fiscales", clavetest.DemoCitizen)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status, page)
	assert.Contains(t, page, "Consulta de datos fiscales")
	assert.Contains(t, page, "MARIA GARCIA LOPEZ")
}

func TestDocumentThroughTheGatewayPages(t *testing.T) {
	w := newWorld(t)
	b := w.gw.Browser()
	page, status, err := b.LogIn(context.Background(), w.srv.URL+"/pasarela/dgt/informe-conductor", clavetest.DemoCitizen)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status, page)
	assert.Contains(t, page, "Generar el documento")
	// The logged-in browser confirms; the form carries its CSRF token.
	w.client = b.HTTP
	status, page = w.post("/pasarela/dgt/informe-conductor", url.Values{"csrf": {find(t, `name="csrf" value="([^"]+)"`, page)}})
	require.Equal(t, http.StatusOK, status, page)
	assert.Contains(t, page, "Documento generado y guardado en Descargas.")
	assert.Contains(t, page, "Informe de conductor")
}
