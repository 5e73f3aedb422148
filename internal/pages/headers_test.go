package pages

import (
	"crypto/tls"
	"html/template"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	cspNonce   = regexp.MustCompile(`'nonce-([^']+)'`)
	inlineTags = regexp.MustCompile(`<(script|style)\b([^>]*)>`)
	tagNonce   = regexp.MustCompile(`\bnonce="([^"]*)"`)
	// inlineAttr finds what a nonce cannot cover: style= attributes and
	// on...= event handlers.
	inlineAttr = regexp.MustCompile(`(?i)<[^>]*\s(style|on[a-z]+)\s*=`)
)

// checkPage asserts the headers of a page and that every inline element of
// body runs under the policy's nonce, and returns the nonce.
func checkPage(t *testing.T, h http.Header, body string) string {
	t.Helper()
	assert.Equal(t, "text/html; charset=utf-8", h.Get("Content-Type"))
	assert.Equal(t, "no-store", h.Get("Cache-Control"))
	assert.Equal(t, "DENY", h.Get("X-Frame-Options"))
	assert.Equal(t, "nosniff", h.Get("X-Content-Type-Options"))
	assert.Equal(t, "no-referrer", h.Get("Referrer-Policy"))
	csp := h.Get("Content-Security-Policy")
	assert.NotContains(t, csp, "unsafe-inline")
	for _, d := range []string{"default-src 'none'", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
		assert.Contains(t, csp, d)
	}
	m := cspNonce.FindAllStringSubmatch(csp, -1)
	require.Len(t, m, 2, "script-src and style-src nonces: %s", csp)
	nonce := m[0][1]
	assert.Equal(t, nonce, m[1][1])
	assert.Contains(t, csp, "script-src 'nonce-"+nonce+"'")
	assert.Contains(t, csp, "style-src 'nonce-"+nonce+"'")
	tags := inlineTags.FindAllStringSubmatch(body, -1)
	require.NotEmpty(t, tags, "the layout has a <style>")
	for _, tag := range tags {
		n := tagNonce.FindStringSubmatch(tag[2])
		if assert.NotNil(t, n, "<%s> without nonce", tag[1]) {
			assert.Equal(t, nonce, n[1], "<%s> with another nonce", tag[1])
		}
	}
	assert.Empty(t, inlineAttr.FindAllString(body, -1), "inline style or handler")
	return nonce
}

func TestPageHeaders(t *testing.T) {
	pin := map[string]any{"Action": "/login/x/pin/verify", "RestartURL": "/login/x/pin/new",
		"CancelURL": "/login/x/cancel", "RequestCode": "AB12", "Seconds": 600, "Left": "10:00", "FormToken": "tok"}
	pages := map[string]func(w http.ResponseWriter, r *http.Request){
		"error": func(w http.ResponseWriter, r *http.Request) {
			Render(w, r, 400, "error", map[string]any{"Message": "error.flow"})
		},
		"pin_verify": func(w http.ResponseWriter, r *http.Request) { Render(w, r, 200, "pin_verify", pin) },
		"admin": func(w http.ResponseWriter, r *http.Request) {
			Render(w, r, 200, "admin_inspect", map[string]any{"Services": []string{"S1"}})
		},
		"layout": func(w http.ResponseWriter, r *http.Request) {
			Layout(w, r, 200, "Mine", template.HTML(`<form method="post" action="go"><button>Go</button></form>`))
		},
	}
	for name, serve := range pages {
		t.Run(name, func(t *testing.T) {
			get := func(tlsOn bool) (*httptest.ResponseRecorder, string) {
				r := httptest.NewRequest(http.MethodGet, "/login/x/pin/", nil)
				if tlsOn {
					r.TLS = &tls.ConnectionState{}
				}
				w := httptest.NewRecorder()
				serve(w, r)
				return w, checkPage(t, w.Header(), w.Body.String())
			}
			w1, n1 := get(false)
			assert.Empty(t, w1.Header().Get("Strict-Transport-Security"), "no HSTS over plain HTTP")
			w2, n2 := get(true)
			assert.NotEqual(t, n1, n2, "a fresh nonce each response")
			assert.Contains(t, w2.Header().Get("Strict-Transport-Security"), "max-age=")
		})
	}

	t.Run("the script of the PIN page carries the nonce", func(t *testing.T) {
		w := httptest.NewRecorder()
		Render(w, httptest.NewRequest(http.MethodGet, "/", nil), 200, "pin_verify", pin)
		assert.Regexp(t, `<script nonce="[^"]+">`, w.Body.String())
		assert.Equal(t, 3, strings.Count(w.Body.String(), `<input type="hidden" name="csrf" value="tok">`),
			"verify, new PIN and cancel forms, and nothing else")
	})
}

// Every template's inline elements carry the nonce, and none has what a nonce
// cannot allow; every form posting under /login/ carries the form token.
func TestTemplatesFitThePolicy(t *testing.T) {
	forms := regexp.MustCompile(`(?s)<form method="post" action="([^"]*)"[^>]*>(.*?)</form>`)
	err := fs.WalkDir(files, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(files, path)
		if err != nil {
			return err
		}
		src := string(b)
		for _, tag := range inlineTags.FindAllStringSubmatch(src, -1) {
			assert.Contains(t, tag[2], `nonce="{{.Nonce}}"`, "%s: <%s> without the nonce", path, tag[1])
		}
		assert.Empty(t, inlineAttr.FindAllString(src, -1), "%s: inline style or handler", path)
		for _, f := range forms.FindAllStringSubmatch(src, -1) {
			if strings.Contains(f[2], "{{.CSRF}}") || strings.Contains(f[2], "{{$.CSRF}}") {
				continue // the admin pages' own token
			}
			if f[1] == "{{.Post.Action}}" {
				// A response on its way to the service's ACS URL: the
				// login is over, and the gateway's token stays home.
				assert.NotContains(t, f[2], "csrf", "%s: the gateway's token sent to a service", path)
				continue
			}
			assert.Contains(t, f[2], `<input type="hidden" name="csrf" value="{{.FormToken}}">`, "%s: form to %s", path, f[1])
		}
		return nil
	})
	require.NoError(t, err)
}
