package pages

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
)

// The gateway's pages carry personal data (a DNI typed, a request code) and
// the login's ID in their URLs, and drive a login; they must not be framed,
// sniffed, cached, nor leak their address to any page they lead to. Their
// only inline script and styles run by a nonce drawn for each response, so
// that markup injected into a page, were any to slip through html/template,
// runs nothing.

// NoContentCSP is the policy of responses that are not pages (XML, JSON,
// redirects, plain errors): nothing may load, run, frame them or be posted
// from them.
const NoContentCSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// PageCSP is the policy of a page whose <script> and <style> elements carry
// nonce, whose forms post to its own origin only.
func PageCSP(nonce string) string {
	return "default-src 'none'; script-src 'nonce-" + nonce + "'; style-src 'nonce-" + nonce +
		"'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}

// NewNonce returns a fresh CSP nonce: 128 random bits, in the URL-safe
// base64 alphabet, which html/template writes into an attribute as it is.
func NewNonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// SetCommonHeaders sets what every response of the gateway carries, page or
// not: no framing, no sniffing, no referrer, and HSTS over TLS.
//
// no-referrer rather than same-origin: the gateway's URLs name the login,
// half of what continues it, and nothing of the gateway reads Referer.
// (A browser then sends "Origin: null" with the gateway's form posts; nothing
// checks Origin either: forms carry a token.)
func SetCommonHeaders(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if r.TLS != nil {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
}

// setPageHeaders sets the headers of an HTML page whose inline elements
// carry nonce.
func setPageHeaders(w http.ResponseWriter, r *http.Request, nonce string) {
	SetCommonHeaders(w, r)
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", PageCSP(nonce))
}
