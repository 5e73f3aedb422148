package saml_test

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/samlcore"
	"github.com/clave-go/clave/saml"
)

// update regenerates golden files: go test ./saml -run Golden -update
var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const (
	testSPID    = "S0000000E_E00000000"
	testAppName = "MiAplicacion"
)

// goldenRequest is a request with every varying part fixed. IssueInstant is
// given in Madrid time on purpose: the wire form must be UTC.
func goldenRequest() *saml.AuthnRequest {
	madrid := time.FixedZone("CET", 3600)
	return &saml.AuthnRequest{
		ID:              "_6c1f0a7e3b8e4f379d0e2a4f1b9d7c11",
		IssueInstant:    time.Date(2026, 3, 1, 11, 0, 0, 0, madrid),
		Destination:     saml.PreproductionURL,
		ACSURL:          testACS,
		SPID:            testSPID,
		ApplicationName: testAppName,
		Issuer:          testACS,
		LoA:             saml.LoASubstantial,
		Attributes:      []saml.RequestedAttribute{saml.ReqPersonIdentifier, saml.ReqCurrentGivenName, saml.ReqCurrentFamilyName, saml.ReqFirstSurname},
		Disabled:        []saml.Method{saml.MethodGISS, saml.MethodEIDAS},
		ClaveRelayState: "k3J9xQ2a",
	}
}

// TestAuthnRequestGolden compares the unsigned request with
// testdata/authnrequest.golden.xml. The signed form cannot be golden: the test
// keys are generated per run. The golden file is indented for review; Build
// itself writes no whitespace between elements.
func TestAuthnRequestGolden(t *testing.T) {
	doc, err := goldenRequest().Build()
	require.NoError(t, err)
	raw, err := doc.WriteToBytes()
	require.NoError(t, err)
	assert.NotContains(t, string(raw[bytes.IndexByte(raw, '>')+1:]), "\n", "Build writes no whitespace")

	doc.Indent(2)
	got, err := doc.WriteToBytes()
	require.NoError(t, err)
	golden := filepath.Join("testdata", "authnrequest.golden.xml")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(golden, got, 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "run go test ./saml -run Golden -update to create it")
	assert.Equal(t, string(want), string(got))
}

// children returns the child elements of el as "prefix:tag" names.
func childNames(el *etree.Element) []string {
	var n []string
	for _, c := range el.ChildElements() {
		n = append(n, c.FullTag())
	}
	return n
}

func parseSigned(t *testing.T, raw []byte) *etree.Element {
	t.Helper()
	doc, err := samlcore.ParseXML(raw, 0) // our own safe parser must accept what we send
	require.NoError(t, err)
	return doc.Root()
}

