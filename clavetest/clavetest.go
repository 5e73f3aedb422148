// Package clavetest runs a reference Cl@ve gateway inside a test, the way
// net/http/httptest runs a server: one call gives a gateway on a loopback
// address with a test agency already registered, the clave.Config that agency
// needs, and a scripted citizen's browser that logs in through it.
//
//	gw := clavetest.NewGateway()
//	defer gw.Close()
//	client, err := clave.New(gw.Config(agency.URL + "/clave/acs"))
//	...
//	page, err := gw.Browser().LogIn(ctx, agency.URL+"/tramite", clavetest.DemoCitizen)
//
// The gateway seeds the reserved personas of gateway.Personas and the demo
// citizen DemoCitizen. A persona ends the login at once with its fixed
// outcome (approves, declines, blocked, basic registration...); the demo
// citizen goes through the real Cl@ve PIN pages, with the PIN read from the
// gateway's SMS inbox. A test can also play the citizen's phone: gw.Phone
// activates a Cl@ve app for a citizen, and Browser.LogInWithPhone logs in
// with Cl@ve Móvil, the phone confirming or declining. Everything the
// gateway offers tests (ArmFault,
// AdvanceClock, Inspect, PutCitizen...) is on the embedded *gateway.Gateway.
//
// Production code never imports this package.
package clavetest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/gateway"
	"github.com/clave-go/clave/internal/pki"
	"github.com/clave-go/clave/saml"
)

// The test agency registered at every Gateway.
const (
	// SPID is the test agency's service identifier.
	SPID = "S0000000E_E00000000"
	// ApplicationName is the name its requests carry.
	ApplicationName = "Agencia de pruebas"
)

// Citizen is someone a Browser logs in as.
type Citizen struct {
	// ID is the DNI or NIE.
	ID string
	// Contrast is the datum typed beside it on the Cl@ve PIN form: a DNI's
	// validity date (dd/mm/yyyy) or a NIE's support number. Empty for a
	// persona, which needs no pages.
	Contrast string
}

// DemoCitizen is registered at every Gateway: MARIA GARCIA LOPEZ, advanced
// registration (so up to substantial with Cl@ve PIN), date of birth
// 1980-05-17, SMS to +34600000001.
var DemoCitizen = Citizen{ID: "12345678Z", Contrast: "01/01/2030"}

// Persona is the Citizen for one of gateway.Personas: logging in as it ends
// at once with its outcome, with no page to go through.
func Persona(id string) Citizen { return Citizen{ID: id} }

// Gateway is a reference gateway serving on a loopback address.
type Gateway struct {
	// Gateway is the running gateway and its test controls.
	*gateway.Gateway
	// URL is its base URL, http://127.0.0.1:port.
	URL string

	srv   *httptest.Server
	agent *pki.KeyPair
}

// test keys are made once per process: RSA key generation is the slowest
// part of starting a gateway, and the keys protect nothing.
var (
	keysOnce         sync.Once
	gwKeys, spKeys   *pki.KeyPair
	errKeys          error
	demoDateOfBirth  = time.Date(1980, time.May, 17, 0, 0, 0, 0, time.UTC)
	demoValidUntil   = time.Date(2030, time.January, 1, 0, 0, 0, 0, time.UTC)
	cookieSecretSize = 32
)

func testKeys() (*pki.KeyPair, *pki.KeyPair, error) {
	keysOnce.Do(func() {
		nb := time.Now().Add(-24 * time.Hour)
		if gwKeys, errKeys = pki.Generate("clavetest gateway", 2048, nb, 10*365*24*time.Hour); errKeys != nil {
			return
		}
		spKeys, errKeys = pki.Generate("clavetest agency", 2048, nb, 10*365*24*time.Hour)
	})
	return gwKeys, spKeys, errKeys
}

