package main

import (
	"bytes"
	"context"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/gateway"
)

var (
	formAction = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	formInput  = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
	pinLink    = regexp.MustCompile(`<a class="method" id="method-AEAT" href="([^"]+)">`)
)

// browser is a cookie-keeping client that follows forms the way a browser
// without JavaScript does when its user presses the button.
type browser struct {
	t    *testing.T
	c    *http.Client
	resp *http.Response
	page string
}

func (b *browser) do(resp *http.Response, err error) {
	b.t.Helper()
	require.NoError(b.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	b.resp, b.page = resp, string(body)
}

func (b *browser) get(u string) { b.t.Helper(); b.do(b.c.Get(u)) }

// resolve makes a link of the current page absolute.
func (b *browser) resolve(ref string) string {
	b.t.Helper()
	u, err := b.resp.Request.URL.Parse(html.UnescapeString(ref))
	require.NoError(b.t, err)
	return u.String()
}

// submit posts the page's first form with its hidden fields plus fields.
func (b *browser) submit(fields url.Values) {
	b.t.Helper()
	m := formAction.FindStringSubmatch(b.page)
	require.NotNil(b.t, m, "no form in page: %s", b.page)
	vals := url.Values{}
	for _, in := range formInput.FindAllStringSubmatch(b.page, -1) {
		vals.Set(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
	}
	for k, v := range fields {
		vals[k] = v
	}
	b.do(b.c.PostForm(b.resolve(m[1]), vals))
}

// startDemo runs the demo on free ports, with args added, until the end of
// the test.
func startDemo(t *testing.T, args ...string) (demo, *bytes.Buffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan demo, 1)
	done := make(chan error, 1)
	var out bytes.Buffer
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() {
		done <- run(ctx, append([]string{"-gateway-addr", "127.0.0.1:0", "-agency-addr", "127.0.0.1:0", "-procedures-addr", "127.0.0.1:0"}, args...), &out, log, ready)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("demo did not stop")
		}
	})
	select {
	case d := <-ready:
		return d, &out
	case err := <-done:
		done <- err // for the cleanup
		require.NoError(t, err)
		t.Fatal("run returned without serving")
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not start")
	}
	return demo{}, nil
}

func TestDemoPINLogin(t *testing.T) {
	d, out := startDemo(t)
	greeting := out.String()
	assert.Contains(t, greeting, d.agencyURL+"/")
	assert.Contains(t, greeting, d.gatewayURL+"/demo/inbox")
	assert.Regexp(t, `12345678Z +MARIA GARCIA LOPEZ +validity date 01/01/2030 +\+34600000001`, greeting)
	assert.Regexp(t, `X1234567L +ANNA SCHMIDT +support number E12345678`, greeting)
	assert.Regexp(t, `23456789D +JOSE MARTINEZ SANCHEZ +permanent DNI: issue date 14/03/2016`, greeting)
	for _, p := range gateway.Personas() {
		assert.Regexp(t, regexp.QuoteMeta(p.ID)+" +"+regexp.QuoteMeta(p.Name)+" +.* "+regexp.QuoteMeta(p.Outcome), greeting)
	}
	assert.Regexp(t, `99999901H +ANA APRUEBA PRUEBA +validity date 01/01/2040`, greeting)
	assert.Contains(t, greeting, "60 Cl@ve PINs per 10 minutes", "the demo's limits are told")

	b := newBrowser(t)
	b.get(d.agencyURL + "/")
	require.Contains(t, b.page, "Entrar con Cl@ve")
	pinLogin(t, d, b)

	// The demo inbox page shows the SMS.
	sms, err := d.gateway.Inbox().Last(gateway.ChannelSMS, "+34600000001")
	require.NoError(t, err)
	inbox, err := http.Get(d.gatewayURL + "/demo/inbox")
	require.NoError(t, err)
	page, _ := io.ReadAll(inbox.Body)
	inbox.Body.Close()
	assert.Contains(t, string(page), html.EscapeString(sms.Text))

	// The session holds on the home page, which speaks the citizen's words.
	b.get(d.agencyURL + "/")
	assert.Contains(t, b.page, "MARIA")
	assert.Contains(t, b.page, "<dd>sustancial</dd>", "not the protocol's substantial")
	assert.Contains(t, b.page, "<dd>Cl@ve PIN</dd>", "not AEAT")
	assert.Contains(t, b.page, "(hora de Madrid)")

	// Logging out asks first; only the form's POST logs out.
	b.get(d.agencyURL + "/salir")
	assert.Contains(t, b.page, "¿Cerrar sesión?")
	b.get(d.agencyURL + "/")
	assert.Contains(t, b.page, "MARIA", "a GET of /salir logs nobody out")
}

