package main

import (
	"context"
	"crypto/rsa"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/gateway"
	"github.com/clave-go/clave/saml"
)

// start runs the gateway on a free port and returns its base URL and a stop
// function that checks run's error; the test's end stops it in any case.
func start(t *testing.T, args ...string) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() { done <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), log, ready) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				assert.NoError(t, err)
			case <-time.After(10 * time.Second):
				t.Error("gateway did not stop")
			}
		})
	}
	t.Cleanup(stop)
	select {
	case base := <-ready:
		return base, stop
	case err := <-done:
		done <- err // for stop
		require.NoError(t, err)
		t.Fatal("run returned without serving")
	case <-time.After(30 * time.Second):
		t.Fatal("gateway did not start")
	}
	return "", nil
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func publishedCertificate(t *testing.T, base string) string {
	t.Helper()
	status, doc := get(t, base+saml.CertificatesPath)
	require.Equal(t, http.StatusOK, status)
	certs, err := saml.ParseCertificatesDocument([]byte(doc))
	require.NoError(t, err)
	require.NotEmpty(t, certs)
	return fingerprint(certs[0].Certificate)
}

func TestGatewayServes(t *testing.T) {
	base, _ := start(t)
	assert.True(t, strings.HasPrefix(base, "http://127.0.0.1:"), base)

	status, doc := get(t, base+saml.CertificatesPath)
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, doc, "X509Certificate")

	status, page := get(t, base+"/demo/inbox")
	assert.Equal(t, http.StatusOK, status)
	assert.NotContains(t, page, `http-equiv="refresh"`, "no self-reloading page")
	assert.Contains(t, page, "Buzón de demostración")
}

func TestGatewayKeepsItsKeyWithADatabaseFile(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "gw.db")
	secret := strings.Repeat("ab", 32)

	base, stop := start(t, "-db", db, "-pin-secret", secret)
	first := publishedCertificate(t, base)
	stop()
	for _, f := range []string{"gw.db.signing-key.pem", "gw.db.signing-cert.pem"} {
		st, err := os.Stat(filepath.Join(dir, f))
		require.NoError(t, err, f)
		assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), f)
	}
	base, _ = start(t, "-db", db, "-pin-secret", secret)
	again := publishedCertificate(t, base)
	assert.Equal(t, first, again, "a restart on the same database keeps the signing key")

	base, _ = start(t)
	other := publishedCertificate(t, base)
	assert.NotEqual(t, first, other, "an in-memory gateway makes its own key")
}