// NewGateway starts a gateway with the personas and the demo citizen
// registered, keeping everything in memory. Like httptest.NewServer it panics
// if it cannot start; Close it when done.
func NewGateway() *Gateway {
	g, err := Start(gateway.Config{})
	if err != nil {
		panic("clavetest: " + err.Error())
	}
	return g
}

// Start is NewGateway with a configuration of one's own: its zero fields get
// the test defaults (BaseURL, keys, personas on), and the demo citizen is
// registered.
func Start(cfg gateway.Config) (*Gateway, error) {
	gk, sk, err := testKeys()
	if err != nil {
		return nil, err
	}
	var gw *gateway.Gateway
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { gw.ServeHTTP(w, r) }))
	if cfg.BaseURL == "" {
		cfg.BaseURL = srv.URL
	}
	if cfg.SigningKey == nil {
		cfg.SigningKey, cfg.SigningCertificate = gk.Key, gk.Certificate
	}
	cfg.Personas = true
	if cfg.PINSecret == nil {
		cfg.PINSecret = make([]byte, 32)
		if _, err := rand.Read(cfg.PINSecret); err != nil {
			srv.Close()
			return nil, err
		}
	}
	if gw, err = gateway.New(context.Background(), cfg); err != nil {
		srv.Close()
		return nil, err
	}
	demo := gateway.Citizen{ID: DemoCitizen.ID, ValidUntil: demoValidUntil, GivenName: "MARIA", FirstSurname: "GARCIA",
		SecondSurname: "LOPEZ", DateOfBirth: demoDateOfBirth, Phone: "+34600000001", Email: "maria@example.es",
		Level: gateway.LevelAdvanced, Status: gateway.StatusActive}
	if err := gw.PutCitizen(context.Background(), demo); err != nil {
		srv.Close()
		return nil, err
	}
	return &Gateway{Gateway: gw, URL: srv.URL, srv: srv, agent: sk}, nil
}

// Close shuts the gateway's server down.
func (g *Gateway) Close() { g.srv.Close() }

// AgencyKey and AgencyCertificate are the test agency's signing key and
// certificate, registered at the gateway for SPID.
func (g *Gateway) AgencyKey() *rsa.PrivateKey { return g.agent.Key }

// AgencyCertificate: see AgencyKey.
func (g *Gateway) AgencyCertificate() *x509.Certificate { return g.agent.Certificate }

// Config registers acsURL for the test agency (SPID) and returns what
// clave.New needs to log citizens in through this gateway: the gateway's
// endpoint, issuer and certificates, the agency's key and certificate, a
// cookie secret, level low, and the gateway's clock (so AdvanceClock moves
// both). Change fields as a test needs before calling clave.New. It panics
// if acsURL is not an absolute http(s) URL.
func (g *Gateway) Config(acsURL string) clave.Config {
	sp := gateway.ServiceProvider{SPID: SPID, Name: ApplicationName,
		Certificates: []*x509.Certificate{g.agent.Certificate}, ACSURLs: []string{acsURL}}
	if err := g.RegisterServiceProvider(sp); err != nil {
		panic("clavetest: " + err.Error())
	}
	secret := make([]byte, cookieSecretSize)
	if _, err := rand.Read(secret); err != nil {
		panic("clavetest: " + err.Error())
	}
	return clave.Config{
		Environment:         clave.Custom,
		GatewayURL:          g.Endpoint(),
		GatewayIssuer:       g.Issuer(),
		GatewayCertificates: saml.StaticCertificates(g.TrustedCertificates()),
		SPID:                SPID,
		ApplicationName:     ApplicationName,
		ACSURL:              acsURL,
		Key:                 g.agent.Key,
		Certificate:         g.agent.Certificate,
		CookieSecret:        secret,
		LoA:                 saml.LoALow,
		Now:                 g.Gateway.Now,
	}
}

// Browser returns a new citizen's browser, with its own cookies.
func (g *Gateway) Browser() *Browser {
	jar, _ := cookiejar.New(nil)
	return &Browser{HTTP: &http.Client{Jar: jar}, gw: g}
}

