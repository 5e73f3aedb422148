package samlidp_test

import (
	"crypto/x509"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/saml"
)

func spTrust(spid string) ([]*x509.Certificate, error) {
	if spid != "S0000000E_E00000000" {
		return nil, fmt.Errorf("%w: %s", samlidp.ErrUnknownSP, spid)
	}
	return []*x509.Certificate{spKeys.Certificate}, nil
}

func signedTestRequest(t *testing.T, mutate func(*saml.AuthnRequest)) []byte {
	testKeys(t)
	r := &saml.AuthnRequest{
		IssueInstant: testNow, Destination: "https://gw/Proxy2/ServiceProvider", ACSURL: testACS,
		SPID: "S0000000E_E00000000", ApplicationName: "App", LoA: saml.LoASubstantial,
		Attributes: []saml.RequestedAttribute{saml.ReqPersonIdentifier, saml.ReqDateOfBirth},
		Disabled:   []saml.Method{saml.MethodGISS},
	}
	if mutate != nil {
		mutate(r)
	}
	out, err := r.Sign(&saml.Signer{Key: spKeys.Key, Certificate: spKeys.Certificate})
	require.NoError(t, err)
	return out
}

func TestParseAuthnRequest(t *testing.T) {
	pol := samlidp.RequestPolicy{Now: func() time.Time { return testNow }}
	raw := signedTestRequest(t, nil)
	r, err := samlidp.ParseAuthnRequest(raw, spTrust, pol)
	require.NoError(t, err)
	assert.Equal(t, testACS, r.ACSURL)
	assert.Equal(t, "App", r.ApplicationName)
	assert.Equal(t, saml.LoASubstantial, r.LoA)
	assert.True(t, r.MethodDisabled(saml.MethodGISS))
	assert.False(t, r.MethodDisabled(saml.MethodAEATPIN))
	assert.True(t, r.WantsAttribute(saml.AttrDateOfBirth))
	assert.NotEmpty(t, r.ClaveRelayState)
	assert.True(t, r.ForceAuthn)

	_, err = samlidp.ParseAuthnRequest(signedTestRequest(t, func(r *saml.AuthnRequest) { r.SPID = "OTRO" }), spTrust, pol)
	assert.ErrorIs(t, err, samlidp.ErrUnknownSP)

	tampered := []byte(string(raw))
	copy(tampered[bytesIndex(tampered, testACS):], "https://evil.example.es/clav")
	_, err = samlidp.ParseAuthnRequest(tampered, spTrust, pol)
	assert.ErrorIs(t, err, saml.ErrSignatureInvalid)

	late := samlidp.RequestPolicy{Now: func() time.Time { return testNow.Add(time.Hour) }}
	_, err = samlidp.ParseAuthnRequest(raw, spTrust, late)
	assert.ErrorIs(t, err, saml.ErrExpired)
	early := samlidp.RequestPolicy{Now: func() time.Time { return testNow.Add(-time.Hour) }}
	_, err = samlidp.ParseAuthnRequest(raw, spTrust, early)
	assert.ErrorIs(t, err, saml.ErrNotYetValid)

	evil := &saml.Signer{Key: evilKeys.Key, Certificate: evilKeys.Certificate}
	r2 := &saml.AuthnRequest{IssueInstant: testNow, Destination: "d", ACSURL: testACS, SPID: "S0000000E_E00000000", ApplicationName: "A", LoA: saml.LoALow}
	bad, err := r2.Sign(evil)
	require.NoError(t, err)
	_, err = samlidp.ParseAuthnRequest(bad, spTrust, pol)
	assert.ErrorIs(t, err, saml.ErrUntrustedKey)
}

func TestParseLogoutRequest(t *testing.T) {
	testKeys(t)
	pol := samlidp.RequestPolicy{Now: func() time.Time { return testNow }}
	lr := &saml.LogoutRequest{IssueInstant: testNow, Destination: "https://gw", ReturnURL: testACS, SPID: "S0000000E_E00000000"}
	raw, err := lr.Sign(&saml.Signer{Key: spKeys.Key, Certificate: spKeys.Certificate})
	require.NoError(t, err)
	got, err := samlidp.ParseLogoutRequest(raw, spTrust, pol)
	require.NoError(t, err)
	assert.Equal(t, testACS, got.ReturnURL)
	assert.Equal(t, lr.ID, got.ID)

	lr.ID = ""
	raw, err = lr.Sign(&saml.Signer{Key: evilKeys.Key})
	require.NoError(t, err)
	_, err = samlidp.ParseLogoutRequest(raw, spTrust, pol)
	assert.ErrorIs(t, err, saml.ErrSignatureInvalid)
}

func bytesIndex(b []byte, s string) int {
	for i := 0; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return i
		}
	}
	return -1
}
