package clave_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/internal/pki"
	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/saml"
)

var (
	keysOnce       sync.Once
	gwKeys, spKeys *pki.KeyPair
)

func keys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		nb := time.Now().Add(-time.Hour)
		var err error
		gwKeys, err = pki.Generate("test gateway", 2048, nb, 48*time.Hour)
		if err == nil {
			spKeys, err = pki.Generate("test sp", 2048, nb, 48*time.Hour)
		}
		if err != nil {
			panic(err)
		}
	})
}

// stubGateway answers AuthnRequests at once with a response chosen by the test:
// enough gateway to exercise the SDK over real HTTP. The reference gateway has
// its own end-to-end tests.
type stubGateway struct {
	t        *testing.T
	srv      *httptest.Server
	now      func() time.Time
	mu       sync.Mutex
	status   *saml.StatusError // next response's status, nil = success
	loa      saml.LoA
	tweak    func(*samlidp.ResponseParams) // changes the next responses, nil = none
	lastReq  *etree.Element
	lastResp []byte
}

func newStubGateway(t *testing.T, now func() time.Time) *stubGateway {
	keys(t)
	g := &stubGateway{t: t, now: now, loa: saml.LoASubstantial}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *stubGateway) url() string { return g.srv.URL + saml.ServiceProviderPath }

func (g *stubGateway) serve(w http.ResponseWriter, r *http.Request) {
	require.NoError(g.t, r.ParseForm())
	signer := &saml.Signer{Key: gwKeys.Key, Certificate: gwKeys.Certificate}
	if lr := r.PostForm.Get(saml.FieldLogoutRequest); lr != "" {
		raw, err := saml.DecodeMessage(lr, 0)
		require.NoError(g.t, err)
		doc := etree.NewDocument()
		require.NoError(g.t, doc.ReadFromBytes(raw))
		ret := doc.Root().FindElement("./Issuer").Text()
		resp, err := samlidp.BuildLogoutResponse(samlidp.LogoutResponseParams{InResponseTo: doc.Root().SelectAttrValue("ID", ""), Destination: ret, IssueInstant: g.now()})
		require.NoError(g.t, err)
		out, err := samlidp.SignDocument(resp, signer)
		require.NoError(g.t, err)
		saml.PostForm{Action: ret, Field: saml.FieldLogoutResponse, Message: out}.ServeHTTP(w, r)
		return
	}
	raw, err := saml.DecodeMessage(r.PostForm.Get(saml.FieldSAMLRequest), 0)
	require.NoError(g.t, err)
	doc := etree.NewDocument()
	require.NoError(g.t, doc.ReadFromBytes(raw))
	req := doc.Root()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.lastReq = req
	acs := req.SelectAttrValue("AssertionConsumerServiceURL", "")
	p := samlidp.ResponseParams{
		InResponseTo: req.SelectAttrValue("ID", ""),
		Destination:  acs,
		Issuer:       "https://gateway.test",
		IssueInstant: g.now(),
		Status:       g.status,
		NameID:       saml.NameID{Value: "12345678Z"},
		LoA:          g.loa,
		Attributes: []saml.Attribute{
			{Name: saml.AttrPersonIdentifier, FriendlyName: "PersonIdentifier", XSIType: "eidas-natural:PersonIdentifierType", Values: []string{"12345678Z"}},
			{Name: saml.AttrCurrentGivenName, FriendlyName: "FirstName", Values: []string{"MARIA"}},
			{Name: saml.AttrCurrentFamilyName, FriendlyName: "FamilyName", Values: []string{"GARCIA LOPEZ"}},
			{Name: saml.AttrFirstSurname, FriendlyName: "FirstSurname", Values: []string{"GARCIA"}},
			{Name: saml.AttrDateOfBirth, FriendlyName: "DateOfBirth", Values: []string{"1980-05-17"}},
			{Name: saml.AttrSelectedIdP, FriendlyName: "SelectedIdP", Values: []string{"AEAT"}},
		},
	}
	if g.tweak != nil {
		g.tweak(&p)
	}
	resp, err := samlidp.BuildResponse(p)
	require.NoError(g.t, err)
	require.NoError(g.t, samlidp.SecureResponse(resp, samlidp.ResponseSecurity{Signer: signer, SignResponse: true}))
	out, err := resp.WriteToBytes()
	require.NoError(g.t, err)
	g.lastResp = out
	saml.PostForm{Action: acs, Field: saml.FieldSAMLResponse, Message: out, RelayState: r.PostForm.Get("RelayState")}.ServeHTTP(w, r)
}

