package saml

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"io"
	"sync"

	"github.com/beevik/etree"

	"github.com/clave-go/clave/internal/samlcore"
)

// Algorithm identifiers.
const (
	AlgRSASHA1   = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
	AlgRSASHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	AlgRSASHA384 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
	AlgRSASHA512 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
	AlgSHA1      = "http://www.w3.org/2000/09/xmldsig#sha1"
	AlgSHA256    = "http://www.w3.org/2001/04/xmlenc#sha256"
	AlgSHA384    = "http://www.w3.org/2001/04/xmldsig-more#sha384"
	AlgSHA512    = "http://www.w3.org/2001/04/xmlenc#sha512"
	AlgExcC14N   = "http://www.w3.org/2001/10/xml-exc-c14n#"
	AlgEnveloped = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
)

// Signer signs SAML messages with an RSA key.
type Signer struct {
	// Key is the private key; an *rsa.PrivateKey or any crypto.Signer with an RSA
	// public key (an HSM, a KMS).
	Key crypto.Signer
	// Certificate is sent in KeyInfo so peers can identify the key.
	Certificate *x509.Certificate
	// Hash is the signature and digest hash: crypto.SHA512 (the default, as the
	// gateway and its kits use) or crypto.SHA256.
	Hash crypto.Hash
	// Rand is the randomness for signing; nil means crypto/rand.
	Rand io.Reader
}

// sign adds an enveloped signature to el, referencing its ID attribute, as
// child element number pos.
func (s *Signer) sign(el *etree.Element, pos int) error {
	if s == nil {
		return errors.New("saml: no signing key configured")
	}
	return samlcore.SignEnveloped(el, pos, "", samlcore.Key{Signer: s.Key, Certificate: s.Certificate, Hash: s.Hash, Rand: s.Rand})
}

// bufferPool recycles the buffers signed documents are serialised into; see
// marshal.
var bufferPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// marshal is doc.WriteToBytes without its garbage: the same tokens written with
// the same settings, but into a recycled buffer (instead of one grown by
// doubling from empty, behind a fresh bufio.Writer) and copied out at their
// exact size. Every message this package signs is serialised once, here.
func marshal(doc *etree.Document) []byte {
	b := bufferPool.Get().(*bytes.Buffer)
	b.Reset()
	for _, t := range doc.Child {
		t.WriteTo(b, &doc.WriteSettings)
	}
	out := bytes.Clone(b.Bytes())
	// An unusually large message is not worth keeping its buffer for.
	if b.Cap() <= DefaultMaxMessageSize {
		bufferPool.Put(b)
	}
	return out
}

// AlgorithmPolicy says which signature algorithms a verifier accepts.
type AlgorithmPolicy struct {
	// AllowSHA1 accepts RSA-SHA1 signatures and SHA-1 digests. SHA-1 collisions
	// are practical; turn this on only for a peer that cannot be upgraded.
	AllowSHA1 bool
}

func (p AlgorithmPolicy) core() samlcore.AlgorithmPolicy {
	return samlcore.AlgorithmPolicy{AllowSHA1: p.AllowSHA1}
}
