package gateway_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/gateway"
	"github.com/clave-go/clave/internal/dni"
	"github.com/clave-go/clave/internal/faults"
	"github.com/clave-go/clave/internal/pki"
	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/saml"
)

const (
	adminToken     = "test-admin-token-0123456789"
	personaApprove = "99999901H"
	personaDecline = "99999902L"
	personaTimeout = "99999903C"
	personaNoApp   = "Y9999904R"
	personaBlocked = "99999906T"
	personaBasic   = "99999907R"
	personaGaveUp  = "99999908W"
	personaValid   = "01/01/2040"
)

var csrfRe = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

func withPersonas(c *gateway.Config) { c.Personas = true }

func withAdmin(c *gateway.Config) { c.Personas, c.AdminToken = true, adminToken }

// headless starts a login that an armed persona answers: the gateway's answer
// to the request is already the final page, with no chooser nor PIN page.
func (w *world) headless() *session {
	s := w.start()
	assert.Equal(w.t, saml.ServiceProviderPath, s.resp.Request.URL.Path, "answered at once, no redirect to the gateway's pages")
	assert.NotContains(w.t, s.page, `id="method-`, "no chooser")
	return s
}

// login runs a headless approved login and returns the agency's page.
func (w *world) approvedLogin() (int, string) {
	require.NoError(w.t, w.gw.ArmPersona(agencySPID, personaApprove))
	s := w.headless()
	s.finish()
	return s.resp.StatusCode, s.page
}

// findCase returns the first catalogue case that ok accepts, skipping the test
// while the catalogue (still growing) has none.
func findCase(t *testing.T, what string, ok func(faults.Case) bool) string {
	for _, c := range faults.Catalogue() {
		if !c.NeedsEncryption && ok(c) {
			return c.ID
		}
	}
	t.Skipf("the fault catalogue has no %s case yet", what)
	return ""
}

// catalogueCase finds a refusal case whose title mentions word.
func catalogueCase(t *testing.T, word string) string {
	return findCase(t, word, func(c faults.Case) bool {
		return c.Expect == faults.Refuse && strings.Contains(strings.ToLower(c.Title), word)
	})
}

