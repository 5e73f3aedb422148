package saml

import (
	"crypto/x509"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func spTrust(spid string) ([]*x509.Certificate, error) {
	if spid != "S0000000E_E00000000" {
		return nil, fmt.Errorf("%w: %s", ErrUnknownSP, spid)
	}
	return []*x509.Certificate{spKeys.Certificate}, nil
}

func signedTestRequest(t *testing.T, mutate func(*AuthnRequest)) []byte {
	testKeys(t)
	r := &AuthnRequest{
		IssueInstant: testNow, Destination: "https://gw/Proxy2/ServiceProvider", ACSURL: testACS,
		SPID: "S0000000E_E00000000", ApplicationName: "App", LoA: LoASubstantial,
		Attributes: []RequestedAttribute{ReqPersonIdentifier, ReqDateOfBirth},
		Disabled:   []Method{MethodGISS},
	}
	if mutate != nil {
		mutate(r)
	}
	out, err := r.Sign(&Signer{Key: spKeys.Key, Certificate: spKeys.Certificate})
	require.NoError(t, err)
	return out
}

func TestParseAuthnRequest(t *testing.T) {
	pol := RequestPolicy{Now: func() time.Time { return testNow }}
	raw := signedTestRequest(t, nil)
	r, err := ParseAuthnRequest(raw, spTrust, pol)
	require.NoError(t, err)
	assert.Equal(t, testACS, r.ACSURL)
	assert.Equal(t, "App", r.ApplicationName)
	assert.Equal(t, LoASubstantial, r.LoA)
	assert.True(t, r.MethodDisabled(MethodGISS))
	assert.False(t, r.MethodDisabled(MethodAEATPIN))
	assert.True(t, r.WantsAttribute(AttrDateOfBirth))
	assert.NotEmpty(t, r.ClaveRelayState)
	assert.True(t, r.ForceAuthn)

	_, err = ParseAuthnRequest(signedTestRequest(t, func(r *AuthnRequest) { r.SPID = "OTRO" }), spTrust, pol)
	assert.ErrorIs(t, err, ErrUnknownSP)

	tampered := []byte(string(raw))
	copy(tampered[bytesIndex(tampered, testACS):], "https://evil.example.es/clav")
	_, err = ParseAuthnRequest(tampered, spTrust, pol)
	assert.ErrorIs(t, err, ErrSignatureInvalid)

	late := RequestPolicy{Now: func() time.Time { return testNow.Add(time.Hour) }}
	_, err = ParseAuthnRequest(raw, spTrust, late)
	assert.ErrorIs(t, err, ErrExpired)
	early := RequestPolicy{Now: func() time.Time { return testNow.Add(-time.Hour) }}
	_, err = ParseAuthnRequest(raw, spTrust, early)
	assert.ErrorIs(t, err, ErrNotYetValid)

	evil := &Signer{Key: evilKeys.Key, Certificate: evilKeys.Certificate}
	r2 := &AuthnRequest{IssueInstant: testNow, Destination: "d", ACSURL: testACS, SPID: "S0000000E_E00000000", ApplicationName: "A", LoA: LoALow}
	bad, err := r2.Sign(evil)
	require.NoError(t, err)
	_, err = ParseAuthnRequest(bad, spTrust, pol)
	assert.ErrorIs(t, err, ErrUntrustedKey)
}

func TestParseLogoutRequest(t *testing.T) {
	testKeys(t)
	pol := RequestPolicy{Now: func() time.Time { return testNow }}
	lr := &LogoutRequest{IssueInstant: testNow, Destination: "https://gw", ReturnURL: testACS, SPID: "S0000000E_E00000000"}
	raw, err := lr.Sign(&Signer{Key: spKeys.Key, Certificate: spKeys.Certificate})
	require.NoError(t, err)
	got, err := ParseLogoutRequest(raw, spTrust, pol)
	require.NoError(t, err)
	assert.Equal(t, testACS, got.ReturnURL)
	assert.Equal(t, lr.ID, got.ID)

	lr.ID = ""
	raw, err = lr.Sign(&Signer{Key: evilKeys.Key})
	require.NoError(t, err)
	_, err = ParseLogoutRequest(raw, spTrust, pol)
	assert.ErrorIs(t, err, ErrSignatureInvalid)
}

func bytesIndex(b []byte, s string) int {
	for i := 0; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return i
		}
	}
	return -1
}
