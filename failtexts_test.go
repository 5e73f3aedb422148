package clave

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Every failure text exists in every language of the pages, and no
// language has a key the others lack.
func TestFailTextsComplete(t *testing.T) {
	assert.Len(t, failTexts, len(languages))
	keys := map[string]bool{}
	for _, l := range languages {
		for k := range failTexts[l] {
			keys[k] = true
		}
	}
	for _, l := range languages {
		for k := range keys {
			assert.NotEmpty(t, strings.TrimSpace(failTexts[l][k]), "%s lacks %q", l, k)
		}
	}
	for _, r := range []FailureReason{FailureCancelled, FailureNotIdentified, FailureLoATooLow, FailureInvalidResponse,
		FailureNoLoginState, FailureLogoutNotConfirmed, FailureInternal} {
		for _, part := range []string{".title", ".message", ".next"} {
			assert.True(t, keys[string(r)+part], "no text %s%s", r, part)
		}
	}
	assert.Contains(t, failTexts["ca-valencia"]["back"], "Torne", "Valencian is not Catalan")
	assert.Contains(t, failTexts["ca"]["back"], "Torni")
}

func TestAcceptLanguage(t *testing.T) {
	for header, want := range map[string]string{
		"":                           "",
		"fr-FR, de":                  "",
		"ca-ES-valencia,ca;q=0.9":    "ca-valencia",
		"ca-valencia":                "ca-valencia",
		"ca-ES":                      "ca",
		"fr;q=1, eu;q=0.5, gl;q=0.8": "gl",
		"en-GB,en;q=0.9,es;q=0.8":    "en",
		"es-ES;q=0.1, en;q=0":        "es",
		"gl-ES;q=bad, eu":            "eu",
		"*, es;q=0.2":                "es",
	} {
		assert.Equal(t, want, acceptLanguage(header), header)
	}
}
