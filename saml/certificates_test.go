package saml

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/pki"
)

var _ CertificateSource = (*CertificateFetcher)(nil)

// certNow is the injected clock of the certificate tests.
var certNow = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

type certFixture struct {
	signA, signB, enc, expired, future, pinned *x509.Certificate
}

var (
	certFixOnce sync.Once
	certFix     certFixture
	certFixErr  error
)

// certFixtures makes the test certificates once. They share one key: only the
// certificates matter here, and RSA key generation is the slow part.
func certFixtures(t testing.TB) certFixture {
	t.Helper()
	certFixOnce.Do(func() {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			certFixErr = err
			return
		}
		mk := func(cn string, notBefore time.Time, validity time.Duration) *x509.Certificate {
			c, err := pki.SelfSign(key, cn, notBefore, validity)
			if err != nil {
				certFixErr = err
			}
			return c
		}
		year := 365 * 24 * time.Hour
		certFix = certFixture{
			signA:   mk("SELLO PASARELA 2025", certNow.Add(-year), 2*year),
			signB:   mk("SELLO PASARELA 2026", certNow.Add(-time.Hour), 2*year),
			enc:     mk("CIFRADO PASARELA", certNow.Add(-year), 2*year),
			expired: mk("SELLO PASARELA 2023", certNow.Add(-3*year), year),
			future:  mk("SELLO PASARELA 2027", certNow.Add(24*time.Hour), 2*year),
			pinned:  mk("SELLO FIJADO", certNow.Add(-year), 2*year),
		}
	})
	require.NoError(t, certFixErr)
	return certFix
}

// b64Lines is base64 folded at 64 columns, as certificates usually appear in XML.
func b64Lines(c *x509.Certificate) string {
	s := base64.StdEncoding.EncodeToString(c.Raw)
	var b strings.Builder
	for len(s) > 64 {
		b.WriteString(s[:64] + "\n          ")
		s = s[64:]
	}
	b.WriteString(s)
	return b.String()
}

// sampleDocument is shaped like the gateway's page: two signing certificates
// during a rollover and an encryption one.
func sampleDocument(f certFixture) string {
	return fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<md:Certificates xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
  <md:KeyDescriptor use="signing">
    <ds:KeyInfo>
      <ds:KeyName>SELLO PASARELA 2025</ds:KeyName>
      <ds:MgmtData>active</ds:MgmtData>
      <ds:X509Data>
        <ds:X509Certificate>
          %s
        </ds:X509Certificate>
      </ds:X509Data>
    </ds:KeyInfo>
  </md:KeyDescriptor>
  <md:KeyDescriptor use="signing">
    <ds:KeyInfo>
      <ds:KeyName>SELLO PASARELA 2026</ds:KeyName>
      <ds:MgmtData>next</ds:MgmtData>
      <ds:X509Data><ds:X509Certificate>%s</ds:X509Certificate></ds:X509Data>
    </ds:KeyInfo>
  </md:KeyDescriptor>
  <md:KeyDescriptor use="encryption">
    <ds:KeyInfo>
      <ds:KeyName>CIFRADO PASARELA</ds:KeyName>
      <ds:MgmtData>active</ds:MgmtData>
      <ds:X509Data><ds:X509Certificate>%s</ds:X509Certificate></ds:X509Data>
    </ds:KeyInfo>
  </md:KeyDescriptor>
</md:Certificates>
`, b64Lines(f.signA), b64Lines(f.signB), b64Lines(f.enc))
}

// keyDescriptor is one entry of a document in the md/ds shape.
func keyDescriptor(use, name, cert string) string {
	attr := ""
	if use != "" {
		attr = fmt.Sprintf(` use=%q`, use)
	}
	return fmt.Sprintf(`<md:KeyDescriptor%s><ds:KeyInfo><ds:KeyName>%s</ds:KeyName>`+
		`<ds:X509Data><ds:X509Certificate>%s</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`,
		attr, name, cert)
}

func wrapDocument(kds ...string) string {
	return `<md:Certificates xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#">` +
		strings.Join(kds, "") + `</md:Certificates>`
}

