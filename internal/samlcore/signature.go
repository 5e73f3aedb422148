package samlcore

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"
)

var signatureHashes = map[string]crypto.Hash{
	AlgRSASHA1:   crypto.SHA1,
	AlgRSASHA256: crypto.SHA256,
	AlgRSASHA384: crypto.SHA384,
	AlgRSASHA512: crypto.SHA512,
}

var digestHashes = map[string]crypto.Hash{
	AlgSHA1:   crypto.SHA1,
	AlgSHA256: crypto.SHA256,
	AlgSHA384: crypto.SHA384,
	AlgSHA512: crypto.SHA512,
}

// writerPool recycles the buffers that stream canonical XML into hashes: every
// signature made or checked needs one.
var writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4096) }}

// canonicalWrite is etree's canonical output, the serialisation goxmldsig's
// canonicalisers use once a tree has been transformed.
var canonicalWrite = etree.WriteSettings{CanonicalEndTags: true, CanonicalText: true, CanonicalAttrVal: true}

// Key is what SignEnveloped signs with: the fields of saml.Signer.
type Key struct {
	// Signer is the private key; an *rsa.PrivateKey or any crypto.Signer with
	// an RSA public key.
	Signer crypto.Signer
	// Certificate, when set, is sent in KeyInfo.
	Certificate *x509.Certificate
	// Hash is crypto.SHA512 (also when 0) or crypto.SHA256.
	Hash crypto.Hash
	// Rand is the randomness for signing; nil means crypto/rand.
	Rand io.Reader
}

func (k Key) algorithms() (sigAlg, digestAlg string, h crypto.Hash, err error) {
	if k.Signer == nil {
		return "", "", 0, errors.New("saml: no signing key configured")
	}
	if _, ok := k.Signer.Public().(*rsa.PublicKey); !ok {
		return "", "", 0, errors.New("saml: signing key must be RSA")
	}
	switch k.Hash {
	case 0, crypto.SHA512:
		return AlgRSASHA512, AlgSHA512, crypto.SHA512, nil
	case crypto.SHA256:
		return AlgRSASHA256, AlgSHA256, crypto.SHA256, nil
	}
	return "", "", 0, fmt.Errorf("saml: unsupported signing hash %v", k.Hash)
}

// SignEnveloped adds an enveloped signature by k to el, referencing its ID
// attribute, as child element number pos. prefixList is written as
// InclusiveNamespaces of the reference transform (the gateway lists prefixes
// only used inside xsi:type values, which exclusive canonicalisation would
// otherwise drop).
func SignEnveloped(el *etree.Element, pos int, prefixList string, k Key) error {
	sigAlg, digestAlg, h, err := k.algorithms()
	if err != nil {
		return err
	}
	id := Attr(el, "ID")
	if id == "" {
		return errors.New("saml: element to sign has no ID")
	}
	digest, err := DigestElement(el, prefixList, h)
	if err != nil {
		return err
	}

	sig := etree.NewElement("ds:Signature")
	sig.CreateAttr("xmlns:ds", NSDSig)
	si := sig.CreateElement("ds:SignedInfo")
	si.CreateElement("ds:CanonicalizationMethod").CreateAttr("Algorithm", AlgExcC14N)
	si.CreateElement("ds:SignatureMethod").CreateAttr("Algorithm", sigAlg)
	ref := si.CreateElement("ds:Reference")
	ref.CreateAttr("URI", "#"+id)
	tr := ref.CreateElement("ds:Transforms")
	tr.CreateElement("ds:Transform").CreateAttr("Algorithm", AlgEnveloped)
	c14n := tr.CreateElement("ds:Transform")
	c14n.CreateAttr("Algorithm", AlgExcC14N)
	if prefixList != "" {
		in := c14n.CreateElement("ec:InclusiveNamespaces")
		in.CreateAttr("xmlns:ec", NSExcC14N)
		in.CreateAttr("PrefixList", prefixList)
	}
	ref.CreateElement("ds:DigestMethod").CreateAttr("Algorithm", digestAlg)
	ref.CreateElement("ds:DigestValue").SetText(base64.StdEncoding.EncodeToString(digest))

	if pos > len(el.Child) {
		pos = len(el.Child)
	}
	el.InsertChildAt(childIndexOfElement(el, pos), sig)

	// SignedInfo is hashed as VerifyEnveloped hashes it: goxmldsig's transform
	// on a detached copy, streamed into the hash.
	siCopy, err := Detach(si)
	if err != nil {
		return err
	}
	siDigest, err := hashCanonical(siCopy, "", h)
	if err != nil {
		return err
	}
	r := k.Rand
	if r == nil {
		r = rand.Reader
	}
	value, err := k.Signer.Sign(r, siDigest, h)
	if err != nil {
		return fmt.Errorf("saml: signing: %w", err)
	}
	sig.CreateElement("ds:SignatureValue").SetText(base64.StdEncoding.EncodeToString(value))
	if k.Certificate != nil {
		sig.CreateElement("ds:KeyInfo").CreateElement("ds:X509Data").
			CreateElement("ds:X509Certificate").SetText(base64.StdEncoding.EncodeToString(k.Certificate.Raw))
	}
	return nil
}