func TestGatewayArmedFaults(t *testing.T) {
	t.Parallel()
	t.Run("unsigned response is refused once", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, withPersonas, nil, nil)
		require.NoError(t, w.gw.ArmFault(agencySPID, "SIG-01"))
		status, page := w.approvedLogin()
		assert.Equal(t, http.StatusForbidden, status, page)
		assert.Contains(t, page, "no es válida")

		status, page = w.approvedLogin()
		assert.Equal(t, http.StatusOK, status, "one-shot: the next response is genuine again")
		assert.Equal(t, "hola ANA|99999901H|substantial|CLVMOVIL|APRUEBA PRUEBA", page)
	})
	t.Run("wrong audience through the PIN pages", func(t *testing.T) {
		t.Parallel()
		id := catalogueCase(t, "audience")
		w := newWorld(t, nil, nil, nil)
		require.NoError(t, w.gw.ArmFault(agencySPID, id))
		for i, want := range []int{http.StatusForbidden, http.StatusOK} {
			s := w.start()
			s.requestPIN(maria, mariaValid, "")
			s.verify(w.lastSMS(mariaPhone).Code, "")
			s.finish()
			assert.Equal(t, want, s.resp.StatusCode, "login %d: %s", i, s.page)
		}
	})
	t.Run("several armed go out in order", func(t *testing.T) {
		t.Parallel()
		// A must-accept case is rebuilt from the login's own fields, so its
		// acceptance also shows the fault starts from the genuine answer.
		b := sampleBase(t)
		valid := findCase(t, "must-accept", func(c faults.Case) bool {
			if c.Expect != faults.Accept {
				return false
			}
			d, err := c.Build(b)
			return err == nil && d.RawForm == nil && !d.Replay
		})
		w := newWorld(t, withNextKey, nil, nil)
		require.NoError(t, w.gw.ArmFault(agencySPID, valid))
		require.NoError(t, w.gw.ArmFault(agencySPID, "SIG-01"))
		for i, want := range []int{http.StatusOK, http.StatusForbidden, http.StatusOK} {
			status, page := w.approvedLogin()
			assert.Equal(t, want, status, "login %d: %s", i, page)
		}
	})
	t.Run("signed by the configured next key", func(t *testing.T) {
		t.Parallel()
		id := findCase(t, "next-key", func(c faults.Case) bool {
			return c.Expect == faults.Accept && strings.Contains(strings.ToLower(c.Title+c.How), "next key")
		})
		w := newWorld(t, withNextKey, nil, nil)
		require.NoError(t, w.gw.ArmFault(agencySPID, id))
		status, page := w.approvedLogin()
		assert.Equal(t, http.StatusOK, status, "the agency trusts the next key: %s", page)
	})
	t.Run("disarm all", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, withPersonas, nil, nil)
		require.NoError(t, w.gw.ArmFault(agencySPID, "SIG-01"))
		w.gw.DisarmAll()
		status, _ := w.approvedLogin()
		assert.Equal(t, http.StatusOK, status)
	})
	t.Run("replay of the previous genuine response", func(t *testing.T) {
		t.Parallel()
		id := replayCase(t)
		w := newWorld(t, withPersonas, nil, nil)
		require.NoError(t, w.gw.ArmFault(agencySPID, id))
		for i, want := range []int{http.StatusOK, http.StatusForbidden, http.StatusOK} {
			status, page := w.approvedLogin()
			assert.Equal(t, want, status, "login %d (the first is what the second replays): %s", i, page)
		}
	})
	t.Run("refused when arming", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, nil, nil, nil)
		assert.ErrorIs(t, w.gw.ArmFault(agencySPID, "NOPE-99"), gateway.ErrUnknownFault)
		assert.ErrorIs(t, w.gw.ArmFault("S9999999E_E99999999", "SIG-01"), samlidp.ErrUnknownSP)
		for _, c := range faults.Catalogue() {
			if c.NeedsEncryption {
				assert.ErrorIs(t, w.gw.ArmFault(agencySPID, c.ID), gateway.ErrFaultNotDeliverable, "the agency takes no encrypted assertions")
				break
			}
		}
		// The POST binding encodes the message itself: a form field that is
		// not canonical base64 cannot be sent.
		b := sampleBase(t)
		for _, c := range faults.Catalogue() {
			if c.Group != faults.GroupLimits || c.NeedsEncryption || !strings.Contains(c.Title, "form field") {
				continue
			}
			d, err := c.Build(b)
			if err != nil || d.RawForm == nil {
				continue
			}
			raw, derr := base64.StdEncoding.DecodeString(*d.RawForm)
			if derr == nil && len(raw) > 0 && base64.StdEncoding.EncodeToString(raw) == *d.RawForm {
				assert.NoError(t, w.gw.ArmFault(agencySPID, c.ID), c.ID)
			} else {
				assert.ErrorIs(t, w.gw.ArmFault(agencySPID, c.ID), gateway.ErrFaultNotDeliverable, c.ID)
			}
		}
		w.gw.DisarmAll()
	})
}

var (
	nextOnce sync.Once
	nextPair *pki.KeyPair
)

// withNextKey gives the gateway personas and a next signing pair (made once),
// which the agency trusts as it trusts every published certificate.
func withNextKey(c *gateway.Config) {
	nextOnce.Do(func() {
		var err error
		nextPair, err = pki.Generate("test gateway next", 2048, time.Now().Add(-time.Hour), 48*time.Hour)
		if err != nil {
			panic(err)
		}
	})
	c.Personas, c.NextCertificates, c.NextSigningKey = true, []*x509.Certificate{nextPair.Certificate}, nextPair.Key
}