func TestAuthnRequestSignedStructure(t *testing.T) {
	testKeys(t)
	r := goldenRequest()
	raw, err := r.Sign(&saml.Signer{Key: spKeys.Key, Certificate: spKeys.Certificate})
	require.NoError(t, err)
	root := parseSigned(t, raw)

	assert.Equal(t, "AuthnRequest", root.Tag)
	assert.Equal(t, saml.NSProtocol, root.NamespaceURI())
	attrs := map[string]string{
		"ID":                          "_6c1f0a7e3b8e4f379d0e2a4f1b9d7c11",
		"Version":                     "2.0",
		"IssueInstant":                "2026-03-01T10:00:00.000Z",
		"Destination":                 saml.PreproductionURL,
		"AssertionConsumerServiceURL": testACS,
		"ProviderName":                "S0000000E_E00000000;MiAplicacion",
		"ForceAuthn":                  "true",
		"IsPassive":                   "false",
		"Consent":                     saml.ConsentUnspecified,
		// Declared although no element uses it: it appears inside xsi:type.
		"xmlns:eidas-natural": saml.NSEIDASNatural,
		"xmlns:eidas":         saml.NSEIDAS,
	}
	for k, v := range attrs {
		assert.Equal(t, v, root.SelectAttrValue(k, "<missing>"), k)
	}
	_, err = time.Parse(time.RFC3339, root.SelectAttrValue("IssueInstant", ""))
	assert.NoError(t, err)

	assert.Equal(t, []string{"saml2:Issuer", "ds:Signature", "saml2p:Extensions", "saml2p:NameIDPolicy",
		"saml2p:RequestedAuthnContext"}, childNames(root))
	kids := root.ChildElements()
	assert.Equal(t, saml.NSAssertion, kids[0].NamespaceURI())
	assert.Equal(t, testACS, kids[0].Text())
	assert.Equal(t, saml.NameIDEntity, kids[0].SelectAttrValue("Format", ""))

	checkSignature(t, kids[1], saml.AlgRSASHA512, saml.AlgSHA512, "#_6c1f0a7e3b8e4f379d0e2a4f1b9d7c11")

	ext := kids[2]
	assert.Equal(t, []string{"eidas:SPType", "eidas:RequestedAttributes"}, childNames(ext))
	assert.Equal(t, "public", ext.ChildElements()[0].Text())
	var (
		names    []string
		disabled = map[saml.Method]bool{}
		relay    *etree.Element
	)
	for _, ra := range ext.ChildElements()[1].ChildElements() {
		require.Equal(t, "RequestedAttribute", ra.Tag)
		assert.Equal(t, saml.NSEIDAS, ra.NamespaceURI())
		assert.Equal(t, saml.AttrNameFormatURI, ra.SelectAttrValue("NameFormat", ""))
		assert.Contains(t, []string{"true", "false"}, ra.SelectAttrValue("isRequired", ""))
		name := ra.SelectAttrValue("Name", "")
		names = append(names, name)
		if m, ok := saml.MethodForDisableAttribute(name); ok {
			assert.Empty(t, ra.ChildElements(), "a disabling attribute carries no value")
			assert.Equal(t, "false", ra.SelectAttrValue("isRequired", ""))
			disabled[m] = true
		}
		if name == saml.AttrRelayState {
			relay = ra
		}
	}
	assert.Equal(t, map[saml.Method]bool{saml.MethodGISS: true, saml.MethodEIDAS: true}, disabled)
	for _, a := range []string{saml.AttrPersonIdentifier, saml.AttrCurrentGivenName, saml.AttrCurrentFamilyName, saml.AttrFirstSurname} {
		assert.Contains(t, names, a)
	}
	require.NotNil(t, relay, "RelayState attribute")
	require.Len(t, relay.ChildElements(), 1)
	val := relay.ChildElements()[0]
	assert.Equal(t, "eidas:AttributeValue", val.FullTag())
	assert.Equal(t, "eidas-natural:PersonIdentifierType", val.SelectAttrValue("xsi:type", ""))
	assert.Equal(t, saml.NSXSI, val.SelectAttrValue("xmlns:xsi", ""))
	assert.Equal(t, "k3J9xQ2a", val.Text())

	nip := kids[3]
	assert.Equal(t, "true", nip.SelectAttrValue("AllowCreate", ""))
	assert.Equal(t, saml.NameIDPersistent, nip.SelectAttrValue("Format", ""))
	rac := kids[4]
	assert.Equal(t, "minimum", rac.SelectAttrValue("Comparison", ""))
	require.Len(t, rac.ChildElements(), 1)
	assert.Equal(t, "saml2:AuthnContextClassRef", rac.ChildElements()[0].FullTag())
	assert.Equal(t, saml.LoASubstantialURI, rac.ChildElements()[0].Text())
}

// checkSignature asserts the shape the gateway expects of an enveloped signature.
func checkSignature(t *testing.T, sig *etree.Element, sigAlg, digestAlg, uri string) {
	t.Helper()
	require.Equal(t, "Signature", sig.Tag)
	require.Equal(t, saml.NSDSig, sig.NamespaceURI())
	assert.Equal(t, []string{"ds:SignedInfo", "ds:SignatureValue", "ds:KeyInfo"}, childNames(sig))
	si := sig.SelectElement("SignedInfo")
	require.NotNil(t, si)
	assert.Equal(t, []string{"ds:CanonicalizationMethod", "ds:SignatureMethod", "ds:Reference"}, childNames(si))
	assert.Equal(t, saml.AlgExcC14N, si.SelectElement("CanonicalizationMethod").SelectAttrValue("Algorithm", ""))
	assert.Equal(t, sigAlg, si.SelectElement("SignatureMethod").SelectAttrValue("Algorithm", ""))
	refs := si.SelectElements("Reference")
	require.Len(t, refs, 1)
	ref := refs[0]
	assert.Equal(t, uri, ref.SelectAttrValue("URI", ""))
	tr := ref.SelectElement("Transforms")
	require.NotNil(t, tr)
	var algs []string
	for _, x := range tr.SelectElements("Transform") {
		algs = append(algs, x.SelectAttrValue("Algorithm", ""))
	}
	assert.Equal(t, []string{saml.AlgEnveloped, saml.AlgExcC14N}, algs)
	assert.Equal(t, digestAlg, ref.SelectElement("DigestMethod").SelectAttrValue("Algorithm", ""))
	dv, err := base64.StdEncoding.DecodeString(ref.SelectElement("DigestValue").Text())
	require.NoError(t, err)
	assert.Len(t, dv, digestSize[digestAlg])
	sv, err := base64.StdEncoding.DecodeString(sig.SelectElement("SignatureValue").Text())
	require.NoError(t, err)
	assert.Len(t, sv, 256, "RSA-2048 signature")
	cert := sig.FindElement("./KeyInfo/X509Data/X509Certificate")
	require.NotNil(t, cert, "X509Certificate")
	der, err := base64.StdEncoding.DecodeString(cert.Text())
	require.NoError(t, err)
	assert.Equal(t, spKeys.Certificate.Raw, der)
}

