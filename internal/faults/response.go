package faults

import (
	"strings"
	"time"

	"github.com/beevik/etree"

	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/saml"
)

// otherGateway is the issuer of the other Cl@ve environment than the Base's.
func otherGateway(b *Base) string {
	if b.Params.Issuer == saml.ProductionIssuer {
		return saml.PreproductionIssuer
	}
	return saml.ProductionIssuer
}

// reflectedRequest is the service's own AuthnRequest for this login, posted
// back to it signed by the trusted gateway key.
func reflectedRequest(b *Base) (Delivery, error) {
	p := b.Params
	req := &saml.AuthnRequest{ID: p.InResponseTo, IssueInstant: b.Now.Add(-time.Minute), Destination: saml.PreproductionURL,
		ACSURL: p.Destination, SPID: "S0000000E_E00000000", ApplicationName: "Pruebas", LoA: saml.LoALow}
	x, err := req.Sign(b.Keys.Trusted.Signer())
	return Delivery{XML: x}, err
}

func init() {
	g := GroupResponse
	register(
		Case{ID: "RSP-01", Group: g, Title: `Version="1.0"`, Expect: Refuse, Reason: saml.ErrVersion,
			How:   `before the root is signed, the response's Version is set to "1.0"`,
			Build: variant(nil, secResponse, setAttrAt(".", "Version", constant("1.0")), nil)},
		Case{ID: "RSP-02", Group: g, Title: "response without ID", Expect: Refuse, Reason: saml.ErrMalformed,
			How:   "only the assertion is signed, and the response's ID attribute is removed",
			Build: variant(nil, secAssertion, nil, func(_ *editor, _ *Base, r *etree.Element) { r.RemoveAttr("ID") })},
		Case{ID: "RSP-03", Group: g, Title: "wrong Destination", Expect: Refuse, Reason: saml.ErrDestination,
			How:   "before the root is signed, its Destination is set to https://evil.example/acs",
			Build: variant(nil, secResponse, setAttrAt(".", "Destination", constant(evilHost+"/acs")), nil)},
		Case{ID: "RSP-04", Group: g, Title: "missing Destination", Expect: Refuse, Reason: saml.ErrDestination,
			How:   "before the root is signed, its Destination attribute is removed",
			Build: variant(nil, secResponse, func(_ *editor, _ *Base, r *etree.Element) { r.RemoveAttr("Destination") }, nil)},
		Case{ID: "RSP-05", Group: g, Title: "Destination downgraded to http", Expect: Refuse, Reason: saml.ErrDestination,
			How: "before the root is signed, the https scheme of its Destination is replaced by http",
			Build: variant(nil, secResponse, setAttrAt(".", "Destination", func(b *Base) string {
				return "http" + strings.TrimPrefix(b.Params.Destination, "https")
			}), nil)},
		Case{ID: "RSP-06", Group: g, Title: "Issuer of the other environment", Expect: Refuse, Reason: saml.ErrIssuer,
			How: "before the root is signed, the response Issuer is set to the other Cl@ve environment's (production for pre-production and vice versa)",
			Build: variant(nil, secResponse, func(e *editor, b *Base, r *etree.Element) {
				e.find(r, pIssuer).SetText(otherGateway(b))
			}, nil)},
		Case{ID: "RSP-07", Group: g, Title: "missing Issuer", Expect: Refuse, Reason: saml.ErrIssuer,
			How:   "before the root is signed, the response's Issuer element is removed",
			Build: variant(nil, secResponse, removeAt(pIssuer), nil)},
		Case{ID: "RSP-08", Group: g, Title: "Issuer with a non-entity Format", Expect: Refuse, Reason: saml.ErrIssuer,
			How:   "before the root is signed, the response Issuer's Format is set to nameid-format:unspecified",
			Build: variant(nil, secResponse, setAttrAt(pIssuer, "Format", constant(saml.NameIDUnspecified)), nil)},
		Case{ID: "RSP-09", Group: g, Title: "two Issuers", Expect: Refuse, Reason: saml.ErrMalformed,
			How: "before the root is signed, a copy of the response Issuer is inserted before Status",
			Build: variant(nil, secResponse, func(e *editor, _ *Base, r *etree.Element) {
				e.insertBefore(r, pStatus, e.find(r, pIssuer).Copy())
			}, nil)},
		Case{ID: "RSP-10", Group: g, Title: "IssueInstant in the future", Expect: Refuse, Reason: saml.ErrNotYetValid,
			How: "the response is issued 5 minutes after the delivery instant (beyond a 60 s skew); the assertion's instants follow",
			Build: variant(func(b *Base, p *samlidp.ResponseParams) {
				p.IssueInstant = b.Now.Add(5 * time.Minute)
			}, secResponse, nil, nil)},
		Case{ID: "RSP-11", Group: g, Title: "IssueInstant too old", Expect: Refuse, Reason: saml.ErrExpired,
			How: "the response is issued 20 minutes before delivery, with the assertion's validity stretched to 30 minutes so only the response's age betrays it",
			Build: variant(func(b *Base, p *samlidp.ResponseParams) {
				p.IssueInstant = b.Now.Add(-20 * time.Minute)
				p.Validity = 30 * time.Minute
			}, secResponse, nil, nil)},
		Case{ID: "RSP-12", Group: g, Title: "missing IssueInstant", Expect: Refuse, Reason: saml.ErrMissingElement,
			How:   "before the root is signed, the response's IssueInstant attribute is removed",
			Build: variant(nil, secResponse, func(_ *editor, _ *Base, r *etree.Element) { r.RemoveAttr("IssueInstant") }, nil)},
		Case{ID: "RSP-13", Group: g, Title: "IssueInstant without time zone", Expect: Refuse, Reason: saml.ErrMalformed,
			How: "before the root is signed, the response's IssueInstant loses its trailing Z",
			Build: variant(nil, secResponse, setAttrAt(".", "IssueInstant", func(b *Base) string {
				return strings.TrimSuffix(saml.FormatInstant(b.Params.IssueInstant), "Z")
			}), nil)},
		Case{ID: "RSP-14", Group: g, Title: "missing Status", Expect: Refuse, Reason: saml.ErrMissingElement,
			How:   "before the root is signed, the saml2p:Status element is removed (the assertion stays)",
			Build: variant(nil, secResponse, removeAt(pStatus), nil)},
		Case{ID: "RSP-15", Group: g, Title: "AuthnRequest instead of a Response", Expect: Refuse, Reason: saml.ErrUnexpectedRoot,
			How:   "an AuthnRequest whose ID is the pending request's, signed by the trusted gateway key, is posted as the SAMLResponse",
			Build: reflectedRequest},
	)
}
