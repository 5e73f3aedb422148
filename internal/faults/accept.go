package faults

import (
	"crypto"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/saml"
)

// Cases a correct service must accept: what the gateway (or an honest peer) may
// send. A service that refuses them breaks real logins, and one that refuses
// everything would pass every refusal.

// withoutMilliseconds rewrites every xs:dateTime attribute of the tree at
// second precision, truncating.
func withoutMilliseconds(e *editor, _ *Base, r *etree.Element) {
	n := 0
	for _, el := range append(r.FindElements(".//*"), r) {
		for i, a := range el.Attr {
			t, err := time.Parse(time.RFC3339Nano, a.Value)
			if err != nil || !strings.Contains(a.Value, ".") {
				continue
			}
			el.Attr[i].Value = t.UTC().Truncate(time.Second).Format("2006-01-02T15:04:05Z")
			n++
		}
	}
	if n < 6 {
		e.fail("only %d instants with fractions found", n)
	}
}

// indented is the response pretty-printed before it is signed at the root.
func indented(b *Base) (Delivery, error) {
	d, err := b.doc(nil, nil, nil)
	if err != nil {
		return Delivery{}, err
	}
	d.Indent(2)
	if err := samlidp.SecureResponse(d, secResponse(b)); err != nil {
		return Delivery{}, fmt.Errorf("faults: %w", err)
	}
	return deliver(d)
}

// lineWrapped posts the valid response's base64 in 76-column lines with CRLF,
// as MIME encoders write it.
func lineWrapped(b *Base) (Delivery, error) {
	x, err := b.bytesOf(nil, secResponse, nil, nil)
	if err != nil {
		return Delivery{}, err
	}
	f := base64.StdEncoding.EncodeToString(x)
	var s strings.Builder
	for len(f) > 76 {
		s.WriteString(f[:76] + "\r\n")
		f = f[76:]
	}
	s.WriteString(f)
	return form(s.String()), nil
}

