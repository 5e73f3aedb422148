package faults

import (
	"fmt"

	"github.com/beevik/etree"

	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/saml"
)

// Signature wrapping (XSW) attacks, named after Somorovsky et al., "On Breaking
// SAML: Be Whoever You Want to Be" (USENIX Security 2012): a genuinely signed
// element is kept somewhere a verifier may find it, while the element the
// service reads is the attacker's.

// signedError is a genuinely signed gateway failure for this request: it
// carries no assertion, so only the signature's position can betray it.
func signedError(b *Base) (*etree.Element, error) {
	d, err := b.doc(func(_ *Base, p *samlidp.ResponseParams) {
		p.Status = &saml.StatusError{Code: saml.StatusRequester, SubCode: saml.StatusRequestDenied}
	}, secResponse, nil)
	if err != nil {
		return nil, err
	}
	return d.Root(), nil
}

// evilRoot is an unsigned success for the attacker with the response ID id.
func evilRoot(b *Base, id string) (*etree.Document, error) {
	return b.doc(func(_ *Base, p *samlidp.ResponseParams) { p.ID = id }, nil, onAssertion(evilize))
}

// moveSig moves from's enveloped signature to to, before its Status.
func moveSig(e *editor, from, to *etree.Element) *etree.Element {
	sig := e.find(from, pSig)
	if sig.Parent() == from {
		from.RemoveChild(sig)
	}
	e.insertBefore(to, pStatus, sig)
	return sig
}

// withSignedError builds a case from a signed error response and an unsigned
// evil success whose ID is evilID (or the signed response's when empty).
func withSignedError(evilID string, f func(e *editor, signed, evil *etree.Element)) func(*Base) (Delivery, error) {
	return func(b *Base) (Delivery, error) {
		signed, err := signedError(b)
		if err != nil {
			return Delivery{}, err
		}
		id := evilID
		if id == "" {
			id = signed.SelectAttrValue("ID", "")
		}
		doc, err := evilRoot(b, id)
		if err != nil {
			return Delivery{}, err
		}
		var e editor
		f(&e, signed, doc.Root())
		if e.err != nil {
			return Delivery{}, e.err
		}
		return deliver(doc)
	}
}

// evilOriginal turns the signed root into the attacker's (new ID, evil
// identity) and returns an unsigned copy of the original to hide somewhere.
func evilOriginal(e *editor, b *Base, r *etree.Element) *etree.Element {
	orig := unsignedCopy(r)
	r.CreateAttr("ID", "_evil")
	evilize(e, b, e.find(r, pAssertion))
	return orig
}

// xsw is a wrapping attack on the assertion's own signature: mutate receives a
// response whose assertion a is signed (and the response too, in the second
// flavour) and rearranges it.
type xsw struct {
	title, how string
	mutate     func(e *editor, b *Base, r, a *etree.Element)
	// reasonAssertion is our refusal when only the assertion is signed,
	// reasonBoth when the response signature is left in place as well.
	reasonAssertion, reasonBoth error
	needsEncryption             bool
}

// evilSibling is an unsigned evil copy of a with ID "_evil".
func evilSibling(e *editor, b *Base, a *etree.Element) *etree.Element {
	evil := unsignedCopy(a)
	evil.CreateAttr("ID", "_evil")
	evilize(e, b, evil)
	return evil
}

// replaceWith puts repl where old was and returns old, now detached.
func replaceWith(old, repl *etree.Element) *etree.Element {
	p := old.Parent()
	idx := old.Index()
	p.RemoveChild(old)
	p.InsertChildAt(idx, repl)
	return old
}

