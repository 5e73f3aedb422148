package gateway_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/clavetest"
	"github.com/clave-go/clave/gateway"
)

// demoPhone is where clavetest's demo citizen gets PINs.
const demoPhone = "+34600000001"

// formRefused is the start of the Spanish text of the gateway's answer to a
// form without its token.
const formRefused = "El formulario no procede de esta página de Cl@ve"

// Another site, even another port of the same host (same site, so the
// SameSite=Lax flow cookie goes along), must not be able to make the
// citizen's browser ask for a PIN, type one or cancel: every form under
// /login/ carries a token bound to the login and the browser.
func TestGatewayFormsNeedTheirToken(t *testing.T) {
	t.Parallel()
	h := newHeaderRig(t)
	sms := func() []gateway.Message { return h.gw.Inbox().Messages(gateway.ChannelSMS, demoPhone) }
	ask := func(token string) url.Values {
		v := url.Values{"document": {clavetest.DemoCitizen.ID}, "contrast": {clavetest.DemoCitizen.Contrast}}
		if token != "" {
			v.Set("csrf", token)
		}
		return v
	}

	b := h.browser()
	chooser, page := h.pinPage(b)
	token := hiddenOf(page, "csrf")
	require.NotEmpty(t, token, "the PIN form carries its token: %s", page)
	_, otherPage := h.pinPage(h.browser())
	otherToken := hiddenOf(otherPage, "csrf")
	require.NotEqual(t, token, otherToken, "each login has its own token")

	refused := map[string]string{
		"no token":              "",
		"wrong token":           strings.Repeat("A", len(token)),
		"another login's token": otherToken,
		"token truncated":       token[:len(token)-1],
	}
	for name, bad := range refused {
		t.Run("PIN request: "+name, func(t *testing.T) {
			resp, page := b.post(chooser+"/pin/request", ask(bad))
			assert.Equal(t, http.StatusForbidden, resp.StatusCode)
			assert.Contains(t, page, formRefused)
			assert.NotContains(t, page, `id="request-code"`)
			assert.Empty(t, sms(), "no PIN issued")
		})
	}
	t.Run("cancel without token", func(t *testing.T) {
		resp, page := b.post(chooser+"/cancel", url.Values{})
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
		assert.NotContains(t, page, "SAMLResponse")
	})
	t.Run("no cookie: not this login's browser", func(t *testing.T) {
		stranger := &http.Client{}
		resp, err := stranger.PostForm(chooser+"/pin/request", ask(token))
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, "the method refuses it as no login")
		assert.Empty(t, sms())
	})
	t.Run("oversized form", func(t *testing.T) {
		v := ask(token)
		v.Set("padding", strings.Repeat("x", 70<<10))
		resp, _ := b.post(chooser+"/pin/request", v)
		assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
		assert.Empty(t, sms())
	})

	// The right token works, and the login goes on as before.
	resp, page := b.post(chooser+"/pin/request", ask(token))
	require.Equal(t, http.StatusOK, resp.StatusCode, page)
	require.Contains(t, page, `id="request-code"`)
	require.Len(t, sms(), 1, "one PIN issued")
	pin := sms()[0].Code

	t.Run("new PIN is a form, not a link", func(t *testing.T) {
		resp, after := b.get(chooser + "/pin/new")
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.True(t, strings.HasSuffix(resp.Request.URL.Path, "/pin/"), "a GET only shows the current step")
		assert.Contains(t, after, `id="request-code"`, "still the PIN step: a link cannot forget the PIN asked for")
	})

	t.Run("PIN typed without token", func(t *testing.T) {
		resp, page := b.post(chooser+"/pin/verify", url.Values{"pin": {pin}})
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
		assert.NotContains(t, page, "SAMLResponse")
	})
	t.Run("token in the header", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodPost, chooser+"/pin/verify", strings.NewReader(url.Values{"pin": {"---"}}.Encode()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-CSRF-Token", hiddenOf(page, "csrf"))
		resp, page := b.read(b.c.Do(req))
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "past the token, a wrong PIN: %s", page)
	})

	require.Equal(t, token, hiddenOf(page, "csrf"), "the verify page carries the login's token")
	resp, page = b.post(chooser+"/pin/verify", url.Values{"pin": {pin}, "csrf": {token}})
	require.Equal(t, http.StatusOK, resp.StatusCode, page)
	require.Contains(t, page, `name="SAMLResponse"`)
	resp, page = b.submit(chooser, page)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "dentro", page)
}

// The new PIN form forgets the PIN asked for, with its token only.
func TestGatewayNewPINForm(t *testing.T) {
	t.Parallel()
	h := newHeaderRig(t)
	b := h.browser()
	chooser, page := h.pinPage(b)
	token := hiddenOf(page, "csrf")
	resp, page := b.post(chooser+"/pin/request", url.Values{"document": {clavetest.DemoCitizen.ID},
		"contrast": {clavetest.DemoCitizen.Contrast}, "csrf": {token}})
	require.Contains(t, page, `id="request-code"`, resp.StatusCode)

	resp, page = b.post(chooser+"/pin/new", url.Values{})
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp, page = b.post(chooser+"/pin/new", url.Values{"csrf": {token}})
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, page, `name="document"`, "back to the identification form")
}

// An armed persona that times out answers the request itself with its waiting
// page, before the browser has the login's cookie: its cancel form still
// carries the right token.
func TestGatewayPersonaWaitingPageForm(t *testing.T) {
	t.Parallel()
	h := newHeaderRig(t)
	for _, p := range gateway.Personas() {
		if p.Outcome == gateway.OutcomeTimesOut {
			require.NoError(t, h.gw.ArmPersona(clavetest.SPID, p.ID))
		}
	}
	b := h.browser()
	resp, page := h.start(b)
	require.Contains(t, page, `id="waiting"`)
	m := rigForm.FindStringSubmatch(page)
	require.NotNil(t, m)
	cancel, err := resp.Request.URL.Parse(m[1])
	require.NoError(t, err)

	resp, _ = b.post(cancel.String(), url.Values{})
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp, page = b.submit(resp.Request.URL.String(), page)
	require.Equal(t, http.StatusOK, resp.StatusCode, page)
	assert.Contains(t, page, `name="SAMLResponse"`)
}
