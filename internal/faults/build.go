package faults

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/saml"
)

// The attacker's identities: every wrapping case tries to log in as one of them
// with a signature made for the Base's citizen. Both are well-formed DNIs.
const (
	evilNIF    = "99999999R"
	evilNIFAlt = "00000001R"
)

// evilHost is the attacker's site.
const evilHost = "https://evil.example"

// Paths below a Response or an Assertion, with the prefixes BuildResponse
// writes.
const (
	pAssertion   = "./saml2:Assertion"
	pEncrypted   = "./saml2:EncryptedAssertion"
	pIssuer      = "./saml2:Issuer"
	pSig         = "./ds:Signature"
	pStatus      = "./saml2p:Status"
	pStatusCode  = "./saml2p:Status/saml2p:StatusCode"
	pSubject     = "./saml2:Subject"
	pNameID      = "./saml2:Subject/saml2:NameID"
	pSC          = "./saml2:Subject/saml2:SubjectConfirmation"
	pSCD         = "./saml2:Subject/saml2:SubjectConfirmation/saml2:SubjectConfirmationData"
	pConditions  = "./saml2:Conditions"
	pAudienceRes = "./saml2:Conditions/saml2:AudienceRestriction"
	pAudience    = "./saml2:Conditions/saml2:AudienceRestriction/saml2:Audience"
	pAuthn       = "./saml2:AuthnStatement"
	pClassRef    = "./saml2:AuthnStatement/saml2:AuthnContext/saml2:AuthnContextClassRef"
	pAttrStmt    = "./saml2:AttributeStatement"

	pSignedInfo   = "./ds:SignedInfo"
	pReference    = "./ds:SignedInfo/ds:Reference"
	pSigMethod    = "./ds:SignedInfo/ds:SignatureMethod"
	pDigestMethod = "./ds:SignedInfo/ds:Reference/ds:DigestMethod"
	pDigestValue  = "./ds:SignedInfo/ds:Reference/ds:DigestValue"
	pC14NMethod   = "./ds:SignedInfo/ds:CanonicalizationMethod"
	pTransforms   = "./ds:SignedInfo/ds:Reference/ds:Transforms"
	pRefC14N      = "./ds:SignedInfo/ds:Reference/ds:Transforms/ds:Transform[2]"
	pSigValue     = "./ds:SignatureValue"
	pKeyInfo      = "./ds:KeyInfo"
)

// editor collects the first error of a chain of tree edits, so that a case reads
// as a list of edits, as a test with testing.T would.
type editor struct{ err error }

func (e *editor) fail(format string, args ...any) {
	if e.err == nil {
		e.err = fmt.Errorf("faults: "+format, args...)
	}
}

// find returns the element at path below el. On failure it records the error
// and returns a detached placeholder, so the rest of the chain is harmless.
func (e *editor) find(el *etree.Element, path string) *etree.Element {
	if el != nil {
		if f := el.FindElement(path); f != nil {
			return f
		}
	}
	e.fail("no %s below <%s>", path, tagOf(el))
	return etree.NewElement("missing")
}

func (e *editor) remove(el *etree.Element, path string) {
	if f := e.find(el, path); f.Parent() != nil {
		f.Parent().RemoveChild(f)
	}
}

// insertBefore puts el into parent just before the child at path.
func (e *editor) insertBefore(parent *etree.Element, path string, el *etree.Element) {
	if at := e.find(parent, path); at.Parent() == parent {
		parent.InsertChildAt(at.Index(), el)
	}
}

func (e *editor) setAttr(el *etree.Element, path, key, value string) {
	e.find(el, path).CreateAttr(key, value)
}

func tagOf(el *etree.Element) string {
	if el == nil {
		return "nil"
	}
	return el.FullTag()
}

// edit is a change of a response tree (r is the Response element).
type edit func(e *editor, b *Base, r *etree.Element)

// onAssertion adapts a change of the assertion to a change of the response.
func onAssertion(f func(e *editor, b *Base, a *etree.Element)) edit {
	return func(e *editor, b *Base, r *etree.Element) { f(e, b, e.find(r, pAssertion)) }
}

// setAttrAt sets an attribute on the element at path below the response.
func setAttrAt(path, key string, value func(b *Base) string) edit {
	return func(e *editor, b *Base, r *etree.Element) { e.setAttr(r, path, key, value(b)) }
}

// setAssertionAttr sets an attribute on the element at path below the assertion
// ("." for the assertion itself).
func setAssertionAttr(path, key string, value func(b *Base) string) edit {
	return onAssertion(func(e *editor, b *Base, a *etree.Element) { e.setAttr(a, path, key, value(b)) })
}

func removeAt(path string) edit {
	return func(e *editor, _ *Base, r *etree.Element) { e.remove(r, path) }
}

func removeInAssertion(path string) edit {
	return onAssertion(func(e *editor, _ *Base, a *etree.Element) { e.remove(a, path) })
}

func constant(s string) func(*Base) string { return func(*Base) string { return s } }

