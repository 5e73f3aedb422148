package saml_test

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/saml"
)

// A message just under the decode cap still fits the form-size bound once
// base64- and URL-encoded, even in the worst case where every base64
// character needs percent-encoding.
func TestReadPostTakesMessagesUpToTheCap(t *testing.T) {
	msg := bytes.Repeat([]byte{0xfb, 0xff, 0xbf}, (saml.DefaultMaxMessageSize-3)/3) // base64 "+/+/..."
	form := url.Values{saml.FieldSAMLResponse: {base64.StdEncoding.EncodeToString(msg)},
		saml.FieldRelayState: {strings.Repeat("r", 80)}}.Encode()
	require.Greater(t, len(form), saml.DefaultMaxMessageSize*4/3+8192, "the old bound would refuse it")
	r := httptest.NewRequest(http.MethodPost, "/acs", strings.NewReader(form))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	got, relay, err := saml.ReadPost(r, saml.FieldSAMLResponse, 0)
	require.NoError(t, err)
	assert.Equal(t, msg, got)
	assert.Len(t, relay, 80)
}

// The auto-posting page runs only its own script, posts only to its action,
// and cannot be framed.
func TestPostFormHeaders(t *testing.T) {
	rec := httptest.NewRecorder()
	saml.PostForm{Action: "https://sede.example.es/clave/acs", Field: saml.FieldSAMLResponse, Message: []byte("<x/>"), RelayState: "r"}.
		ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	h := rec.Header()
	csp := h.Get("Content-Security-Policy")
	assert.Contains(t, csp, "form-action https://sede.example.es;")
	assert.Contains(t, csp, "frame-ancestors 'none'")
	assert.NotContains(t, csp, "unsafe-inline")
	i := strings.Index(csp, "'nonce-")
	require.GreaterOrEqual(t, i, 0, csp)
	nonce := csp[i+len("'nonce-"):]
	nonce = nonce[:strings.IndexByte(nonce, '\'')]
	assert.Contains(t, rec.Body.String(), `<script nonce="`+nonce+`">`)
	assert.Equal(t, "nosniff", h.Get("X-Content-Type-Options"))
	assert.Equal(t, "DENY", h.Get("X-Frame-Options"))
	assert.Equal(t, "no-store", h.Get("Cache-Control"))
	assert.Equal(t, "no-referrer", h.Get("Referrer-Policy"))

	other := httptest.NewRecorder()
	saml.PostForm{Action: "https://sede.example.es/clave/acs", Field: saml.FieldSAMLResponse, Message: []byte("<x/>")}.
		ServeHTTP(other, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.NotEqual(t, csp, other.Header().Get("Content-Security-Policy"), "a fresh nonce per page")
}
