package gateway_test

import (
	"net/http"
	"net/url"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/mobile/app"
	"github.com/clave-go/clave/saml"
)

// The Cl@ve app manages Cl@ve Permanente on a running gateway: a password
// blocked on the login page is recovered from the app, and an activation
// code renewed there replaces the kept one.
func TestPermanenteFromTheApp(t *testing.T) {
	t.Parallel()
	w := pmWorld(t, saml.LoALow, nil)
	kept := activate(t, w, pmPassword)
	p := w.phoneBySMS(maria, mariaValid, mariaPhone)

	st, err := p.PermanenteStatus(t.Context())
	require.NoError(t, err)
	assert.True(t, st.Activated)
	assert.False(t, st.PasswordBlocked)

	s := w.pmLogin(maria, "Wrong#Pass1")
	for range 4 {
		s.pmPassword(maria, "Wrong#Pass1")
	}
	require.Equal(t, http.StatusForbidden, s.resp.StatusCode, "blocked")
	st, err = p.PermanenteStatus(t.Context())
	require.NoError(t, err)
	assert.True(t, st.PasswordBlocked)

	_, err = p.RecoverPassword(t.Context(), pmPassword)
	require.ErrorIs(t, err, app.ErrWeakPassword, "not the blocked password again")
	st, err = p.RecoverPassword(t.Context(), pmOther)
	require.NoError(t, err)
	assert.False(t, st.PasswordBlocked)
	s = w.pmLogin(maria, pmOther)
	s.finish()
	assert.Equal(t, "hola MARIA|12345678Z|low|GISS|GARCIA LOPEZ", s.page)

	code, err := p.RegenerateActivationCode(t.Context())
	require.NoError(t, err)
	require.NotEqual(t, kept.Value, code.Value)
	a := w.account().startReset(maria, kept.Grouped())
	assert.NotContains(t, a.page, `action="/permanente/reset/sms"`, "the kept code no longer works")
	a = w.account().startReset(maria, code.Grouped())
	assert.Contains(t, a.page, `action="/permanente/reset/sms"`, "the new one does")
}

// A new activation code on the account pages, after identifying with
// Cl@ve PIN: only the new code works from then on.
func TestPermanenteRegenerateOnThePages(t *testing.T) {
	t.Parallel()
	w := pmWorld(t, saml.LoALow, nil)
	kept := activate(t, w, pmPassword)

	a := w.account().open("/permanente/")
	require.Contains(t, a.page, `href="/permanente/regenerate"`)
	a.open("/permanente/regenerate")
	a.post("/permanente/regenerate/start", url.Values{"document": {maria}, "contrast": {mariaValid}})
	require.Equal(t, http.StatusOK, a.status(), a.page)
	require.Contains(t, a.page, `action="/permanente/regenerate/verify"`, a.page)
	pinCode := w.lastSMS(mariaPhone).Code
	a.post("/permanente/regenerate/verify", url.Values{"pin": {otherPIN(pinCode)}})
	assert.Equal(t, http.StatusUnauthorized, a.status(), "a wrong PIN")
	a.post("/permanente/regenerate/verify", url.Values{"pin": {pinCode}})
	require.Equal(t, http.StatusOK, a.status(), a.page)
	m := regexp.MustCompile(`<p class="code" id="activation-code">([A-Z0-9-]+)</p>`).FindStringSubmatch(a.page)
	require.NotNil(t, m, a.page)
	require.NotEqual(t, kept.Grouped(), m[1])

	r := w.account().startReset(maria, kept.Grouped())
	assert.NotContains(t, r.page, `action="/permanente/reset/sms"`, "the kept code no longer works")
	r = w.account().startReset(maria, m[1])
	assert.Contains(t, r.page, `action="/permanente/reset/sms"`, "the new one does")

	t.Run("a stranger gets the same pages and no code", func(t *testing.T) {
		a := w.account().open("/permanente/regenerate")
		a.post("/permanente/regenerate/start", url.Values{"document": {stranger}, "contrast": {mariaValid}})
		require.Equal(t, http.StatusOK, a.status(), a.page)
		require.Contains(t, a.page, `action="/permanente/regenerate/verify"`)
		a.post("/permanente/regenerate/verify", url.Values{"pin": {pinCode}})
		assert.Equal(t, http.StatusUnauthorized, a.status())
		assert.NotContains(t, a.page, `id="activation-code"`)
	})
}
