package gateway_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/gateway"
)

func checkOf(t *testing.T, e gateway.Exchange, rule string) gateway.Check {
	for _, c := range e.Checks {
		if c.Rule == rule {
			return c
		}
	}
	t.Fatalf("no rule %s in %+v", rule, e.Checks)
	return gateway.Check{}
}

func TestGatewayInspection(t *testing.T) {
	t.Parallel()
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

	// A tampered request: its service did not sign it, so anyone could have
	// posted it, and it is refused without being kept (see
	// TestInspectionKeepsOnlyAuthenticated for the flood this prevents).
	b := newBrowser(t)
	_, page := b.get(w.agency.srv.URL + "/tramite")
	r, _ := b.submit(page, editRequest(t, "LoA/low", "LoA/high"))
	require.Equal(t, http.StatusBadRequest, r.StatusCode)
	assert.Len(t, w.gw.Inspect(agencySPID), 2, "an unsigned sender's request is not kept")

	// Requests naming an unknown service are not kept either, nor is the
	// SPID they claim listed.
	b2 := newBrowser(t)
	_, page = b2.get(w.agency.srv.URL + "/tramite")
	r, _ = b2.submit(page, editRequest(t, agencySPID, "S1111111E_E11111111"))
	require.Equal(t, http.StatusBadRequest, r.StatusCode)
	assert.Empty(t, w.gw.Inspect("S1111111E_E11111111"))
	assert.NotContains(t, w.gw.InspectedServices(), "S1111111E_E11111111")

	// A signed request that breaks a later rule is kept: the rule fails, the
	// ones after it are not evaluated, the ones before passed.
	b3 := newBrowser(t)
	_, page = b3.get(w.agency.srv.URL + "/tramite")
	w.clock.Advance(time.Hour)
	r, _ = b3.submit(page, nil)
	require.Equal(t, http.StatusBadRequest, r.StatusCode)
	bad := w.gw.Inspect(agencySPID)[0]
	assert.False(t, bad.Accepted())
	assert.True(t, checkOf(t, bad, "provider").Passed)
	assert.True(t, checkOf(t, bad, "signature").Passed)
	instant := checkOf(t, bad, "instant")
	assert.True(t, instant.Evaluated)
	assert.False(t, instant.Passed)
	assert.NotEmpty(t, instant.Detail)
	assert.False(t, checkOf(t, bad, "acs").Evaluated)
}

func TestGatewayInspectionThroughAdmin(t *testing.T) {
	t.Parallel()
	w := newWorld(t, withAdmin, nil, nil)
	s := w.start()
	s.requestPIN(maria, mariaValid, "")
	s.verify(w.lastSMS(mariaPhone).Code, "")
	s.finish()
	require.True(t, strings.HasPrefix(s.page, "hola MARIA"))

	status, _ := api(t, w, http.MethodGet, "/admin/api/inspect?spid="+agencySPID, "", "")
	assert.Equal(t, http.StatusUnauthorized, status, "the token is required")
	status, out := api(t, w, http.MethodGet, "/admin/api/inspect?spid="+agencySPID, adminToken, "")
	require.Equal(t, http.StatusOK, status, out)
	var got struct {
		Services  []string           `json:"services"`
		Exchanges []gateway.Exchange `json:"exchanges"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	assert.Equal(t, []string{agencySPID}, got.Services)
	require.Len(t, got.Exchanges, 2)
	assert.Equal(t, "Response", got.Exchanges[0].Kind)
	assert.Contains(t, got.Exchanges[0].XML, "saml2:Assertion")
	assert.Equal(t, "AuthnRequest", got.Exchanges[1].Kind)
	require.NotEmpty(t, got.Exchanges[1].Checks)
	assert.True(t, got.Exchanges[1].Accepted())

	// The page: log in with the form, then read the service's exchanges.
	b := newBrowser(t)
	_, page := b.get(w.gwSrv.URL + "/admin/inspect")
	assert.Contains(t, page, `name="token"`, "the page asks for the token first")
	csrf := csrfRe.FindStringSubmatch(page)
	require.NotNil(t, csrf, page)
	resp, err := b.c.PostForm(w.gwSrv.URL+"/admin/login", url.Values{"token": {adminToken}, "csrf": {csrf[1]}})
	require.NoError(t, err)
	_ = body(t, resp)
	_, page = b.get(w.gwSrv.URL + "/admin/inspect?spid=" + agencySPID + "&lang=en")
	assert.Contains(t, page, "Valid XML signature by a registered provider certificate")
	assert.Contains(t, page, `<span class="ok">passed</span>`)
	assert.Contains(t, page, "saml2p:AuthnRequest", "the request, escaped and indented")
}
