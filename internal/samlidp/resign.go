package samlidp

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/clave-go/clave/internal/samlcore"
	"github.com/clave-go/clave/saml"
)

// ResignOptions says how ResignEnveloped recomputes a signature. The zero value
// recomputes it the way saml.Signer signs: SHA-512 and exclusive canonicalisation.
type ResignOptions struct {
	// SignatureHash hashes the canonical SignedInfo for the RSA signature; 0
	// means SHA-512. It is not derived from SignatureMethod, so a kit can also
	// send a signature whose method and hash disagree.
	SignatureHash crypto.Hash
	// DigestHash hashes the referenced element; 0 means SHA-512.
	DigestHash crypto.Hash
	// PrefixList is the InclusiveNamespaces prefix list used to canonicalise the
	// referenced element when ReferenceCanonicalizer is nil. Empty means the list
	// each Reference names in its transforms' ec:InclusiveNamespaces, if any.
	PrefixList string
	// ReferenceCanonicalizer and SignedInfoCanonicalizer replace exclusive c14n
	// (nil) for the referenced element and for SignedInfo, for signatures whose
	// transforms or CanonicalizationMethod the caller changed to another
	// algorithm.
	ReferenceCanonicalizer, SignedInfoCanonicalizer dsig.Canonicalizer
}

// ResignEnveloped recomputes every Reference DigestValue and the SignatureValue
// of the enveloped ds:Signature that is a direct child of el, after the caller
// edited that signature (algorithms, references, transforms) or el itself.
//
// It exists for conformance kits and fault injection (the reference gateway's
// armed faults, internal/faults): to prove that a verifier refuses, say, an
// RSA-SHA1 signature or a Reference URI="" because of that choice and not
// because the signature does not add up, the signature must be
// cryptographically valid. Genuine messages are signed with saml.Signer, never with
// this.
//
// The digest of every Reference is the digest of el itself, without its
// enveloped signature, whatever the Reference's URI or transforms say: the
// result is a signature that verifies over el, so a refusal can only come from
// what the caller changed. Canonicalisation is goxmldsig's, in el's namespace
// context, and the signature RSA PKCS#1 v1.5 by key, exactly as saml.Signer does.
// key must have an RSA public key. References without a DigestValue are left
// as they are; a missing SignatureValue is an error.
func ResignEnveloped(el *etree.Element, key crypto.Signer, opts ResignOptions) error {
	if el == nil || key == nil {
		return errors.New("saml: resign needs an element and a key")
	}
	if _, ok := key.Public().(*rsa.PublicKey); !ok {
		return errors.New("saml: resign key must be RSA")
	}
	sigHash, digestHash := opts.SignatureHash, opts.DigestHash
	if sigHash == 0 {
		sigHash = crypto.SHA512
	}
	if digestHash == 0 {
		digestHash = crypto.SHA512
	}
	for _, h := range []crypto.Hash{sigHash, digestHash} {
		if !h.Available() {
			return fmt.Errorf("saml: hash %v is not linked into the binary", h)
		}
	}

	var sig *etree.Element
	for _, c := range el.ChildElements() {
		if samlcore.IsDS(c, "Signature") {
			if sig != nil {
				return errors.New("saml: more than one enveloped signature to resign")
			}
			sig = c
		}
	}
	if sig == nil {
		return fmt.Errorf("saml: <%s> has no enveloped signature to resign", el.Tag)
	}
	var si, sv *etree.Element
	for _, c := range sig.ChildElements() {
		switch {
		case samlcore.IsDS(c, "SignedInfo") && si == nil:
			si = c
		case samlcore.IsDS(c, "SignatureValue") && sv == nil:
			sv = c
		}
	}
	if si == nil || sv == nil {
		return errors.New("saml: signature to resign needs SignedInfo and SignatureValue")
	}

	// Digests first: el is digested without its signature, so they do not depend
	// on what is written into it next.
	digests := map[string]string{}
	for _, ref := range si.ChildElements() {
		if !samlcore.IsDS(ref, "Reference") {
			continue
		}
		var dv *etree.Element
		pl := opts.PrefixList
		for _, c := range ref.ChildElements() {
			switch {
			case samlcore.IsDS(c, "DigestValue"):
				dv = c
			case samlcore.IsDS(c, "Transforms") && pl == "":
				for _, t := range c.ChildElements() {
					if p, ok := inclusivePrefixes(t); ok {
						pl = p
					}
				}
			}
		}
		if dv == nil {
			continue
		}
		d, ok := digests[pl]
		if !ok {
			raw, err := resignDigest(el, pl, digestHash, opts.ReferenceCanonicalizer)
			if err != nil {
				return err
			}
			d = base64.StdEncoding.EncodeToString(raw)
			digests[pl] = d
		}
		dv.SetText(d)
	}

	var signed []byte
	var err error
	if opts.SignedInfoCanonicalizer == nil {
		pl := ""
		for _, c := range si.ChildElements() {
			if samlcore.IsDS(c, "CanonicalizationMethod") {
				pl, _ = inclusivePrefixes(c)
			}
		}
		signed, err = samlcore.CanonicalSignedInfo(si, pl)
	} else {
		var det *etree.Element
		if det, err = samlcore.Detach(si); err == nil {
			signed, err = opts.SignedInfoCanonicalizer.Canonicalize(det)
		}
	}
	if err != nil {
		return fmt.Errorf("saml: canonicalising SignedInfo: %w", err)
	}
	h := sigHash.New()
	h.Write(signed)
	value, err := key.Sign(rand.Reader, h.Sum(nil), sigHash)
	if err != nil {
		return fmt.Errorf("saml: resigning: %w", err)
	}
	sv.SetText(base64.StdEncoding.EncodeToString(value))
	return nil
}

// resignDigest digests el without its enveloped signature: exclusive c14n with
// prefixList, as samlcore.SignEnveloped does, or canon when set.
func resignDigest(el *etree.Element, prefixList string, h crypto.Hash, canon dsig.Canonicalizer) ([]byte, error) {
	if canon == nil {
		return samlcore.DigestElement(el, prefixList, h)
	}
	det, err := samlcore.Detach(el)
	if err != nil {
		return nil, err
	}
	for _, c := range det.ChildElements() {
		if samlcore.IsDS(c, "Signature") {
			det.RemoveChild(c)
		}
	}
	out, err := canon.Canonicalize(det)
	if err != nil {
		return nil, fmt.Errorf("saml: canonicalising <%s>: %w", el.Tag, err)
	}
	hh := h.New()
	hh.Write(out)
	return hh.Sum(nil), nil
}

// inclusivePrefixes returns the PrefixList of the ec:InclusiveNamespaces child
// of a Transform or CanonicalizationMethod, whatever its algorithm.
func inclusivePrefixes(method *etree.Element) (string, bool) {
	for _, c := range method.ChildElements() {
		if c.Tag == "InclusiveNamespaces" && c.NamespaceURI() == saml.NSExcC14N {
			return samlcore.Attr(c, "PrefixList"), true
		}
	}
	return "", false
}
