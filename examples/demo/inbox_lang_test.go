package main

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/gateway"
	gwpages "github.com/clave-go/clave/internal/pages"
)

// TestInboxLanguages: the inbox speaks the gateway's languages, chosen as on
// the gateway's pages, keeps an explicit choice in its links, and offers a
// link to reload instead of reloading itself.
func TestInboxLanguages(t *testing.T) {
	in := gateway.NewInbox(0, nil)
	for i := range 60 {
		require.NoError(t, in.Send(context.Background(), gateway.Message{Channel: gateway.ChannelSMS, To: fmt.Sprintf("+346000000%02d", i%30),
			Text: "Cl@ve PIN", SentAt: time.Date(2026, 1, 2, 10, 0, i, 0, time.UTC)}))
	}
	get := func(query, accept string) string {
		t.Helper()
		r := httptest.NewRequest(http.MethodGet, "/demo/inbox"+query, nil)
		if accept != "" {
			r.Header.Set("Accept-Language", accept)
		}
		w := httptest.NewRecorder()
		in.Page().ServeHTTP(w, r)
		require.Equal(t, http.StatusOK, w.Code)
		b, err := io.ReadAll(w.Result().Body)
		require.NoError(t, err)
		return string(b)
	}

	for _, lang := range gwpages.Languages {
		t.Run(lang, func(t *testing.T) {
			page := get("?lang="+lang, "")
			assert.Contains(t, page, `<html lang="`+lang+`">`)
			assert.Contains(t, page, html.EscapeString(gwpages.T(lang, "inbox.heading")))
			assert.Contains(t, page, html.EscapeString(gwpages.Textf(lang, "inbox.page", 1, 2)))
			assert.Contains(t, page, `<a id="refresh" href="?lang=`+lang+`">`+html.EscapeString(gwpages.T(lang, "inbox.refresh"))+`</a>`)
			assert.Contains(t, page, `<a id="older" rel="next" href="?lang=`+lang+`&amp;page=2">`, "the choice stays in the links")
			assert.Contains(t, page, `<input type="hidden" name="lang" value="`+lang+`">`, "and in the filter")
			assert.Contains(t, page, `<a href="?lang=`+lang+`" hreflang="`+lang+`" lang="`+lang+`" aria-current="true">`)
			assert.NotContains(t, page, "http-equiv", "no meta refresh")
		})
	}

	t.Run("Valencian from the browser", func(t *testing.T) {
		page := get("?to=%2B34600000001", "ca-ES-valencia,ca;q=0.8")
		assert.Contains(t, page, `<html lang="ca-valencia">`)
		assert.Contains(t, page, html.EscapeString(gwpages.T("ca-valencia", "inbox.intro")[:20]))
		assert.Contains(t, page, `<a id="refresh" href="?to=%2B34600000001">`, "a language the browser chose needs no repeating")
		assert.Contains(t, page, `<a href="?lang=ca&amp;to=%2B34600000001" hreflang="ca" lang="ca">`)
	})

	t.Run("Spanish by default, with the recipient", func(t *testing.T) {
		page := get("?to=%2B34699999999", "fr")
		assert.Contains(t, page, `<html lang="es">`)
		assert.Contains(t, page, `<p id="empty">Sin mensajes para &#43;34699999999 todavía.</p>`)
	})
}
