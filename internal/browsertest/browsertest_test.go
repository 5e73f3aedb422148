package browsertest_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/browsertest"
)

// axe-core finds what it should on a page with a known fault, and nothing
// serious on a clean one.
func TestCheckFindsViolations(t *testing.T) {
	ctx := browsertest.New(t, "es-ES,es")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		alt := `alt="Escudo"`
		if r.URL.Path == "/bad" {
			alt = ""
		}
		fmt.Fprintf(w, `<!DOCTYPE html><html lang="es"><head><title>Prueba</title></head>
<body><main><h1>Prueba</h1><img src="/x.png" %s></main></body></html>`, alt)
	}))
	defer srv.Close()

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/bad")))
	vs, err := browsertest.Check(ctx)
	if errors.Is(err, browsertest.ErrNoAxe) && os.Getenv("CLAVE_REQUIRE_BROWSER") == "" {
		t.Skip("skipped: ", err)
	}
	require.NoError(t, err)
	var ids []string
	for _, v := range vs {
		if browsertest.Serious(v) {
			ids = append(ids, v.ID)
		}
	}
	assert.Contains(t, ids, "image-alt")

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/good")))
	browsertest.Axe(t, ctx, "a clean page")
	browsertest.Screenshot(t, ctx, "clean")
}