type agency struct {
	srv    *httptest.Server
	client *clave.Client
}

func newAgency(t *testing.T, g *stubGateway, now func() time.Time, tweak func(*clave.Config)) *agency {
	a := &agency{}
	mux := http.NewServeMux()
	a.srv = httptest.NewServer(mux)
	t.Cleanup(a.srv.Close)
	cfg := clave.Config{
		Environment:         clave.Custom,
		GatewayURL:          g.url(),
		GatewayIssuer:       "https://gateway.test",
		GatewayCertificates: saml.StaticCertificates{gwKeys.Certificate},
		SPID:                "S0000000E_E00000000",
		ApplicationName:     "Pruebas",
		ACSURL:              a.srv.URL + "/clave/acs",
		Key:                 spKeys.Key,
		Certificate:         spKeys.Certificate,
		CookieSecret:        []byte(strings.Repeat("s", 32)),
		Now:                 now,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	var err error
	a.client, err = clave.New(cfg)
	require.NoError(t, err)
	mux.Handle("/clave/acs", a.client.ACSHandler())
	mux.Handle("/clave/logout", a.client.LogoutHandler())
	mux.Handle("/", a.client.RequireLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := clave.IdentityFromContext(r.Context())
		require.True(t, ok)
		fmt.Fprintf(w, "hola %s %s %s %s", id.GivenName, id.PersonIdentifier, id.LoA, r.URL.RequestURI())
	})))
	return a
}

var (
	formAction = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	formInput  = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
)

// browser follows our auto-submitting forms the way a browser without
// JavaScript does when its user presses the button.
type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &browser{t: t, c: &http.Client{Jar: jar}}
}

func (b *browser) get(u string) (*http.Response, string) {
	resp, err := b.c.Get(u)
	require.NoError(b.t, err)
	return resp, body(b.t, resp)
}

