package saml

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml/xmlenc"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/pki"
)

// The attacker's identity: every wrapping case tries to log in as this citizen
// with a signature made for 12345678Z.
const evilNIF = "99999999R"

// Paths below a Response or an Assertion, with the prefixes BuildResponse writes.
const (
	pAssertion  = "./saml2:Assertion"
	pIssuer     = "./saml2:Issuer"
	pSig        = "./ds:Signature"
	pStatus     = "./saml2p:Status"
	pStatusCode = "./saml2p:Status/saml2p:StatusCode"
	pSubject    = "./saml2:Subject"
	pNameID     = "./saml2:Subject/saml2:NameID"
	pSC         = "./saml2:Subject/saml2:SubjectConfirmation"
	pSCD        = "./saml2:Subject/saml2:SubjectConfirmation/saml2:SubjectConfirmationData"
	pConditions = "./saml2:Conditions"
	pAudience   = "./saml2:Conditions/saml2:AudienceRestriction/saml2:Audience"
	pAuthn      = "./saml2:AuthnStatement"
	pClassRef   = "./saml2:AuthnStatement/saml2:AuthnContext/saml2:AuthnContextClassRef"
	pPersonID   = "./saml2:AttributeStatement/saml2:Attribute[@FriendlyName='PersonIdentifier']/saml2:AttributeValue"
)

var (
	secResponse  = ResponseSecurity{SignResponse: true}
	secAssertion = ResponseSecurity{SignAssertion: true}
	secBoth      = ResponseSecurity{SignResponse: true, SignAssertion: true}
)

func signerOf(kp *pki.KeyPair) *Signer { return &Signer{Key: kp.Key, Certificate: kp.Certificate} }

// gwDoc builds the gateway's response from gatewayParams (changed by params),
// lets pre change the unsigned tree, and secures it as sec says (with the
// gateway key when sec.Signer is nil).
func gwDoc(t *testing.T, params func(*ResponseParams), sec ResponseSecurity, pre func(r *etree.Element)) *etree.Document {
	t.Helper()
	testKeys(t)
	p := gatewayParams()
	if params != nil {
		params(&p)
	}
	doc, err := BuildResponse(p)
	require.NoError(t, err)
	if pre != nil {
		pre(doc.Root())
	}
	if sec.Signer == nil {
		sec.Signer = signerOf(idpKeys)
	}
	require.NoError(t, SecureResponse(doc, sec))
	return doc
}

// variant is the usual case builder: gwDoc, then post changes the secured tree
// (after signing), then the document is serialised.
func variant(params func(*ResponseParams), sec ResponseSecurity, pre, post func(t *testing.T, r *etree.Element)) func(t *testing.T) []byte {
	return func(t *testing.T) []byte {
		var preT func(*etree.Element)
		if pre != nil {
			preT = func(r *etree.Element) { pre(t, r) }
		}
		doc := gwDoc(t, params, sec, preT)
		if post != nil {
			post(t, doc.Root())
		}
		return docBytes(t, doc)
	}
}

// onAssertion adapts a change of the assertion to a change of the response.
func onAssertion(f func(t *testing.T, a *etree.Element)) func(t *testing.T, r *etree.Element) {
	return func(t *testing.T, r *etree.Element) { f(t, find(t, r, pAssertion)) }
}

func find(t *testing.T, el *etree.Element, path string) *etree.Element {
	t.Helper()
	f := el.FindElement(path)
	require.NotNil(t, f, "no %s below <%s>", path, el.Tag)
	return f
}

func remove(t *testing.T, el *etree.Element, path string) {
	t.Helper()
	f := find(t, el, path)
	f.Parent().RemoveChild(f)
}

func setAttr(path, key, value string) func(t *testing.T, el *etree.Element) {
	return func(t *testing.T, el *etree.Element) { find(t, el, path).CreateAttr(key, value) }
}

// unsignedCopy returns a copy of el without its enveloped signature.
func unsignedCopy(el *etree.Element) *etree.Element {
	c := el.Copy()
	for _, s := range c.ChildElements() {
		if isDS(s, "Signature") {
			c.RemoveChild(s)
		}
	}
	return c
}

// evilize turns an assertion into the attacker's.
func evilize(t *testing.T, a *etree.Element) {
	t.Helper()
	find(t, a, pNameID).SetText(evilNIF)
	find(t, a, pPersonID).SetText(evilNIF)
}

// insertBefore puts el into parent just before the child at path.
func insertBefore(t *testing.T, parent *etree.Element, path string, el *etree.Element) {
	t.Helper()
	parent.InsertChildAt(find(t, parent, path).Index(), el)
}

func extensions(children ...*etree.Element) *etree.Element {
	ext := etree.NewElement("saml2p:Extensions")
	for _, c := range children {
		ext.AddChild(c)
	}
	return ext
}

func instant(d time.Duration) string { return FormatInstant(testNow.Add(d)) }

// withoutAttr drops the named attribute from the response parameters.
func withoutAttr(name string) func(*ResponseParams) {
	return func(p *ResponseParams) {
		p.Attributes = slices.DeleteFunc(p.Attributes, func(a Attribute) bool { return a.Name == name })
	}
}

// withPersonID sets the values of the PersonIdentifier attribute.
func withPersonID(values ...string) func(*ResponseParams) {
	return func(p *ResponseParams) {
		for i := range p.Attributes {
			if p.Attributes[i].Name == AttrPersonIdentifier {
				p.Attributes[i].Values = values
			}
		}
	}
}

// requireDefaults makes the expectation what clave.Client expects of its
// default request: PersonIdentifier and both names marked isRequired.
func requireDefaults(_ *Validator, exp *Expectation) {
	exp.RequiredAttributes = RequiredAttributes(DefaultAttributes())
}

// resignOpts says how resign recomputes a signature.
type resignOpts struct {
	key                 *rsa.PrivateKey    // nil: the gateway key
	sigHash, digestHash crypto.Hash        // 0: SHA-512
	refC14N, siC14N     dsig.Canonicalizer // nil: exclusive c14n, as signature.go signs
}

// resign lets edit change the enveloped signature of el (algorithms, references,
// transforms), then recomputes every DigestValue and the SignatureValue the way
// signature.go does: goxmldsig's canonicalisation, the standard library's RSA.
// The result is a cryptographically valid signature, so a refusal can only come
// from what edit changed.
func resign(t *testing.T, el *etree.Element, o resignOpts, edit func(sig *etree.Element)) {
	t.Helper()
	sig := find(t, el, pSig)
	if edit != nil {
		edit(sig)
	}
	if o.key == nil {
		o.key = idpKeys.Key
	}
	if o.sigHash == 0 {
		o.sigHash = crypto.SHA512
	}
	if o.digestHash == 0 {
		o.digestHash = crypto.SHA512
	}
	var digest []byte
	if o.refC14N == nil {
		var err error
		digest, err = digestElement(el, ResponsePrefixList, o.digestHash)
		require.NoError(t, err)
	} else {
		det, err := detach(el)
		require.NoError(t, err)
		det.RemoveChild(find(t, det, pSig))
		c, err := o.refC14N.Canonicalize(det)
		require.NoError(t, err)
		h := o.digestHash.New()
		h.Write(c)
		digest = h.Sum(nil)
	}
	si := find(t, sig, "./ds:SignedInfo")
	for _, dv := range si.FindElements("./ds:Reference/ds:DigestValue") {
		dv.SetText(base64.StdEncoding.EncodeToString(digest))
	}
	var signed []byte
	var err error
	if o.siC14N == nil {
		signed, err = canonicalSignedInfo(si, "")
	} else {
		det, derr := detach(si)
		require.NoError(t, derr)
		signed, err = o.siC14N.Canonicalize(det)
	}
	require.NoError(t, err)
	h := o.sigHash.New()
	h.Write(signed)
	value, err := rsa.SignPKCS1v15(rand.Reader, o.key, o.sigHash, h.Sum(nil))
	require.NoError(t, err)
	find(t, sig, "./ds:SignatureValue").SetText(base64.StdEncoding.EncodeToString(value))
}

// resigned builds a response signed at the root and re-signs it through resign.
func resigned(sec ResponseSecurity, o resignOpts, edit func(sig *etree.Element)) func(t *testing.T) []byte {
	return variant(nil, sec, nil, func(t *testing.T, r *etree.Element) { resign(t, r, o, edit) })
}

