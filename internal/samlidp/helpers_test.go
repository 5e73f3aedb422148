package samlidp_test

import (
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/pki"
	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/saml"
)

// Fixed test instants: the injected clock of every test.
var (
	testNow   = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	testACS   = "https://sede.example.es/clave/acs"
	testIdP   = saml.PreproductionIssuer
	testReqID = "_6c1f0a7e3b8e4f379d0e2a4f1b9d7c11"
)

var (
	keysOnce                  sync.Once
	idpKeys, spKeys, evilKeys *pki.KeyPair
)

// testKeys generates the RSA keys once per test binary: the gateway's, a
// service's and an attacker's.
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
		idpKeys, spKeys, evilKeys = mk("SELLO PASARELA PRUEBAS"), mk("SP PRUEBAS"), mk("ATACANTE")
		if err != nil {
			panic(err)
		}
	})
}

// Paths below a Response or an Assertion, with the prefixes BuildResponse
// writes.
const (
	pAssertion    = "./saml2:Assertion"
	pSig          = "./ds:Signature"
	pSigMethod    = "./ds:SignedInfo/ds:SignatureMethod"
	pDigestMethod = "./ds:SignedInfo/ds:Reference/ds:DigestMethod"
	pC14NMethod   = "./ds:SignedInfo/ds:CanonicalizationMethod"
	pStatus       = "./saml2p:Status"
	pNameID       = "./saml2:Subject/saml2:NameID"

	algC14N10 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
)

// The attacker's identity.
const evilNIF = "99999999R"

var (
	secResponse  = samlidp.ResponseSecurity{SignResponse: true}
	secAssertion = samlidp.ResponseSecurity{SignAssertion: true}
)

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
		sec.Signer = &saml.Signer{Key: idpKeys.Key, Certificate: idpKeys.Certificate}
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

// testValidator is a service's Validator trusting the gateway key.
func testValidator() *saml.Validator {
	return &saml.Validator{
		Trust:  saml.StaticCertificates{idpKeys.Certificate},
		ACSURL: testACS,
		Issuer: testIdP,
		Now:    func() time.Time { return testNow },
	}
}

func find(t *testing.T, el *etree.Element, path string) *etree.Element {
	t.Helper()
	f := el.FindElement(path)
	require.NotNil(t, f, "no %s below <%s>", path, el.Tag)
	return f
}

func remove(t *testing.T, el *etree.Element, path string) {
	t.Helper()
	f := find(t, el, path)
	f.Parent().RemoveChild(f)
}

func setAlg(path, alg string) func(sig *etree.Element) {
	return func(sig *etree.Element) { sig.FindElement(path).CreateAttr("Algorithm", alg) }
}
