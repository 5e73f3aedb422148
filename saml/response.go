package saml

import (
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/beevik/etree"

	"github.com/clave-go/clave/internal/dni"
	"github.com/clave-go/clave/internal/samlcore"
)

// DefaultSkew is the clock skew tolerated on every time check.
const DefaultSkew = 60 * time.Second

// DefaultMaxAge bounds how old a Response's IssueInstant may be. The gateway's
// assertions live 15 minutes; a response older than that is useless anyway.
const DefaultMaxAge = 15 * time.Minute

// CertificateSource supplies the certificates trusted to sign gateway messages.
// It is asked at every validation, so a source that refreshes (CertificateFetcher)
// rolls keys over without restarting anything.
type CertificateSource interface {
	Certificates() []*x509.Certificate
}

// StaticCertificates is a fixed CertificateSource.
type StaticCertificates []*x509.Certificate

// Certificates returns the fixed set.
func (s StaticCertificates) Certificates() []*x509.Certificate { return s }

// Validator validates Responses from the gateway. Its zero value refuses
// everything; ACSURL, Issuer and Trust are required. A Validator is safe for
// concurrent use.
type Validator struct {
	// Trust supplies the certificates trusted to sign responses. KeyInfo in a
	// response is never trusted.
	Trust CertificateSource
	// ACSURL is this service's Assertion Consumer Service URL. The gateway uses it
	// as Destination, Recipient and Audience alike.
	ACSURL string
	// Issuer is the gateway's entity (PreproductionIssuer, ProductionIssuer, or a
	// test gateway's).
	Issuer string
	// DecryptionKeys are tried, in order, on an EncryptedAssertion. More than one
	// lets an encryption key be rolled over.
	DecryptionKeys []*rsa.PrivateKey
	// AllowCBC accepts AES-CBC encrypted assertions. CBC has no integrity check;
	// the ciphertext is covered by the response signature only when the response
	// is signed, so it is off by default, and even when on, CBC is refused in an
	// unsigned response (decrypting tampered CBC is a padding oracle).
	AllowCBC bool
	// Algorithms says which signature algorithms are accepted; SHA-1 is refused
	// by default.
	Algorithms AlgorithmPolicy
	// Skew is the tolerated clock difference; 0 means DefaultSkew. Use a
	// negative value for no tolerance at all.
	Skew time.Duration
	// MaxAge bounds the age of a response; 0 means DefaultMaxAge.
	MaxAge time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxSize bounds the decoded XML; 0 means DefaultMaxMessageSize.
	MaxSize int
}

// Expectation is what the service knows about the request a response answers.
type Expectation struct {
	// RequestID is the ID of the AuthnRequest this browser sent. Unsolicited
	// responses are never accepted.
	RequestID string
	// MinLoA is the level the request asked for; the achieved one must not be
	// lower.
	MinLoA LoA
	// RequiredAttributes names the attributes the request marked
	// isRequired="true" (see RequiredAttributes); a response without a
	// non-empty value for each is refused with ErrMissingAttribute. The
	// PersonIdentifier is required whatever this says: it is the identity.
	RequiredAttributes []string
}

// Assertion is the validated content of a successful Response.
type Assertion struct {
	ResponseID   string
	ID           string
	Issuer       string
	InResponseTo string
	IssueInstant time.Time
	AuthnInstant time.Time
	// NotOnOrAfter is the earliest end of validity among Conditions and the
	// bearer confirmation: the replay cache must remember the ID until then.
	NotOnOrAfter time.Time
	OneTimeUse   bool
	// NameID is the assertion's subject as sent. It is not the identity: the
	// gateway may send an opaque transient value there.
	NameID NameID
	// PersonIdentifier is the citizen: the assertion's one PersonIdentifier
	// value, checked and normalised, a DNI or NIE ("12345678Z") or an eIDAS
	// identifier for Spain ("IT/ES/..."). A validated assertion always has one.
	PersonIdentifier string
	LoA              LoA
	SessionIndex     string
	Attributes       []Attribute
	// Which parts were signed or encrypted, for logs and inspection.
	ResponseSigned, AssertionSigned, Encrypted bool
}

// NameID is the subject of an assertion.
type NameID struct {
	Value, Format, NameQualifier string
}

