package gateway_test

import (
	"crypto/tls"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/clavetest"
	"github.com/clave-go/clave/gateway"
	"github.com/clave-go/clave/saml"
)

// headerRig is a clavetest gateway (with its admin page) and an agency on the
// SDK, for walking the gateway's pages as a browser without JavaScript.
type headerRig struct {
	t      *testing.T
	gw     *clavetest.Gateway
	agency *httptest.Server
}

const rigAdminToken = "headers-test-admin-token"

func newHeaderRig(t *testing.T) *headerRig {
	t.Helper()
	gw, err := clavetest.Start(gateway.Config{AdminToken: rigAdminToken})
	require.NoError(t, err)
	t.Cleanup(gw.Close)
	mux := http.NewServeMux()
	agency := httptest.NewServer(mux)
	t.Cleanup(agency.Close)
	c, err := clave.New(gw.Config(agency.URL + "/clave/acs"))
	require.NoError(t, err)
	mux.Handle("/clave/acs", c.ACSHandler())
	mux.Handle("/tramite", c.RequireLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "dentro")
	})))
	return &headerRig{t: t, gw: gw, agency: agency}
}

// rigBrowser is a citizen's browser: its own cookies, redirects followed.
type rigBrowser struct {
	t *testing.T
	c *http.Client
}

func (h *headerRig) browser() *rigBrowser {
	jar, err := cookiejar.New(nil)
	require.NoError(h.t, err)
	return &rigBrowser{t: h.t, c: &http.Client{Jar: jar}}
}

