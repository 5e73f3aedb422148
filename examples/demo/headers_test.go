package main

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/clavetest"
	"github.com/clave-go/clave/gateway"
	"github.com/clave-go/clave/saml"
)

var (
	cspNonce = regexp.MustCompile(`'nonce-([^']+)'`)
	styleTag = regexp.MustCompile(`<style nonce="([^"]+)">`)
)

// The demo agency's pages, the one showing the citizen's DNI first, cannot be
// framed, sniffed or cached, and run nothing but their own style.
func TestSiteHeaders(t *testing.T) {
	gw := clavetest.NewGateway()
	t.Cleanup(gw.Close)
	c, err := clave.New(gw.Config("http://sede.test/clave/acs"))
	require.NoError(t, err)
	h := site(c)

	rec := httptest.NewRecorder()
	require.NoError(t, c.SetSession(rec, &clave.Identity{PersonIdentifier: "12345678Z", DocumentType: "DNI",
		GivenName: "MARIA", FamilyNames: "GARCIA LOPEZ", LoA: saml.LoALow, Method: saml.MethodAEATPIN, AuthnInstant: time.Now()}))
	session := rec.Result().Cookies()

	cases := []struct {
		name, path string
		loggedIn   bool
		status     int
		page       bool // one of the site's own pages
	}{
		{"home", "/", false, http.StatusOK, true},
		{"home logged in", "/", true, http.StatusOK, true},
		{"profile", "/perfil", true, http.StatusOK, true},
		{"login form", "/perfil", false, http.StatusOK, false},
		{"not found", "/nada", false, http.StatusNotFound, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, overTLS := range []bool{false, true} {
				r := httptest.NewRequest(http.MethodGet, tc.path, nil)
				if overTLS {
					r.TLS = &tls.ConnectionState{}
				}
				if tc.loggedIn {
					for _, ck := range session {
						r.AddCookie(ck)
					}
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				body, _ := io.ReadAll(w.Result().Body)
				require.Equal(t, tc.status, w.Code, string(body))
				hd := w.Header()
				assert.Equal(t, "DENY", hd.Get("X-Frame-Options"))
				assert.Equal(t, "nosniff", hd.Get("X-Content-Type-Options"))
				assert.Equal(t, "no-referrer", hd.Get("Referrer-Policy"))
				if overTLS {
					assert.Contains(t, hd.Get("Strict-Transport-Security"), "max-age=")
				} else {
					assert.Empty(t, hd.Get("Strict-Transport-Security"))
				}
				if !tc.page {
					continue
				}
				if tc.loggedIn {
					assert.Contains(t, string(body), "12345678Z")
				}
				assert.Equal(t, "no-store", hd.Get("Cache-Control"))
				csp := hd.Get("Content-Security-Policy")
				assert.NotContains(t, csp, "unsafe-inline")
				for _, d := range []string{"default-src 'none'", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
					assert.Contains(t, csp, d)
				}
				n := cspNonce.FindStringSubmatch(csp)
				require.NotNil(t, n, csp)
				assert.Contains(t, csp, "style-src 'nonce-"+n[1]+"'")
				tags := styleTag.FindAllStringSubmatch(string(body), -1)
				require.Len(t, tags, strings.Count(string(body), "<style"), "every <style> has a nonce")
				for _, tag := range tags {
					assert.Equal(t, n[1], tag[1])
				}
				assert.NotContains(t, string(body), "<script")
				assert.NotContains(t, string(body), "style=")
			}
		})
	}
}

// The demo inbox shows PINs: no other page may frame it, nor cache keep it.
func TestInboxHeaders(t *testing.T) {
	in := gateway.NewInbox(0, time.Now)
	require.NoError(t, in.Send(context.Background(), gateway.Message{Channel: gateway.ChannelSMS, To: "+34600000001",
		Text: "Cl@ve PIN: ABC", Code: "ABC"}))
	for _, overTLS := range []bool{false, true} {
		r := httptest.NewRequest(http.MethodGet, "/demo/inbox", nil)
		if overTLS {
			r.TLS = &tls.ConnectionState{}
		}
		w := httptest.NewRecorder()
		in.Page().ServeHTTP(w, r)
		body := w.Body.String()
		require.Contains(t, body, "Cl@ve PIN: ABC")
		hd := w.Header()
		assert.Equal(t, "no-store", hd.Get("Cache-Control"))
		assert.Equal(t, "DENY", hd.Get("X-Frame-Options"))
		assert.Equal(t, "nosniff", hd.Get("X-Content-Type-Options"))
		assert.Equal(t, "no-referrer", hd.Get("Referrer-Policy"))
		csp := hd.Get("Content-Security-Policy")
		for _, d := range []string{"default-src 'none'", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
			assert.Contains(t, csp, d)
		}
		n := cspNonce.FindStringSubmatch(csp)
		require.NotNil(t, n, csp)
		tags := styleTag.FindAllStringSubmatch(body, -1)
		require.Len(t, tags, strings.Count(body, "<style"))
		for _, tag := range tags {
			assert.Equal(t, n[1], tag[1])
		}
		assert.Equal(t, overTLS, hd.Get("Strict-Transport-Security") != "")
	}
}
