package gateway_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
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
	"github.com/clave-go/clave/saml"
)

// testClock is the injected clock shared by gateway and agency.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const (
	maria      = "12345678Z"
	mariaValid = "01/01/2030"
	mariaPhone = "+34600000001"
	lucia      = "34567890V" // basic registration
	luciaValid = "15/07/2028"
	luciaPhone = "+34600000004"
	agencySPID = "S0000000E_E00000000"
	agencyApp  = "Sede de pruebas"
)

type world struct {
	t       *testing.T
	clock   *testClock
	gw      *gateway.Gateway
	gwSrv   *httptest.Server
	agency  *agency
	mux     *http.ServeMux
	results chan string
}

func citizen(t *testing.T, id, validUntil, given, first, second, phone string, level string) gateway.Citizen {
	d, err := dni.Parse(id)
	require.NoError(t, err)
	vu, err := time.Parse("02/01/2006", validUntil)
	require.NoError(t, err)
	return gateway.Citizen{ID: d.String(), ValidUntil: vu, GivenName: given, FirstSurname: first, SecondSurname: second,
		DateOfBirth: time.Date(1980, 5, 17, 0, 0, 0, 0, time.UTC), Phone: phone, Email: "x@example.es",
		Level: gateway.Level(level), Status: gateway.StatusActive}
}

// newWorld starts a reference gateway and an agency that trusts it.
func newWorld(t *testing.T, tweakGW func(*gateway.Config), tweakSP func(*gateway.ServiceProvider), tweakAgency func(*clave.Config)) *world {
	keys(t)
	w := &world{t: t, clock: &testClock{t: time.Now().UTC().Truncate(time.Second)}}
	var gw *gateway.Gateway
	w.gwSrv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { gw.ServeHTTP(rw, r) }))
	t.Cleanup(w.gwSrv.Close)

	// The agency's server must exist before the gateway registers its ACS URL.
	w.agency = &agency{}
	w.mux = http.NewServeMux()
	w.agency.srv = httptest.NewServer(w.mux)
	t.Cleanup(w.agency.srv.Close)
	acs := w.agency.srv.URL + "/clave/acs"

	sp := gateway.ServiceProvider{SPID: agencySPID, Name: "Agencia de pruebas", Certificates: []*x509.Certificate{spKeys.Certificate}, ACSURLs: []string{acs}}
	if tweakSP != nil {
		tweakSP(&sp)
	}
	cfg := gateway.Config{
		BaseURL: w.gwSrv.URL, SigningKey: gwKeys.Key, SigningCertificate: gwKeys.Certificate,
		ServiceProviders: []gateway.ServiceProvider{sp}, Now: w.clock.Now, PINSecret: []byte(strings.Repeat("p", 32)),
	}
	if tweakGW != nil {
		tweakGW(&cfg)
	}
	var err error
	gw, err = gateway.New(context.Background(), cfg)
	require.NoError(t, err)
	w.gw = gw
	require.NoError(t, gw.PutCitizen(context.Background(), citizen(t, maria, mariaValid, "MARIA", "GARCIA", "LOPEZ", mariaPhone, "advanced")))
	require.NoError(t, gw.PutCitizen(context.Background(), citizen(t, lucia, luciaValid, "LUCIA", "FERNANDEZ", "RUIZ", luciaPhone, "basic")))

	acfg := clave.Config{
		Environment: clave.Custom, GatewayURL: gw.Endpoint(), GatewayIssuer: gw.Issuer(),
		GatewayCertificates: saml.StaticCertificates(gw.TrustedCertificates()),
		SPID:                agencySPID, ApplicationName: agencyApp, ACSURL: acs,
		Key: spKeys.Key, Certificate: spKeys.Certificate, CookieSecret: []byte(strings.Repeat("s", 32)),
		Now: w.clock.Now, LoA: saml.LoALow,
	}
	if tweakAgency != nil {
		tweakAgency(&acfg)
	}
	w.agency.client, err = clave.New(acfg)
	require.NoError(t, err)
	w.mux.Handle("/clave/acs", w.agency.client.ACSHandler())
	w.mux.Handle("/", w.agency.client.RequireLogin(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		id, _ := clave.IdentityFromContext(r.Context())
		fmt.Fprintf(rw, "hola %s|%s|%s|%s|%s", id.GivenName, id.PersonIdentifier, id.LoA, id.Method, id.FamilyNames)
	})))
	return w
}

