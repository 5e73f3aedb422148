package gateway

import (
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/clave-go/clave/internal/pages"
)

// inboxPerPage is how many messages a page of the inbox shows: rendering
// every message kept grew the page past a megabyte after a few thousand
// logins, and slowed the gateway serving it.
const inboxPerPage = 50

// inboxPage is the inbox in the gateway's languages, with the same switch
// (pages.Lang: ?lang=, the gateway's cookie, Accept-Language). It never
// reloads itself: a page that changes under a screen reader or a keyboard
// loses its place, so a link reloads it when the person wants.
var inboxPage = template.Must(template.New("inbox").Funcs(template.FuncMap{
	"t": pages.T, "tf": pages.Textf, "langName": pages.LanguageName,
}).Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{t .Lang "inbox.title"}}</title>
<style nonce="{{.Nonce}}">body{font-family:sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem}li{margin:.3rem 0}time{color:#555;margin-right:.5rem}
.channel{font-size:.8rem;text-transform:uppercase;background:#eee;padding:0 .3rem;margin-right:.3rem}.to{margin-right:.5rem}
nav a{margin-right:1rem}nav.langs ul{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.2rem 1rem}
nav.langs a[aria-current]{font-weight:700}</style></head>
<body>
<nav class="langs" aria-label="{{t .Lang "inbox.languages"}}"><ul>{{range .Switch}}<li><a href="{{.Href}}" hreflang="{{.Lang}}" lang="{{.Lang}}"{{if .Current}} aria-current="true"{{end}}>{{langName .Lang}}</a></li>{{end}}</ul></nav>
<main>
<h1>{{t .Lang "inbox.heading"}}</h1>
<p>{{tf .Lang "inbox.intro" .PerPage}}</p>
<p><a id="refresh" href="{{.Here}}">{{t .Lang "inbox.refresh"}}</a></p>
<form method="get" action="">{{if .Explicit}}<input type="hidden" name="lang" value="{{.Lang}}">{{end}}<label>{{t .Lang "inbox.to"}}
<input name="to" value="{{.To}}" placeholder="+34600000001"></label> <button type="submit">{{t .Lang "inbox.filter"}}</button>
{{if .To}}<a id="all" href="{{.All}}">{{t .Lang "inbox.all"}}</a>{{end}}</form>
{{if .Messages}}
<ol class="messages" start="{{.First}}">{{range .Messages}}<li class="message"><time datetime="{{.SentAt.Format "2006-01-02T15:04:05Z07:00"}}">{{.SentAt.Format "02/01/2006 15:04:05"}}</time><span class="channel">{{.Channel}}</span><span class="to">{{.To}}</span><span class="text">{{.Text}}</span></li>
{{end}}</ol>
<nav>{{if .Newer}}<a id="newer" rel="prev" href="{{.Newer}}">{{t .Lang "inbox.newer"}}</a>{{end}}
<span id="page">{{tf .Lang "inbox.page" .Page .Pages}}</span>
{{if .Older}}<a id="older" rel="next" href="{{.Older}}">{{t .Lang "inbox.older"}}</a>{{end}}</nav>
{{else}}
<p id="empty">{{if .To}}{{tf .Lang "inbox.empty.to" .To}}{{else}}{{t .Lang "inbox.empty"}}{{end}}</p>
{{end}}
</main>
</body></html>
`))

// inboxSwitch is one link of the inbox's language switch.
type inboxSwitch struct {
	Lang, Href string
	Current    bool
}

// Page serves the demo inbox page: the messages the Inbox kept, newest
// first, a page at a time (?page=, from 1), all or only those to one
// recipient (?to=, a phone number or a DNI/NIE for the app), in the
// language of the gateway's pages, with the same switch. It shows PINs and
// codes in clear, so it belongs to demos only: mount it where
// Config.DemoInboxURL says.
func (in *Inbox) Page() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		to := strings.TrimSpace(q.Get("to"))
		lang := pages.Lang(r)
		// A language asked for on this page stays in its links; one from
		// the cookie or the browser needs no repeating.
		explicit := q.Get("lang") == lang
		var ms []Message
		if to != "" {
			ms = append(in.Messages(ChannelSMS, to), in.Messages(ChannelApp, to)...)
		} else {
			for _, box := range in.All() {
				ms = append(ms, box...)
			}
		}
		newestFirst(ms)

		pageCount := max(1, (len(ms)+inboxPerPage-1)/inboxPerPage)
		page, err := strconv.Atoi(q.Get("page"))
		if err != nil || page < 1 {
			page = 1
		}
		page = min(page, pageCount)
		first := (page - 1) * inboxPerPage
		shown := ms[first:min(first+inboxPerPage, len(ms))]

		href := func(p int, to, lang string) string {
			v := url.Values{}
			if p > 1 {
				v.Set("page", strconv.Itoa(p))
			}
			if to != "" {
				v.Set("to", to)
			}
			if lang != "" {
				v.Set("lang", lang)
			}
			return "?" + v.Encode()
		}
		own := ""
		if explicit {
			own = lang
		}
		link := func(p int) string {
			if p < 1 || p > pageCount {
				return ""
			}
			return href(p, to, own)
		}
		var switches []inboxSwitch
		for _, l := range pages.Languages {
			switches = append(switches, inboxSwitch{Lang: l, Href: href(page, to, l), Current: l == lang})
		}
		nonce := inboxHeaders(w, r)
		_ = inboxPage.Execute(w, map[string]any{"Nonce": nonce, "Lang": lang, "Explicit": explicit, "Switch": switches,
			"Messages": shown, "To": to, "PerPage": inboxPerPage, "First": first + 1,
			"Page": page, "Pages": pageCount, "Newer": link(page - 1), "Older": link(page + 1),
			"Here": href(page, to, own), "All": href(1, "", own),
		})
	})
}

// inboxHeaders sets the inbox page's headers and returns the nonce of its
// style. The page shows PINs: no other page may frame it (and trick a
// person into reading a PIN out), no cache keep it, and nothing but its own
// style runs.
func inboxHeaders(w http.ResponseWriter, r *http.Request) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	nonce := base64.RawURLEncoding.EncodeToString(b)
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'nonce-"+nonce+"'; img-src 'self' data:; "+
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if r.TLS != nil {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	return nonce
}

// newestFirst sorts messages newest first; messages sent at the same instant
// keep the order of their inbox, newest first too, and inboxes are taken in
// the order of their recipient, so that a page lists the same messages each
// time it is loaded.
func newestFirst(ms []Message) {
	slices.Reverse(ms) // each inbox is oldest first
	slices.SortStableFunc(ms, func(a, b Message) int {
		if c := b.SentAt.Compare(a.SentAt); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.To, b.To), cmp.Compare(a.Channel, b.Channel))
	})
}
