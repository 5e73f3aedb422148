package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/pages"
	"github.com/clave-go/clave/mobile"
	"github.com/clave-go/clave/mobile/app"
)

// Cl@ve Móvil in a real headless Chromium, the test playing the citizen's
// phone through mobile/app: the page must learn of the phone's answer by
// itself, through server-sent events with JavaScript, or by refreshing
// itself without.

// movilMaria is what the agency shows once maria logged in with Cl@ve Móvil
// on her advanced registration.
const movilMaria = "hola MARIA|12345678Z|substantial|CLVMOVIL|GARCIA LOPEZ"

func TestMovilBrowser(t *testing.T) {
	t.Parallel()

	t.Run("QR with JavaScript", func(t *testing.T) {
		t.Parallel()
		ctx := newChrome(t)
		csp := watchCSP(t, ctx)
		w := newWorld(t, nil, nil, nil)
		device := movilPhone(t, w)

		openMovil(t, ctx, w, false)
		shown := pageText(t, ctx, "verification-code")
		payload := scanQR(t, ctx)
		assert.True(t, strings.HasPrefix(payload, "CLAVEMOVIL:1:"), payload)
		req, err := device.Scan(t.Context(), payload)
		require.NoError(t, err)
		assert.Equal(t, mobile.KindQR, req.Kind)
		assert.Equal(t, shown, req.VerificationCode, "the page shows the phone's verification code")
		// With scripts on, <noscript> holds text, not a refresh: the only way
		// on is the page's event stream.
		refresh, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('meta[http-equiv="refresh"]') !== null`))
		require.NoError(t, err)
		require.False(t, refresh, "no meta refresh while JavaScript runs")
		screenshot(t, ctx, "qr")

		confirmed := time.Now()
		require.NoError(t, device.ConfirmCode(t.Context(), req, shown))
		assert.Equal(t, movilMaria, waitBody(t, ctx, "hola MARIA"), "the page moved on by itself")
		t.Logf("from the phone's confirmation to the agency: %s", time.Since(confirmed).Round(time.Millisecond))
		csp.check(t)
	})

	t.Run("push then SMS PIN with JavaScript", func(t *testing.T) {
		t.Parallel()
		ctx := newChrome(t)
		csp := watchCSP(t, ctx)
		w := newWorld(t, nil, nil, nil)
		device := movilPhone(t, w)
		activation := w.lastSMS(mariaPhone).Code

		openMovil(t, ctx, w, false)
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Click(chromedp.ID("noqr")),
			chromedp.WaitVisible(chromedp.CSS(`input[name=document]`)),
			chromedp.SendKeys(chromedp.CSS(`input[name=document]`), maria),
			chromedp.SendKeys(chromedp.CSS(`input[name=contrast]`), mariaValid),
			chromedp.Click(chromedp.ID("push")),
			chromedp.WaitVisible(chromedp.ID("pin-wait")),
		))
		first, err := strconv.Atoi(pageText(t, ctx, "pin-wait"))
		require.NoError(t, err)
		assert.True(t, first > 0 && first <= 60, "seconds before the SMS PIN: %d", first)
		assertHidden(t, ctx, "sms-form", true)
		screenshot(t, ctx, "push")
		_, err = chromedp.Run(ctx, chromedp.Poll[bool](
			`Number(document.getElementById("pin-wait").textContent) < `+strconv.Itoa(first),
			chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(5*time.Second)))
		require.NoError(t, err, "the countdown ticks")
		assertHidden(t, ctx, "sms-form", true)

		pending, err := device.Pending(t.Context(), 0)
		require.NoError(t, err)
		require.Len(t, pending, 1, "the push reached the phone")
		assert.Equal(t, mobile.KindPush, pending[0].Kind)
		assert.Equal(t, pageText(t, ctx, "verification-code"), pending[0].VerificationCode)

		// The phone never answers. The page's own countdown runs in wall
		// time; the server's, on the gateway's clock, decides what a fresh
		// page shows.
		w.clock.Advance(61 * time.Second)
		require.NoError(t, chromedp.Do(ctx,
			chromedp.Reload(),
			chromedp.WaitVisible(chromedp.ID("sms")),
			chromedp.Click(chromedp.ID("sms")),
			chromedp.WaitVisible(chromedp.ID("pin")),
		))
		sms := w.lastSMS(mariaPhone)
		require.NotEqual(t, activation, sms.Code, "a new SMS, the login PIN")
		// The SMS speaks the page's language, the browser's.
		lang, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`))
		require.NoError(t, err)
		opening, _, _ := strings.Cut(pages.T(lang, "sms.movil.pin"), "%")
		assert.True(t, strings.HasPrefix(sms.Text, opening), "%q is not in the page's language, %s", sms.Text, lang)
		require.NoError(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("pin"), sms.Code)))
		screenshot(t, ctx, "sms-pin")
		// The right PIN confirms the request, which the page's event stream
		// hears too, often before the post's answer arrives: the page must
		// let its form's answer land rather than reload over it, which would
		// show a login already over.
		require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("verify"))))
		assert.Equal(t, movilMaria, waitBody(t, ctx, "hola MARIA"))
		csp.check(t)
	})

	t.Run("QR without JavaScript", func(t *testing.T) {
		t.Parallel()
		ctx := newChrome(t)
		csp := watchCSP(t, ctx)
		w := newWorld(t, nil, nil, nil)
		device := movilPhone(t, w)

		openMovil(t, ctx, w, true)
		shown := pageText(t, ctx, "verification-code")
		req, err := device.Scan(t.Context(), scanQR(t, ctx))
		require.NoError(t, err)
		assert.Equal(t, shown, req.VerificationCode)
		picture(t, ctx, "qr")

		confirmed := time.Now()
		require.NoError(t, device.ConfirmCode(t.Context(), req, shown))
		// The page refreshes itself every 5 s of wall time; nothing here
		// reloads it.
		waitReady(t, ctx, `input[name=SAMLResponse]`, 20*time.Second)
		t.Logf("from the phone's confirmation to the response form: %s", time.Since(confirmed).Round(time.Millisecond))
		loc, err := chromedp.Run(ctx, chromedp.Location())
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(loc, w.gwSrv.URL+"/login/"), "the answer waits at the gateway for the person: %s", loc)

		require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#saml-post button[type=submit]`))))
		assert.Equal(t, movilMaria, waitBody(t, ctx, "hola MARIA"))
		csp.check(t)
	})
}