func TestParseCertificatesDocumentSample(t *testing.T) {
	f := certFixtures(t)
	got, err := ParseCertificatesDocument([]byte(sampleDocument(f)))
	require.NoError(t, err)
	require.Len(t, got, 3)

	want := []struct {
		use, name, state string
		cert             *x509.Certificate
	}{
		{UseSigning, "SELLO PASARELA 2025", "active", f.signA},
		{UseSigning, "SELLO PASARELA 2026", "next", f.signB},
		{UseEncryption, "CIFRADO PASARELA", "active", f.enc},
	}
	for i, w := range want {
		assert.Equal(t, w.use, got[i].Use, "entry %d", i)
		assert.Equal(t, w.name, got[i].KeyName, "entry %d", i)
		assert.Equal(t, w.state, got[i].State, "entry %d", i)
		assert.True(t, w.cert.Equal(got[i].Certificate), "entry %d", i)
	}
	assert.True(t, got[0].ForSigning())
	assert.False(t, got[2].ForSigning())
}

func TestParseCertificatesDocumentTolerantEnvelope(t *testing.T) {
	f := certFixtures(t)
	cert := base64.StdEncoding.EncodeToString(f.signA.Raw)
	tests := []struct {
		name string
		doc  string
		use  string
	}{
		{
			name: "other root, default namespace, other ds prefix, no use",
			doc: `<Certificados xmlns="urn:example:pasarela" xmlns:dsig="http://www.w3.org/2000/09/xmldsig#">
			  <Grupo><Entrada><KeyDescriptor>
			    <dsig:KeyInfo><dsig:KeyName>k</dsig:KeyName><dsig:MgmtData>ACTIVO</dsig:MgmtData>
			      <dsig:X509Data><dsig:X509Certificate>` + cert + `</dsig:X509Certificate></dsig:X509Data>
			    </dsig:KeyInfo>
			  </KeyDescriptor></Entrada></Grupo></Certificados>`,
			use: "",
		},
		{
			name: "no namespace on the envelope, ds as default namespace",
			doc: `<certificates><KeyDescriptor use="signing">
			    <KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><KeyName>k</KeyName><MgmtData>ACTIVO</MgmtData>
			      <X509Data><X509Certificate>` + cert + `</X509Certificate></X509Data><KeyValue/>
			    </KeyInfo></KeyDescriptor></certificates>`,
			use: UseSigning,
		},
		{
			name: "KeyDescriptor as the root",
			doc: `<md:KeyDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" use="signing">
			  <ds:KeyInfo><ds:KeyName>k</ds:KeyName><ds:MgmtData>ACTIVO</ds:MgmtData>
			  <ds:X509Data><ds:X509Certificate>` + cert + `</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`,
			use: UseSigning,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCertificatesDocument([]byte(tc.doc))
			require.NoError(t, err)
			require.Len(t, got, 1)
			assert.Equal(t, tc.use, got[0].Use)
			assert.True(t, got[0].ForSigning())
			assert.Equal(t, "k", got[0].KeyName)
			assert.Equal(t, "ACTIVO", got[0].State)
			assert.True(t, f.signA.Equal(got[0].Certificate))
		})
	}
}