// Attribute is a SAML attribute with its values.
type Attribute struct {
	Name, FriendlyName string
	// XSIType is the xsi:type of the values, as written (e.g.
	// "eidas-natural:PersonIdentifierType"), informative only.
	XSIType string
	Values  []string
}

// Attribute returns the first value of the named attribute.
func (a *Assertion) Attribute(name string) (string, bool) {
	for _, at := range a.Attributes {
		if at.Name == name && len(at.Values) > 0 {
			return at.Values[0], true
		}
	}
	return "", false
}

func (v *Validator) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Validator) skew() time.Duration {
	switch {
	case v.Skew < 0:
		return 0
	case v.Skew == 0:
		return DefaultSkew
	}
	return v.Skew
}

// ValidateResponse validates a decoded Response (see DecodeMessage) and returns
// its assertion. Checks run in a fixed order and the first failure is returned,
// wrapping one of the package's sentinel errors; a non-success status is returned
// as a *StatusError. Replay of the assertion ID is the caller's to check (the
// clave package does), using Assertion.ID and NotOnOrAfter.
func (v *Validator) ValidateResponse(data []byte, exp Expectation) (*Assertion, error) {
	if v.Trust == nil || v.ACSURL == "" || v.Issuer == "" {
		return nil, fmt.Errorf("saml: validator needs Trust, ACSURL and Issuer")
	}
	root, assertions, err := samlcore.OpenMessage(data, v.MaxSize, "Response")
	if err != nil {
		return nil, err
	}
	now := v.now()
	trusted := v.Trust.Certificates()
	res := &Assertion{ResponseID: samlcore.Attr(root, "ID")}

	// 1. Signature of the response, if any. After this, root is exactly what was
	// signed (canonical, without the signature).
	if samlcore.HasSignature(root) {
		if err := samlcore.VerifyEnveloped(root, trusted, v.Algorithms.core(), now); err != nil {
			return nil, err
		}
		res.ResponseSigned = true
	}

	// 2. Correlation: the response answers this browser's request.
	if exp.RequestID == "" {
		return nil, fmt.Errorf("%w: no pending request", ErrInResponseTo)
	}
	if irt := samlcore.Attr(root, "InResponseTo"); irt != exp.RequestID {
		return nil, fmt.Errorf("%w: got %q", ErrInResponseTo, irt)
	}
	res.InResponseTo = exp.RequestID

	// 3. Addressing.
	if d := samlcore.Attr(root, "Destination"); d != v.ACSURL {
		return nil, fmt.Errorf("%w: %q", ErrDestination, d)
	}
	if err := v.checkIssuer(root); err != nil {
		return nil, err
	}
	if err := v.checkInstant(root, now, true); err != nil {
		return nil, err
	}

	// 4. Status.
	if err := readStatus(root); err != nil {
		var se *StatusError
		if !errors.As(err, &se) {
			return nil, err // no usable Status at all
		}
		if !res.ResponseSigned {
			return nil, fmt.Errorf("%w: an error status must come in a signed response", ErrSignatureMissing)
		}
		if assertions != 0 {
			return nil, fmt.Errorf("%w: error status with an assertion", ErrAssertionCount)
		}
		return nil, err
	}

	// 5. Exactly one assertion, a direct child of the response, decrypted if need be.
	if assertions != 1 {
		return nil, fmt.Errorf("%w: found %d", ErrAssertionCount, assertions)
	}
	var a *etree.Element
	for _, c := range root.ChildElements() {
		if c.NamespaceURI() != NSAssertion {
			continue
		}
		switch c.Tag {
		case "Assertion":
			a = c
		case "EncryptedAssertion":
			if a, err = v.decrypt(c, res.ResponseSigned); err != nil {
				return nil, err
			}
			res.Encrypted = true
		}
	}
	if a == nil {
		return nil, fmt.Errorf("%w: the assertion is not a child of the response", ErrAssertionCount)
	}
	if samlcore.HasSignature(a) {
		if a.Parent() != nil {
			if a, err = samlcore.Detach(a); err != nil {
				return nil, err
			}
		}
		if err := samlcore.VerifyEnveloped(a, trusted, v.Algorithms.core(), now); err != nil {
			return nil, err
		}
		res.AssertionSigned = true
	}
	if !res.ResponseSigned && !res.AssertionSigned {
		return nil, fmt.Errorf("%w: neither the response nor the assertion is signed", ErrSignatureMissing)
	}
	if err := v.readAssertion(a, exp, now, res); err != nil {
		return nil, err
	}
	return res, nil
}

