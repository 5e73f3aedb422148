package main

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/gateway"
	"github.com/clave-go/clave/internal/browsertest"
)

// These tests run the demo as a person would, in a real headless Chromium
// whose language is Spanish: the agency's login through Cl@ve PIN, a wrong
// PIN and the language switched on the page answering it, the SDK's own
// failure page, and the procedures app from its home page to the result.
// Every page visited is checked with axe-core (no serious or critical
// violation), and the pages a person would judge the gateway by are saved
// as screenshots, desktop and 390 px wide (CLAVE_SCREENSHOT_DIR).

// visit checks the page ctx shows with axe-core and, when shot is not
// empty, saves its screenshots under that name.
func visit(t *testing.T, ctx context.Context, page, shot string) {
	t.Helper()
	browsertest.Axe(t, ctx, page)
	if shot != "" {
		browsertest.Screenshot(t, ctx, shot)
	}
}

func TestBrowserAgencyLogin(t *testing.T) {
	ctx := browsertest.New(t, "es-ES,es")
	d, _ := startDemo(t)

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(d.agencyURL+"/")))
	browsertest.WaitText(t, ctx, "Entrar con Cl@ve")
	visit(t, ctx, "agency home", "")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a[href="/perfil"]`)),
		chromedp.WaitVisible(chromedp.ID("method-AEAT")),
	), "the SAMLRequest form posts itself to the gateway's chooser")
	visit(t, ctx, "chooser", "chooser")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.ID("method-AEAT")),
		chromedp.WaitVisible(chromedp.CSS(`input[name=document]`)),
	))
	visit(t, ctx, "Cl@ve PIN form", "pin-form")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`input[name=document]`), "12345678Z"),
		chromedp.SendKeys(chromedp.CSS(`input[name=contrast]`), "01/01/2030"),
		chromedp.Click(chromedp.ID("request")),
		chromedp.WaitVisible(chromedp.ID("request-code")),
	))
	visit(t, ctx, "Cl@ve PIN verification", "")
	sms, err := d.gateway.Inbox().Last(gateway.ChannelSMS, "+34600000001")
	require.NoError(t, err)

	// A wrong PIN: the page says so, in Spanish.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`input[name=pin]`), otherPIN(sms.Code)),
		chromedp.Submit(chromedp.CSS(`input[name=pin]`)),
		chromedp.WaitVisible(chromedp.ID("error")),
	))
	visit(t, ctx, "wrong Cl@ve PIN", "pin-wrong")

	// The language switch on the page that answered the form leads to the
	// same step in English, not to an address that only takes forms.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a[hreflang="en"]`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name=pin]`)),
	))
	lang, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`))
	require.NoError(t, err)
	assert.Equal(t, "en", lang)
	visit(t, ctx, "Cl@ve PIN verification in English", "")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`input[name=pin]`), sms.Code),
		chromedp.Submit(chromedp.CSS(`input[name=pin]`)),
	))
	text := browsertest.WaitText(t, ctx, "MARIA")
	assert.Contains(t, text, "12345678Z")
	visit(t, ctx, "agency, logged in", "agency-logged-in")
}

// Cancelled at the chooser, the citizen lands on the SDK's failure page,
// in their language, with a way back.
func TestBrowserSDKFailurePage(t *testing.T) {
	ctx := browsertest.New(t, "es-ES,es")
	d, _ := startDemo(t)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(d.agencyURL+"/perfil"),
		chromedp.WaitVisible(chromedp.ID("method-AEAT")),
	))
	require.NoError(t, chromedp.Do(ctx, chromedp.Submit(chromedp.CSS(`form[action$="/cancel"] button`))))
	text := browsertest.WaitText(t, ctx, "cancelado")
	assert.Contains(t, strings.ToLower(text), "volver")
	visit(t, ctx, "the SDK's failure page", "sdk-failure")
}

// The procedures app, end to end: a saved Cl@ve PIN user, the PIN by SMS,
// the consultation on screen.
func TestBrowserProcedures(t *testing.T) {
	ctx := browsertest.New(t, "es-ES,es")
	d, _ := startDemo(t)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(d.proceduresURL+"/")))
	browsertest.WaitText(t, ctx, "Cl@ve PIN")
	visit(t, ctx, "procedures home", "")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a[href="/entidades?via=pin"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href^="/entidades/aeat"]`)),
	))
	visit(t, ctx, "procedures entities", "")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a[href^="/entidades/aeat"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/pin/aeat/datos-fiscales"]`)),
	))
	visit(t, ctx, "procedures of an entity", "")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a[href="/pin/aeat/datos-fiscales"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href^="/usuarios/nuevo"]`)),
	))
	visit(t, ctx, "procedure without saved users", "")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a[href^="/usuarios/nuevo"]`)),
		chromedp.WaitVisible(chromedp.ID("document")),
	))
	visit(t, ctx, "new saved user", "")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("document"), "12345678Z"),
		chromedp.SendKeys(chromedp.ID("contrast"), "01/01/2030"),
		chromedp.SendKeys(chromedp.ID("label"), "María"),
		chromedp.Submit(chromedp.ID("document")),
		chromedp.WaitVisible(chromedp.CSS(`input[name=channel][value=sms]`)),
	))
	visit(t, ctx, "procedure with a saved user", "")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`input[name=channel][value=sms]`)),
		chromedp.Submit(chromedp.CSS(`input[name=channel][value=sms]`)),
		chromedp.WaitVisible(chromedp.ID("request-code")),
	))
	visit(t, ctx, "procedures PIN verification", "")
	sms, err := d.gateway.Inbox().Last(gateway.ChannelSMS, "+34600000001")
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("pin"), sms.Code),
		chromedp.Submit(chromedp.ID("pin")),
	))
	text := browsertest.WaitText(t, ctx, "MARIA")
	assert.Contains(t, text, "*****678Z")
	visit(t, ctx, "procedures result", "procedures-result")
}

// otherPIN is a Cl@ve PIN that is not pin.
func otherPIN(pin string) string {
	if pin == "AAA" {
		return "BBB"
	}
	return "AAA"
}