// resignedAssertion is resigned for the assertion's own signature.
func resignedAssertion(o resignOpts, edit func(sig *etree.Element)) func(t *testing.T) []byte {
	return variant(nil, secAssertion, nil, func(t *testing.T, r *etree.Element) { resign(t, find(t, r, pAssertion), o, edit) })
}

func setAlg(path, alg string) func(sig *etree.Element) {
	return func(sig *etree.Element) { sig.FindElement(path).CreateAttr("Algorithm", alg) }
}

const (
	pSigMethod    = "./ds:SignedInfo/ds:SignatureMethod"
	pDigestMethod = "./ds:SignedInfo/ds:Reference/ds:DigestMethod"
	pC14NMethod   = "./ds:SignedInfo/ds:CanonicalizationMethod"
	pRefC14N      = "./ds:SignedInfo/ds:Reference/ds:Transforms/ds:Transform[2]"
	algC14N10     = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
	algExcC14NCom = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
)

// dsigSigned is a response signed at the root by goxmldsig's own signer, an
// implementation independent of ours.
func dsigSigned(k *pki.KeyPair, method string) func(t *testing.T) []byte {
	return func(t *testing.T) []byte {
		doc := gwDoc(t, nil, ResponseSecurity{}, nil)
		ctx, err := dsig.NewSigningContext(k.Key, [][]byte{k.Certificate.Raw})
		require.NoError(t, err)
		ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
		require.NoError(t, ctx.SetSignatureMethod(method))
		signed, err := ctx.SignEnveloped(doc.Root())
		require.NoError(t, err)
		doc.SetRoot(signed)
		return docBytes(t, doc)
	}
}

// statusDoc is a signed (or not) failure response.
func statusDoc(code, sub string, sec ResponseSecurity, pre func(t *testing.T, r *etree.Element)) func(t *testing.T) []byte {
	return variant(func(p *ResponseParams) {
		p.Status = &StatusError{Code: code, SubCode: sub, Message: "fallo de prueba"}
	}, sec, pre, nil)
}

// xsw is a signature wrapping attack on the assertion's own signature: mutate
// receives the response whose assertion is signed (and the response too when
// sec says so) and rearranges it.
type xsw struct {
	name   string
	mutate func(t *testing.T, r, a *etree.Element)
	// wantAssertion is the refusal when only the assertion is signed;
	// wantBoth when the response signature is left in place as well.
	wantAssertion, wantBoth error
}

var assertionWrappings = []xsw{
	{"XSW3 evil assertion as a sibling before the signed one", func(t *testing.T, r, a *etree.Element) {
		evil := unsignedCopy(a)
		evil.CreateAttr("ID", "_evil")
		evilize(t, evil)
		r.InsertChildAt(a.Index(), evil)
	}, ErrAssertionCount, ErrSignatureInvalid},
	{"XSW3 evil sibling reusing the signed ID", func(t *testing.T, r, a *etree.Element) {
		evil := unsignedCopy(a)
		evilize(t, evil)
		r.InsertChildAt(a.Index(), evil)
	}, ErrWrapped, ErrWrapped},
	{"XSW4 evil assertion wrapping the signed one", func(t *testing.T, r, a *etree.Element) {
		evil := unsignedCopy(a)
		evil.CreateAttr("ID", "_evil")
		evilize(t, evil)
		idx := a.Index()
		r.RemoveChild(a)
		evil.AddChild(a)
		r.InsertChildAt(idx, evil)
	}, ErrWrapped, ErrWrapped},
	{"XSW5 signed assertion altered, original copy at the end", func(t *testing.T, r, a *etree.Element) {
		orig := unsignedCopy(a)
		a.CreateAttr("ID", "_evil")
		evilize(t, a)
		r.AddChild(orig)
	}, ErrAssertionCount, ErrSignatureInvalid},
	{"XSW6 original copy inside the altered assertion's Signature", func(t *testing.T, r, a *etree.Element) {
		orig := unsignedCopy(a)
		a.CreateAttr("ID", "_evil")
		evilize(t, a)
		find(t, a, pSig).AddChild(orig)
	}, ErrWrapped, ErrWrapped},
	{"XSW7 signed assertion moved into Extensions", func(t *testing.T, r, a *etree.Element) {
		evil := unsignedCopy(a)
		evil.CreateAttr("ID", "_evil")
		evilize(t, evil)
		idx := a.Index()
		r.RemoveChild(a)
		r.InsertChildAt(idx, evil)
		insertBefore(t, r, pStatus, extensions(a))
	}, ErrWrapped, ErrWrapped},
	{"XSW8 original copy in a ds:Object of the altered assertion's Signature", func(t *testing.T, r, a *etree.Element) {
		orig := unsignedCopy(a)
		a.CreateAttr("ID", "_evil")
		evilize(t, a)
		find(t, a, pSig).CreateElement("ds:Object").AddChild(orig)
	}, ErrWrapped, ErrWrapped},
	{"signed assertion hidden in the evil one's Advice", func(t *testing.T, r, a *etree.Element) {
		evil := unsignedCopy(a)
		evil.CreateAttr("ID", "_evil")
		evilize(t, evil)
		adv := etree.NewElement("saml2:Advice")
		insertBefore(t, evil, pAuthn, adv)
		idx := a.Index()
		r.RemoveChild(a)
		adv.AddChild(a)
		r.InsertChildAt(idx, evil)
	}, ErrWrapped, ErrWrapped},
	{"altered assertion keeps the signature under a new ID", func(t *testing.T, r, a *etree.Element) {
		a.CreateAttr("ID", "_evil")
		evilize(t, a)
	}, ErrWrapped, ErrSignatureInvalid},
	{"encrypted assertion nested in Extensions", func(t *testing.T, r, a *etree.Element) {
		evil := unsignedCopy(a)
		evil.CreateAttr("ID", "_evil")
		evilize(t, evil)
		enc := gwDoc(t, nil, ResponseSecurity{SignAssertion: true, EncryptFor: spKeys.Certificate}, nil)
		ea := find(t, enc.Root(), "./saml2:EncryptedAssertion")
		ea.CreateAttr("xmlns:saml2", NSAssertion)
		idx := a.Index()
		r.RemoveChild(a)
		r.InsertChildAt(idx, evil)
		insertBefore(t, r, pStatus, extensions(ea))
	}, ErrWrapped, ErrWrapped},
}