func TestParseCertificatesDocumentRefusals(t *testing.T) {
	f := certFixtures(t)
	good := base64.StdEncoding.EncodeToString(f.signA.Raw)
	many := make([]string, MaxPublishedCertificates+1)
	for i := range many {
		many[i] = keyDescriptor(UseSigning, fmt.Sprintf("k%d", i), good)
	}
	tests := []struct {
		name    string
		doc     string
		want    error
		mention string // what the message must name so an operator finds the entry
	}{
		{"bad base64", wrapDocument(keyDescriptor(UseSigning, "OK", good), keyDescriptor(UseSigning, "ROTO", "MIIB$$$")), ErrMalformed, `"ROTO"`},
		{"bad DER", wrapDocument(keyDescriptor(UseSigning, "BASURA", base64.StdEncoding.EncodeToString([]byte("not a certificate")))), ErrMalformed, `"BASURA"`},
		{"empty certificate", wrapDocument(keyDescriptor(UseSigning, "VACIO", "")), ErrMalformed, `"VACIO"`},
		{"unknown use", wrapDocument(keyDescriptor("both", "X", good)), ErrMalformed, `"both"`},
		{"no name, bad DER", wrapDocument(keyDescriptor(UseSigning, "", "AAAA")), ErrMalformed, "#1"},
		{"DOCTYPE", `<!DOCTYPE x [<!ENTITY e "x">]>` + wrapDocument(keyDescriptor(UseSigning, "k", good)), ErrMalformed, ""},
		{"too many", wrapDocument(many...), ErrMalformed, "KeyDescriptor"},
		{"no KeyDescriptor", `<html><body>Mantenimiento</body></html>`, ErrMalformed, ""},
		{"not XML", `Service Unavailable`, ErrMalformed, ""},
		{"comment inside", wrapDocument(keyDescriptor(UseSigning, "k", "MII<!-- -->B")), ErrMalformed, ""},
		{"KeyInfo not in ds namespace", `<Certificates><KeyDescriptor><KeyInfo><X509Data><X509Certificate>` + good +
			`</X509Certificate></X509Data></KeyInfo></KeyDescriptor></Certificates>`, ErrMalformed, ""},
		{"two certificates in one entry", wrapDocument(strings.Replace(keyDescriptor(UseSigning, "DOBLE", good),
			"</ds:X509Data>", "<ds:X509Certificate>"+good+"</ds:X509Certificate></ds:X509Data>", 1)), ErrMalformed, `"DOBLE"`},
		{"two KeyNames", wrapDocument(strings.Replace(keyDescriptor(UseSigning, "A", good),
			"<ds:X509Data>", "<ds:KeyName>B</ds:KeyName><ds:X509Data>", 1)), ErrMalformed, ""},
		{"markup inside the certificate", wrapDocument(keyDescriptor(UseSigning, "k", "<b>"+good+"</b>")), ErrMalformed, ""},
		{"too large", wrapDocument(keyDescriptor(UseSigning, "k", good+strings.Repeat(" ", DefaultMaxMessageSize))), ErrTooLarge, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCertificatesDocument([]byte(tc.doc))
			require.ErrorIs(t, err, tc.want)
			assert.Nil(t, got)
			if tc.mention != "" {
				assert.Contains(t, err.Error(), tc.mention)
			}
		})
	}
}

// certServer serves whatever the test sets, counting requests.
type certServer struct {
	mu      sync.Mutex
	status  int
	body    []byte
	chunked bool         // stream without Content-Length
	failN   int          // answer 503 to this many requests first
	hits    atomic.Int32 // requests received
	hitCh   chan struct{}
}

func (s *certServer) set(status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body, s.chunked, s.failN = status, []byte(body), false, 0
}

