// Package pages renders the reference gateway's HTML: one layout, the pages of
// the gateway and of each method, and their texts in the gateway's languages.
package pages

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"sync"
)

//go:embed templates/*.html
var files embed.FS

// Languages offered, in the order of the switch. Spanish is the fallback.
// Valencian is a language of its own, "ca-valencia" (the BCP 47 variant of
// Catalan), with its own texts: a citizen who asks for it reads the forms of
// the Acadèmia Valenciana de la Llengua, not Catalan ones.
var Languages = []string{"es", "ca", "ca-valencia", "gl", "eu", "en"}

var tmpl = template.Must(template.New("").Funcs(template.FuncMap{
	"t":        func(lang, key string) string { return T(lang, key) },
	"langName": LanguageName,
	"nextStep": nextStep,
}).ParseFS(files, "templates/*.html"))

// T returns the text for key in lang, falling back to Spanish, then to the key
// itself so a missing translation shows up on the page instead of vanishing.
func T(lang, key string) string {
	if m, ok := texts[lang]; ok {
		if s, ok := m[key]; ok {
			return s
		}
	}
	if s, ok := texts["es"][key]; ok {
		return s
	}
	return key
}

// Lang picks the page language: an explicit ?lang= wins, then the lang cookie,
// then Accept-Language, then Spanish.
func Lang(r *http.Request) string {
	if l := r.URL.Query().Get("lang"); supported(l) {
		return l
	}
	if c, err := r.Cookie("clave_lang"); err == nil && supported(c.Value) {
		return c.Value
	}
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if l := match(tag); l != "" {
			return l
		}
	}
	return "es"
}

// match maps a language tag of Accept-Language to one of Languages, or "".
// Catalan tagged with the variant "valencia" ("ca-ES-valencia",
// "ca-valencia") is Valencian; any other Catalan is "ca".
func match(tag string) string {
	tag = strings.ToLower(strings.ReplaceAll(tag, "_", "-"))
	subtags := strings.Split(tag, "-")
	if subtags[0] == "ca" {
		for _, s := range subtags[1:] {
			if s == "valencia" {
				return "ca-valencia"
			}
		}
	}
	if supported(subtags[0]) {
		return subtags[0]
	}
	return ""
}

func supported(l string) bool {
	for _, s := range Languages {
		if s == l {
			return true
		}
	}
	return false
}

// bodyPool recycles the buffers pages are rendered into before the layout
// wraps them: every page view needs one, of about the same few kilobytes.
var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Render writes page inside the layout. data may be nil; "Lang" and "Title" are
// filled in, and "Nonce", which the page's <script> and <style> elements
// must carry (the page's policy runs no other inline code; inline style=
// attributes and on...= handlers are refused). A page whose form posts to
// another site (a response to a service's ACS URL) names that URL in
// "FormOrigin", and its policy lets forms post to that URL's origin too.
func Render(w http.ResponseWriter, r *http.Request, status int, page string, data map[string]any) {
	if data == nil {
		data = map[string]any{}
	}
	lang, _ := data["Lang"].(string)
	if lang == "" {
		lang = Lang(r)
		data["Lang"] = lang
	}
	if r.URL.Query().Get("lang") == lang {
		http.SetCookie(w, &http.Cookie{Name: "clave_lang", Value: lang, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
	data["Page"] = page
	frame(r, data)
	nonce := NewNonce()
	data["Nonce"] = nonce
	body := bodyPool.Get().(*bytes.Buffer)
	body.Reset()
	defer bodyPool.Put(body)
	if err := tmpl.ExecuteTemplate(body, page, data); err != nil {
		http.Error(w, fmt.Sprintf("page %s: %v", page, err), http.StatusInternalServerError)
		return
	}
	data["Body"] = template.HTML(body.String())
	setPageHeaders(w, r, nonce)
	if o := formOrigin(data["FormOrigin"]); o != "" {
		w.Header().Set("Content-Security-Policy", pageCSPPostingTo(nonce, o))
	}
	w.WriteHeader(status)
	_ = tmpl.ExecuteTemplate(w, "layout", data)
}

// Layout writes body, a page rendered elsewhere (a method's own templates),
// inside the layout with title. The nonce is drawn after body was written, so
// body cannot carry it: it may use the layout's classes, but no <script>,
// <style>, style= or on...= of its own.
func Layout(w http.ResponseWriter, r *http.Request, status int, title string, body template.HTML) {
	nonce := NewNonce()
	data := map[string]any{"Lang": Lang(r), "Title": title, "Page": "custom", "Body": body, "Nonce": nonce}
	frame(r, data)
	setPageHeaders(w, r, nonce)
	w.WriteHeader(status)
	_ = tmpl.ExecuteTemplate(w, "layout", data)
}

// Back redirects a GET of an address that only takes forms (the address a
// page answering a form was shown at, which its language links name) to
// path, the page showing the current step, keeping the language asked for.
func Back(w http.ResponseWriter, r *http.Request, path string) {
	if l := r.URL.Query().Get("lang"); supported(l) {
		path += "?lang=" + l
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
}
