package gateway_test

import (
	"net/http"
	"net/url"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/gateway"
	"github.com/clave-go/clave/mobile"
)

var movilPushForm = regexp.MustCompile(`<form method="post" action="(/login/[^"]+/movil/)push"`)

// movilPage goes from the chooser to the Cl@ve Móvil page, then to its
// form of a login without QR, and returns the method's base path.
func (s *session) movilPage() string {
	href, ok := s.methods()["CLVMOVIL"]
	require.True(s.w.t, ok, "Cl@ve Móvil offered: %s", s.page)
	s.see(s.b.get(s.gwURL(href)))
	require.Contains(s.w.t, s.page, `<a href="`+href+`noqr" id="noqr">`)
	s.see(s.b.get(s.gwURL(href + "noqr")))
	assert.NotContains(s.w.t, s.page, `http-equiv="refresh"`, "a page to type in never refreshes itself")
	m := movilPushForm.FindStringSubmatch(s.page)
	require.NotNil(s.w.t, m, s.page)
	return m[1]
}

func TestGatewayMovilLimits(t *testing.T) {
	t.Parallel()
	t.Run("per client", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, func(c *gateway.Config) { c.MobileLimits = mobile.MethodLimits{ClientPushes: 2} }, nil, nil)
		s := w.start()
		base := s.movilPage()
		for i := range 2 {
			s.post(base+"push", url.Values{"document": {maria}, "contrast": {mariaValid}})
			require.Equal(t, http.StatusOK, s.resp.StatusCode, "push %d", i)
			s.post(base+"qr", nil)
		}
		s.post(base+"push", url.Values{"document": {maria}, "contrast": {mariaValid}})
		assert.Equal(t, http.StatusTooManyRequests, s.resp.StatusCode)
		assert.Contains(t, s.page, "Demasiados intentos")

		other := w.start() // another client address
		other.post(other.movilPage()+"push", url.Values{"document": {maria}, "contrast": {mariaValid}})
		assert.Equal(t, http.StatusOK, other.resp.StatusCode, "other clients are not held")
	})
	t.Run("global, then the siege limit per client", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, func(c *gateway.Config) {
			c.MobileLimits = mobile.MethodLimits{GlobalPushes: 3, SiegePushes: 1}
		}, nil, nil)
		for range 3 {
			s := w.start()
			s.post(s.movilPage()+"push", url.Values{"document": {maria}, "contrast": {mariaValid}})
			require.Equal(t, http.StatusOK, s.resp.StatusCode)
		}
		s := w.start()
		base := s.movilPage()
		s.post(base+"push", url.Values{"document": {maria}, "contrast": {mariaValid}})
		assert.Equal(t, http.StatusOK, s.resp.StatusCode, "under siege a person still gets one")
		s.post(base+"qr", nil)
		s.post(base+"push", url.Values{"document": {maria}, "contrast": {mariaValid}})
		assert.Equal(t, http.StatusTooManyRequests, s.resp.StatusCode, "but no more")
	})
	t.Run("a citizen's phone is not flooded, and nobody can tell", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, func(c *gateway.Config) { c.MobileLimits = mobile.MethodLimits{CitizenPushes: 1} }, nil, nil)
		for range 2 {
			s := w.start()
			s.post(s.movilPage()+"push", url.Values{"document": {maria}, "contrast": {mariaValid}})
			assert.Equal(t, http.StatusOK, s.resp.StatusCode, "the same page")
		}
		// Only one push reached the app: the second was a decoy.
		assert.Len(t, w.gw.Inbox().Messages(gateway.ChannelApp, maria), 1)
	})
}