// at is an instant relative to the delivery instant, as SAML writes it.
func at(d time.Duration) func(*Base) string {
	return func(b *Base) string { return saml.FormatInstant(b.Now.Add(d)) }
}

// sec says how a case's response is protected; nil protects nothing.
type sec func(b *Base) samlidp.ResponseSecurity

func signedBy(key func(k Keys) *KeyPair, keyInfo, response, assertion bool) sec {
	return func(b *Base) samlidp.ResponseSecurity {
		kp := key(b.Keys)
		s := kp.Signer()
		if !keyInfo {
			s.Certificate = nil
		}
		return samlidp.ResponseSecurity{Signer: s, SignResponse: response, SignAssertion: assertion}
	}
}

func trusted(k Keys) *KeyPair   { return k.Trusted }
func next(k Keys) *KeyPair      { return k.Next }
func untrusted(k Keys) *KeyPair { return k.Untrusted }

var (
	secResponse  = signedBy(trusted, true, true, false)
	secAssertion = signedBy(trusted, true, false, true)
	secBoth      = signedBy(trusted, true, true, true)
)

// encrypted adds encryption for the service to s; cbc picks AES-CBC.
func encrypted(s sec, cbc bool) sec {
	return func(b *Base) samlidp.ResponseSecurity {
		var out samlidp.ResponseSecurity
		if s != nil {
			out = s(b)
		}
		out.EncryptFor, out.EncryptCBC = b.EncryptFor, cbc
		return out
	}
}

// params returns a copy of the Base's parameters that a case may change, with
// the IDs fixed so that every document of one case agrees on them, and no
// status: cases start from a success and set a status themselves.
func (b *Base) params() (samlidp.ResponseParams, error) {
	p := b.Params
	p.Status = nil
	p.Attributes = slices.Clone(p.Attributes)
	for i := range p.Attributes {
		p.Attributes[i].Values = slices.Clone(p.Attributes[i].Values)
	}
	var err error
	if p.ID == "" {
		if p.ID, err = saml.NewID(p.Rand); err != nil {
			return p, err
		}
	}
	if p.AssertionID == "" {
		if p.AssertionID, err = saml.NewID(p.Rand); err != nil {
			return p, err
		}
	}
	return p, nil
}

// doc builds the Base's response with params applied, lets pre change the
// unsigned tree and protects it as s says.
func (b *Base) doc(params func(b *Base, p *samlidp.ResponseParams), s sec, pre edit) (*etree.Document, error) {
	p, err := b.params()
	if err != nil {
		return nil, err
	}
	if params != nil {
		params(b, &p)
	}
	d, err := samlidp.BuildResponse(p)
	if err != nil {
		return nil, fmt.Errorf("faults: %w", err)
	}
	if pre != nil {
		var e editor
		pre(&e, b, d.Root())
		if e.err != nil {
			return nil, e.err
		}
	}
	var rs samlidp.ResponseSecurity
	if s != nil {
		rs = s(b)
	}
	if err := samlidp.SecureResponse(d, rs); err != nil {
		return nil, fmt.Errorf("faults: %w", err)
	}
	return d, nil
}

// variant is the usual case builder: the Base's response with params applied,
// changed by pre before it is protected as s says and by post after.
func variant(params func(b *Base, p *samlidp.ResponseParams), s sec, pre, post edit) func(*Base) (Delivery, error) {
	return func(b *Base) (Delivery, error) {
		d, err := b.doc(params, s, pre)
		if err != nil {
			return Delivery{}, err
		}
		if post != nil {
			var e editor
			post(&e, b, d.Root())
			if e.err != nil {
				return Delivery{}, e.err
			}
		}
		return deliver(d)
	}
}

// bytesOf serialises the Base's response as variant builds it.
func (b *Base) bytesOf(params func(b *Base, p *samlidp.ResponseParams), s sec, pre, post edit) ([]byte, error) {
	d, err := variant(params, s, pre, post)(b)
	return d.XML, err
}

// raw derives a delivery from the bytes of the valid, root-signed response.
func raw(f func(b *Base, xml []byte) ([]byte, error)) func(*Base) (Delivery, error) {
	return func(b *Base) (Delivery, error) {
		x, err := b.bytesOf(nil, secResponse, nil, nil)
		if err != nil {
			return Delivery{}, err
		}
		out, err := f(b, x)
		return Delivery{XML: out}, err
	}
}

// replaceOnce replaces the first old in x, and fails when there is none.
func replaceOnce(x []byte, old, repl string) ([]byte, error) {
	if !bytes.Contains(x, []byte(old)) {
		return nil, fmt.Errorf("faults: %q not found in the response", old)
	}
	return bytes.Replace(x, []byte(old), []byte(repl), 1), nil
}

// form is a delivery posted as the SAMLResponse field verbatim.
func form(s string) Delivery { return Delivery{RawForm: &s} }

