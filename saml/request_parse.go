package saml

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// ErrUnknownSP is returned when a request names a service the gateway does not
// know.
var ErrUnknownSP = errors.New("saml: unknown service provider")

// SPTrust returns the certificates registered for a service (SPID), or an error
// wrapping ErrUnknownSP.
type SPTrust func(spid string) ([]*x509.Certificate, error)

// RequestPolicy is how the gateway checks incoming requests.
type RequestPolicy struct {
	Algorithms AlgorithmPolicy
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Skew is tolerated on IssueInstant; 0 means DefaultSkew.
	Skew time.Duration
	// MaxAge bounds how old a request may be; 0 means 10 minutes.
	MaxAge time.Duration
	// MaxSize bounds the XML; 0 means DefaultMaxMessageSize.
	MaxSize int
}

// ReceivedAuthnRequest is an AuthnRequest the gateway verified.
type ReceivedAuthnRequest struct {
	ID, Destination, ACSURL string
	IssueInstant            time.Time
	ProviderName            string
	SPID, ApplicationName   string
	ForceAuthn, IsPassive   bool
	LoA                     LoA
	NameIDFormat            string
	SPType                  string
	Attributes              []RequestedAttribute
	Disabled                []Method
	ClaveRelayState         string
}

// MethodDisabled reports whether the request hides m.
func (r *ReceivedAuthnRequest) MethodDisabled(m Method) bool {
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
	t, err := parseInstant(el, "IssueInstant", true)
	if err != nil {
		return t, err
	}
	skew, maxAge := p.Skew, p.MaxAge
	if skew == 0 {
		skew = DefaultSkew
	}
	if maxAge == 0 {
		maxAge = 10 * time.Minute
	}
	now := p.now()
	if t.After(now.Add(skew)) {
		return t, fmt.Errorf("%w: issued in the future", ErrNotYetValid)
	}
	if t.Add(maxAge + skew).Before(now) {
		return t, fmt.Errorf("%w: issued %s ago", ErrExpired, now.Sub(t).Round(time.Second))
	}
	return t, nil
}

// ParseAuthnRequest verifies and reads an AuthnRequest as the gateway does: the
// SPID before ';' in ProviderName selects the registered certificates, the
// enveloped signature must verify against them, and everything returned is read
// from the verified tree.
func ParseAuthnRequest(data []byte, trust SPTrust, pol RequestPolicy) (*ReceivedAuthnRequest, error) {
	root, _, err := openMessage(data, pol.MaxSize, "AuthnRequest")
	if err != nil {
		return nil, err
	}
	spid, _, ok := strings.Cut(attr(root, "ProviderName"), ";")
	if !ok || spid == "" {
		return nil, fmt.Errorf("%w: ProviderName must be \"<SPID>;<application>\"", ErrMalformed)
	}
	certs, err := trust(spid)
	if err != nil {
		return nil, err
	}
	if err := verifyEnveloped(root, certs, pol.Algorithms, pol.now()); err != nil {
		return nil, err
	}
	r, err := readAuthnRequest(root, pol.checkInstant)
	if err != nil {
		return nil, err
	}
	if r.SPID != spid {
		return nil, fmt.Errorf("%w: ProviderName changed", ErrSignatureInvalid)
	}
	return r, nil
}