func (b *rigBrowser) read(resp *http.Response, err error) (*http.Response, string) {
	b.t.Helper()
	require.NoError(b.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	return resp, string(body)
}

func (b *rigBrowser) get(u string) (*http.Response, string) {
	b.t.Helper()
	return b.read(b.c.Get(u))
}

func (b *rigBrowser) post(u string, vals url.Values) (*http.Response, string) {
	b.t.Helper()
	return b.read(b.c.PostForm(u, vals))
}

var (
	rigForm   = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	rigHidden = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
)

// hiddenOf is the value of the first hidden input named name in page.
func hiddenOf(page, name string) string {
	for _, m := range rigHidden.FindAllStringSubmatch(page, -1) {
		if html.UnescapeString(m[1]) == name {
			return html.UnescapeString(m[2])
		}
	}
	return ""
}

// submit posts the first form of page with all its hidden fields.
func (b *rigBrowser) submit(base, page string) (*http.Response, string) {
	b.t.Helper()
	m := rigForm.FindStringSubmatch(page)
	require.NotNil(b.t, m, "no form in %s", page)
	vals := url.Values{}
	for _, in := range rigHidden.FindAllStringSubmatch(page, -1) {
		vals.Set(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
	}
	u, err := url.Parse(base)
	require.NoError(b.t, err)
	to, err := u.Parse(html.UnescapeString(m[1]))
	require.NoError(b.t, err)
	return b.post(to.String(), vals)
}

// start opens the agency's protected page and follows its request to the
// gateway, returning the gateway's answer: the chooser, at its URL.
func (h *headerRig) start(b *rigBrowser) (*http.Response, string) {
	h.t.Helper()
	_, page := b.get(h.agency.URL + "/tramite")
	require.Contains(h.t, page, `name="SAMLRequest"`)
	return b.submit(h.agency.URL, page)
}

// pinPage starts a login and opens the Cl@ve PIN form: it returns the
// chooser's URL and the form page.
func (h *headerRig) pinPage(b *rigBrowser) (string, string) {
	h.t.Helper()
	resp, _ := h.start(b)
	require.Equal(h.t, http.StatusOK, resp.StatusCode)
	chooser := resp.Request.URL.String()
	resp, page := b.get(chooser + "/pin/")
	require.Equal(h.t, http.StatusOK, resp.StatusCode, page)
	return chooser, page
}

var (
	cspNonce   = regexp.MustCompile(`'nonce-([^']+)'`)
	inlineTags = regexp.MustCompile(`<(script|style)\b([^>]*)>`)
	tagNonce   = regexp.MustCompile(`\bnonce="([^"]*)"`)
	inlineAttr = regexp.MustCompile(`(?i)<[^>]*\s(style|on[a-z]+)\s*=`)
)

// directives splits a Content-Security-Policy into its directives.
func directives(csp string) map[string]string {
	out := map[string]string{}
	for _, d := range strings.Split(csp, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		if name != "" {
			out[name] = value
		}
	}
	return out
}

// pageKind is what a response is, for the headers it must have.
type pageKind int

const (
	// htmlPage is one of the gateway's own pages: nonce for its inline
	// elements, forms to itself, personal data.
	htmlPage pageKind = iota
	// postFormPage is the auto-posting form of a Response.
	postFormPage
	// dataPage is not HTML: nothing may run.
	dataPage
)

// checkHeaders asserts the headers every response of the gateway has, and
// those of its kind.
func checkHeaders(t *testing.T, kind pageKind, h http.Header, body string) {
	t.Helper()
	assert.Equal(t, "DENY", h.Get("X-Frame-Options"))
	assert.Equal(t, "nosniff", h.Get("X-Content-Type-Options"))
	assert.Equal(t, "no-referrer", h.Get("Referrer-Policy"))
	csp := h.Get("Content-Security-Policy")
	assert.NotContains(t, csp, "unsafe-inline")
	assert.NotContains(t, csp, "*")
	d := directives(csp)
	assert.Equal(t, "'none'", d["default-src"], csp)
	assert.Equal(t, "'none'", d["frame-ancestors"], csp)
	assert.Equal(t, "'none'", d["base-uri"], csp)
	assert.Empty(t, inlineAttr.FindAllString(body, -1), "inline style or handler")
	switch kind {
	case htmlPage:
		assert.Equal(t, "no-store", h.Get("Cache-Control"))
		assert.Equal(t, "'self'", d["form-action"], csp)
		n := cspNonce.FindStringSubmatch(d["script-src"])
		require.NotNil(t, n, csp)
		assert.Equal(t, "'nonce-"+n[1]+"'", d["style-src"], csp)
		tags := inlineTags.FindAllStringSubmatch(body, -1)
		require.NotEmpty(t, tags)
		for _, tag := range tags {
			m := tagNonce.FindStringSubmatch(tag[2])
			if assert.NotNil(t, m, "<%s> without nonce", tag[1]) {
				assert.Equal(t, n[1], m[1], "<%s>", tag[1])
			}
		}
	case postFormPage:
		// saml.PostForm's own policy: its one script by nonce, posts to
		// the form's action only.
		assert.Equal(t, "no-store", h.Get("Cache-Control"))
		assert.NotEmpty(t, d["form-action"], csp)
		assert.NotContains(t, d["form-action"], "'self'", csp)
		n := cspNonce.FindStringSubmatch(d["script-src"])
		require.NotNil(t, n, csp)
		for _, tag := range inlineTags.FindAllStringSubmatch(body, -1) {
			m := tagNonce.FindStringSubmatch(tag[2])
			if assert.NotNil(t, m, "<%s> without nonce", tag[1]) {
				assert.Equal(t, n[1], m[1], "<%s>", tag[1])
			}
		}
	case dataPage:
		assert.Equal(t, "'none'", d["form-action"], csp)
		assert.Empty(t, d["script-src"])
	}
}

func TestGatewayPageHeaders(t *testing.T) {
	t.Parallel()
	h := newHeaderRig(t)
	personaTimesOut := ""
	for _, p := range gateway.Personas() {
		if p.Outcome == gateway.OutcomeTimesOut {
			personaTimesOut = p.ID
		}
	}
	require.NotEmpty(t, personaTimesOut)

	cases := []struct {
		name  string
		kind  pageKind
		fetch func(b *rigBrowser) (*http.Response, string)
	}{
		{"chooser", htmlPage, func(b *rigBrowser) (*http.Response, string) { return h.start(b) }},
		{"PIN form", htmlPage, func(b *rigBrowser) (*http.Response, string) {
			chooser, _ := h.pinPage(b)
			return b.get(chooser + "/pin/")
		}},
		{"PIN verify page", htmlPage, func(b *rigBrowser) (*http.Response, string) {
			chooser, page := h.pinPage(b)
			return b.post(chooser+"/pin/request", url.Values{"document": {clavetest.DemoCitizen.ID},
				"contrast": {clavetest.DemoCitizen.Contrast}, "csrf": {hiddenOf(page, "csrf")}})
		}},
		{"refused form", htmlPage, func(b *rigBrowser) (*http.Response, string) {
			chooser, _ := h.pinPage(b)
			return b.post(chooser+"/pin/request", url.Values{"document": {clavetest.DemoCitizen.ID}})
		}},
		{"error page", htmlPage, func(b *rigBrowser) (*http.Response, string) {
			return b.get(h.gw.URL + "/login/no-such-login")
		}},
		{"persona waiting page", htmlPage, func(b *rigBrowser) (*http.Response, string) {
			require.NoError(t, h.gw.ArmPersona(clavetest.SPID, personaTimesOut))
			return h.start(b)
		}},
		{"admin login page", htmlPage, func(b *rigBrowser) (*http.Response, string) { return b.get(h.gw.URL + "/admin/") }},
		{"response form", postFormPage, func(b *rigBrowser) (*http.Response, string) {
			resp, page := h.start(b)
			return b.submit(resp.Request.URL.String(), page) // the chooser's cancel
		}},
		{"certificates", dataPage, func(b *rigBrowser) (*http.Response, string) {
			return b.get(h.gw.URL + saml.CertificatesPath)
		}},
		{"not found", dataPage, func(b *rigBrowser) (*http.Response, string) { return b.get(h.gw.URL + "/nothing-here") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, page := tc.fetch(h.browser())
			checkHeaders(t, tc.kind, resp.Header, page)
			assert.Empty(t, resp.Header.Get("Strict-Transport-Security"), "no HSTS over plain HTTP")
		})
	}

	t.Run("response form posts to the agency only", func(t *testing.T) {
		b := h.browser()
		resp, page := h.start(b)
		resp, page = b.submit(resp.Request.URL.String(), page)
		require.Contains(t, page, `name="SAMLResponse"`)
		assert.Equal(t, h.agency.URL, directives(resp.Header.Get("Content-Security-Policy"))["form-action"])
	})

	t.Run("a fresh nonce each page", func(t *testing.T) {
		b := h.browser()
		resp, _ := h.start(b)
		r1, _ := b.get(resp.Request.URL.String())
		r2, _ := b.get(resp.Request.URL.String())
		assert.NotEqual(t, r1.Header.Get("Content-Security-Policy"), r2.Header.Get("Content-Security-Policy"))
	})

	t.Run("HSTS over TLS", func(t *testing.T) {
		for _, path := range []string{"/login/no-such-login", saml.CertificatesPath, "/admin/"} {
			r := httptest.NewRequest(http.MethodGet, path, nil)
			r.TLS = &tls.ConnectionState{}
			w := httptest.NewRecorder()
			h.gw.ServeHTTP(w, r)
			assert.Contains(t, w.Header().Get("Strict-Transport-Security"), "max-age=", path)
		}
	})
}

// In a real browser the pages' policies let their own style and script run:
// the layout's colours apply, the PIN page's countdown ticks, and the
// response form posts itself to the agency.
func TestBrowserPagesRunUnderTheirPolicy(t *testing.T) {
	t.Parallel()
	ctx := newChrome(t)
	h := newHeaderRig(t)
	headerColour := chromedp.Evaluate[string](`getComputedStyle(document.querySelector("header")).borderTopColor`)

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(h.agency.URL+"/tramite"),
		chromedp.WaitVisible(chromedp.ID("method-AEAT")),
	))
	colour, err := chromedp.Run(ctx, headerColour)
	require.NoError(t, err)
	assert.Equal(t, "rgb(165, 14, 45)", colour, "the layout's <style> applies")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.ID("method-AEAT")),
		chromedp.WaitVisible(chromedp.CSS(`input[name=document]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=document]`), clavetest.DemoCitizen.ID),
		chromedp.SendKeys(chromedp.CSS(`input[name=contrast]`), clavetest.DemoCitizen.Contrast),
		chromedp.Click(chromedp.ID("request")),
		chromedp.WaitVisible(chromedp.ID("request-code")),
	), "the PIN form posts, with its token, to the gateway")
	first, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("time-left")))
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx, chromedp.Sleep(2100*time.Millisecond)))
	later, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("time-left")))
	require.NoError(t, err)
	assert.NotEqual(t, first, later, "the countdown's nonce'd script runs")
	colour, err = chromedp.Run(ctx, headerColour)
	require.NoError(t, err)
	assert.Equal(t, "rgb(165, 14, 45)", colour)

	sms, err := h.gw.Inbox().Last(gateway.ChannelSMS, demoPhone)
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`input[name=pin]`), sms.Code),
		chromedp.Click(chromedp.ID("verify")),
	))
	assert.Equal(t, "dentro", waitBody(t, ctx, "dentro"), "the response form posted itself to the agency")
}
