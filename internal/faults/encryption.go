package faults

import (
	"encoding/base64"
	"fmt"

	"github.com/beevik/etree"
	"github.com/crewjam/saml/xmlenc"

	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/saml"
)

// AES-CBC in a signed response is deliberately not a case: the gateway may
// send it ("CBC tolerated"), and a service that accepts it there, where the
// signature covers the ciphertext, is not wrong; one that refuses it is not
// wrong either. Only CBC without a signature over it is a must-refuse (ENC-03).

const pEncData = pEncrypted + "/EncryptedData"

// encryptedResponseInside is a response whose EncryptedAssertion holds a whole
// (assertion-signed) Response instead of an Assertion; nothing else is signed.
func encryptedResponseInside(b *Base) (Delivery, error) {
	inner, err := b.bytesOf(nil, secAssertion, nil, nil)
	if err != nil {
		return Delivery{}, err
	}
	enc := xmlenc.OAEP()
	enc.BlockCipher = xmlenc.AES256GCM
	enc.DigestMethod = &xmlenc.SHA256
	ed, err := enc.Encrypt(b.EncryptFor, inner, nil)
	if err != nil {
		return Delivery{}, fmt.Errorf("faults: %w", err)
	}
	return variant(nil, nil, nil, func(e *editor, _ *Base, r *etree.Element) {
		ea := etree.NewElement("saml2:EncryptedAssertion")
		ea.AddChild(ed)
		replaceWith(e.find(r, pAssertion), ea)
	})(b)
}

