package faults

import (
	"time"

	"github.com/beevik/etree"

	"github.com/clave-go/clave/saml"
)

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
	doc, err := saml.BuildLogoutResponse(saml.LogoutResponseParams{ID: "_logout1", InResponseTo: p.InResponseTo,
		Destination: p.Destination, IssueInstant: b.Now.Add(-2 * time.Second)})
	if err != nil {
		return Delivery{}, err
	}
	x, err := saml.SignDocument(doc, b.Keys.Trusted.Signer())
	return Delivery{XML: x}, err
}

func setClassRef(value func(b *Base) string) edit {
	return onAssertion(func(e *editor, b *Base, a *etree.Element) { e.find(a, pClassRef).SetText(value(b)) })
}

func init() {
	g := GroupClave
	register(
		Case{ID: "CLV-01", Group: g, Title: "Audience is an entity ID, not the ACS URL", Expect: Refuse, reason: saml.ErrAudience,
			How: "before the root is signed, the Audience is set to the scheme and host of the ACS URL (what a generic SP uses as entity ID); Cl@ve's Audience is the ACS URL itself",
			Build: variant(nil, secResponse, onAssertion(func(e *editor, b *Base, a *etree.Element) {
				e.find(a, pAudience).SetText(acsOrigin(b.Params.Destination))
			}), nil)},
		Case{ID: "CLV-02", Group: g, Title: "LoA below the requested one", Expect: Refuse, reason: saml.ErrLoA,
			How:   "before the root is signed, AuthnContextClassRef is set one level below the requested LoA (the Base's); when low was requested, to the eIDAS NotNotified/LoA/low, below every notified level",
			Build: variant(nil, secResponse, setClassRef(func(b *Base) string { return loaBelow(b.Params.LoA) }), nil)},
		Case{ID: "CLV-03", Group: g, Title: "SelectedIdP missing", Expect: Accept,
			How:   "the response carries no SelectedIdP attribute; the gateway always sends it, but it only says which method was used, and nothing about the identity or its level depends on it",
			Build: variant(withoutAttribute(saml.AttrSelectedIdP), secResponse, nil, nil)},
		Case{ID: "CLV-04", Group: g, Title: "transient NameID differs from PersonIdentifier", Expect: Accept,
			How: "NameID holds an opaque transient value instead of the DNI: a transient NameID is opaque by definition, both are signed, and the identity is PersonIdentifier",
			Build: variant(func(_ *Base, p *saml.ResponseParams) {
				p.NameID = saml.NameID{Value: "_7b1c52e0f3a94d6b8e2f01a3c4d5e6f7", Format: saml.NameIDTransient}
			}, secResponse, nil, nil)},
		Case{ID: "CLV-05", Group: g, Title: "LoA outside eIDAS", Expect: Refuse, reason: saml.ErrLoA,
			How:   "before the root is signed, AuthnContextClassRef is set to ac:classes:PasswordProtectedTransport, not an eIDAS level",
			Build: variant(nil, secResponse, setClassRef(constant("urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport")), nil)},
		Case{ID: "CLV-06", Group: g, Title: "LoA short name instead of URI", Expect: Refuse, reason: saml.ErrLoA,
			How:   `before the root is signed, AuthnContextClassRef is set to the bare word "high"`,
			Build: variant(nil, secResponse, setClassRef(constant("high")), nil)},
		Case{ID: "CLV-07", Group: g, Title: "LogoutResponse posted to the ACS", Expect: Refuse, reason: saml.ErrUnexpectedRoot,
			How:   "the gateway's signed LogoutResponse (Issuer Cl@ve), answering the pending request's ID, is posted as the SAMLResponse (the real gateway uses one endpoint for both)",
			Build: logoutResponse},
		Case{ID: "CLV-08", Group: g, Title: "Issuer Cl@ve on a Response", Expect: Refuse, reason: saml.ErrIssuer,
			How: "the response and assertion Issuers are the literal \"Cl@ve\" of the gateway's logout answers instead of its entity",
			Build: variant(func(_ *Base, p *saml.ResponseParams) {
				p.Issuer = saml.LogoutIssuer
			}, secResponse, nil, nil)},
		Case{ID: "CLV-09", Group: g, Title: "Audience extends the ACS URL", Expect: Refuse, reason: saml.ErrAudience,
			How: "before the root is signed, the Audience is the ACS URL with \".evil.example\" appended (a prefix match would take it)",
			Build: variant(nil, secResponse, onAssertion(func(e *editor, b *Base, a *etree.Element) {
				e.find(a, pAudience).SetText(b.Params.Destination + ".evil.example")
			}), nil)},
		Case{ID: "CLV-10", Group: g, Title: "Recipient extends the ACS URL", Expect: Refuse, reason: saml.ErrRecipient,
			How: "before the root is signed, SubjectConfirmationData's Recipient is the ACS URL with \"?next=https://evil.example\" appended",
			Build: variant(nil, secResponse, setAssertionAttr(pSCD, "Recipient", func(b *Base) string {
				return b.Params.Destination + "?next=" + evilHost
			}), nil)},
		Case{ID: "CLV-11", Group: g, Title: "LoA above the requested one", Expect: Accept,
			How: "the achieved LoA is one level above the requested one (the Base's); when high was requested it stays high",
			Build: variant(func(_ *Base, p *saml.ResponseParams) {
				if p.LoA >= saml.LoALow && p.LoA < saml.LoAHigh {
					p.LoA++
				}
			}, secResponse, nil, nil)},
		Case{ID: "CLV-12", Group: g, Title: "no AuthnContextClassRef", Expect: Refuse, reason: saml.ErrMissingElement,
			How:   "before the root is signed, AuthnContextClassRef is removed, so the response names no achieved level",
			Build: variant(nil, secResponse, removeInAssertion(pClassRef), nil)},
	)
}
