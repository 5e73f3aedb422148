package pages

import (
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestLanguagesOrder(t *testing.T) {
	assert.Equal(t, []string{"es", "ca", "ca-valencia", "gl", "eu", "en"}, Languages)
}

// Every language must translate exactly the Spanish keys: a missing or stray
// key fails here rather than silently falling back on a page.
func TestTextsSameKeysAsSpanish(t *testing.T) {
	es := keys(texts["es"])
	require.NotEmpty(t, es)
	for _, l := range Languages {
		m, ok := texts[l]
		require.True(t, ok, "no texts for %q", l)
		assert.Equal(t, es, keys(m), "key set of %q differs from es", l)
		for k, s := range m {
			assert.NotEmpty(t, strings.TrimSpace(s), "%s/%s is empty", l, k)
		}
	}
	for l := range texts {
		assert.True(t, supported(l), "texts for %q, which is not in Languages", l)
	}
}

// Names, document types and literal values stay as they are in Spanish.
func TestTextsKeepProtectedTerms(t *testing.T) {
	terms := []string{"Cl@ve", "DNI", "NIE", "PIN", "SMS", "E99999904", "01/01/2040", "4"}
	for k, es := range texts["es"] {
		for _, l := range Languages {
			for _, term := range terms {
				if strings.Contains(es, term) {
					assert.Contains(t, texts[l][k], term, "%s/%s lost %q", l, k, term)
				}
			}
		}
	}
	for _, l := range []string{"ca", "gl", "eu"} {
		assert.Equal(t, "Cl@ve Móvil", texts[l]["method.CLVMOVIL"], l)
		assert.Equal(t, "Cl@ve PIN", texts[l]["method.AEAT"], l)
	}
}

func TestT(t *testing.T) {
	assert.Equal(t, "Berrespenaren zain", T("eu", "persona.wait.title"))
	assert.Equal(t, "No es pot continuar", T("ca", "error.title"))
	assert.Equal(t, "Non se pode continuar", T("gl", "error.title"))
	assert.Equal(t, texts["es"]["error.title"], T("fr", "error.title"), "unknown language falls back to Spanish")

	// A key missing from a language falls back to Spanish.
	texts["es"]["test.only"] = "solo español"
	defer delete(texts["es"], "test.only")
	assert.Equal(t, "solo español", T("eu", "test.only"))

	assert.Equal(t, "no.such.key", T("eu", "no.such.key"), "unknown key shows itself")
	assert.Equal(t, "no.such.key", T("es", "no.such.key"))
}

func TestLang(t *testing.T) {
	cases := []struct {
		name, query, cookie, accept, want string
	}{
		{name: "nothing", want: "es"},
		{name: "accept basque", accept: "eu-ES,eu;q=0.9", want: "eu"},
		{name: "accept galician", accept: "gl", want: "gl"},
		{name: "accept valencian", accept: "ca-ES-valencia", want: "ca-valencia"},
		{name: "accept valencian without region", accept: "ca-valencia", want: "ca-valencia"},
		{name: "accept valencian any case", accept: "CA-es-VALENCIA;q=0.9", want: "ca-valencia"},
		{name: "accept valencian before catalan", accept: "ca-ES-valencia,ca;q=0.9", want: "ca-valencia"},
		{name: "accept catalan before valencian", accept: "ca-ES,ca-ES-valencia;q=0.9", want: "ca"},
		{name: "accept catalan", accept: "ca", want: "ca"},
		{name: "accept catalan region", accept: "ca-AD", want: "ca"},
		{name: "accept other variant of catalan", accept: "ca-ES-x-valenciano", want: "ca"},
		{name: "accept valencia as a region only", accept: "es-valencia", want: "es"},
		{name: "accept english", accept: "en-GB,en;q=0.8", want: "en"},
		{name: "accept french", accept: "fr", want: "es"},
		{name: "accept first supported", accept: "fr-FR,fr;q=0.9,gl;q=0.8,en;q=0.5", want: "gl"},
		{name: "accept uppercase", accept: "EU-ES", want: "eu"},
		{name: "cookie over accept", cookie: "gl", accept: "eu", want: "gl"},
		{name: "query over cookie", query: "ca", cookie: "gl", accept: "eu", want: "ca"},
		{name: "query over accept", query: "en", accept: "eu", want: "en"},
		{name: "unsupported query ignored", query: "fr", cookie: "eu", want: "eu"},
		{name: "unsupported query and cookie ignored", query: "xx", cookie: "fr", accept: "gl", want: "gl"},
		{name: "query is exact", query: "EU", accept: "ca", want: "ca"},
		{name: "query region not accepted", query: "ca-ES-valencia", want: "es"},
		{name: "query valencian", query: "ca-valencia", accept: "ca", want: "ca-valencia"},
		{name: "cookie valencian", cookie: "ca-valencia", accept: "en", want: "ca-valencia"},
		{name: "query valencian over cookie", query: "ca-valencia", cookie: "ca", want: "ca-valencia"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			target := "/page"
			if tc.query != "" {
				target += "?lang=" + tc.query
			}
			r := httptest.NewRequest(http.MethodGet, target, nil)
			if tc.cookie != "" {
				r.AddCookie(&http.Cookie{Name: "clave_lang", Value: tc.cookie})
			}
			if tc.accept != "" {
				r.Header.Set("Accept-Language", tc.accept)
			}
			assert.Equal(t, tc.want, Lang(r))
		})
	}
}

