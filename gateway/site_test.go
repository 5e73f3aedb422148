package gateway_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/gateway"
	"github.com/clave-go/clave/internal/pages"
	"github.com/clave-go/clave/saml"
)

// esc is a text as html/template writes it into a page.
func esc(lang, key string) string { return html.EscapeString(pages.T(lang, key)) }

var (
	// A card that is a link: icon, name, one line of description and a
	// visible call to action.
	cardRe = regexp.MustCompile(`(?s)<a class="method" id="method-([A-Z]+)" href="[^"]+"><svg aria-hidden="true" focusable="false"[^>]*>.*?</svg><span><span class="label">([^<]+)</span><span class="desc">([^<]+)</span><span class="cta">([^<]+)</span></span></a>`)
	// A card of a method this gateway does not offer: no link, disabled
	// for assistive technology, saying why.
	offRe = regexp.MustCompile(`(?s)<div class="method off" id="method-([A-Z]+)" aria-disabled="true"><svg aria-hidden="true" focusable="false"[^>]*>.*?</svg><span><span class="label">([^<]+)</span><span class="desc">([^<]+)</span><span class="why">([^<]+)</span></span></div>`)
	// Every visible input is inside its label.
	inputRe   = regexp.MustCompile(`<input\b[^>]*>`)
	labeledRe = regexp.MustCompile(`<label>[^<]*<input\b[^>]*>`)
)

func TestChooserCards(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil, nil)
	s := w.start()

	on := map[string][]string{}
	for _, m := range cardRe.FindAllStringSubmatch(s.page, -1) {
		on[m[1]] = m[2:]
	}
	off := map[string][]string{}
	for _, m := range offRe.FindAllStringSubmatch(s.page, -1) {
		off[m[1]] = m[2:]
	}
	for _, id := range []string{"CLVMOVIL", "AEAT", "GISS"} {
		require.Contains(t, on, id, "%s is an actionable card: %s", id, s.page)
		assert.Equal(t, []string{esc("es", "method."+id), esc("es", "method.desc."+id), esc("es", "chooser.cta")}, on[id])
	}
	for _, id := range []string{"AFIRMA", "EIDAS"} {
		require.Contains(t, off, id, "%s is shown unavailable: %s", id, s.page)
		assert.Equal(t, []string{esc("es", "method."+id), esc("es", "method.desc."+id), esc("es", "unavailable")}, off[id])
		assert.NotContains(t, s.methods(), id, "an unavailable method has no link")
	}
	assert.Len(t, s.methods(), 3, "linkRe, which other tests use, finds the available cards only")
}

func TestPageFrame(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil, nil)
	s := w.start()
	resp, page := s.b.get(s.chooser + "?lang=gl")
	require.Equal(t, http.StatusOK, resp.StatusCode)

	assert.Contains(t, page, `<a class="skip" href="#main">`+esc("gl", "site.skip")+`</a>`, "a skip link, first in the body")
	assert.Less(t, strings.Index(page, `class="skip"`), strings.Index(page, "<header"))
	assert.Contains(t, page, `<main id="main" tabindex="-1">`)
	assert.Contains(t, page, `id="test-gateway">`+esc("gl", "site.test"), "marked as a test gateway")
	assert.Contains(t, page, `<nav class="langs" aria-label="`+esc("gl", "site.languages")+`">`)
	for _, l := range pages.Languages {
		link := `<a href="` + s.chooserPath() + `?lang=` + l + `" hreflang="` + l + `" lang="` + l + `"`
		if l == "gl" {
			link += ` aria-current="true"`
		}
		assert.Contains(t, page, link+">", "language link %s", l)
	}
	assert.Contains(t, page, ">Galego</a>")
	assert.Contains(t, page, ">Euskara</a>")
	assert.Contains(t, page, `id="help-whatis">`+esc("gl", "site.whatis")+`</a>`)
	assert.Contains(t, page, `id="help-register">`+esc("gl", "site.register")+`</a>`)
	assert.NotContains(t, page, `id="demo-inbox"`, "no demo banner unless the inbox is served")
	h1 := strings.Index(page, "<h1>")
	assert.Positive(t, h1)
	assert.Less(t, h1, strings.Index(page, "<h2>"), "headings in order: the page's h1 before the footer's h2")
}

// chooserPath is the chooser's path, as the page's links name it.
func (s *session) chooserPath() string { return strings.TrimPrefix(s.chooser, s.w.gwSrv.URL) }

func TestDemoInboxBanner(t *testing.T) {
	t.Parallel()
	w := newWorld(t, func(c *gateway.Config) { c.DemoInboxURL = "/demo/inbox" }, nil, nil)
	s := w.start()
	banner := `<p class="wrap" id="demo-inbox">` + esc("es", "site.demo") + ` <a href="/demo/inbox">/demo/inbox</a></p>`
	assert.Contains(t, s.page, banner, "on the chooser")
	s.requestPIN(maria, mariaValid, "")
	assert.Contains(t, s.page, banner, "on a method's page")
	resp, page := s.b.get(w.gwSrv.URL + "/login/nosuchlogin")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Contains(t, page, banner, "on an error page")

	t.Run("not with another notifier", func(t *testing.T) {
		t.Parallel()
		other := gateway.NewInbox(0, nil)
		w := newWorld(t, func(c *gateway.Config) {
			c.DemoInboxURL = "/demo/inbox"
			c.Notifier = struct{ gateway.Notifier }{other}
		}, nil, nil)
		assert.NotContains(t, w.start().page, `id="demo-inbox"`, "that page would not hold the messages")
	})
}

