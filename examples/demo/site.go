package main

import (
	"crypto/rand"
	"encoding/base64"
	"html/template"
	"net/http"

	"github.com/clave-go/clave"
)

var pages = template.Must(template.New("home").Parse(`<!DOCTYPE html>
<html lang="es"><head><meta charset="utf-8"><title>Sede electrónica de pruebas</title>
<style nonce="{{.Nonce}}">body{font-family:sans-serif;max-width:40rem;margin:2rem auto}dt{font-weight:bold}</style></head>
<body><h1>Sede electrónica de pruebas</h1>
{{with .ID}}
<p>Bienvenido/a, {{.GivenName}} {{.FamilyNames}}.</p>
<dl><dt>Documento</dt><dd>{{.DocumentType}} {{.PersonIdentifier}}</dd>
<dt>Nivel de seguridad</dt><dd>{{.LoA}}</dd><dt>Método</dt><dd>{{.Method}}</dd>
<dt>Autenticado</dt><dd>{{.AuthnInstant.Format "02/01/2006 15:04:05"}}</dd></dl>
<form method="post" action="/clave/logout"><button type="submit">Cerrar sesión</button></form>
{{else}}
<p>Para hacer trámites debe identificarse.</p>
<p><a href="/perfil">Entrar con Cl@ve</a></p>
{{end}}
</body></html>
`))

// site serves the agency for c: "/" (home), "/perfil" (login required),
// "/clave/acs" and "/clave/logout", each answer with the headers of
// withHeaders.
func site(c *clave.Client) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/clave/acs", c.ACSHandler())
	mux.Handle("/clave/logout", c.LogoutHandler())
	mux.Handle("/perfil", c.RequireLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := clave.IdentityFromContext(r.Context())
		render(w, r, id)
	})))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		id, _ := c.Session(r)
		render(w, r, id)
	})
	return withHeaders(mux)
}

// render writes the home page, or the citizen's once logged in. It shows
// the citizen's DNI: no cache may keep it, and its policy runs nothing but
// its own style, posts only to the site, and lets no other page frame it.
func render(w http.ResponseWriter, r *http.Request, id *clave.Identity) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	nonce := base64.RawURLEncoding.EncodeToString(b)
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'nonce-"+nonce+"'; img-src 'self' data:; "+
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	_ = pages.Execute(w, struct {
		ID    *clave.Identity
		Nonce string
	}{id, nonce})
}

// withHeaders gives every answer of the site, the SDK's included, what no
// page of an agency goes without: no framing (clickjacking), no MIME
// sniffing, no Referer (the pages' URLs are the site's business), and HSTS
// over TLS.
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
