package clave_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"html/template"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/saml"
)

// records is a slog handler that keeps what it is given.
type records struct {
	mu   sync.Mutex
	recs []slog.Record
	text bytes.Buffer
}

func (h *records) Enabled(context.Context, slog.Level) bool { return true }
func (h *records) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *records) WithGroup(string) slog.Handler            { return h }
func (h *records) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r.Clone())
	return slog.NewTextHandler(&h.text, nil).Handle(ctx, r)
}

// failures returns the attributes of the "login failed" and "logout not
// confirmed" records, by key.
func (h *records) failures() []map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []map[string]string
	for _, r := range h.recs {
		if r.Message != "clave: login failed" && r.Message != "clave: logout not confirmed" {
			continue
		}
		m := map[string]string{"level": r.Level.String()}
		r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
		out = append(out, m)
	}
	return out
}

func (h *records) all() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.text.String()
}

// unreadable posts a form the ACS cannot parse: the quickest failure page.
func unreadable(lang string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/clave/acs", strings.NewReader("%zz"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if lang != "" {
		r.Header.Set("Accept-Language", lang)
	}
	return r
}

var styleNonce = regexp.MustCompile(`<style nonce="([^"]+)">`)

func TestFailurePageDefaultInEveryLanguage(t *testing.T) {
	g := newStubGateway(t, time.Now)
	a := newAgency(t, g, time.Now, func(c *clave.Config) { c.Logger = slog.New(slog.DiscardHandler) })
	cases := []struct{ header, lang, title, back string }{
		{"", "es", "La respuesta de Cl@ve no es válida.", "Volver al servicio"},
		{"es-ES", "es", "La respuesta de Cl@ve no es válida.", "Volver al servicio"},
		{"ca", "ca", "La resposta de Cl@ve no és vàlida.", "Torni al servei"},
		{"ca-ES-valencia", "ca-valencia", "La resposta de Cl@ve no és vàlida.", "Torne al servei"},
		{"gl", "gl", "A resposta de Cl@ve non é válida.", "Volver ao servizo"},
		{"eu", "eu", "Cl@ve-ren erantzuna ez da baliozkoa.", "Itzuli zerbitzura"},
		{"en-GB,en;q=0.8", "en", "The Cl@ve response is not valid.", "Back to the service"},
	}
	for _, tc := range cases {
		t.Run(tc.lang+" "+tc.header, func(t *testing.T) {
			w := httptest.NewRecorder()
			a.client.ACSHandler().ServeHTTP(w, unreadable(tc.header))
			require.Equal(t, http.StatusBadRequest, w.Code)
			page := w.Body.String()
			assert.Contains(t, page, `<html lang="`+tc.lang+`">`)
			assert.Contains(t, page, `<meta name="viewport" content="width=device-width, initial-scale=1">`)
			assert.Contains(t, page, "<main>")
			assert.Contains(t, page, "<h1>"+template.HTMLEscapeString(tc.title)+"</h1>")
			assert.Regexp(t, `<p role="alert">[^<]+</p>`, page)
			assert.Contains(t, page, `<a href="`+a.srv.URL+`/">`+tc.back+`</a>`, "a real link back to the service")
			assert.Contains(t, page, "font-family:system-ui")
			assert.NotRegexp(t, `(src|href)="https?://[^"]*"[^>]*>(?s:.*)(<link|<img|<script)`, page, "no external resources")
			assert.NotContains(t, page, "<script")
			assert.NotContains(t, page, "<link")
			assert.Equal(t, tc.lang, w.Header().Get("Content-Language"))
			m := styleNonce.FindStringSubmatch(page)
			require.NotNil(t, m, page)
			csp := w.Header().Get("Content-Security-Policy")
			assert.Contains(t, csp, "default-src 'none'")
			assert.Contains(t, csp, "style-src 'nonce-"+m[1]+"'")
		})
	}

	t.Run("configured languages", func(t *testing.T) {
		b := newAgency(t, g, time.Now, func(c *clave.Config) {
			c.Logger = slog.New(slog.DiscardHandler)
			c.DefaultLanguage = "gl"
			c.Language = func(r *http.Request) string {
				if ck, err := r.Cookie("lang"); err == nil {
					return ck.Value
				}
				return ""
			}
		})
		w := httptest.NewRecorder()
		b.client.ACSHandler().ServeHTTP(w, unreadable("fr"))
		assert.Contains(t, w.Body.String(), `lang="gl"`, "DefaultLanguage when Accept-Language names none")
		r := unreadable("en")
		r.AddCookie(&http.Cookie{Name: "lang", Value: "eu"})
		w = httptest.NewRecorder()
		b.client.ACSHandler().ServeHTTP(w, r)
		assert.Contains(t, w.Body.String(), `lang="eu"`, "Language before Accept-Language")
		r = unreadable("en")
		r.AddCookie(&http.Cookie{Name: "lang", Value: "klingon"})
		w = httptest.NewRecorder()
		b.client.ACSHandler().ServeHTTP(w, r)
		assert.Contains(t, w.Body.String(), `lang="en"`, "an unknown choice falls back")
	})
}

