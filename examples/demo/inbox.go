package main

import (
	"cmp"
	"html/template"
	"net/http"
	"slices"

	"github.com/clave-go/clave/gateway"
)

// inboxRefresh is how often the inbox page reloads itself.
const inboxRefresh = 5

var inboxPage = template.Must(template.New("inbox").Parse(`<!DOCTYPE html>
<html lang="es"><head><meta charset="utf-8"><meta http-equiv="refresh" content="{{.Refresh}}">
<title>Buzón de demostración — pasarela Cl@ve de referencia</title>
<style>body{font-family:sans-serif;max-width:48rem;margin:2rem auto}li{margin:.3rem 0}time{color:#555;margin-right:.5rem}
.channel{font-size:.8rem;text-transform:uppercase;background:#eee;padding:0 .3rem;margin-right:.3rem}</style></head>
<body><h1>Buzón de demostración</h1>
<p>SMS y avisos a la app Cl@ve enviados por la pasarela de referencia. No salen de este proceso; esta página
los muestra todos, más recientes primero, y se actualiza cada {{.Refresh}} s.</p>
{{range .Boxes}}
<section class="inbox"><h2><span class="channel">{{.Channel}}</span><span class="to">{{.To}}</span></h2>
<ol>{{range .Messages}}<li class="message"><time datetime="{{.SentAt.Format "2006-01-02T15:04:05Z07:00"}}">{{.SentAt.Format "02/01/2006 15:04:05"}}</time><span class="text">{{.Text}}</span></li>
{{end}}</ol></section>
{{else}}
<p id="empty">Sin mensajes todavía.</p>
{{end}}
</body></html>
`))

type inboxBox struct {
	Channel  string
	To       string
	Messages []gateway.Message // newest first
}

// inboxHandler serves the demo inbox page: every message the reference
// Notifier kept, grouped by recipient, the recipient with the newest message
// first. It shows PINs and codes in clear, so it belongs to demos only.
func inboxHandler(in *gateway.Inbox) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var boxes []inboxBox
		for _, ms := range in.All() {
			if len(ms) == 0 {
				continue
			}
			slices.Reverse(ms)
			boxes = append(boxes, inboxBox{Channel: string(ms[0].Channel), To: ms[0].To, Messages: ms})
		}
		slices.SortFunc(boxes, func(a, b inboxBox) int {
			if c := b.Messages[0].SentAt.Compare(a.Messages[0].SentAt); c != 0 {
				return c
			}
			return cmp.Or(cmp.Compare(a.To, b.To), cmp.Compare(a.Channel, b.Channel))
		})
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_ = inboxPage.Execute(w, map[string]any{"Boxes": boxes, "Refresh": inboxRefresh})
	})
}
