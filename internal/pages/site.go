package pages

import (
	"context"
	"net/http"
	"net/url"
	"strings"
)

// Site is what one gateway shows around every page, whatever renders it.
type Site struct {
	// DemoInboxURL, when set, is where the demo's SMS and app messages can
	// be read; every page shows a banner linking to it.
	DemoInboxURL string
}

type siteKey struct{}

// WithSite returns ctx carrying s, for the pages rendered while serving a
// request with it: the gateway sets it once, before routing, so that every
// page (its own, its methods', their account pages) shows the same frame.
func WithSite(ctx context.Context, s Site) context.Context {
	return context.WithValue(ctx, siteKey{}, s)
}

func siteOf(r *http.Request) Site {
	s, _ := r.Context().Value(siteKey{}).(Site)
	return s
}

// The public pages the footer links to, on the administration's official
// sites (what Cl@ve is, on Cl@ve's own; how to register, on
// administracion.gob.es's guide): the gateway imitates the service, it
// does not replace its help.
const (
	helpWhatIs   = "https://clave.gob.es/clave_Home/clave/queEs.html"
	helpRegister = "https://administracion.gob.es/pag_Home/Tramites/ServiciosElectronicosFrecuentes/Necesito-Registrarme-en-clave.html"
)

// frame fills in what the layout needs besides the page itself.
func frame(r *http.Request, data map[string]any) {
	data["Languages"] = Languages
	data["Path"] = r.URL.Path
	data["DemoInboxURL"] = siteOf(r).DemoInboxURL
	data["HelpWhatIs"] = helpWhatIs
	data["HelpRegister"] = helpRegister
}

// nextStep is the key of what to do after the failure message msg, for an
// error page that names none of its own.
func nextStep(msg string) string {
	switch msg {
	case "error.request", "error.form":
		return "error.next.request"
	case "error.unavailable":
		return "error.next.unavailable"
	}
	return "error.next"
}

// formOrigin is the http(s) origin of v, a URL string, or "" when v is
// none.
func formOrigin(v any) string {
	s, _ := v.(string)
	u, err := url.Parse(s)
	if s == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// pageCSPPostingTo is PageCSP with forms allowed to post to origin too.
func pageCSPPostingTo(nonce, origin string) string {
	return strings.Replace(PageCSP(nonce), "form-action 'self'", "form-action 'self' "+origin, 1)
}