// readAuthnRequest reads the fields of an AuthnRequest root. It trusts nothing
// by itself: ParseAuthnRequest calls it on a verified tree, PeekAuthnRequest on
// an unverified one. instant reads (and may police) IssueInstant.
func readAuthnRequest(root *etree.Element, instant func(*etree.Element) (time.Time, error)) (*ReceivedAuthnRequest, error) {
	r := &ReceivedAuthnRequest{
		ID:           attr(root, "ID"),
		Destination:  attr(root, "Destination"),
		ACSURL:       attr(root, "AssertionConsumerServiceURL"),
		ProviderName: attr(root, "ProviderName"),
		ForceAuthn:   attr(root, "ForceAuthn") == "true",
		IsPassive:    attr(root, "IsPassive") == "true",
	}
	r.SPID, r.ApplicationName, _ = strings.Cut(r.ProviderName, ";")
	if r.ACSURL == "" {
		return nil, fmt.Errorf("%w: AssertionConsumerServiceURL", ErrMissingElement)
	}
	var err error
	if r.IssueInstant, err = instant(root); err != nil {
		return nil, err
	}
	if nip, _ := oneChild(root, NSProtocol, "NameIDPolicy", false); nip != nil {
		r.NameIDFormat = attr(nip, "Format")
	}
	rac, err := oneChild(root, NSProtocol, "RequestedAuthnContext", true)
	if err != nil {
		return nil, err
	}
	if c := attr(rac, "Comparison"); c != "" && c != "minimum" {
		return nil, fmt.Errorf("%w: Comparison %q (only minimum)", ErrMalformed, c)
	}
	refs := childNS(rac, NSAssertion, "AuthnContextClassRef")
	if len(refs) != 1 {
		return nil, fmt.Errorf("%w: exactly one AuthnContextClassRef", ErrMalformed)
	}
	txt, err := textOf(refs[0])
	if err != nil {
		return nil, err
	}
	var ok bool
	if r.LoA, ok = ParseLoA(strings.TrimSpace(txt)); !ok || !strings.HasPrefix(strings.TrimSpace(txt), "http") {
		return nil, fmt.Errorf("%w: unknown level %q", ErrLoA, txt)
	}
	if ext, _ := oneChild(root, NSProtocol, "Extensions", false); ext != nil {
		if err := r.readExtensions(ext); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *ReceivedAuthnRequest) readExtensions(ext *etree.Element) error {
	if st, _ := oneChild(ext, NSEIDAS, "SPType", false); st != nil {
		r.SPType, _ = textOf(st)
	}
	ras, _ := oneChild(ext, NSEIDAS, "RequestedAttributes", false)
	if ras == nil {
		return nil
	}
	for _, ra := range childNS(ras, NSEIDAS, "RequestedAttribute") {
		name := attr(ra, "Name")
		if name == AttrRelayState {
			if v, _ := oneChild(ra, NSEIDAS, "AttributeValue", false); v != nil {
				r.ClaveRelayState, _ = textOf(v)
			}
			continue
		}
		if m, ok := MethodForDisableAttribute(name); ok {
			r.Disabled = append(r.Disabled, m)
			continue
		}
		r.Attributes = append(r.Attributes, RequestedAttribute{
			Name:         name,
			FriendlyName: attr(ra, "FriendlyName"),
			Required:     attr(ra, "isRequired") == "true",
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
	root, _, err := openMessage(data, pol.MaxSize, "LogoutRequest")
	if err != nil {
		return nil, err
	}
	readSPID := func() (string, error) {
		nid, err := oneChild(root, NSAssertion, "NameID", true)
		if err != nil {
			return "", err
		}
		s, err := textOf(nid)
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
	if err := verifyEnveloped(root, certs, pol.Algorithms, pol.now()); err != nil {
		return nil, err
	}
	r := &ReceivedLogoutRequest{ID: attr(root, "ID"), Destination: attr(root, "Destination")}
	if r.SPID, err = readSPID(); err != nil || r.SPID != spid {
		return nil, fmt.Errorf("%w: NameID changed", ErrSignatureInvalid)
	}
	iss, err := oneChild(root, NSAssertion, "Issuer", true)
	if err != nil {
		return nil, err
	}
	if r.ReturnURL, err = textOf(iss); err != nil {
		return nil, err
	}
	r.ReturnURL = strings.TrimSpace(r.ReturnURL)
	if r.IssueInstant, err = pol.checkInstant(root); err != nil {
		return nil, err
	}
	return r, nil
}
