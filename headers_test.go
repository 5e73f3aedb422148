package clave_test

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/clavetest"
	"github.com/clave-go/clave/saml"
)

// The SDK's own pages (the ACS handler's failures, the auto-posting forms)
// cannot be framed, sniffed or cached, run nothing but their own script, and
// send no Referer.
func TestSDKPageHeaders(t *testing.T) {
	t.Parallel()
	gw := clavetest.NewGateway()
	t.Cleanup(gw.Close)
	c, err := clave.New(gw.Config("http://agency.test/clave/acs"))
	require.NoError(t, err)
	acs := c.ACSHandler()
	protected := c.RequireLogin(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	form := func(vals url.Values) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/clave/acs", strings.NewReader(vals.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return r
	}

	cases := []struct {
		name      string
		h         http.Handler
		req       func() *http.Request
		status    int
		formTo    string // the form-action the page needs
		hasScript bool
	}{
		{"invalid response", acs, func() *http.Request {
			return form(url.Values{saml.FieldSAMLResponse: {"bm90IGEgcmVzcG9uc2U="}})
		}, http.StatusForbidden, "'none'", false},
		{"unreadable form", acs, func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/clave/acs", strings.NewReader("%zz"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, http.StatusBadRequest, "'none'", false},
		{"unexpected logout answer", acs, func() *http.Request {
			return form(url.Values{saml.FieldLogoutResponse: {"bm90IGEgcmVzcG9uc2U="}})
		}, http.StatusBadRequest, "'none'", false},
		{"login form", protected, func() *http.Request {
			return httptest.NewRequest(http.MethodGet, "/perfil", nil)
		}, http.StatusOK, gw.URL, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, overTLS := range []bool{false, true} {
				r := tc.req()
				if overTLS {
					r.TLS = &tls.ConnectionState{}
				}
				w := httptest.NewRecorder()
				tc.h.ServeHTTP(w, r)
				require.Equal(t, tc.status, w.Code, w.Body.String())
				h := w.Header()
				assert.Equal(t, "text/html; charset=utf-8", h.Get("Content-Type"))
				assert.Equal(t, "no-store", h.Get("Cache-Control"))
				assert.Equal(t, "DENY", h.Get("X-Frame-Options"))
				assert.Equal(t, "nosniff", h.Get("X-Content-Type-Options"))
				assert.Equal(t, "no-referrer", h.Get("Referrer-Policy"))
				csp := h.Get("Content-Security-Policy")
				assert.NotContains(t, csp, "unsafe-inline")
				for _, d := range []string{"default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'", "form-action " + tc.formTo} {
					assert.Contains(t, csp, d)
				}
				if tc.hasScript {
					assert.Contains(t, csp, "script-src 'nonce-")
				} else {
					assert.NotContains(t, csp, "script-src")
					assert.NotContains(t, w.Body.String(), "<script")
				}
				if overTLS {
					assert.Contains(t, h.Get("Strict-Transport-Security"), "max-age=")
				} else {
					assert.Empty(t, h.Get("Strict-Transport-Security"))
				}
			}
		})
	}
}
