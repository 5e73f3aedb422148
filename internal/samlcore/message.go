package samlcore

import (
	"fmt"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// OpenMessage parses a protocol message safely and checks what every message
// must have: the expected root in the protocol namespace, Version 2.0, an ID,
// unique IDs and no assertion out of place. It returns the root and the number
// of assertions (plain or encrypted) found.
func OpenMessage(data []byte, maxSize int, tag string) (*etree.Element, int, error) {
	doc, err := ParseXML(data, maxSize)
	if err != nil {
		return nil, 0, err
	}
	root := doc.Root()
	if root.Tag != tag || root.NamespaceURI() != NSProtocol {
		return nil, 0, fmt.Errorf("%w: <%s>", ErrUnexpectedRoot, root.FullTag())
	}
	if err := CheckVersionAndID(root); err != nil {
		return nil, 0, err
	}
	n, err := scanIDsAndAssertions(root)
	if err != nil {
		return nil, 0, err
	}
	return root, n, nil
}

// CheckVersionAndID requires Version="2.0" and a non-empty ID on el.
func CheckVersionAndID(el *etree.Element) error {
	if ver := Attr(el, "Version"); ver != "2.0" {
		return fmt.Errorf("%w: %q", ErrVersion, ver)
	}
	if Attr(el, "ID") == "" {
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

// HasSignature reports whether el has a ds:Signature child.
func HasSignature(el *etree.Element) bool {
	for _, c := range el.ChildElements() {
		if IsDS(c, "Signature") {
			return true
		}
	}
	return false
}

// IsDS reports whether el is the XML-DSig element tag.
func IsDS(el *etree.Element, tag string) bool {
	return el.Tag == tag && el.NamespaceURI() == NSDSig
}

// ChildNS returns the child elements of el named tag in namespace ns.
func ChildNS(el *etree.Element, ns, tag string) []*etree.Element {
	var out []*etree.Element
	for _, c := range el.ChildElements() {
		if c.Tag == tag && c.NamespaceURI() == ns {
			out = append(out, c)
		}
	}
	return out
}

// OneChild returns the only child with that name; none when optional is
// acceptable, and an error for duplicates, which would let two readers disagree.
func OneChild(el *etree.Element, ns, tag string, required bool) (*etree.Element, error) {
	cs := ChildNS(el, ns, tag)
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

// ParseInstant reads the xs:dateTime attribute name of el, which must carry a
// time zone. A missing attribute is the zero time, or ErrMissingElement when
// required.
func ParseInstant(el *etree.Element, name string, required bool) (time.Time, error) {
	s := Attr(el, name)
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

// AppendIssuer adds a saml2:Issuer of entity format to parent: the Issuer of
// every message both sides build but the gateway's LogoutResponse.
func AppendIssuer(parent *etree.Element, value string) {
	iss := parent.CreateElement("saml2:Issuer")
	iss.CreateAttr("Format", NameIDEntity)
	iss.SetText(value)
}

// StripSpace removes the whitespace base64 encoders insert.
func StripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, s)
}
