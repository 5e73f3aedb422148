package faults

import (
	"github.com/beevik/etree"

	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/saml"
)

// Every status case is a refusal: whatever the code, a non-success status must
// not log anyone in. A service shows the citizen a message instead; which one
// (cancelled, failed...) is its own business.

func init() {
	g := GroupStatus
	register(
		Case{ID: "STA-01", Group: g, Title: "Requester/RequestDenied (citizen cancelled)", Expect: Refuse, Reason: saml.ErrUserCancelled,
			How:   "a root-signed failure with top-level Requester and second-level RequestDenied, no assertion",
			Build: statusDoc(saml.StatusRequester, saml.StatusRequestDenied, secResponse, nil)},
		Case{ID: "STA-02", Group: g, Title: "Responder/RequestDenied", Expect: Refuse, Reason: saml.ErrRequestDenied,
			How:   "a root-signed failure with top-level Responder and second-level RequestDenied, no assertion",
			Build: statusDoc(saml.StatusResponder, saml.StatusRequestDenied, secResponse, nil)},
		Case{ID: "STA-03", Group: g, Title: "Responder/AuthnFailed", Expect: Refuse, Reason: saml.ErrAuthnFailed,
			How:   "a root-signed failure with top-level Responder and second-level AuthnFailed, no assertion",
			Build: statusDoc(saml.StatusResponder, saml.StatusAuthnFailed, secResponse, nil)},
		Case{ID: "STA-04", Group: g, Title: "Responder/NoPassive", Expect: Refuse, Reason: saml.ErrNoPassive,
			How:   "a root-signed failure with top-level Responder and second-level NoPassive, no assertion",
			Build: statusDoc(saml.StatusResponder, saml.StatusNoPassive, secResponse, nil)},
		Case{ID: "STA-05", Group: g, Title: "Responder/NoAuthnContext", Expect: Refuse, Reason: saml.ErrNoAuthnContext,
			How:   "a root-signed failure with top-level Responder and second-level NoAuthnContext (requested LoA cannot be met), no assertion",
			Build: statusDoc(saml.StatusResponder, saml.StatusNoAuthnContext, secResponse, nil)},
		Case{ID: "STA-06", Group: g, Title: "Requester without a second-level code", Expect: Refuse, Reason: saml.ErrStatus,
			How:   "a root-signed failure with top-level Requester only, no assertion",
			Build: statusDoc(saml.StatusRequester, "", secResponse, nil)},
		Case{ID: "STA-07", Group: g, Title: "Status without StatusCode", Expect: Refuse, Reason: saml.ErrStatus,
			How:   "a root-signed failure whose Status holds only a StatusMessage (its StatusCode removed before signing), no assertion",
			Build: statusDoc(saml.StatusResponder, saml.StatusAuthnFailed, secResponse, removeAt(pStatusCode))},
		Case{ID: "STA-08", Group: g, Title: "Success with a second-level code", Expect: Refuse, Reason: saml.ErrStatus,
			How: "before the root is signed, the Success StatusCode gets a nested RequestDenied StatusCode and the assertion is removed",
			Build: variant(nil, secResponse, func(e *editor, _ *Base, r *etree.Element) {
				e.find(r, pStatusCode).CreateElement("saml2p:StatusCode").CreateAttr("Value", saml.StatusRequestDenied)
				e.remove(r, pAssertion)
			}, nil)},
		Case{ID: "STA-09", Group: g, Title: "unsigned error status", Expect: Refuse, Reason: saml.ErrSignatureMissing,
			How:   "a Responder/AuthnFailed failure with no signature at all (the service must not trust, nor show, an unsigned verdict)",
			Build: statusDoc(saml.StatusResponder, saml.StatusAuthnFailed, nil, nil)},
		Case{ID: "STA-10", Group: g, Title: "unsigned error status around a signed assertion", Expect: Refuse, Reason: saml.ErrSignatureMissing,
			How: "only the assertion is signed, then the response's top-level StatusCode is changed to Responder",
			Build: variant(nil, secAssertion, nil, func(e *editor, _ *Base, r *etree.Element) {
				e.find(r, pStatusCode).CreateAttr("Value", saml.StatusResponder)
			})},
		Case{ID: "STA-11", Group: g, Title: "error status with an assertion", Expect: Refuse, Reason: saml.ErrAssertionCount,
			How: "before the root is signed, the success StatusCode becomes Responder/AuthnFailed while the assertion stays",
			Build: variant(nil, secResponse, func(e *editor, _ *Base, r *etree.Element) {
				sc := e.find(r, pStatusCode)
				sc.CreateAttr("Value", saml.StatusResponder)
				sc.CreateElement("saml2p:StatusCode").CreateAttr("Value", saml.StatusAuthnFailed)
			}, nil)},
		Case{ID: "STA-12", Group: g, Title: "error status for another request", Expect: Refuse, Reason: saml.ErrInResponseTo,
			How: "a root-signed Requester/RequestDenied failure whose InResponseTo names a request this browser never sent",
			Build: variant(func(_ *Base, p *samlidp.ResponseParams) {
				p.InResponseTo = otherRequest
				p.Status = &saml.StatusError{Code: saml.StatusRequester, SubCode: saml.StatusRequestDenied}
			}, secResponse, nil, nil)},
		Case{ID: "STA-13", Group: g, Title: "VersionMismatch", Expect: Refuse, Reason: saml.ErrStatus,
			How:   "a root-signed failure with top-level VersionMismatch, no assertion",
			Build: statusDoc(saml.StatusVersionMismatch, "", secResponse, nil)},
		Case{ID: "STA-14", Group: g, Title: "unknown top-level status code", Expect: Refuse, Reason: saml.ErrStatus,
			How:   "a root-signed response whose only StatusCode is urn:example:status:Maybe, no assertion",
			Build: statusDoc("urn:example:status:Maybe", "", secResponse, nil)},
		Case{ID: "STA-15", Group: g, Title: "empty status code with an assertion", Expect: Refuse, Reason: saml.ErrAssertionCount,
			How:   "before the root is signed, the Success StatusCode's Value is emptied while the assertion stays",
			Build: variant(nil, secResponse, setAttrAt(pStatusCode, "Value", constant("")), nil)},
	)
}
