package samlidp

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/beevik/etree"

	"github.com/clave-go/clave/internal/samlcore"
	"github.com/clave-go/clave/saml"
)

// ErrUnknownSP is returned when a request names a service the gateway does not
// know.
var ErrUnknownSP = errors.New("saml: unknown service provider")

// SPTrust returns the certificates registered for a service (SPID), or an error
// wrapping ErrUnknownSP.
type SPTrust func(spid string) ([]*x509.Certificate, error)

// RequestPolicy is how the gateway checks incoming requests.
type RequestPolicy struct {
	// Algorithms says which signature algorithms a request may use; SHA-1 is
	// refused by default.
	Algorithms saml.AlgorithmPolicy
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Skew is tolerated on IssueInstant; 0 means saml.DefaultSkew.
	Skew time.Duration
	// MaxAge bounds how old a request may be; 0 means 10 minutes.
	MaxAge time.Duration
	// MaxSize bounds the XML; 0 means saml.DefaultMaxMessageSize.
	MaxSize int
}

// ReceivedAuthnRequest is an AuthnRequest the gateway verified.
type ReceivedAuthnRequest struct {
	ID, Destination, ACSURL string
	IssueInstant            time.Time
	ProviderName            string
	SPID, ApplicationName   string
	ForceAuthn, IsPassive   bool
	LoA                     saml.LoA
	NameIDFormat            string
	SPType                  string
	Attributes              []saml.RequestedAttribute
	Disabled                []saml.Method
	ClaveRelayState         string
}

// MethodDisabled reports whether the request hides m.
func (r *ReceivedAuthnRequest) MethodDisabled(m saml.Method) bool {
	for _, d := range r.Disabled {
		if d == m {
			return true
		}
	}
	return false
}

// WantsAttribute reports whether the request asks for the named attribute.
func (r *ReceivedAuthnRequest) WantsAttribute(name string) bool {
	for _, a := range r.Attributes {
		if a.Name == name {
			return true
		}
	}
	return false
}

func (p RequestPolicy) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p RequestPolicy) checkInstant(el *etree.Element) (time.Time, error) {
	t, err := samlcore.ParseInstant(el, "IssueInstant", true)
	if err != nil {
		return t, err
	}
	skew, maxAge := p.Skew, p.MaxAge
	if skew == 0 {
		skew = saml.DefaultSkew
	}
	if maxAge == 0 {
		maxAge = 10 * time.Minute
	}
	now := p.now()
	if t.After(now.Add(skew)) {
		return t, fmt.Errorf("%w: issued in the future", saml.ErrNotYetValid)
	}
	if t.Add(maxAge + skew).Before(now) {
		return t, fmt.Errorf("%w: issued %s ago", saml.ErrExpired, now.Sub(t).Round(time.Second))
	}
	return t, nil
}

// ParseAuthnRequest verifies and reads an AuthnRequest as the gateway does: the
// SPID before ';' in ProviderName selects the registered certificates, the
// enveloped signature must verify against them, and everything returned is read
// from the verified tree.
func ParseAuthnRequest(data []byte, trust SPTrust, pol RequestPolicy) (*ReceivedAuthnRequest, error) {
	root, _, err := samlcore.OpenMessage(data, pol.MaxSize, "AuthnRequest")
	if err != nil {
		return nil, err
	}
	spid, _, ok := strings.Cut(samlcore.Attr(root, "ProviderName"), ";")
	if !ok || spid == "" {
		return nil, fmt.Errorf("%w: ProviderName must be \"<SPID>;<application>\"", saml.ErrMalformed)
	}
	certs, err := trust(spid)
	if err != nil {
		return nil, err
	}
	if err := samlcore.VerifyEnveloped(root, certs, samlcore.AlgorithmPolicy{AllowSHA1: pol.Algorithms.AllowSHA1}, pol.now()); err != nil {
		return nil, err
	}
	r, err := readAuthnRequest(root, pol.checkInstant)
	if err != nil {
		return nil, err
	}
	if r.SPID != spid {
		return nil, fmt.Errorf("%w: ProviderName changed", saml.ErrSignatureInvalid)
	}
	return r, nil
}