func init() {
	g := GroupAccept
	sha256 := func(b *Base) samlidp.ResponseSecurity {
		s := secBoth(b)
		s.Signer.Hash = crypto.SHA256
		return s
	}
	register(
		Case{ID: "ACC-01", Group: g, Title: "valid gateway response", Expect: Accept,
			How:   "the response exactly as the gateway sends it: root signed (RSA-SHA512, exc-c14n with InclusiveNamespaces), assertion not separately signed",
			Build: variant(nil, secResponse, nil, nil)},
		Case{ID: "ACC-02", Group: g, Title: "response and assertion both signed", Expect: Accept,
			How:   "the assertion is signed on its own (eIDAS style) and the response root signed over it",
			Build: variant(nil, secBoth, nil, nil)},
		Case{ID: "ACC-03", Group: g, Title: "only the assertion signed", Expect: Accept,
			How:   "the assertion is signed on its own and the response is not signed",
			Build: variant(nil, secAssertion, nil, nil)},
		Case{ID: "ACC-04", Group: g, Title: "RSA-SHA256 signatures", Expect: Accept,
			How:   "response and assertion are signed with RSA-SHA256 and SHA-256 digests instead of SHA-512",
			Build: variant(nil, sha256, nil, nil)},
		Case{ID: "ACC-05", Group: g, Title: "encrypted, only the assertion signed", Expect: Accept, NeedsEncryption: true,
			How:   "the assertion is signed, then encrypted for the service (RSA-OAEP, AES-256-GCM); the response is not signed",
			Build: variant(nil, encrypted(secAssertion, false), nil, nil)},
		Case{ID: "ACC-06", Group: g, Title: "encrypted, assertion and response signed", Expect: Accept, NeedsEncryption: true,
			How:   "the assertion is signed, encrypted for the service (RSA-OAEP, AES-256-GCM), and the response root signed over the ciphertext",
			Build: variant(nil, encrypted(secBoth, false), nil, nil)},
		Case{ID: "ACC-07", Group: g, Title: "instants without milliseconds", Expect: Accept,
			How:   "before the root is signed, every instant is rewritten at second precision (2026-03-01T10:00:00Z), which xs:dateTime allows",
			Build: variant(nil, secResponse, withoutMilliseconds, nil)},
		Case{ID: "ACC-08", Group: g, Title: "Issuer without Format", Expect: Accept,
			How: "before the root is signed, the Format attribute is removed from the response and assertion Issuers (entity is the default)",
			Build: variant(nil, secResponse, func(e *editor, _ *Base, r *etree.Element) {
				e.find(r, pIssuer).RemoveAttr("Format")
				e.find(e.find(r, pAssertion), pIssuer).RemoveAttr("Format")
			}, nil)},
		Case{ID: "ACC-09", Group: g, Title: "rollover: next key, no KeyInfo", Expect: Accept,
			How:   "the root is signed by the gateway's next key (trusted alongside the current one) with no KeyInfo, so the service must try every trusted certificate",
			Build: variant(nil, signedBy(next, false, true, false), nil, nil)},
		Case{ID: "ACC-10", Group: g, Title: "issued 30 s ahead of the service's clock", Expect: Accept,
			How: "the response is issued 30 s after the delivery instant, within a 60 s skew (NotBefore and AuthnInstant follow)",
			Build: variant(func(b *Base, p *samlidp.ResponseParams) {
				p.IssueInstant = b.Now.Add(30 * time.Second)
				p.AuthnInstant = time.Time{}
			}, secResponse, nil, nil)},
		Case{ID: "ACC-11", Group: g, Title: "expired 30 s ago, within skew", Expect: Accept,
			How: "the response is issued 10 min 30 s before delivery with a 10-minute validity, so it expired 30 s ago, within a 60 s skew",
			Build: variant(func(b *Base, p *samlidp.ResponseParams) {
				p.IssueInstant = b.Now.Add(-10*time.Minute - 30*time.Second)
				p.Validity = 10 * time.Minute
				p.AuthnInstant = time.Time{}
			}, secResponse, nil, nil)},
		Case{ID: "ACC-12", Group: g, Title: "re-signed with ResignEnveloped (control)", Expect: Accept,
			How:   "the valid response's root signature is recomputed unchanged by ResignEnveloped, the primitive the algorithm cases use",
			Build: resigned(secResponse, false, samlidp.ResignOptions{}, nil)},
		Case{ID: "ACC-13", Group: g, Title: "signed by goxmldsig, RSA-SHA256", Expect: Accept,
			How:   "the unsigned response is signed at the root by goxmldsig's signer (RSA-SHA256, its signature last), an implementation independent of ours",
			Build: dsigSigned(trusted, dsig.RSASHA256SignatureMethod)},
		Case{ID: "ACC-14", Group: g, Title: "signed by goxmldsig, RSA-SHA512", Expect: Accept,
			How:   "the unsigned response is signed at the root by goxmldsig's signer with RSA-SHA512",
			Build: dsigSigned(trusted, dsig.RSASHA512SignatureMethod)},
		Case{ID: "ACC-15", Group: g, Title: "pretty-printed before signing", Expect: Accept,
			How:   "the unsigned response is indented by two spaces per level, then signed at the root, so whitespace text nodes are signed",
			Build: indented},
		Case{ID: "ACC-16", Group: g, Title: "line-wrapped base64", Expect: Accept,
			How:   "the valid response's SAMLResponse field is base64 broken into 76-character lines with CRLF",
			Build: lineWrapped},
		Case{ID: "ACC-17", Group: g, Title: "confirmation Address is not the client's", Expect: Accept,
			How: "SubjectConfirmationData's Address is 192.0.2.44, unrelated to the browser's address (the gateway writes an internal address there)",
			Build: variant(func(_ *Base, p *samlidp.ResponseParams) {
				p.SubjectAddress = "192.0.2.44"
			}, secResponse, nil, nil)},
		Case{ID: "ACC-18", Group: g, Title: "signature without KeyInfo", Expect: Accept,
			How:   "the root is signed by the gateway's current key and the signature carries no KeyInfo",
			Build: variant(nil, signedBy(trusted, false, true, false), nil, nil)},
		Case{ID: "ACC-19", Group: g, Title: "no XML declaration", Expect: Accept,
			How: "the valid response without its <?xml ...?> declaration",
			Build: raw(func(_ *Base, x []byte) ([]byte, error) {
				if i := strings.Index(string(x), "?>"); i >= 0 && strings.HasPrefix(string(x), "<?xml") {
					return x[i+2:], nil
				}
				return nil, fmt.Errorf("faults: no XML declaration to remove")
			})},
		Case{ID: "ACC-20", Group: g, Title: "no StatusMessage", Expect: Accept,
			How:   "before the root is signed, the optional StatusMessage is removed from the success Status",
			Build: variant(nil, secResponse, removeAt(pStatus+"/saml2p:StatusMessage"), nil)},
		Case{ID: "ACC-21", Group: g, Title: "persistent NameID", Expect: Accept,
			How: "the NameID (same value) has Format nameid-format:persistent, as a request asking for persistent may get",
			Build: variant(func(_ *Base, p *samlidp.ResponseParams) {
				p.NameID.Format = saml.NameIDPersistent
			}, secResponse, nil, nil)},
		Case{ID: "ACC-22", Group: g, Title: "attribute not asked for", Expect: Accept,
			How: "the response carries an extra RegisterType attribute the service did not request",
			Build: variant(func(_ *Base, p *samlidp.ResponseParams) {
				p.Attributes = append(p.Attributes, saml.Attribute{Name: saml.AttrRegisterType, FriendlyName: "RegisterType", Values: []string{"Nivel Avanzado"}})
			}, secResponse, nil, nil)},
		Case{ID: "ACC-23", Group: g, Title: "confirmation without Address", Expect: Accept,
			How: "SubjectConfirmationData carries no Address attribute, which is optional",
			Build: variant(func(_ *Base, p *samlidp.ResponseParams) {
				p.SubjectAddress = ""
			}, secResponse, nil, nil)},
	)
}