var (
	linkRe  = regexp.MustCompile(`<a class="method" id="method-([A-Z]+)" href="([^"]+)">`)
	anyForm = regexp.MustCompile(`(?s)<form method="post" action="([^"]*)"`)
	codeRe  = regexp.MustCompile(`<span class="code" id="request-code">([A-Z0-9]{4})</span>`)
	errRe   = regexp.MustCompile(`<p class="error" id="error" role="alert">([^<]*)</p>`)
	tokenRe = regexp.MustCompile(`<input type="hidden" name="csrf" value="([^"]*)">`)
	nonceRe = regexp.MustCompile(`nonce="[^"]*"`)
)

// session is one browser going through a login.
type session struct {
	w        *world
	b        *browser
	page     string
	resp     *http.Response
	chooser  string
	verifyAt string
	// token is the login's form token, from the hidden "csrf" field of the
	// gateway's pages: a browser posts it with every form of the login.
	token string
}

// start opens a protected agency page and posts the request to the gateway,
// landing on the chooser.
func (w *world) start() *session {
	s := &session{w: w, b: newBrowser(w.t)}
	_, page := s.b.get(w.agency.srv.URL + "/tramite")
	require.Contains(w.t, page, `name="SAMLRequest"`)
	s.see(s.b.submit(page, nil))
	s.chooser = s.resp.Request.URL.String()
	return s
}

// see makes resp and its page the current ones, keeping the login's form
// token when the page shows it.
func (s *session) see(resp *http.Response, page string) {
	s.resp, s.page = resp, page
	if m := tokenRe.FindStringSubmatch(page); m != nil {
		s.token = html.UnescapeString(m[1])
	}
}

func (s *session) methods() map[string]string {
	out := map[string]string{}
	for _, m := range linkRe.FindAllStringSubmatch(s.page, -1) {
		out[m[1]] = m[2]
	}
	return out
}

func (s *session) gwURL(path string) string { return s.w.gwSrv.URL + path }

// post submits a form of the login to the gateway, with the login's form
// token as the page's hidden field would add it.
func (s *session) post(path string, vals url.Values) {
	if vals == nil {
		vals = url.Values{}
	}
	if s.token != "" && !vals.Has("csrf") {
		vals.Set("csrf", s.token)
	}
	resp, err := s.b.c.PostForm(s.gwURL(path), vals)
	require.NoError(s.w.t, err)
	s.see(resp, body(s.w.t, resp))
}

// requestPIN goes from the chooser to the PIN page and asks for a PIN.
func (s *session) requestPIN(document, contrast, code string) {
	href, ok := s.methods()["AEAT"]
	require.True(s.w.t, ok, "Cl@ve PIN offered: %s", s.page)
	s.see(s.b.get(s.gwURL(href)))
	m := anyForm.FindStringSubmatch(s.page)
	require.NotNil(s.w.t, m, s.page)
	s.post(m[1], url.Values{"document": {document}, "contrast": {contrast}, "code": {code}})
	if s.resp.StatusCode == http.StatusOK {
		s.verifyAt = anyForm.FindStringSubmatch(s.page)[1]
	}
}

func (s *session) requestCode() string {
	m := codeRe.FindStringSubmatch(s.page)
	require.NotNil(s.w.t, m, s.page)
	return m[1]
}

func (s *session) verify(pin, phone string) {
	vals := url.Values{"pin": {pin}}
	if phone != "" {
		vals.Set("phone", phone)
	}
	s.post(s.verifyAt, vals)
}

// finish follows the gateway's auto-post back to the agency.
func (s *session) finish() {
	require.Contains(s.w.t, s.page, `name="SAMLResponse"`, s.page)
	s.resp, s.page = s.b.submit(s.page, nil)
}

