package faults

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/beevik/etree"

	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/saml"
)

// oversized pads a signed response beyond the default size bound with text in
// an Extensions element, signed over: it is refused for its size alone.
var oversized = variant(nil, secResponse, func(e *editor, _ *Base, r *etree.Element) {
	e.insertBefore(r, pStatus, extensions(etree.NewElement("saml2p:Padding")))
	e.find(r, "./saml2p:Extensions/saml2p:Padding").SetText(strings.Repeat("A", saml.DefaultMaxMessageSize+1024))
}, nil)

// flood adds item(0), item(1)... to the Subject start tag of the valid
// response, as many as keep it within the default size bound: work a validator
// may do per pair of attributes is then paid about 10^8 times.
func flood(item func(i int) string) func(*Base) (Delivery, error) {
	return raw(func(_ *Base, x []byte) ([]byte, error) {
		var s strings.Builder
		for i := 0; len(x)+s.Len()+len(item(i)) < saml.DefaultMaxMessageSize; i++ {
			s.WriteString(item(i))
		}
		return replaceOnce(x, "<saml2:Subject>", "<saml2:Subject"+s.String()+">")
	})
}

func init() {
	g := GroupLimits
	register(
		Case{ID: "LIM-01", Group: g, Title: "response larger than 256 KiB", Expect: Refuse, Reason: saml.ErrTooLarge,
			How:   "before the root is signed, a saml2p:Extensions holding 257 KiB of text is inserted before Status",
			Build: oversized},
		Case{ID: "LIM-02", Group: g, Title: "oversized form field", Expect: Refuse, Reason: saml.ErrTooLarge,
			How: "the SAMLResponse field is the base64 of LIM-01's signed response of more than 256 KiB",
			Build: func(b *Base) (Delivery, error) {
				d, err := oversized(b)
				if err != nil {
					return Delivery{}, err
				}
				return form(base64.StdEncoding.EncodeToString(d.XML)), nil
			}},
		Case{ID: "LIM-03", Group: g, Title: "huge base64 form field", Expect: Refuse, Reason: saml.ErrTooLarge,
			How:   "the SAMLResponse field is 8 MiB of base64 ('A' repeated), to be refused before it is decoded",
			Build: func(*Base) (Delivery, error) { return form(strings.Repeat("A", 8<<20)), nil }},
		Case{ID: "LIM-04", Group: g, Title: "malformed base64 form field", Expect: Refuse, Reason: saml.ErrMalformed,
			How: "the 41st character of the valid response's base64 SAMLResponse field is replaced by '*'",
			Build: func(b *Base) (Delivery, error) {
				x, err := b.bytesOf(nil, secResponse, nil, nil)
				if err != nil {
					return Delivery{}, err
				}
				f := base64.StdEncoding.EncodeToString(x)
				return form(f[:40] + "*" + f[41:]), nil
			}},
		Case{ID: "LIM-05", Group: g, Title: "empty form field", Expect: Refuse, Reason: saml.ErrMalformed,
			How:   "the SAMLResponse field is posted empty",
			Build: func(*Base) (Delivery, error) { return form(""), nil }},
		Case{ID: "LIM-06", Group: g, Title: "deep nesting, signed over", Expect: Refuse, Reason: saml.ErrMalformed,
			How: "before the root is signed, 200 nested saml2p:Extensions elements are inserted before Status",
			Build: variant(nil, secResponse, func(e *editor, _ *Base, r *etree.Element) {
				el := extensions()
				e.insertBefore(r, pStatus, el)
				for range 200 {
					el = el.CreateElement("saml2p:Extensions")
				}
			}, nil)},
		Case{ID: "LIM-07", Group: g, Title: "many EncryptedKey elements", Expect: Refuse, Reason: saml.ErrMalformed, NeedsEncryption: true,
			How: "the assertion is signed and encrypted for the service, the response is not signed, and 64 EncryptedKey copies encrypted for another key are put before the genuine one, each costing the service an RSA decryption",
			Build: func(b *Base) (Delivery, error) {
				decoy, err := b.doc(nil, func(b *Base) samlidp.ResponseSecurity {
					return samlidp.ResponseSecurity{EncryptFor: b.Keys.Untrusted.Certificate}
				}, nil)
				if err != nil {
					return Delivery{}, err
				}
				return variant(nil, encrypted(secAssertion, false), nil, func(e *editor, _ *Base, r *etree.Element) {
					ek := e.find(r, pEncrypted+"//EncryptedKey")
					bad := e.find(decoy.Root(), pEncrypted+"//EncryptedKey")
					if ek.Parent() == nil {
						return
					}
					for range 64 {
						ek.Parent().InsertChildAt(ek.Index(), bad.Copy())
					}
				})(b)
			}},
		Case{ID: "LIM-08", Group: g, Title: "attribute flood", Expect: Refuse, Reason: saml.ErrMalformed,
			How:   "after the root is signed, as many distinct attributes (a0=\"\" a1=\"\" ...) as fit in 256 KiB are added to the assertion's Subject start tag",
			Build: flood(func(i int) string { return fmt.Sprintf(` a%d=""`, i) })},
		Case{ID: "LIM-09", Group: g, Title: "quadratic entity expansion", Expect: Refuse, Reason: saml.ErrMalformed,
			How:   "the valid response gets a DOCTYPE declaring one 4 KiB entity, and NameID's text is replaced by 4,000 references to it",
			Build: withDoctype(`<!DOCTYPE r [<!ENTITY a "`+strings.Repeat("x", 4096)+`">]>`, strings.Repeat("&a;", 4000))},
		Case{ID: "LIM-10", Group: g, Title: "prefixed attribute flood", Expect: Refuse, Reason: saml.ErrMalformed,
			How:   "after the root is signed, as many pairs xmlns:pN=\"urn:xN\" pN:a=\"\" (one local name, distinct namespaces) as fit in 256 KiB are added to the assertion's Subject start tag",
			Build: flood(func(i int) string { return fmt.Sprintf(` xmlns:p%d="urn:x%d" p%d:a=""`, i, i, i) })},
	)
}