// readAuthnRequest reads the fields of an AuthnRequest root. It trusts nothing
// by itself: ParseAuthnRequest calls it on a verified tree, PeekAuthnRequest on
// an unverified one. instant reads (and may police) IssueInstant.
func readAuthnRequest(root *etree.Element, instant func(*etree.Element) (time.Time, error)) (*ReceivedAuthnRequest, error) {
	r := &ReceivedAuthnRequest{
		ID:           samlcore.Attr(root, "ID"),
		Destination:  samlcore.Attr(root, "Destination"),
		ACSURL:       samlcore.Attr(root, "AssertionConsumerServiceURL"),
		ProviderName: samlcore.Attr(root, "ProviderName"),
		ForceAuthn:   samlcore.Attr(root, "ForceAuthn") == "true",
		IsPassive:    samlcore.Attr(root, "IsPassive") == "true",
	}
	r.SPID, r.ApplicationName, _ = strings.Cut(r.ProviderName, ";")
	if r.ACSURL == "" {
		return nil, fmt.Errorf("%w: AssertionConsumerServiceURL", saml.ErrMissingElement)
	}
	var err error
	if r.IssueInstant, err = instant(root); err != nil {
		return nil, err
	}
	if nip, _ := samlcore.OneChild(root, saml.NSProtocol, "NameIDPolicy", false); nip != nil {
		r.NameIDFormat = samlcore.Attr(nip, "Format")
	}
	rac, err := samlcore.OneChild(root, saml.NSProtocol, "RequestedAuthnContext", true)
	if err != nil {
		return nil, err
	}
	if c := samlcore.Attr(rac, "Comparison"); c != "" && c != "minimum" {
		return nil, fmt.Errorf("%w: Comparison %q (only minimum)", saml.ErrMalformed, c)
	}
	refs := samlcore.ChildNS(rac, saml.NSAssertion, "AuthnContextClassRef")
	if len(refs) != 1 {
		return nil, fmt.Errorf("%w: exactly one AuthnContextClassRef", saml.ErrMalformed)
	}
	txt, err := samlcore.TextOf(refs[0])
	if err != nil {
		return nil, err
	}
	var ok bool
	if r.LoA, ok = saml.ParseLoA(strings.TrimSpace(txt)); !ok || !strings.HasPrefix(strings.TrimSpace(txt), "http") {
		return nil, fmt.Errorf("%w: unknown level %q", saml.ErrLoA, txt)
	}
	if ext, _ := samlcore.OneChild(root, saml.NSProtocol, "Extensions", false); ext != nil {
		if err := r.readExtensions(ext); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *ReceivedAuthnRequest) readExtensions(ext *etree.Element) error {
	if st, _ := samlcore.OneChild(ext, saml.NSEIDAS, "SPType", false); st != nil {
		r.SPType, _ = samlcore.TextOf(st)
	}
	ras, _ := samlcore.OneChild(ext, saml.NSEIDAS, "RequestedAttributes", false)
	if ras == nil {
		return nil
	}
	for _, ra := range samlcore.ChildNS(ras, saml.NSEIDAS, "RequestedAttribute") {
		name := samlcore.Attr(ra, "Name")
		if name == saml.AttrRelayState {
			if v, _ := samlcore.OneChild(ra, saml.NSEIDAS, "AttributeValue", false); v != nil {
				r.ClaveRelayState, _ = samlcore.TextOf(v)
			}
			continue
		}
		if m, ok := saml.MethodForDisableAttribute(name); ok {
			r.Disabled = append(r.Disabled, m)
			continue
		}
		r.Attributes = append(r.Attributes, saml.RequestedAttribute{
			Name:         name,
			FriendlyName: samlcore.Attr(ra, "FriendlyName"),
			Required:     samlcore.Attr(ra, "isRequired") == "true",
		})
	}
	return nil
}

// ReceivedLogoutRequest is a verified Cl@ve LogoutRequest.
type ReceivedLogoutRequest struct {
	ID, Destination string
	// ReturnURL is the request's Issuer: where the answer goes.
	ReturnURL string
	// SPID is the NameID: the service logging out.
	SPID         string
	IssueInstant time.Time
}

// ParseLogoutRequest verifies and reads a LogoutRequest; the NameID names the
// SPID whose certificates must verify it.
func ParseLogoutRequest(data []byte, trust SPTrust, pol RequestPolicy) (*ReceivedLogoutRequest, error) {
	root, _, err := samlcore.OpenMessage(data, pol.MaxSize, "LogoutRequest")
	if err != nil {
		return nil, err
	}
	readSPID := func() (string, error) {
		nid, err := samlcore.OneChild(root, saml.NSAssertion, "NameID", true)
		if err != nil {
			return "", err
		}
		s, err := samlcore.TextOf(nid)
		return strings.TrimSpace(s), err
	}
	spid, err := readSPID()
	if err != nil {
		return nil, err
	}
	certs, err := trust(spid)
	if err != nil {
		return nil, err
	}
	if err := samlcore.VerifyEnveloped(root, certs, samlcore.AlgorithmPolicy{AllowSHA1: pol.Algorithms.AllowSHA1}, pol.now()); err != nil {
		return nil, err
	}
	r := &ReceivedLogoutRequest{ID: samlcore.Attr(root, "ID"), Destination: samlcore.Attr(root, "Destination")}
	if r.SPID, err = readSPID(); err != nil || r.SPID != spid {
		return nil, fmt.Errorf("%w: NameID changed", saml.ErrSignatureInvalid)
	}
	iss, err := samlcore.OneChild(root, saml.NSAssertion, "Issuer", true)
	if err != nil {
		return nil, err
	}
	if r.ReturnURL, err = samlcore.TextOf(iss); err != nil {
		return nil, err
	}
	r.ReturnURL = strings.TrimSpace(r.ReturnURL)
	if r.IssueInstant, err = pol.checkInstant(root); err != nil {
		return nil, err
	}
	return r, nil
}

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
	root, _, err := samlcore.OpenMessage(data, 0, "AuthnRequest")
	if err != nil {
		return nil, err
	}
	// IssueInstant must be well-formed but its age is not policed: the peeker's
	// clock may legitimately differ from the sender's.
	return readAuthnRequest(root, func(el *etree.Element) (time.Time, error) {
		return samlcore.ParseInstant(el, "IssueInstant", true)
	})
}