func init() {
	g := GroupEncryption
	register(
		Case{ID: "ENC-01", Group: g, Title: "AES-GCM encrypted assertion", Expect: Accept, NeedsEncryption: true,
			How:   "the assertion is encrypted for the service (RSA-OAEP key transport, AES-256-GCM) and the response root signed, as the gateway may send it",
			Build: variant(nil, encrypted(secResponse, false), nil, nil)},
		Case{ID: "ENC-02", Group: g, Title: "encrypted for another key", Expect: Refuse, Reason: saml.ErrDecryption, NeedsEncryption: true,
			How: "the assertion is encrypted for the attacker's certificate instead of the service's, and the response root signed",
			Build: variant(nil, func(b *Base) samlidp.ResponseSecurity {
				s := secResponse(b)
				s.EncryptFor = b.Keys.Untrusted.Certificate
				return s
			}, nil, nil)},
		Case{ID: "ENC-03", Group: g, Title: "AES-CBC in an unsigned response", Expect: Refuse, Reason: saml.ErrAlgorithm, NeedsEncryption: true,
			How:   "the assertion is signed and encrypted with AES-256-CBC for the service; the response is not signed, so nothing covers the ciphertext (a padding oracle)",
			Build: variant(nil, encrypted(secAssertion, true), nil, nil)},
		Case{ID: "ENC-04", Group: g, Title: "RSA PKCS#1 v1.5 key transport", Expect: Refuse, Reason: saml.ErrAlgorithm, NeedsEncryption: true,
			How: "the assertion is signed and encrypted for the service, then the EncryptedKey's EncryptionMethod is changed to rsa-1_5 (the response is not signed)",
			Build: variant(nil, encrypted(secAssertion, false), nil, func(e *editor, _ *Base, r *etree.Element) {
				e.setAttr(r, pEncrypted+"//EncryptedKey/EncryptionMethod", "Algorithm", algRSAPKCS15Key)
			})},
		Case{ID: "ENC-05", Group: g, Title: "encrypted assertion, nothing signed", Expect: Refuse, Reason: saml.ErrSignatureMissing, NeedsEncryption: true,
			How:   "an assertion with the attacker's identity is encrypted for the service (anyone can: the certificate is public) and nothing is signed",
			Build: variant(nil, encrypted(nil, false), onAssertion(evilize), nil)},
		Case{ID: "ENC-06", Group: g, Title: "encrypted content is a Response", Expect: Refuse, Reason: saml.ErrDecryption, NeedsEncryption: true,
			How:   "the EncryptedAssertion of an unsigned response decrypts to a whole assertion-signed Response instead of an Assertion",
			Build: encryptedResponseInside},
		Case{ID: "ENC-07", Group: g, Title: "AES-GCM ciphertext tampered", Expect: Refuse, Reason: saml.ErrDecryption, NeedsEncryption: true,
			How: "the assertion is signed and encrypted with AES-256-GCM, the response unsigned, and one bit in the middle of EncryptedData's CipherValue is flipped",
			Build: variant(nil, encrypted(secAssertion, false), nil, func(e *editor, _ *Base, r *etree.Element) {
				cv := e.find(r, pEncData+"/CipherData/CipherValue")
				d, err := base64.StdEncoding.DecodeString(cv.Text())
				if err != nil || len(d) == 0 {
					e.fail("cannot decode CipherValue")
					return
				}
				d[len(d)/2] ^= 0x01
				cv.SetText(base64.StdEncoding.EncodeToString(d))
			})},
		Case{ID: "ENC-08", Group: g, Title: "two EncryptedData in one EncryptedAssertion", Expect: Refuse, Reason: saml.ErrMalformed, NeedsEncryption: true,
			How: "the assertion is encrypted and the response root signed after a copy of the EncryptedData is appended to the EncryptedAssertion",
			Build: func(b *Base) (Delivery, error) {
				d, err := b.doc(nil, encrypted(nil, false), nil)
				if err != nil {
					return Delivery{}, err
				}
				var e editor
				ed := e.find(d.Root(), pEncData)
				if ed.Parent() != nil {
					ed.Parent().AddChild(ed.Copy())
				}
				if e.err != nil {
					return Delivery{}, e.err
				}
				if err := samlidp.SecureResponse(d, secResponse(b)); err != nil {
					return Delivery{}, fmt.Errorf("faults: %w", err)
				}
				return deliver(d)
			}},
		Case{ID: "ENC-09", Group: g, Title: "Triple-DES content encryption", Expect: Refuse, Reason: saml.ErrAlgorithm, NeedsEncryption: true,
			How: "the assertion is encrypted for the service and the response root signed after EncryptedData's EncryptionMethod is changed to tripledes-cbc",
			Build: func(b *Base) (Delivery, error) {
				d, err := b.doc(nil, encrypted(nil, false), nil)
				if err != nil {
					return Delivery{}, err
				}
				var e editor
				e.setAttr(d.Root(), pEncData+"/EncryptionMethod", "Algorithm", algTripleDES)
				if e.err != nil {
					return Delivery{}, e.err
				}
				if err := samlidp.SecureResponse(d, secResponse(b)); err != nil {
					return Delivery{}, fmt.Errorf("faults: %w", err)
				}
				return deliver(d)
			}},
		Case{ID: "ENC-10", Group: g, Title: "plain and encrypted assertion together", Expect: Refuse, Reason: saml.ErrAssertionCount, NeedsEncryption: true,
			How: "the response carries the plain assertion with the attacker's identity and, after it, the genuine EncryptedAssertion; the root is signed over both",
			Build: func(b *Base) (Delivery, error) {
				enc, err := b.doc(nil, encrypted(secAssertion, false), nil)
				if err != nil {
					return Delivery{}, err
				}
				return variant(nil, secResponse, func(e *editor, b *Base, r *etree.Element) {
					evilize(e, b, e.find(r, pAssertion))
					r.AddChild(e.find(enc.Root(), pEncrypted).Copy())
				}, nil)(b)
			}},
		Case{ID: "ENC-11", Group: g, Title: "EncryptedAssertion without EncryptedKey", Expect: Refuse, Reason: saml.ErrMalformed, NeedsEncryption: true,
			How: "the assertion is signed and encrypted for the service, the response unsigned, and every EncryptedKey is removed",
			Build: variant(nil, encrypted(secAssertion, false), nil, func(e *editor, _ *Base, r *etree.Element) {
				ea := e.find(r, pEncrypted)
				for _, ek := range ea.FindElements(".//EncryptedKey") {
					ek.Parent().RemoveChild(ek)
				}
			})},
	)
}
