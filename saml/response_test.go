package saml_test

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/saml"
)

func TestValidateGatewayShapedResponse(t *testing.T) {
	doc := buildSigned(t, gatewayParams(), samlidp.ResponseSecurity{SignResponse: true})
	raw := docBytes(t, doc)
	a, err := testValidator().ValidateResponse(raw, saml.Expectation{RequestID: testReqID, MinLoA: saml.LoALow})
	require.NoError(t, err)
	assert.Equal(t, "12345678Z", a.NameID.Value)
	assert.Equal(t, saml.LoASubstantial, a.LoA)
	assert.True(t, a.ResponseSigned)
	assert.False(t, a.AssertionSigned)
	assert.True(t, a.OneTimeUse)
	v, ok := a.Attribute(saml.AttrCurrentFamilyName)
	require.True(t, ok)
	assert.Equal(t, "GARCIA LOPEZ", v)
	t.Logf("%s", raw)
}

// TestGatewayCaptureShape runs the shape of a real pre-production response
// (testdata/gateway_response_shape.xml, the capture with its data invented and
// its signature elided) through the validator: its IDs are made NCNames, its
// instants moved to the test clock (the test key's certificate is not valid in
// 2022), it is re-signed by the test gateway key as the gateway signs, and it
// must pass with what clave.Client expects of its default request.
func TestGatewayCaptureShape(t *testing.T) {
	testKeys(t)
	raw, err := os.ReadFile("testdata/gateway_response_shape.xml")
	require.NoError(t, err)
	issued := testNow.Add(-2 * time.Second)
	xml := strings.NewReplacer(
		"2022-07-21T14:49:59.713Z", saml.FormatInstant(issued),
		"2022-07-21T15:04:59.713Z", saml.FormatInstant(issued.Add(15*time.Minute)),
	).Replace(string(raw))
	require.NotContains(t, xml, "2022-")
	doc := etree.NewDocument()
	require.NoError(t, doc.ReadFromString(xml))
	root := doc.Root()
	sig := root.FindElement("./ds:Signature")
	require.NotNil(t, sig)
	root.RemoveChild(sig)
	for _, el := range append(root.FindElements(".//*"), root) {
		if id := el.SelectAttr("ID"); id != nil {
			id.Value = strings.ReplaceAll(id.Value, "…", "x")
		}
	}
	require.NoError(t, samlidp.SecureResponse(doc, samlidp.ResponseSecurity{Signer: signerOf(idpKeys), SignResponse: true}))
	signed, err := doc.WriteToBytes()
	require.NoError(t, err)

	v := testValidator()
	exp := saml.Expectation{RequestID: "_6c1f0a7e-3b8e-4f37-9d0e-2a4f1b9d7c11", MinLoA: saml.LoASubstantial,
		RequiredAttributes: saml.RequiredAttributes(saml.DefaultAttributes())}
	a, err := v.ValidateResponse(signed, exp)
	require.NoError(t, err)
	assert.Equal(t, "12345678Z", a.PersonIdentifier)
	assert.Equal(t, saml.NameIDTransient, a.NameID.Format)
	assert.Equal(t, saml.LoASubstantial, a.LoA)

	// Everything the default request marks required is in the capture.
	for _, name := range exp.RequiredAttributes {
		_, ok := a.Attribute(name)
		assert.True(t, ok, name)
	}
	assert.ElementsMatch(t, []string{saml.AttrPersonIdentifier, saml.AttrCurrentGivenName, saml.AttrCurrentFamilyName}, exp.RequiredAttributes)
}

func TestRequiredAttributes(t *testing.T) {
	assert.Nil(t, saml.RequiredAttributes(nil))
	assert.Equal(t, []string{saml.AttrPersonIdentifier}, saml.RequiredAttributes([]saml.RequestedAttribute{saml.ReqPersonIdentifier, saml.ReqDateOfBirth}))
}

// TestIdentityAccepted: the identity is the PersonIdentifier attribute,
// normalised, whatever the NameID says.
func TestIdentityAccepted(t *testing.T) {
	withPersonID := func(v string) func(*samlidp.ResponseParams) {
		return func(p *samlidp.ResponseParams) {
			for i := range p.Attributes {
				if p.Attributes[i].Name == saml.AttrPersonIdentifier {
					p.Attributes[i].Values = []string{v}
				}
			}
		}
	}
	cases := []struct {
		name   string
		params func(*samlidp.ResponseParams)
		want   string
	}{
		{"DNI", nil, "12345678Z"},
		{"NIE", withPersonID("X1234567L"), "X1234567L"},
		{"DNI written loosely", withPersonID(" 12.345.678-z "), "12345678Z"},
		{"eIDAS citizen", withPersonID("DE/ES/1234567890"), "DE/ES/1234567890"},
		{"eIDAS country codes in lower case", withPersonID("it/es/abcDEF"), "IT/ES/abcDEF"},
		{"transient NameID", func(p *samlidp.ResponseParams) {
			p.NameID = saml.NameID{Value: "_7b1c52e0f3a94d6b8e2f01a3c4d5e6f7", Format: saml.NameIDTransient}
		}, "12345678Z"},
		{"NameID naming someone else", func(p *samlidp.ResponseParams) { p.NameID.Value = "99999999R" }, "12345678Z"},
		{"names absent when not required", func(p *samlidp.ResponseParams) {
			p.Attributes = slices.DeleteFunc(p.Attributes, func(a saml.Attribute) bool {
				return a.Name == saml.AttrCurrentGivenName || a.Name == saml.AttrCurrentFamilyName
			})
		}, "12345678Z"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := gatewayParams()
			if tc.params != nil {
				tc.params(&p)
			}
			raw := docBytes(t, buildSigned(t, p, samlidp.ResponseSecurity{SignResponse: true}))
			a, err := testValidator().ValidateResponse(raw, saml.Expectation{RequestID: testReqID, MinLoA: saml.LoALow})
			require.NoError(t, err)
			assert.Equal(t, tc.want, a.PersonIdentifier)
		})
	}
}