func (v *Validator) checkIssuer(el *etree.Element) error {
	iss, err := samlcore.OneChild(el, NSAssertion, "Issuer", false)
	if err != nil {
		return err
	}
	if iss == nil {
		return fmt.Errorf("%w: <%s> has no Issuer", ErrIssuer, el.Tag)
	}
	if f := samlcore.Attr(iss, "Format"); f != "" && f != NameIDEntity {
		return fmt.Errorf("%w: format %q", ErrIssuer, f)
	}
	val, err := samlcore.TextOf(iss)
	if err != nil {
		return err
	}
	if strings.TrimSpace(val) != v.Issuer {
		return fmt.Errorf("%w: %q", ErrIssuer, val)
	}
	return nil
}

// checkInstant refuses an IssueInstant from the future, and (for a response) one
// older than MaxAge.
func (v *Validator) checkInstant(el *etree.Element, now time.Time, ageCheck bool) error {
	t, err := samlcore.ParseInstant(el, "IssueInstant", true)
	if err != nil {
		return err
	}
	if t.After(now.Add(v.skew())) {
		return fmt.Errorf("%w: <%s> issued at %s", ErrNotYetValid, el.Tag, t.Format(time.RFC3339))
	}
	maxAge := v.MaxAge
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	if ageCheck && t.Add(maxAge+v.skew()).Before(now) {
		return fmt.Errorf("%w: <%s> issued at %s", ErrExpired, el.Tag, t.Format(time.RFC3339))
	}
	return nil
}

// readStatus returns nil for Success and a *StatusError otherwise.
func readStatus(root *etree.Element) error {
	st, err := samlcore.OneChild(root, NSProtocol, "Status", true)
	if err != nil {
		return err
	}
	se := &StatusError{}
	if sc, _ := samlcore.OneChild(st, NSProtocol, "StatusCode", false); sc != nil {
		se.Code = samlcore.Attr(sc, "Value")
		if sub, _ := samlcore.OneChild(sc, NSProtocol, "StatusCode", false); sub != nil {
			se.SubCode = samlcore.Attr(sub, "Value")
		}
	}
	if sm, _ := samlcore.OneChild(st, NSProtocol, "StatusMessage", false); sm != nil {
		se.Message, _ = samlcore.TextOf(sm)
	}
	if se.Code == StatusSuccess && se.SubCode == "" {
		return nil
	}
	return se
}