// login runs a login through the stub gateway and returns the ACS's
// answer to a browser preferring lang.
func login(t *testing.T, a *agency, lang string) (*http.Response, string) {
	b := newBrowser(t)
	_, page := b.get(a.srv.URL + "/")
	_, page = b.submit(page, nil)
	return b.submitLang(page, lang)
}

// submitLang is submit with an Accept-Language header.
func (b *browser) submitLang(page, lang string) (*http.Response, string) {
	m := formAction.FindStringSubmatch(page)
	require.NotNil(b.t, m, page)
	vals := url.Values{}
	for _, in := range formInput.FindAllStringSubmatch(page, -1) {
		vals.Set(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
	}
	req, err := http.NewRequest(http.MethodPost, html.UnescapeString(m[1]), strings.NewReader(vals.Encode()))
	require.NoError(b.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept-Language", lang)
	resp, err := b.c.Do(req)
	require.NoError(b.t, err)
	return resp, body(b.t, resp)
}

func (g *stubGateway) set(f func(g *stubGateway)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f(g)
}

func TestFailureTemplate(t *testing.T) {
	g := newStubGateway(t, time.Now)
	tmpl := template.Must(template.New("mine").Parse(`<!DOCTYPE html><html lang="{{.Lang}}"><style nonce="{{.Nonce}}">h1{color:teal}</style>` +
		`<h1>Mi sede: {{.Title}}</h1><p>{{.Reason}}|{{.Status}}|{{.Level}}|{{.Message}}|{{.Next}}|<a href="{{.BackURL}}">{{.BackText}}</a></p>`))
	a := newAgency(t, g, time.Now, func(c *clave.Config) {
		c.Logger = slog.New(slog.DiscardHandler)
		c.FailureTemplate = tmpl
		c.ServiceURL = "https://sede.example/tramites"
	})

	t.Run("LoA below the requested one names the level", func(t *testing.T) {
		g.set(func(g *stubGateway) { g.loa = saml.LoALow })
		defer g.set(func(g *stubGateway) { g.loa = saml.LoASubstantial })
		resp, page := login(t, a, "es")
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
		assert.Contains(t, page, "Mi sede: Su identificación no alcanza el nivel de seguridad necesario.")
		assert.Contains(t, page, "loa-too-low|403|sustancial|Este servicio necesita un nivel de seguridad sustancial o superior.")
		assert.Contains(t, page, `<a href="https://sede.example/tramites">Volver al servicio</a>`)
		assert.Regexp(t, `style-src 'nonce-[^']+'`, resp.Header.Get("Content-Security-Policy"))
	})
	t.Run("gateway cannot reach the level", func(t *testing.T) {
		g.set(func(g *stubGateway) {
			g.status = &saml.StatusError{Code: saml.StatusResponder, SubCode: saml.StatusNoAuthnContext}
		})
		defer g.set(func(g *stubGateway) { g.status = nil })
		resp, page := login(t, a, "en")
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		assert.Contains(t, page, "loa-too-low|401|substantial|This service needs a substantial level of assurance or higher.")
	})
	t.Run("cancelled", func(t *testing.T) {
		g.set(func(g *stubGateway) {
			g.status = &saml.StatusError{Code: saml.StatusRequester, SubCode: saml.StatusRequestDenied}
		})
		defer g.set(func(g *stubGateway) { g.status = nil })
		resp, page := login(t, a, "ca-ES-valencia")
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		assert.Contains(t, page, `<html lang="ca-valencia">`)
		assert.Contains(t, page, "cancelled|401||")
		assert.Contains(t, page, "Torne al servei")
	})
	t.Run("a failing template falls back to the default page", func(t *testing.T) {
		broken := template.Must(template.New("broken").Parse(`{{.Nope}}`))
		rec := &records{}
		b := newAgency(t, g, time.Now, func(c *clave.Config) { c.Logger = slog.New(rec); c.FailureTemplate = broken })
		w := httptest.NewRecorder()
		b.client.ACSHandler().ServeHTTP(w, unreadable(""))
		assert.Equal(t, http.StatusBadRequest, w.Code)
		assert.Contains(t, w.Body.String(), `role="alert"`)
		assert.Contains(t, rec.all(), "FailureTemplate failed")
	})
}

// failingStore is a SessionStore that cannot save.
type failingStore struct{ clave.SessionStore }

func (failingStore) Save(context.Context, string, []byte, time.Time) error {
	return errors.New("store down")
}

// Every failure of the ACS leaves one log record saying why, with the
// request's Host, and none carries the citizen's identifier.
func TestACSFailuresLogged(t *testing.T) {
	g := newStubGateway(t, time.Now)
	rec := &records{}
	a := newAgency(t, g, time.Now, func(c *clave.Config) { c.Logger = slog.New(rec) })
	host := strings.TrimPrefix(a.srv.URL, "http://")
	cases := []struct {
		name, reason, cause, level string
		run                        func(t *testing.T) int
	}{
		{"cancelled", "cancelled", "saml.ErrUserCancelled", "INFO", func(t *testing.T) int {
			g.set(func(g *stubGateway) {
				g.status = &saml.StatusError{Code: saml.StatusRequester, SubCode: saml.StatusRequestDenied, Message: "cancelado por 12345678Z"}
			})
			defer g.set(func(g *stubGateway) { g.status = nil })
			resp, _ := login(t, a, "")
			return resp.StatusCode
		}},
		{"authentication failed", "not-identified", "saml.ErrAuthnFailed", "INFO", func(t *testing.T) int {
			g.set(func(g *stubGateway) {
				g.status = &saml.StatusError{Code: saml.StatusResponder, SubCode: saml.StatusAuthnFailed, Message: "12345678-Z bloqueado"}
			})
			defer g.set(func(g *stubGateway) { g.status = nil })
			resp, _ := login(t, a, "")
			return resp.StatusCode
		}},
		{"LoA too low", "loa-too-low", "saml.ErrLoA", "WARN", func(t *testing.T) int {
			g.set(func(g *stubGateway) { g.loa = saml.LoALow })
			defer g.set(func(g *stubGateway) { g.loa = saml.LoASubstantial })
			resp, _ := login(t, a, "")
			return resp.StatusCode
		}},
		{"wrong issuer", "invalid-response", "saml.ErrIssuer", "WARN", func(t *testing.T) int {
			g.set(func(g *stubGateway) { g.tweak = func(p *samlidp.ResponseParams) { p.Issuer = "https://otra.test" } })
			defer g.set(func(g *stubGateway) { g.tweak = nil })
			resp, _ := login(t, a, "")
			return resp.StatusCode
		}},
		{"login cookie missing", "no-login-state", "login cookie missing", "WARN", func(t *testing.T) int {
			b := newBrowser(t)
			_, page := b.get(a.srv.URL + "/")
			_, page = b.submit(page, nil)
			// Another browser, or the same one under another host name.
			resp, page := newBrowser(t).submitLang(page, "es")
			assert.Contains(t, page, "Este navegador no tiene el acceso que empezó.")
			assert.Contains(t, page, "vuelva a empezar desde su dirección: "+a.srv.URL+"/")
			return resp.StatusCode
		}},
		{"session not started", "internal", "session not started", "ERROR", func(t *testing.T) int {
			b := newAgency(t, g, time.Now, func(c *clave.Config) {
				c.Logger = slog.New(rec)
				c.SessionStore = failingStore{clave.NewMemorySessionStore(0)}
			})
			resp, page := login(t, b, "en")
			assert.Contains(t, page, "Internal error.")
			return resp.StatusCode
		}},
		{"unreadable form", "invalid-response", "unreadable form", "WARN", func(t *testing.T) int {
			w := httptest.NewRecorder()
			r := unreadable("")
			r.Host = host
			a.client.ACSHandler().ServeHTTP(w, r)
			return w.Code
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(rec.failures())
			status := tc.run(t)
			fs := rec.failures()[before:]
			require.Len(t, fs, 1, rec.all())
			f := fs[0]
			assert.Equal(t, tc.reason, f["reason"])
			assert.Equal(t, tc.cause, f["cause"])
			assert.Equal(t, tc.level, f["level"])
			assert.Equal(t, fmt.Sprint(status), f["status"])
			assert.NotEmpty(t, f["host"])
			if tc.reason == "no-login-state" {
				assert.Equal(t, host, f["host"])
				assert.Equal(t, "0", f["login_cookies"], "this browser holds no login at all")
				assert.Equal(t, host, f["acs_host"])
			}
		})
	}
	logs := rec.all()
	assert.NotContains(t, logs, "12345678", "no identifier in the logs")
	assert.NotContains(t, logs, "SAMLResponse")
	assert.NotContains(t, logs, "PHNhbWwy", "no raw response")
}