// movilPhone activates maria's phone by SMS code, as the app does, and
// returns it unlocked.
func movilPhone(t *testing.T, w *world) *app.Session {
	t.Helper()
	c := &app.Client{BaseURL: w.gwSrv.URL, HTTP: w.gwSrv.Client(), Now: w.clock.Now,
		KDF: app.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}} // cheap: a test, not a stolen phone
	_, err := c.RequestActivationCode(t.Context(), maria, mariaValid)
	require.NoError(t, err)
	passphrase := []byte("una frase de prueba")
	p, err := c.ActivateSMS(t.Context(), maria, w.lastSMS(mariaPhone).Code, passphrase)
	require.NoError(t, err)
	s, err := p.Unlock(passphrase)
	require.NoError(t, err)
	t.Cleanup(s.Lock)
	return s
}

// openMovil goes from the agency to the Cl@ve Móvil page through the
// chooser. Without JavaScript the tab runs no script of any page, and the
// person presses the SAML form's button.
func openMovil(t *testing.T, ctx context.Context, w *world, noScript bool) {
	t.Helper()
	if noScript {
		// The override belongs to the tab, so it holds across navigations.
		require.NoError(t, chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
			_, err := cdp.Call(ctx, tgt, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			return err
		})))
	}
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(w.agency.srv.URL+"/tramite")))
	if noScript {
		require.NoError(t, chromedp.Do(ctx,
			chromedp.WaitReady(chromedp.CSS(`input[name=SAMLRequest]`)),
			chromedp.Click(chromedp.CSS(`#saml-post button[type=submit]`)),
		))
	}
	require.NoError(t, chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.ID("method-CLVMOVIL")),
		chromedp.Click(chromedp.ID("method-CLVMOVIL")),
		chromedp.WaitVisible(chromedp.ID("qr")),
	))
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	require.Regexp(t, `^`+w.gwSrv.URL+`/login/[^/]+/movil/$`, loc)
}

// scanQR reads the QR code as a phone's camera would: from the page as the
// browser drew it, decoded by a decoder independent of the one that drew it.
func scanQR(t *testing.T, ctx context.Context) string {
	t.Helper()
	var (
		text    string
		lastErr error
	)
	// The image may still be loading, or the page be refreshing itself.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		shot, err := chromedp.Run(actx, chromedp.Screenshot(chromedp.ID("qr")))
		cancel()
		if text, lastErr = decodeQR(shot, err); lastErr == nil {
			return text
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no QR code on the page: %v", errors.Join(lastErr, ctx.Err()))
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("no QR code on the page: %v", lastErr)
	return ""
}

func decodeQR(shot []byte, err error) (string, error) {
	if err != nil {
		return "", err
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		return "", err
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", err
	}
	res, err := zxqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		// The reader's finder-pattern search misses about one code in
		// two hundred; the screenshot is the code alone, which its
		// pure-barcode mode reads (as the app does).
		res, err = zxqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
	}
	if err != nil {
		return "", err
	}
	return res.GetText(), nil
}

// pageText returns the trimmed text of the element with the id.
func pageText(t *testing.T, ctx context.Context, id string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID(id)))
	require.NoError(t, err, id)
	return strings.TrimSpace(s)
}

// assertHidden checks the element's hidden property, which the page's script
// and the server both set.
func assertHidden(t *testing.T, ctx context.Context, id string, want bool) {
	t.Helper()
	hidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("`+id+`").hidden`))
	require.NoError(t, err)
	assert.Equal(t, want, hidden, "#%s hidden", id)
}

// waitReady waits for an element matching sel across the navigations that a
// page's own refreshes cause, for at most d.
func waitReady(t *testing.T, ctx context.Context, sel string, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		// Short attempts, as in waitBody: a query started on a page being
		// replaced may wait on a document that never comes back.
		actx, cancelAttempt := context.WithTimeout(ctx, 2*time.Second)
		err := chromedp.Do(actx, chromedp.WaitReady(chromedp.CSS(sel)))
		cancelAttempt()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no %s within %s: %v", sel, d, errors.Join(err, ctx.Err()))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// cspWatch collects the tab's console, where the browser reports Content
// Security Policy violations as messages of source "security".
type cspWatch struct {
	mu         sync.Mutex
	messages   []string
	violations []string
}

func watchCSP(t *testing.T, ctx context.Context) *cspWatch {
	t.Helper()
	c := &cspWatch{}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			line := string(m.Type) + " " + m.URL + ": " + m.Text
			c.mu.Lock()
			c.messages = append(c.messages, line)
			if m.Source == "security" || strings.Contains(m.Text, "Content Security Policy") {
				c.violations = append(c.violations, line)
			}
			c.mu.Unlock()
		}
	}()
	return c
}

// check logs the console so far, and fails the test for every violation.
func (c *cspWatch) check(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.messages {
		t.Logf("console: %s", m)
	}
	assert.Empty(t, c.violations, "Content Security Policy violations")
}