func (v *Validator) readAssertion(a *etree.Element, exp Expectation, now time.Time, res *Assertion) error {
	if err := samlcore.CheckVersionAndID(a); err != nil {
		return err
	}
	res.ID = samlcore.Attr(a, "ID")
	if err := v.checkIssuer(a); err != nil {
		return err
	}
	res.Issuer = v.Issuer
	if err := v.checkInstant(a, now, false); err != nil {
		return err
	}
	res.IssueInstant, _ = samlcore.ParseInstant(a, "IssueInstant", true)
	skew := v.skew()

	// Conditions: validity window, audience, one-time use.
	cond, err := samlcore.OneChild(a, NSAssertion, "Conditions", true)
	if err != nil {
		return err
	}
	nb, err := samlcore.ParseInstant(cond, "NotBefore", false)
	if err != nil {
		return err
	}
	if !nb.IsZero() && nb.After(now.Add(skew)) {
		return fmt.Errorf("%w: NotBefore %s", ErrNotYetValid, nb.Format(time.RFC3339))
	}
	noa, err := samlcore.ParseInstant(cond, "NotOnOrAfter", true)
	if err != nil {
		return err
	}
	if !now.Add(-skew).Before(noa) {
		return fmt.Errorf("%w: NotOnOrAfter %s", ErrExpired, noa.Format(time.RFC3339))
	}
	res.NotOnOrAfter = noa
	ars := samlcore.ChildNS(cond, NSAssertion, "AudienceRestriction")
	if len(ars) == 0 {
		return fmt.Errorf("%w: no AudienceRestriction", ErrAudience)
	}
	for _, ar := range ars {
		ok := false
		for _, au := range samlcore.ChildNS(ar, NSAssertion, "Audience") {
			if t, err := samlcore.TextOf(au); err == nil && strings.TrimSpace(t) == v.ACSURL {
				ok = true
			}
		}
		if !ok {
			return fmt.Errorf("%w: the audience is not %q", ErrAudience, v.ACSURL)
		}
	}
	res.OneTimeUse = len(samlcore.ChildNS(cond, NSAssertion, "OneTimeUse")) > 0

	// Subject and its bearer confirmation.
	subj, err := samlcore.OneChild(a, NSAssertion, "Subject", true)
	if err != nil {
		return err
	}
	nid, err := samlcore.OneChild(subj, NSAssertion, "NameID", true)
	if err != nil {
		return err
	}
	if res.NameID.Value, err = samlcore.TextOf(nid); err != nil {
		return err
	}
	if strings.TrimSpace(res.NameID.Value) == "" {
		return fmt.Errorf("%w: empty NameID", ErrIdentity)
	}
	res.NameID.Format = samlcore.Attr(nid, "Format")
	res.NameID.NameQualifier = samlcore.Attr(nid, "NameQualifier")
	scNoa, err := v.checkBearer(subj, exp, now)
	if err != nil {
		return err
	}
	if scNoa.Before(res.NotOnOrAfter) {
		res.NotOnOrAfter = scNoa
	}

	// Authentication statement and level of assurance.
	as, err := samlcore.OneChild(a, NSAssertion, "AuthnStatement", true)
	if err != nil {
		return err
	}
	if res.AuthnInstant, err = samlcore.ParseInstant(as, "AuthnInstant", true); err != nil {
		return err
	}
	if res.AuthnInstant.After(now.Add(skew)) {
		return fmt.Errorf("%w: AuthnInstant in the future", ErrNotYetValid)
	}
	res.SessionIndex = samlcore.Attr(as, "SessionIndex")
	ctx, err := samlcore.OneChild(as, NSAssertion, "AuthnContext", true)
	if err != nil {
		return err
	}
	ref, err := samlcore.OneChild(ctx, NSAssertion, "AuthnContextClassRef", true)
	if err != nil {
		return err
	}
	refText, err := samlcore.TextOf(ref)
	if err != nil {
		return err
	}
	loa, ok := ParseLoA(strings.TrimSpace(refText))
	if !ok || !strings.HasPrefix(strings.TrimSpace(refText), "http") {
		return fmt.Errorf("%w: unknown level %q", ErrLoA, refText)
	}
	if !exp.MinLoA.Valid() {
		// A request always names a level; an expectation without one has lost
		// track of what was asked, and any level would pass.
		return fmt.Errorf("%w: the expectation names no requested level", ErrLoA)
	}
	if loa < exp.MinLoA {
		return fmt.Errorf("%w: achieved %s, requested %s", ErrLoA, loa, exp.MinLoA)
	}
	res.LoA = loa

	// Attributes.
	seen := map[string]bool{}
	for _, st := range samlcore.ChildNS(a, NSAssertion, "AttributeStatement") {
		for _, at := range samlcore.ChildNS(st, NSAssertion, "Attribute") {
			attr := Attribute{Name: samlcore.Attr(at, "Name"), FriendlyName: samlcore.Attr(at, "FriendlyName")}
			if attr.Name == "" {
				return fmt.Errorf("%w: attribute without Name", ErrMalformed)
			}
			if seen[attr.Name] {
				return fmt.Errorf("%w: attribute %q given twice", ErrMalformed, attr.Name)
			}
			seen[attr.Name] = true
			for _, av := range samlcore.ChildNS(at, NSAssertion, "AttributeValue") {
				val, err := samlcore.TextOf(av)
				if err != nil {
					return err
				}
				attr.Values = append(attr.Values, val)
				if attr.XSIType == "" {
					attr.XSIType = xsiType(av)
				}
			}
			res.Attributes = append(res.Attributes, attr)
		}
	}
	if res.PersonIdentifier, err = personIdentifier(res.Attributes); err != nil {
		return err
	}
	return checkRequired(res.Attributes, exp.RequiredAttributes)
}