// sampleBase is a successful response's base for building cases in tests.
func sampleBase(t *testing.T) *faults.Base {
	keys(t)
	kp := &faults.KeyPair{Key: gwKeys.Key, Certificate: gwKeys.Certificate}
	now := time.Now()
	return &faults.Base{
		Params: samlidp.ResponseParams{InResponseTo: "_r", Destination: "https://sp.example.es/acs", Issuer: "https://gw.example.es",
			IssueInstant: now, AuthnInstant: now, LoA: saml.LoASubstantial,
			NameID: saml.NameID{Value: maria, Format: saml.NameIDTransient}},
		Keys: faults.Keys{Trusted: kp, Next: kp, Untrusted: kp}, Now: now,
	}
}

// replayCase finds a case whose delivery is a replay.
func replayCase(t *testing.T) string {
	b := sampleBase(t)
	return findCase(t, "replay", func(c faults.Case) bool {
		if c.Group != faults.GroupReplay || c.Expect != faults.Refuse {
			return false
		}
		d, err := c.Build(b)
		return err == nil && d.Replay
	})
}

func TestGatewayPersonasHeadless(t *testing.T) {
	t.Parallel()
	cases := []struct {
		persona string
		loa     saml.LoA
		status  int
		page    string
	}{
		{personaApprove, saml.LoASubstantial, http.StatusOK, "hola ANA|99999901H|substantial|CLVMOVIL|APRUEBA PRUEBA"},
		{personaNoApp, saml.LoASubstantial, http.StatusOK, "hola DIEGO|Y9999904R|substantial|CLVMOVIL|SINMOVIL"},
		{personaDecline, saml.LoALow, http.StatusUnauthorized, "Ha cancelado"},
		{personaBlocked, saml.LoALow, http.StatusUnauthorized, "no ha podido identificarle"},
		{personaGaveUp, saml.LoALow, http.StatusUnauthorized, "no ha podido identificarle"},
		{personaBasic, saml.LoALow, http.StatusOK, "hola FELIPE|99999907R|low|CLVMOVIL|BASICO PRUEBA"},
		// The gateway asserts low although substantial was asked for: the
		// agency must refuse it itself.
		{personaBasic, saml.LoASubstantial, http.StatusForbidden, "no es válida"},
	}
	for _, tc := range cases {
		t.Run(tc.persona+" "+tc.loa.String(), func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, withPersonas, nil, func(c *clave.Config) { c.LoA = tc.loa })
			require.NoError(t, w.gw.ArmPersona(agencySPID, tc.persona))
			s := w.headless()
			s.finish()
			assert.Equal(t, tc.status, s.resp.StatusCode, s.page)
			assert.Contains(t, s.page, tc.page)
			assert.Empty(t, w.gw.Inbox().All(), "no PIN sent to anyone")

			// Armed once: the next login shows the chooser again.
			next := w.start()
			assert.Contains(t, next.page, `id="method-AEAT"`)
		})
	}

	t.Run("times out", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, withPersonas, nil, nil)
		require.NoError(t, w.gw.ArmPersona(agencySPID, personaTimeout))
		s := w.headless()
		assert.Equal(t, http.StatusOK, s.resp.StatusCode)
		assert.Contains(t, s.page, `id="waiting"`)
		assert.NotContains(t, s.page, "SAMLResponse", "nothing is ever posted back")
		cancel := anyForm.FindStringSubmatch(s.page)
		require.NotNil(t, cancel, s.page)

		w.gw.AdvanceClock(31 * time.Minute)
		s.post(cancel[1], nil)
		assert.Equal(t, http.StatusNotFound, s.resp.StatusCode, "the login expired at the gateway")
		assert.NotContains(t, s.page, "SAMLResponse")
	})

	t.Run("unknown persona", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, withPersonas, nil, nil)
		assert.ErrorIs(t, w.gw.ArmPersona(agencySPID, maria), gateway.ErrUnknownPersona)
		assert.ErrorIs(t, w.gw.ArmPersona("S9999999E_E99999999", personaApprove), samlidp.ErrUnknownSP)
	})
}