// responseWrappings attack the response signature: the signed original is kept
// somewhere the verifier might find it, an evil unsigned copy is the root.
func responseWrappings() []refusal {
	// signedError is a genuinely signed gateway failure for this request: it
	// carries no assertion, so only the signature's position can betray it.
	signedError := func(t *testing.T) *etree.Element {
		return gwDoc(t, func(p *ResponseParams) {
			p.Status = &StatusError{Code: StatusRequester, SubCode: StatusRequestDenied}
		}, secResponse, nil).Root()
	}
	// evilRoot is an unsigned success for the attacker.
	evilRoot := func(t *testing.T, id string) *etree.Document {
		doc := gwDoc(t, func(p *ResponseParams) { p.ID = id }, ResponseSecurity{}, nil)
		evilize(t, find(t, doc.Root(), pAssertion))
		return doc
	}
	moveSig := func(t *testing.T, from, to *etree.Element) *etree.Element {
		sig := find(t, from, pSig)
		from.RemoveChild(sig)
		insertBefore(t, to, pStatus, sig)
		return sig
	}
	return []refusal{
		{name: "XSW1 signed response inside the Signature of an evil root", want: ErrWrapped,
			build: variant(nil, secResponse, nil, func(t *testing.T, r *etree.Element) {
				orig := unsignedCopy(r)
				r.CreateAttr("ID", "_evil")
				evilize(t, find(t, r, pAssertion))
				find(t, r, pSig).AddChild(orig)
			})},
		{name: "XSW1 signed error response inside the Signature of an evil root", want: ErrSignatureInvalid,
			build: func(t *testing.T) []byte {
				signed, doc := signedError(t), evilRoot(t, "_evil")
				moveSig(t, signed, doc.Root()).AddChild(signed.Copy())
				return docBytes(t, doc)
			}},
		{name: "XSW1 signed response in a ds:Object of the evil root's Signature", want: ErrWrapped,
			build: variant(nil, secResponse, nil, func(t *testing.T, r *etree.Element) {
				orig := unsignedCopy(r)
				r.CreateAttr("ID", "_evil")
				evilize(t, find(t, r, pAssertion))
				find(t, r, pSig).CreateElement("ds:Object").AddChild(orig)
			})},
		{name: "XSW2 signed response as a sibling before the Signature", want: ErrWrapped,
			build: variant(nil, secResponse, nil, func(t *testing.T, r *etree.Element) {
				orig := unsignedCopy(r)
				r.CreateAttr("ID", "_evil")
				evilize(t, find(t, r, pAssertion))
				insertBefore(t, r, pSig, orig)
			})},
		{name: "XSW2 signed error response as a sibling before the Signature", want: ErrWrapped,
			build: func(t *testing.T) []byte {
				signed, doc := signedError(t), evilRoot(t, "_evil")
				moveSig(t, signed, doc.Root())
				insertBefore(t, doc.Root(), pSig, signed.Copy())
				return docBytes(t, doc)
			}},
		{name: "XSW2 signed error response, evil root reusing its ID", want: ErrWrapped,
			build: func(t *testing.T) []byte {
				signed, doc := signedError(t), evilRoot(t, "_resp1")
				moveSig(t, signed, doc.Root())
				insertBefore(t, doc.Root(), pSig, signed.Copy())
				return docBytes(t, doc)
			}},
		{name: "signed response inside Extensions of an unsigned evil root", want: ErrWrapped,
			build: func(t *testing.T) []byte {
				signed := gwDoc(t, nil, secResponse, nil).Root()
				doc := evilRoot(t, "_evil")
				insertBefore(t, doc.Root(), pStatus, extensions(signed.Copy()))
				return docBytes(t, doc)
			}},
		{name: "signed error response inside Extensions of an unsigned evil root", want: ErrSignatureMissing,
			build: func(t *testing.T) []byte {
				signed, doc := signedError(t), evilRoot(t, "_evil")
				insertBefore(t, doc.Root(), pStatus, extensions(signed.Copy()))
				return docBytes(t, doc)
			}},
		{name: "response signature moved into the assertion", want: ErrWrapped,
			build: variant(nil, secResponse, nil, func(t *testing.T, r *etree.Element) {
				a, sig := find(t, r, pAssertion), find(t, r, pSig)
				r.RemoveChild(sig)
				insertBefore(t, a, pSubject, sig)
				evilize(t, a)
			})},
		{name: "assertion signature moved onto the response", want: ErrWrapped,
			build: variant(nil, secAssertion, nil, func(t *testing.T, r *etree.Element) {
				a := find(t, r, pAssertion)
				moveSig(t, a, r)
				evilize(t, a)
			})},
	}
}

type refusal struct {
	name string
	// build returns the decoded SAMLResponse.
	build func(t *testing.T) []byte
	// form, used instead of build, is the SAMLResponse form field, decoded with
	// DecodeMessage first as an ACS does.
	form  func(t *testing.T) string
	tweak func(v *Validator, exp *Expectation)
	want  error
	// also lists further sentinels the error must match, not those it must not.
	also, not []error
	// status, when set, is the *StatusError expected (Code and SubCode).
	status *StatusError
}

