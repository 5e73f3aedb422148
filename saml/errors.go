package saml

import (
	"errors"
	"fmt"

	"github.com/clave-go/clave/internal/samlcore"
)

// Sentinel errors. Every refusal of the validator wraps exactly one of them, so
// callers (and the conformance kit) can tell refusals apart with errors.Is.
var (
	// ErrMalformed refuses a message that is not the XML it claims to be: bad
	// base64, a DTD, entities, comments or processing instructions inside the
	// document, undeclared prefixes, duplicate attributes or elements, a
	// value split by markup, an instant without a time zone.
	ErrMalformed = samlcore.ErrMalformed
	// ErrTooLarge refuses a message beyond the size bound (MaxSize,
	// DefaultMaxMessageSize), before it is parsed.
	ErrTooLarge = samlcore.ErrTooLarge
	// ErrUnexpectedRoot refuses a document that is not the expected protocol
	// message (a LogoutResponse posted as a Response, say).
	ErrUnexpectedRoot = samlcore.ErrUnexpectedRoot
	// ErrVersion refuses a message or assertion whose Version is not "2.0".
	ErrVersion = samlcore.ErrVersion
	// ErrSignatureMissing refuses a message nothing trusted has signed.
	ErrSignatureMissing = samlcore.ErrSignatureMissing
	// ErrSignatureInvalid refuses a signature that does not verify with any
	// trusted certificate, or a signed element changed after signing.
	ErrSignatureInvalid = samlcore.ErrSignatureInvalid
	// ErrUntrustedKey refuses a signature whose KeyInfo names a certificate
	// outside the trusted set (KeyInfo is never trusted).
	ErrUntrustedKey = samlcore.ErrUntrustedKey
	// ErrAlgorithm refuses an algorithm outside the policy: SHA-1 (unless
	// allowed), transforms other than enveloped-signature and exclusive c14n,
	// key transport other than RSA-OAEP, content encryption other than
	// AES-GCM (or AES-CBC when allowed, in a signed response).
	ErrAlgorithm = samlcore.ErrAlgorithm
	// ErrWrapped refuses a signature that does not cover exactly the element
	// that is read: signature wrapping, duplicate IDs, a Reference to another
	// element, an assertion nested out of place.
	ErrWrapped = samlcore.ErrWrapped
	// ErrMissingElement refuses a message without an element or attribute the
	// profile requires.
	ErrMissingElement = samlcore.ErrMissingElement

	ErrInResponseTo        = errors.New("saml: InResponseTo does not match a pending request")
	ErrRelayState          = errors.New("saml: RelayState does not match the request")
	ErrDestination         = errors.New("saml: wrong Destination")
	ErrRecipient           = errors.New("saml: wrong Recipient")
	ErrAudience            = errors.New("saml: wrong Audience")
	ErrIssuer              = errors.New("saml: unexpected Issuer")
	ErrExpired             = errors.New("saml: message expired")
	ErrNotYetValid         = errors.New("saml: message not yet valid")
	ErrAssertionCount      = errors.New("saml: response must carry exactly one assertion")
	ErrSubjectConfirmation = errors.New("saml: no valid bearer subject confirmation")
	ErrLoA                 = errors.New("saml: level of assurance below the requested one")
	ErrReplay              = errors.New("saml: assertion already used")
	ErrDecryption          = errors.New("saml: cannot decrypt assertion")
	// ErrIdentity refuses an assertion that does not name the citizen beyond
	// doubt: no PersonIdentifier attribute, an empty or malformed one, more
	// than one value, or an empty NameID. The identity is never taken from
	// anywhere else (a NameID may be an opaque transient value).
	ErrIdentity = errors.New("saml: assertion does not identify the citizen")
	// ErrMissingAttribute refuses an assertion without an attribute the
	// request marked isRequired="true" (Expectation.RequiredAttributes).
	ErrMissingAttribute = errors.New("saml: required attribute missing")

	// Status outcomes, matched by StatusError.Is.
	ErrStatus         = errors.New("saml: gateway returned an error status")
	ErrUserCancelled  = errors.New("saml: the citizen cancelled")
	ErrAuthnFailed    = errors.New("saml: authentication failed")
	ErrNoPassive      = errors.New("saml: passive authentication not possible")
	ErrRequestDenied  = errors.New("saml: request denied")
	ErrNoAuthnContext = errors.New("saml: requested level of assurance cannot be met")
)

// StatusError is a non-success Status from the gateway. It matches ErrStatus and,
// depending on its codes, one of ErrUserCancelled, ErrAuthnFailed, ErrNoPassive,
// ErrRequestDenied or ErrNoAuthnContext.
type StatusError struct {
	// Code is the top-level status code; it may be empty or unusual, as some real
	// gateway failures carry no usable top-level code.
	Code string
	// SubCode is the second-level status code, if any.
	SubCode string
	// Message is the free-text StatusMessage.
	Message string
}

func (e *StatusError) Error() string {
	s := "saml: gateway status " + short(e.Code)
	if e.SubCode != "" {
		s += "/" + short(e.SubCode)
	}
	if e.Message != "" {
		s += fmt.Sprintf(": %q", e.Message)
	}
	return s
}

// Is lets errors.Is match the status against the sentinel outcomes. A user cancel
// is reported by the gateway as Requester/RequestDenied, so it matches both
// ErrUserCancelled and ErrRequestDenied.
func (e *StatusError) Is(target error) bool {
	switch target {
	case ErrStatus:
		return true
	case ErrUserCancelled:
		return e.Code == StatusRequester && e.SubCode == StatusRequestDenied
	case ErrRequestDenied:
		return e.SubCode == StatusRequestDenied
	case ErrAuthnFailed:
		return e.SubCode == StatusAuthnFailed
	case ErrNoPassive:
		return e.SubCode == StatusNoPassive
	case ErrNoAuthnContext:
		return e.SubCode == StatusNoAuthnContext
	}
	return false
}

func short(code string) string {
	const p = "urn:oasis:names:tc:SAML:2.0:status:"
	if len(code) > len(p) && code[:len(p)] == p {
		return code[len(p):]
	}
	if code == "" {
		return "(none)"
	}
	return code
}