var assertionWrappings = []xsw{
	{"XSW3: evil assertion before the signed one",
		"an unsigned copy of the signed assertion with ID _evil and the attacker's identity is inserted before it",
		func(e *editor, b *Base, r, a *etree.Element) { r.InsertChildAt(a.Index(), evilSibling(e, b, a)) },
		saml.ErrAssertionCount, saml.ErrSignatureInvalid, false},
	{"XSW3: evil assertion reusing the signed ID",
		"an unsigned copy of the signed assertion keeping its ID, with the attacker's identity, is inserted before it",
		func(e *editor, b *Base, r, a *etree.Element) {
			evil := unsignedCopy(a)
			evilize(e, b, evil)
			r.InsertChildAt(a.Index(), evil)
		},
		saml.ErrWrapped, saml.ErrWrapped, false},
	{"XSW4: evil assertion wrapping the signed one",
		"the signed assertion is moved inside an unsigned evil copy of itself (ID _evil, attacker's identity) that takes its place",
		func(e *editor, b *Base, r, a *etree.Element) {
			evil := evilSibling(e, b, a)
			evil.AddChild(replaceWith(a, evil))
		},
		saml.ErrWrapped, saml.ErrWrapped, false},
	{"XSW5: signed assertion altered, original appended",
		"the signed assertion gets ID _evil and the attacker's identity, keeping its now stale signature, and an unsigned copy of the original is appended to the response",
		func(e *editor, b *Base, r, a *etree.Element) {
			orig := unsignedCopy(a)
			a.CreateAttr("ID", "_evil")
			evilize(e, b, a)
			r.AddChild(orig)
		},
		saml.ErrAssertionCount, saml.ErrSignatureInvalid, false},
	{"XSW6: original inside the altered assertion's Signature",
		"the signed assertion gets ID _evil and the attacker's identity, and an unsigned copy of the original is put inside its ds:Signature",
		func(e *editor, b *Base, r, a *etree.Element) {
			orig := unsignedCopy(a)
			a.CreateAttr("ID", "_evil")
			evilize(e, b, a)
			e.find(a, pSig).AddChild(orig)
		},
		saml.ErrWrapped, saml.ErrWrapped, false},
	{"XSW7: signed assertion moved into Extensions",
		"the signed assertion is moved into a saml2p:Extensions before Status and an unsigned evil copy (ID _evil) takes its place",
		func(e *editor, b *Base, r, a *etree.Element) {
			e.insertBefore(r, pStatus, extensions(replaceWith(a, evilSibling(e, b, a))))
		},
		saml.ErrWrapped, saml.ErrWrapped, false},
	{"XSW8: original in a ds:Object of the altered assertion's Signature",
		"the signed assertion gets ID _evil and the attacker's identity, and an unsigned copy of the original is put in a ds:Object of its ds:Signature",
		func(e *editor, b *Base, r, a *etree.Element) {
			orig := unsignedCopy(a)
			a.CreateAttr("ID", "_evil")
			evilize(e, b, a)
			e.find(a, pSig).CreateElement("ds:Object").AddChild(orig)
		},
		saml.ErrWrapped, saml.ErrWrapped, false},
	{"signed assertion hidden in the evil one's Advice",
		"an unsigned evil copy (ID _evil) takes the signed assertion's place and holds it in a saml2:Advice before its AuthnStatement",
		func(e *editor, b *Base, r, a *etree.Element) {
			evil := evilSibling(e, b, a)
			adv := etree.NewElement("saml2:Advice")
			e.insertBefore(evil, pAuthn, adv)
			adv.AddChild(replaceWith(a, evil))
		},
		saml.ErrWrapped, saml.ErrWrapped, false},
	{"altered assertion keeps its signature under a new ID",
		"the signed assertion gets ID _evil and the attacker's identity, keeping its ds:Signature that references the old ID",
		func(e *editor, b *Base, r, a *etree.Element) {
			a.CreateAttr("ID", "_evil")
			evilize(e, b, a)
		},
		saml.ErrWrapped, saml.ErrSignatureInvalid, false},
	{"signed encrypted assertion hidden in Extensions",
		"an unsigned evil copy (ID _evil) takes the signed assertion's place and a genuine EncryptedAssertion (signed, encrypted for the service) is put in a saml2p:Extensions before Status",
		func(e *editor, b *Base, r, a *etree.Element) {
			enc, err := b.doc(nil, encrypted(secAssertion, false), nil)
			if err != nil {
				e.fail("%v", err)
				return
			}
			ea := e.find(enc.Root(), pEncrypted)
			ea.CreateAttr("xmlns:saml2", saml.NSAssertion)
			replaceWith(a, evilSibling(e, b, a))
			e.insertBefore(r, pStatus, extensions(ea))
		},
		saml.ErrWrapped, saml.ErrWrapped, true},
}

