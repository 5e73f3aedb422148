package main

import (
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
	"github.com/clave-go/clave/examples/internal/agencyapp"
	"github.com/clave-go/clave/internal/pki"
)

func TestAgencyServesLoginPage(t *testing.T) {
	gw, err := pki.Generate("gw", 2048, time.Now().Add(-time.Hour), time.Hour*48)
	require.NoError(t, err)
	dir := t.TempDir()
	certFile := filepath.Join(dir, "gw.pem")
	require.NoError(t, os.WriteFile(certFile, pki.CertificatePEM(gw.Certificate), 0o600))

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
	srv := httptest.NewServer(agencyapp.Handler(c))
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
