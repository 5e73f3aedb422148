package main

import (
	"html/template"
	"net/http"

	"github.com/clave-go/clave"
)

var pages = template.Must(template.New("home").Parse(`<!DOCTYPE html>
<html lang="es"><head><meta charset="utf-8"><title>Sede electrónica de pruebas</title>
<style>body{font-family:sans-serif;max-width:40rem;margin:2rem auto}dt{font-weight:bold}</style></head>
<body><h1>Sede electrónica de pruebas</h1>
{{if .}}
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
// "/clave/acs" and "/clave/logout".
func site(c *clave.Client) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/clave/acs", c.ACSHandler())
	mux.Handle("/clave/logout", c.LogoutHandler())
	mux.Handle("/perfil", c.RequireLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := clave.IdentityFromContext(r.Context())
		render(w, id)
	})))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		id, _ := c.Session(r)
		render(w, id)
	})
	return mux
}

func render(w http.ResponseWriter, id *clave.Identity) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = pages.Execute(w, id)
}
