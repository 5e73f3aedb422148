// Package browsertest runs end-to-end tests in a real headless Chromium
// (Debian's chromium) through chromedp: it starts the browser, waits for
// text across the navigations auto-posted forms cause, saves screenshots at
// desktop and phone widths, and checks pages with axe-core.
//
// The browser is looked up in PATH; without one the test is skipped with
// the reason logged, unless CLAVE_REQUIRE_BROWSER is set. axe-core is read
// from CLAVE_AXE_JS (the path of axe.min.js, which .ci/run fetches from the
// npm registry); without it the accessibility check is skipped with the
// reason logged, unless CLAVE_REQUIRE_BROWSER is set. Screenshots go to
// CLAVE_SCREENSHOT_DIR/<test name>/ when it is set, else to t.TempDir().
//
// Tests only: production code never imports this package.
package browsertest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Guard bounds everything a tab does, so that a stuck page fails the test
// instead of hanging it; nothing here asserts on timing.
const Guard = 90 * time.Second

// Require returns the path of a Chromium-family browser, or skips t.
func Require(t testing.TB) string {
	t.Helper()
	names := []string{"chromium", "chromium-browser", "google-chrome"}
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	reason := "no browser in PATH (looked for " + strings.Join(names, ", ") + ")"
	if os.Getenv("CLAVE_REQUIRE_BROWSER") != "" {
		t.Fatalf("%s, and CLAVE_REQUIRE_BROWSER is set", reason)
	}
	t.Skip(reason + "; set CLAVE_REQUIRE_BROWSER=1 to make this a failure")
	return ""
}

// New starts a headless Chromium of the test's own, with a fresh profile
// and the given Accept-Language ("es-ES,es" for a Spanish citizen), and
// returns the context of its first tab, bounded by Guard. The browser stops
// when the test ends.
func New(t *testing.T, acceptLanguage string) context.Context {
	t.Helper()
	exe := Require(t)
	profile := t.TempDir()
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
		chromedp.Flag("accept-lang", acceptLanguage),
		chromedp.UserDataDir(filepath.Join(profile, "profile")),
		chromedp.Env("TMPDIR="+profile),
	)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	// The first action must not carry a deadline: its context becomes the
	// browser's. It is bounded from outside instead.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(bctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("starting %s: %v", exe, err)
		}
	case <-time.After(Guard):
		t.Fatalf("starting %s: no answer in %s", exe, Guard)
	}
	ctx, cancel := context.WithTimeout(bctx, Guard)
	t.Cleanup(cancel)
	return ctx
}

// WaitText waits until the page's visible text contains want, across
// navigations, and returns the text.
func WaitText(t testing.TB, ctx context.Context, want string) string {
	t.Helper()
	var last string
	var lastErr error
	for {
		// Each attempt is short: a query started on a page being replaced
		// may otherwise wait on a document that never comes back.
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		last, lastErr = chromedp.Run(actx, chromedp.Text(chromedp.CSS("body")))
		cancel()
		if lastErr == nil && strings.Contains(last, want) {
			return strings.TrimSpace(last)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("page never said %q: last text %q, last error %v", want, last, errors.Join(lastErr, ctx.Err()))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Widths are the viewports screenshots are taken at: a desktop and a phone.
var Widths = []struct {
	Name          string
	Width, Height int64
}{{"desktop", 1280, 900}, {"390px", 390, 844}}

// Screenshot saves PNGs of the whole page at each of Widths, as
// <name>-<width>.png, and leaves the viewport as it was before.
func Screenshot(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("CLAVE_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	} else {
		dir = filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_"))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	defer func() { _ = chromedp.Do(ctx, chromedp.EmulateReset()) }()
	for _, w := range Widths {
		png, err := chromedp.Run(ctx, then(chromedp.EmulateViewport(w.Width, w.Height), chromedp.FullScreenshot(100)))
		if err != nil {
			t.Fatalf("screenshot %s at %s: %v", name, w.Name, err)
		}
		if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
			t.Fatalf("screenshot %s at %s is not a PNG", name, w.Name)
		}
		path := filepath.Join(dir, name+"-"+w.Name+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}
}

var axe struct {
	once sync.Once
	src  string
	err  error
}

// Violation is one rule axe-core found broken on a page.
type Violation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// ErrNoAxe is returned by Check when CLAVE_AXE_JS names no axe-core.
var ErrNoAxe = errors.New("CLAVE_AXE_JS is not set (the path of axe-core's axe.min.js; .ci/run fetches it with npm)")

// Check runs axe-core on the page ctx shows and returns the violations.
func Check(ctx context.Context) ([]Violation, error) {
	axe.once.Do(func() {
		path := os.Getenv("CLAVE_AXE_JS")
		if path == "" {
			axe.err = ErrNoAxe
			return
		}
		b, err := os.ReadFile(path)
		axe.src, axe.err = string(b), err
	})
	if axe.err != nil {
		return nil, axe.err
	}
	// Evaluated through the DevTools protocol, which the page's Content
	// Security Policy does not apply to; the page itself runs nothing new.
	const run = `(async () => {
		const r = await axe.run(document, {resultTypes: ['violations']});
		return JSON.stringify(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
			nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))})));
	})()`
	out, err := chromedp.Run(ctx, then(chromedp.Evaluate[chromedp.Void](axe.src),
		chromedp.Evaluate[string](run, chromedp.EvalAwaitPromise)))
	if err != nil {
		return nil, err
	}
	var vs []Violation
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		return nil, err
	}
	return vs, nil
}

// Axe runs axe-core on the page ctx shows and fails t for every serious or
// critical violation, naming page; lesser ones are logged. Without axe-core
// the check is skipped with the reason logged, or fails t when
// CLAVE_REQUIRE_BROWSER is set.
func Axe(t testing.TB, ctx context.Context, page string) []Violation {
	t.Helper()
	vs, err := Check(ctx)
	switch {
	case errors.Is(err, ErrNoAxe) && os.Getenv("CLAVE_REQUIRE_BROWSER") == "":
		t.Logf("accessibility check of %s skipped: %v", page, err)
		return nil
	case err != nil:
		t.Fatalf("axe-core on %s: %v", page, err)
	}
	for _, v := range vs {
		msg := fmt.Sprintf("axe-core on %s: %s (%s): %s, at %s", page, v.ID, v.Impact, v.Help, strings.Join(v.Nodes, "; "))
		if Serious(v) {
			t.Error(msg)
		} else {
			t.Log(msg)
		}
	}
	return vs
}

// Serious reports whether v is among the violations a page must not have.
func Serious(v Violation) bool { return v.Impact == "serious" || v.Impact == "critical" }

// then runs first, then second, and returns second's value.
func then[T any](first chromedp.Action[chromedp.Void], second chromedp.Action[T]) chromedp.Action[T] {
	return func(ctx context.Context, t *chromedp.Target) (T, error) {
		if _, err := first(ctx, t); err != nil {
			var zero T
			return zero, err
		}
		return second(ctx, t)
	}
}
