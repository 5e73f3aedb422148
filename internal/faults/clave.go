package faults

import (
	"time"

	"github.com/beevik/etree"

	"github.com/clave-go/clave/internal/dni"
	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/saml"
)

// eidasCitizen is an eIDAS identifier a Spanish service may receive.
const eidasCitizen = "IT/ES/RSSMRA80A01H501U"

// eidasForFrance is an eIDAS identifier Germany issued for French services.
const eidasForFrance = "DE/FR/1234567890"

// notNotifiedLow is the eIDAS LoA of a non-notified scheme: below every
// notified level, and so below "low" when the request asked for low.
const notNotifiedLow = "http://eidas.europa.eu/NotNotified/LoA/low"

// loaBelow is a level below lv as AuthnContextClassRef carries it.
func loaBelow(lv saml.LoA) string {
	if lv > saml.LoALow && lv <= saml.LoAHigh {
		return (lv - 1).URI()
	}
	return notNotifiedLow
}

// logoutResponse is the gateway's signed LogoutResponse to this login's request
// ID, posted to the ACS.
func logoutResponse(b *Base) (Delivery, error) {
	p := b.Params
	doc, err := samlidp.BuildLogoutResponse(samlidp.LogoutResponseParams{ID: "_logout1", InResponseTo: p.InResponseTo,
		Destination: p.Destination, IssueInstant: b.Now.Add(-2 * time.Second)})
	if err != nil {
		return Delivery{}, err
	}
	x, err := samlidp.SignDocument(doc, b.Keys.Trusted.Signer())
	return Delivery{XML: x}, err
}

// withPersonID sets the values of the PersonIdentifier attribute; each value
// is computed from the Base.
func withPersonID(values ...func(b *Base) string) func(*Base, *samlidp.ResponseParams) {
	return withValues(saml.AttrPersonIdentifier, values...)
}

// withValues sets the values of the named attribute (none: an Attribute
// without AttributeValue); each value is computed from the Base.
func withValues(name string, values ...func(b *Base) string) func(*Base, *samlidp.ResponseParams) {
	return func(b *Base, p *samlidp.ResponseParams) {
		for i := range p.Attributes {
			if p.Attributes[i].Name != name {
				continue
			}
			p.Attributes[i].Values = nil
			for _, v := range values {
				p.Attributes[i].Values = append(p.Attributes[i].Values, v(b))
			}
		}
	}
}

func genuineID(b *Base) string { return b.Params.NameID.Value }
func evilIDOf(b *Base) string  { return b.evilID() }

// wrongLetter is the Base citizen's DNI or NIE with a check letter that does
// not match its number (a fixed such DNI when the citizen's is an eIDAS
// identifier, which has no check letter).
func wrongLetter(b *Base) string {
	id, err := dni.Parse(genuineID(b))
	if err != nil || (id.Kind() != dni.KindDNI && id.Kind() != dni.KindNIE) {
		return "12345678A"
	}
	// Only one letter matches a number: any other is wrong.
	s := id.String()
	wrong := "A"
	if s[len(s)-1] == 'A' {
		wrong = "B"
	}
	return s[:len(s)-1] + wrong
}

func setClassRef(value func(b *Base) string) edit {
	return onAssertion(func(e *editor, b *Base, a *etree.Element) { e.find(a, pClassRef).SetText(value(b)) })
}

