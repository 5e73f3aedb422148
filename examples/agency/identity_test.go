package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/clavetest"
)

// TestAgencyRefusesForgedIdentities runs the example agency, configured by
// its flags as a person would, against an in-process gateway that answers
// with responses whose identity is wrong in one way each: the agency's ACS
// must refuse every one, and log in nobody.
func TestAgencyRefusesForgedIdentities(t *testing.T) {
	gw := clavetest.NewGateway()
	defer gw.Close()
	var handler http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	defer srv.Close()
	acs := srv.URL + "/clave/acs"
	gw.Config(acs) // registers the agency's ACS at the gateway

	dir := t.TempDir()
	pemFile := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
		return p
	}
	key, err := x509.MarshalPKCS8PrivateKey(gw.AgencyKey())
	require.NoError(t, err)
	var gwCerts []byte
	for _, c := range gw.TrustedCertificates() {
		gwCerts = append(gwCerts, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	gwCertFile := filepath.Join(dir, "gw.pem")
	require.NoError(t, os.WriteFile(gwCertFile, gwCerts, 0o600))

	o, err := parseFlags([]string{"-env", "custom", "-gateway-url", gw.Endpoint(), "-gateway-issuer", gw.Issuer(),
		"-gateway-cert", gwCertFile, "-key", pemFile("sp.key", "PRIVATE KEY", key),
		"-cert", pemFile("sp.crt", "CERTIFICATE", gw.AgencyCertificate().Raw),
		"-provider-name", clavetest.SPID + ";AgenciaDemo", "-acs-url", acs})
	require.NoError(t, err)
	cfg, _, err := buildConfig(o, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	cfg.Now = gw.Gateway.Now
	c, err := clave.New(cfg)
	require.NoError(t, err)
	handler = site(c)

	ctx := context.Background()
	approves := clavetest.Persona("99999901H")
	page, status, err := gw.Browser().LogIn(ctx, srv.URL+"/perfil", approves)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status, "the genuine response logs in: %s", page)
	require.Contains(t, page, "99999901H")

	for _, id := range []string{
		"CLV-13", // no PersonIdentifier
		"CLV-14", // no PersonIdentifier, NameID another citizen's DNI
		"CLV-15", // empty PersonIdentifier
		"CLV-16", // two values
		"CLV-17", // wrong check letter
		"CLV-18", // empty NameID
		"CLV-19", // required FamilyName missing
		"CLV-20", // second PersonIdentifier in another AttributeStatement
		"CLV-22", "CLV-23", "CLV-24", "CLV-25", "CLV-26", "CLV-27", "CLV-28", "CLV-29", "CLV-30",
	} {
		t.Run(id, func(t *testing.T) {
			require.NoError(t, gw.ArmFault(clavetest.SPID, id))
			b := gw.Browser()
			page, status, err := b.LogIn(ctx, srv.URL+"/perfil", approves)
			require.NoError(t, err)
			assert.Equal(t, http.StatusForbidden, status, "refused by the ACS")
			assert.NotContains(t, page, "99999901H")
			// Nobody is logged in afterwards either.
			resp, err := b.HTTP.Get(srv.URL + "/")
			require.NoError(t, err)
			home, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Contains(t, string(home), "Entrar con Cl@ve", "no session")
		})
	}
}
