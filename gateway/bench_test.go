package gateway_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/gateway"
	"github.com/clave-go/clave/internal/dni"
	"github.com/clave-go/clave/internal/pki"
	"github.com/clave-go/clave/saml"
)

// The benchmarks compare a whole Cl@ve PIN login, in process, with the RSA
// work it cannot avoid (the agency signs the request, the gateway verifies it
// and signs the response, the agency verifies that), so that everything else a
// login costs (XML, canonicalisation, pages, stores) shows as the ratio of the
// two.

var (
	benchKeysOnce            sync.Once
	benchSPKeys, benchGWKeys *pki.KeyPair
)

// benchKeysFor returns 2048-bit keys whose certificates outlive any clock a
// benchmark advances.
func benchKeysFor(b testing.TB) (sp, gw *pki.KeyPair) {
	b.Helper()
	benchKeysOnce.Do(func() {
		nb := time.Now().Add(-time.Hour)
		var err error
		if benchSPKeys, err = pki.Generate("bench sp", 2048, nb, 100*365*24*time.Hour); err == nil {
			benchGWKeys, err = pki.Generate("bench gateway", 2048, nb, 100*365*24*time.Hour)
		}
		if err != nil {
			panic(err)
		}
	})
	return benchSPKeys, benchGWKeys
}

type benchCitizen struct{ id, contrast, phone string }

// benchRig is an agency Client and a reference Gateway with memory stores,
// talking through direct handler calls.
type benchRig struct {
	clock    *testClock
	gw       *gateway.Gateway
	client   *clave.Client
	base     string
	citizens []benchCitizen
}

func newBenchRig(b testing.TB) *benchRig {
	b.Helper()
	spk, gwk := benchKeysFor(b)
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	r := &benchRig{clock: &testClock{t: time.Now().UTC().Truncate(time.Second)}, base: "http://gateway.test"}
	acs := "http://agency.test/clave/acs"
	var err error
	r.gw, err = gateway.New(ctx, gateway.Config{
		BaseURL: r.base, SigningKey: gwk.Key, SigningCertificate: gwk.Certificate,
		ServiceProviders: []gateway.ServiceProvider{{SPID: agencySPID, Certificates: []*x509.Certificate{spk.Certificate}, ACSURLs: []string{acs}}},
		Now:              r.clock.Now, PINSecret: []byte(strings.Repeat("p", 32)), Logger: quiet,
	})
	if err != nil {
		b.Fatal(err)
	}
	// PIN requests are limited per citizen (5 in 10 minutes, 20 a day): with
	// 32 citizens in turn and 3 minutes per login each asks once in 96 minutes.
	const letters = "TRWAGMYFPDXBNJZSQVHLCKE"
	for i := range 32 {
		n := 10000000 + 7919*i
		id := fmt.Sprintf("%08d%c", n, letters[n%23])
		d, err := dni.Parse(id)
		if err != nil {
			b.Fatal(err)
		}
		c := benchCitizen{id: id, contrast: "31/12/2099", phone: fmt.Sprintf("+346000%05d", i)}
		err = r.gw.PutCitizen(ctx, gateway.Citizen{ID: d.String(), ValidUntil: time.Date(2099, 12, 31, 0, 0, 0, 0, time.UTC),
			GivenName: "MARIA", FirstSurname: "GARCIA", SecondSurname: "LOPEZ", Phone: c.phone, Email: "x@example.es",
			DateOfBirth: time.Date(1980, 5, 17, 0, 0, 0, 0, time.UTC),
			Level:       gateway.LevelAdvanced, Status: gateway.StatusActive})
		if err != nil {
			b.Fatal(err)
		}
		r.citizens = append(r.citizens, c)
	}
	r.client, err = clave.New(clave.Config{
		Environment: clave.Custom, GatewayURL: r.gw.Endpoint(), GatewayIssuer: r.gw.Issuer(),
		GatewayCertificates: saml.StaticCertificates{gwk.Certificate},
		SPID:                agencySPID, ApplicationName: agencyApp, ACSURL: acs,
		Key: spk.Key, Certificate: spk.Certificate, CookieSecret: []byte(strings.Repeat("s", 32)),
		Now: r.clock.Now, LoA: saml.LoALow, Logger: quiet,
	})
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// do calls the gateway's handler as a browser request would reach it.
func (r *benchRig) do(b testing.TB, method, path string, form url.Values, cookies []*http.Cookie, want int) *httptest.ResponseRecorder {
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, r.base+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, r.base+path, nil)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	r.gw.ServeHTTP(rec, req)
	if rec.Code != want {
		b.Fatalf("%s %s: status %d, want %d: %s", method, path, rec.Code, want, rec.Body)
	}
	return rec
}