func (s *certServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.hits.Add(1)
	if s.hitCh != nil {
		defer func() {
			select {
			case s.hitCh <- struct{}{}:
			default:
			}
		}()
	}
	s.mu.Lock()
	status, body, chunked := s.status, s.body, s.chunked
	fail := s.failN > 0
	if fail {
		s.failN--
	}
	s.mu.Unlock()
	if r.URL.Path != CertificatesPath {
		http.NotFound(w, r)
		return
	}
	if fail {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	if chunked {
		for len(body) > 0 {
			n := min(len(body), 4096)
			_, _ = w.Write(body[:n])
			w.(http.Flusher).Flush()
			body = body[n:]
		}
		return
	}
	_, _ = w.Write(body)
}

// newFetcherTest starts a TLS server for the certificates document and a
// fetcher pointed at it with a fixed clock and near-zero retry waits.
func newFetcherTest(t *testing.T, mod func(*FetcherConfig)) (*certServer, *CertificateFetcher, *time.Time) {
	t.Helper()
	cs := &certServer{status: http.StatusOK}
	srv := httptest.NewTLSServer(cs)
	t.Cleanup(srv.Close)
	now := certNow
	cfg := FetcherConfig{
		URL:        srv.URL + CertificatesPath,
		HTTPClient: srv.Client(),
		Retry:      RetryConfig{WaitMin: time.Microsecond, WaitMax: time.Millisecond},
		Now:        func() time.Time { return now },
	}
	if mod != nil {
		mod(&cfg)
	}
	f, err := NewCertificateFetcher(cfg)
	require.NoError(t, err)
	return cs, f, &now
}

func signingDoc(certs ...*x509.Certificate) string {
	kds := make([]string, len(certs))
	for i, c := range certs {
		kds[i] = keyDescriptor(UseSigning, c.Subject.CommonName, base64.StdEncoding.EncodeToString(c.Raw))
	}
	return wrapDocument(kds...)
}

func requireSet(t *testing.T, got []*x509.Certificate, want ...*x509.Certificate) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		require.True(t, want[i].Equal(got[i]), "certificate %d is %s, want %s", i, got[i].Subject.CommonName, want[i].Subject.CommonName)
	}
}

func TestFetcherFirstFetchAndRollover(t *testing.T) {
	f := certFixtures(t)
	cs, fetcher, _ := newFetcherTest(t, nil)

	at, err := fetcher.LastRefresh()
	assert.True(t, at.IsZero())
	assert.NoError(t, err)
	assert.Empty(t, fetcher.Certificates())

	cs.set(http.StatusOK, signingDoc(f.signA))
	require.NoError(t, fetcher.Refresh(context.Background()))
	requireSet(t, fetcher.Certificates(), f.signA)
	at, err = fetcher.LastRefresh()
	assert.Equal(t, certNow, at)
	assert.NoError(t, err)

	// Rollover announced: both signing keys trusted, the encryption key never.
	cs.set(http.StatusOK, sampleDocument(f))
	require.NoError(t, fetcher.Refresh(context.Background()))
	requireSet(t, fetcher.Certificates(), f.signA, f.signB)

	// Rollover done: the old key is gone.
	cs.set(http.StatusOK, signingDoc(f.signB))
	require.NoError(t, fetcher.Refresh(context.Background()))
	requireSet(t, fetcher.Certificates(), f.signB)
}

func TestFetcherCertificatesIsACopy(t *testing.T) {
	f := certFixtures(t)
	cs, fetcher, _ := newFetcherTest(t, nil)
	cs.set(http.StatusOK, signingDoc(f.signA))
	require.NoError(t, fetcher.Refresh(context.Background()))
	got := fetcher.Certificates()
	got[0] = f.signB
	requireSet(t, fetcher.Certificates(), f.signA)
}

func TestFetcherRetriesTransientFailures(t *testing.T) {
	f := certFixtures(t)
	cs, fetcher, _ := newFetcherTest(t, nil)
	cs.set(http.StatusOK, signingDoc(f.signA))
	cs.mu.Lock()
	cs.failN = 2
	cs.mu.Unlock()
	require.NoError(t, fetcher.Refresh(context.Background()))
	assert.EqualValues(t, 3, cs.hits.Load())
	requireSet(t, fetcher.Certificates(), f.signA)
}

