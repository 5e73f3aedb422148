package clave

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/clave-go/clave/saml"
)

// FailureReason says why a login (or logout) ended on a failure page. Its
// values are stable: templates and log queries may depend on them.
type FailureReason string

// Failure reasons.
const (
	// FailureCancelled: the citizen cancelled at the gateway.
	FailureCancelled FailureReason = "cancelled"
	// FailureNotIdentified: the gateway answered with an error status.
	FailureNotIdentified FailureReason = "not-identified"
	// FailureLoATooLow: the gateway could not reach the level of assurance
	// the login asked for, or answered with a lower one
	// (saml.ErrNoAuthnContext, saml.ErrLoA). FailurePage.Level names it.
	FailureLoATooLow FailureReason = "loa-too-low"
	// FailureInvalidResponse: the response was refused (signature, audience,
	// times, replay, ...) or the request was unreadable.
	FailureInvalidResponse FailureReason = "invalid-response"
	// FailureNoLoginState: the browser sent no usable login cookie
	// (ErrNoPendingLogin): the service was opened under another host name
	// than the ACS URL's ("localhost" for "127.0.0.1"), cookies are blocked,
	// or the login is older than Config.LoginTimeout.
	FailureNoLoginState FailureReason = "no-login-state"
	// FailureLogoutNotConfirmed: the gateway's logout answer was refused.
	FailureLogoutNotConfirmed FailureReason = "logout-not-confirmed"
	// FailureInternal: the service could not finish the login (e.g. its
	// session store failed).
	FailureInternal FailureReason = "internal"
)

// FailurePage is the data Config.FailureTemplate is executed with. The texts
// are already localised into Lang and are plain text (html/template escapes
// them).
type FailurePage struct {
	// Status is the HTTP status the page is sent with.
	Status int
	// Reason is why the login failed.
	Reason FailureReason
	// Lang is the BCP 47 tag of the texts, for <html lang>: "es", "ca",
	// "ca-valencia", "gl", "eu" or "en".
	Lang string
	// PageTitle is a short title for <title>; Title says what happened,
	// Message explains it and Next says what to do now.
	PageTitle, Title, Message, Next string
	// Level is the level of assurance the login needed, localised; set for
	// FailureLoATooLow only.
	Level string
	// BackURL is the service's address (Config.ServiceURL) and BackText the
	// text of the link to it.
	BackURL, BackText string
	// Nonce allows the template's own inline <style nonce="{{.Nonce}}">:
	// the page's policy allows no other style, no script, no form, and
	// images from the service's own origin only.
	Nonce string
}

// languages are the language tags of the SDK's pages, Spanish first.
var languages = []string{"es", "ca", "ca-valencia", "gl", "eu", "en"}

// pageLanguage picks the language of a page for r: Config.Language's
// choice if it is one of languages, then the best of Accept-Language, then
// Config.DefaultLanguage, then Spanish.
func (c *Client) pageLanguage(r *http.Request) string {
	if c.cfg.Language != nil {
		if l := matchLanguage(c.cfg.Language(r)); l != "" {
			return l
		}
	}
	if l := acceptLanguage(r.Header.Get("Accept-Language")); l != "" {
		return l
	}
	if l := matchLanguage(c.cfg.DefaultLanguage); l != "" {
		return l
	}
	return "es"
}

// acceptLanguage returns the one of languages an Accept-Language header
// prefers most, or "" if it names none of them. Valencian is "ca-valencia"
// or "ca-ES-valencia"; any other Catalan is "ca".
func acceptLanguage(header string) string {
	type choice struct {
		lang string
		q    float64
	}
	var choices []choice
	for _, part := range strings.Split(header, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				continue
			}
			q = f
		}
		if l := matchLanguage(tag); l != "" && q > 0 {
			choices = append(choices, choice{l, q})
		}
	}
	sort.SliceStable(choices, func(i, j int) bool { return choices[i].q > choices[j].q })
	if len(choices) == 0 {
		return ""
	}
	return choices[0].lang
}

// matchLanguage maps a language tag to one of languages, or "".
func matchLanguage(tag string) string {
	tag = strings.ToLower(strings.TrimSpace(tag))
	primary, _, _ := strings.Cut(strings.ReplaceAll(tag, "_", "-"), "-")
	switch primary {
	case "ca":
		if strings.Contains(tag, "valencia") {
			return "ca-valencia"
		}
		return "ca"
	case "es", "gl", "eu", "en":
		return primary
	}
	return ""
}

// failText returns the text of key in lang, falling back to Spanish; every
// key exists in every language (TestFailTextsComplete), so the fallback
// only guards against a future mistake.
func failText(lang, key string) string {
	if s, ok := failTexts[lang][key]; ok {
		return s
	}
	return failTexts["es"][key]
}

