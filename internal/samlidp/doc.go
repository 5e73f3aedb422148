// Package samlidp is the identity-provider side of the Cl@ve wire format:
// what the reference gateway (package gateway) and the conformance kit's fault
// catalogue (internal/faults) send and receive, kept out of package saml so
// that saml shows an agency only what a service provider uses.
//
//   - Responses: BuildResponse writes a Response shaped like the real
//     gateway's, SecureResponse signs and encrypts it.
//   - Requests: ParseAuthnRequest and ParseLogoutRequest verify a service's
//     signed requests against its registered certificates; PeekAuthnRequest
//     reads one without verifying it, for tools that play the gateway.
//   - Logout answers: BuildLogoutResponse and SignDocument.
//   - The certificates document the gateway publishes:
//     MarshalCertificatesDocument (saml.ParseCertificatesDocument reads it).
//   - Fault injection: ResignEnveloped recomputes a signature a test or the
//     fault catalogue edited, so that a verifier's refusal can only come from
//     the edit.
//
// Signing, verification and safe parsing are internal/samlcore's, the code
// package saml verifies with; errors wrap saml's sentinels.
package samlidp
