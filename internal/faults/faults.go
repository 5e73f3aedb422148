// Package faults is the module's one catalogue of attacks: the bad (and a few
// good) gateway responses that a Cl@ve service provider must refuse (or
// accept). Package saml's tests run every case through its Validator and check
// that each refusal is for the case's Reason; the conformance package runs it
// against a whole service; the reference gateway can arm any case to be sent
// instead of its next genuine response. A new attack on the validator belongs
// here, not in a test of its own, so that every service gets to face it.
//
// Every case starts from a valid response to a real request, built and signed
// by the kit's trusted gateway key, and changes one thing. Cases are
// independent: none relies on another having run.
package faults

import (
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"sort"
	"time"

	"github.com/beevik/etree"

	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/saml"
)

// Expect is a case's canonical outcome.
type Expect string

// Outcomes.
const (
	Accept Expect = "accept"
	Refuse Expect = "refuse"
)

// Group names a family of cases.
type Group string

// Groups of the catalogue.
const (
	GroupSignature  Group = "signature-coverage"
	GroupWrapping   Group = "wrapping"
	GroupAlgorithms Group = "algorithms"
	GroupKeyTrust   Group = "key-trust"
	GroupXML        Group = "xml-parsing"
	GroupLimits     Group = "resource-limits"
	GroupResponse   Group = "response-fields"
	GroupAssertion  Group = "assertion-fields"
	GroupReplay     Group = "replay-correlation"
	GroupStatus     Group = "status"
	GroupEncryption Group = "encryption"
	GroupClave      Group = "clave-specific"
	GroupAccept     Group = "must-accept"
)

// Keys are the kit's keys. Trusted and Next are the gateway's (the service
// under test trusts both, as during a rollover); Untrusted is an attacker's
// whose certificate it must not trust.
type Keys struct {
	Trusted, Next, Untrusted *KeyPair
}

// KeyPair is an RSA key with its certificate.
type KeyPair struct {
	Key         *rsa.PrivateKey
	Certificate *x509.Certificate
}

// Signer returns a saml.Signer for the pair.
func (k *KeyPair) Signer() *saml.Signer {
	return &saml.Signer{Key: k.Key, Certificate: k.Certificate}
}

// Base is what a case starts from: the answer a correct gateway would give to
// one request.
type Base struct {
	// Params describe the successful response (IDs, InResponseTo, Destination =
	// ACS URL, Issuer, instants, subject, LoA, attributes).
	Params samlidp.ResponseParams
	Keys   Keys
	// EncryptFor is the service's encryption certificate; nil when the service
	// takes no encrypted assertions (cases that need it are then skipped).
	EncryptFor *x509.Certificate
	// Now is the instant the response is delivered at.
	Now time.Time
}

// Delivery is what gets posted to the service's ACS.
type Delivery struct {
	// XML is the response document; it is base64-encoded for the form.
	XML []byte
	// RawForm, when not nil, is posted as the SAMLResponse field verbatim
	// (malformed base64, oversized fields).
	RawForm *string
	// RelayState, when not nil, replaces the login's RelayState.
	RelayState *string
	// Replay asks the runner to post the same response twice: the first post
	// must be accepted, the case's Expect applies to the second.
	Replay bool
}

// Layer says which part of a service provider a case exercises.
type Layer string

// Layers of the catalogue.
const (
	// LayerMessage cases are decided by validating the posted response against
	// the pending request (its ID and requested LoA) and the replay cache of
	// assertion IDs: a SAML validator alone can judge them.
	LayerMessage Layer = "message"
	// LayerSession cases are about the service's login tracking (the POST
	// RelayState bound to the browser's pending login). Only an end-to-end
	// runner that drives a real login can check them.
	LayerSession Layer = "session"
)

// Case is one entry of the catalogue.
type Case struct {
	// ID is stable across releases (e.g. "XSW-03"); reports and the gateway's
	// fault arming use it.
	ID    string
	Group Group
	// Title says what is wrong in a few words; How says how the response is
	// derived from a valid one.
	Title, How string
	Expect     Expect
	// Layer is where the defence sits; register sets LayerMessage when empty.
	Layer Layer
	// NeedsEncryption marks cases that need Base.EncryptFor.
	NeedsEncryption bool
	// Build derives the delivery from a valid response.
	Build func(b *Base) (Delivery, error)

	// Reason is the sentinel our own saml.Validator refuses the case with
	// (errors.Is), nil for a case to accept. The saml package's tests check
	// it, so that no case passes for an accidental reason (a broken build
	// refused as "signature invalid", say). Another service provider may
	// refuse for a reason of its own: the kit only judges accept or refuse.
	Reason error
	// Identity is the PersonIdentifier an accepted case logs in, when it is
	// not the Base's.
	Identity string
}

var catalogue []Case

// register adds cases at init; a duplicate ID is a programming error.
func register(cs ...Case) {
	for _, c := range cs {
		if _, dup := Lookup(c.ID); dup {
			panic("faults: duplicate case " + c.ID)
		}
		if c.Layer == "" {
			c.Layer = LayerMessage
		}
		catalogue = append(catalogue, c)
	}
}

// Catalogue returns every case, sorted by ID.
func Catalogue() []Case {
	out := append([]Case(nil), catalogue...)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Lookup finds a case by ID.
func Lookup(id string) (Case, bool) {
	for _, c := range catalogue {
		if c.ID == id {
			return c, true
		}
	}
	return Case{}, false
}

// Valid builds the valid, gateway-shaped response of b: signed at the root with
// the trusted key, as the real gateway does.
func (b *Base) Valid() (*etree.Document, error) {
	return b.Secured(b.Params, samlidp.ResponseSecurity{Signer: b.Keys.Trusted.Signer(), SignResponse: true})
}

// Secured builds a response from p protected as sec says.
func (b *Base) Secured(p samlidp.ResponseParams, sec samlidp.ResponseSecurity) (*etree.Document, error) {
	doc, err := samlidp.BuildResponse(p)
	if err != nil {
		return nil, err
	}
	if err := samlidp.SecureResponse(doc, sec); err != nil {
		return nil, err
	}
	return doc, nil
}

// deliver serialises a document.
func deliver(doc *etree.Document) (Delivery, error) {
	b, err := doc.WriteToBytes()
	if err != nil {
		return Delivery{}, fmt.Errorf("faults: %w", err)
	}
	return Delivery{XML: b}, nil
}
