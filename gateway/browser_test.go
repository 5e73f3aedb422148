package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/browsertest"
)

// These tests drive the login as a person would, in a real headless Chromium:
// the SAML forms post themselves with JavaScript (or by their visible button
// without it), and cookies follow the browser's own SameSite rules rather than
// a Go cookie jar's.

// browserGuard bounds a whole browser test, so that a stuck page fails the test
// instead of hanging it; nothing here asserts on timing.
const browserGuard = 60 * time.Second

// requireBrowser returns the path of a Chromium-family browser, or skips the
// test when there is none (see browsertest.Require).
func requireBrowser(t *testing.T) string { return browsertest.Require(t) }

// chrome is the one headless Chromium that the package's browser tests share:
// starting a browser costs more than any of the tests, so each test opens a
// tab of its own in a fresh browser context (its own cookies and storage,
// like a private window) instead. TestMain stops it.
var chrome struct {
	once    sync.Once
	ctx     context.Context // the browser's
	err     error
	stop    context.CancelFunc
	profile string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if chrome.stop != nil {
		chrome.stop() // also waits for the browser process to exit
	}
	if chrome.profile != "" {
		_ = os.RemoveAll(chrome.profile)
	}
	os.Exit(code)
}

// startChrome starts the shared browser once, with a fresh profile. Its
// temporary files go under the profile too, so nothing is left in /tmp.
func startChrome(exe string) (context.Context, error) {
	chrome.once.Do(func() {
		if chrome.profile, chrome.err = os.MkdirTemp("", "clave-chromium-"); chrome.err != nil {
			return
		}
		actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
			chromedp.ExecPath(exe),
			chromedp.Headless,
			chromedp.NoSandbox, // CI runs as root, where Chromium refuses its sandbox
			chromedp.DisableGPU,
			chromedp.NoFirstRun,
			chromedp.NoDefaultBrowserCheck,
			chromedp.Flag("disable-quic", true),
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			// The citizen's browser is in English, whatever the machine's
			// locale, so the pages that follow Accept-Language are the same
			// everywhere.
			chromedp.Flag("accept-lang", "en-US,en"),
			chromedp.UserDataDir(filepath.Join(chrome.profile, "profile")),
			chromedp.Env("TMPDIR="+chrome.profile),
		)
		bctx, cancelBrowser := chromedp.NewContext(actx)
		chrome.ctx = bctx
		chrome.stop = func() { cancelBrowser(); cancelAlloc() }
		// Start the browser now, so a browser that cannot start fails the
		// test that asked for it, within the guard. The first action on bctx
		// must not carry a deadline: its context becomes the browser's.
		started := make(chan error, 1)
		go func() { started <- chromedp.Do(bctx) }()
		select {
		case err := <-started:
			if err != nil {
				chrome.err = fmt.Errorf("starting %s: %w", exe, err)
			}
		case <-time.After(browserGuard):
			chrome.err = fmt.Errorf("starting %s: no answer in %s", exe, browserGuard)
		}
	})
	return chrome.ctx, chrome.err
}

// newChrome returns a context for a new tab of the shared headless Chromium,
// in a browser context of its own. The tab closes when the test ends, and
// everything it does stops after browserGuard.
func newChrome(t *testing.T) context.Context {
	t.Helper()
	exe := requireBrowser(t)
	bctx, err := startChrome(exe)
	require.NoError(t, err)
	tctx, closeTab := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext())
	t.Cleanup(closeTab)
	ctx, cancel := context.WithTimeout(tctx, browserGuard)
	t.Cleanup(cancel)
	require.NoError(t, chromedp.Do(ctx), "opening a tab")
	return ctx
}

// waitBody waits until the page's visible text contains want, across the
// navigations that the auto-posted forms cause, and returns the text.
func waitBody(t *testing.T, ctx context.Context, want string) string {
	return browsertest.WaitText(t, ctx, want)
}