// refusals returns every bad response. Each starts from a valid gateway
// response (TestAccepts proves the starting points are accepted) and changes
// one thing. The table reads the test keys: call testKeys first.
func refusals() []refusal {
	cases := responseWrappings()
	for _, w := range assertionWrappings {
		mutate := func(t *testing.T, r *etree.Element) { w.mutate(t, r, find(t, r, pAssertion)) }
		cases = append(cases,
			refusal{name: w.name + " (assertion signed)", want: w.wantAssertion, build: variant(nil, secAssertion, nil, mutate)},
			refusal{name: w.name + " (response and assertion signed)", want: w.wantBoth, build: variant(nil, secBoth, nil, mutate)})
	}

	cases = append(cases, []refusal{
		// Signatures.
		{name: "response signature removed", want: ErrSignatureMissing,
			build: variant(nil, secResponse, nil, func(t *testing.T, r *etree.Element) { remove(t, r, pSig) })},
		{name: "assertion signature removed, response unsigned", want: ErrSignatureMissing,
			build: variant(nil, secAssertion, nil, func(t *testing.T, r *etree.Element) { remove(t, find(t, r, pAssertion), pSig) })},
		{name: "assertion signature removed, response signature stale", want: ErrSignatureInvalid,
			build: variant(nil, secBoth, nil, func(t *testing.T, r *etree.Element) { remove(t, find(t, r, pAssertion), pSig) })},
		{name: "nothing signed, another element carries a valid signature", want: ErrSignatureMissing,
			build: variant(nil, ResponseSecurity{}, func(t *testing.T, r *etree.Element) {
				ext := extensions()
				ext.CreateAttr("ID", "_ext")
				ext.CreateElement("saml2:Issuer").SetText(testIdP)
				insertBefore(t, r, pStatus, ext)
				require.NoError(t, signerOf(idpKeys).signEnveloped(ext, 1, ""))
			}, nil)},
		{name: "untrusted key with its certificate in KeyInfo", want: ErrUntrustedKey,
			build: variant(nil, ResponseSecurity{SignResponse: true, Signer: signerOf(evilKeys)}, nil, nil)},
		{name: "untrusted key signing the assertion", want: ErrUntrustedKey,
			build: variant(nil, ResponseSecurity{SignAssertion: true, Signer: signerOf(evilKeys)}, nil, nil)},
		{name: "untrusted key without KeyInfo", want: ErrSignatureInvalid,
			build: variant(nil, ResponseSecurity{SignResponse: true, Signer: &Signer{Key: evilKeys.Key}}, nil, nil)},
		{name: "untrusted key behind the trusted certificate in KeyInfo", want: ErrSignatureInvalid,
			build: variant(nil, ResponseSecurity{SignResponse: true, Signer: &Signer{Key: evilKeys.Key, Certificate: idpKeys.Certificate}}, nil, nil)},
		{name: "retired key no longer trusted", want: ErrSignatureInvalid,
			build: variant(nil, ResponseSecurity{SignResponse: true, Signer: &Signer{Key: idpKeys2.Key}}, nil, nil)},
		{name: "DigestValue altered", want: ErrSignatureInvalid,
			build: variant(nil, secResponse, nil, func(t *testing.T, r *etree.Element) {
				dv := find(t, r, "./ds:Signature/ds:SignedInfo/ds:Reference/ds:DigestValue")
				d, err := base64.StdEncoding.DecodeString(dv.Text())
				require.NoError(t, err)
				d[0] ^= 1
				dv.SetText(base64.StdEncoding.EncodeToString(d))
			})},
		{name: "SignatureValue altered", want: ErrSignatureInvalid,
			build: variant(nil, secResponse, nil, func(t *testing.T, r *etree.Element) {
				sv := find(t, r, "./ds:Signature/ds:SignatureValue")
				d, err := base64.StdEncoding.DecodeString(sv.Text())
				require.NoError(t, err)
				d[len(d)/2] ^= 0x80
				sv.SetText(base64.StdEncoding.EncodeToString(d))
			})},
		{name: "NameID changed after signing the response", want: ErrSignatureInvalid,
			build: variant(nil, secResponse, nil, onAssertion(evilize))},
		{name: "NameID changed after signing the assertion", want: ErrSignatureInvalid,
			build: variant(nil, secAssertion, nil, onAssertion(evilize))},
		{name: "Consent changed after signing the response", want: ErrSignatureInvalid,
			build: variant(nil, secResponse, nil, func(t *testing.T, r *etree.Element) { r.CreateAttr("Consent", ConsentUnspecified) })},
		{name: "comment in NameID, signed over", want: ErrMalformed,
			build: variant(nil, secResponse, onAssertion(func(t *testing.T, a *etree.Element) {
				nid := find(t, a, pNameID)
				nid.SetText(evilNIF[:4])
				nid.CreateComment("x")
				nid.CreateText(evilNIF[4:])
			}), nil)},
		{name: "comment in PersonIdentifier, signed over", want: ErrMalformed,
			build: variant(nil, secAssertion, onAssertion(func(t *testing.T, a *etree.Element) {
				v := find(t, a, pPersonID)
				v.SetText("1234")
				v.CreateComment("")
				v.CreateText("5678Z")
			}), nil)},
		{name: "comment in PersonIdentifier after signing", want: ErrMalformed,
			build: variant(nil, secResponse, nil, onAssertion(func(t *testing.T, a *etree.Element) {
				find(t, a, pPersonID).CreateComment("x")
			}))},
		{name: "NameID split by an element", want: ErrMalformed,
			build: variant(nil, secResponse, onAssertion(func(t *testing.T, a *etree.Element) {
				find(t, a, pNameID).CreateElement("saml2:Extra").SetText("1")
			}), nil)},
		{name: "two assertions", want: ErrAssertionCount,
			build: variant(nil, secResponse, func(t *testing.T, r *etree.Element) {
				evil := find(t, r, pAssertion).Copy()
				evil.CreateAttr("ID", "_assert2")
				evilize(t, evil)
				r.AddChild(evil)
			}, nil)},
		{name: "no assertion in a success", want: ErrAssertionCount,
			build: variant(nil, secResponse, func(t *testing.T, r *etree.Element) { remove(t, r, pAssertion) }, nil)},
		{name: "assertion ID equal to the response ID", want: ErrWrapped,
			build: variant(nil, secResponse, setAttr(pAssertion, "ID", "_resp1"), nil)},
		{name: "unsigned element reusing the signed assertion's ID", want: ErrWrapped,
			build: variant(nil, secAssertion, nil, func(t *testing.T, r *etree.Element) {
				ext := extensions()
				ext.CreateAttr("ID", "_assert1")
				insertBefore(t, r, pStatus, ext)
			})},
		{name: `Reference URI=""`, want: ErrWrapped,
			build: resigned(secResponse, resignOpts{}, func(sig *etree.Element) {
				sig.FindElement("./ds:SignedInfo/ds:Reference").CreateAttr("URI", "")
			})},
		{name: `Reference URI="" on the assertion`, want: ErrWrapped,
			build: resignedAssertion(resignOpts{}, func(sig *etree.Element) {
				sig.FindElement("./ds:SignedInfo/ds:Reference").CreateAttr("URI", "")
			})},
		{name: "Reference to the assertion from the response signature", want: ErrWrapped,
			build: resigned(secResponse, resignOpts{}, func(sig *etree.Element) {
				sig.FindElement("./ds:SignedInfo/ds:Reference").CreateAttr("URI", "#_assert1")
			})},
		{name: "two References", want: ErrWrapped,
			build: resigned(secResponse, resignOpts{}, func(sig *etree.Element) {
				si := sig.FindElement("./ds:SignedInfo")
				si.AddChild(si.FindElement("./ds:Reference").Copy())
			})},
		{name: "two signatures on the response", want: ErrWrapped,
			build: variant(nil, secResponse, nil, func(t *testing.T, r *etree.Element) {
				insertBefore(t, r, pStatus, find(t, r, pSig).Copy())
			})},
		{name: "RSA-SHA1 signature (re-signed)", want: ErrAlgorithm,
			build: resigned(secResponse, resignOpts{sigHash: crypto.SHA1}, setAlg(pSigMethod, AlgRSASHA1))},
		{name: "RSA-SHA1 and SHA-1 digest by goxmldsig", want: ErrAlgorithm,
			build: dsigSigned(idpKeys, dsig.RSASHA1SignatureMethod)},
		{name: "SHA-1 digest", want: ErrAlgorithm,
			build: resigned(secResponse, resignOpts{digestHash: crypto.SHA1}, setAlg(pDigestMethod, AlgSHA1))},
		{name: "SHA-1 digest on the assertion", want: ErrAlgorithm,
			build: resignedAssertion(resignOpts{digestHash: crypto.SHA1}, setAlg(pDigestMethod, AlgSHA1))},
		{name: "HMAC-SHA256 signature method", want: ErrAlgorithm,
			build: resigned(secResponse, resignOpts{}, setAlg(pSigMethod, "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"))},
		{name: "inclusive c14n transform", want: ErrAlgorithm,
			build: resigned(secResponse, resignOpts{refC14N: dsig.MakeC14N10RecCanonicalizer()}, func(sig *etree.Element) {
				tr := sig.FindElement(pRefC14N)
				tr.CreateAttr("Algorithm", algC14N10)
				for _, c := range tr.ChildElements() {
					tr.RemoveChild(c)
				}
			})},
		{name: "inclusive c14n of SignedInfo", want: ErrAlgorithm,
			build: resigned(secResponse, resignOpts{siC14N: dsig.MakeC14N10RecCanonicalizer()}, setAlg(pC14NMethod, algC14N10))},
		{name: "exclusive c14n with comments", want: ErrAlgorithm,
			build: resigned(secResponse, resignOpts{}, setAlg(pRefC14N, algExcC14NCom))},
		{name: "enveloped-signature transform missing", want: ErrAlgorithm,
			build: resigned(secResponse, resignOpts{}, func(sig *etree.Element) {
				tr := sig.FindElement("./ds:SignedInfo/ds:Reference/ds:Transforms")
				tr.RemoveChildAt(tr.FindElement("./ds:Transform").Index())
			})},
		{name: "extra XPath transform", want: ErrAlgorithm,
			build: resigned(secResponse, resignOpts{}, func(sig *etree.Element) {
				sig.FindElement("./ds:SignedInfo/ds:Reference/ds:Transforms").CreateElement("ds:Transform").
					CreateAttr("Algorithm", "http://www.w3.org/TR/1999/REC-xpath-19991116")
			})},

		// Parsing.
		{name: "DOCTYPE with entity expansion (billion laughs)", want: ErrMalformed,
			build: func(t *testing.T) []byte {
				var b strings.Builder
				b.WriteString(`<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">`)
				for i := 1; i < 10; i++ {
					b.WriteString(`<!ENTITY lol` + string(rune('0'+i)) + ` "` + strings.Repeat("&lol"+string(rune('0'+i-1))+";", 10) + `">`)
				}
				b.WriteString(`]><saml2p:Response xmlns:saml2p="` + NSProtocol + `" ID="_r" Version="2.0">&lol9;</saml2p:Response>`)
				return []byte(b.String())
			}},
		{name: "external entity", want: ErrMalformed,
			build: func(t *testing.T) []byte {
				raw := docBytes(t, gwDoc(t, nil, secResponse, nil))
				raw = bytes.Replace(raw, []byte("?>"), []byte(`?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>`), 1)
				return bytes.Replace(raw, []byte(">12345678Z<"), []byte(">&xxe;<"), 1)
			}},
		{name: "lower-case doctype directive", want: ErrMalformed,
			build: func(t *testing.T) []byte {
				raw := docBytes(t, gwDoc(t, nil, secResponse, nil))
				return bytes.Replace(raw, []byte("?>"), []byte(`?><!doctype r>`), 1)
			}},
		{name: "undeclared entity reference", want: ErrMalformed,
			build: func(t *testing.T) []byte {
				raw := docBytes(t, gwDoc(t, nil, secResponse, nil))
				return bytes.Replace(raw, []byte(">12345678Z<"), []byte(">&xxe;<"), 1)
			}},
		{name: "processing instruction inside the response", want: ErrMalformed,
			build: variant(nil, secResponse, onAssertion(func(t *testing.T, a *etree.Element) {
				find(t, a, pSubject).CreateProcInst("evil", "x")
			}), nil)},
		{name: "second document element", want: ErrMalformed,
			build: func(t *testing.T) []byte {
				signed := docBytes(t, gwDoc(t, nil, secResponse, nil))
				evil := gwDoc(t, func(p *ResponseParams) { p.ID = "_evil"; p.AssertionID = "_evil_a" }, ResponseSecurity{}, nil)
				evilize(t, find(t, evil.Root(), pAssertion))
				var b bytes.Buffer
				evil.Root().WriteTo(&b, &evil.WriteSettings)
				return append(signed, b.Bytes()...)
			}},
		{name: "text after the document element", want: ErrMalformed,
			build: func(t *testing.T) []byte {
				return append(docBytes(t, gwDoc(t, nil, secResponse, nil)), "12345678Z"...)
			}},
		{name: "truncated document", want: ErrMalformed,
			build: func(t *testing.T) []byte {
				raw := docBytes(t, gwDoc(t, nil, secResponse, nil))
				return raw[:len(raw)-20]
			}},
		{name: "empty input", want: ErrMalformed, build: func(*testing.T) []byte { return nil }},
		{name: "nesting deeper than allowed", want: ErrMalformed,
			build: variant(nil, secResponse, func(t *testing.T, r *etree.Element) {
				el := extensions()
				insertBefore(t, r, pStatus, el)
				for range maxDepth + 2 {
					el = el.CreateElement("saml2p:Extensions")
				}
			}, nil)},
		{name: "oversized input", want: ErrTooLarge,
			build: func(t *testing.T) []byte {
				raw := docBytes(t, gwDoc(t, nil, secResponse, nil))
				return append(raw, bytes.Repeat([]byte(" "), DefaultMaxMessageSize)...)
			}},
		{name: "larger than the configured MaxSize", want: ErrTooLarge,
			tweak: func(v *Validator, _ *Expectation) { v.MaxSize = 2048 },
			build: variant(nil, secResponse, nil, nil)},
		{name: "oversized form field", want: ErrTooLarge,
			form: func(t *testing.T) string {
				raw := docBytes(t, gwDoc(t, nil, secResponse, nil))
				return base64.StdEncoding.EncodeToString(append(raw, bytes.Repeat([]byte(" "), DefaultMaxMessageSize)...))
			}},
		{name: "malformed base64 form field", want: ErrMalformed,
			form: func(t *testing.T) string {
				f := base64.StdEncoding.EncodeToString(docBytes(t, gwDoc(t, nil, secResponse, nil)))
				return f[:40] + "*" + f[41:]
			}},
		{name: "empty form field", want: ErrMalformed, form: func(*testing.T) string { return "" }},
		{name: "AuthnRequest root", want: ErrUnexpectedRoot,
			build: func(t *testing.T) []byte {
				testKeys(t)
				req := &AuthnRequest{ID: testReqID, IssueInstant: testNow, Destination: PreproductionURL, ACSURL: testACS,
					SPID: "S0000000E_E00000000", ApplicationName: "Pruebas", LoA: LoALow}
				raw, err := req.Sign(signerOf(idpKeys))
				require.NoError(t, err)
				return raw
			}},
		{name: "LogoutResponse root", want: ErrUnexpectedRoot,
			build: func(t *testing.T) []byte {
				testKeys(t)
				doc, err := BuildLogoutResponse(LogoutResponseParams{ID: "_lr", InResponseTo: testReqID, Destination: testACS, IssueInstant: testNow})
				require.NoError(t, err)
				raw, err := SignDocument(doc, signerOf(idpKeys))
				require.NoError(t, err)
				return raw
			}},
		{name: "Response in the SAML 1.0 protocol namespace", want: ErrUnexpectedRoot,
			build: variant(nil, secResponse, nil, func(t *testing.T, r *etree.Element) {
				r.CreateAttr("xmlns:saml2p", "urn:oasis:names:tc:SAML:1.0:protocol")
			})},
		{name: `Version="1.0"`, want: ErrVersion,
			build: variant(nil, secResponse, func(t *testing.T, r *etree.Element) { r.CreateAttr("Version", "1.0") }, nil)},
		{name: "assertion Version 1.1", want: ErrVersion,
			build: variant(nil, secResponse, setAttr(pAssertion, "Version", "1.1"), nil)},
		{name: "response without ID", want: ErrMalformed,
			build: variant(nil, secAssertion, nil, func(t *testing.T, r *etree.Element) { r.RemoveAttr("ID") })},
		{name: "assertion without ID", want: ErrMalformed,
			build: variant(nil, secResponse, onAssertion(func(t *testing.T, a *etree.Element) { a.RemoveAttr("ID") }), nil)},

		// Encryption.
		{name: "assertion encrypted for another key", want: ErrDecryption,
			build: variant(nil, ResponseSecurity{SignResponse: true, EncryptFor: evilKeys.Certificate}, nil, nil)},
		{name: "AES-CBC while AllowCBC is off", want: ErrAlgorithm,
			build: variant(nil, ResponseSecurity{SignResponse: true, EncryptFor: spKeys.Certificate, EncryptCBC: true}, nil, nil)},
		{name: "AES-CBC allowed but the ciphertext is not signed", want: ErrAlgorithm,
			tweak: func(v *Validator, _ *Expectation) { v.AllowCBC = true },
			build: variant(nil, ResponseSecurity{SignAssertion: true, EncryptFor: spKeys.Certificate, EncryptCBC: true}, nil, nil)},
		{name: "RSA PKCS#1 v1.5 key transport", want: ErrAlgorithm,
			build: func(t *testing.T) []byte {
				testKeys(t)
				doc := gwDoc(t, nil, ResponseSecurity{SignAssertion: true, EncryptFor: spKeys.Certificate}, nil)
				find(t, doc.Root(), ".//EncryptedKey/EncryptionMethod").CreateAttr("Algorithm", "http://www.w3.org/2001/04/xmlenc#rsa-1_5")
				return docBytes(t, doc)
			}},
		{name: "encrypted assertion, nothing signed", want: ErrSignatureMissing,
			build: variant(nil, ResponseSecurity{EncryptFor: spKeys.Certificate}, onAssertion(evilize), nil)},
		{name: "encrypted assertion without a decryption key", want: ErrDecryption,
			tweak: func(v *Validator, _ *Expectation) { v.DecryptionKeys = nil },
			build: variant(nil, ResponseSecurity{SignResponse: true, EncryptFor: spKeys.Certificate}, nil, nil)},
		{name: "encrypted content is a Response, not an Assertion", want: ErrDecryption,
			build: func(t *testing.T) []byte {
				inner := docBytes(t, gwDoc(t, nil, secAssertion, nil))
				enc := xmlenc.OAEP()
				enc.BlockCipher = xmlenc.AES256GCM
				enc.DigestMethod = &xmlenc.SHA256
				ed, err := enc.Encrypt(spKeys.Certificate, inner, nil)
				require.NoError(t, err)
				doc := gwDoc(t, nil, ResponseSecurity{}, nil)
				r := doc.Root()
				ea := etree.NewElement("saml2:EncryptedAssertion")
				ea.AddChild(ed)
				insertBefore(t, r, pAssertion, ea)
				remove(t, r, pAssertion)
				return docBytes(t, doc)
			}},

		// Addressing.
		{name: "wrong Destination", want: ErrDestination,
			build: variant(nil, secResponse, func(t *testing.T, r *etree.Element) { r.CreateAttr("Destination", "https://evil.example/acs") }, nil)},
		{name: "missing Destination", want: ErrDestination,
			build: variant(nil, secResponse, func(t *testing.T, r *etree.Element) { r.RemoveAttr("Destination") }, nil)},
		{name: "wrong Recipient", want: ErrRecipient,
			build: variant(nil, secResponse, onAssertion(setAttr(pSCD, "Recipient", "https://evil.example/acs")), nil)},
		{name: "wrong Audience", want: ErrAudience,
			build: variant(nil, secResponse, onAssertion(func(t *testing.T, a *etree.Element) {
				find(t, a, pAudience).SetText("https://evil.example/acs")
			}), nil)},
		{name: "no AudienceRestriction", want: ErrAudience,
			build: variant(nil, secResponse, onAssertion(func(t *testing.T, a *etree.Element) {
				remove(t, a, "./saml2:Conditions/saml2:AudienceRestriction")
			}), nil)},
		{name: "second AudienceRestriction for someone else", want: ErrAudience,
			build: variant(nil, secResponse, onAssertion(func(t *testing.T, a *etree.Element) {
				find(t, a, pConditions).CreateElement("saml2:AudienceRestriction").CreateElement("saml2:Audience").SetText("https://evil.example/acs")
			}), nil)},
		{name: "wrong response Issuer", want: ErrIssuer,
			build: variant(nil, secResponse, func(t *testing.T, r *etree.Element) { find(t, r, pIssuer).SetText(ProductionIssuer) }, nil)},
		{name: "wrong assertion Issuer", want: ErrIssuer,
			build: variant(nil, secResponse, onAssertion(func(t *testing.T, a *etree.Element) { find(t, a, pIssuer).SetText("https://evil.example") }), nil)},
		{name: "missing response Issuer", want: ErrIssuer,
			build: variant(nil, secResponse, func(t *testing.T, r *etree.Element) { remove(t, r, pIssuer) }, nil)},
		{name: "missing assertion Issuer", want: ErrIssuer,
			build: variant(nil, secResponse, onAssertion(func(t *testing.T, a *etree.Element) { remove(t, a, pIssuer) }), nil)},
		{name: "Issuer with a non-entity Format", want: ErrIssuer,
			build: variant(nil, secResponse, setAttr(pIssuer, "Format", NameIDUnspecified), nil)},
		{name: "two response Issuers", want: ErrMalformed,
			build: variant(nil, secResponse, func(t *testing.T, r *etree.Element) {
				insertBefore(t, r, pStatus, find(t, r, pIssuer).Copy())
			}, nil)},

		// Correlation.
		{name: "unknown InResponseTo", want: ErrInResponseTo,
			build: variant(func(p *ResponseParams) { p.InResponseTo = "_someone_elses_request" }, secResponse, nil, nil)},
		{name: "missing InResponseTo", want: ErrInResponseTo,
			build: variant(nil, secResponse, func(t *testing.T, r *etree.Element) { r.RemoveAttr("InResponseTo") }, nil)},
		{name: "empty expectation RequestID", want: ErrInResponseTo,
			tweak: func(_ *Validator, exp *Expectation) { exp.RequestID = "" },
			build: variant(nil, secResponse, nil, nil)},
		{name: "unsolicited response to an empty expectation", want: ErrInResponseTo,
			tweak: func(_ *Validator, exp *Expectation) { exp.RequestID = "" },
			build: variant(nil, secResponse, func(t *testing.T, r *etree.Element) {
				r.RemoveAttr("InResponseTo")
				find(t, r, pAssertion+"/"+pSCD[2:]).RemoveAttr("InResponseTo")
			}, nil)},
		{name: "confirmation answers another request", want: ErrInResponseTo,
			build: variant(nil, secResponse, onAssertion(setAttr(pSCD, "InResponseTo", "_other")), nil)},

		// Time.
		{name: "response older than MaxAge", want: ErrExpired,
			build: variant(func(p *ResponseParams) { p.IssueInstant = testNow.Add(-17 * time.Minute) }, secResponse, nil, nil)},
		{name: "Conditions expired beyond skew", want: ErrExpired,
			build: variant(func(p *ResponseParams) {
				p.IssueInstant = testNow.Add(-5 * time.Minute)
				p.Validity = 3 * time.Minute
			}, secResponse, nil, nil)},
		{name: "expired by one second without tolerance", want: ErrExpired,
			tweak: func(v *Validator, _ *Expectation) { v.Skew = -1 },
			build: variant(func(p *ResponseParams) {
				p.IssueInstant = testNow.Add(-5 * time.Minute)
				p.Validity = 5*time.Minute - time.Second
			}, secResponse, nil, nil)},
		{name: "confirmation expired", want: ErrExpired,
			build: variant(nil, secResponse, onAssertion(setAttr(pSCD, "NotOnOrAfter", instant(-2*time.Minute))), nil)},
		{name: "NotBefore beyond skew", want: ErrNotYetValid,
			build: variant(nil, secResponse, onAssertion(setAttr(pConditions, "NotBefore", instant(2*time.Minute))), nil)},
		{name: "response IssueInstant beyond skew", want: ErrNotYetValid,
			build: variant(func(p *ResponseParams) { p.IssueInstant = testNow.Add(2 * time.Minute) }, secResponse, nil, nil)},
		{name: "assertion IssueInstant beyond skew", want: ErrNotYetValid,
			build: variant(nil, secResponse, setAttr(pAssertion, "IssueInstant", instant(2*time.Minute)), nil)},
		{name: "AuthnInstant beyond skew", want: ErrNotYetValid,
			build: variant(func(p *ResponseParams) { p.AuthnInstant = testNow.Add(2 * time.Minute) }, secResponse, nil, nil)},
		{name: "instant without time zone", want: ErrMalformed,
			build: variant(nil, secResponse, onAssertion(setAttr(pConditions, "NotOnOrAfter", "2026-03-01T10:10:00")), nil)},
		{name: "Conditions without NotOnOrAfter", want: ErrMissingElement,
			build: variant(nil, secResponse, onAssertion(func(t *testing.T, a *etree.Element) { find(t, a, pConditions).RemoveAttr("NotOnOrAfter") }), nil)},

		// Subject confirmation and structure.
		{name: "holder-of-key confirmation", want: ErrSubjectConfirmation,
			build: variant(nil, secResponse, onAssertion(setAttr(pSC, "Method", "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key")), nil)},
		{name: "bearer confirmation with NotBefore", want: ErrSubjectConfirmation,
			build: variant(nil, secResponse, onAssertion(setAttr(pSCD, "NotBefore", instant(-time.Minute))), nil)},
		{name: "no SubjectConfirmation", want: ErrSubjectConfirmation,
			build: variant(nil, secResponse, onAssertion(func(t *testing.T, a *etree.Element) { remove(t, a, pSC) }), nil)},
		{name: "bearer confirmation without data", want: ErrSubjectConfirmation,
			build: variant(nil, secResponse, onAssertion(func(t *testing.T, a *etree.Element) { remove(t, a, pSCD) }), nil)},
		{name: "missing AuthnStatement", want: ErrMissingElement,
			build: variant(nil, secResponse, onAssertion(func(t *testing.T, a *etree.Element) { remove(t, a, pAuthn) }), nil)},
		{name: "missing Conditions", want: ErrMissingElement,
			build: variant(nil, secResponse, onAssertion(func(t *testing.T, a *etree.Element) { remove(t, a, pConditions) }), nil)},
		{name: "missing Subject", want: ErrMissingElement,
			build: variant(nil, secResponse, onAssertion(func(t *testing.T, a *etree.Element) { remove(t, a, pSubject) }), nil)},
		{name: "missing NameID", want: ErrMissingElement,
			build: variant(nil, secResponse, onAssertion(func(t *testing.T, a *etree.Element) { remove(t, a, pNameID) }), nil)},
		{name: "missing Status", want: ErrMissingElement,
			build: variant(nil, secResponse, func(t *testing.T, r *etree.Element) { remove(t, r, pStatus) }, nil)},
		{name: "attribute given twice", want: ErrMalformed,
			build: variant(nil, secResponse, onAssertion(func(t *testing.T, a *etree.Element) {
				at := find(t, a, pPersonID).Parent()
				c := at.Copy()
				c.FindElement("./saml2:AttributeValue").SetText(evilNIF)
				at.Parent().AddChild(c)
			}), nil)},

		{name: "PersonIdentifier in a second AttributeStatement", want: ErrMalformed,
			build: variant(nil, secResponse, onAssertion(func(t *testing.T, a *etree.Element) {
				at := find(t, a, pPersonID).Parent().Copy()
				at.FindElement("./saml2:AttributeValue").SetText(evilNIF)
				a.CreateElement("saml2:AttributeStatement").AddChild(at)
			}), nil)},

		// Identity: the PersonIdentifier attribute and nothing else.
		{name: "no PersonIdentifier attribute", want: ErrIdentity,
			build: variant(withoutAttr(AttrPersonIdentifier), secResponse, nil, nil)},
		{name: "no PersonIdentifier, NameID is another DNI", want: ErrIdentity,
			build: variant(func(p *ResponseParams) {
				withoutAttr(AttrPersonIdentifier)(p)
				p.NameID = NameID{Value: evilNIF, Format: NameIDPersistent}
			}, secResponse, nil, nil)},
		{name: "no PersonIdentifier while not requested as required", want: ErrIdentity,
			tweak: func(_ *Validator, exp *Expectation) { exp.RequiredAttributes = nil },
			build: variant(withoutAttr(AttrPersonIdentifier), secResponse, nil, nil)},
		{name: "empty PersonIdentifier", want: ErrIdentity,
			build: variant(withPersonID(""), secResponse, nil, nil)},
		{name: "blank PersonIdentifier", want: ErrIdentity,
			build: variant(withPersonID("  \n "), secResponse, nil, nil)},
		{name: "PersonIdentifier without AttributeValue", want: ErrIdentity,
			build: variant(withPersonID(), secResponse, nil, nil)},
		{name: "PersonIdentifier with two values", want: ErrIdentity,
			build: variant(withPersonID("12345678Z", evilNIF), secResponse, nil, nil)},
		{name: "PersonIdentifier with an empty second value", want: ErrIdentity,
			build: variant(withPersonID("12345678Z", ""), secResponse, nil, nil)},
		{name: "PersonIdentifier with a wrong check letter", want: ErrIdentity,
			build: variant(withPersonID("12345678A"), secResponse, nil, nil)},
		{name: "NIE PersonIdentifier with a wrong check letter", want: ErrIdentity,
			build: variant(withPersonID("X1234567A"), secResponse, nil, nil)},
		{name: "PersonIdentifier that is no document", want: ErrIdentity,
			build: variant(withPersonID("_7b1c52e0f3a94d6b8e2f01a3c4d5e6f7"), secResponse, nil, nil)},
		{name: "eIDAS PersonIdentifier for another country's services", want: ErrIdentity,
			build: variant(withPersonID("DE/FR/1234567890"), secResponse, nil, nil)},
		{name: "eIDAS PersonIdentifier with nothing after the countries", want: ErrIdentity,
			build: variant(withPersonID("DE/ES/"), secResponse, nil, nil)},
		{name: "empty NameID", want: ErrIdentity,
			build: variant(func(p *ResponseParams) { p.NameID.Value = "" }, secResponse, nil, nil)},
		{name: "blank NameID", want: ErrIdentity,
			build: variant(nil, secResponse, onAssertion(func(t *testing.T, a *etree.Element) { find(t, a, pNameID).SetText(" \t ") }), nil)},
		{name: "required FamilyName missing", want: ErrMissingAttribute, tweak: requireDefaults,
			build: variant(withoutAttr(AttrCurrentFamilyName), secResponse, nil, nil)},
		{name: "required FirstName empty", want: ErrMissingAttribute, tweak: requireDefaults,
			build: variant(func(p *ResponseParams) {
				for i := range p.Attributes {
					if p.Attributes[i].Name == AttrCurrentGivenName {
						p.Attributes[i].Values = []string{" "}
					}
				}
			}, secResponse, nil, nil)},
		{name: "required attribute without AttributeValue", want: ErrMissingAttribute, tweak: requireDefaults,
			build: variant(nil, secResponse, onAssertion(func(t *testing.T, a *etree.Element) {
				for _, at := range a.FindElements("./saml2:AttributeStatement/saml2:Attribute") {
					if at.SelectAttrValue("Name", "") == AttrCurrentFamilyName {
						at.RemoveChild(at.FindElement("./saml2:AttributeValue"))
					}
				}
			}), nil)},
		{name: "attribute required by the request, not sent", want: ErrMissingAttribute,
			tweak: func(_ *Validator, exp *Expectation) { exp.RequiredAttributes = []string{AttrDateOfBirth} },
			build: variant(nil, secResponse, nil, nil)},

		// Level of assurance.
		{name: "LoA below the requested one", want: ErrLoA,
			tweak: func(_ *Validator, exp *Expectation) { exp.MinLoA = LoAHigh },
			build: variant(nil, secResponse, nil, nil)},
		{name: "unknown LoA URI", want: ErrLoA,
			build: variant(nil, secResponse, onAssertion(func(t *testing.T, a *etree.Element) {
				find(t, a, pClassRef).SetText("urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport")
			}), nil)},
		{name: "LoA short name instead of URI", want: ErrLoA,
			build: variant(nil, secResponse, onAssertion(func(t *testing.T, a *etree.Element) { find(t, a, pClassRef).SetText("high") }), nil)},
		{name: "expectation without a requested LoA", want: ErrLoA,
			tweak: func(_ *Validator, exp *Expectation) { exp.MinLoA = 0 },
			build: variant(func(p *ResponseParams) { p.LoA = LoALow }, secResponse, nil, nil)},

		// Status.
		{name: "Requester/RequestDenied (user cancel)", want: ErrUserCancelled, also: []error{ErrRequestDenied, ErrStatus},
			status: &StatusError{Code: StatusRequester, SubCode: StatusRequestDenied},
			build:  statusDoc(StatusRequester, StatusRequestDenied, secResponse, nil)},
		{name: "Responder/RequestDenied", want: ErrRequestDenied, not: []error{ErrUserCancelled},
			status: &StatusError{Code: StatusResponder, SubCode: StatusRequestDenied},
			build:  statusDoc(StatusResponder, StatusRequestDenied, secResponse, nil)},
		{name: "Responder/AuthnFailed", want: ErrAuthnFailed, not: []error{ErrUserCancelled, ErrRequestDenied},
			status: &StatusError{Code: StatusResponder, SubCode: StatusAuthnFailed},
			build:  statusDoc(StatusResponder, StatusAuthnFailed, secResponse, nil)},
		{name: "Responder/NoPassive", want: ErrNoPassive,
			status: &StatusError{Code: StatusResponder, SubCode: StatusNoPassive},
			build:  statusDoc(StatusResponder, StatusNoPassive, secResponse, nil)},
		{name: "Responder/NoAuthnContext", want: ErrNoAuthnContext,
			status: &StatusError{Code: StatusResponder, SubCode: StatusNoAuthnContext},
			build:  statusDoc(StatusResponder, StatusNoAuthnContext, secResponse, nil)},
		{name: "Requester without a second-level code", want: ErrStatus,
			not:    []error{ErrUserCancelled, ErrRequestDenied, ErrAuthnFailed, ErrNoPassive},
			status: &StatusError{Code: StatusRequester},
			build:  statusDoc(StatusRequester, "", secResponse, nil)},
		{name: "Status without StatusCode", want: ErrStatus, not: []error{ErrUserCancelled, ErrAuthnFailed},
			status: &StatusError{},
			build: statusDoc(StatusResponder, StatusAuthnFailed, secResponse, func(t *testing.T, r *etree.Element) {
				remove(t, r, pStatusCode)
			})},
		{name: "Success with a second-level code", want: ErrStatus,
			status: &StatusError{Code: StatusSuccess, SubCode: StatusRequestDenied},
			build: variant(nil, secResponse, func(t *testing.T, r *etree.Element) {
				find(t, r, pStatusCode).CreateElement("saml2p:StatusCode").CreateAttr("Value", StatusRequestDenied)
				remove(t, r, pAssertion)
			}, nil)},
		{name: "error status in an unsigned response", want: ErrSignatureMissing, not: []error{ErrStatus},
			build: statusDoc(StatusResponder, StatusAuthnFailed, ResponseSecurity{}, nil)},
		{name: "error status in an unsigned response with a signed assertion", want: ErrSignatureMissing,
			build: variant(nil, secAssertion, nil, func(t *testing.T, r *etree.Element) {
				find(t, r, pStatusCode).CreateAttr("Value", StatusResponder)
			})},
		{name: "error status still carrying an assertion", want: ErrAssertionCount, not: []error{ErrStatus},
			build: variant(nil, secResponse, func(t *testing.T, r *etree.Element) {
				sc := find(t, r, pStatusCode)
				sc.CreateAttr("Value", StatusResponder)
				sc.CreateElement("saml2p:StatusCode").CreateAttr("Value", StatusAuthnFailed)
			}, nil)},
		{name: "error status with a wrong InResponseTo", want: ErrInResponseTo,
			build: variant(func(p *ResponseParams) {
				p.InResponseTo = "_other"
				p.Status = &StatusError{Code: StatusRequester, SubCode: StatusRequestDenied}
			}, secResponse, nil, nil)},
	}...)
	return cases
}

