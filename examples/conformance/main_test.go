package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/conformance"
	"github.com/clave-go/clave/saml"
)

// selfSigned makes the agency's key and certificate.
func selfSigned(t *testing.T, commonName string) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: commonName},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return key, cert
}

// newAgency is a small agency on our SDK, configured the way an agency
// configures itself for the kit: the PEM file the kit leaves in its key
// directory as trusted gateway certificates. acs, when set, replaces the ACS.
// The agency's certificate, which also decrypts, is left in keyDir/agency.pem
// for -enc-cert.
func newAgency(t *testing.T, keyDir string, acs http.Handler) *httptest.Server {
	t.Helper()
	return newWrappedAgency(t, keyDir, acs, nil)
}

// newWrappedAgency is newAgency with every request going through wrap first,
// when set; wrap is given the server.
func newWrappedAgency(t *testing.T, keyDir string, acs http.Handler,
	wrap func(*httptest.Server, http.Handler) http.Handler) *httptest.Server {
	t.Helper()
	certs, err := os.ReadFile(filepath.Join(keyDir, conformance.TrustedCertificatesFile))
	require.NoError(t, err)
	trusted, err := parseCertificates(certs)
	require.NoError(t, err)
	spKey, spCert := selfSigned(t, "agencia")
	require.NoError(t, os.WriteFile(filepath.Join(keyDir, "agency.pem"),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: spCert.Raw}), 0o644))
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	if wrap != nil {
		srv.Config.Handler = wrap(srv, mux)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c, err := clave.New(clave.Config{
		GatewayCertificates: saml.StaticCertificates(trusted),
		SPID:                "S0000000E_E00000000",
		ApplicationName:     "Agencia",
		ACSURL:              srv.URL + "/clave/acs",
		Key:                 spKey,
		Certificate:         spCert,
		CookieSecret:        []byte(strings.Repeat("k", 32)),
		Logger:              slog.New(slog.DiscardHandler), // refusals are the point here
	})
	require.NoError(t, err)
	if acs == nil {
		acs = c.ACSHandler()
	}
	mux.Handle("/clave/acs", acs)
	mux.Handle("/", c.RequireLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "perfil")
	})))
	return srv
}

// keyDir makes the kit's keys first, as a first run of the command would, so
// the agency can be configured with them.
func keyDir(t *testing.T) string {
	dir := t.TempDir()
	_, err := conformance.NewKit(conformance.KitConfig{KeyDir: dir})
	require.NoError(t, err)
	return dir
}

func TestRunAgainstAgency(t *testing.T) {
	dir := keyDir(t)
	srv := newAgency(t, dir, nil)
	jsonOut, htmlOut := filepath.Join(t.TempDir(), "report.json"), filepath.Join(t.TempDir(), "report.html")
	var out strings.Builder
	ok, err := run(t.Context(), []string{"-sp", srv.URL + "/perfil", "-keys", dir, "-json", jsonOut, "-html", htmlOut,
		"-enc-cert", filepath.Join(dir, "agency.pem")}, &out)
	require.NoError(t, err)
	assert.True(t, ok, out.String())
	assert.Contains(t, out.String(), filepath.Join(dir, conformance.TrustedCertificatesFile))

	data, err := os.ReadFile(jsonOut)
	require.NoError(t, err)
	var rep conformance.Report
	require.NoError(t, json.Unmarshal(data, &rep))
	assert.Equal(t, srv.URL+"/perfil", rep.Target)
	assert.Zero(t, rep.Failed)
	assert.NotZero(t, rep.Passed)
	assert.Zero(t, rep.Skipped)
	assert.Equal(t, len(rep.Cases), rep.Passed)
	for _, c := range rep.Cases {
		assert.True(t, c.Pass, "%s: %s", c.ID, c.Detail)
	}
	page, err := os.ReadFile(htmlOut)
	require.NoError(t, err)
	assert.Contains(t, string(page), "0 failed")
}

