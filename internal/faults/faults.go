// Package faults is the catalogue of bad (and a few good) gateway responses that
// a Cl@ve service provider must refuse (or accept). The conformance package
// runs it against a service; the reference gateway can arm any case to be sent
// instead of its next genuine response.
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
	Params saml.ResponseParams
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
	// NeedsEncryption marks cases that need Base.EncryptFor.
	NeedsEncryption bool
	// Build derives the delivery from a valid response.
	Build func(b *Base) (Delivery, error)
}

var catalogue []Case

// register adds cases at init; duplicate IDs are a programming error.
func register(cs ...Case) {
	catalogue = append(catalogue, cs...)
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
	return b.Secured(b.Params, saml.ResponseSecurity{Signer: b.Keys.Trusted.Signer(), SignResponse: true})
}

// Secured builds a response from p protected as sec says.
func (b *Base) Secured(p saml.ResponseParams, sec saml.ResponseSecurity) (*etree.Document, error) {
	doc, err := saml.BuildResponse(p)
	if err != nil {
		return nil, err
	}
	if err := saml.SecureResponse(doc, sec); err != nil {
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

func init() {
	register(
		Case{ID: "ACC-01", Group: GroupAccept, Title: "valid gateway response", Expect: Accept,
			How: "the response exactly as the gateway sends it: root signed (RSA-SHA512, exc-c14n with InclusiveNamespaces), assertion not separately signed",
			Build: func(b *Base) (Delivery, error) {
				doc, err := b.Valid()
				if err != nil {
					return Delivery{}, err
				}
				return deliver(doc)
			}},
		Case{ID: "SIG-01", Group: GroupSignature, Title: "response not signed", Expect: Refuse,
			How: "the valid response with no signature at all",
			Build: func(b *Base) (Delivery, error) {
				doc, err := b.Secured(b.Params, saml.ResponseSecurity{})
				if err != nil {
					return Delivery{}, err
				}
				return deliver(doc)
			}},
	)
}
