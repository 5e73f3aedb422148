// Package saml is the service provider's side of the Cl@ve 2.0 wire format
// (SAML 2.0 with the eIDAS extensions): what an agency sends to the gateway
// and what it accepts back. Most services use it through package clave, which
// adds login tracking, sessions and the replay cache; use it directly to fit
// Cl@ve into a framework of your own.
//
// A login is a signed AuthnRequest the browser posts to the gateway, and a
// Response the browser posts back to the service's ACS:
//
//	// 1. Build and sign the request; answer with an auto-submitting form.
//	req := &saml.AuthnRequest{
//		IssueInstant:    time.Now(),
//		Destination:     saml.PreproductionURL,
//		ACSURL:          "https://sede.example.es/clave/acs",
//		SPID:            "S0000000E_E00000000",
//		ApplicationName: "MiAplicacion",
//		LoA:             saml.LoASubstantial,
//		Attributes:      saml.DefaultAttributes(),
//	}
//	signed, err := req.Sign(&saml.Signer{Key: key, Certificate: cert})
//	if err != nil { ... }
//	// Remember req.ID and req.LoA with relayState, bound to this browser.
//	saml.PostForm{Action: req.Destination, Field: saml.FieldSAMLRequest,
//		Message: signed, RelayState: relayState}.ServeHTTP(w, r)
//
//	// 2. At the ACS: read the post, find this browser's pending login by its
//	// RelayState, and validate the response against that request.
//	msg, relayState, err := saml.ReadPost(r, saml.FieldSAMLResponse, 0)
//	if err != nil { ... }
//	v := &saml.Validator{Trust: fetcher, ACSURL: req.ACSURL, Issuer: saml.PreproductionIssuer}
//	a, err := v.ValidateResponse(msg, saml.Expectation{RequestID: req.ID, MinLoA: req.LoA,
//		RequiredAttributes: saml.RequiredAttributes(req.Attributes)})
//	if err != nil { ... } // errors.Is(err, saml.ErrUserCancelled), ...
//	// a.PersonIdentifier is the citizen ("12345678Z"). Refuse a.ID again
//	// until a.NotOnOrAfter: replay is the caller's to check.
//
// Trust is a CertificateSource: StaticCertificates, or a CertificateFetcher
// that follows the certificates document the gateway publishes at
// CertificatesPath, so a gateway key rollover needs no restart. Logout is
// LogoutRequest (posted in the logoutRequest field) and
// Validator.ValidateLogoutResponse.
//
// # What the validator checks
//
// Validator.ValidateResponse denies on any doubt, in this order, and returns
// the first failure:
//
//   - Safe parsing: a size bound before anything is parsed; no DTD, entity,
//     comment or processing instruction inside the document; one document
//     element, declared prefixes, no duplicate attribute, UTF-8 only, bounded
//     depth. The root is a saml2p:Response of Version 2.0 with an ID, no two
//     elements share an ID, and an assertion may only be the response's child.
//   - The response's signature, if any: exactly one enveloped signature with
//     one Reference, to the response's own ID, through the enveloped-signature
//     and exclusive c14n transforms, RSA-SHA256/384/512 (SHA-1 only with
//     AlgorithmPolicy.AllowSHA1), verified against Trust alone (KeyInfo never
//     chooses the key). What is read afterwards is exactly what was signed.
//   - Correlation and addressing: InResponseTo is the pending request's ID
//     (unsolicited responses are refused), Destination is ACSURL, Issuer is
//     Issuer, IssueInstant is neither in the future nor older than MaxAge,
//     with Skew tolerated.
//   - Status: a failure must be signed and carry no assertion; it is returned
//     as a *StatusError.
//   - Exactly one assertion, decrypted if encrypted (RSA-OAEP key transport,
//     AES-GCM; AES-CBC only with AllowCBC, in a signed response), its own
//     signature verified as the response's; the response or the assertion
//     must be signed.
//   - The assertion: its Issuer and instants; a Conditions window and every
//     AudienceRestriction naming ACSURL; a bearer SubjectConfirmation whose
//     Recipient is ACSURL, whose InResponseTo is the request's and that has
//     not expired (its Address is not compared with anything); an eIDAS level
//     of assurance not below Expectation.MinLoA; no attribute given twice;
//     exactly one well-formed PersonIdentifier (a DNI or NIE with its check
//     letter, or an eIDAS identifier addressed to Spain), a non-empty NameID,
//     and every Expectation.RequiredAttributes present.
//
// Every refusal wraps exactly one of the package's sentinel errors
// (ErrSignatureInvalid, ErrWrapped, ErrAudience, ...), for errors.Is. The
// module's catalogue of bad responses (forged, wrapped, replayed, misaddressed,
// malformed: the one package conformance plays against a whole service) runs
// through this Validator in the package's tests, each case refused for its
// own reason.
//
// The gateway's side of the protocol (building and signing responses,
// verifying requests) is not part of this package; the reference gateway is
// package gateway.
package saml