func TestRunFlagsABrokenACS(t *testing.T) {
	dir := keyDir(t)
	// An ACS that welcomes anything.
	srv := newAgency(t, dir, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "bienvenido") }))
	var out strings.Builder
	ok, err := run(t.Context(), []string{"-sp", srv.URL + "/perfil", "-keys", dir, "-cases", "SIG-01"}, &out)
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Contains(t, out.String(), "FAIL SIG-01")
	assert.Contains(t, out.String(), "0 passed, 1 failed")
}

func TestRunUsage(t *testing.T) {
	_, err := run(t.Context(), nil, io.Discard)
	assert.ErrorContains(t, err, "-sp")
	_, err = run(t.Context(), []string{"-sp", "http://x", "-keys", t.TempDir(), "-cases", "NOPE"}, io.Discard)
	assert.ErrorContains(t, err, "NOPE")
}

func TestCertificatesHandler(t *testing.T) {
	k, err := conformance.NewKit(conformance.KitConfig{KeyDir: t.TempDir()})
	require.NoError(t, err)
	h, err := certificatesHandler(k)
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	defer srv.Close()
	f, err := saml.NewCertificateFetcher(saml.FetcherConfig{URL: srv.URL + saml.CertificatesPath, InsecureAllowHTTP: true})
	require.NoError(t, err)
	require.NoError(t, f.Refresh(t.Context()))
	assert.Equal(t, k.TrustedCertificates(), f.Certificates())
}

func TestHelpExitsZero(t *testing.T) {
	var out, errOut strings.Builder
	assert.Equal(t, 0, exitCode(t.Context(), []string{"-h"}, &out, &errOut))
	assert.Contains(t, out.String(), "-sp")
	assert.Empty(t, errOut.String())

	assert.Equal(t, 2, exitCode(t.Context(), []string{"-nope"}, io.Discard, io.Discard))
	assert.Equal(t, 2, exitCode(t.Context(), nil, io.Discard, io.Discard), "-sp is required")
}

// downAddress is an address where nothing listens.
func downAddress(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// A service that is not running is one error, before any case.
func TestServiceDown(t *testing.T) {
	sp := "http://" + downAddress(t) + "/perfil"
	var out, errOut strings.Builder
	assert.Equal(t, 2, exitCode(t.Context(), []string{"-sp", sp, "-keys", t.TempDir()}, &out, &errOut))
	assert.NotContains(t, out.String(), "FAIL")
	assert.NotContains(t, out.String(), "cases")
	msg := errOut.String()
	assert.Equal(t, 1, strings.Count(msg, "\n"), msg)
	assert.Contains(t, msg, "the service at "+sp+" does not answer: ")
	assert.Contains(t, msg, "connection refused")
	assert.Contains(t, msg, "start it, then run the kit again")
}

// A service that stops during the run stops the run at the first case that
// cannot reach it, with one error saying how far it got.
func TestServiceStopsMidRun(t *testing.T) {
	dir := keyDir(t)
	logins := 0 // the kit's requests come one after another
	srv := newWrappedAgency(t, dir, nil, func(srv *httptest.Server, next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// The check is the first GET of /perfil, then one per case:
			// the third case's login is the service's last answer. Its
			// connection closes after it, and nothing listens any more.
			if r.Method == http.MethodGet && r.URL.Path == "/perfil" {
				if logins++; logins == 4 {
					_ = srv.Listener.Close()
					srv.Config.SetKeepAlivesEnabled(false)
				}
			}
			next.ServeHTTP(w, r)
		})
	})

	var out, errOut strings.Builder
	code := exitCode(t.Context(), []string{"-sp", srv.URL + "/perfil", "-keys", dir, "-cases", "SIG"}, &out, &errOut)
	assert.Equal(t, 2, code)
	assert.NotContains(t, out.String(), "FAIL", "no case fails for the service being down")
	msg := errOut.String()
	assert.Equal(t, 1, strings.Count(msg, "\n"), msg)
	assert.Contains(t, msg, "the service at "+srv.URL+"/perfil stopped answering after 2 cases: dial tcp ")
	assert.Contains(t, msg, "start it, then run the kit again")
}
