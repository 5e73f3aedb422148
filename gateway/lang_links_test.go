package gateway_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/pages"
	"github.com/clave-go/clave/saml"
)

var langLinkRe = regexp.MustCompile(`<a href="([^"]*\?lang=en)"`)

// followLang follows the English link of the current page, as a citizen
// switching language would.
func (s *session) followLang() {
	m := langLinkRe.FindStringSubmatch(s.page)
	require.NotNil(s.w.t, m, "no language link: %s", s.page)
	s.see(s.b.get(s.gwURL(html.UnescapeString(m[1]))))
}

// The language links of a page that answered a form lead to the login's
// current page in that language, not to a POST-only address.
func TestLanguageLinksAfterAForm(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil, nil)

	t.Run("Cl@ve PIN, after a wrong PIN", func(t *testing.T) {
		s := w.start()
		s.requestPIN(maria, mariaValid, "")
		s.verify(otherPIN(w.lastSMS(mariaPhone).Code), "")
		require.Equal(t, http.StatusUnauthorized, s.resp.StatusCode)
		s.followLang()
		assert.Equal(t, http.StatusOK, s.resp.StatusCode, s.page)
		assert.Contains(t, s.page, `<html lang="en">`)
		assert.Contains(t, s.page, html.EscapeString(pages.T("en", "pin.verify")), "still at the PIN step")
	})
	t.Run("Cl@ve Móvil, after a bad document", func(t *testing.T) {
		m := w.startMovil()
		m.post(m.base+"push", url.Values{"document": {"123"}, "contrast": {mariaValid}})
		require.Equal(t, http.StatusBadRequest, m.resp.StatusCode)
		m.followLang()
		assert.Equal(t, http.StatusOK, m.resp.StatusCode, m.page)
		assert.Contains(t, m.page, `<html lang="en">`)
		assert.Contains(t, m.page, `action="`+m.base+`push"`, "the form of a login without QR")
	})
	t.Run("Cl@ve Móvil, after asking for the SMS too early", func(t *testing.T) {
		m := w.startMovil()
		m.push(maria, mariaValid)
		m.askSMS()
		require.Equal(t, http.StatusConflict, m.resp.StatusCode)
		m.followLang()
		assert.Equal(t, http.StatusOK, m.resp.StatusCode, m.page)
		assert.Contains(t, m.page, `<html lang="en">`)
		m.requireWaiting()
	})
	t.Run("Cl@ve Permanente, after a wrong password", func(t *testing.T) {
		w := pmWorld(t, saml.LoALow, nil)
		activate(t, w, pmPassword)
		s := w.pmLogin(maria, "Wrong#Pass1")
		require.Equal(t, http.StatusUnauthorized, s.resp.StatusCode)
		s.followLang()
		assert.Equal(t, http.StatusOK, s.resp.StatusCode, s.page)
		assert.Contains(t, s.page, `<html lang="en">`)
		assert.Contains(t, s.page, `name="password"`, "the password form")
	})
}
