package main

import (
	"crypto/rand"
	"encoding/base64"
	"html/template"
	"net/http"
	"time"
	_ "time/tzdata" // Europe/Madrid on hosts without a zone database

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/saml"
)

var sitePages = template.Must(template.New("home").Funcs(template.FuncMap{
	"loa": loaName, "method": methodName, "madrid": inMadrid,
}).Parse(`<!DOCTYPE html>
<html lang="es"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{if .Confirm}}Cerrar sesión — {{end}}Sede electrónica de pruebas</title>
<style nonce="{{.Nonce}}">
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f3f4f6;color:#1f2328;line-height:1.5}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:#fff;padding:.5rem}
header{background:#1d3557;color:#fff;padding:1rem}header p{margin:0;font-weight:700;font-size:1.2rem;max-width:40rem;margin:auto}
main{max-width:40rem;margin:1.5rem auto;background:#fff;padding:1.2rem 1.5rem;border-radius:6px}
h1{font-size:1.5rem;margin-top:0}dt{font-weight:700;margin-top:.6rem}dd{margin:0}
a{color:#0b4f8a}.button,button{display:inline-block;background:#1d3557;color:#fff;border:0;border-radius:4px;
padding:.6rem 1.1rem;font-size:1rem;text-decoration:none;cursor:pointer}.secondary{background:#fff;color:#1d3557;border:2px solid #1d3557}
:focus-visible{outline:3px solid #f2b705;outline-offset:2px}
</style></head>
<body><a class="skip" href="#main">Ir al contenido</a><header><p>Sede electrónica de pruebas</p></header>
<main id="main">
{{if .Confirm}}
<h1>¿Cerrar sesión?</h1>
<p>Saldrá de la sede y también de Cl@ve.</p>
<form method="post" action="/clave/logout"><button type="submit">Cerrar sesión</button> <a class="button secondary" href="/">Seguir en la sede</a></form>
{{else}}{{with .ID}}
<h1>Bienvenido/a, {{.GivenName}} {{.FamilyNames}}</h1>
<dl><dt>Documento</dt><dd>{{.DocumentType}} {{.PersonIdentifier}}</dd>
{{if not .DateOfBirth.IsZero}}<dt>Fecha de nacimiento</dt><dd>{{.DateOfBirth.Format "02/01/2006"}}</dd>{{end}}
<dt>Nivel de seguridad</dt><dd>{{loa .LoA}}</dd><dt>Identificado con</dt><dd>{{method .Method}}</dd>
<dt>Identificado el</dt><dd>{{madrid .AuthnInstant}} (hora de Madrid)</dd></dl>
<p><a class="button secondary" href="/salir">Cerrar sesión</a></p>
{{else}}
<h1>Sede electrónica de pruebas</h1>
<p>Para hacer trámites debe identificarse.</p>
<p><a class="button" href="/perfil">Entrar con Cl@ve</a></p>
{{end}}{{end}}
</main></body></html>
`))

// loaName is a level of assurance as a citizen reads it.
func loaName(l saml.LoA) string {
	switch l {
	case saml.LoALow:
		return "bajo"
	case saml.LoASubstantial:
		return "sustancial"
	case saml.LoAHigh:
		return "alto"
	}
	return "desconocido"
}

// methodName is the gateway's SelectedIdP as a citizen knows it.
func methodName(m saml.Method) string {
	switch m {
	case saml.MethodMovil:
		return "Cl@ve Móvil"
	case saml.MethodAEATPIN:
		return "Cl@ve PIN"
	case saml.MethodGISS:
		return "Cl@ve Permanente"
	case saml.MethodAfirma:
		return "DNIe o certificado electrónico"
	case saml.MethodEIDAS:
		return "identidad europea (eIDAS)"
	}
	return string(m)
}

// madrid is t in Spain's peninsular time, as the SMS the citizen read.
func inMadrid(t time.Time) string {
	if loc, err := time.LoadLocation("Europe/Madrid"); err == nil {
		t = t.In(loc)
	}
	return t.Format("02/01/2006 15:04")
}

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
	mux.HandleFunc("GET /salir", func(w http.ResponseWriter, r *http.Request) {
		// A link must not log out (a page elsewhere could link here): this
		// asks, and only the form's POST logs out.
		if _, ok := c.Session(r); !ok {
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		renderPage(w, nil, true)
	})
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
func render(w http.ResponseWriter, _ *http.Request, id *clave.Identity) {
	renderPage(w, id, false)
}

// renderPage writes the home page, the citizen's, or the logout question.
func renderPage(w http.ResponseWriter, id *clave.Identity, confirm bool) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	nonce := base64.RawURLEncoding.EncodeToString(b)
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'nonce-"+nonce+"'; img-src 'self' data:; "+
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	_ = sitePages.Execute(w, struct {
		ID      *clave.Identity
		Nonce   string
		Confirm bool
	}{id, nonce, confirm})
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
