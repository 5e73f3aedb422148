package main

import (
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave"
)

func certificatePEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func TestAgencyServesLoginPage(t *testing.T) {
	_, gw, err := selfSigned("gw", time.Hour*48)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile := filepath.Join(dir, "gw.pem")
	require.NoError(t, os.WriteFile(certFile, certificatePEM(gw), 0o600))

	o, err := parseFlags([]string{"-env", "custom", "-gateway-url", "https://gw.test/Proxy2/ServiceProvider",
		"-gateway-issuer", "https://gw.test", "-gateway-cert", certFile, "-acs-url", "https://sede.test/clave/acs",
		"-disable", "giss,eidas", "-loa", "substantial"})
	require.NoError(t, err)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg, fetcher, err := buildConfig(o, log)
	require.NoError(t, err)
	assert.Nil(t, fetcher, "a pinned certificate needs no fetcher")
	c, err := clave.New(cfg)
	require.NoError(t, err)
	srv := httptest.NewServer(site(c))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/")
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	assert.Contains(t, string(page), "Entrar con Cl@ve")

	resp, err = http.Get(srv.URL + "/perfil")
	require.NoError(t, err)
	page, _ = io.ReadAll(resp.Body)
	assert.Contains(t, string(page), `action="https://gw.test/Proxy2/ServiceProvider"`)
	assert.Contains(t, string(page), `name="SAMLRequest"`)

	_, err = parseFlags([]string{"-nope"})
	assert.Error(t, err)
	bad, _ := parseFlags([]string{"-provider-name", "sin-punto-y-coma"})
	_, _, err = buildConfig(bad, log)
	assert.Error(t, err)
}

func TestAgencyDerivesCertificatesURL(t *testing.T) {
	o, err := parseFlags(nil)
	require.NoError(t, err)
	cfg, fetcher, err := buildConfig(o, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	require.NotNil(t, fetcher, "without -gateway-cert the published certificates are followed")
	assert.Equal(t, clave.Preproduction, cfg.Environment)
}

// TestAgencyLoadsKeyFiles reads the service's key and certificate in the forms
// openssl writes them: PKCS#8 ("PRIVATE KEY", openssl req -newkey) and PKCS#1
// ("RSA PRIVATE KEY", older openssl genrsa).
func TestAgencyLoadsKeyFiles(t *testing.T) {
	key, cert, err := selfSigned("Mi sede de pruebas", time.Hour)
	require.NoError(t, err)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile := filepath.Join(dir, "sp.crt")
	require.NoError(t, os.WriteFile(certFile, certificatePEM(cert), 0o600))
	log := slog.New(slog.DiscardHandler)
	for name, block := range map[string]*pem.Block{
		"pkcs8": {Type: "PRIVATE KEY", Bytes: pkcs8},
		"pkcs1": {Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)},
	} {
		t.Run(name, func(t *testing.T) {
			keyFile := filepath.Join(dir, name+".key")
			require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600))
			o, err := parseFlags([]string{"-key", keyFile, "-cert", certFile})
			require.NoError(t, err)
			cfg, _, err := buildConfig(o, log)
			require.NoError(t, err)
			assert.True(t, cert.Equal(cfg.Certificate))
			assert.True(t, key.PublicKey.Equal(cfg.Key.Public()))
		})
	}

	other, _, err := selfSigned("otra", time.Hour)
	require.NoError(t, err)
	otherFile := filepath.Join(dir, "other.key")
	der, err := x509.MarshalPKCS8PrivateKey(other)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(otherFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	for name, args := range map[string][]string{
		"key of another certificate": {"-key", otherFile, "-cert", certFile},
		"key without certificate":    {"-key", otherFile},
		"missing file":               {"-key", filepath.Join(dir, "none.key"), "-cert", certFile},
	} {
		o, err := parseFlags(args)
		require.NoError(t, err)
		_, _, err = buildConfig(o, log)
		assert.Error(t, err, name)
	}
}