// personIdentifier returns the citizen's identifier, normalised: the value of
// the one PersonIdentifier attribute, which must have exactly one value, a
// valid DNI or NIE (check letter included) or an eIDAS identifier addressed to
// Spain. Nothing else stands in for it, the NameID least of all: with the
// attribute gone, a NameID naming someone else would log that person in while
// the names say another. Errors never echo the value (personal data).
func personIdentifier(attrs []Attribute) (string, error) {
	var at *Attribute
	for i := range attrs {
		if attrs[i].Name == AttrPersonIdentifier {
			at = &attrs[i] // readAssertion refuses the attribute twice
		}
	}
	switch {
	case at == nil:
		return "", fmt.Errorf("%w: no PersonIdentifier attribute", ErrIdentity)
	case len(at.Values) != 1:
		return "", fmt.Errorf("%w: PersonIdentifier has %d values", ErrIdentity, len(at.Values))
	}
	id, err := dni.Parse(at.Values[0])
	switch {
	case errors.Is(err, dni.ErrEmpty):
		return "", fmt.Errorf("%w: empty PersonIdentifier", ErrIdentity)
	case err != nil:
		return "", fmt.Errorf("%w: PersonIdentifier: %v", ErrIdentity, err)
	case id.Kind() == dni.KindEIDAS && !strings.HasPrefix(id.String()[2:], "/ES/"):
		// eIDAS identifiers are issued per destination country; one made
		// for another country's services is not for a Spanish one.
		return "", fmt.Errorf("%w: eIDAS PersonIdentifier not addressed to Spain", ErrIdentity)
	}
	return id.String(), nil
}

// checkRequired refuses a response without a non-blank value for each of the
// required attribute names.
func checkRequired(attrs []Attribute, required []string) error {
	for _, name := range required {
		present := false
		for _, at := range attrs {
			if at.Name != name {
				continue
			}
			for _, v := range at.Values {
				if strings.TrimSpace(v) != "" {
					present = true
				}
			}
		}
		if !present {
			return fmt.Errorf("%w: %s", ErrMissingAttribute, name)
		}
	}
	return nil
}

func xsiType(el *etree.Element) string {
	for _, a := range el.Attr {
		if a.Key == "type" && a.Space != "" && a.NamespaceURI() == NSXSI {
			return a.Value
		}
	}
	return ""
}

// checkBearer requires a bearer SubjectConfirmation addressed to this ACS, for
// this request, still valid. Address is deliberately ignored: the gateway writes
// an internal address of its own there, never the citizen's.
func (v *Validator) checkBearer(subj *etree.Element, exp Expectation, now time.Time) (time.Time, error) {
	var firstErr error
	fail := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
	}
	skew := v.skew()
	for _, sc := range samlcore.ChildNS(subj, NSAssertion, "SubjectConfirmation") {
		if samlcore.Attr(sc, "Method") != BearerMethod {
			fail(fmt.Errorf("%w: method %q", ErrSubjectConfirmation, samlcore.Attr(sc, "Method")))
			continue
		}
		scd, err := samlcore.OneChild(sc, NSAssertion, "SubjectConfirmationData", true)
		if err != nil {
			fail(fmt.Errorf("%w: %v", ErrSubjectConfirmation, err))
			continue
		}
		if r := samlcore.Attr(scd, "Recipient"); r != v.ACSURL {
			fail(fmt.Errorf("%w: %q", ErrRecipient, r))
			continue
		}
		if irt := samlcore.Attr(scd, "InResponseTo"); irt != exp.RequestID {
			fail(fmt.Errorf("%w: confirmation answers %q", ErrInResponseTo, irt))
			continue
		}
		if samlcore.HasAttr(scd, "NotBefore") {
			fail(fmt.Errorf("%w: bearer confirmation with NotBefore", ErrSubjectConfirmation))
			continue
		}
		noa, err := samlcore.ParseInstant(scd, "NotOnOrAfter", true)
		if err != nil {
			fail(err)
			continue
		}
		if !now.Add(-skew).Before(noa) {
			fail(fmt.Errorf("%w: confirmation NotOnOrAfter %s", ErrExpired, noa.Format(time.RFC3339)))
			continue
		}
		return noa, nil
	}
	if firstErr == nil {
		firstErr = fmt.Errorf("%w: none present", ErrSubjectConfirmation)
	}
	return time.Time{}, firstErr
}