// Browser is a citizen's browser without JavaScript: it follows redirects,
// submits the auto-posting forms of the agency and the gateway as a person
// pressing their button would, and fills in the gateway's Cl@ve PIN pages.
type Browser struct {
	// HTTP carries the browser's cookies; use it for further requests to
	// the agency as the logged-in citizen.
	HTTP *http.Client
	gw   *Gateway
}

// Errors of a scripted login.
var (
	// ErrUnexpectedPage is returned when a page is not the one the script
	// expected; the error carries the status and the start of the page.
	ErrUnexpectedPage = errors.New("clavetest: unexpected page")
)

var (
	formRe   = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	hiddenRe = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
	methodRe = regexp.MustCompile(`<a class="method" id="method-([A-Z]+)" href="([^"]+)">`)
	codeRe   = regexp.MustCompile(`<span class="code" id="request-code">([A-Z0-9]{4})</span>`)
)

// LogIn opens pageURL, a page of the agency that requires login, and logs in
// at the gateway as who: a persona ends at once with its outcome; anyone else
// goes through Cl@ve PIN with who.Contrast, the PIN read from the gateway's
// SMS inbox. It returns the body of the page the agency shows at the end (the
// page asked for, or the agency's failure page) and its status code.
func (b *Browser) LogIn(ctx context.Context, pageURL string, who Citizen) (string, int, error) {
	if _, isPersona := persona(who.ID); isPersona {
		if err := b.gw.ArmPersona(SPID, who.ID); err != nil {
			return "", 0, err
		}
	}
	// To the gateway: the chooser, or straight back for a persona.
	resp, page, err := b.toGateway(ctx, pageURL)
	if err != nil {
		return "", 0, err
	}
	if !strings.Contains(page, `name="SAMLResponse"`) {
		if resp, page, err = b.pin(ctx, page, who); err != nil {
			return "", 0, err
		}
	}
	return b.backToAgency(ctx, resp, page)
}

// toGateway opens pageURL, a page of the agency that requires login, and
// follows its request to the gateway, returning the gateway's answer.
func (b *Browser) toGateway(ctx context.Context, pageURL string) (*http.Response, string, error) {
	resp, page, err := b.do(ctx, http.MethodGet, pageURL, nil)
	if err != nil {
		return nil, "", err
	}
	if !strings.Contains(page, `name="SAMLRequest"`) {
		return nil, "", unexpected("the agency's request form", resp, page)
	}
	return b.submit(ctx, page)
}

// backToAgency posts the gateway's response form (page) to the agency's
// ACS, which redirects to the page asked for, and returns the agency's last
// page and its status.
func (b *Browser) backToAgency(ctx context.Context, resp *http.Response, page string) (string, int, error) {
	if !strings.Contains(page, `name="SAMLResponse"`) {
		return "", 0, unexpected("the gateway's response form", resp, page)
	}
	resp, page, err := b.submit(ctx, page)
	if err != nil {
		return "", 0, err
	}
	return page, resp.StatusCode, nil
}

// methodHref is the chooser's link to method m, "" when it is not offered.
func methodHref(chooser string, m saml.Method) string {
	for _, l := range methodRe.FindAllStringSubmatch(chooser, -1) {
		if l[1] == string(m) {
			return html.UnescapeString(l[2])
		}
	}
	return ""
}

