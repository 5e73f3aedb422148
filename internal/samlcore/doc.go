// Package samlcore holds the primitives both faces of the Cl@ve wire format
// share: safe XML parsing, the checks every protocol message must pass, the
// element accessors that cannot be fooled by foreign attributes or split text,
// and XML-DSig enveloped signatures (made and verified).
//
// The service provider's package saml builds its Validator and request
// builders on them; internal/samlidp builds the gateway's responses, re-signs
// forged ones for the fault catalogue, and verifies incoming requests with the
// very same code. Canonicalisation is goxmldsig's and RSA the standard
// library's: nothing here canonicalises or hashes XML by hand.
//
// Errors wrap the sentinels below, which package saml re-exports under the
// same names: errors.Is matches them whichever package is named.
package samlcore

import "errors"

// Sentinel errors of the primitives. Their messages say "saml:" because they
// are package saml's public errors (saml.ErrMalformed is ErrMalformed).
var (
	ErrMalformed        = errors.New("saml: malformed message")
	ErrTooLarge         = errors.New("saml: message too large")
	ErrUnexpectedRoot   = errors.New("saml: unexpected document element")
	ErrVersion          = errors.New("saml: unsupported SAML version")
	ErrSignatureMissing = errors.New("saml: required signature missing")
	ErrSignatureInvalid = errors.New("saml: signature invalid")
	ErrUntrustedKey     = errors.New("saml: signed by an untrusted key")
	ErrAlgorithm        = errors.New("saml: algorithm not allowed")
	ErrWrapped          = errors.New("saml: signature does not cover the consumed element")
	ErrMissingElement   = errors.New("saml: required element missing")
)

// Namespaces and algorithm identifiers the primitives need. Package saml
// publishes the same values; its tests check that they agree.
const (
	NSProtocol   = "urn:oasis:names:tc:SAML:2.0:protocol"
	NSAssertion  = "urn:oasis:names:tc:SAML:2.0:assertion"
	NSDSig       = "http://www.w3.org/2000/09/xmldsig#"
	NSExcC14N    = "http://www.w3.org/2001/10/xml-exc-c14n#"
	NameIDEntity = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"

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

// DefaultMaxMessageSize bounds a decoded SAML message: saml.DefaultMaxMessageSize.
const DefaultMaxMessageSize = 256 << 10
