package faults

import (
	"strings"
	"time"

	"github.com/beevik/etree"

	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/saml"
)

func init() {
	g := GroupAssertion
	register(
		Case{ID: "AST-01", Group: g, Title: "assertion Version 1.1", Expect: Refuse, Reason: saml.ErrVersion,
			How:   `before the root is signed, the assertion's Version is set to "1.1"`,
			Build: variant(nil, secResponse, setAssertionAttr(".", "Version", constant("1.1")), nil)},
		Case{ID: "AST-02", Group: g, Title: "assertion without ID", Expect: Refuse, Reason: saml.ErrMalformed,
			How:   "before the root is signed, the assertion's ID attribute is removed",
			Build: variant(nil, secResponse, onAssertion(func(_ *editor, _ *Base, a *etree.Element) { a.RemoveAttr("ID") }), nil)},
		Case{ID: "AST-03", Group: g, Title: "wrong Recipient", Expect: Refuse, Reason: saml.ErrRecipient,
			How:   "before the root is signed, SubjectConfirmationData's Recipient is set to https://evil.example/acs",
			Build: variant(nil, secResponse, setAssertionAttr(pSCD, "Recipient", constant(evilHost+"/acs")), nil)},
		Case{ID: "AST-04", Group: g, Title: "missing Recipient", Expect: Refuse, Reason: saml.ErrRecipient,
			How: "before the root is signed, SubjectConfirmationData's Recipient attribute is removed",
			Build: variant(nil, secResponse, onAssertion(func(e *editor, _ *Base, a *etree.Element) {
				e.find(a, pSCD).RemoveAttr("Recipient")
			}), nil)},
		Case{ID: "AST-05", Group: g, Title: "wrong Audience", Expect: Refuse, Reason: saml.ErrAudience,
			How: "before the root is signed, the Audience is set to https://evil.example/acs",
			Build: variant(nil, secResponse, onAssertion(func(e *editor, _ *Base, a *etree.Element) {
				e.find(a, pAudience).SetText(evilHost + "/acs")
			}), nil)},
		Case{ID: "AST-06", Group: g, Title: "no AudienceRestriction", Expect: Refuse, Reason: saml.ErrAudience,
			How:   "before the root is signed, the AudienceRestriction is removed from Conditions",
			Build: variant(nil, secResponse, removeInAssertion(pAudienceRes), nil)},
		Case{ID: "AST-07", Group: g, Title: "second AudienceRestriction for someone else", Expect: Refuse, Reason: saml.ErrAudience,
			How: "before the root is signed, a second AudienceRestriction naming only https://evil.example/acs is added to Conditions (restrictions must all hold)",
			Build: variant(nil, secResponse, onAssertion(func(e *editor, _ *Base, a *etree.Element) {
				e.find(a, pConditions).CreateElement("saml2:AudienceRestriction").CreateElement("saml2:Audience").SetText(evilHost + "/acs")
			}), nil)},
		Case{ID: "AST-08", Group: g, Title: "wrong assertion Issuer", Expect: Refuse, Reason: saml.ErrIssuer,
			How: "before the root is signed, the assertion's Issuer is set to https://evil.example (the response Issuer stays right)",
			Build: variant(nil, secResponse, onAssertion(func(e *editor, _ *Base, a *etree.Element) {
				e.find(a, pIssuer).SetText(evilHost)
			}), nil)},
		Case{ID: "AST-09", Group: g, Title: "missing assertion Issuer", Expect: Refuse, Reason: saml.ErrIssuer,
			How:   "before the root is signed, the assertion's Issuer element is removed",
			Build: variant(nil, secResponse, removeInAssertion(pIssuer), nil)},
		Case{ID: "AST-10", Group: g, Title: "missing Conditions", Expect: Refuse, Reason: saml.ErrMissingElement,
			How:   "before the root is signed, the assertion's Conditions element is removed",
			Build: variant(nil, secResponse, removeInAssertion(pConditions), nil)},
		Case{ID: "AST-11", Group: g, Title: "missing Subject", Expect: Refuse, Reason: saml.ErrMissingElement,
			How:   "before the root is signed, the assertion's Subject element is removed",
			Build: variant(nil, secResponse, removeInAssertion(pSubject), nil)},
		Case{ID: "AST-12", Group: g, Title: "missing NameID", Expect: Refuse, Reason: saml.ErrMissingElement,
			How:   "before the root is signed, the Subject's NameID is removed (PersonIdentifier stays)",
			Build: variant(nil, secResponse, removeInAssertion(pNameID), nil)},
		Case{ID: "AST-13", Group: g, Title: "missing AuthnStatement", Expect: Refuse, Reason: saml.ErrMissingElement,
			How:   "before the root is signed, the AuthnStatement (and with it the achieved LoA) is removed",
			Build: variant(nil, secResponse, removeInAssertion(pAuthn), nil)},
		Case{ID: "AST-14", Group: g, Title: "assertion expired beyond skew", Expect: Refuse, Reason: saml.ErrExpired,
			How: "the response is issued 12 minutes before delivery with a 2-minute validity, so Conditions and confirmation expired 10 minutes ago",
			Build: variant(func(b *Base, p *samlidp.ResponseParams) {
				p.IssueInstant = b.Now.Add(-12 * time.Minute)
				p.Validity = 2 * time.Minute
			}, secResponse, nil, nil)},
		Case{ID: "AST-15", Group: g, Title: "confirmation expired beyond skew", Expect: Refuse, Reason: saml.ErrExpired,
			How:   "before the root is signed, SubjectConfirmationData's NotOnOrAfter is set to 10 minutes before delivery (Conditions stay valid)",
			Build: variant(nil, secResponse, setAssertionAttr(pSCD, "NotOnOrAfter", at(-10*time.Minute)), nil)},
		Case{ID: "AST-16", Group: g, Title: "NotBefore in the future", Expect: Refuse, Reason: saml.ErrNotYetValid,
			How:   "before the root is signed, Conditions' NotBefore is set to 5 minutes after delivery",
			Build: variant(nil, secResponse, setAssertionAttr(pConditions, "NotBefore", at(5*time.Minute)), nil)},
		Case{ID: "AST-17", Group: g, Title: "assertion IssueInstant in the future", Expect: Refuse, Reason: saml.ErrNotYetValid,
			How:   "before the root is signed, the assertion's IssueInstant is set to 5 minutes after delivery (the response's stays right)",
			Build: variant(nil, secResponse, setAssertionAttr(".", "IssueInstant", at(5*time.Minute)), nil)},
		Case{ID: "AST-18", Group: g, Title: "AuthnInstant in the future", Expect: Refuse, Reason: saml.ErrNotYetValid,
			How: "the AuthnStatement's AuthnInstant is 5 minutes after delivery",
			Build: variant(func(b *Base, p *samlidp.ResponseParams) {
				p.AuthnInstant = b.Now.Add(5 * time.Minute)
			}, secResponse, nil, nil)},
		Case{ID: "AST-19", Group: g, Title: "instant without time zone", Expect: Refuse, Reason: saml.ErrMalformed,
			How: "before the root is signed, Conditions' NotOnOrAfter loses its trailing Z",
			Build: variant(nil, secResponse, setAssertionAttr(pConditions, "NotOnOrAfter", func(b *Base) string {
				return strings.TrimSuffix(saml.FormatInstant(b.Now.Add(10*time.Minute)), "Z")
			}), nil)},
		Case{ID: "AST-20", Group: g, Title: "Conditions without NotOnOrAfter", Expect: Refuse, Reason: saml.ErrMissingElement,
			How: "before the root is signed, Conditions' NotOnOrAfter attribute is removed, leaving the assertion valid forever",
			Build: variant(nil, secResponse, onAssertion(func(e *editor, _ *Base, a *etree.Element) {
				e.find(a, pConditions).RemoveAttr("NotOnOrAfter")
			}), nil)},
		Case{ID: "AST-21", Group: g, Title: "confirmation without NotOnOrAfter", Expect: Refuse, Reason: saml.ErrMissingElement,
			How: "before the root is signed, SubjectConfirmationData's NotOnOrAfter attribute is removed",
			Build: variant(nil, secResponse, onAssertion(func(e *editor, _ *Base, a *etree.Element) {
				e.find(a, pSCD).RemoveAttr("NotOnOrAfter")
			}), nil)},
		Case{ID: "AST-22", Group: g, Title: "holder-of-key confirmation", Expect: Refuse, Reason: saml.ErrSubjectConfirmation,
			How:   "before the root is signed, the SubjectConfirmation Method is set to cm:holder-of-key",
			Build: variant(nil, secResponse, setAssertionAttr(pSC, "Method", constant("urn:oasis:names:tc:SAML:2.0:cm:holder-of-key")), nil)},
		Case{ID: "AST-23", Group: g, Title: "bearer confirmation with NotBefore", Expect: Refuse, Reason: saml.ErrSubjectConfirmation,
			How:   "before the root is signed, SubjectConfirmationData gets NotBefore = 1 minute before delivery, which the bearer profile forbids",
			Build: variant(nil, secResponse, setAssertionAttr(pSCD, "NotBefore", at(-time.Minute)), nil)},
		Case{ID: "AST-24", Group: g, Title: "no SubjectConfirmation", Expect: Refuse, Reason: saml.ErrSubjectConfirmation,
			How:   "before the root is signed, the Subject's SubjectConfirmation is removed",
			Build: variant(nil, secResponse, removeInAssertion(pSC), nil)},
		Case{ID: "AST-25", Group: g, Title: "bearer confirmation without data", Expect: Refuse, Reason: saml.ErrSubjectConfirmation,
			How:   "before the root is signed, SubjectConfirmationData is removed from the bearer SubjectConfirmation",
			Build: variant(nil, secResponse, removeInAssertion(pSCD), nil)},
		Case{ID: "AST-26", Group: g, Title: "attribute given twice", Expect: Refuse, Reason: saml.ErrMalformed,
			How: "before the root is signed, a second PersonIdentifier attribute with the attacker's DNI is appended after the genuine one",
			Build: variant(nil, secResponse, onAssertion(func(e *editor, b *Base, a *etree.Element) {
				at := e.mustPersonID(a).Parent()
				if at == nil {
					return
				}
				c := at.Copy()
				c.FindElement("./saml2:AttributeValue").SetText(b.evilID())
				at.Parent().AddChild(c)
			}), nil)},
		Case{ID: "AST-27", Group: g, Title: "two assertions", Expect: Refuse, Reason: saml.ErrAssertionCount,
			How: "before the root is signed, a copy of the assertion with another ID and the attacker's identity is appended to the response",
			Build: variant(nil, secResponse, func(e *editor, b *Base, r *etree.Element) {
				evil := e.find(r, pAssertion).Copy()
				evil.CreateAttr("ID", "_assert2")
				evilize(e, b, evil)
				r.AddChild(evil)
			}, nil)},
		Case{ID: "AST-28", Group: g, Title: "success without an assertion", Expect: Refuse, Reason: saml.ErrAssertionCount,
			How:   "before the root is signed, the assertion is removed from the success response",
			Build: variant(nil, secResponse, removeAt(pAssertion), nil)},
		Case{ID: "AST-29", Group: g, Title: "two NameIDs", Expect: Refuse, Reason: saml.ErrMalformed,
			How: "before the root is signed, a second NameID with the attacker's DNI is appended to the Subject",
			Build: variant(nil, secResponse, onAssertion(func(e *editor, b *Base, a *etree.Element) {
				nid := e.find(a, pNameID).Copy()
				nid.SetText(b.evilID())
				e.find(a, pSubject).AddChild(nid)
			}), nil)},
	)
}