// childIndexOfElement converts "the n-th child element" into an index of el.Child,
// so whitespace between elements does not shift the signature's position.
func childIndexOfElement(el *etree.Element, n int) int {
	seen := 0
	for i, t := range el.Child {
		if _, ok := t.(*etree.Element); ok {
			if seen == n {
				return i
			}
			seen++
		}
	}
	return len(el.Child)
}

// DigestElement hashes the exclusive canonical form of a detached copy of el
// (el itself is not modified), without any enveloped signature of el.
func DigestElement(el *etree.Element, prefixList string, h crypto.Hash) ([]byte, error) {
	ctx, err := etreeutils.NSBuildParentContext(el)
	if err != nil {
		return nil, err
	}
	det, err := etreeutils.NSDetatch(ctx, el)
	if err != nil {
		return nil, err
	}
	for _, c := range det.ChildElements() {
		if c.Tag == "Signature" && c.NamespaceURI() == NSDSig {
			det.RemoveChild(c)
		}
	}
	return hashCanonical(det, prefixList, h)
}

// hashCanonical transforms el in place into exclusive canonical form and hashes
// its serialisation. The transform and the serialisation are goxmldsig's and
// etree's; this only streams the output into the hash instead of a buffer.
func hashCanonical(el *etree.Element, prefixList string, h crypto.Hash) ([]byte, error) {
	if err := etreeutils.TransformExcC14n(el, prefixList, false); err != nil {
		return nil, fmt.Errorf("%w: canonicalisation: %v", ErrMalformed, err)
	}
	hh := h.New()
	w := writerPool.Get().(*bufio.Writer)
	w.Reset(hh)
	el.WriteTo(w, &canonicalWrite)
	err := w.Flush()
	w.Reset(nil)
	writerPool.Put(w)
	if err != nil {
		return nil, err
	}
	return hh.Sum(nil), nil
}

// CanonicalSignedInfo returns the exclusive canonical form of SignedInfo in the
// namespace context of its position in the document.
func CanonicalSignedInfo(si *etree.Element, prefixList string) ([]byte, error) {
	ctx, err := etreeutils.NSBuildParentContext(si)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	det, err := etreeutils.NSDetatch(ctx, si)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	out, err := dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList(prefixList).Canonicalize(det)
	if err != nil {
		return nil, fmt.Errorf("%w: canonicalisation: %v", ErrMalformed, err)
	}
	return out, nil
}

// AlgorithmPolicy says which signature algorithms VerifyEnveloped accepts:
// saml.AlgorithmPolicy, field for field.
type AlgorithmPolicy struct {
	// AllowSHA1 accepts RSA-SHA1 signatures and SHA-1 digests.
	AllowSHA1 bool
}