// sentinels are the non-status errors; every refusal wraps exactly one.
var sentinels = []error{
	ErrMalformed, ErrTooLarge, ErrUnexpectedRoot, ErrVersion, ErrSignatureMissing, ErrSignatureInvalid,
	ErrUntrustedKey, ErrAlgorithm, ErrWrapped, ErrInResponseTo, ErrRelayState, ErrDestination, ErrRecipient,
	ErrAudience, ErrIssuer, ErrExpired, ErrNotYetValid, ErrAssertionCount, ErrSubjectConfirmation, ErrLoA,
	ErrReplay, ErrDecryption, ErrMissingElement, ErrIdentity, ErrMissingAttribute,
}

func attackValidator() *Validator {
	v := testValidator()
	v.DecryptionKeys = []*rsa.PrivateKey{spKeys.Key}
	return v
}

func TestRefusals(t *testing.T) {
	testKeys(t)
	cases := refusals()
	require.GreaterOrEqual(t, len(cases), 45)
	seen := map[string]bool{}
	for _, tc := range cases {
		require.False(t, seen[tc.name], "duplicate case %q", tc.name)
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			v := attackValidator()
			exp := Expectation{RequestID: testReqID, MinLoA: LoALow}
			requireDefaults(v, &exp)
			if tc.tweak != nil {
				tc.tweak(v, &exp)
			}
			var a *Assertion
			var err error
			if tc.form != nil {
				var raw []byte
				if raw, err = DecodeMessage(tc.form(t), v.MaxSize); err == nil {
					a, err = v.ValidateResponse(raw, exp)
				}
			} else {
				a, err = v.ValidateResponse(tc.build(t), exp)
			}
			require.Error(t, err)
			require.Nil(t, a)
			t.Log(err)
			require.ErrorIs(t, err, tc.want, "got %v", err)
			for _, e := range tc.also {
				require.ErrorIs(t, err, e)
			}
			for _, e := range tc.not {
				require.NotErrorIs(t, err, e)
			}
			var se *StatusError
			if tc.status != nil {
				require.ErrorAs(t, err, &se)
				assert.Equal(t, tc.status.Code, se.Code)
				assert.Equal(t, tc.status.SubCode, se.SubCode)
				return
			}
			require.False(t, errors.As(err, &se), "unexpected status error %v", err)
			n := 0
			for _, s := range sentinels {
				if errors.Is(err, s) {
					n++
				}
			}
			require.Equal(t, 1, n, "%v wraps %d sentinels", err, n)
		})
	}
}