func init() {
	g := GroupClave
	register(
		Case{ID: "CLV-01", Group: g, Title: "Audience is an entity ID, not the ACS URL", Expect: Refuse, Reason: saml.ErrAudience,
			How: "before the root is signed, the Audience is set to the scheme and host of the ACS URL (what a generic SP uses as entity ID); Cl@ve's Audience is the ACS URL itself",
			Build: variant(nil, secResponse, onAssertion(func(e *editor, b *Base, a *etree.Element) {
				e.find(a, pAudience).SetText(acsOrigin(b.Params.Destination))
			}), nil)},
		Case{ID: "CLV-02", Group: g, Title: "LoA below the requested one", Expect: Refuse, Reason: saml.ErrLoA,
			How:   "before the root is signed, AuthnContextClassRef is set one level below the requested LoA (the Base's); when low was requested, to the eIDAS NotNotified/LoA/low, below every notified level",
			Build: variant(nil, secResponse, setClassRef(func(b *Base) string { return loaBelow(b.Params.LoA) }), nil)},
		Case{ID: "CLV-03", Group: g, Title: "SelectedIdP missing", Expect: Accept,
			How:   "the response carries no SelectedIdP attribute; the gateway always sends it, but it only says which method was used, and nothing about the identity or its level depends on it",
			Build: variant(withoutAttribute(saml.AttrSelectedIdP), secResponse, nil, nil)},
		Case{ID: "CLV-04", Group: g, Title: "transient NameID differs from PersonIdentifier", Expect: Accept,
			How: "NameID holds an opaque transient value instead of the DNI: a transient NameID is opaque by definition, both are signed, and the identity is PersonIdentifier",
			Build: variant(func(_ *Base, p *samlidp.ResponseParams) {
				p.NameID = saml.NameID{Value: "_7b1c52e0f3a94d6b8e2f01a3c4d5e6f7", Format: saml.NameIDTransient}
			}, secResponse, nil, nil)},
		Case{ID: "CLV-05", Group: g, Title: "LoA outside eIDAS", Expect: Refuse, Reason: saml.ErrLoA,
			How:   "before the root is signed, AuthnContextClassRef is set to ac:classes:PasswordProtectedTransport, not an eIDAS level",
			Build: variant(nil, secResponse, setClassRef(constant("urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport")), nil)},
		Case{ID: "CLV-06", Group: g, Title: "LoA short name instead of URI", Expect: Refuse, Reason: saml.ErrLoA,
			How:   `before the root is signed, AuthnContextClassRef is set to the bare word "high"`,
			Build: variant(nil, secResponse, setClassRef(constant("high")), nil)},
		Case{ID: "CLV-07", Group: g, Title: "LogoutResponse posted to the ACS", Expect: Refuse, Reason: saml.ErrUnexpectedRoot,
			How:   "the gateway's signed LogoutResponse (Issuer Cl@ve), answering the pending request's ID, is posted as the SAMLResponse (the real gateway uses one endpoint for both)",
			Build: logoutResponse},
		Case{ID: "CLV-08", Group: g, Title: "Issuer Cl@ve on a Response", Expect: Refuse, Reason: saml.ErrIssuer,
			How: "the response and assertion Issuers are the literal \"Cl@ve\" of the gateway's logout answers instead of its entity",
			Build: variant(func(_ *Base, p *samlidp.ResponseParams) {
				p.Issuer = saml.LogoutIssuer
			}, secResponse, nil, nil)},
		Case{ID: "CLV-09", Group: g, Title: "Audience extends the ACS URL", Expect: Refuse, Reason: saml.ErrAudience,
			How: "before the root is signed, the Audience is the ACS URL with \".evil.example\" appended (a prefix match would take it)",
			Build: variant(nil, secResponse, onAssertion(func(e *editor, b *Base, a *etree.Element) {
				e.find(a, pAudience).SetText(b.Params.Destination + ".evil.example")
			}), nil)},
		Case{ID: "CLV-10", Group: g, Title: "Recipient extends the ACS URL", Expect: Refuse, Reason: saml.ErrRecipient,
			How: "before the root is signed, SubjectConfirmationData's Recipient is the ACS URL with \"?next=https://evil.example\" appended",
			Build: variant(nil, secResponse, setAssertionAttr(pSCD, "Recipient", func(b *Base) string {
				return b.Params.Destination + "?next=" + evilHost
			}), nil)},
		Case{ID: "CLV-11", Group: g, Title: "LoA above the requested one", Expect: Accept,
			How: "the achieved LoA is one level above the requested one (the Base's); when high was requested it stays high",
			Build: variant(func(_ *Base, p *samlidp.ResponseParams) {
				if p.LoA >= saml.LoALow && p.LoA < saml.LoAHigh {
					p.LoA++
				}
			}, secResponse, nil, nil)},
		Case{ID: "CLV-12", Group: g, Title: "no AuthnContextClassRef", Expect: Refuse, Reason: saml.ErrMissingElement,
			How:   "before the root is signed, AuthnContextClassRef is removed, so the response names no achieved level",
			Build: variant(nil, secResponse, removeInAssertion(pClassRef), nil)},
		Case{ID: "CLV-13", Group: g, Title: "no PersonIdentifier", Expect: Refuse, Reason: saml.ErrIdentity,
			How:   "the response carries no PersonIdentifier attribute while the NameID still holds the citizen's DNI; the identity is PersonIdentifier, never the NameID, which the gateway may send as an opaque transient value",
			Build: variant(withoutAttribute(saml.AttrPersonIdentifier), secResponse, nil, nil)},
		Case{ID: "CLV-14", Group: g, Title: "no PersonIdentifier, NameID is another citizen's DNI", Expect: Refuse, Reason: saml.ErrIdentity,
			How: "the PersonIdentifier attribute is removed and the NameID holds the attacker's DNI while the names stay the citizen's, so a service falling back to the NameID logs in someone the names do not describe",
			Build: variant(func(b *Base, p *samlidp.ResponseParams) {
				withoutAttribute(saml.AttrPersonIdentifier)(b, p)
				p.NameID = saml.NameID{Value: b.evilID(), Format: saml.NameIDPersistent}
			}, secResponse, nil, nil)},
		Case{ID: "CLV-15", Group: g, Title: "empty PersonIdentifier", Expect: Refuse, Reason: saml.ErrIdentity,
			How:   "the PersonIdentifier attribute has one empty AttributeValue; the NameID still holds the citizen's DNI",
			Build: variant(withPersonID(constant("")), secResponse, nil, nil)},
		Case{ID: "CLV-16", Group: g, Title: "PersonIdentifier with two values", Expect: Refuse, Reason: saml.ErrIdentity,
			How:   "the PersonIdentifier attribute carries the citizen's DNI and then the attacker's as a second AttributeValue, so two readers may take different identities",
			Build: variant(withPersonID(genuineID, evilIDOf), secResponse, nil, nil)},
		Case{ID: "CLV-17", Group: g, Title: "PersonIdentifier with a wrong check letter", Expect: Refuse, Reason: saml.ErrIdentity,
			How:   "the PersonIdentifier is the citizen's DNI or NIE number with a check letter that does not match it (12345678A when the citizen's identifier has no check letter)",
			Build: variant(withPersonID(wrongLetter), secResponse, nil, nil)},
		Case{ID: "CLV-18", Group: g, Title: "empty NameID", Expect: Refuse, Reason: saml.ErrIdentity,
			How: "before the root is signed, the Subject's NameID is emptied while PersonIdentifier stays the citizen's: the identity comes from PersonIdentifier, but a subject naming no one is not a well-formed assertion",
			Build: variant(nil, secResponse, onAssertion(func(e *editor, _ *Base, a *etree.Element) {
				e.find(a, pNameID).SetText("")
			}), nil)},
		Case{ID: "CLV-19", Group: g, Title: "required FamilyName missing", Expect: Refuse, Reason: saml.ErrMissingAttribute,
			How:   "the response carries no CurrentFamilyName, which the request marks isRequired=\"true\" (the SDK's default request and the official kits do; a service that asks for it as optional may accept)",
			Build: variant(withoutAttribute(saml.AttrCurrentFamilyName), secResponse, nil, nil)},
		Case{ID: "CLV-20", Group: g, Title: "second PersonIdentifier in another AttributeStatement", Expect: Refuse, Reason: saml.ErrMalformed,
			How: "before the root is signed, a second AttributeStatement holding a PersonIdentifier with the attacker's DNI is appended to the assertion, after the genuine one",
			Build: variant(nil, secResponse, onAssertion(func(e *editor, b *Base, a *etree.Element) {
				at := e.mustPersonID(a).Parent()
				if at == nil {
					return
				}
				c := at.Copy()
				c.FindElement("./saml2:AttributeValue").SetText(b.evilID())
				a.CreateElement("saml2:AttributeStatement").AddChild(c)
			}), nil)},
		Case{ID: "CLV-21", Group: g, Title: "eIDAS citizen", Expect: Accept, Identity: eidasCitizen,
			How: "the citizen is a citizen of another EU state: PersonIdentifier (and NameID) hold the eIDAS identifier " + eidasCitizen + " instead of a DNI",
			Build: variant(func(_ *Base, p *samlidp.ResponseParams) {
				p.NameID.Value = eidasCitizen
				withPersonID(constant(eidasCitizen))(nil, p)
			}, secResponse, nil, nil)},
		Case{ID: "CLV-22", Group: g, Title: "blank PersonIdentifier", Expect: Refuse, Reason: saml.ErrIdentity,
			How:   "the PersonIdentifier attribute has one AttributeValue made only of spaces and a line break; the NameID still holds the citizen's DNI",
			Build: variant(withPersonID(constant("  \n ")), secResponse, nil, nil)},
		Case{ID: "CLV-23", Group: g, Title: "PersonIdentifier without AttributeValue", Expect: Refuse, Reason: saml.ErrIdentity,
			How:   "the PersonIdentifier Attribute element is there but holds no AttributeValue; the NameID still holds the citizen's DNI",
			Build: variant(withPersonID(), secResponse, nil, nil)},
		Case{ID: "CLV-24", Group: g, Title: "PersonIdentifier with an empty second value", Expect: Refuse, Reason: saml.ErrIdentity,
			How:   "the PersonIdentifier attribute carries the citizen's DNI and then an empty second AttributeValue, so it does not name one citizen beyond doubt",
			Build: variant(withPersonID(genuineID, constant("")), secResponse, nil, nil)},
		Case{ID: "CLV-25", Group: g, Title: "PersonIdentifier that is no identity document", Expect: Refuse, Reason: saml.ErrIdentity,
			How:   "the PersonIdentifier is an opaque transient-style value (_7b1c52e0f3a94d6b8e2f01a3c4d5e6f7), neither a DNI, a NIE nor an eIDAS identifier",
			Build: variant(withPersonID(constant("_7b1c52e0f3a94d6b8e2f01a3c4d5e6f7")), secResponse, nil, nil)},
		Case{ID: "CLV-26", Group: g, Title: "eIDAS PersonIdentifier for another country's services", Expect: Refuse, Reason: saml.ErrIdentity,
			How: "PersonIdentifier (and NameID) hold the eIDAS identifier " + eidasForFrance + ", issued by Germany for French services, not Spanish ones",
			Build: variant(func(_ *Base, p *samlidp.ResponseParams) {
				p.NameID.Value = eidasForFrance
				withPersonID(constant(eidasForFrance))(nil, p)
			}, secResponse, nil, nil)},
		Case{ID: "CLV-27", Group: g, Title: "eIDAS PersonIdentifier with nothing after the countries", Expect: Refuse, Reason: saml.ErrIdentity,
			How:   "the PersonIdentifier is DE/ES/, an eIDAS identifier addressed to Spain whose personal part is empty",
			Build: variant(withPersonID(constant("DE/ES/")), secResponse, nil, nil)},
		Case{ID: "CLV-28", Group: g, Title: "blank NameID", Expect: Refuse, Reason: saml.ErrIdentity,
			How: "before the root is signed, the Subject's NameID is set to a space, a tab and a space while PersonIdentifier stays the citizen's",
			Build: variant(nil, secResponse, onAssertion(func(e *editor, _ *Base, a *etree.Element) {
				e.find(a, pNameID).SetText(" \t ")
			}), nil)},
		Case{ID: "CLV-29", Group: g, Title: "required FirstName blank", Expect: Refuse, Reason: saml.ErrMissingAttribute,
			How:   "the CurrentGivenName attribute, which the request marks isRequired=\"true\", has a single AttributeValue holding one space",
			Build: variant(withValues(saml.AttrCurrentGivenName, constant(" ")), secResponse, nil, nil)},
		Case{ID: "CLV-30", Group: g, Title: "required FamilyName without AttributeValue", Expect: Refuse, Reason: saml.ErrMissingAttribute,
			How:   "the CurrentFamilyName Attribute element, which the request marks isRequired=\"true\", is there but holds no AttributeValue",
			Build: variant(withValues(saml.AttrCurrentFamilyName), secResponse, nil, nil)},
	)
}
