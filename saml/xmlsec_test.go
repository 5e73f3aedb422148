package saml_test

import (
	"bytes"
	"crypto"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/pki"
	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/saml"
)

// The tests in this file check our signatures with an independent
// implementation, xmlsec1 (libxmlsec1 over OpenSSL), so a canonicalisation or
// digest mistake shared by our signer and our verifier cannot go unnoticed.

// requireXMLSec returns the path of xmlsec1. Without it the test is skipped,
// unless CLAVE_REQUIRE_XMLSEC is set (CI machines that have it set it, so a
// broken install fails instead of silently skipping).
func requireXMLSec(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("xmlsec1")
	if err == nil {
		return path
	}
	if os.Getenv("CLAVE_REQUIRE_XMLSEC") != "" {
		t.Fatalf("xmlsec1 not found but CLAVE_REQUIRE_XMLSEC is set: %v", err)
	}
	t.Skipf("xmlsec1 not found (%v); install xmlsec1 to run interoperability tests", err)
	return ""
}

// xmlsecVerify verifies the first enveloped signature of xml with xmlsec1,
// trusting only the public key of certPEM. idAttr names the element whose ID
// attribute the Reference points at, as "<namespace URI>:<local name>".
func xmlsecVerify(t testing.TB, xml, certPEM []byte, idAttr string) error {
	t.Helper()
	return xmlsecVerifyNode(t, xml, certPEM, []string{idAttr}, "")
}

// xmlsecVerifyNode is xmlsecVerify with several ID-carrying elements and, when
// xpath is not empty, the Signature to verify chosen by that expression.
func xmlsecVerifyNode(t testing.TB, xml, certPEM []byte, idAttrs []string, xpath string) error {
	t.Helper()
	bin := requireXMLSec(t)
	dir := t.TempDir()
	certFile := filepath.Join(dir, "cert.pem")
	xmlFile := filepath.Join(dir, "doc.xml")
	require.NoError(t, os.WriteFile(certFile, certPEM, 0o600))
	require.NoError(t, os.WriteFile(xmlFile, xml, 0o600))
	args := []string{"--verify",
		// Only the key we load: the certificate in KeyInfo must not be used to
		// find the key, as our verifier never uses it either.
		"--enabled-key-data", "key-name,rsa",
		"--pubkey-cert-pem", certFile,
		// The Reference must point inside this document.
		"--enabled-reference-uris", "same-doc",
	}
	for _, a := range idAttrs {
		args = append(args, "--id-attr:ID", a)
	}
	if xpath != "" {
		args = append(args, "--node-xpath", xpath)
	}
	args = append(args, xmlFile)
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("xmlsec1 %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if !bytes.Contains(out, []byte("OK")) {
		return fmt.Errorf("xmlsec1 did not report OK:\n%s", out)
	}
	return nil
}

const (
	idAuthnRequest  = saml.NSProtocol + ":AuthnRequest"
	idResponse      = saml.NSProtocol + ":Response"
	idLogoutRequest = saml.NSProtocol + ":LogoutRequest"
	idAssertion     = saml.NSAssertion + ":Assertion"
)

func TestXMLSecAuthnRequest(t *testing.T) {
	requireXMLSec(t)
	testKeys(t)
	for _, tc := range []struct {
		name string
		hash crypto.Hash
	}{
		{"sha512 default", 0},
		{"sha256 option", crypto.SHA256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := goldenRequest()
			raw, err := r.Sign(&saml.Signer{Key: spKeys.Key, Certificate: spKeys.Certificate, Hash: tc.hash})
			require.NoError(t, err)
			require.NoError(t, xmlsecVerify(t, raw, pki.CertificatePEM(spKeys.Certificate), idAuthnRequest))
			// Another key must not verify it: the check is really against the key
			// we load, not the certificate in KeyInfo. The digest still matches.
			err = xmlsecVerify(t, raw, pki.CertificatePEM(evilKeys.Certificate), idAuthnRequest)
			assert.ErrorContains(t, err, "References (ok/all): 1/1")
		})
	}
}

func TestXMLSecDetectsTampering(t *testing.T) {
	requireXMLSec(t)
	testKeys(t)
	r := goldenRequest()
	raw, err := r.Sign(&saml.Signer{Key: spKeys.Key, Certificate: spKeys.Certificate})
	require.NoError(t, err)
	require.NoError(t, xmlsecVerify(t, raw, pki.CertificatePEM(spKeys.Certificate), idAuthnRequest))

	doc := etree.NewDocument()
	require.NoError(t, doc.ReadFromBytes(raw))
	acs := doc.Root().SelectAttr("AssertionConsumerServiceURL")
	require.NotNil(t, acs)
	acs.Value = "https://evil.example.com/acs"
	tampered, err := doc.WriteToBytes()
	require.NoError(t, err)
	err = xmlsecVerify(t, tampered, pki.CertificatePEM(spKeys.Certificate), idAuthnRequest)
	// The reference digest, not some usage error, is what fails.
	assert.ErrorContains(t, err, "References (ok/all): 0/1")
}

func TestXMLSecResponse(t *testing.T) {
	requireXMLSec(t)
	testKeys(t)
	cert := pki.CertificatePEM(idpKeys.Certificate)

	t.Run("response signed", func(t *testing.T) {
		raw := docBytes(t, buildSigned(t, gatewayParams(), samlidp.ResponseSecurity{SignResponse: true}))
		require.NoError(t, xmlsecVerify(t, raw, cert, idResponse))
	})
	t.Run("response and assertion signed", func(t *testing.T) {
		raw := docBytes(t, buildSigned(t, gatewayParams(), samlidp.ResponseSecurity{SignResponse: true, SignAssertion: true}))
		ids := []string{idResponse, idAssertion}
		require.NoError(t, xmlsecVerifyNode(t, raw, cert, ids,
			"/*[local-name()='Response']/*[local-name()='Signature']"))
		require.NoError(t, xmlsecVerifyNode(t, raw, cert, ids,
			"/*[local-name()='Response']/*[local-name()='Assertion']/*[local-name()='Signature']"))
	})
}

func TestXMLSecLogoutRequest(t *testing.T) {
	requireXMLSec(t)
	testKeys(t)
	r := &saml.LogoutRequest{
		ID:           "_logout1",
		IssueInstant: testNow,
		Destination:  saml.PreproductionURL,
		ReturnURL:    "https://sede.example.es/clave/logout",
		SPID:         "S0000000E_E00000000",
	}
	raw, err := r.Sign(&saml.Signer{Key: spKeys.Key, Certificate: spKeys.Certificate})
	require.NoError(t, err)
	require.NoError(t, xmlsecVerify(t, raw, pki.CertificatePEM(spKeys.Certificate), idLogoutRequest))
}
