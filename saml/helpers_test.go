package saml_test

import (
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/faults"
	"github.com/clave-go/clave/internal/pki"
	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/saml"
)

// Fixed test instants: the injected clock of every validation test.
var (
	testNow   = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	testACS   = "https://sede.example.es/clave/acs"
	testIdP   = saml.PreproductionIssuer
	testReqID = "_6c1f0a7e3b8e4f379d0e2a4f1b9d7c11"
)

var (
	keysOnce                            sync.Once
	idpKeys, idpKeys2, spKeys, evilKeys *pki.KeyPair
)

// testKeys generates the RSA keys once per test binary; generation is the slow
// part of these tests. idpKeys is the gateway's current key, idpKeys2 its next
// one, spKeys the service's encryption key and evilKeys an attacker's.
func testKeys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		nb := testNow.Add(-24 * time.Hour)
		var err error
		mk := func(cn string) *pki.KeyPair {
			kp, e := pki.Generate(cn, 2048, nb, 3*365*24*time.Hour)
			if e != nil {
				err = e
			}
			return kp
		}
		idpKeys, idpKeys2, spKeys, evilKeys = mk("SELLO PASARELA PRUEBAS"), mk("SELLO PASARELA PRUEBAS 2"), mk("SP PRUEBAS"), mk("ATACANTE")
		if err != nil {
			panic(err)
		}
	})
}

func signerOf(kp *pki.KeyPair) *saml.Signer {
	return &saml.Signer{Key: kp.Key, Certificate: kp.Certificate}
}

// catalogueKeys are the test keys as the fault catalogue names them.
func catalogueKeys(t testing.TB) faults.Keys {
	testKeys(t)
	pair := func(kp *pki.KeyPair) *faults.KeyPair {
		return &faults.KeyPair{Key: kp.Key, Certificate: kp.Certificate}
	}
	return faults.Keys{Trusted: pair(idpKeys), Next: pair(idpKeys2), Untrusted: pair(evilKeys)}
}

// gatewayParams is a successful login shaped like the real capture.
func gatewayParams() samlidp.ResponseParams {
	return samlidp.ResponseParams{
		ID:             "_resp1",
		AssertionID:    "_assert1",
		InResponseTo:   testReqID,
		Destination:    testACS,
		Issuer:         testIdP,
		IssueInstant:   testNow.Add(-2 * time.Second),
		NameID:         saml.NameID{Value: "12345678Z"},
		SubjectAddress: "10.0.0.1",
		LoA:            saml.LoASubstantial,
		Attributes: []saml.Attribute{
			{Name: saml.AttrCurrentFamilyName, FriendlyName: "FamilyName", XSIType: "eidas-natural:CurrentFamilyNameType", Values: []string{"GARCIA LOPEZ"}},
			{Name: saml.AttrCurrentGivenName, FriendlyName: "FirstName", XSIType: "eidas-natural:CurrentGivenNameType", Values: []string{"MARIA"}},
			{Name: saml.AttrPersonIdentifier, FriendlyName: "PersonIdentifier", XSIType: "eidas-natural:PersonIdentifierType", Values: []string{"12345678Z"}},
			{Name: saml.AttrFirstSurname, FriendlyName: "FirstSurname", Values: []string{"GARCIA"}},
			{Name: saml.AttrSelectedIdP, FriendlyName: "SelectedIdP", Values: []string{"AEAT"}},
		},
	}
}

// buildSigned returns a response document secured as sec says (signed by the
// gateway key when sec.Signer is nil).
func buildSigned(t testing.TB, p samlidp.ResponseParams, sec samlidp.ResponseSecurity) *etree.Document {
	t.Helper()
	testKeys(t)
	doc, err := samlidp.BuildResponse(p)
	require.NoError(t, err)
	if sec.Signer == nil {
		sec.Signer = signerOf(idpKeys)
	}
	require.NoError(t, samlidp.SecureResponse(doc, sec))
	return doc
}

func docBytes(t testing.TB, doc *etree.Document) []byte {
	t.Helper()
	b, err := doc.WriteToBytes()
	require.NoError(t, err)
	return b
}

// testValidator trusts the gateway's current key only.
func testValidator() *saml.Validator {
	return &saml.Validator{
		Trust:  saml.StaticCertificates{idpKeys.Certificate},
		ACSURL: testACS,
		Issuer: testIdP,
		Now:    func() time.Time { return testNow },
	}
}