// submit posts the form found in page and returns the answer.
func (b *browser) submit(page string, edit func(url.Values)) (*http.Response, string) {
	m := formAction.FindStringSubmatch(page)
	require.NotNil(b.t, m, "no form in page: %s", page)
	vals := url.Values{}
	for _, in := range formInput.FindAllStringSubmatch(page, -1) {
		vals.Set(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
	}
	if edit != nil {
		edit(vals)
	}
	resp, err := b.c.PostForm(html.UnescapeString(m[1]), vals)
	require.NoError(b.t, err)
	return resp, body(b.t, resp)
}

func body(t *testing.T, r *http.Response) string {
	b, err := io.ReadAll(r.Body)
	require.NoError(t, err)
	require.NoError(t, r.Body.Close())
	return string(b)
}

func TestLoginEndToEnd(t *testing.T) {
	now := time.Now
	g := newStubGateway(t, now)
	a := newAgency(t, g, now, nil)
	b := newBrowser(t)

	_, page := b.get(a.srv.URL + "/expediente?id=7")
	require.Contains(t, page, `name="SAMLRequest"`)
	_, page = b.submit(page, nil)     // to the gateway
	resp, page := b.submit(page, nil) // back to the ACS, redirected to the page
	require.Equal(t, http.StatusOK, resp.StatusCode, page)
	assert.Equal(t, "hola MARIA 12345678Z substantial /expediente?id=7", page)

	// The request the gateway saw is a Cl@ve request.
	assert.Equal(t, "S0000000E_E00000000;Pruebas", g.lastReq.SelectAttrValue("ProviderName", ""))
	assert.Equal(t, a.srv.URL+"/clave/acs", g.lastReq.SelectAttrValue("AssertionConsumerServiceURL", ""))

	// The session holds; no second login.
	_, page = b.get(a.srv.URL + "/otra")
	assert.Equal(t, "hola MARIA 12345678Z substantial /otra", page)

	// Logout goes through the gateway and comes back.
	resp, err := b.c.PostForm(a.srv.URL+"/clave/logout", nil)
	require.NoError(t, err)
	page = body(t, resp)
	require.Contains(t, page, `name="logoutRequest"`)
	_, page = b.submit(page, nil)
	require.Contains(t, page, `name="logoutResponse"`)
	resp, page = b.submit(page, nil)
	// Back at "/", which needs a login again.
	assert.Contains(t, page, `name="SAMLRequest"`)
}

func TestLoginRefusals(t *testing.T) {
	now := time.Now
	g := newStubGateway(t, now)
	a := newAgency(t, g, now, nil)

	t.Run("response replayed in another browser", func(t *testing.T) {
		b := newBrowser(t)
		_, page := b.get(a.srv.URL + "/")
		_, page = b.submit(page, nil)
		stolen := page
		resp, _ := b.submit(page, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		// The attacker posts the same form without the victim's login cookie.
		resp, _ = newBrowser(t).submit(stolen, nil)
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	})
	t.Run("RelayState swapped", func(t *testing.T) {
		b := newBrowser(t)
		_, page := b.get(a.srv.URL + "/")
		_, page = b.submit(page, nil)
		resp, _ := b.submit(page, func(v url.Values) { v.Set("RelayState", "otro") })
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	})
	t.Run("user cancel", func(t *testing.T) {
		g.mu.Lock()
		g.status = &saml.StatusError{Code: saml.StatusRequester, SubCode: saml.StatusRequestDenied, Message: "cancelado"}
		g.mu.Unlock()
		defer func() { g.mu.Lock(); g.status = nil; g.mu.Unlock() }()
		b := newBrowser(t)
		_, page := b.get(a.srv.URL + "/")
		_, page = b.submit(page, nil)
		resp, page := b.submit(page, nil)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		assert.Contains(t, page, "cancelado el acceso")
	})
	t.Run("LoA below the requested one", func(t *testing.T) {
		g.mu.Lock()
		g.loa = saml.LoALow
		g.mu.Unlock()
		defer func() { g.mu.Lock(); g.loa = saml.LoASubstantial; g.mu.Unlock() }()
		b := newBrowser(t)
		_, page := b.get(a.srv.URL + "/")
		_, page = b.submit(page, nil)
		resp, _ := b.submit(page, nil)
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	})
	t.Run("no open redirect", func(t *testing.T) {
		for _, to := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example", "evil", "/ok\r\nSet-Cookie: x=1"} {
			_, p, err := a.client.NewLogin(clave.LoginOptions{ReturnTo: to})
			require.NoError(t, err)
			assert.Empty(t, p.ReturnTo, to)
		}
		_, p, err := a.client.NewLogin(clave.LoginOptions{ReturnTo: "/ok?x=1"})
		require.NoError(t, err)
		assert.Equal(t, "/ok?x=1", p.ReturnTo)
	})
	t.Run("POST without session gets 401", func(t *testing.T) {
		resp, err := http.Post(a.srv.URL+"/algo", "text/plain", nil)
		require.NoError(t, err)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	})
}

func TestValidateResponseDirectly(t *testing.T) {
	now := time.Now
	g := newStubGateway(t, now)
	a := newAgency(t, g, now, nil)
	form, p, err := a.client.NewLogin(clave.LoginOptions{LoA: saml.LoALow})
	require.NoError(t, err)
	assert.LessOrEqual(t, len(form.RelayState), saml.MaxRelayState)

	// Post the request to the stub gateway and take its response.
	resp, err := http.PostForm(form.Action, url.Values{saml.FieldSAMLRequest: {base64.StdEncoding.EncodeToString(form.Message)}, "RelayState": {form.RelayState}})
	require.NoError(t, err)
	page := body(t, resp)
	samlResponse := html.UnescapeString(formInput.FindStringSubmatch(page)[2])

	id, err := a.client.ValidateResponse(context.Background(), samlResponse, p.RelayState, p)
	require.NoError(t, err)
	assert.Equal(t, clave.DocumentDNI, id.DocumentType)
	assert.Equal(t, "GARCIA LOPEZ", id.FamilyNames)
	assert.Equal(t, "GARCIA", id.FirstSurname)
	assert.Equal(t, saml.MethodAEATPIN, id.Method)
	assert.Equal(t, time.Date(1980, 5, 17, 0, 0, 0, 0, time.UTC), id.DateOfBirth)
	assert.Equal(t, []string{"12345678Z"}, id.Attributes[saml.AttrPersonIdentifier])

	_, err = a.client.ValidateResponse(context.Background(), samlResponse, p.RelayState, p)
	assert.ErrorIs(t, err, saml.ErrReplay)

	_, err = a.client.ValidateResponse(context.Background(), samlResponse, "other", p)
	assert.ErrorIs(t, err, saml.ErrRelayState)
}

func TestNewRefusesBadConfig(t *testing.T) {
	keys(t)
	good := clave.Config{
		GatewayCertificates: saml.StaticCertificates{gwKeys.Certificate},
		SPID:                "S0000000E_E00000000",
		ApplicationName:     "App",
		ACSURL:              "https://sede.example.es/acs",
		Key:                 spKeys.Key,
	}
	c, err := clave.New(good)
	require.NoError(t, err)
	assert.Equal(t, saml.PreproductionURL, c.GatewayURL(), "pre-production is the default")

	for name, tweak := range map[string]func(*clave.Config){
		"no certificates":     func(c *clave.Config) { c.GatewayCertificates = nil },
		"relative ACS":        func(c *clave.Config) { c.ACSURL = "/acs" },
		"no SPID":             func(c *clave.Config) { c.SPID = "" },
		"no key":              func(c *clave.Config) { c.Key = nil },
		"custom without URL":  func(c *clave.Config) { c.Environment = clave.Custom },
		"short cookie secret": func(c *clave.Config) { c.CookieSecret = []byte("short") },
		"unknown method":      func(c *clave.Config) { c.DisabledMethods = []saml.Method{"X"} },
		"bad LoA":             func(c *clave.Config) { c.LoA = 9 },
		"negative skew":       func(c *clave.Config) { c.Skew = -time.Second },
		"no PersonIdentifier": func(c *clave.Config) { c.Attributes = []saml.RequestedAttribute{saml.ReqCurrentGivenName} },
	} {
		cfg := good
		tweak(&cfg)
		_, err := clave.New(cfg)
		assert.Error(t, err, name)
	}
}

func TestMemoryReplayCache(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := clave.NewMemoryReplayCache(2).WithClock(func() time.Time { return now })
	ctx := context.Background()
	used, err := c.Use(ctx, "a", now.Add(time.Minute))
	require.NoError(t, err)
	assert.False(t, used)
	used, _ = c.Use(ctx, "a", now.Add(time.Minute))
	assert.True(t, used)
	_, _ = c.Use(ctx, "b", now.Add(time.Minute))
	_, err = c.Use(ctx, "c", now.Add(time.Minute))
	assert.ErrorIs(t, err, clave.ErrReplayCacheFull, "full of live entries: refuse rather than forget")
	now = now.Add(2 * time.Minute)
	used, err = c.Use(ctx, "c", now.Add(time.Minute))
	require.NoError(t, err)
	assert.False(t, used)
}

// setTweak makes the stub gateway change its next responses until the test ends.
func (g *stubGateway) setTweak(t *testing.T, f func(*samlidp.ResponseParams)) {
	g.mu.Lock()
	g.tweak = f
	g.mu.Unlock()
	t.Cleanup(func() { g.mu.Lock(); g.tweak = nil; g.mu.Unlock() })
}

// gatewayResponse runs one login of a through the stub gateway up to the
// posted SAMLResponse, and returns it with the pending login.
func gatewayResponse(t *testing.T, a *agency) (string, clave.PendingLogin) {
	t.Helper()
	form, p, err := a.client.NewLogin(clave.LoginOptions{})
	require.NoError(t, err)
	resp, err := http.PostForm(form.Action, url.Values{saml.FieldSAMLRequest: {base64.StdEncoding.EncodeToString(form.Message)}, "RelayState": {form.RelayState}})
	require.NoError(t, err)
	page := body(t, resp)
	m := formInput.FindStringSubmatch(page)
	require.NotNil(t, m, page)
	return html.UnescapeString(m[2]), p
}

func without(name string) func(*samlidp.ResponseParams) {
	return func(p *samlidp.ResponseParams) {
		p.Attributes = slices.DeleteFunc(p.Attributes, func(a saml.Attribute) bool { return a.Name == name })
	}
}

// TestIdentityIsPersonIdentifier: the citizen is the PersonIdentifier
// attribute, or nobody; the NameID never stands in for it.
func TestIdentityIsPersonIdentifier(t *testing.T) {
	now := time.Now
	g := newStubGateway(t, now)
	a := newAgency(t, g, now, nil)
	ctx := context.Background()

	for name, tc := range map[string]struct {
		tweak func(*samlidp.ResponseParams)
		want  error
	}{
		"no PersonIdentifier": {without(saml.AttrPersonIdentifier), saml.ErrIdentity},
		"no PersonIdentifier, NameID another DNI": {func(p *samlidp.ResponseParams) {
			without(saml.AttrPersonIdentifier)(p)
			p.NameID = saml.NameID{Value: "99999999R", Format: saml.NameIDPersistent}
		}, saml.ErrIdentity},
		"empty PersonIdentifier": {func(p *samlidp.ResponseParams) {
			without(saml.AttrPersonIdentifier)(p)
			p.Attributes = append(p.Attributes, saml.Attribute{Name: saml.AttrPersonIdentifier, Values: []string{""}})
		}, saml.ErrIdentity},
		"two PersonIdentifier values": {func(p *samlidp.ResponseParams) {
			without(saml.AttrPersonIdentifier)(p)
			p.Attributes = append(p.Attributes, saml.Attribute{Name: saml.AttrPersonIdentifier, Values: []string{"12345678Z", "99999999R"}})
		}, saml.ErrIdentity},
		"PersonIdentifier with a wrong check letter": {func(p *samlidp.ResponseParams) {
			without(saml.AttrPersonIdentifier)(p)
			p.Attributes = append(p.Attributes, saml.Attribute{Name: saml.AttrPersonIdentifier, Values: []string{"12345678A"}})
		}, saml.ErrIdentity},
		"empty NameID":             {func(p *samlidp.ResponseParams) { p.NameID.Value = "" }, saml.ErrIdentity},
		"required FamilyName gone": {without(saml.AttrCurrentFamilyName), saml.ErrMissingAttribute},
		"required FirstName gone":  {without(saml.AttrCurrentGivenName), saml.ErrMissingAttribute},
	} {
		t.Run(name, func(t *testing.T) {
			g.setTweak(t, tc.tweak)
			field, p := gatewayResponse(t, a)
			id, err := a.client.ValidateResponse(ctx, field, p.RelayState, p)
			assert.ErrorIs(t, err, tc.want)
			assert.Nil(t, id)
		})
	}

	t.Run("transient NameID, identity from PersonIdentifier", func(t *testing.T) {
		g.setTweak(t, func(p *samlidp.ResponseParams) {
			p.NameID = saml.NameID{Value: "_7b1c52e0f3a94d6b8e2f01a3c4d5e6f7", Format: saml.NameIDTransient}
		})
		field, p := gatewayResponse(t, a)
		id, err := a.client.ValidateResponse(ctx, field, p.RelayState, p)
		require.NoError(t, err)
		assert.Equal(t, "12345678Z", id.PersonIdentifier)
		assert.Equal(t, clave.DocumentDNI, id.DocumentType)
	})
	t.Run("optional attributes may be missing", func(t *testing.T) {
		g.setTweak(t, func(p *samlidp.ResponseParams) {
			without(saml.AttrFirstSurname)(p)
			without(saml.AttrDateOfBirth)(p)
		})
		field, p := gatewayResponse(t, a)
		id, err := a.client.ValidateResponse(ctx, field, p.RelayState, p)
		require.NoError(t, err)
		assert.Empty(t, id.FirstSurname)
	})
	t.Run("names not required by this service", func(t *testing.T) {
		b := newAgency(t, g, now, func(c *clave.Config) {
			c.Attributes = []saml.RequestedAttribute{saml.ReqPersonIdentifier, {Name: saml.AttrCurrentFamilyName, FriendlyName: "FamilyName"}}
		})
		g.setTweak(t, without(saml.AttrCurrentFamilyName))
		field, p := gatewayResponse(t, b)
		id, err := b.client.ValidateResponse(ctx, field, p.RelayState, p)
		require.NoError(t, err)
		assert.Equal(t, "12345678Z", id.PersonIdentifier)
	})
	t.Run("eIDAS citizen", func(t *testing.T) {
		g.setTweak(t, func(p *samlidp.ResponseParams) {
			without(saml.AttrPersonIdentifier)(p)
			p.NameID.Value = "IT/ES/RSSMRA80A01H501U"
			p.Attributes = append(p.Attributes, saml.Attribute{Name: saml.AttrPersonIdentifier, Values: []string{p.NameID.Value}})
		})
		field, p := gatewayResponse(t, a)
		id, err := a.client.ValidateResponse(ctx, field, p.RelayState, p)
		require.NoError(t, err)
		assert.Equal(t, "IT/ES/RSSMRA80A01H501U", id.PersonIdentifier)
		assert.Equal(t, clave.DocumentEIDAS, id.DocumentType)
	})
}

// TestDefaultReplayCacheUsesConfigNow: with the service's clock 50 minutes
// behind the host's, the default replay cache must still remember an assertion
// for as long as the validator would take it.
func TestDefaultReplayCacheUsesConfigNow(t *testing.T) {
	behind := func() time.Time { return time.Now().Add(-50 * time.Minute) }
	g := newStubGateway(t, behind)
	a := newAgency(t, g, behind, nil)
	field, p := gatewayResponse(t, a)
	_, err := a.client.ValidateResponse(context.Background(), field, p.RelayState, p)
	require.NoError(t, err)
	_, err = a.client.ValidateResponse(context.Background(), field, p.RelayState, p)
	assert.ErrorIs(t, err, saml.ErrReplay)
}

// TestSkewZeroIsTheDefault: Skew 0 tolerates saml.DefaultSkew, for the
// validator as for the replay cache.
func TestSkewZeroIsTheDefault(t *testing.T) {
	var ahead atomic.Int64
	ahead.Store(int64(45 * time.Second))
	g := newStubGateway(t, func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) })
	a := newAgency(t, g, time.Now, nil)
	field, p := gatewayResponse(t, a)
	_, err := a.client.ValidateResponse(context.Background(), field, p.RelayState, p)
	require.NoError(t, err, "issued 45 s ahead, within the default 60 s")

	ahead.Store(int64(90 * time.Second))
	field, p = gatewayResponse(t, a)
	_, err = a.client.ValidateResponse(context.Background(), field, p.RelayState, p)
	assert.ErrorIs(t, err, saml.ErrNotYetValid, "issued 90 s ahead")

	_, err = clave.New(clave.Config{Skew: -1, GatewayCertificates: saml.StaticCertificates{gwKeys.Certificate},
		SPID: "S0000000E_E00000000", ApplicationName: "App", ACSURL: "https://sede.example.es/acs", Key: spKeys.Key})
	assert.ErrorContains(t, err, "Skew")
}

// TestLoggerDefaultAtUse: without Config.Logger, events go to slog.Default()
// as it is when they happen, not as it was at New.
func TestLoggerDefaultAtUse(t *testing.T) {
	now := time.Now
	g := newStubGateway(t, now)
	a := newAgency(t, g, now, func(c *clave.Config) { c.Logger = nil })
	var logs strings.Builder
	var mu sync.Mutex
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })

	g.setTweak(t, without(saml.AttrPersonIdentifier))
	field, p := gatewayResponse(t, a)
	_, err := a.client.ValidateResponse(context.Background(), field, p.RelayState, p)
	require.ErrorIs(t, err, saml.ErrIdentity)
	mu.Lock()
	defer mu.Unlock()
	assert.Contains(t, logs.String(), "clave: response refused")
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