// login is one whole Cl@ve PIN login: the agency's request, the gateway's
// pages as the browser walks them, the PIN read from the inbox, and the
// agency's validation of the signed Response.
func (r *benchRig) login(b testing.TB, i int) *clave.Identity {
	c := r.citizens[i%len(r.citizens)]
	r.clock.Advance(3 * time.Minute)
	form, p, err := r.client.NewLogin(clave.LoginOptions{})
	if err != nil {
		b.Fatal(err)
	}
	rec := r.do(b, http.MethodPost, saml.ServiceProviderPath, url.Values{
		saml.FieldSAMLRequest: {base64.StdEncoding.EncodeToString(form.Message)},
		saml.FieldRelayState:  {form.RelayState},
	}, nil, http.StatusSeeOther)
	chooser := rec.Header().Get("Location")
	cookies := rec.Result().Cookies()
	r.do(b, http.MethodGet, chooser, nil, cookies, http.StatusOK)
	csrf := hiddenField(r.do(b, http.MethodGet, chooser+"/pin/", nil, cookies, http.StatusOK).Body.String(), "csrf")
	r.do(b, http.MethodPost, chooser+"/pin/request", url.Values{"document": {c.id}, "contrast": {c.contrast}, "csrf": {csrf}}, cookies, http.StatusSeeOther)
	r.do(b, http.MethodGet, chooser+"/pin/", nil, cookies, http.StatusOK)
	sms, err := r.gw.Inbox().Last(gateway.ChannelSMS, c.phone)
	if err != nil {
		b.Fatal(err)
	}
	rec = r.do(b, http.MethodPost, chooser+"/pin/verify", url.Values{"pin": {sms.Code}, "csrf": {csrf}}, cookies, http.StatusOK)
	page := rec.Body.String()
	id, err := r.client.ValidateResponse(context.Background(), hiddenField(page, saml.FieldSAMLResponse), hiddenField(page, saml.FieldRelayState), p)
	if err != nil {
		b.Fatal(err)
	}
	return id
}

// hiddenField reads one hidden input of the auto-post form. The browser's
// share of the work is not the login's: formInput's regular expression over
// the ~10 kB response costs more than a tenth of a login.
func hiddenField(page, name string) string {
	_, rest, ok := strings.Cut(page, `<input type="hidden" name="`+name+`" value="`)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, `"`)
	return html.UnescapeString(v)
}

func BenchmarkLoginRoundTrip(b *testing.B) {
	r := newBenchRig(b)
	if id := r.login(b, 0); id.PersonIdentifier != r.citizens[0].id || id.LoA != saml.LoASubstantial {
		b.Fatalf("unexpected identity %+v", id)
	}
	b.ReportAllocs()
	i := 1
	for b.Loop() {
		r.login(b, i)
		i++
	}
}

// BenchmarkLoginRSAOnly is the floor of BenchmarkLoginRoundTrip: two
// PKCS#1 v1.5 signatures and two verifications with 2048-bit keys over SHA-512
// digests of SignedInfo-sized inputs.
func BenchmarkLoginRSAOnly(b *testing.B) {
	spk, gwk := benchKeysFor(b)
	signedInfo := []byte(strings.Repeat("<ds:SignedInfo>x</ds:SignedInfo>", 20))
	step := func(k *rsa.PrivateKey) {
		d := sha512.Sum512(signedInfo)
		sig, err := k.Sign(nil, d[:], crypto.SHA512)
		if err != nil {
			b.Fatal(err)
		}
		if err := rsa.VerifyPKCS1v15(&k.PublicKey, crypto.SHA512, d[:], sig); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		step(spk.Key) // the agency signs the request, the gateway verifies it
		step(gwk.Key) // the gateway signs the response, the agency verifies it
	}
}

// TestBenchRigLogsIn keeps the benchmark's login path working: a change to
// the pages (a new form field, say) fails here rather than only when the
// benchmarks run.
func TestBenchRigLogsIn(t *testing.T) {
	r := newBenchRig(t)
	for i := range 3 {
		id := r.login(t, i)
		require.Equal(t, r.citizens[i%len(r.citizens)].id, id.PersonIdentifier)
	}
}
