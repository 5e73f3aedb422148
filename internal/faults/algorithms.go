package faults

import (
	"crypto"
	_ "crypto/md5" // MD5 digests and RSA-MD5 signatures are cases of the catalogue
	_ "crypto/sha1"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/saml"
)

// Algorithm identifiers no Cl@ve service provider should accept.
const (
	algC14N10       = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
	algC14N11       = "http://www.w3.org/2006/12/xml-c14n11"
	algExcC14NCom   = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
	algXPath        = "http://www.w3.org/TR/1999/REC-xpath-19991116"
	algHMACSHA256   = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"
	algMD5          = "http://www.w3.org/2001/04/xmldsig-more#md5"
	algRSAMD5       = "http://www.w3.org/2001/04/xmldsig-more#rsa-md5"
	algECDSASHA256  = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
	algUnknownSig   = "urn:example:unknown-signature-method"
	algUnknownHash  = "urn:example:unknown-digest-method"
	algRSAPKCS15Key = "http://www.w3.org/2001/04/xmlenc#rsa-1_5"
	algTripleDES    = "http://www.w3.org/2001/04/xmlenc#tripledes-cbc"
)

// replaceRefC14N makes the reference's canonicalisation transform alg, without
// InclusiveNamespaces.
func replaceRefC14N(alg string) func(sig *etree.Element) {
	return func(sig *etree.Element) {
		tr := sig.FindElement(pRefC14N)
		if tr == nil {
			return
		}
		tr.CreateAttr("Algorithm", alg)
		for _, c := range tr.ChildElements() {
			tr.RemoveChild(c)
		}
	}
}