// isSig reports whether el is a ds:Signature, also in a copy detached from the
// element that declares the ds prefix.
func isSig(el *etree.Element) bool {
	return el.Tag == "Signature" && (el.Space == "ds" || el.NamespaceURI() == saml.NSDSig)
}

// unsignedCopy returns a copy of el without its enveloped signature.
func unsignedCopy(el *etree.Element) *etree.Element {
	c := el.Copy()
	for _, s := range c.ChildElements() {
		if isSig(s) {
			c.RemoveChild(s)
		}
	}
	return c
}

// evilID is the attacker's identifier, never the Base's citizen.
func (b *Base) evilID() string {
	if b.Params.NameID.Value == evilNIF {
		return evilNIFAlt
	}
	return evilNIF
}

// personID returns the PersonIdentifier attribute value of an assertion, or nil.
func personID(a *etree.Element) *etree.Element {
	for _, at := range a.FindElements("./saml2:AttributeStatement/saml2:Attribute") {
		if at.SelectAttrValue("Name", "") == saml.AttrPersonIdentifier {
			return at.FindElement("./saml2:AttributeValue")
		}
	}
	return nil
}

// mustPersonID is personID for cases that need the attribute.
func (e *editor) mustPersonID(a *etree.Element) *etree.Element {
	if v := personID(a); v != nil {
		return v
	}
	e.fail("the base response has no PersonIdentifier")
	return etree.NewElement("missing")
}

// evilize turns an assertion into the attacker's: NameID and PersonIdentifier.
func evilize(e *editor, b *Base, a *etree.Element) {
	e.find(a, pNameID).SetText(b.evilID())
	if v := personID(a); v != nil {
		v.SetText(b.evilID())
	}
}

func extensions(children ...*etree.Element) *etree.Element {
	ext := etree.NewElement("saml2p:Extensions")
	for _, c := range children {
		ext.AddChild(c)
	}
	return ext
}

// resigned builds the response protected as s says, lets change edit the
// signature of the root (or of the assertion when onAssertion is set) and
// re-signs it with the trusted key through samlidp.ResignEnveloped: the result is
// cryptographically valid, so a refusal can only come from what change did.
func resigned(s sec, assertion bool, o samlidp.ResignOptions, change func(sig *etree.Element)) func(*Base) (Delivery, error) {
	return variant(nil, s, nil, func(e *editor, b *Base, r *etree.Element) {
		el := r
		if assertion {
			el = e.find(r, pAssertion)
		}
		if change != nil {
			change(e.find(el, pSig))
		}
		if e.err != nil {
			return
		}
		if err := samlidp.ResignEnveloped(el, b.Keys.Trusted.Key, o); err != nil {
			e.fail("resigning: %v", err)
		}
	})
}

// setAlg sets the Algorithm of the signature's element at path.
func setAlg(path, alg string) func(sig *etree.Element) {
	return func(sig *etree.Element) {
		if el := sig.FindElement(path); el != nil {
			el.CreateAttr("Algorithm", alg)
		}
	}
}

// dsigSigned is the Base's response signed at the root by goxmldsig's own
// signer, an implementation independent of ours, with key and method.
func dsigSigned(key func(k Keys) *KeyPair, method string) func(*Base) (Delivery, error) {
	return func(b *Base) (Delivery, error) {
		d, err := b.doc(nil, nil, nil)
		if err != nil {
			return Delivery{}, err
		}
		kp := key(b.Keys)
		ctx, err := dsig.NewSigningContext(kp.Key, [][]byte{kp.Certificate.Raw})
		if err != nil {
			return Delivery{}, fmt.Errorf("faults: %w", err)
		}
		ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
		if err := ctx.SetSignatureMethod(method); err != nil {
			return Delivery{}, fmt.Errorf("faults: %w", err)
		}
		signed, err := ctx.SignEnveloped(d.Root())
		if err != nil {
			return Delivery{}, fmt.Errorf("faults: %w", err)
		}
		d.SetRoot(signed)
		return deliver(d)
	}
}

// statusDoc is a failure response with the given codes, protected as s says.
func statusDoc(code, sub string, s sec, pre edit) func(*Base) (Delivery, error) {
	return variant(func(_ *Base, p *samlidp.ResponseParams) {
		p.Status = &saml.StatusError{Code: code, SubCode: sub, Message: "fallo de prueba"}
	}, s, pre, nil)
}

// withoutAttribute drops the named attribute from the parameters.
func withoutAttribute(name string) func(*Base, *samlidp.ResponseParams) {
	return func(_ *Base, p *samlidp.ResponseParams) {
		p.Attributes = slices.DeleteFunc(p.Attributes, func(a saml.Attribute) bool { return a.Name == name })
	}
}

// acsOrigin is the scheme and host of the ACS URL: what a generic SAML service
// provider would use as its entity ID.
func acsOrigin(acs string) string {
	if i := strings.Index(acs, "://"); i >= 0 {
		if j := strings.IndexByte(acs[i+3:], '/'); j >= 0 {
			return acs[:i+3+j]
		}
	}
	return acs
}
