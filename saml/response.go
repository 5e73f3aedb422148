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
	root, assertions, err := openMessage(data, v.MaxSize, "Response")
	if err != nil {
		return nil, err
	}
	now := v.now()
	trusted := v.Trust.Certificates()
	res := &Assertion{ResponseID: attr(root, "ID")}

	// 1. Signature of the response, if any. After this, root is exactly what was
	// signed (canonical, without the signature).
	if hasSignature(root) {
		if err := verifyEnveloped(root, trusted, v.Algorithms, now); err != nil {
			return nil, err
		}
		res.ResponseSigned = true
	}

	// 2. Correlation: the response answers this browser's request.
	if exp.RequestID == "" {
		return nil, fmt.Errorf("%w: no pending request", ErrInResponseTo)
	}
	if irt := attr(root, "InResponseTo"); irt != exp.RequestID {
		return nil, fmt.Errorf("%w: got %q", ErrInResponseTo, irt)
	}
	res.InResponseTo = exp.RequestID

	// 3. Addressing.
	if d := attr(root, "Destination"); d != v.ACSURL {
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
	if hasSignature(a) {
		if a.Parent() != nil {
			if a, err = detach(a); err != nil {
				return nil, err
			}
		}
		if err := verifyEnveloped(a, trusted, v.Algorithms, now); err != nil {
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

// openMessage parses a protocol message safely and checks what every message
// must have: the expected root in the protocol namespace, Version 2.0, an ID,
// unique IDs and no assertion out of place. It returns the root and the number
// of assertions (plain or encrypted) found.
func openMessage(data []byte, maxSize int, tag string) (*etree.Element, int, error) {
	doc, err := parseXML(data, maxSize)
	if err != nil {
		return nil, 0, err
	}
	root := doc.Root()
	if root.Tag != tag || root.NamespaceURI() != NSProtocol {
		return nil, 0, fmt.Errorf("%w: <%s>", ErrUnexpectedRoot, root.FullTag())
	}
	if err := checkVersionAndID(root); err != nil {
		return nil, 0, err
	}
	n, err := scanIDsAndAssertions(root)
	if err != nil {
		return nil, 0, err
	}
	return root, n, nil
}

func checkVersionAndID(el *etree.Element) error {
	if ver := attr(el, "Version"); ver != "2.0" {
		return fmt.Errorf("%w: %q", ErrVersion, ver)
	}
	if attr(el, "ID") == "" {
		return fmt.Errorf("%w: <%s> without ID", ErrMalformed, el.Tag)
	}
	return nil
}

// scanIDsAndAssertions refuses documents where two elements share an ID (a
// reference could then point at either) and counts assertions wherever they are:
// an assertion anywhere but as the response's child is a wrapping attempt, and is
// refused as one.
func scanIDsAndAssertions(root *etree.Element) (int, error) {
	ids := make(map[string]struct{}, 4)
	count := 0
	var walk func(el *etree.Element, depth int) error
	walk = func(el *etree.Element, depth int) error {
		for _, a := range el.Attr {
			if a.Key == "ID" && a.Space == "" {
				if _, dup := ids[a.Value]; dup {
					return fmt.Errorf("%w: duplicate ID %q", ErrWrapped, a.Value)
				}
				ids[a.Value] = struct{}{}
			}
		}
		if (el.Tag == "Assertion" || el.Tag == "EncryptedAssertion") && el.NamespaceURI() == NSAssertion {
			count++
			if depth != 1 {
				return fmt.Errorf("%w: assertion nested inside <%s>", ErrWrapped, el.Parent().Tag)
			}
		}
		for _, c := range el.ChildElements() {
			if err := walk(c, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	err := walk(root, 0)
	return count, err
}

func hasSignature(el *etree.Element) bool {
	for _, c := range el.ChildElements() {
		if isDS(c, "Signature") {
			return true
		}
	}
	return false
}

func childNS(el *etree.Element, ns, tag string) []*etree.Element {
	var out []*etree.Element
	for _, c := range el.ChildElements() {
		if c.Tag == tag && c.NamespaceURI() == ns {
			out = append(out, c)
		}
	}
	return out
}

// oneChild returns the only child with that name; none when optional is
// acceptable, and an error for duplicates, which would let two readers disagree.
func oneChild(el *etree.Element, ns, tag string, required bool) (*etree.Element, error) {
	cs := childNS(el, ns, tag)
	switch {
	case len(cs) > 1:
		return nil, fmt.Errorf("%w: more than one <%s> in <%s>", ErrMalformed, tag, el.Tag)
	case len(cs) == 0 && required:
		return nil, fmt.Errorf("%w: <%s> in <%s>", ErrMissingElement, tag, el.Tag)
	case len(cs) == 0:
		return nil, nil
	}
	return cs[0], nil
}

func (v *Validator) checkIssuer(el *etree.Element) error {
	iss, err := oneChild(el, NSAssertion, "Issuer", false)
	if err != nil {
		return err
	}
	if iss == nil {
		return fmt.Errorf("%w: <%s> has no Issuer", ErrIssuer, el.Tag)
	}
	if f := attr(iss, "Format"); f != "" && f != NameIDEntity {
		return fmt.Errorf("%w: format %q", ErrIssuer, f)
	}
	val, err := textOf(iss)
	if err != nil {
		return err
	}
	if strings.TrimSpace(val) != v.Issuer {
		return fmt.Errorf("%w: %q", ErrIssuer, val)
	}
	return nil
}

func parseInstant(el *etree.Element, name string, required bool) (time.Time, error) {
	s := attr(el, name)
	if s == "" {
		if required {
			return time.Time{}, fmt.Errorf("%w: %s on <%s>", ErrMissingElement, name, el.Tag)
		}
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %s %q is not an xs:dateTime with zone", ErrMalformed, name, s)
	}
	return t, nil
}

// checkInstant refuses an IssueInstant from the future, and (for a response) one
// older than MaxAge.
func (v *Validator) checkInstant(el *etree.Element, now time.Time, ageCheck bool) error {
	t, err := parseInstant(el, "IssueInstant", true)
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
	st, err := oneChild(root, NSProtocol, "Status", true)
	if err != nil {
		return err
	}
	se := &StatusError{}
	if sc, _ := oneChild(st, NSProtocol, "StatusCode", false); sc != nil {
		se.Code = attr(sc, "Value")
		if sub, _ := oneChild(sc, NSProtocol, "StatusCode", false); sub != nil {
			se.SubCode = attr(sub, "Value")
		}
	}
	if sm, _ := oneChild(st, NSProtocol, "StatusMessage", false); sm != nil {
		se.Message, _ = textOf(sm)
	}
	if se.Code == StatusSuccess && se.SubCode == "" {
		return nil
	}
	return se
}

func (v *Validator) readAssertion(a *etree.Element, exp Expectation, now time.Time, res *Assertion) error {
	if err := checkVersionAndID(a); err != nil {
		return err
	}
	res.ID = attr(a, "ID")
	if err := v.checkIssuer(a); err != nil {
		return err
	}
	res.Issuer = v.Issuer
	if err := v.checkInstant(a, now, false); err != nil {
		return err
	}
	res.IssueInstant, _ = parseInstant(a, "IssueInstant", true)
	skew := v.skew()

	// Conditions: validity window, audience, one-time use.
	cond, err := oneChild(a, NSAssertion, "Conditions", true)
	if err != nil {
		return err
	}
	nb, err := parseInstant(cond, "NotBefore", false)
	if err != nil {
		return err
	}
	if !nb.IsZero() && nb.After(now.Add(skew)) {
		return fmt.Errorf("%w: NotBefore %s", ErrNotYetValid, nb.Format(time.RFC3339))
	}
	noa, err := parseInstant(cond, "NotOnOrAfter", true)
	if err != nil {
		return err
	}
	if !now.Add(-skew).Before(noa) {
		return fmt.Errorf("%w: NotOnOrAfter %s", ErrExpired, noa.Format(time.RFC3339))
	}
	res.NotOnOrAfter = noa
	ars := childNS(cond, NSAssertion, "AudienceRestriction")
	if len(ars) == 0 {
		return fmt.Errorf("%w: no AudienceRestriction", ErrAudience)
	}
	for _, ar := range ars {
		ok := false
		for _, au := range childNS(ar, NSAssertion, "Audience") {
			if t, err := textOf(au); err == nil && strings.TrimSpace(t) == v.ACSURL {
				ok = true
			}
		}
		if !ok {
			return fmt.Errorf("%w: the audience is not %q", ErrAudience, v.ACSURL)
		}
	}
	res.OneTimeUse = len(childNS(cond, NSAssertion, "OneTimeUse")) > 0

	// Subject and its bearer confirmation.
	subj, err := oneChild(a, NSAssertion, "Subject", true)
	if err != nil {
		return err
	}
	nid, err := oneChild(subj, NSAssertion, "NameID", true)
	if err != nil {
		return err
	}
	if res.NameID.Value, err = textOf(nid); err != nil {
		return err
	}
	if strings.TrimSpace(res.NameID.Value) == "" {
		return fmt.Errorf("%w: empty NameID", ErrIdentity)
	}
	res.NameID.Format = attr(nid, "Format")
	res.NameID.NameQualifier = attr(nid, "NameQualifier")
	scNoa, err := v.checkBearer(subj, exp, now)
	if err != nil {
		return err
	}
	if scNoa.Before(res.NotOnOrAfter) {
		res.NotOnOrAfter = scNoa
	}

	// Authentication statement and level of assurance.
	as, err := oneChild(a, NSAssertion, "AuthnStatement", true)
	if err != nil {
		return err
	}
	if res.AuthnInstant, err = parseInstant(as, "AuthnInstant", true); err != nil {
		return err
	}
	if res.AuthnInstant.After(now.Add(skew)) {
		return fmt.Errorf("%w: AuthnInstant in the future", ErrNotYetValid)
	}
	res.SessionIndex = attr(as, "SessionIndex")
	ctx, err := oneChild(as, NSAssertion, "AuthnContext", true)
	if err != nil {
		return err
	}
	ref, err := oneChild(ctx, NSAssertion, "AuthnContextClassRef", true)
	if err != nil {
		return err
	}
	refText, err := textOf(ref)
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
	for _, st := range childNS(a, NSAssertion, "AttributeStatement") {
		for _, at := range childNS(st, NSAssertion, "Attribute") {
			attr := Attribute{Name: attr(at, "Name"), FriendlyName: attr(at, "FriendlyName")}
			if attr.Name == "" {
				return fmt.Errorf("%w: attribute without Name", ErrMalformed)
			}
			if seen[attr.Name] {
				return fmt.Errorf("%w: attribute %q given twice", ErrMalformed, attr.Name)
			}
			seen[attr.Name] = true
			for _, av := range childNS(at, NSAssertion, "AttributeValue") {
				val, err := textOf(av)
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
	for _, sc := range childNS(subj, NSAssertion, "SubjectConfirmation") {
		if attr(sc, "Method") != BearerMethod {
			fail(fmt.Errorf("%w: method %q", ErrSubjectConfirmation, attr(sc, "Method")))
			continue
		}
		scd, err := oneChild(sc, NSAssertion, "SubjectConfirmationData", true)
		if err != nil {
			fail(fmt.Errorf("%w: %v", ErrSubjectConfirmation, err))
			continue
		}
		if r := attr(scd, "Recipient"); r != v.ACSURL {
			fail(fmt.Errorf("%w: %q", ErrRecipient, r))
			continue
		}
		if irt := attr(scd, "InResponseTo"); irt != exp.RequestID {
			fail(fmt.Errorf("%w: confirmation answers %q", ErrInResponseTo, irt))
			continue
		}
		if hasAttr(scd, "NotBefore") {
			fail(fmt.Errorf("%w: bearer confirmation with NotBefore", ErrSubjectConfirmation))
			continue
		}
		noa, err := parseInstant(scd, "NotOnOrAfter", true)
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