func init() {
	g := GroupAlgorithms
	register(
		Case{ID: "ALG-01", Group: g, Title: "RSA-SHA1 signature", Expect: Refuse, Reason: saml.ErrAlgorithm,
			How:   "the root signature's SignatureMethod is set to rsa-sha1 and the SignatureValue recomputed with SHA-1 (digest stays SHA-512)",
			Build: resigned(secResponse, false, samlidp.ResignOptions{SignatureHash: crypto.SHA1}, setAlg(pSigMethod, saml.AlgRSASHA1))},
		Case{ID: "ALG-02", Group: g, Title: "RSA-SHA1 and SHA-1 digest by goxmldsig", Expect: Refuse, Reason: saml.ErrAlgorithm,
			How:   "the unsigned response is signed at the root by goxmldsig's signer with rsa-sha1 and a sha1 digest, an implementation independent of ours",
			Build: dsigSigned(trusted, dsig.RSASHA1SignatureMethod)},
		Case{ID: "ALG-03", Group: g, Title: "SHA-1 digest", Expect: Refuse, Reason: saml.ErrAlgorithm,
			How:   "the root signature's DigestMethod is set to sha1 and the digest and signature recomputed (signature stays RSA-SHA512)",
			Build: resigned(secResponse, false, samlidp.ResignOptions{DigestHash: crypto.SHA1}, setAlg(pDigestMethod, saml.AlgSHA1))},
		Case{ID: "ALG-04", Group: g, Title: "SHA-1 digest on the assertion", Expect: Refuse, Reason: saml.ErrAlgorithm,
			How:   "only the assertion is signed; its DigestMethod is set to sha1 and the signature recomputed",
			Build: resigned(secAssertion, true, samlidp.ResignOptions{DigestHash: crypto.SHA1}, setAlg(pDigestMethod, saml.AlgSHA1))},
		Case{ID: "ALG-05", Group: g, Title: "RSA-SHA1 on the assertion", Expect: Refuse, Reason: saml.ErrAlgorithm,
			How:   "only the assertion is signed; its SignatureMethod is set to rsa-sha1 and the SignatureValue recomputed with SHA-1",
			Build: resigned(secAssertion, true, samlidp.ResignOptions{SignatureHash: crypto.SHA1}, setAlg(pSigMethod, saml.AlgRSASHA1))},
		Case{ID: "ALG-06", Group: g, Title: "HMAC-SHA256 signature method", Expect: Refuse, Reason: saml.ErrAlgorithm,
			How:   "the root signature's SignatureMethod is set to hmac-sha256 (a key-confusion classic) over an RSA value recomputed for the new SignedInfo",
			Build: resigned(secResponse, false, samlidp.ResignOptions{}, setAlg(pSigMethod, algHMACSHA256))},
		Case{ID: "ALG-07", Group: g, Title: "inclusive c14n transform", Expect: Refuse, Reason: saml.ErrAlgorithm,
			How:   "the reference's exclusive c14n transform is replaced by inclusive C14N 1.0 and the digest recomputed with it",
			Build: resigned(secResponse, false, samlidp.ResignOptions{ReferenceCanonicalizer: dsig.MakeC14N10RecCanonicalizer()}, replaceRefC14N(algC14N10))},
		Case{ID: "ALG-08", Group: g, Title: "inclusive c14n of SignedInfo", Expect: Refuse, Reason: saml.ErrAlgorithm,
			How:   "SignedInfo's CanonicalizationMethod is set to inclusive C14N 1.0 and the SignatureValue recomputed with it",
			Build: resigned(secResponse, false, samlidp.ResignOptions{SignedInfoCanonicalizer: dsig.MakeC14N10RecCanonicalizer()}, setAlg(pC14NMethod, algC14N10))},
		Case{ID: "ALG-09", Group: g, Title: "exclusive c14n with comments (reference)", Expect: Refuse, Reason: saml.ErrAlgorithm,
			How: "the reference's transform is set to exc-c14n#WithComments and the digest recomputed with that canonicalisation",
			Build: resigned(secResponse, false, samlidp.ResignOptions{
				ReferenceCanonicalizer: dsig.MakeC14N10ExclusiveWithCommentsCanonicalizerWithPrefixList(samlidp.ResponsePrefixList),
			}, setAlg(pRefC14N, algExcC14NCom))},
		Case{ID: "ALG-10", Group: g, Title: "exclusive c14n with comments (SignedInfo)", Expect: Refuse, Reason: saml.ErrAlgorithm,
			How: "SignedInfo's CanonicalizationMethod is set to exc-c14n#WithComments and the SignatureValue recomputed with it",
			Build: resigned(secResponse, false, samlidp.ResignOptions{
				SignedInfoCanonicalizer: dsig.MakeC14N10ExclusiveWithCommentsCanonicalizerWithPrefixList(""),
			}, setAlg(pC14NMethod, algExcC14NCom))},
		Case{ID: "ALG-11", Group: g, Title: "C14N 1.1 transform", Expect: Refuse, Reason: saml.ErrAlgorithm,
			How:   "the reference's exclusive c14n transform is replaced by C14N 1.1 and the digest recomputed with it",
			Build: resigned(secResponse, false, samlidp.ResignOptions{ReferenceCanonicalizer: dsig.MakeC14N11Canonicalizer()}, replaceRefC14N(algC14N11))},
		Case{ID: "ALG-12", Group: g, Title: "enveloped-signature transform missing", Expect: Refuse, Reason: saml.ErrAlgorithm,
			How: "the reference's enveloped-signature transform is deleted (only exclusive c14n remains) and the signature recomputed",
			Build: resigned(secResponse, false, samlidp.ResignOptions{}, func(sig *etree.Element) {
				tr := sig.FindElement(pTransforms)
				tr.RemoveChild(tr.FindElement("./ds:Transform"))
			})},
		Case{ID: "ALG-13", Group: g, Title: "extra XPath transform", Expect: Refuse, Reason: saml.ErrAlgorithm,
			How: "an XPath transform is appended to the reference's transforms and the signature recomputed",
			Build: resigned(secResponse, false, samlidp.ResignOptions{}, func(sig *etree.Element) {
				sig.FindElement(pTransforms).CreateElement("ds:Transform").CreateAttr("Algorithm", algXPath)
			})},
		Case{ID: "ALG-14", Group: g, Title: "MD5 digest", Expect: Refuse, Reason: saml.ErrAlgorithm,
			How:   "the root signature's DigestMethod is set to md5 and the digest and signature recomputed",
			Build: resigned(secResponse, false, samlidp.ResignOptions{DigestHash: crypto.MD5}, setAlg(pDigestMethod, algMD5))},
		Case{ID: "ALG-15", Group: g, Title: "RSA-MD5 signature", Expect: Refuse, Reason: saml.ErrAlgorithm,
			How:   "the root signature's SignatureMethod is set to rsa-md5 and the SignatureValue recomputed with MD5",
			Build: resigned(secResponse, false, samlidp.ResignOptions{SignatureHash: crypto.MD5}, setAlg(pSigMethod, algRSAMD5))},
		Case{ID: "ALG-16", Group: g, Title: "unknown signature method", Expect: Refuse, Reason: saml.ErrAlgorithm,
			How:   "the root signature's SignatureMethod is set to an unknown URI over an RSA-SHA512 value recomputed for the new SignedInfo",
			Build: resigned(secResponse, false, samlidp.ResignOptions{}, setAlg(pSigMethod, algUnknownSig))},
		Case{ID: "ALG-17", Group: g, Title: "unknown digest method", Expect: Refuse, Reason: saml.ErrAlgorithm,
			How:   "the root signature's DigestMethod is set to an unknown URI over a SHA-512 digest, and the signature recomputed",
			Build: resigned(secResponse, false, samlidp.ResignOptions{}, setAlg(pDigestMethod, algUnknownHash))},
		Case{ID: "ALG-18", Group: g, Title: "ECDSA method over an RSA value", Expect: Refuse, Reason: saml.ErrAlgorithm,
			How:   "the root signature's SignatureMethod is set to ecdsa-sha256 while the value is an RSA-SHA512 signature recomputed for the new SignedInfo",
			Build: resigned(secResponse, false, samlidp.ResignOptions{}, setAlg(pSigMethod, algECDSASHA256))},
	)
}