func TestFetcherFailureKeepsLastGoodSet(t *testing.T) {
	f := certFixtures(t)
	huge := signingDoc(f.signA) + strings.Repeat(" ", DefaultMaxMessageSize)
	tests := []struct {
		name     string
		status   int
		body     string
		chunked  bool
		want     error // nil: any error
		wantHits int32 // requests for the failing refresh; 0: not checked
	}{
		{name: "server error, retried", status: http.StatusInternalServerError, body: "boom", wantHits: 4},
		{name: "not found, not retried", status: http.StatusNotFound, body: "no", wantHits: 1},
		{name: "garbage body", status: http.StatusOK, body: "<<<<not xml", want: ErrMalformed},
		{name: "HTML maintenance page", status: http.StatusOK, body: "<html><body>Mantenimiento</body></html>", want: ErrMalformed},
		{name: "oversized body", status: http.StatusOK, body: huge, want: ErrTooLarge},
		{name: "oversized streamed body", status: http.StatusOK, body: huge, chunked: true, want: ErrTooLarge},
		{name: "only an encryption certificate", status: http.StatusOK,
			body: wrapDocument(keyDescriptor(UseEncryption, "c", base64.StdEncoding.EncodeToString(f.enc.Raw))), want: ErrNoSigningCertificate},
		{name: "only an expired certificate", status: http.StatusOK, body: signingDoc(f.expired), want: ErrNoSigningCertificate},
		{name: "only a future certificate", status: http.StatusOK, body: signingDoc(f.future), want: ErrNoSigningCertificate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs, fetcher, now := newFetcherTest(t, nil)
			cs.set(http.StatusOK, signingDoc(f.signA))
			require.NoError(t, fetcher.Refresh(context.Background()))
			good := *now

			*now = now.Add(time.Hour)
			cs.set(tc.status, tc.body)
			cs.mu.Lock()
			cs.chunked = tc.chunked
			cs.mu.Unlock()
			before := cs.hits.Load()
			err := fetcher.Refresh(context.Background())
			require.Error(t, err)
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
			}
			if tc.wantHits != 0 {
				assert.Equal(t, tc.wantHits, cs.hits.Load()-before)
			}
			requireSet(t, fetcher.Certificates(), f.signA)
			at, lastErr := fetcher.LastRefresh()
			assert.Equal(t, good, at)
			assert.Equal(t, err, lastErr)

			// Recovery clears the error.
			cs.set(http.StatusOK, signingDoc(f.signB))
			require.NoError(t, fetcher.Refresh(context.Background()))
			requireSet(t, fetcher.Certificates(), f.signB)
			at, lastErr = fetcher.LastRefresh()
			assert.Equal(t, *now, at)
			assert.NoError(t, lastErr)
		})
	}
}

func TestFetcherValidityByInjectedClock(t *testing.T) {
	f := certFixtures(t)
	cs, fetcher, now := newFetcherTest(t, nil)

	// The expired certificate is dropped; the not-yet-valid one is kept so the
	// switch to it needs no refresh (the signature check enforces its dates).
	cs.set(http.StatusOK, signingDoc(f.expired, f.signA, f.future))
	require.NoError(t, fetcher.Refresh(context.Background()))
	requireSet(t, fetcher.Certificates(), f.signA, f.future)

	// Years later every published certificate has expired: the document is
	// refused and the last good set stays.
	*now = now.Add(10 * 365 * 24 * time.Hour)
	err := fetcher.Refresh(context.Background())
	require.ErrorIs(t, err, ErrNoSigningCertificate)
	requireSet(t, fetcher.Certificates(), f.signA, f.future)
}

func TestFetcherDeduplicates(t *testing.T) {
	f := certFixtures(t)
	cs, fetcher, _ := newFetcherTest(t, nil)
	a := base64.StdEncoding.EncodeToString(f.signA.Raw)
	cs.set(http.StatusOK, wrapDocument(keyDescriptor(UseSigning, "a", a), keyDescriptor("", "a again", a)))
	require.NoError(t, fetcher.Refresh(context.Background()))
	requireSet(t, fetcher.Certificates(), f.signA)
}

