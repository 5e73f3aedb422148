package samlidp_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"testing"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/saml"
)

// resignedDoc builds the gateway response secured as sec says, lets edit change
// the signature of the element at path ("" for the root), and resigns it.
func resignedDoc(t *testing.T, sec samlidp.ResponseSecurity, path string, opts samlidp.ResignOptions, edit func(sig *etree.Element)) *etree.Document {
	t.Helper()
	doc := buildSigned(t, gatewayParams(), sec)
	el := doc.Root()
	if path != "" {
		el = find(t, el, path)
	}
	if edit != nil {
		edit(find(t, el, pSig))
	}
	require.NoError(t, samlidp.ResignEnveloped(el, idpKeys.Key, opts))
	return doc
}

func validateResigned(t *testing.T, v *saml.Validator, doc *etree.Document) (*saml.Assertion, error) {
	t.Helper()
	return v.ValidateResponse(docBytes(t, doc), saml.Expectation{RequestID: testReqID, MinLoA: saml.LoALow})
}

func TestResignEnvelopedSHA256Verifies(t *testing.T) {
	doc := resignedDoc(t, secResponse, "", samlidp.ResignOptions{SignatureHash: crypto.SHA256, DigestHash: crypto.SHA256}, func(sig *etree.Element) {
		sig.FindElement(pSigMethod).CreateAttr("Algorithm", saml.AlgRSASHA256)
		sig.FindElement(pDigestMethod).CreateAttr("Algorithm", saml.AlgSHA256)
	})
	a, err := validateResigned(t, testValidator(), doc)
	require.NoError(t, err)
	assert.True(t, a.ResponseSigned)
	assert.Equal(t, "12345678Z", a.NameID.Value)

	// An independent verifier agrees.
	ctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{idpKeys.Certificate}})
	ctx.Clock = dsig.NewFakeClockAt(testNow)
	_, err = ctx.Validate(doc.Root().Copy())
	require.NoError(t, err)
}

func TestResignEnvelopedDefaultsMatchSigner(t *testing.T) {
	before := docBytes(t, buildSigned(t, gatewayParams(), secResponse))
	doc := resignedDoc(t, secResponse, "", samlidp.ResignOptions{}, nil)
	// PKCS#1 v1.5 is deterministic: resigning an untouched signature with the
	// same key must reproduce it byte for byte.
	assert.Equal(t, string(before), string(docBytes(t, doc)))
}

func TestResignEnvelopedAssertion(t *testing.T) {
	doc := resignedDoc(t, secAssertion, pAssertion, samlidp.ResignOptions{SignatureHash: crypto.SHA256}, func(sig *etree.Element) {
		sig.FindElement(pSigMethod).CreateAttr("Algorithm", saml.AlgRSASHA256)
	})
	a, err := validateResigned(t, testValidator(), doc)
	require.NoError(t, err)
	assert.True(t, a.AssertionSigned)
	assert.False(t, a.ResponseSigned)
}

func TestResignEnvelopedSHA1NeedsPolicy(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts samlidp.ResignOptions
		edit func(sig *etree.Element)
	}{
		{"RSA-SHA1", samlidp.ResignOptions{SignatureHash: crypto.SHA1}, setAlg(pSigMethod, saml.AlgRSASHA1)},
		{"SHA-1 digest", samlidp.ResignOptions{DigestHash: crypto.SHA1}, setAlg(pDigestMethod, saml.AlgSHA1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := resignedDoc(t, secResponse, "", tc.opts, tc.edit)
			_, err := validateResigned(t, testValidator(), doc)
			require.ErrorIs(t, err, saml.ErrAlgorithm)

			v := testValidator()
			v.Algorithms.AllowSHA1 = true
			_, err = validateResigned(t, v, doc)
			require.NoError(t, err)
		})
	}
}

func TestResignEnvelopedCanonicalizers(t *testing.T) {
	// Inclusive c14n of SignedInfo, declared and applied: the signature is valid
	// and the refusal names the algorithm.
	doc := resignedDoc(t, secResponse, "", samlidp.ResignOptions{SignedInfoCanonicalizer: dsig.MakeC14N10RecCanonicalizer()},
		setAlg(pC14NMethod, algC14N10))
	_, err := validateResigned(t, testValidator(), doc)
	require.ErrorIs(t, err, saml.ErrAlgorithm)

	doc = resignedDoc(t, secResponse, "", samlidp.ResignOptions{ReferenceCanonicalizer: dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList(samlidp.ResponsePrefixList)}, nil)
	_, err = validateResigned(t, testValidator(), doc)
	require.NoError(t, err)
}

func TestResignEnvelopedTamperStillDetected(t *testing.T) {
	doc := resignedDoc(t, secResponse, "", samlidp.ResignOptions{}, nil)
	find(t, doc.Root(), pAssertion+"/"+pNameID[2:]).SetText(evilNIF)
	_, err := validateResigned(t, testValidator(), doc)
	require.ErrorIs(t, err, saml.ErrSignatureInvalid)
}

func TestResignEnvelopedErrors(t *testing.T) {
	testKeys(t)
	unsigned := buildSigned(t, gatewayParams(), samlidp.ResponseSecurity{})
	require.Error(t, samlidp.ResignEnveloped(unsigned.Root(), idpKeys.Key, samlidp.ResignOptions{}), "no signature")
	require.Error(t, samlidp.ResignEnveloped(nil, idpKeys.Key, samlidp.ResignOptions{}))

	signed := buildSigned(t, gatewayParams(), secResponse)
	require.Error(t, samlidp.ResignEnveloped(signed.Root(), nil, samlidp.ResignOptions{}))
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	require.Error(t, samlidp.ResignEnveloped(signed.Root(), ec, samlidp.ResignOptions{}), "non-RSA key")
	require.Error(t, samlidp.ResignEnveloped(signed.Root(), idpKeys.Key, samlidp.ResignOptions{DigestHash: crypto.MD4}), "hash not linked")

	two := buildSigned(t, gatewayParams(), secResponse)
	r := two.Root()
	r.InsertChildAt(find(t, r, pStatus).Index(), find(t, r, pSig).Copy())
	require.Error(t, samlidp.ResignEnveloped(r, idpKeys.Key, samlidp.ResignOptions{}), "two signatures")

	noValue := buildSigned(t, gatewayParams(), secResponse)
	remove(t, find(t, noValue.Root(), pSig), "./ds:SignatureValue")
	require.Error(t, samlidp.ResignEnveloped(noValue.Root(), idpKeys.Key, samlidp.ResignOptions{}))
}
