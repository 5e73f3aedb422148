package pages

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestBackKeepsOnlyAKnownLanguage(t *testing.T) {
	for query, want := range map[string]string{
		"?lang=eu":                   "/login/x/pin/?lang=eu",
		"":                           "/login/x/pin/",
		"?lang=xx":                   "/login/x/pin/",
		"?lang=en%26next%3D%2F%2Fev": "/login/x/pin/",
	} {
		w := httptest.NewRecorder()
		Back(w, httptest.NewRequest(http.MethodGet, "/login/x/pin/verify"+query, nil), "/login/x/pin/")
		assert.Equal(t, http.StatusSeeOther, w.Code)
		assert.Equal(t, want, w.Header().Get("Location"), query)
	}
}
