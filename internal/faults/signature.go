package faults

import (
	"encoding/base64"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/saml"
)

// flipBase64 flips one bit of the base64 content of the element at path below
// the root signature.
func flipBase64(path string, at func(n int) int) edit {
	return func(e *editor, _ *Base, r *etree.Element) {
		el := e.find(e.find(r, pSig), path)
		d, err := base64.StdEncoding.DecodeString(el.Text())
		if err != nil || len(d) == 0 {
			e.fail("cannot decode %s", path)
			return
		}
		d[at(len(d))] ^= 0x01
		el.SetText(base64.StdEncoding.EncodeToString(d))
	}
}

// signedExtensions is a standalone saml2p:Extensions carrying an Issuer and a
// valid enveloped signature by the trusted key, made by goxmldsig.
func signedExtensions(e *editor, b *Base) *etree.Element {
	ext := extensions()
	ext.CreateAttr("xmlns:saml2p", saml.NSProtocol)
	ext.CreateAttr("xmlns:saml2", saml.NSAssertion)
	ext.CreateAttr("ID", "_ext")
	ext.CreateElement("saml2:Issuer").SetText(b.Params.Issuer)
	ctx, err := dsig.NewSigningContext(b.Keys.Trusted.Key, [][]byte{b.Keys.Trusted.Certificate.Raw})
	if err != nil {
		e.fail("%v", err)
		return ext
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(dsig.RSASHA512SignatureMethod); err != nil {
		e.fail("%v", err)
		return ext
	}
	signed, err := ctx.SignEnveloped(ext)
	if err != nil {
		e.fail("%v", err)
		return ext
	}
	return signed
}

func init() {
	g := GroupSignature
	register(
		Case{ID: "SIG-01", Group: g, Title: "response not signed", Expect: Refuse, Reason: saml.ErrSignatureMissing,
			How:   "the valid response with no signature at all, neither on the response nor on the assertion",
			Build: variant(nil, nil, nil, nil)},
		Case{ID: "SIG-02", Group: g, Title: "assertion signature removed, response unsigned", Expect: Refuse, Reason: saml.ErrSignatureMissing,
			How:   "the assertion is signed on its own (the response is not), then the assertion's ds:Signature is deleted",
			Build: variant(nil, secAssertion, nil, removeInAssertion(pSig))},
		Case{ID: "SIG-03", Group: g, Title: "assertion signature removed under a signed response", Expect: Refuse, Reason: saml.ErrSignatureInvalid,
			How:   "response and assertion are both signed, then the assertion's ds:Signature is deleted, leaving the response signature's digest stale",
			Build: variant(nil, secBoth, nil, removeInAssertion(pSig))},
		Case{ID: "SIG-04", Group: g, Title: "only an unrelated element carries a valid signature", Expect: Refuse, Reason: saml.ErrSignatureMissing,
			How: "nothing is signed except a saml2p:Extensions (ID _ext) inserted before Status, which carries a valid enveloped signature by the trusted key",
			Build: variant(nil, nil, func(e *editor, b *Base, r *etree.Element) {
				e.insertBefore(r, pStatus, signedExtensions(e, b))
			}, nil)},
		Case{ID: "SIG-05", Group: g, Title: "DigestValue altered", Expect: Refuse, Reason: saml.ErrSignatureInvalid,
			How:   "the root signature's DigestValue has its first bit flipped after signing",
			Build: variant(nil, secResponse, nil, flipBase64("./ds:SignedInfo/ds:Reference/ds:DigestValue", func(int) int { return 0 }))},
		Case{ID: "SIG-06", Group: g, Title: "SignatureValue altered", Expect: Refuse, Reason: saml.ErrSignatureInvalid,
			How:   "one bit in the middle of the root signature's SignatureValue is flipped after signing",
			Build: variant(nil, secResponse, nil, flipBase64(pSigValue, func(n int) int { return n / 2 }))},
		Case{ID: "SIG-07", Group: g, Title: "identity changed after signing the response", Expect: Refuse, Reason: saml.ErrSignatureInvalid,
			How:   "the root is signed, then NameID and PersonIdentifier are changed to the attacker's DNI",
			Build: variant(nil, secResponse, nil, onAssertion(evilize))},
		Case{ID: "SIG-08", Group: g, Title: "identity changed after signing the assertion", Expect: Refuse, Reason: saml.ErrSignatureInvalid,
			How:   "only the assertion is signed, then NameID and PersonIdentifier are changed to the attacker's DNI",
			Build: variant(nil, secAssertion, nil, onAssertion(evilize))},
		Case{ID: "SIG-09", Group: g, Title: "response attribute changed after signing", Expect: Refuse, Reason: saml.ErrSignatureInvalid,
			How:   "the root is signed, then its Consent attribute is changed from obtained to unspecified",
			Build: variant(nil, secResponse, nil, setAttrAt(".", "Consent", constant(saml.ConsentUnspecified)))},
		Case{ID: "SIG-10", Group: g, Title: "attribute added after signing", Expect: Refuse, Reason: saml.ErrSignatureInvalid,
			How: "the root is signed, then a second AttributeStatement with a DateOfBirth attribute is appended to the assertion",
			Build: variant(nil, secResponse, nil, onAssertion(func(e *editor, _ *Base, a *etree.Element) {
				at := a.CreateElement("saml2:AttributeStatement").CreateElement("saml2:Attribute")
				at.CreateAttr("Name", saml.AttrDateOfBirth)
				at.CreateElement("saml2:AttributeValue").SetText("1970-01-01")
			}))},
		Case{ID: "SIG-11", Group: g, Title: "two signatures on the response", Expect: Refuse, Reason: saml.ErrWrapped,
			How: "the root is signed, then a copy of its ds:Signature is inserted before Status, so the response has two enveloped signatures",
			Build: variant(nil, secResponse, nil, func(e *editor, _ *Base, r *etree.Element) {
				e.insertBefore(r, pStatus, e.find(r, pSig).Copy())
			})},
		Case{ID: "SIG-12", Group: g, Title: `Reference URI="" on the response`, Expect: Refuse, Reason: saml.ErrWrapped,
			How: `the root signature's Reference URI is set to "" (the whole document) and the signature is recomputed with ResignEnveloped`,
			Build: resigned(secResponse, false, samlidp.ResignOptions{}, func(sig *etree.Element) {
				sig.FindElement(pReference).CreateAttr("URI", "")
			})},
		Case{ID: "SIG-13", Group: g, Title: `Reference URI="" on the assertion`, Expect: Refuse, Reason: saml.ErrWrapped,
			How: `only the assertion is signed; its Reference URI is set to "" and the signature recomputed`,
			Build: resigned(secAssertion, true, samlidp.ResignOptions{}, func(sig *etree.Element) {
				sig.FindElement(pReference).CreateAttr("URI", "")
			})},
		Case{ID: "SIG-14", Group: g, Title: "response signature referencing the assertion", Expect: Refuse, Reason: saml.ErrWrapped,
			How: "the root signature's Reference URI is changed to the assertion's ID and the signature recomputed (digest over the response)",
			Build: variant(nil, secResponse, nil, func(e *editor, b *Base, r *etree.Element) {
				a := e.find(r, pAssertion)
				e.find(r, pSig).FindElement(pReference).CreateAttr("URI", "#"+a.SelectAttrValue("ID", ""))
				if e.err == nil {
					if err := samlidp.ResignEnveloped(r, b.Keys.Trusted.Key, samlidp.ResignOptions{}); err != nil {
						e.fail("%v", err)
					}
				}
			})},
		Case{ID: "SIG-15", Group: g, Title: "two References in SignedInfo", Expect: Refuse, Reason: saml.ErrWrapped,
			How: "a copy of the root signature's Reference is appended to SignedInfo and the signature recomputed",
			Build: resigned(secResponse, false, samlidp.ResignOptions{}, func(sig *etree.Element) {
				si := sig.FindElement(pSignedInfo)
				si.AddChild(si.FindElement("./ds:Reference").Copy())
			})},
		Case{ID: "SIG-16", Group: g, Title: "Reference to an ID that does not exist", Expect: Refuse, Reason: saml.ErrWrapped,
			How: `the root signature's Reference URI is changed to "#_nonexistent" and the signature recomputed`,
			Build: resigned(secResponse, false, samlidp.ResignOptions{}, func(sig *etree.Element) {
				sig.FindElement(pReference).CreateAttr("URI", "#_nonexistent")
			})},
		Case{ID: "SIG-17", Group: g, Title: "empty SignatureValue", Expect: Refuse, Reason: saml.ErrSignatureInvalid,
			How: "the root signature's SignatureValue is emptied after signing",
			Build: variant(nil, secResponse, nil, func(e *editor, _ *Base, r *etree.Element) {
				e.find(e.find(r, pSig), pSigValue).SetText("")
			})},
		Case{ID: "SIG-18", Group: g, Title: "SignedInfo changed after signing", Expect: Refuse, Reason: saml.ErrSignatureInvalid,
			How: "the root is signed, then the InclusiveNamespaces PrefixList of its reference transform is changed to \"xs\", invalidating the SignatureValue",
			Build: variant(nil, secResponse, nil, func(e *editor, _ *Base, r *etree.Element) {
				e.find(e.find(r, pSig), pRefC14N+"/ec:InclusiveNamespaces").CreateAttr("PrefixList", "xs")
			})},
		Case{ID: "SIG-19", Group: g, Title: "Signature without SignedInfo", Expect: Refuse, Reason: saml.ErrSignatureInvalid,
			How: "the root is signed, then the SignedInfo element is deleted from its ds:Signature (SignatureValue and KeyInfo stay)",
			Build: variant(nil, secResponse, nil, func(e *editor, _ *Base, r *etree.Element) {
				e.remove(e.find(r, pSig), pSignedInfo)
			})},
	)
}