func TestGatewayPersonasThroughPINPages(t *testing.T) {
	t.Parallel()
	w := newWorld(t, withPersonas, nil, nil)
	require.Len(t, gateway.Personas(), 7)
	for _, p := range gateway.Personas() {
		_, err := dni.Parse(p.ID)
		assert.NoError(t, err, "%s has a valid check letter", p.ID)
		_, err = w.gw.Citizen(context.Background(), p.ID)
		assert.NoError(t, err, "%s is registered", p.ID)
	}

	t.Run("approves", func(t *testing.T) {
		s := w.start()
		s.requestPIN(personaApprove, personaValid, "")
		// Ana has an active Cl@ve Móvil device: the PIN goes to her app.
		assert.Empty(t, w.gw.Inbox().Messages(gateway.ChannelSMS, "+34699999901"), "no SMS for a citizen with the app")
		push, err := w.gw.Inbox().Last(gateway.ChannelApp, personaApprove)
		require.NoError(t, err)
		s.verify(push.Code, "")
		s.finish()
		assert.Equal(t, "hola ANA|99999901H|substantial|AEAT|APRUEBA PRUEBA", s.page)
	})
	t.Run("no device gets the PIN by SMS", func(t *testing.T) {
		s := w.start()
		s.requestPIN(personaNoApp, "E99999904", "")
		s.verify(w.lastSMS("+34699999904").Code, "")
		s.finish()
		assert.True(t, strings.HasPrefix(s.page, "hola DIEGO|Y9999904R"), s.page)
	})
	for _, id := range []string{personaBlocked, personaGaveUp} {
		t.Run(id+" gets no PIN", func(t *testing.T) {
			s := w.start()
			s.requestPIN(id, personaValid, "")
			assert.Equal(t, http.StatusOK, s.resp.StatusCode, "the same page as anyone")
			c, err := w.gw.Citizen(context.Background(), id)
			require.NoError(t, err)
			assert.Empty(t, w.gw.Inbox().Messages(gateway.ChannelSMS, c.Phone))
		})
	}
}

func TestGatewayAdvanceClockExpiresPIN(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil, nil)
	s := w.start()
	s.requestPIN(maria, mariaValid, "")
	pin := w.lastSMS(mariaPhone).Code
	before := w.gw.Now()
	w.gw.AdvanceClock(-time.Hour)
	w.gw.AdvanceClock(0)
	assert.False(t, w.gw.Now().Before(before), "the clock never goes back")
	w.gw.AdvanceClock(10*time.Minute + time.Second)
	assert.Equal(t, 10*time.Minute+time.Second, w.gw.Now().Sub(before))
	s.verify(pin, "")
	assert.Equal(t, http.StatusUnauthorized, s.resp.StatusCode)
	assert.NotContains(t, s.page, "SAMLResponse")
}

// api calls the admin API with token ("" sends no Authorization).
func api(t *testing.T, w *world, method, path, token, reqBody string) (int, string) {
	var rd io.Reader
	if reqBody != "" {
		rd = strings.NewReader(reqBody)
	}
	req, err := http.NewRequest(method, w.gwSrv.URL+path, rd)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	return resp.StatusCode, body(t, resp)
}

func TestGatewayAdminDisabled(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil, nil)
	for _, p := range []string{"/admin/", "/admin/api/state", "/admin/api/faults"} {
		status, _ := api(t, w, http.MethodGet, p, adminToken, "")
		assert.Equal(t, http.StatusNotFound, status, p)
	}
	status, _ := api(t, w, http.MethodPost, "/admin/api/arm", adminToken, `{"spid":"`+agencySPID+`","case":"SIG-01"}`)
	assert.Equal(t, http.StatusNotFound, status)

	_, err := gateway.New(context.Background(), gateway.Config{
		BaseURL: "http://127.0.0.1:1", SigningKey: gwKeys.Key, SigningCertificate: gwKeys.Certificate, AdminToken: "short",
	})
	assert.Error(t, err, "a short admin token is refused")
}

