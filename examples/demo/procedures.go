package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/clave-go/clave"
	procedures "github.com/clave-go/clave/examples/procedures/app"
	"github.com/clave-go/clave/gateway"
	"github.com/clave-go/clave/saml"
)

// The procedures app is a second service registered at the gateway, with
// its own SPID and key: its PIN API calls are signed with that key, and the
// gateway admits them because the certificate is registered for the SPID.
const (
	proceduresSPID    = "S0000000E_E00000001"
	proceduresAppName = "TramitesDemo"
	proceduresName    = "Trámites de pruebas"
)

// proceduresDB is the SQLite file for the procedures app: path when given,
// else a file in a new temporary directory that cleanup removes.
func proceduresDB(path string) (db string, temporary bool, cleanup func(), err error) {
	if path != "" {
		return path, false, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "clave-demo-procedures-")
	if err != nil {
		return "", false, nil, err
	}
	return filepath.Join(dir, "procedures.db"), true, func() { _ = os.RemoveAll(dir) }, nil
}

// proceduresProvider registers the procedures app at the gateway.
func proceduresProvider(cert *x509.Certificate, acs string) gateway.ServiceProvider {
	return gateway.ServiceProvider{SPID: proceduresSPID, Name: proceduresName,
		Certificates: []*x509.Certificate{cert}, ACSURLs: []string{acs}}
}

// newProcedures makes examples/procedures' app for the demo's gateway: the
// SDK's Client trusting the gateway's certificate, and a PIN API client
// signing with the key registered for proceduresSPID.
func newProcedures(ctx context.Context, gw *gateway.Gateway, gatewayURL, acs string, key crypto.Signer,
	cert *x509.Certificate, db string, log *slog.Logger) (*procedures.App, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	client, err := clave.New(clave.Config{
		Environment: clave.Custom, GatewayURL: gw.Endpoint(), GatewayIssuer: gw.Issuer(),
		GatewayCertificates: saml.StaticCertificates(gw.TrustedCertificates()),
		SPID:                proceduresSPID, ApplicationName: proceduresAppName, ACSURL: acs,
		Key: key, Certificate: cert, CookieSecret: secret,
		LoA: saml.LoALow, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	pc := &clave.PINClient{GatewayBaseURL: gatewayURL, SPID: proceduresSPID, Key: key,
		HTTPClient: &http.Client{Timeout: 30 * time.Second}}
	return procedures.New(ctx, procedures.Config{Client: client, PIN: pc, ACSURL: acs, LoA: saml.LoALow,
		SAML: true, DB: db, Logger: log})
}