func TestWrongPINPageIsAccessible(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil, nil)
	s := w.start()
	s.requestPIN(maria, mariaValid, "")
	s.verify(otherPIN(w.lastSMS(mariaPhone).Code), "")
	require.Equal(t, http.StatusUnauthorized, s.resp.StatusCode)

	assert.Equal(t, pages.T("es", "pin.wrong"), html.UnescapeString(errRe.FindStringSubmatch(s.page)[1]), "announced: role=alert")
	assert.Contains(t, s.page, `<input name="pin" autocomplete="one-time-code" required maxlength="3" aria-invalid="true" aria-describedby="error" autofocus>`,
		"the field in error is marked, described by the message and focused")
	assert.Equal(t, 1, strings.Count(s.page, "autofocus"), "one field takes the focus")
	var visible int
	for _, in := range inputRe.FindAllString(s.page, -1) {
		if !strings.Contains(in, `type="hidden"`) {
			visible++
		}
	}
	assert.Positive(t, visible)
	assert.Len(t, labeledRe.FindAllString(s.page, -1), visible, "every input has its label")

	t.Run("a bad document marks the document field", func(t *testing.T) {
		s := w.start()
		s.requestPIN("123", mariaValid, "")
		require.Equal(t, http.StatusBadRequest, s.resp.StatusCode)
		assert.Regexp(t, `<label>[^<]*<input name="document"[^>]* aria-invalid="true" aria-describedby="error" autofocus>`, s.page)
		assert.Equal(t, 1, strings.Count(s.page, `aria-invalid="true"`))
	})
}

// A basic registration cannot reach substantial: the citizen reads why and
// what to do before the refusal goes back to the service.
func TestTooLowLevelExplained(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil, func(c *clave.Config) { c.LoA = saml.LoASubstantial })
	s := w.start()
	s.requestPIN(lucia, luciaValid, "")
	s.verify(w.lastSMS(luciaPhone).Code, "")
	require.Equal(t, http.StatusOK, s.resp.StatusCode, s.page)
	assert.Contains(t, s.page, `<p class="error" id="error" role="alert">`+esc("es", "loa.basic")+`</p>`)
	assert.Contains(t, s.page, esc("es", "loa.basic.next"))
	assert.Contains(t, s.page, `<button type="submit" id="back">`+esc("es", "loa.back")+`</button>`)
	assert.NotContains(t, s.page, "saml-post", "the page waits for the citizen: it does not post itself")
	assert.Contains(t, s.resp.Header.Get("Content-Security-Policy"), "form-action 'self' "+w.agency.srv.URL+";",
		"its form may post to the service, and nowhere else")

	s.finish()
	assert.Equal(t, http.StatusUnauthorized, s.resp.StatusCode, "the service receives NoAuthnContext")
}

func TestFailurePagesLeadBack(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil, nil)

	t.Run("a login over links to its service", func(t *testing.T) {
		s := w.start()
		s.requestPIN(maria, mariaValid, "")
		verifyAt := s.verifyAt
		s.verify(w.lastSMS(mariaPhone).Code, "")
		s.finish()
		s.verifyAt = verifyAt
		s.verify("AAA", "")
		require.Equal(t, http.StatusNotFound, s.resp.StatusCode)
		assert.Contains(t, s.page, esc("es", "error.flow"))
		assert.Contains(t, s.page, `<p class="next" id="next">`+esc("es", "error.next")+`</p>`)
		assert.Contains(t, s.page, `<a href="`+w.agency.srv.URL+`/" id="back">`+esc("es", "error.back")+`: Agencia de pruebas</a>`)
	})
	t.Run("an open login is cancelled back to its service", func(t *testing.T) {
		s := w.start()
		s.post(s.chooserPath()+"/cancel", url.Values{"csrf": {"forged"}})
		require.Equal(t, http.StatusForbidden, s.resp.StatusCode)
		assert.Contains(t, s.page, `<form method="post" action="`+s.chooserPath()+`/cancel" class="cancel">`)
		assert.Contains(t, s.page, `<input type="hidden" name="csrf" value="`+s.token+`">`, "with the login's own token")
		s.post(s.chooserPath()+"/cancel", nil)
		s.finish()
		assert.Equal(t, http.StatusUnauthorized, s.resp.StatusCode)
		assert.Contains(t, s.page, "cancelado")
	})
	t.Run("an untrusted request offers no link", func(t *testing.T) {
		resp, page := s0(w)
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
		assert.Contains(t, page, esc("es", "error.next.request"))
		assert.NotContains(t, page, `id="back"`)
		assert.NotContains(t, page, `id="cancel"`)
	})
}

// s0 posts a request that is no SAML message to the gateway.
func s0(w *world) (*http.Response, string) {
	resp, err := http.PostForm(w.gw.Endpoint(), url.Values{"SAMLRequest": {"bm90IHhtbA=="}})
	require.NoError(w.t, err)
	return resp, body(w.t, resp)
}

// An expired PIN says so, and an identifier that is not registered reads
// exactly the same page.
func TestPINExpiredMessage(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil, nil)
	known := w.start()
	known.requestPIN(maria, mariaValid, "")
	unknown := w.start()
	unknown.requestPIN("00000000T", "01/01/2030", "")
	w.clock.Advance(10*time.Minute + time.Second)

	known.verify(w.lastSMS(mariaPhone).Code, "")
	unknown.verify("AAA", "")
	for _, s := range []*session{known, unknown} {
		assert.Equal(t, http.StatusUnauthorized, s.resp.StatusCode)
		assert.Equal(t, pages.T("es", "pin.expired"), html.UnescapeString(errRe.FindStringSubmatch(s.page)[1]))
	}
	assert.Equal(t, stripDynamic(known.page), stripDynamic(unknown.page))
}
