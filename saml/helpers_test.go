package saml

import (
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/pki"
)

// Fixed test instants: the injected clock of every validation test.
var (
	testNow   = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	testACS   = "https://sede.example.es/clave/acs"
	testIdP   = PreproductionIssuer
	testReqID = "_6c1f0a7e3b8e4f379d0e2a4f1b9d7c11"
)

var (
	keysOnce                            sync.Once
	idpKeys, idpKeys2, spKeys, evilKeys *pki.KeyPair
)

// testKeys generates the RSA keys once per test binary; generation is the slow
// part of these tests.
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

// gatewayParams is a successful login shaped like the real capture.
func gatewayParams() ResponseParams {
	return ResponseParams{
		ID:             "_resp1",
		AssertionID:    "_assert1",
		InResponseTo:   testReqID,
		Destination:    testACS,
		Issuer:         testIdP,
		IssueInstant:   testNow.Add(-2 * time.Second),
		NameID:         NameID{Value: "12345678Z"},
		SubjectAddress: "10.0.0.1",
		LoA:            LoASubstantial,
		Attributes: []Attribute{
			{Name: AttrCurrentFamilyName, FriendlyName: "FamilyName", XSIType: "eidas-natural:CurrentFamilyNameType", Values: []string{"GARCIA LOPEZ"}},
			{Name: AttrCurrentGivenName, FriendlyName: "FirstName", XSIType: "eidas-natural:CurrentGivenNameType", Values: []string{"MARIA"}},
			{Name: AttrPersonIdentifier, FriendlyName: "PersonIdentifier", XSIType: "eidas-natural:PersonIdentifierType", Values: []string{"12345678Z"}},
			{Name: AttrFirstSurname, FriendlyName: "FirstSurname", Values: []string{"GARCIA"}},
			{Name: AttrSelectedIdP, FriendlyName: "SelectedIdP", Values: []string{"AEAT"}},
		},
	}
}

// buildSigned returns a response document secured as sec says (signed by the
// gateway key when sec.Signer is nil).
func buildSigned(t testing.TB, p ResponseParams, sec ResponseSecurity) *etree.Document {
	t.Helper()
	testKeys(t)
	doc, err := BuildResponse(p)
	require.NoError(t, err)
	if sec.Signer == nil {
		sec.Signer = &Signer{Key: idpKeys.Key, Certificate: idpKeys.Certificate}
	}
	require.NoError(t, SecureResponse(doc, sec))
	return doc
}

func docBytes(t testing.TB, doc *etree.Document) []byte {
	t.Helper()
	b, err := doc.WriteToBytes()
	require.NoError(t, err)
	return b
}

func testValidator() *Validator {
	return &Validator{
		Trust:          StaticCertificates{idpKeys.Certificate},
		ACSURL:         testACS,
		Issuer:         testIdP,
		DecryptionKeys: nil,
		Now:            func() time.Time { return testNow },
	}
}