// The documented citizen can log in again and again: on the real gateway's
// limits (5 PINs per citizen per 10 minutes) the sixth login would be
// refused.
func TestDemoLogsInAgainAndAgain(t *testing.T) {
	d, _ := startDemo(t)
	for i := range 8 {
		t.Logf("login %d", i+1)
		pinLogin(t, d, newBrowser(t))
	}
}

func newBrowser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &browser{t: t, c: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// pinLogin logs b in at the demo agency as MARIA with Cl@ve PIN, as the demo
// tells a person to.
func pinLogin(t *testing.T, d demo, b *browser) {
	t.Helper()
	b.get(d.agencyURL + "/perfil")
	require.Contains(t, b.page, `name="SAMLRequest"`)
	b.submit(nil) // to the gateway's chooser
	require.Equal(t, http.StatusOK, b.resp.StatusCode, b.page)
	assert.Contains(t, b.page, "Sede electrónica de pruebas", "the chooser names the registered service")
	link := pinLink.FindStringSubmatch(b.page)
	require.NotNil(t, link, "Cl@ve PIN offered: %s", b.page)

	b.get(b.resolve(link[1]))
	b.submit(url.Values{"document": {"12345678Z"}, "contrast": {"01/01/2030"}, "code": {""}})
	require.Equal(t, http.StatusOK, b.resp.StatusCode, b.page)
	sms, err := d.gateway.Inbox().Last(gateway.ChannelSMS, "+34600000001")
	require.NoError(t, err, "the PIN went to MARIA's phone")

	b.submit(url.Values{"pin": {sms.Code}})
	require.Contains(t, b.page, `name="SAMLResponse"`, b.page)
	b.submit(nil) // back to the agency's ACS, redirected to the profile
	require.Equal(t, http.StatusOK, b.resp.StatusCode, b.page)
	assert.True(t, strings.HasPrefix(b.resp.Request.URL.String(), d.agencyURL+"/perfil"), b.resp.Request.URL.String())
	assert.Contains(t, b.page, "Bienvenido/a, MARIA GARCIA LOPEZ")
	assert.Contains(t, b.page, "12345678Z")
}

func TestHelpExitsZero(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var out bytes.Buffer
	assert.Equal(t, 0, exitCode(t.Context(), []string{"-h"}, &out, log))
	assert.Contains(t, out.String(), "-gateway-addr")
	assert.Equal(t, 1, exitCode(t.Context(), []string{"-nope"}, io.Discard, log))
}

func TestDemoFlags(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	assert.Error(t, run(context.Background(), []string{"-nope"}, io.Discard, log, nil))
	assert.Error(t, run(context.Background(), []string{"stray"}, io.Discard, log, nil))
	assert.Error(t, run(context.Background(), []string{"-gateway-addr", "256.0.0.1:1"}, io.Discard, log, nil))
	assert.Error(t, run(context.Background(), []string{"-gateway-addr", "127.0.0.1:0", "-agency-addr", "256.0.0.1:1"}, io.Discard, log, nil))
	assert.Error(t, run(context.Background(), []string{"-gateway-addr", "127.0.0.1:0", "-agency-addr", "127.0.0.1:0", "-procedures-addr", "256.0.0.1:1"}, io.Discard, log, nil))
}