func TestFetcherInitialUntilFirstSuccess(t *testing.T) {
	f := certFixtures(t)
	cs, fetcher, _ := newFetcherTest(t, func(c *FetcherConfig) { c.Initial = []*x509.Certificate{f.pinned} })
	requireSet(t, fetcher.Certificates(), f.pinned)

	cs.set(http.StatusServiceUnavailable, "")
	require.Error(t, fetcher.Refresh(context.Background()))
	requireSet(t, fetcher.Certificates(), f.pinned)
	at, err := fetcher.LastRefresh()
	assert.True(t, at.IsZero())
	assert.Error(t, err)

	// The fetched set replaces the pinned one rather than adding to it.
	cs.set(http.StatusOK, signingDoc(f.signA))
	require.NoError(t, fetcher.Refresh(context.Background()))
	requireSet(t, fetcher.Certificates(), f.signA)
}

func TestFetcherCancelledContext(t *testing.T) {
	f := certFixtures(t)
	cs, fetcher, _ := newFetcherTest(t, nil)
	cs.set(http.StatusOK, signingDoc(f.signA))
	require.NoError(t, fetcher.Refresh(context.Background()))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cs.set(http.StatusOK, signingDoc(f.signB))
	require.ErrorIs(t, fetcher.Refresh(ctx), context.Canceled)
	requireSet(t, fetcher.Certificates(), f.signA)
}

func TestNewCertificateFetcherConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  FetcherConfig
		ok   bool
	}{
		{"https", FetcherConfig{URL: "https://se-pasarela.clave.gob.es" + CertificatesPath}, true},
		{"empty", FetcherConfig{}, false},
		{"relative", FetcherConfig{URL: CertificatesPath}, false},
		{"http refused", FetcherConfig{URL: "http://se-pasarela.clave.gob.es" + CertificatesPath}, false},
		{"http allowed explicitly", FetcherConfig{URL: "http://127.0.0.1:8080" + CertificatesPath, InsecureAllowHTTP: true}, true},
		{"other scheme", FetcherConfig{URL: "file:///etc/passwd", InsecureAllowHTTP: true}, false},
		{"negative interval", FetcherConfig{URL: "https://x.example", Interval: -time.Second}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewCertificateFetcher(tc.cfg)
			if tc.ok {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
		})
	}
}

func TestFetcherPlainHTTPWhenAllowed(t *testing.T) {
	f := certFixtures(t)
	cs := &certServer{status: http.StatusOK}
	cs.set(http.StatusOK, signingDoc(f.signA))
	srv := httptest.NewServer(cs)
	defer srv.Close()
	fetcher, err := NewCertificateFetcher(FetcherConfig{
		URL: srv.URL + CertificatesPath, InsecureAllowHTTP: true, Now: func() time.Time { return certNow },
	})
	require.NoError(t, err)
	require.NoError(t, fetcher.Refresh(context.Background()))
	requireSet(t, fetcher.Certificates(), f.signA)
}

func TestFetcherRefusesRedirectToHTTP(t *testing.T) {
	f := certFixtures(t)
	plain := &certServer{status: http.StatusOK}
	plain.set(http.StatusOK, signingDoc(f.signB))
	plainSrv := httptest.NewServer(plain)
	defer plainSrv.Close()
	redirect := httptest.NewTLSServer(http.RedirectHandler(plainSrv.URL+CertificatesPath, http.StatusFound))
	defer redirect.Close()

	fetcher, err := NewCertificateFetcher(FetcherConfig{
		URL: redirect.URL + CertificatesPath, HTTPClient: redirect.Client(),
		Initial: []*x509.Certificate{f.pinned}, Now: func() time.Time { return certNow },
	})
	require.NoError(t, err)
	err = fetcher.Refresh(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "redirected to http:")
	requireSet(t, fetcher.Certificates(), f.pinned)
}

