package gateway

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
)

// Forms under /login/{login}/ carry a token bound to the login and to the
// browser: an HMAC, keyed by the browser key of the login's cookie, of the
// login ID. The cookie is SameSite=Lax, which another origin of the same site
// (another port of the host, a sibling subdomain) gets past; that origin can
// neither read the HttpOnly cookie nor the gateway's pages, so it cannot make
// the token. The key is the browser's, not a secret of the gateway process:
// tokens stay valid across a restart and on every replica, like the logins
// themselves, and the gateway stores only a hash of the key.

const (
	formField  = "csrf"
	formHeader = "X-CSRF-Token"
	// maxCheckedForm bounds a form read for its token; the method's handler
	// reads it again, under its own bound.
	maxCheckedForm = 64 << 10
)

func formToken(loginID, browserKey string) string {
	if loginID == "" || browserKey == "" {
		return ""
	}
	m := hmac.New(sha256.New, []byte(browserKey))
	m.Write([]byte("clave gateway form\x00"))
	m.Write([]byte(loginID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// newLogin is the login whose cookie the response to r sets: the page that
// answers the request that started it (an armed persona's waiting page) has
// forms before the browser has the cookie.
type newLogin struct{ id, key string }

type newLoginKey struct{}

func withNewLogin(ctx context.Context, id, key string) context.Context {
	return context.WithValue(ctx, newLoginKey{}, newLogin{id, key})
}

// formTokenOf is the token of the login r names, from the browser's cookie;
// "" without one.
func formTokenOf(r *http.Request) string {
	if id := r.PathValue("login"); id != "" {
		ck, err := r.Cookie(flowCookiePrefix + id)
		if err != nil {
			return ""
		}
		return formToken(id, ck.Value)
	}
	if nl, ok := r.Context().Value(newLoginKey{}).(newLogin); ok {
		return formToken(nl.id, nl.key)
	}
	return ""
}

// checkForm refuses, before next runs, a request that changes a login
// without its form token. A request without the login's cookie passes: it
// carries no credential a forged request could ride on, and cannot continue
// the login (Host.Login refuses it).
func (g *Gateway) checkForm(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			next.ServeHTTP(w, r)
			return
		}
		id := r.PathValue("login")
		ck, err := r.Cookie(flowCookiePrefix + id)
		if err != nil {
			next.ServeHTTP(w, r)
			return
		}
		got, err := postedToken(r)
		if errors.Is(err, errFormTooLarge) {
			g.errorPage(w, r, http.StatusRequestEntityTooLarge, "error.request", nil)
			return
		}
		want := formToken(id, ck.Value)
		if err != nil || got == "" || !hmac.Equal([]byte(got), []byte(want)) {
			g.log.WarnContext(r.Context(), "gateway: form without its token refused", "flow", id, "path", r.URL.Path)
			g.errorPage(w, r, http.StatusForbidden, "error.form", nil)
			return
		}
		next.ServeHTTP(w, r)
	})
}

var errFormTooLarge = errors.New("gateway: form too large")

// postedToken reads the token of r from its header or its urlencoded form,
// leaving the body for the handler to read as it came.
func postedToken(r *http.Request) (string, error) {
	if t := r.Header.Get(formHeader); t != "" {
		return t, nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/x-www-form-urlencoded" || r.Body == nil {
		return "", nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxCheckedForm+1))
	if err != nil {
		return "", err
	}
	if len(body) > maxCheckedForm {
		return "", errFormTooLarge
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return "", err
	}
	return vals.Get(formField), nil
}