func (w *world) lastSMS(phone string) gateway.Message {
	m, err := w.gw.Inbox().Last(gateway.ChannelSMS, phone)
	require.NoError(w.t, err)
	return m
}

func TestGatewayPINLoginEndToEnd(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil, nil)
	s := w.start()
	assert.Contains(t, s.page, "Agencia de pruebas", "the chooser names the service")
	assert.Contains(t, s.page, `id="method-CLVMOVIL"`, "Cl@ve Móvil listed")
	assert.Contains(t, s.page, `No disponible`, "methods not built yet are shown as unavailable")

	s.requestPIN("12.345.678-z", mariaValid, "")
	require.Equal(t, http.StatusOK, s.resp.StatusCode, s.page)
	sms := w.lastSMS(mariaPhone)
	code := s.requestCode()
	assert.Contains(t, sms.Text, code, "the SMS pairs the PIN with the request code")
	assert.Regexp(t, `^[A-Z2-7]{3}$`, sms.Code)
	assert.Contains(t, s.page, "10:00", "time left shown")

	s.verify(sms.Code, "")
	s.finish()
	require.Equal(t, http.StatusOK, s.resp.StatusCode, s.page)
	assert.Equal(t, "hola MARIA|12345678Z|substantial|AEAT|GARCIA LOPEZ", s.page)
}

func TestGatewayPINOutcomes(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil, nil)

	t.Run("basic registration gives low", func(t *testing.T) {
		s := w.start()
		s.requestPIN(lucia, luciaValid, "AB12")
		assert.Equal(t, "AB12", s.requestCode(), "the citizen may choose the request code")
		s.verify(w.lastSMS(luciaPhone).Code, "")
		s.finish()
		assert.Equal(t, "hola LUCIA|34567890V|low|AEAT|FERNANDEZ RUIZ", s.page)
	})
	t.Run("wrong contrast datum: same answer, no PIN delivered", func(t *testing.T) {
		before := len(w.gw.Inbox().Messages(gateway.ChannelSMS, mariaPhone))
		s := w.start()
		s.requestPIN(maria, "02/02/2031", "")
		require.Equal(t, http.StatusOK, s.resp.StatusCode)
		assert.NotEmpty(t, s.requestCode())
		assert.Len(t, w.gw.Inbox().Messages(gateway.ChannelSMS, mariaPhone), before, "nothing sent")
		unknown := w.start()
		unknown.requestPIN("00000000T", "01/01/2030", "")
		assert.Equal(t, http.StatusOK, unknown.resp.StatusCode, "an unregistered DNI gets the same page")
		assert.Equal(t, stripDynamic(s.page), stripDynamic(unknown.page))
	})
	t.Run("wrong PIN then right PIN", func(t *testing.T) {
		s := w.start()
		s.requestPIN(maria, mariaValid, "")
		good := w.lastSMS(mariaPhone).Code
		s.verify(otherPIN(good), "")
		assert.Equal(t, http.StatusUnauthorized, s.resp.StatusCode)
		assert.Contains(t, errRe.FindStringSubmatch(s.page)[1], "no es correcto")
		s.verify(good, "")
		s.finish()
		assert.True(t, strings.HasPrefix(s.page, "hola MARIA"), s.page)
	})
	t.Run("expired PIN", func(t *testing.T) {
		s := w.start()
		s.requestPIN(maria, mariaValid, "")
		pin := w.lastSMS(mariaPhone).Code
		w.clock.Advance(10*time.Minute + time.Second)
		s.verify(pin, "")
		assert.Equal(t, http.StatusUnauthorized, s.resp.StatusCode)
		assert.NotContains(t, s.page, "SAMLResponse")
	})
	t.Run("reused PIN", func(t *testing.T) {
		s := w.start()
		s.requestPIN(maria, mariaValid, "")
		pin := w.lastSMS(mariaPhone).Code
		verifyAt := s.verifyAt
		s.verify(pin, "")
		s.finish()
		require.True(t, strings.HasPrefix(s.page, "hola MARIA"))
		// The browser's back button: the same verification posted again.
		s.verifyAt = verifyAt
		s.verify(pin, "")
		assert.Equal(t, http.StatusNotFound, s.resp.StatusCode, "the login is over")
		assert.NotContains(t, s.page, "SAMLResponse")
		// Typing the spent PIN again where no new one replaces it is shown
		// through the app API (pinapi_client_test.go) and pin.ErrUsed in package pin.
	})
	t.Run("user cancel", func(t *testing.T) {
		s := w.start()
		s.post(strings.TrimPrefix(s.chooser, w.gwSrv.URL)+"/cancel", nil)
		s.finish()
		assert.Equal(t, http.StatusUnauthorized, s.resp.StatusCode)
		assert.Contains(t, s.page, "cancelado")
	})
}

