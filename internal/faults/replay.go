package faults

import (
	"strings"

	"github.com/beevik/etree"

	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/saml"
)

// otherRequest is the ID of a request this browser never sent.
const otherRequest = "_0f1e2d3c4b5a69788796a5b4c3d2e1f0aa55aa55"

// replayed posts a response twice.
func replayed(s sec) func(*Base) (Delivery, error) {
	return func(b *Base) (Delivery, error) {
		d, err := variant(nil, s, nil, nil)(b)
		d.Replay = true
		return d, err
	}
}

// relayState delivers the valid response with the login's RelayState replaced.
func relayState(rs string) func(*Base) (Delivery, error) {
	return func(b *Base) (Delivery, error) {
		d, err := variant(nil, secResponse, nil, nil)(b)
		d.RelayState = &rs
		return d, err
	}
}

func init() {
	g := GroupReplay
	register(
		Case{ID: "RPL-01", Group: g, Title: "replayed response", Expect: Refuse, Reason: saml.ErrReplay,
			How:   "the valid response is posted twice; the second post must be refused (OneTimeUse, replay cache on the assertion ID)",
			Build: replayed(secResponse)},
		Case{ID: "RPL-02", Group: g, Title: "replayed assertion-signed response", Expect: Refuse, Reason: saml.ErrReplay,
			How:   "a response whose assertion alone is signed is posted twice; the second post must be refused",
			Build: replayed(secAssertion)},
		Case{ID: "RPL-03", Group: g, Title: "replayed encrypted response", Expect: Refuse, Reason: saml.ErrReplay, NeedsEncryption: true,
			How:   "a root-signed response with the assertion encrypted for the service is posted twice; the second post must be refused",
			Build: replayed(encrypted(secResponse, false))},
		Case{ID: "RPL-04", Group: g, Title: "response answers another request", Expect: Refuse, Reason: saml.ErrInResponseTo,
			How:   "before the root is signed, the response's InResponseTo is set to a request this browser never sent (the confirmation's stays right)",
			Build: variant(nil, secResponse, setAttrAt(".", "InResponseTo", constant(otherRequest)), nil)},
		Case{ID: "RPL-05", Group: g, Title: "response without InResponseTo", Expect: Refuse, Reason: saml.ErrInResponseTo,
			How:   "before the root is signed, the response's InResponseTo attribute is removed (the confirmation's stays)",
			Build: variant(nil, secResponse, func(_ *editor, _ *Base, r *etree.Element) { r.RemoveAttr("InResponseTo") }, nil)},
		Case{ID: "RPL-06", Group: g, Title: "confirmation answers another request", Expect: Refuse, Reason: saml.ErrInResponseTo,
			How:   "before the root is signed, SubjectConfirmationData's InResponseTo is set to a request this browser never sent (the response's stays right)",
			Build: variant(nil, secResponse, setAssertionAttr(pSCD, "InResponseTo", constant(otherRequest)), nil)},
		Case{ID: "RPL-07", Group: g, Title: "confirmation without InResponseTo", Expect: Refuse, Reason: saml.ErrInResponseTo,
			How: "before the root is signed, SubjectConfirmationData's InResponseTo attribute is removed",
			Build: variant(nil, secResponse, onAssertion(func(e *editor, _ *Base, a *etree.Element) {
				e.find(a, pSCD).RemoveAttr("InResponseTo")
			}), nil)},
		Case{ID: "RPL-08", Group: g, Title: "whole response for another request", Expect: Refuse, Reason: saml.ErrInResponseTo,
			How: "the response is built for a request this browser never sent: InResponseTo of response and confirmation both name it",
			Build: variant(func(_ *Base, p *samlidp.ResponseParams) {
				p.InResponseTo = otherRequest
			}, secResponse, nil, nil)},
		Case{ID: "RPL-09", Group: g, Title: "unsolicited response", Expect: Refuse, Reason: saml.ErrInResponseTo,
			How: "before the root is signed, InResponseTo is removed from both the response and SubjectConfirmationData (IdP-initiated style)",
			Build: variant(nil, secResponse, func(e *editor, _ *Base, r *etree.Element) {
				r.RemoveAttr("InResponseTo")
				e.find(e.find(r, pAssertion), pSCD).RemoveAttr("InResponseTo")
			}, nil)},
		Case{ID: "RPL-10", Group: g, Title: "InResponseTo differing in letter case", Expect: Refuse, Reason: saml.ErrInResponseTo,
			How: "the response is built with InResponseTo = the pending request's ID with its letters case-swapped (IDs compare exactly)",
			Build: variant(func(_ *Base, p *samlidp.ResponseParams) {
				p.InResponseTo = swapCase(p.InResponseTo)
			}, secResponse, nil, nil)},
		Case{ID: "RPL-11", Group: g, Title: "RelayState of another login", Expect: Refuse, Reason: saml.ErrRelayState, Layer: LayerSession,
			How:   "the valid response is posted with a RelayState that is not the one of this browser's pending login",
			Build: relayState("rs-de-otro-inicio-de-sesion")},
		Case{ID: "RPL-12", Group: g, Title: "RelayState missing", Expect: Refuse, Reason: saml.ErrRelayState, Layer: LayerSession,
			How:   "the valid response is posted with an empty RelayState field",
			Build: relayState("")},
		Case{ID: "RPL-13", Group: g, Title: "RelayState carrying markup", Expect: Refuse, Reason: saml.ErrRelayState, Layer: LayerSession,
			How:   `the valid response is posted with RelayState "\"><script>alert(1)</script>", which matches no login and must not be reflected`,
			Build: relayState(`"><script>alert(1)</script>`)},
	)
}

// swapCase swaps the case of ASCII letters; an ID without letters gets an "X"
// appended so the result always differs.
func swapCase(s string) string {
	out := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z':
			return r - 'A' + 'a'
		}
		return r
	}, s)
	if out == s {
		out += "X"
	}
	return out
}