func TestGatewayFlags(t *testing.T) {
	dir := t.TempDir()
	key, cert, err := selfSigned("gw", 48*time.Hour)
	require.NoError(t, err)
	keyPEM, err := privateKeyPEM(key)
	require.NoError(t, err)
	keyFile, certFile := filepath.Join(dir, "k.pem"), filepath.Join(dir, "c.pem")
	require.NoError(t, os.WriteFile(keyFile, keyPEM, 0o600))
	require.NoError(t, os.WriteFile(certFile, certificatePEM(cert), 0o600))
	spFile := filepath.Join(dir, "sps.json")
	require.NoError(t, os.WriteFile(spFile, []byte(`{"service_providers": [{"spid": "S0000000E_E00000000",
	  "certificates": ["c.pem"], "acs_urls": ["http://127.0.0.1:8080/clave/acs"]}]}`), 0o600))
	citizens := filepath.Join(dir, "citizens.json")
	require.NoError(t, os.WriteFile(citizens, []byte(`{"citizens": [{"id": "12345678Z", "valid_until": "2030-01-01",
	  "issued_on": "", "support_number": "", "given_name": "MARIA", "first_surname": "GARCIA", "second_surname": "",
	  "date_of_birth": "1980-05-17", "phone": "+34600000001", "email": "maria@example.es", "level": "advanced", "status": "active"}]}`), 0o600))

	base, _ := start(t, "-key", keyFile, "-cert", certFile, "-sp-config", spFile, "-citizens", citizens,
		"-base-url", "http://gateway.test:9000")
	assert.Equal(t, "http://gateway.test:9000", base)
	base, _ = start(t, "-key", keyFile, "-cert", certFile)
	assert.Equal(t, fingerprint(cert), publishedCertificate(t, base), "-key/-cert sign")
	o, err := parseFlags([]string{"-key", keyFile, "-cert", certFile, "-sp-config", spFile, "-citizens", citizens})
	require.NoError(t, err)
	cfg, err := o.appConfig(slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	require.Len(t, cfg.serviceProviders, 1)
	require.Len(t, cfg.citizens, 1)

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for name, args := range map[string][]string{
		"unknown flag":       {"-nope"},
		"stray argument":     {"extra"},
		"short pin secret":   {"-pin-secret", "abcd"},
		"pin secret not hex": {"-pin-secret", strings.Repeat("zz", 32)},
		"key without cert":   {"-key", keyFile},
		"bad sp config":      {"-sp-config", citizens},
		"bad citizens":       {"-citizens", spFile},
		"missing citizens":   {"-citizens", filepath.Join(dir, "none.json")},
		"bad address":        {"-addr", "256.0.0.1:1"},
	} {
		t.Run(name, func(t *testing.T) {
			assert.Error(t, run(context.Background(), args, log, nil))
		})
	}
}

func TestDefaultCitizens(t *testing.T) {
	cs, err := defaultCitizens()
	require.NoError(t, err)
	require.NotEmpty(t, cs)
	// The demo's instructions rely on this persona.
	assert.Equal(t, "12345678Z", cs[0].ID)
	assert.Equal(t, "MARIA", cs[0].GivenName)
	assert.True(t, cs[0].MatchContrast("01/01/2030"))
	assert.Equal(t, "+34600000001", cs[0].Phone)
}

func TestInboxPage(t *testing.T) {
	ctx := context.Background()
	a, err := newApp(ctx, appConfig{baseURL: "http://127.0.0.1:9000", log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	defer a.Close()
	srv := httptest.NewServer(a.handler)
	defer srv.Close()

	page := func() string {
		resp, err := http.Get(srv.URL + inboxPath)
		require.NoError(t, err)
		defer resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	empty := page()
	assert.NotContains(t, empty, `http-equiv="refresh"`)
	assert.Contains(t, empty, `id="empty"`)

	in := a.gateway.Inbox()
	t0 := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	for _, m := range []gateway.Message{
		{Channel: gateway.ChannelSMS, To: "+34600000001", Text: "PIN ABC <first>", SentAt: t0},
		{Channel: gateway.ChannelSMS, To: "+34600000002", Text: "PIN DEF", SentAt: t0.Add(time.Minute)},
		{Channel: gateway.ChannelSMS, To: "+34600000001", Text: "PIN GHI second", SentAt: t0.Add(2 * time.Minute)},
		{Channel: gateway.ChannelApp, To: "23456789D", Text: "Confirme el acceso", SentAt: t0.Add(30 * time.Second)},
	} {
		require.NoError(t, in.Send(ctx, m))
	}
	p := page()
	assert.NotContains(t, p, `id="empty"`)
	assert.Contains(t, p, "PIN ABC &lt;first&gt;", "text is escaped")
	order := func(parts ...string) {
		t.Helper()
		last := -1
		for _, s := range parts {
			i := strings.Index(p, s)
			require.GreaterOrEqual(t, i, 0, s)
			assert.Greater(t, i, last, "%q out of order", s)
			last = i
		}
	}
	// Newest first, across recipients.
	order("PIN GHI second", "PIN DEF", "Confirme el acceso", "PIN ABC")
	assert.Contains(t, p, `<span class="channel">app</span>`)

	// The gateway itself is served beside the page.
	resp, err := http.Get(srv.URL + "/Proxy2/Certificates")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestSigningKey(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db := filepath.Join(t.TempDir(), "gw.db")
	key, cert := keyFiles(db)
	require.NoError(t, os.WriteFile(key, []byte("x"), 0o600))
	_, _, err := signingKey(appConfig{dbPath: db, log: log})
	assert.ErrorContains(t, err, "exists without", "a lone key is not silently replaced")

	require.NoError(t, os.Remove(key))
	aKey, aCert, err := signingKey(appConfig{dbPath: db, log: log})
	require.NoError(t, err)
	_, bCert, err := signingKey(appConfig{dbPath: db, log: log})
	require.NoError(t, err)
	assert.True(t, aCert.Equal(bCert))
	_, _, err = signingKey(appConfig{keyFile: key, log: log})
	assert.Error(t, err, "key without certificate")
	cKey, _, err := signingKey(appConfig{keyFile: key, certFile: cert, log: log})
	require.NoError(t, err)
	assert.True(t, aKey.(*rsa.PrivateKey).Equal(cKey))
}

func TestBaseURL(t *testing.T) {
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	assert.Equal(t, "http://127.0.0.1:"+port, baseURL("127.0.0.1:0", ln))
	assert.Equal(t, "http://localhost:"+port, baseURL(":0", ln))
	assert.Equal(t, "http://localhost:"+port, baseURL("0.0.0.0:0", ln))
}