func (p AlgorithmPolicy) signatureHash(alg string) (crypto.Hash, error) {
	h, ok := signatureHashes[alg]
	if !ok || (h == crypto.SHA1 && !p.AllowSHA1) {
		return 0, fmt.Errorf("%w: signature method %q", ErrAlgorithm, alg)
	}
	return h, nil
}

func (p AlgorithmPolicy) digestHash(alg string) (crypto.Hash, error) {
	h, ok := digestHashes[alg]
	if !ok || (h == crypto.SHA1 && !p.AllowSHA1) {
		return 0, fmt.Errorf("%w: digest method %q", ErrAlgorithm, alg)
	}
	return h, nil
}

// VerifyEnveloped checks the one enveloped signature of el against the trusted
// certificates and, on success, leaves el without its Signature and in canonical
// form: exactly the bytes that were digested, so what is read next is what was
// signed. el must be a document root or a detached copy (see Detach).
//
// goxmldsig's Validate is not used here: it searches the whole subtree for a
// Signature, accepts URI="" and SHA-1, needs KeyInfo to choose among several
// trusted certificates, and copies and re-parses the tree twice. The checks below
// pin the signature's position, its single Reference and its algorithms first,
// then use goxmldsig's canonicalisation and the standard library's RSA.
func VerifyEnveloped(el *etree.Element, trusted []*x509.Certificate, pol AlgorithmPolicy, now time.Time) error {
	var sigEl *etree.Element
	for _, c := range el.ChildElements() {
		if c.Tag == "Signature" && c.NamespaceURI() == NSDSig {
			if sigEl != nil {
				return fmt.Errorf("%w: more than one signature on <%s>", ErrWrapped, el.Tag)
			}
			sigEl = c
		}
	}
	if sigEl == nil {
		return fmt.Errorf("%w: <%s> is not signed", ErrSignatureMissing, el.Tag)
	}
	id := Attr(el, "ID")
	if id == "" {
		return fmt.Errorf("%w: signed <%s> has no ID", ErrWrapped, el.Tag)
	}

	kids := sigEl.ChildElements()
	if len(kids) < 2 || len(kids) > 3 || !IsDS(kids[0], "SignedInfo") || !IsDS(kids[1], "SignatureValue") ||
		(len(kids) == 3 && !IsDS(kids[2], "KeyInfo")) {
		return fmt.Errorf("%w: unexpected Signature structure", ErrSignatureInvalid)
	}
	si, sv := kids[0], kids[1]
	sic := si.ChildElements()
	if len(sic) != 3 || !IsDS(sic[0], "CanonicalizationMethod") || !IsDS(sic[1], "SignatureMethod") {
		return fmt.Errorf("%w: SignedInfo must hold one Reference", ErrWrapped)
	}
	if !IsDS(sic[2], "Reference") {
		return fmt.Errorf("%w: unexpected SignedInfo structure", ErrSignatureInvalid)
	}
	siPrefixes, err := c14nMethod(sic[0])
	if err != nil {
		return err
	}
	sigHash, err := pol.signatureHash(Attr(sic[1], "Algorithm"))
	if err != nil {
		return err
	}
	ref := sic[2]
	if Attr(ref, "URI") != "#"+id {
		return fmt.Errorf("%w: reference %q does not name <%s ID=%q>", ErrWrapped, Attr(ref, "URI"), el.Tag, id)
	}
	rc := ref.ChildElements()
	if len(rc) != 3 || !IsDS(rc[0], "Transforms") || !IsDS(rc[1], "DigestMethod") || !IsDS(rc[2], "DigestValue") {
		return fmt.Errorf("%w: unexpected Reference structure", ErrSignatureInvalid)
	}
	tr := rc[0].ChildElements()
	if len(tr) != 2 || !IsDS(tr[0], "Transform") || !IsDS(tr[1], "Transform") ||
		Attr(tr[0], "Algorithm") != AlgEnveloped || len(tr[0].ChildElements()) != 0 {
		return fmt.Errorf("%w: transforms must be enveloped-signature then exclusive c14n", ErrAlgorithm)
	}
	refPrefixes, err := c14nMethod(tr[1])
	if err != nil {
		return err
	}
	digestHash, err := pol.digestHash(Attr(rc[1], "Algorithm"))
	if err != nil {
		return err
	}
	dv, err := TextOf(rc[2])
	if err != nil {
		return err
	}
	wantDigest, err := base64.StdEncoding.DecodeString(strings.TrimSpace(dv))
	if err != nil || len(wantDigest) != digestHash.Size() {
		return fmt.Errorf("%w: bad DigestValue", ErrSignatureInvalid)
	}
	svText, err := TextOf(sv)
	if err != nil {
		return err
	}
	sigValue, err := base64.StdEncoding.DecodeString(StripSpace(svText))
	if err != nil {
		return fmt.Errorf("%w: bad SignatureValue", ErrSignatureInvalid)
	}

	// SignedInfo is hashed as the reference is below: goxmldsig's transform on a
	// detached copy, streamed into the hash, with no buffer or second copy.
	siCopy, err := Detach(si)
	if err != nil {
		return err
	}
	siDigest, err := hashCanonical(siCopy, siPrefixes, sigHash)
	if err != nil {
		return err
	}
	verified := false
	for _, c := range trusted {
		pub, ok := c.PublicKey.(*rsa.PublicKey)
		if !ok || now.Before(c.NotBefore) || now.After(c.NotAfter) {
			continue
		}
		if rsa.VerifyPKCS1v15(pub, sigHash, siDigest, sigValue) == nil {
			verified = true
			break
		}
	}
	if !verified {
		if keyInfoUntrusted(sigEl, trusted) {
			return fmt.Errorf("%w: KeyInfo names a certificate that is not trusted", ErrUntrustedKey)
		}
		return fmt.Errorf("%w: SignatureValue does not verify with any trusted certificate", ErrSignatureInvalid)
	}

	// SignedInfo is authentic; now the referenced content must match it.
	el.RemoveChild(sigEl)
	got, err := hashCanonical(el, refPrefixes, digestHash)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(got, wantDigest) != 1 {
		return fmt.Errorf("%w: digest of <%s> does not match", ErrSignatureInvalid, el.Tag)
	}
	return nil
}