func render(t *testing.T, target, accept string, data map[string]any) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	if accept != "" {
		r.Header.Set("Accept-Language", accept)
	}
	if data == nil {
		data = map[string]any{}
	}
	if _, ok := data["Message"]; !ok {
		data["Message"] = "error.request"
	}
	w := httptest.NewRecorder()
	Render(w, r, http.StatusBadRequest, "error", data)
	require.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())
	return w
}

func TestRender(t *testing.T) {
	t.Run("language, switch and headers", func(t *testing.T) {
		w := render(t, "/sso?lang=eu", "gl", map[string]any{"Message": "error.request"})
		assert.Equal(t, http.StatusBadRequest, w.Code)
		body := w.Body.String()
		assert.Contains(t, body, `<html lang="eu">`)
		assert.Contains(t, body, T("eu", "error.title"))
		assert.Contains(t, body, T("eu", "error.request"))
		assert.Contains(t, body, "<title>"+T("eu", "title")+"</title>")
		last := -1
		for _, l := range []string{"es", "ca", "gl", "eu", "en"} {
			link := `<a href="/sso?lang=` + l + `" hreflang="` + l + `" lang="` + l + `"`
			if l == "eu" {
				link += ` aria-current="true"`
			}
			link += `>` + LanguageName(l) + `</a>`
			i := strings.Index(body, link)
			assert.Greater(t, i, last, "switch link %s missing or out of order", l)
			last = i
		}

		h := w.Header()
		assert.Equal(t, "text/html; charset=utf-8", h.Get("Content-Type"))
		assert.Equal(t, "no-store", h.Get("Cache-Control"))
		assert.Equal(t, "DENY", h.Get("X-Frame-Options"))
		assert.Contains(t, h.Get("Content-Security-Policy"), "default-src 'none'")
		assert.NotContains(t, h.Get("Content-Security-Policy"), "unsafe-inline")

		cookies := w.Result().Cookies()
		require.Len(t, cookies, 1)
		assert.Equal(t, "clave_lang", cookies[0].Name)
		assert.Equal(t, "eu", cookies[0].Value)
		assert.Equal(t, "/", cookies[0].Path)
		assert.True(t, cookies[0].HttpOnly)
	})

	t.Run("no cookie without lang parameter", func(t *testing.T) {
		w := render(t, "/sso", "ca-ES,ca;q=0.9", nil)
		assert.Contains(t, w.Body.String(), `<html lang="ca">`)
		assert.Contains(t, w.Body.String(), T("ca", "error.title"))
		assert.Empty(t, w.Result().Cookies())
	})

	t.Run("no cookie for an unsupported lang parameter", func(t *testing.T) {
		w := render(t, "/sso?lang=fr", "", nil)
		assert.Contains(t, w.Body.String(), `<html lang="es">`)
		assert.Empty(t, w.Result().Cookies())
	})

	t.Run("explicit Lang in data wins", func(t *testing.T) {
		w := render(t, "/sso", "en", map[string]any{"Lang": "gl"})
		assert.Contains(t, w.Body.String(), `<html lang="gl">`)
	})

	t.Run("data is escaped", func(t *testing.T) {
		w := render(t, "/sso?lang=gl", "", map[string]any{"Message": "error.flow", "Detail": `<script>x</script>`})
		body := w.Body.String()
		assert.NotContains(t, body, "<script>x</script>")
		assert.Contains(t, body, "&lt;script&gt;x&lt;/script&gt;")
		assert.Contains(t, body, T("gl", "error.flow"))
	})

	t.Run("path in the switch is escaped", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, `/a%22%3E%3Cb%3E`, nil)
		w := httptest.NewRecorder()
		Render(w, r, http.StatusOK, "error", map[string]any{"Message": "error.request"})
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		assert.NotContains(t, w.Body.String(), `"><b>`)
	})

	t.Run("unknown page", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		w := httptest.NewRecorder()
		Render(w, r, http.StatusOK, "no_such_page", nil)
		assert.Equal(t, http.StatusInternalServerError, w.Code)
	})
}
