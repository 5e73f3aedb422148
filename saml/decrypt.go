package saml

import (
	"fmt"

	"github.com/beevik/etree"
	"github.com/crewjam/saml/xmlenc"

	"github.com/clave-go/clave/internal/samlcore"
)

// Encryption algorithm identifiers.
const (
	AlgRSAOAEPMGF1P = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"
	AlgRSAOAEP11    = "http://www.w3.org/2009/xmlenc11#rsa-oaep"
	AlgAES128GCM    = "http://www.w3.org/2009/xmlenc11#aes128-gcm"
	AlgAES192GCM    = "http://www.w3.org/2009/xmlenc11#aes192-gcm"
	AlgAES256GCM    = "http://www.w3.org/2009/xmlenc11#aes256-gcm"
	AlgAES128CBC    = "http://www.w3.org/2001/04/xmlenc#aes128-cbc"
	AlgAES192CBC    = "http://www.w3.org/2001/04/xmlenc#aes192-cbc"
	AlgAES256CBC    = "http://www.w3.org/2001/04/xmlenc#aes256-cbc"
)

// decrypt opens an EncryptedAssertion and returns the Assertion as a new,
// independently parsed and checked document root. Key transport must be RSA-OAEP
// (PKCS#1 v1.5 key transport is open to padding oracles); content encryption
// must be AES-GCM, or AES-CBC when AllowCBC is set and signed says a verified
// response signature covers the ciphertext (unauthenticated CBC decryption is a
// padding oracle). The xmlenc primitives are crewjam/saml's; the policy is ours
// and is applied before any of them runs.
func (v *Validator) decrypt(ea *etree.Element, signed bool) (*etree.Element, error) {
	if len(v.DecryptionKeys) == 0 {
		return nil, fmt.Errorf("%w: no decryption key configured", ErrDecryption)
	}
	eds := samlcore.ChildNS(ea, NSXMLEnc, "EncryptedData")
	if len(eds) != 1 {
		return nil, fmt.Errorf("%w: EncryptedAssertion must hold one EncryptedData", ErrMalformed)
	}
	ed := eds[0]
	em, err := samlcore.OneChild(ed, NSXMLEnc, "EncryptionMethod", true)
	if err != nil {
		return nil, err
	}
	switch alg := samlcore.Attr(em, "Algorithm"); alg {
	case AlgAES128GCM, AlgAES192GCM, AlgAES256GCM:
	case AlgAES128CBC, AlgAES192CBC, AlgAES256CBC:
		if !v.AllowCBC {
			return nil, fmt.Errorf("%w: content encryption %q (CBC not enabled)", ErrAlgorithm, alg)
		}
		if !signed {
			return nil, fmt.Errorf("%w: content encryption %q in an unsigned response", ErrAlgorithm, alg)
		}
	default:
		return nil, fmt.Errorf("%w: content encryption %q", ErrAlgorithm, alg)
	}

	// The EncryptedKey sits in EncryptedData's KeyInfo or, as many IdPs write it,
	// beside EncryptedData.
	var eks []*etree.Element
	ki, _ := samlcore.OneChild(ed, NSDSig, "KeyInfo", false)
	if ki != nil {
		eks = append(eks, samlcore.ChildNS(ki, NSXMLEnc, "EncryptedKey")...)
	}
	eks = append(eks, samlcore.ChildNS(ea, NSXMLEnc, "EncryptedKey")...)
	if len(eks) == 0 {
		return nil, fmt.Errorf("%w: no EncryptedKey", ErrMalformed)
	}
	if len(eks) > 4 {
		return nil, fmt.Errorf("%w: too many EncryptedKey elements", ErrMalformed)
	}
	// Key transport is checked while KeyInfo is still in the tree: in a
	// canonicalised (verified) response the xenc prefix is declared only on
	// EncryptedData, so a detached EncryptedKey no longer resolves it.
	for _, ek := range eks {
		kem, err := samlcore.OneChild(ek, NSXMLEnc, "EncryptionMethod", true)
		if err != nil {
			return nil, err
		}
		if alg := samlcore.Attr(kem, "Algorithm"); alg != AlgRSAOAEPMGF1P && alg != AlgRSAOAEP11 {
			return nil, fmt.Errorf("%w: key transport %q", ErrAlgorithm, alg)
		}
	}
	if ki != nil {
		// Detach it so the symmetric step sees a plain EncryptedData.
		ed.RemoveChild(ki)
	}
	var plain []byte
	var lastErr error
	for _, ek := range eks {
		for _, key := range v.DecryptionKeys {
			sym, err := xmlenc.Decrypt(key, ek)
			if err != nil {
				lastErr = err
				continue
			}
			if plain, err = xmlenc.Decrypt(sym, ed); err != nil {
				lastErr = err
				continue
			}
			break
		}
		if plain != nil {
			break
		}
	}
	if plain == nil {
		return nil, fmt.Errorf("%w: %v", ErrDecryption, lastErr)
	}
	doc, err := samlcore.ParseXML(plain, v.MaxSize)
	if err != nil {
		return nil, err
	}
	a := doc.Root()
	if a.Tag != "Assertion" || a.NamespaceURI() != NSAssertion {
		return nil, fmt.Errorf("%w: encrypted content is <%s>, not an Assertion", ErrDecryption, a.FullTag())
	}
	return a, nil
}