func init() {
	g := GroupWrapping
	register(
		Case{ID: "XSW-01", Group: g, Title: "XSW1: signed response inside the evil root's Signature", Expect: Refuse, Reason: saml.ErrWrapped,
			How: "the signed root gets ID _evil and the attacker's identity, and an unsigned copy of the original response is put inside its ds:Signature",
			Build: variant(nil, secResponse, nil, func(e *editor, b *Base, r *etree.Element) {
				orig := evilOriginal(e, b, r)
				e.find(r, pSig).AddChild(orig)
			})},
		Case{ID: "XSW-02", Group: g, Title: "XSW1: signed error response inside the evil root's Signature", Expect: Refuse, Reason: saml.ErrSignatureInvalid,
			How: "the signature of a genuinely signed RequestDenied response is moved onto an unsigned evil success, and a copy of the signed error is put inside that signature",
			Build: withSignedError("_evil", func(e *editor, signed, evil *etree.Element) {
				moveSig(e, signed, evil).AddChild(signed.Copy())
			})},
		Case{ID: "XSW-03", Group: g, Title: "XSW1: signed response in a ds:Object", Expect: Refuse, Reason: saml.ErrWrapped,
			How: "the signed root gets ID _evil and the attacker's identity, and an unsigned copy of the original response is put in a ds:Object of its ds:Signature",
			Build: variant(nil, secResponse, nil, func(e *editor, b *Base, r *etree.Element) {
				orig := evilOriginal(e, b, r)
				e.find(r, pSig).CreateElement("ds:Object").AddChild(orig)
			})},
		Case{ID: "XSW-04", Group: g, Title: "XSW2: signed response as a sibling before the Signature", Expect: Refuse, Reason: saml.ErrWrapped,
			How: "the signed root gets ID _evil and the attacker's identity, and an unsigned copy of the original response is inserted as its child before the ds:Signature",
			Build: variant(nil, secResponse, nil, func(e *editor, b *Base, r *etree.Element) {
				orig := evilOriginal(e, b, r)
				e.insertBefore(r, pSig, orig)
			})},
		Case{ID: "XSW-05", Group: g, Title: "XSW2: signed error response as a sibling", Expect: Refuse, Reason: saml.ErrWrapped,
			How: "the signature of a genuinely signed RequestDenied response is moved onto an unsigned evil success (ID _evil) and a copy of the signed error is inserted before it",
			Build: withSignedError("_evil", func(e *editor, signed, evil *etree.Element) {
				moveSig(e, signed, evil)
				e.insertBefore(evil, pSig, signed.Copy())
			})},
		Case{ID: "XSW-06", Group: g, Title: "XSW2: signed error response, evil root reusing its ID", Expect: Refuse, Reason: saml.ErrWrapped,
			How: "as XSW-05, but the evil success carries the signed error response's ID, so the Reference matches both",
			Build: withSignedError("", func(e *editor, signed, evil *etree.Element) {
				moveSig(e, signed, evil)
				e.insertBefore(evil, pSig, signed.Copy())
			})},
		Case{ID: "XSW-07", Group: g, Title: "signed response inside Extensions of an unsigned root", Expect: Refuse, Reason: saml.ErrWrapped,
			How: "an unsigned evil success (ID _evil) carries the whole genuinely signed success response in a saml2p:Extensions before Status",
			Build: func(b *Base) (Delivery, error) {
				signed, err := b.doc(nil, secResponse, nil)
				if err != nil {
					return Delivery{}, err
				}
				doc, err := evilRoot(b, "_evil")
				if err != nil {
					return Delivery{}, err
				}
				var e editor
				e.insertBefore(doc.Root(), pStatus, extensions(signed.Root().Copy()))
				if e.err != nil {
					return Delivery{}, e.err
				}
				return deliver(doc)
			}},
		Case{ID: "XSW-08", Group: g, Title: "signed error response inside Extensions of an unsigned root", Expect: Refuse, Reason: saml.ErrSignatureMissing,
			How: "an unsigned evil success (ID _evil) carries a genuinely signed RequestDenied response in a saml2p:Extensions before Status",
			Build: withSignedError("_evil", func(e *editor, signed, evil *etree.Element) {
				e.insertBefore(evil, pStatus, extensions(signed.Copy()))
			})},
		Case{ID: "XSW-09", Group: g, Title: "response signature moved into the assertion", Expect: Refuse, Reason: saml.ErrWrapped,
			How: "the root's ds:Signature (referencing the response ID) is moved into the assertion before its Subject and the assertion gets the attacker's identity",
			Build: variant(nil, secResponse, nil, func(e *editor, b *Base, r *etree.Element) {
				a, sig := e.find(r, pAssertion), e.find(r, pSig)
				if sig.Parent() == r {
					r.RemoveChild(sig)
				}
				e.insertBefore(a, pSubject, sig)
				evilize(e, b, a)
			})},
		Case{ID: "XSW-10", Group: g, Title: "assertion signature moved onto the response", Expect: Refuse, Reason: saml.ErrWrapped,
			How: "only the assertion is signed; its ds:Signature is moved to the response before Status and the assertion gets the attacker's identity",
			Build: variant(nil, secAssertion, nil, func(e *editor, b *Base, r *etree.Element) {
				a := e.find(r, pAssertion)
				moveSig(e, a, r)
				evilize(e, b, a)
			})},
		Case{ID: "XSW-11", Group: g, Title: "assertion ID equal to the response ID", Expect: Refuse, Reason: saml.ErrWrapped,
			How: "before the root is signed, the assertion's ID is set to the response's ID, so one Reference names two elements",
			Build: variant(nil, secResponse, func(e *editor, _ *Base, r *etree.Element) {
				e.find(r, pAssertion).CreateAttr("ID", r.SelectAttrValue("ID", ""))
			}, nil)},
		Case{ID: "XSW-12", Group: g, Title: "unsigned element reusing the signed assertion's ID", Expect: Refuse, Reason: saml.ErrWrapped,
			How: "only the assertion is signed; an empty saml2p:Extensions carrying the assertion's ID is inserted before Status",
			Build: variant(nil, secAssertion, nil, func(e *editor, _ *Base, r *etree.Element) {
				ext := extensions()
				ext.CreateAttr("ID", e.find(r, pAssertion).SelectAttrValue("ID", ""))
				e.insertBefore(r, pStatus, ext)
			})},
	)
	n := 13
	for _, w := range assertionWrappings {
		mutate := func(e *editor, b *Base, r *etree.Element) { w.mutate(e, b, r, e.find(r, pAssertion)) }
		register(
			Case{ID: fmt.Sprintf("XSW-%02d", n), Group: g, Title: w.title + " (assertion signed)", Expect: Refuse,
				How:    "only the assertion is signed; " + w.how,
				Reason: w.reasonAssertion, NeedsEncryption: w.needsEncryption,
				Build: variant(nil, secAssertion, nil, mutate)},
			Case{ID: fmt.Sprintf("XSW-%02d", n+1), Group: g, Title: w.title + " (response also signed)", Expect: Refuse,
				How:    "response and assertion are signed; " + w.how + "; the response signature is left in place",
				Reason: w.reasonBoth, NeedsEncryption: w.needsEncryption,
				Build: variant(nil, secBoth, nil, mutate)},
		)
		n += 2
	}
}