type acceptance struct {
	name  string
	build func(t *testing.T) []byte
	form  func(t *testing.T) string
	tweak func(v *Validator, exp *Expectation)
	// What the validator must report about the protection.
	responseSigned, assertionSigned, encrypted bool
}

func TestAccepts(t *testing.T) {
	testKeys(t)
	encrypted := func(sec ResponseSecurity) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			sec.EncryptFor = spKeys.Certificate
			return docBytes(t, gwDoc(t, nil, sec, nil))
		}
	}
	cases := []acceptance{
		{name: "gateway shape, response signed", build: variant(nil, secResponse, nil, nil), responseSigned: true},
		{name: "response and assertion signed", build: variant(nil, secBoth, nil, nil), responseSigned: true, assertionSigned: true},
		{name: "assertion signed, response unsigned", build: variant(nil, secAssertion, nil, nil), assertionSigned: true},
		{name: "SHA-256 signatures", responseSigned: true, assertionSigned: true,
			build: func(t *testing.T) []byte {
				testKeys(t)
				s := signerOf(idpKeys)
				s.Hash = crypto.SHA256
				return docBytes(t, gwDoc(t, nil, ResponseSecurity{SignResponse: true, SignAssertion: true, Signer: s}, nil))
			}},
		{name: "encrypted (GCM), response signed", build: encrypted(secResponse), responseSigned: true, encrypted: true},
		{name: "encrypted and assertion signed, response unsigned", build: encrypted(secAssertion), assertionSigned: true, encrypted: true},
		{name: "encrypted, assertion and response signed", build: encrypted(secBoth), responseSigned: true, assertionSigned: true, encrypted: true},
		{name: "AES-CBC with AllowCBC, response signed", responseSigned: true, encrypted: true,
			tweak: func(v *Validator, _ *Expectation) { v.AllowCBC = true },
			build: encrypted(ResponseSecurity{SignResponse: true, EncryptCBC: true})},
		{name: "second decryption key", responseSigned: true, encrypted: true,
			tweak: func(v *Validator, _ *Expectation) { v.DecryptionKeys = []*rsa.PrivateKey{evilKeys.Key, spKeys.Key} },
			build: encrypted(secResponse)},
		{name: "instants without milliseconds", responseSigned: true,
			build: variant(nil, secResponse, func(t *testing.T, r *etree.Element) {
				n := 0
				for _, el := range append(r.FindElements(".//*"), r) {
					for i, a := range el.Attr {
						if strings.HasSuffix(a.Value, ".000Z") {
							el.Attr[i].Value = strings.TrimSuffix(a.Value, ".000Z") + "Z"
							n++
						}
					}
				}
				require.GreaterOrEqual(t, n, 6)
			}, nil)},
		{name: "Issuer without Format", responseSigned: true,
			build: variant(nil, secResponse, func(t *testing.T, r *etree.Element) {
				find(t, r, pIssuer).RemoveAttr("Format")
				find(t, r, pAssertion+"/saml2:Issuer").RemoveAttr("Format")
			}, nil)},
		{name: "key rollover: new key, no KeyInfo", responseSigned: true,
			tweak: func(v *Validator, _ *Expectation) {
				v.Trust = StaticCertificates{idpKeys.Certificate, idpKeys2.Certificate}
			},
			build: variant(nil, ResponseSecurity{SignResponse: true, Signer: &Signer{Key: idpKeys2.Key}}, nil, nil)},
		{name: "issued 30 s ahead of our clock", responseSigned: true,
			build: variant(func(p *ResponseParams) { p.IssueInstant = testNow.Add(30 * time.Second) }, secResponse, nil, nil)},
		{name: "expired 30 s ago, within skew", responseSigned: true,
			build: variant(func(p *ResponseParams) {
				p.IssueInstant = testNow.Add(-10*time.Minute - 30*time.Second)
				p.Validity = 10 * time.Minute
			}, secResponse, nil, nil)},
		{name: "re-signed by the test helper (control for the algorithm cases)", responseSigned: true,
			build: resigned(secResponse, resignOpts{}, nil)},
		{name: "RSA-SHA1 when AllowSHA1 (control)", responseSigned: true,
			tweak: func(v *Validator, _ *Expectation) { v.Algorithms.AllowSHA1 = true },
			build: resigned(secResponse, resignOpts{sigHash: crypto.SHA1}, setAlg(pSigMethod, AlgRSASHA1))},
		{name: "SHA-1 digest when AllowSHA1 (control)", assertionSigned: true,
			tweak: func(v *Validator, _ *Expectation) { v.Algorithms.AllowSHA1 = true },
			build: resignedAssertion(resignOpts{digestHash: crypto.SHA1}, setAlg(pDigestMethod, AlgSHA1))},
		{name: "goxmldsig RSA-SHA1 when AllowSHA1 (control)", responseSigned: true,
			tweak: func(v *Validator, _ *Expectation) { v.Algorithms.AllowSHA1 = true },
			build: dsigSigned(idpKeys, dsig.RSASHA1SignatureMethod)},
		{name: "goxmldsig RSA-SHA256", responseSigned: true,
			build: dsigSigned(idpKeys, dsig.RSASHA256SignatureMethod)},
		{name: "LoA equal to the requested one", responseSigned: true,
			tweak: func(_ *Validator, exp *Expectation) { exp.MinLoA = LoASubstantial },
			build: variant(nil, secResponse, nil, nil)},
		{name: "indented before signing", responseSigned: true,
			build: func(t *testing.T) []byte {
				doc := gwDoc(t, nil, ResponseSecurity{}, nil)
				doc.Indent(2)
				require.NoError(t, signerOf(idpKeys).signEnveloped(doc.Root(), 1, ResponsePrefixList))
				return docBytes(t, doc)
			}},
		{name: "line-wrapped base64 form field", responseSigned: true,
			form: func(t *testing.T) string {
				f := base64.StdEncoding.EncodeToString(docBytes(t, gwDoc(t, nil, secResponse, nil)))
				var b strings.Builder
				for len(f) > 76 {
					b.WriteString(f[:76] + "\r\n")
					f = f[76:]
				}
				b.WriteString(f)
				return b.String()
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := attackValidator()
			exp := Expectation{RequestID: testReqID, MinLoA: LoALow}
			requireDefaults(v, &exp)
			if tc.tweak != nil {
				tc.tweak(v, &exp)
			}
			var raw []byte
			if tc.form != nil {
				var err error
				raw, err = DecodeMessage(tc.form(t), 0)
				require.NoError(t, err)
			} else {
				raw = tc.build(t)
			}
			a, err := v.ValidateResponse(raw, exp)
			require.NoError(t, err)
			assert.Equal(t, "12345678Z", a.NameID.Value)
			assert.Equal(t, LoASubstantial, a.LoA)
			pid, ok := a.Attribute(AttrPersonIdentifier)
			assert.True(t, ok)
			assert.Equal(t, "12345678Z", pid)
			assert.Equal(t, "12345678Z", a.PersonIdentifier)
			assert.Equal(t, "_assert1", a.ID)
			assert.Equal(t, testReqID, a.InResponseTo)
			assert.Equal(t, tc.responseSigned, a.ResponseSigned, "ResponseSigned")
			assert.Equal(t, tc.assertionSigned, a.AssertionSigned, "AssertionSigned")
			assert.Equal(t, tc.encrypted, a.Encrypted, "Encrypted")
		})
	}
}