func TestFetcherConcurrentReaders(t *testing.T) {
	f := certFixtures(t)
	cs, fetcher, _ := newFetcherTest(t, func(c *FetcherConfig) { c.Initial = []*x509.Certificate{f.pinned} })
	docs := []string{signingDoc(f.signA), sampleDocument(f), "garbage", signingDoc(f.signB)}
	allowed := []*x509.Certificate{f.pinned, f.signA, f.signB}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var reads atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				set := fetcher.Certificates()
				if len(set) == 0 {
					t.Error("empty certificate set")
					return
				}
				for _, c := range set {
					ok := false
					for _, a := range allowed {
						ok = ok || a.Equal(c)
					}
					if !ok {
						t.Errorf("unexpected certificate %s", c.Subject.CommonName)
						return
					}
				}
				_, _ = fetcher.LastRefresh()
				reads.Add(1)
				runtime.Gosched() // let the refresher run on a busy machine
			}
		}()
	}
	for i := range 12 {
		cs.set(http.StatusOK, docs[i%len(docs)])
		_ = fetcher.Refresh(context.Background())
	}
	cancel()
	wg.Wait()
	assert.Positive(t, reads.Load())
}

// recordHandler keeps log records for inspection.
type recordHandler struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	warn   int
	warnCh chan struct{} // signalled on every warning
}

func newRecordHandler() *recordHandler { return &recordHandler{warnCh: make(chan struct{}, 1)} }

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recordHandler) WithGroup(string) slog.Handler            { return h }
func (h *recordHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	err := slog.NewTextHandler(&h.buf, nil).Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		h.warn++
		select {
		case h.warnCh <- struct{}{}:
		default:
		}
	}
	return err
}

func (h *recordHandler) snapshot() (string, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.buf.String(), h.warn
}

func (h *recordHandler) waitWarn(t *testing.T) {
	t.Helper()
	select {
	case <-h.warnCh:
	case <-time.After(10 * time.Second):
		t.Fatal("no warning logged")
	}
}

func TestFetcherRun(t *testing.T) {
	f := certFixtures(t)
	logs := newRecordHandler()
	cs, fetcher, _ := newFetcherTest(t, func(c *FetcherConfig) {
		c.Interval = time.Millisecond
		c.Logger = slog.New(logs)
	})
	cs.hitCh = make(chan struct{}, 1)
	cs.set(http.StatusOK, signingDoc(f.signA))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		fetcher.Run(ctx)
		close(done)
	}()
	waitHit := func() {
		t.Helper()
		select {
		case <-cs.hitCh:
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not fetch")
		}
	}
	waitHit()
	waitHit() // refreshes are sequential: the first one has completed
	requireSet(t, fetcher.Certificates(), f.signA)

	cs.set(http.StatusInternalServerError, "")
	logs.waitWarn(t)
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
	requireSet(t, fetcher.Certificates(), f.signA)
	text, warns := logs.snapshot()
	assert.Positive(t, warns)
	assert.Contains(t, text, "trusted gateway certificates changed")
}

func TestFetcherLogsNoCredentials(t *testing.T) {
	logs := newRecordHandler()
	cs := &certServer{}
	cs.set(http.StatusInternalServerError, "")
	srv := httptest.NewTLSServer(cs)
	defer srv.Close()
	u := strings.Replace(srv.URL, "https://", "https://user:s3cr3t@", 1) + CertificatesPath
	fetcher, err := NewCertificateFetcher(FetcherConfig{
		URL: u, HTTPClient: srv.Client(), Logger: slog.New(logs),
		Retry: RetryConfig{Max: -1},
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		fetcher.Run(ctx)
		close(done)
	}()
	logs.waitWarn(t)
	cancel()
	<-done
	_, lastErr := fetcher.LastRefresh()
	require.Error(t, lastErr)
	assert.NotContains(t, lastErr.Error(), "s3cr3t")
	text, _ := logs.snapshot()
	assert.NotContains(t, text, "s3cr3t")
}
