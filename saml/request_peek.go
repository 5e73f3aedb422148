package saml

import (
	"time"

	"github.com/beevik/etree"
)

// PeekAuthnRequest reads an AuthnRequest WITHOUT verifying its signature. It is
// meant for tools that play the gateway against a service under test (the
// conformance kit), which need the request's ID, ACS URL and requested LoA but
// hold no registered certificate for it and must not care about its clock.
//
// Never use it to trust a request: anyone can write what it returns. A gateway
// must use ParseAuthnRequest. The document is still parsed as safely as
// everything else in this package (no DTD, bounded size and depth, round-trip
// checks), so peeking at hostile input is harmless.
func PeekAuthnRequest(data []byte) (*ReceivedAuthnRequest, error) {
	root, _, err := openMessage(data, 0, "AuthnRequest")
	if err != nil {
		return nil, err
	}
	// IssueInstant must be well-formed but its age is not policed: the peeker's
	// clock may legitimately differ from the sender's.
	return readAuthnRequest(root, func(el *etree.Element) (time.Time, error) {
		return parseInstant(el, "IssueInstant", true)
	})
}
