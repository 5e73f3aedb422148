package pages

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSiteFrame(t *testing.T) {
	page := func(r *http.Request, data map[string]any) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		Render(w, r, http.StatusOK, "error", data)
		return w
	}
	t.Run("demo banner only with an inbox URL", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, "/x", nil)
		assert.NotContains(t, page(r, map[string]any{"Message": "error.flow"}).Body.String(), `id="demo-inbox"`)
		r = r.WithContext(WithSite(r.Context(), Site{DemoInboxURL: "/demo/inbox"}))
		assert.Contains(t, page(r, map[string]any{"Message": "error.flow"}).Body.String(),
			`<p class="wrap" id="demo-inbox">`+T("es", "site.demo")+` <a href="/demo/inbox">/demo/inbox</a></p>`)
	})
	t.Run("a form to another site widens form-action to its origin only", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, "/x", nil)
		csp := page(r, map[string]any{"Message": "error.flow", "FormOrigin": "https://sede.example.es/clave/acs?x=1"}).Header().Get("Content-Security-Policy")
		assert.Contains(t, csp, "form-action 'self' https://sede.example.es;")
		for _, bad := range []string{"", "javascript:alert(1)", "/relative", "ftp://h/"} {
			csp := page(r, map[string]any{"Message": "error.flow", "FormOrigin": bad}).Header().Get("Content-Security-Policy")
			assert.Contains(t, csp, "form-action 'self';", bad)
		}
	})
	t.Run("every error says what to do next", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, "/x", nil)
		for msg, next := range map[string]string{"error.request": "error.next.request", "error.unavailable": "error.next.unavailable", "error.flow": "error.next"} {
			assert.Contains(t, page(r, map[string]any{"Message": msg}).Body.String(), `<p class="next" id="next">`+T("es", next)+`</p>`, msg)
		}
	})
	t.Run("language names in their own language", func(t *testing.T) {
		assert.Equal(t, "Valencià", LanguageName("ca-valencia"))
		for _, l := range Languages {
			assert.NotEqual(t, l, LanguageName(l), "%s has a name", l)
		}
	})
}