func TestGatewayPINLockout(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil, nil)
	s := w.start()
	s.requestPIN(maria, mariaValid, "")
	good := w.lastSMS(mariaPhone).Code
	wrong := otherPIN(good)
	for i := 1; i <= 30; i++ {
		phone := ""
		if i > 10 {
			phone = mariaPhone // after 10 failures the form asks for the phone too
		}
		s.verify(wrong, phone)
		require.Equal(t, http.StatusUnauthorized, s.resp.StatusCode, "attempt %d", i)
		if i == 10 {
			assert.Contains(t, s.page, `name="phone"`, "phone asked after 10 failures")
		}
	}
	s.verify(wrong, mariaPhone)
	assert.Equal(t, http.StatusForbidden, s.resp.StatusCode, "blocked after more than 30 failures")
	s.verify(good, mariaPhone)
	assert.Equal(t, http.StatusForbidden, s.resp.StatusCode, "even the right PIN while blocked")

	// Blocked for 24 hours: a new PIN cannot be asked for either.
	s2 := w.start()
	s2.requestPIN(maria, mariaValid, "")
	assert.Equal(t, http.StatusForbidden, s2.resp.StatusCode)
	w.clock.Advance(24*time.Hour + time.Minute)
	s3 := w.start()
	s3.requestPIN(maria, mariaValid, "")
	require.Equal(t, http.StatusOK, s3.resp.StatusCode)
	s3.verify(w.lastSMS(mariaPhone).Code, "")
	s3.finish()
	assert.True(t, strings.HasPrefix(s3.page, "hola MARIA"), s3.page)
}

func TestGatewayChooserRules(t *testing.T) {
	t.Parallel()
	t.Run("disabled method is hidden", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, nil, nil, func(c *clave.Config) { c.DisabledMethods = []saml.Method{saml.MethodAEATPIN, saml.MethodEIDAS} })
		s := w.start()
		assert.NotContains(t, s.page, `id="method-AEAT"`)
		assert.NotContains(t, s.page, `id="method-EIDAS"`)
		assert.Contains(t, s.page, `id="method-GISS"`)
	})
	t.Run("LoA too high hides Cl@ve PIN", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, nil, nil, func(c *clave.Config) { c.LoA = saml.LoAHigh })
		s := w.start()
		assert.NotContains(t, s.page, `id="method-AEAT"`)
		assert.Contains(t, s.page, `id="method-AFIRMA"`, "the certificate reaches high")
	})
	t.Run("basic citizen on a substantial request is refused", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, nil, nil, func(c *clave.Config) { c.LoA = saml.LoASubstantial })
		s := w.start()
		s.requestPIN(lucia, luciaValid, "")
		s.verify(w.lastSMS(luciaPhone).Code, "")
		s.finish()
		assert.Equal(t, http.StatusUnauthorized, s.resp.StatusCode, "NoAuthnContext status reaches the agency")
	})
}