// newFailurePage fills the page for reason in r's language; loa is the
// level the login needed (used by FailureLoATooLow).
func (c *Client) newFailurePage(r *http.Request, status int, reason FailureReason, loa saml.LoA) FailurePage {
	lang := c.pageLanguage(r)
	back := c.serviceURL()
	p := FailurePage{
		Status:    status,
		Reason:    reason,
		Lang:      lang,
		PageTitle: failText(lang, "page.title"),
		Title:     failText(lang, string(reason)+".title"),
		BackURL:   back,
		BackText:  failText(lang, "back"),
	}
	if reason == FailureLoATooLow {
		if !loa.Valid() {
			loa = c.cfg.LoA
		}
		p.Level = failText(lang, "loa."+loa.String())
	}
	fill := strings.NewReplacer("{level}", p.Level, "{service}", back)
	p.Message = fill.Replace(failText(lang, string(reason)+".message"))
	p.Next = fill.Replace(failText(lang, string(reason)+".next"))
	return p
}

// serviceURL is Config.ServiceURL, by default the origin of the ACS URL: the
// host name the login cookies belong to.
func (c *Client) serviceURL() string {
	if c.cfg.ServiceURL != "" {
		return c.cfg.ServiceURL
	}
	u, err := url.Parse(c.cfg.ACSURL)
	if err != nil {
		return "/"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/"}).String()
}

// defaultFailTmpl is the failure page without Config.FailureTemplate:
// readable without any external resource, at any width, by screen readers
// (the message is an alert) and in high-contrast settings.
var defaultFailTmpl = template.Must(template.New("fail").Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · {{.PageTitle}}</title>
<style nonce="{{.Nonce}}">
:root{color-scheme:light dark}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;font-size:1.0625rem;line-height:1.5;color:#1b1b1b;background:#f4f4f4}
main{max-width:38rem;margin:0 auto;padding:2rem 1.25rem}
.card{background:#fff;border-top:.375rem solid #a4001d;border-radius:.25rem;padding:1.5rem}
h1{font-size:1.5rem;line-height:1.25;margin:0 0 1rem}
a{color:#0b4f8a;font-weight:600}
a:focus{outline:3px solid #f2a900;outline-offset:2px}
@media (prefers-color-scheme:dark){body{color:#f1f1f1;background:#121212}.card{background:#1e1e1e}a{color:#8cc4ff}}
</style></head>
<body><main><div class="card">
<h1>{{.Title}}</h1>
<p role="alert">{{.Message}}</p>
<p>{{.Next}}</p>
<p><a href="{{.BackURL}}">{{.BackText}}</a></p>
</div></main></body></html>
`))

// serveFailure answers a login or logout that did not end well with
// Config.FailureTemplate, or the default page when there is none or it
// fails. The page runs nothing and posts nothing, and may follow a
// citizen's data: it is not framed, sniffed, cached, nor does it send the
// ACS URL as Referer.
func (c *Client) serveFailure(w http.ResponseWriter, r *http.Request, p FailurePage) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	p.Nonce = base64.RawURLEncoding.EncodeToString(b)
	var buf bytes.Buffer
	if t := c.cfg.FailureTemplate; t != nil {
		if err := t.Execute(&buf, p); err != nil {
			c.log().ErrorContext(r.Context(), "clave: FailureTemplate failed; default page used", slog.Any("error", err))
			buf.Reset()
		}
	}
	if buf.Len() == 0 {
		_ = defaultFailTmpl.Execute(&buf, p)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", p.Lang)
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'nonce-"+p.Nonce+"'; img-src 'self'; "+
		"form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if r.TLS != nil {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	w.WriteHeader(p.Status)
	_, _ = w.Write(buf.Bytes())
}

// failure classifies an ACS error: the page's status and reason, and the
// name of the sentinel error it matched, for logs.
func failure(err error) (status int, reason FailureReason, cause string) {
	for _, s := range causes {
		if errors.Is(err, s.err) {
			return s.status, s.reason, s.name
		}
	}
	return http.StatusForbidden, FailureInvalidResponse, "other"
}

// causes are the errors ACSHandler tells apart, the most specific first
// (ErrNoPendingLogin wraps saml.ErrRelayState; a cancel is also a
// saml.ErrRequestDenied, and every status a saml.ErrStatus).
var causes = func() []struct {
	err    error
	name   string
	status int
	reason FailureReason
} {
	type cause = struct {
		err    error
		name   string
		status int
		reason FailureReason
	}
	out := []cause{
		{ErrReplayCacheFailed, "replay cache failed", http.StatusServiceUnavailable, FailureInternal},
		{saml.ErrUserCancelled, "saml.ErrUserCancelled", http.StatusUnauthorized, FailureCancelled},
		{saml.ErrNoAuthnContext, "saml.ErrNoAuthnContext", http.StatusUnauthorized, FailureLoATooLow},
		{saml.ErrAuthnFailed, "saml.ErrAuthnFailed", http.StatusUnauthorized, FailureNotIdentified},
		{saml.ErrNoPassive, "saml.ErrNoPassive", http.StatusUnauthorized, FailureNotIdentified},
		{saml.ErrRequestDenied, "saml.ErrRequestDenied", http.StatusUnauthorized, FailureNotIdentified},
		{saml.ErrStatus, "saml.ErrStatus", http.StatusUnauthorized, FailureNotIdentified},
		// A response below the level asked for is one this service refuses
		// itself, so it keeps the status of a refused response.
		{saml.ErrLoA, "saml.ErrLoA", http.StatusForbidden, FailureLoATooLow},
		{ErrNoPendingLogin, "login cookie missing", http.StatusForbidden, FailureNoLoginState},
	}
	for _, s := range []struct {
		err  error
		name string
	}{
		{saml.ErrRelayState, "saml.ErrRelayState"}, {saml.ErrInResponseTo, "saml.ErrInResponseTo"},
		{saml.ErrDestination, "saml.ErrDestination"}, {saml.ErrRecipient, "saml.ErrRecipient"},
		{saml.ErrAudience, "saml.ErrAudience"}, {saml.ErrIssuer, "saml.ErrIssuer"},
		{saml.ErrExpired, "saml.ErrExpired"}, {saml.ErrNotYetValid, "saml.ErrNotYetValid"},
		{saml.ErrAssertionCount, "saml.ErrAssertionCount"}, {saml.ErrSubjectConfirmation, "saml.ErrSubjectConfirmation"},
		{saml.ErrReplay, "saml.ErrReplay"}, {saml.ErrDecryption, "saml.ErrDecryption"},
		{saml.ErrIdentity, "saml.ErrIdentity"}, {saml.ErrMissingAttribute, "saml.ErrMissingAttribute"},
		{saml.ErrTooLarge, "saml.ErrTooLarge"}, {saml.ErrUnexpectedRoot, "saml.ErrUnexpectedRoot"},
		{saml.ErrVersion, "saml.ErrVersion"}, {saml.ErrSignatureMissing, "saml.ErrSignatureMissing"},
		{saml.ErrSignatureInvalid, "saml.ErrSignatureInvalid"}, {saml.ErrUntrustedKey, "saml.ErrUntrustedKey"},
		{saml.ErrAlgorithm, "saml.ErrAlgorithm"}, {saml.ErrWrapped, "saml.ErrWrapped"},
		{saml.ErrMissingElement, "saml.ErrMissingElement"}, {saml.ErrMalformed, "saml.ErrMalformed"},
	} {
		out = append(out, cause{s.err, s.name, http.StatusForbidden, FailureInvalidResponse})
	}
	return out
}()

// personID matches what looks like a DNI or NIE (with optional separators)
// or an eIDAS identifier, so that free text from the gateway (a status
// message) never brings one into the logs.
var personID = regexp.MustCompile(`(?i)\b[XYZ]?[-. ]?\d{1,2}[-. ]?\d{3}[-. ]?\d{3}[-. ]?[A-Z]\b|\b[A-Z]{2}/[A-Z]{2}/\S+`)

// redact masks identifiers in text meant for logs.
func redact(s string) string { return personID.ReplaceAllString(s, "[id]") }

// logFailure records an ACS failure: its reason, the sentinel it matched,
// and the request's Host, which tells a service opened under another name
// than the ACS URL's apart. It never logs the response, and masks
// identifiers in the error's text.
func (c *Client) logFailure(r *http.Request, status int, reason FailureReason, cause string, err error) {
	attrs := []any{
		slog.String("reason", string(reason)),
		slog.String("cause", cause),
		slog.Int("status", status),
		slog.String("host", r.Host),
	}
	if reason == FailureNoLoginState {
		// No login cookie at all points at another host name or blocked
		// cookies; some point at a login from another tab, or too old.
		n := 0
		for _, ck := range r.Cookies() {
			if strings.HasPrefix(ck.Name, "clave_login_") {
				n++
			}
		}
		acs, _ := url.Parse(c.cfg.ACSURL)
		attrs = append(attrs, slog.Int("login_cookies", n), slog.String("acs_host", acs.Host))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", redact(err.Error())))
	}
	level := slog.LevelWarn
	switch reason {
	case FailureCancelled, FailureNotIdentified:
		level = slog.LevelInfo
	case FailureInternal:
		level = slog.LevelError
	}
	msg := "clave: login failed"
	if reason == FailureLogoutNotConfirmed {
		msg = "clave: logout not confirmed"
	}
	c.log().Log(r.Context(), level, msg, attrs...)
}
