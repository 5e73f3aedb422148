package main

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

	"github.com/clave-go/clave/gateway"
)

// inboxPerPage is how many messages a page of the inbox shows: rendering
// every message kept grew the page past a megabyte after a few thousand
// logins, and slowed the gateway serving it.
const inboxPerPage = 50

var inboxPage = template.Must(template.New("inbox").Parse(`<!DOCTYPE html>
<html lang="es"><head><meta charset="utf-8">
<title>Buzón de demostración — pasarela Cl@ve de referencia</title>
<style nonce="{{.Nonce}}">body{font-family:sans-serif;max-width:48rem;margin:2rem auto}li{margin:.3rem 0}time{color:#555;margin-right:.5rem}
.channel{font-size:.8rem;text-transform:uppercase;background:#eee;padding:0 .3rem;margin-right:.3rem}.to{margin-right:.5rem}
nav a{margin-right:1rem}</style></head>
<body><h1>Buzón de demostración</h1>
<p>SMS y avisos a la app Cl@ve enviados por la pasarela de referencia. No salen de este proceso; esta página
los muestra de {{.PerPage}} en {{.PerPage}}, más recientes primero. Recárguela para ver los nuevos.</p>
<form method="get" action=""><label>Destinatario (teléfono o DNI/NIE)
<input name="to" value="{{.To}}" placeholder="+34600000001"></label> <button type="submit">Filtrar</button>
{{if .To}}<a id="all" href="?">Todos</a>{{end}}</form>
{{if .Messages}}
<ol class="messages" start="{{.First}}">{{range .Messages}}<li class="message"><time datetime="{{.SentAt.Format "2006-01-02T15:04:05Z07:00"}}">{{.SentAt.Format "02/01/2006 15:04:05"}}</time><span class="channel">{{.Channel}}</span><span class="to">{{.To}}</span><span class="text">{{.Text}}</span></li>
{{end}}</ol>
<nav>{{if .Newer}}<a id="newer" rel="prev" href="{{.Newer}}">← Más recientes</a>{{end}}
<span id="page">Página {{.Page}} de {{.Pages}}</span>
{{if .Older}}<a id="older" rel="next" href="{{.Older}}">Más antiguos →</a>{{end}}</nav>
{{else}}
<p id="empty">Sin mensajes{{if .To}} para {{.To}}{{end}} todavía.</p>
{{end}}
</body></html>
`))

// inboxHandler serves the demo inbox page: the messages the reference
// Notifier kept, newest first, a page at a time (?page=, from 1), all or only
// those to one recipient (?to=, a phone number or a DNI/NIE for the app). It
// shows PINs and codes in clear, so it belongs to demos only.
func inboxHandler(in *gateway.Inbox) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		to := strings.TrimSpace(q.Get("to"))
		var ms []gateway.Message
		if to != "" {
			ms = append(in.Messages(gateway.ChannelSMS, to), in.Messages(gateway.ChannelApp, to)...)
		} else {
			for _, box := range in.All() {
				ms = append(ms, box...)
			}
		}
		newestFirst(ms)

		pages := max(1, (len(ms)+inboxPerPage-1)/inboxPerPage)
		page, err := strconv.Atoi(q.Get("page"))
		if err != nil || page < 1 {
			page = 1
		}
		page = min(page, pages)
		first := (page - 1) * inboxPerPage
		shown := ms[first:min(first+inboxPerPage, len(ms))]

		link := func(p int) string {
			if p < 1 || p > pages {
				return ""
			}
			v := url.Values{}
			if p > 1 {
				v.Set("page", strconv.Itoa(p))
			}
			if to != "" {
				v.Set("to", to)
			}
			return "?" + v.Encode()
		}
		nonce := inboxHeaders(w, r)
		_ = inboxPage.Execute(w, map[string]any{"Nonce": nonce,
			"Messages": shown, "To": to, "PerPage": inboxPerPage, "First": first + 1,
			"Page": page, "Pages": pages, "Newer": link(page - 1), "Older": link(page + 1),
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
func newestFirst(ms []gateway.Message) {
	slices.Reverse(ms) // each inbox is oldest first
	slices.SortStableFunc(ms, func(a, b gateway.Message) int {
		if c := b.SentAt.Compare(a.SentAt); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.To, b.To), cmp.Compare(a.Channel, b.Channel))
	})
}