// c14nMethod checks that a CanonicalizationMethod or Transform is exclusive c14n
// without comments and returns its InclusiveNamespaces prefix list.
func c14nMethod(el *etree.Element) (string, error) {
	if alg := Attr(el, "Algorithm"); alg != AlgExcC14N {
		return "", fmt.Errorf("%w: canonicalisation %q", ErrAlgorithm, alg)
	}
	kids := el.ChildElements()
	switch {
	case len(kids) == 0:
		return "", nil
	case len(kids) == 1 && kids[0].Tag == "InclusiveNamespaces" && kids[0].NamespaceURI() == NSExcC14N:
		return Attr(kids[0], "PrefixList"), nil
	}
	return "", fmt.Errorf("%w: unexpected content in canonicalisation method", ErrSignatureInvalid)
}

// keyInfoUntrusted reports whether KeyInfo carries a certificate outside the
// trusted set. KeyInfo never selects or vouches for a key; it only lets the error
// say why verification failed.
func keyInfoUntrusted(sigEl *etree.Element, trusted []*x509.Certificate) bool {
	ki := sigEl.FindElement("./KeyInfo/X509Data/X509Certificate")
	if ki == nil {
		return false
	}
	raw, err := base64.StdEncoding.DecodeString(StripSpace(ki.Text()))
	if err != nil {
		return true
	}
	for _, c := range trusted {
		if bytes.Equal(c.Raw, raw) {
			return false
		}
	}
	return true
}

// Detach returns a copy of el that carries every namespace declaration in scope,
// so it can be verified and read on its own.
func Detach(el *etree.Element) (*etree.Element, error) {
	ctx, err := etreeutils.NSBuildParentContext(el)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	det, err := etreeutils.NSDetatch(ctx, el)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return det, nil
}