var digestSize = map[string]int{saml.AlgSHA256: 32, saml.AlgSHA512: 64}

func TestAuthnRequestSHA256Option(t *testing.T) {
	testKeys(t)
	raw, err := goldenRequest().Sign(&saml.Signer{Key: spKeys.Key, Certificate: spKeys.Certificate, Hash: crypto.SHA256})
	require.NoError(t, err)
	root := parseSigned(t, raw)
	checkSignature(t, root.ChildElements()[1], saml.AlgRSASHA256, saml.AlgSHA256, "#_6c1f0a7e3b8e4f379d0e2a4f1b9d7c11")

	_, err = goldenRequest().Sign(&saml.Signer{Key: spKeys.Key, Hash: crypto.SHA1})
	assert.Error(t, err, "SHA-1 is not offered")
}

func TestAuthnRequestWithoutIssuerSignsFirst(t *testing.T) {
	testKeys(t)
	r := goldenRequest()
	r.Issuer = ""
	raw, err := r.Sign(&saml.Signer{Key: spKeys.Key, Certificate: spKeys.Certificate})
	require.NoError(t, err)
	assert.Equal(t, []string{"ds:Signature", "saml2p:Extensions", "saml2p:NameIDPolicy",
		"saml2p:RequestedAuthnContext"}, childNames(parseSigned(t, raw)))
}

func TestAuthnRequestDisablesEachMethod(t *testing.T) {
	for _, m := range saml.Methods {
		t.Run(string(m), func(t *testing.T) {
			r := goldenRequest()
			r.Disabled = []saml.Method{m}
			doc, err := r.Build()
			require.NoError(t, err)
			var got []saml.Method
			for _, ra := range doc.FindElements("//RequestedAttribute") {
				if d, ok := saml.MethodForDisableAttribute(ra.SelectAttrValue("Name", "")); ok {
					got = append(got, d)
				}
			}
			assert.Equal(t, []saml.Method{m}, got)
		})
	}
}

func TestAuthnRequestGeneratesIDs(t *testing.T) {
	r := goldenRequest()
	r.ID, r.ClaveRelayState = "", ""
	doc, err := r.Build()
	require.NoError(t, err)
	assert.Regexp(t, `^_[0-9a-f]{40}$`, doc.Root().SelectAttrValue("ID", ""))
	assert.Equal(t, r.ID, doc.Root().SelectAttrValue("ID", ""))
	assert.Len(t, r.ClaveRelayState, 16)
	assert.NotEqual(t, r.ID[1:17], r.ClaveRelayState, "independent of the ID")
}

func TestAuthnRequestCheck(t *testing.T) {
	_, err := goldenRequest().Build()
	require.NoError(t, err, "the base request is valid")
	for _, tc := range []struct {
		name   string
		mutate func(*saml.AuthnRequest)
		msg    string
	}{
		{"missing ACS", func(r *saml.AuthnRequest) { r.ACSURL = "" }, "ACS"},
		{"missing destination", func(r *saml.AuthnRequest) { r.Destination = "" }, "Destination"},
		{"missing SPID", func(r *saml.AuthnRequest) { r.SPID = "" }, "SPID"},
		{"SPID with ;", func(r *saml.AuthnRequest) { r.SPID = "S0000000E_E00000000;Otra" }, "SPID"},
		{"missing application", func(r *saml.AuthnRequest) { r.ApplicationName = "" }, "application"},
		{"no LoA", func(r *saml.AuthnRequest) { r.LoA = 0 }, "level of assurance"},
		{"LoA out of range", func(r *saml.AuthnRequest) { r.LoA = saml.LoAHigh + 1 }, "level of assurance"},
		{"unknown method", func(r *saml.AuthnRequest) { r.Disabled = []saml.Method{saml.MethodGISS, "CLAVEPIN"} }, "CLAVEPIN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := goldenRequest()
			tc.mutate(r)
			doc, err := r.Build()
			assert.ErrorContains(t, err, tc.msg)
			assert.Nil(t, doc)
			_, err = r.Sign(&saml.Signer{})
			assert.ErrorContains(t, err, tc.msg, "Sign checks before it signs")
		})
	}
}