func TestGatewayAdminAPI(t *testing.T) {
	t.Parallel()
	w := newWorld(t, withAdmin, nil, nil)

	for _, tok := range []string{"", "wrong-token-wrong-token", adminToken + "x"} {
		for _, p := range []string{"/admin/api/state", "/admin/api/faults", "/admin/api/nothing"} {
			status, _ := api(t, w, http.MethodGet, p, tok, "")
			assert.Equal(t, http.StatusUnauthorized, status, "%s with %q", p, tok)
		}
		status, _ := api(t, w, http.MethodPost, "/admin/api/arm", tok, `{"spid":"`+agencySPID+`","case":"SIG-01"}`)
		assert.Equal(t, http.StatusUnauthorized, status)
	}

	status, out := api(t, w, http.MethodGet, "/admin/api/faults", adminToken, "")
	require.Equal(t, http.StatusOK, status)
	var cat []struct{ ID, Title, Expect string }
	require.NoError(t, json.Unmarshal([]byte(out), &cat))
	assert.Len(t, cat, len(faults.Catalogue()))
	assert.Contains(t, out, `"SIG-01"`)

	status, _ = api(t, w, http.MethodPost, "/admin/api/arm", adminToken, `{"spid":"`+agencySPID+`","case":"NOPE-1"}`)
	assert.Equal(t, http.StatusNotFound, status)
	status, _ = api(t, w, http.MethodPost, "/admin/api/arm", adminToken, `{"spid":"`+agencySPID+`","case":"SIG-01","x":1}`)
	assert.Equal(t, http.StatusBadRequest, status, "unknown fields refused")

	status, _ = api(t, w, http.MethodPost, "/admin/api/persona", adminToken, `{"spid":"`+agencySPID+`","persona":"`+personaApprove+`"}`)
	require.Equal(t, http.StatusOK, status)
	status, out = api(t, w, http.MethodPost, "/admin/api/arm", adminToken, `{"spid":"`+agencySPID+`","case":"SIG-01"}`)
	require.Equal(t, http.StatusOK, status, out)
	st := state(t, w)
	require.Len(t, st.ServiceProviders, 1)
	assert.Equal(t, []string{"SIG-01"}, st.ServiceProviders[0].ArmedFaults)
	assert.Equal(t, []string{personaApprove}, st.ServiceProviders[0].ArmedPersonas)

	s := w.headless()
	s.finish()
	assert.Equal(t, http.StatusForbidden, s.resp.StatusCode, "the armed fault reached the agency")
	st = state(t, w)
	assert.Empty(t, st.ServiceProviders[0].ArmedFaults)
	assert.Empty(t, st.ServiceProviders[0].ArmedPersonas)
	assert.Len(t, st.Personas, 7)

	before := w.gw.Now()
	status, _ = api(t, w, http.MethodPost, "/admin/api/clock", adminToken, `{"advance":"-10m"}`)
	assert.Equal(t, http.StatusBadRequest, status)
	status, _ = api(t, w, http.MethodPost, "/admin/api/clock", adminToken, `{"advance":"10m"}`)
	require.Equal(t, http.StatusOK, status)
	st = state(t, w)
	assert.Equal(t, "10m0s", st.ClockOffset)
	assert.WithinDuration(t, before.Add(10*time.Minute), st.Now, time.Second)
}

type adminState struct {
	Now              time.Time `json:"now"`
	ClockOffset      string    `json:"clock_offset"`
	ServiceProviders []struct {
		SPID          string   `json:"spid"`
		ArmedFaults   []string `json:"armed_faults"`
		ArmedPersonas []string `json:"armed_personas"`
	} `json:"service_providers"`
	Personas []gateway.Persona `json:"personas"`
}

func state(t *testing.T, w *world) adminState {
	status, out := api(t, w, http.MethodGet, "/admin/api/state", adminToken, "")
	require.Equal(t, http.StatusOK, status, out)
	var st adminState
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	return st
}

