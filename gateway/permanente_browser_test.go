package gateway_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/pages"
	"github.com/clave-go/clave/saml"
)

// TestPermanenteBrowser drives Cl@ve Permanente in a real headless
// Chromium: the activation on the account pages, whose own token cookie
// (SameSite=Strict) must reach their forms, then a login at substantial
// with the reinforced SMS step; no page may break its Content Security
// Policy.
func TestPermanenteBrowser(t *testing.T) {
	t.Parallel()
	ctx := newChrome(t)
	csp := watchCSP(t, ctx)
	w := pmWorld(t, saml.LoASubstantial, nil)
	code, err := w.gw.RegisterPermanente(context.Background(), maria)
	require.NoError(t, err)

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(w.gwSrv.URL+"/permanente/?lang=es"), // the texts below are Spanish
		chromedp.WaitVisible(chromedp.ID("service-activate")),
		chromedp.Click(chromedp.ID("service-activate")),
		chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=document]`), maria),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), mariaEmail),
		chromedp.SendKeys(chromedp.CSS(`input[name=code]`), code.Grouped()),
		chromedp.Click(chromedp.ID("start")),
		chromedp.WaitVisible(chromedp.ID("code")),
	))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("code"), w.lastSMS(mariaPhone).Code),
		chromedp.Click(chromedp.ID("verify")),
		chromedp.WaitVisible(chromedp.ID("policy")),
	))
	// A weak password first: the page lists the rules it breaks.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "maria"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password2]`), "maria"),
		chromedp.Click(chromedp.ID("save")),
		chromedp.WaitVisible(chromedp.ID("rules")),
	))
	assert.Contains(t, pageText(t, ctx, "rules"), strings.TrimSuffix(textPlain("permanente.rule.has_name"), "."))
	screenshot(t, ctx, "policy")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), pmPassword),
		chromedp.SendKeys(chromedp.CSS(`input[name=password2]`), pmPassword),
		chromedp.Click(chromedp.ID("save")),
		chromedp.WaitVisible(chromedp.ID("done")),
	))
	assert.Equal(t, textPlain("permanente.activate.done"), pageText(t, ctx, "done"))

	before := w.lastSMS(mariaPhone)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(w.agency.srv.URL+"/tramite"),
		chromedp.WaitVisible(chromedp.ID("method-GISS")),
		chromedp.Click(chromedp.ID("method-GISS")),
		chromedp.WaitVisible(chromedp.CSS(`input[name=password]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=document]`), maria),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), pmPassword),
		chromedp.Click(chromedp.ID("enter")),
		chromedp.WaitVisible(chromedp.ID("code")),
	))
	assert.Equal(t, "*******01", pageText(t, ctx, "phone"))
	sms := w.lastSMS(mariaPhone)
	require.NotEqual(t, before.Code, sms.Code, "the login's own SMS code")
	require.NoError(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("code"), sms.Code)))
	screenshot(t, ctx, "sms")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("verify"))))
	assert.Equal(t, "hola MARIA|12345678Z|substantial|GISS|GARCIA LOPEZ", waitBody(t, ctx, "hola MARIA"))
	csp.check(t)
}

// textPlain is a page text in Spanish as the browser shows it.
func textPlain(key string) string { return pages.T("es", key) }
