package main

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/gateway"
)

// The demo inbox shows PINs: no other page may frame it, nor cache keep it,
// and it runs nothing but its own style.
func TestInboxHeaders(t *testing.T) {
	cspNonce := regexp.MustCompile(`'nonce-([^']+)'`)
	styleTag := regexp.MustCompile(`<style nonce="([^"]+)">`)
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
		assert.NotContains(t, csp, "unsafe-inline")
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
		assert.NotContains(t, body, "<script")
		assert.Equal(t, overTLS, hd.Get("Strict-Transport-Security") != "")
	}
}