func TestGatewayRefusesUntrustedRequests(t *testing.T) {
	t.Parallel()
	t.Run("unknown SP", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, nil, func(sp *gateway.ServiceProvider) { sp.SPID = "S9999999E_E99999999" }, nil)
		s := w.start()
		assert.Equal(t, http.StatusBadRequest, s.resp.StatusCode)
		assert.Contains(t, s.page, "unknown service provider")
		assert.NotContains(t, s.page, "SAMLResponse", "nothing is posted anywhere")
	})
	t.Run("unregistered ACS", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, nil, func(sp *gateway.ServiceProvider) { sp.ACSURLs = []string{"https://otra.example.es/acs"} }, nil)
		s := w.start()
		assert.Equal(t, http.StatusBadRequest, s.resp.StatusCode)
		assert.Contains(t, s.page, "is not registered")
		assert.NotContains(t, s.page, "SAMLResponse")
	})
	t.Run("tampered request", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, nil, nil, nil)
		b := newBrowser(t)
		_, page := b.get(w.agency.srv.URL + "/tramite")
		resp, page := b.submit(page, editRequest(t, "http://eidas.europa.eu/LoA/low", "http://eidas.europa.eu/LoA/high"))
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
		assert.Contains(t, page, "signature invalid")
	})
	t.Run("replayed request", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, nil, nil, nil)
		b := newBrowser(t)
		_, page := b.get(w.agency.srv.URL + "/tramite")
		resp, _ := b.submit(page, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		resp, page = b.submit(page, nil)
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
		assert.Contains(t, page, "already received")
	})
	t.Run("expired request", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, nil, nil, nil)
		b := newBrowser(t)
		_, page := b.get(w.agency.srv.URL + "/tramite")
		w.clock.Advance(time.Hour)
		resp, _ := b.submit(page, nil)
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	})
	t.Run("flow bound to the browser", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, nil, nil, nil)
		s := w.start()
		resp, _ := newBrowser(t).get(s.chooser)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, "another browser cannot continue the login")
	})
}

func TestGatewayLogoutAndCertificates(t *testing.T) {
	t.Parallel()
	w := newWorld(t, nil, nil, nil)
	s := w.start()
	s.requestPIN(maria, mariaValid, "")
	s.verify(w.lastSMS(mariaPhone).Code, "")
	s.finish()
	require.True(t, strings.HasPrefix(s.page, "hola MARIA"))
	w.mux.Handle("/clave/logout", w.agency.client.LogoutHandler())
	resp, err := s.b.c.PostForm(w.agency.srv.URL+"/clave/logout", nil)
	require.NoError(t, err)
	page := body(t, resp)
	require.Contains(t, page, `name="logoutRequest"`)
	_, page = s.b.submit(page, nil)
	require.Contains(t, page, `name="logoutResponse"`)
	resp, page = s.b.submit(page, nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	resp, err = http.Get(w.gwSrv.URL + saml.CertificatesPath)
	require.NoError(t, err)
	doc := body(t, resp)
	certs, err := saml.ParseCertificatesDocument([]byte(doc))
	require.NoError(t, err)
	require.Len(t, certs, 1)
	assert.True(t, certs[0].Certificate.Equal(gwKeys.Certificate))
}

// otherPIN returns a valid-looking PIN different from p.
func otherPIN(p string) string {
	if p == "AAA" {
		return "BBB"
	}
	return "AAA"
}

// stripDynamic removes what differs between two PIN pages by design (the
// request code, the flow ID in URLs, the login's form token, the page's
// script nonce).
func stripDynamic(page string) string {
	page = codeRe.ReplaceAllString(page, "")
	page = tokenRe.ReplaceAllString(page, `<input type="hidden" name="csrf" value="X">`)
	page = nonceRe.ReplaceAllString(page, `nonce="X"`)
	return regexp.MustCompile(`/login/[A-Za-z0-9_-]+/`).ReplaceAllString(page, "/login/X/")
}

func encode(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// editRequest changes the signed AuthnRequest in a form on its way to the
// gateway, replacing old with new once.
func editRequest(t *testing.T, old, new string) func(url.Values) {
	return func(v url.Values) {
		raw, err := saml.DecodeMessage(v.Get("SAMLRequest"), 0)
		require.NoError(t, err)
		v.Set("SAMLRequest", encode(strings.Replace(string(raw), old, new, 1)))
	}
}