// pin goes from the chooser through Cl@ve PIN and returns the gateway's last
// page.
func (b *Browser) pin(ctx context.Context, chooser string, who Citizen) (*http.Response, string, error) {
	href := methodHref(chooser, saml.MethodAEATPIN)
	if href == "" {
		return nil, "", fmt.Errorf("%w: Cl@ve PIN is not offered on the chooser", ErrUnexpectedPage)
	}
	resp, page, err := b.do(ctx, http.MethodGet, b.gw.URL+href, nil)
	if err != nil {
		return nil, "", err
	}
	form := formRe.FindStringSubmatch(page)
	if form == nil {
		return nil, "", unexpected("the Cl@ve PIN form", resp, page)
	}
	c, err := b.gw.Citizen(ctx, who.ID)
	if err != nil {
		return nil, "", fmt.Errorf("clavetest: %s is not registered at the gateway: %w", who.ID, err)
	}
	asked := b.gw.Gateway.Now()
	resp, page, err = b.do(ctx, http.MethodPost, b.gw.URL+html.UnescapeString(form[1]),
		url.Values{"document": {who.ID}, "contrast": {who.Contrast}, "csrf": {hidden(page, "csrf")}})
	if err != nil {
		return nil, "", err
	}
	code := codeRe.FindStringSubmatch(page)
	form = formRe.FindStringSubmatch(page)
	if code == nil || form == nil {
		return nil, "", unexpected("the Cl@ve PIN verification form", resp, page)
	}
	sms, err := b.pinMessage(ctx, c.Phone, c.ID, code[1], asked)
	if err != nil {
		return nil, "", err
	}
	return b.do(ctx, http.MethodPost, b.gw.URL+html.UnescapeString(form[1]), url.Values{"pin": {sms.Code}, "csrf": {hidden(page, "csrf")}})
}

// hidden is the value of the first hidden input of page named name (the
// gateway's forms carry their token in "csrf").
func hidden(page, name string) string {
	for _, in := range hiddenRe.FindAllStringSubmatch(page, -1) {
		if html.UnescapeString(in[1]) == name {
			return html.UnescapeString(in[2])
		}
	}
	return ""
}

// pinMessage finds the message carrying the PIN of request code, sent after
// since: an SMS to phone, or a push to the Cl@ve app of citizen when they
// have an active device.
func (b *Browser) pinMessage(ctx context.Context, phone, citizen, code string, since time.Time) (gateway.Message, error) {
	in := b.gw.Inbox()
	if in == nil {
		return gateway.Message{}, errors.New("clavetest: the gateway has no Inbox to read the PIN from")
	}
	ms := append(in.Messages(gateway.ChannelSMS, phone), in.Messages(gateway.ChannelApp, citizen)...)
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].SentAt.Before(ms[j].SentAt) })
	for i := len(ms) - 1; i >= 0; i-- {
		if strings.Contains(ms[i].Text, code) && !ms[i].SentAt.Before(since) {
			return ms[i], nil
		}
	}
	return gateway.Message{}, fmt.Errorf("clavetest: no PIN was sent to the citizen (wrong contrast datum, or not active?)")
}

// submit posts the first form of page with its hidden fields.
func (b *Browser) submit(ctx context.Context, page string) (*http.Response, string, error) {
	m := formRe.FindStringSubmatch(page)
	if m == nil {
		return nil, "", fmt.Errorf("%w: no form to submit", ErrUnexpectedPage)
	}
	vals := url.Values{}
	for _, in := range hiddenRe.FindAllStringSubmatch(page, -1) {
		vals.Set(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
	}
	return b.do(ctx, http.MethodPost, html.UnescapeString(m[1]), vals)
}

// maxPage bounds what the browser reads of one page.
const maxPage = 4 << 20

func (b *Browser) do(ctx context.Context, method, u string, form url.Values) (*http.Response, string, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, "", err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.HTTP.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxPage))
	if err != nil {
		return nil, "", err
	}
	return resp, string(data), nil
}

func unexpected(want string, resp *http.Response, page string) error {
	if len(page) > 300 {
		page = page[:300] + "…"
	}
	return fmt.Errorf("%w: want %s, got %d %s: %s", ErrUnexpectedPage, want, resp.StatusCode, resp.Request.URL, page)
}

func persona(id string) (gateway.Persona, bool) {
	for _, p := range gateway.Personas() {
		if p.ID == strings.ToUpper(strings.TrimSpace(id)) {
			return p, true
		}
	}
	return gateway.Persona{}, false
}
