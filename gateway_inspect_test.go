package clave_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/saml"
)

func checkOf(t *testing.T, e clave.Exchange, rule string) clave.Check {
	for _, c := range e.Checks {
		if c.Rule == rule {
			return c
		}
	}
	t.Fatalf("no rule %s in %+v", rule, e.Checks)
	return clave.Check{}
}

func TestGatewayInspection(t *testing.T) {
	w := newWorld(t, nil, nil, nil)
	s := w.start()
	s.requestPIN(maria, mariaValid, "")
	s.verify(w.lastSMS(mariaPhone).Code, "")
	s.finish()
	require.True(t, strings.HasPrefix(s.page, "hola MARIA"))

	got := w.gw.Inspect(agencySPID)
	require.Len(t, got, 2)
	resp, req := got[0], got[1]
	assert.Equal(t, "Response", resp.Kind)
	assert.Contains(t, resp.XML, "saml2p:Response")
	assert.Contains(t, resp.XML, "\n  <saml2:Issuer", "indented for reading")
	assert.Equal(t, "AuthnRequest", req.Kind)
	assert.True(t, req.Accepted())
	for _, c := range req.Checks {
		assert.True(t, c.Evaluated && c.Passed, c.Rule)
		assert.NotEmpty(t, c.ES)
		assert.NotEmpty(t, c.EN)
	}

	// A tampered request: the signature rule fails, the ones after it are not
	// evaluated, the ones before passed.
	b := newBrowser(t)
	_, page := b.get(w.agency.srv.URL + "/tramite")
	r, _ := b.submit(page, func(v url.Values) {
		raw, err := saml.DecodeMessage(v.Get("SAMLRequest"), 0)
		require.NoError(t, err)
		v.Set("SAMLRequest", encode(strings.Replace(string(raw), "LoA/low", "LoA/high", 1)))
	})
	require.Equal(t, http.StatusBadRequest, r.StatusCode)
	bad := w.gw.Inspect(agencySPID)[0]
	assert.False(t, bad.Accepted())
	assert.True(t, checkOf(t, bad, "provider").Passed)
	sig := checkOf(t, bad, "signature")
	assert.False(t, sig.Passed)
	assert.Contains(t, sig.Detail, "signature")
	assert.False(t, checkOf(t, bad, "acs").Evaluated)

	// Requests naming an unknown service are filed under the SPID they claim.
	b2 := newBrowser(t)
	_, page = b2.get(w.agency.srv.URL + "/tramite")
	_, _ = b2.submit(page, func(v url.Values) {
		raw, _ := saml.DecodeMessage(v.Get("SAMLRequest"), 0)
		v.Set("SAMLRequest", encode(strings.Replace(string(raw), agencySPID, "S1111111E_E11111111", 1)))
	})
	unknown := w.gw.Inspect("S1111111E_E11111111")
	require.Len(t, unknown, 1)
	assert.False(t, checkOf(t, unknown[0], "provider").Passed)
	assert.Contains(t, w.gw.InspectedServices(), "S1111111E_E11111111")
}