func TestGatewayAdminPage(t *testing.T) {
	t.Parallel()
	w := newWorld(t, withAdmin, nil, nil)
	b := newBrowser(t)
	admin := w.gwSrv.URL + "/admin/"
	noFollow := &http.Client{Jar: b.c.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	_, page := b.get(admin)
	require.Contains(t, page, `name="token"`, "login form first")
	assert.NotContains(t, page, "SIG-01", "nothing shown before login")
	csrf := csrfRe.FindStringSubmatch(page)
	require.NotNil(t, csrf, page)

	resp, err := b.c.PostForm(admin+"login", url.Values{"token": {adminToken}})
	require.NoError(t, err)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "login without its CSRF token")
	_ = body(t, resp)

	resp, err = b.c.PostForm(admin+"login", url.Values{"token": {"wrong-token-wrong-token"}, "csrf": {csrf[1]}})
	require.NoError(t, err)
	page = body(t, resp)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.NotContains(t, page, adminToken)

	csrf = csrfRe.FindStringSubmatch(page)
	require.NotNil(t, csrf, page)
	resp, err = noFollow.PostForm(admin+"login", url.Values{"token": {adminToken}, "csrf": {csrf[1]}})
	require.NoError(t, err)
	_ = body(t, resp)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "clave_admin" {
			session = c
		}
	}
	require.NotNil(t, session)
	assert.True(t, session.HttpOnly)
	assert.Equal(t, http.SameSiteStrictMode, session.SameSite)
	assert.NotContains(t, session.Value, adminToken, "the cookie holds a hash, not the token")

	_, page = b.get(admin)
	for _, want := range []string{`id="catalogue"`, "SIG-01", "response not signed", personaApprove, "APRUEBA", agencySPID, `value="10m"`, `value="24h"`} {
		assert.Contains(t, page, want)
	}
	csrf = csrfRe.FindStringSubmatch(page)
	require.NotNil(t, csrf)

	// A form posted without the CSRF token (as from another site) is refused.
	resp, err = b.c.PostForm(admin+"arm", url.Values{"spid": {agencySPID}, "case": {"SIG-01"}})
	require.NoError(t, err)
	_ = body(t, resp)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp, err = b.c.PostForm(admin+"arm", url.Values{"spid": {agencySPID}, "case": {"SIG-01"}, "csrf": {"00" + csrf[1][2:]}})
	require.NoError(t, err)
	_ = body(t, resp)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Empty(t, state(t, w).ServiceProviders[0].ArmedFaults)

	// Without the session cookie the CSRF token alone is not enough.
	resp, err = http.PostForm(admin+"arm", url.Values{"spid": {agencySPID}, "case": {"SIG-01"}, "csrf": {csrf[1]}})
	require.NoError(t, err)
	_ = body(t, resp)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	resp, err = b.c.PostForm(admin+"arm", url.Values{"spid": {agencySPID}, "case": {"SIG-01"}, "csrf": {csrf[1]}})
	require.NoError(t, err)
	page = body(t, resp)
	require.Equal(t, http.StatusOK, resp.StatusCode, page)
	assert.Contains(t, page, `id="done"`)
	resp, err = b.c.PostForm(admin+"persona", url.Values{"spid": {agencySPID}, "persona": {personaApprove}, "csrf": {csrf[1]}})
	require.NoError(t, err)
	_ = body(t, resp)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, err = b.c.PostForm(admin+"clock", url.Values{"advance": {"1m"}, "csrf": {csrf[1]}})
	require.NoError(t, err)
	page = body(t, resp)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, page, `<span id="offset">1m0s</span>`)
	assert.Regexp(t, `(?s)<code>SIG-01</code>.*<code>`+personaApprove+`</code>`, page, "armed per service")

	s := w.headless()
	s.finish()
	assert.Equal(t, http.StatusForbidden, s.resp.StatusCode, "the fault armed from the page reached the agency")

	resp, err = b.c.PostForm(admin+"logout", url.Values{"csrf": {csrf[1]}})
	require.NoError(t, err)
	page = body(t, resp)
	assert.Contains(t, page, `name="token"`, "logged out")
}
