package main

import (
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/clave-go/clave"
)

//go:embed site.css
var siteCSS string

var funcs = template.FuncMap{
	"css":    func() template.CSS { return template.CSS(siteCSS) },
	"t":      text,
	"loa":    loaName,
	"method": methodName,
	"welcome": func(lang string, id *clave.Identity) string {
		return fmt.Sprintf(text(lang, "welcome"), strings.TrimSpace(id.GivenName+" "+id.FamilyNames))
	},
	"date": func(t time.Time) string { return t.Format("02/01/2006") },
	"when": func(t time.Time) string { return t.In(madrid).Format("02/01/2006 15:04") },
}

// pages are the site's pages. "top" and "main" open every page, the SDK's
// failure page included: they use only .Lang, .Nonce and .Title, which
// clave.FailurePage has too.
var pages = template.Must(template.New("site").Funcs(funcs).Parse(`
{{define "top"}}<!DOCTYPE html>
<html lang="{{.Lang}}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · {{t .Lang "site"}}</title>
<style nonce="{{.Nonce}}">{{css}}</style></head>
<body><a class="skip" href="#contenido">{{t .Lang "skip"}}</a>
<header><div class="bar"><a class="name" href="/">{{t .Lang "site"}}</a>{{end}}

{{define "main"}}</div></header>
<main id="contenido" tabindex="-1">{{end}}

{{define "langs"}}<nav aria-label="{{t .Lang "language"}}"><ul>{{$cur := .Lang}}{{range .Langs}}
<li><a href="?lang={{.Tag}}" lang="{{.Tag}}" hreflang="{{.Tag}}"{{if eq .Tag $cur}} aria-current="true"{{end}}>{{.Name}}</a></li>{{end}}
</ul></nav>{{end}}

{{define "end"}}</main></body></html>
{{end}}

{{define "home"}}{{template "top" .}}{{template "langs" .}}{{template "main" .}}
{{with .ID}}<div class="card">
<h1>{{welcome $.Lang .}}</h1>
<h2>{{t $.Lang "yourdata"}}</h2>
<dl><dt>{{t $.Lang "document"}}</dt><dd>{{.DocumentType}} {{.PersonIdentifier}}</dd>
{{if not .DateOfBirth.IsZero}}<dt>{{t $.Lang "birth"}}</dt><dd>{{date .DateOfBirth}}</dd>{{end}}
<dt>{{t $.Lang "loa"}}</dt><dd>{{loa $.Lang .LoA}}</dd>
<dt>{{t $.Lang "method"}}</dt><dd>{{method $.Lang .Method}}</dd>
<dt>{{t $.Lang "when"}}</dt><dd><time datetime="{{.AuthnInstant.UTC.Format "2006-01-02T15:04:05Z"}}">{{when .AuthnInstant}}</time> ({{t $.Lang "timezone"}})</dd></dl>
<div class="actions"><a class="button secondary" href="/clave/logout">{{t $.Lang "logout"}}</a></div>
</div>{{else}}<div class="card">
<h1>{{t .Lang "site"}}</h1>
<p>{{t .Lang "intro"}}</p>
<div class="actions"><a class="button" href="/perfil">{{t .Lang "login"}}</a></div>
</div>{{end}}
{{template "end" .}}{{end}}

{{define "logout"}}{{template "top" .}}{{template "langs" .}}{{template "main" .}}<div class="card">
<h1>{{t .Lang "logout.ask"}}</h1>
<p>{{t .Lang "logout.info"}}</p>
<form method="post" action="/clave/logout" class="actions">
<button type="submit">{{t .Lang "logout"}}</button>
<a href="/">{{t .Lang "logout.no"}}</a>
</form></div>
{{template "end" .}}{{end}}

{{define "notfound"}}{{template "top" .}}{{template "langs" .}}{{template "main" .}}<div class="card">
<h1>{{.Title}}</h1><p><a href="/">{{t .Lang "site"}}</a></p></div>
{{template "end" .}}{{end}}

{{define "failure"}}{{template "top" .}}{{template "main" .}}<div class="card alert">
<h1>{{.Title}}</h1>
<p role="alert">{{.Message}}</p>
<p>{{.Next}}</p>
<div class="actions"><a class="button" href="{{.BackURL}}">{{.BackText}}</a></div>
</div>
{{template "end" .}}{{end}}
`))

// failureTemplate renders the SDK's failure pages (clave.Config.FailureTemplate)
// like the rest of the site.
var failureTemplate = pages.Lookup("failure")

// view is what the site's pages are executed with.
type view struct {
	Lang, Nonce, Title string
	ID                 *clave.Identity
	Langs              []struct{ Tag, Name string }
}

// site serves the agency for c: "/" (home, or the citizen's data once logged
// in), "/perfil" (login required), "/clave/acs", and "/clave/logout" (GET
// asks for confirmation, POST logs out), each answer with the headers of
// withHeaders, and "?lang=" on any page choosing the language.
func site(c *clave.Client) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/clave/acs", c.ACSHandler())
	logout := c.LogoutHandler()
	mux.HandleFunc("/clave/logout", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			logout.ServeHTTP(w, r)
			return
		}
		// A link may ask, never log out: a GET from another site must not
		// end the citizen's session.
		if _, ok := c.Session(r); !ok {
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		render(w, r, http.StatusOK, "logout", nil)
	})
	mux.Handle("/perfil", c.RequireLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := clave.IdentityFromContext(r.Context())
		render(w, r, http.StatusOK, "home", id)
	})))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			render(w, r, http.StatusNotFound, "notfound", nil)
			return
		}
		id, _ := c.Session(r)
		render(w, r, http.StatusOK, "home", id)
	})
	return withHeaders(withLanguage(mux))
}

// render writes page in the request's language. A page may show the
// citizen's DNI: no cache may keep it, and its policy runs nothing but its
// own style, posts only to the site, and lets no other page frame it.
func render(w http.ResponseWriter, r *http.Request, status int, page string, id *clave.Identity) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	v := view{Lang: pickLanguage(r), Nonce: base64.RawURLEncoding.EncodeToString(b), ID: id, Langs: languages[:]}
	switch {
	case page == "logout":
		v.Title = text(v.Lang, "logout.ask")
	case page == "notfound":
		v.Title = text(v.Lang, "notfound")
	case id != nil:
		v.Title = text(v.Lang, "yourdata")
	default:
		v.Title = text(v.Lang, "login")
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", v.Lang)
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'nonce-"+v.Nonce+"'; img-src 'self' data:; "+
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	_ = pages.ExecuteTemplate(w, page, v)
}

// withLanguage serves the language switch: a GET with "?lang=" keeps the
// choice in a cookie and comes back to the same page without it.
func withLanguage(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.Method != http.MethodGet || !q.Has("lang") {
			next.ServeHTTP(w, r)
			return
		}
		if l := matchLanguage(q.Get("lang")); l != "" {
			http.SetCookie(w, &http.Cookie{Name: langCookie, Value: l, Path: "/", MaxAge: 365 * 24 * 3600,
				HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
		}
		to := r.URL.Path
		if strings.HasPrefix(to, "/clave/") {
			to = "/" // the SDK's endpoints are no page to come back to
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
	})
}

// languageOf is clave.Config.Language: the SDK's pages follow the switch.
func languageOf(r *http.Request) string {
	if ck, err := r.Cookie(langCookie); err == nil {
		return ck.Value
	}
	return ""
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