// screenshot checks the page with axe-core (no serious or critical
// violation) and saves a PNG of the whole page. The files go to t.TempDir(), or to
// CLAVE_SCREENSHOT_DIR when set, so that a person can look at them after the
// run.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	// Every page worth a picture is checked for accessibility too.
	browsertest.Axe(t, ctx, name)
	picture(t, ctx, name)
}

// picture saves a PNG of the whole page without checking it: for a page
// seen with JavaScript off, where axe-core cannot run (and the page may be
// refreshing itself).
func picture(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")), "%s is a PNG", name)
	require.Greater(t, len(png), 8, "%s has an image after the signature", name)
	dir := os.Getenv("CLAVE_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	} else {
		dir = filepath.Join(dir, t.Name())
		require.NoError(t, os.MkdirAll(dir, 0o755))
	}
	path := filepath.Join(dir, name+".png")
	require.NoError(t, os.WriteFile(path, png, 0o644))
	t.Logf("screenshot: %s", path)
}

func TestBrowserPINLogin(t *testing.T) {
	t.Parallel()
	ctx := newChrome(t)
	w := newWorld(t, nil, nil, nil)

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(w.agency.srv.URL+"/tramite"),
		chromedp.WaitVisible(chromedp.ID("method-AEAT")),
	), "the SAMLRequest form posts itself to the gateway's chooser")
	screenshot(t, ctx, "chooser")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.ID("method-AEAT")),
		chromedp.WaitVisible(chromedp.CSS(`input[name=document]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=document]`), maria),
		chromedp.SendKeys(chromedp.CSS(`input[name=contrast]`), mariaValid),
		chromedp.Click(chromedp.ID("request")),
		chromedp.WaitVisible(chromedp.ID("request-code")),
	))
	code, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("request-code")))
	require.NoError(t, err)
	sms := w.lastSMS(mariaPhone)
	assert.Contains(t, sms.Text, strings.TrimSpace(code), "the page shows the request code the SMS carries")

	require.NoError(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`input[name=pin]`), sms.Code)))
	screenshot(t, ctx, "pin")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.ID("verify"))))

	body := waitBody(t, ctx, "hola MARIA")
	assert.Equal(t, "hola MARIA|12345678Z|substantial|AEAT|GARCIA LOPEZ", body)
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	assert.Equal(t, w.agency.srv.URL+"/tramite", loc, "the agency sends the citizen back to the page first asked for")
}

func TestBrowserCancel(t *testing.T) {
	t.Parallel()
	ctx := newChrome(t)
	w := newWorld(t, nil, nil, nil)

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(w.agency.srv.URL+"/tramite"),
		chromedp.WaitVisible(chromedp.ID("method-AEAT")),
		chromedp.Click(chromedp.ID("cancel")),
	))
	waitBody(t, ctx, "You cancelled the Cl@ve login")
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(loc, w.agency.srv.URL), "back at the agency: %s", loc)
}

func TestBrowserNoJavaScript(t *testing.T) {
	t.Parallel()
	ctx := newChrome(t)
	w := newWorld(t, nil, nil, nil)
	// The override belongs to the tab, so it holds across the navigations.
	require.NoError(t, chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
		_, err := cdp.Call(ctx, tgt, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	})))

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(w.agency.srv.URL+"/tramite"),
		chromedp.WaitReady(chromedp.CSS(`input[name=SAMLRequest]`)),
	))
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	require.Equal(t, w.agency.srv.URL+"/tramite", loc, "without JavaScript the form waits for the person")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#saml-post button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("method-AEAT")),
		chromedp.Click(chromedp.ID("cancel")),
		// The chooser's cancel is a submit button too: wait for the
		// agency-bound form before pressing its button.
		chromedp.WaitReady(chromedp.CSS(`input[name=SAMLResponse]`)),
	))
	loc, err = chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(loc, w.gwSrv.URL), "the answer waits at the gateway for the person: %s", loc)

	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#saml-post button[type=submit]`))))
	waitBody(t, ctx, "You cancelled the Cl@ve login")
	loc, err = chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(loc, w.agency.srv.URL), "back at the agency: %s", loc)
}
