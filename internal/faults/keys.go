package faults

import (
	"crypto/rand"
	"crypto/x509"
	"fmt"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/saml"
)

// lookalike is a certificate for the untrusted key that copies the trusted
// certificate's subject, serial number and validity: a service that picks or
// trusts a key by name would take it for the gateway's.
func lookalike(k Keys) (*x509.Certificate, error) {
	t := k.Trusted.Certificate
	tmpl := &x509.Certificate{
		SerialNumber:          t.SerialNumber,
		Subject:               t.Subject,
		NotBefore:             t.NotBefore,
		NotAfter:              t.NotAfter,
		KeyUsage:              t.KeyUsage,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.Untrusted.Key.PublicKey, k.Untrusted.Key)
	if err != nil {
		return nil, fmt.Errorf("faults: %w", err)
	}
	return x509.ParseCertificate(der)
}

func init() {
	g := GroupKeyTrust
	register(
		Case{ID: "KEY-01", Group: g, Title: "untrusted key, its certificate in KeyInfo", Expect: Refuse, Reason: saml.ErrUntrustedKey,
			How:   "the root is signed by the attacker's key, whose self-signed certificate is sent in KeyInfo",
			Build: variant(nil, signedBy(untrusted, true, true, false), nil, nil)},
		Case{ID: "KEY-02", Group: g, Title: "untrusted key signing the assertion", Expect: Refuse, Reason: saml.ErrUntrustedKey,
			How:   "only the assertion is signed, by the attacker's key with its certificate in KeyInfo",
			Build: variant(nil, signedBy(untrusted, true, false, true), nil, nil)},
		Case{ID: "KEY-03", Group: g, Title: "untrusted key without KeyInfo", Expect: Refuse, Reason: saml.ErrSignatureInvalid,
			How:   "the root is signed by the attacker's key and the signature carries no KeyInfo",
			Build: variant(nil, signedBy(untrusted, false, true, false), nil, nil)},
		Case{ID: "KEY-04", Group: g, Title: "untrusted key behind the trusted certificate", Expect: Refuse, Reason: saml.ErrSignatureInvalid,
			How: "the root is signed by the attacker's key while KeyInfo carries the gateway's trusted certificate",
			Build: variant(nil, func(b *Base) samlidp.ResponseSecurity {
				return samlidp.ResponseSecurity{SignResponse: true, Signer: &saml.Signer{Key: b.Keys.Untrusted.Key, Certificate: b.Keys.Trusted.Certificate}}
			}, nil, nil)},
		Case{ID: "KEY-05", Group: g, Title: "untrusted key, signed by goxmldsig", Expect: Refuse, Reason: saml.ErrUntrustedKey,
			How:   "the unsigned response is signed at the root by goxmldsig's signer (RSA-SHA256) with the attacker's key and certificate",
			Build: dsigSigned(untrusted, dsig.RSASHA256SignatureMethod)},
		Case{ID: "KEY-06", Group: g, Title: "untrusted key, certificate impersonating the gateway's", Expect: Refuse, Reason: saml.ErrUntrustedKey,
			How: "the root is signed by the attacker's key, with a self-signed certificate in KeyInfo copying the trusted certificate's subject, serial number and validity",
			Build: func(b *Base) (Delivery, error) {
				cert, err := lookalike(b.Keys)
				if err != nil {
					return Delivery{}, err
				}
				return variant(nil, func(b *Base) samlidp.ResponseSecurity {
					return samlidp.ResponseSecurity{SignResponse: true, Signer: &saml.Signer{Key: b.Keys.Untrusted.Key, Certificate: cert}}
				}, nil, nil)(b)
			}},
		Case{ID: "KEY-07", Group: g, Title: "untrusted response signature around a genuine assertion", Expect: Refuse, Reason: saml.ErrUntrustedKey,
			How: "the assertion is signed by the trusted key, then the response root is signed by the attacker's key with its certificate in KeyInfo",
			Build: func(b *Base) (Delivery, error) {
				d, err := b.doc(nil, secAssertion, nil)
				if err != nil {
					return Delivery{}, err
				}
				if err := samlidp.SecureResponse(d, samlidp.ResponseSecurity{Signer: b.Keys.Untrusted.Signer(), SignResponse: true}); err != nil {
					return Delivery{}, fmt.Errorf("faults: %w", err)
				}
				return deliver(d)
			}},
		Case{ID: "KEY-08", Group: g, Title: "untrusted key, malformed certificate in KeyInfo", Expect: Refuse, Reason: saml.ErrUntrustedKey,
			How: "the root is signed by the attacker's key without KeyInfo, then a KeyInfo whose X509Certificate is not base64 is appended",
			Build: variant(nil, signedBy(untrusted, false, true, false), nil, func(e *editor, _ *Base, r *etree.Element) {
				e.find(r, pSig).CreateElement("ds:KeyInfo").CreateElement("ds:X509Data").CreateElement("ds:X509Certificate").SetText("not*base64")
			})},
		Case{ID: "KEY-09", Group: g, Title: "rollover: signed by the next key, certificate in KeyInfo", Expect: Accept,
			How:   "the root is signed by the gateway's next key (trusted alongside the current one during a rollover) with its certificate in KeyInfo",
			Build: variant(nil, signedBy(next, true, true, false), nil, nil)},
	)
}
