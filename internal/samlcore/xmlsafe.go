package samlcore

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/beevik/etree"
)

// maxDepth bounds element nesting. A SAML response nests about ten levels; deep
// nesting only serves attacks on recursive consumers.
const maxDepth = 48

// maxAttrs bounds the attributes (namespace declarations included) of one
// element. A gateway response's busiest element has about fifteen; goxmldsig's
// canonicalisation sorts attributes with a comparison that scans them all, so a
// start tag with thousands costs seconds of CPU per digest.
const maxAttrs = 64

// ParseXML parses a SAML message into a tree and refuses everything our consumers
// could misread. encoding/xml (under etree) does not reject everything XML forbids,
// and some accepted inputs do not survive a serialise-and-parse round trip, which
// lets a signed document mean one thing to the signature check and another to the
// code that reads it. Instead of tokenising twice to compare, as round-trip
// validators do, the one tree we parse is walked once and must only contain
// constructs that round-trip by construction:
//   - exactly one document element;
//   - no DTD, no entity declarations, no directives of any kind;
//   - no processing instructions or comments inside the document element (comments
//     are dropped by canonicalisation, so "1234<!---->5678Z" would be signed as one
//     value and read as another);
//   - every element and attribute name a valid prefix:local pair without stray
//     colons, every prefix declared, no empty prefix binding, no duplicate
//     attribute (by name or by namespace);
//   - no character reference to a surrogate (encoding/xml reads &#xD800; as
//     U+FFFD instead of refusing it);
//   - UTF-8 only: etree would otherwise read a document declaring another
//     encoding as UTF-8, unlike a parser that honours the declaration;
//   - bounded depth, size and attributes per element, and work linear in the
//     size (a start tag with many attributes must not cost a pairwise
//     comparison).
func ParseXML(data []byte, maxSize int) (*etree.Document, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxMessageSize
	}
	if len(data) > maxSize {
		return nil, fmt.Errorf("%w: document of %d bytes", ErrTooLarge, len(data))
	}
	// A cheap early refusal: the decoder would report a DOCTYPE only as a token.
	if bytes.Contains(data, []byte("<!DOCTYPE")) || bytes.Contains(data, []byte("<!ENTITY")) {
		return nil, fmt.Errorf("%w: document type declarations are not allowed", ErrMalformed)
	}
	if err := checkCharRefs(data); err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	doc.ReadSettings = etree.ReadSettings{PreserveDuplicateAttrs: true, MaxDepth: maxDepth, CharsetReader: onlyUTF8}
	if err := doc.ReadFromBytes(data); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	root := doc.Root()
	if root == nil {
		return nil, fmt.Errorf("%w: no document element", ErrMalformed)
	}
	for _, t := range doc.Child {
		switch t := t.(type) {
		case *etree.Element:
			// encoding/xml reads on past the end of the first element; a second
			// one is not XML, and another parser might read it instead.
			if t != root {
				return nil, fmt.Errorf("%w: more than one document element", ErrMalformed)
			}
		case *etree.Directive:
			return nil, fmt.Errorf("%w: directives are not allowed", ErrMalformed)
		case *etree.ProcInst:
			if t.Target != "xml" {
				return nil, fmt.Errorf("%w: processing instruction %q", ErrMalformed, t.Target)
			}
		case *etree.CharData:
			if !t.IsWhitespace() {
				return nil, fmt.Errorf("%w: text outside the document element", ErrMalformed)
			}
		}
	}
	var scope nsScope
	if err := checkElement(root, &scope, 0); err != nil {
		return nil, err
	}
	return doc, nil
}

// onlyUTF8 is called by the decoder for any declared encoding but UTF-8.
func onlyUTF8(charset string, _ io.Reader) (io.Reader, error) {
	return nil, fmt.Errorf("encoding %q is not UTF-8", charset)
}

// checkCharRefs refuses character references to surrogates, which XML forbids
// and encoding/xml silently turns into U+FFFD.
func checkCharRefs(data []byte) error {
	for i := 0; ; {
		j := bytes.Index(data[i:], []byte("&#"))
		if j < 0 {
			return nil
		}
		i += j + 2
		base := 10
		if i < len(data) && (data[i] == 'x' || data[i] == 'X') {
			base, i = 16, i+1
		}
		n := 0
		for ; i < len(data) && n <= 0x10FFFF; i++ {
			d := strings.IndexByte("0123456789abcdef", data[i]|0x20)
			if d < 0 || d >= base {
				break
			}
			n = n*base + d
		}
		if n >= 0xD800 && n <= 0xDFFF {
			return fmt.Errorf("%w: character reference to a surrogate", ErrMalformed)
		}
	}
}

// nsScope holds the in-scope prefix bindings during the walk: a stack of URIs
// per prefix, so a lookup does not depend on how many prefixes are declared.
type nsScope struct {
	bound    map[string][]string
	declared []string // prefixes in declaration order, to unwind
}

func (s *nsScope) push(prefix, uri string) {
	if s.bound == nil {
		s.bound = make(map[string][]string)
	}
	s.bound[prefix] = append(s.bound[prefix], uri)
	s.declared = append(s.declared, prefix)
}

// unwind drops the bindings declared after the first mark ones.
func (s *nsScope) unwind(mark int) {
	for _, p := range s.declared[mark:] {
		s.bound[p] = s.bound[p][:len(s.bound[p])-1]
	}
	s.declared = s.declared[:mark]
}

func (s *nsScope) lookup(prefix string) (string, bool) {
	if uris := s.bound[prefix]; len(uris) > 0 {
		return uris[len(uris)-1], true
	}
	switch prefix {
	case "xml":
		return "http://www.w3.org/XML/1998/namespace", true
	case "":
		return "", true
	}
	return "", false
}

// attrName identifies an attribute for duplicate detection: by its literal
// name, and for a prefixed one also by namespace URI and local name.
type attrName struct {
	byURI      bool
	space, key string
}

func checkElement(el *etree.Element, scope *nsScope, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: nesting deeper than %d", ErrMalformed, maxDepth)
	}
	if !validNCName(el.Tag) || (el.Space != "" && !validNCName(el.Space)) {
		return fmt.Errorf("%w: invalid element name %q", ErrMalformed, el.FullTag())
	}
	if len(el.Attr) > maxAttrs {
		return fmt.Errorf("%w: <%s> has more than %d attributes", ErrMalformed, el.FullTag(), maxAttrs)
	}
	mark := len(scope.declared)
	for _, a := range el.Attr {
		switch {
		case a.Space == "xmlns":
			if !validNCName(a.Key) || a.Key == "xmlns" {
				return fmt.Errorf("%w: invalid namespace prefix %q", ErrMalformed, a.Key)
			}
			if a.Value == "" {
				return fmt.Errorf("%w: empty binding for prefix %q", ErrMalformed, a.Key)
			}
			if (a.Key == "xml") != (a.Value == "http://www.w3.org/XML/1998/namespace") {
				return fmt.Errorf("%w: misuse of the xml prefix", ErrMalformed)
			}
			scope.push(a.Key, a.Value)
		case a.Space == "" && a.Key == "xmlns":
			scope.push("", a.Value)
		}
	}
	if _, ok := scope.lookup(el.Space); !ok {
		return fmt.Errorf("%w: undeclared prefix %q", ErrMalformed, el.Space)
	}
	// Duplicates are found through a set, not by comparing pairs: one start
	// tag may carry tens of thousands of attributes.
	var seen map[attrName]struct{}
	if len(el.Attr) > 1 {
		seen = make(map[attrName]struct{}, 2*len(el.Attr))
	}
	dup := func(n attrName) bool {
		if seen == nil {
			return false
		}
		if _, ok := seen[n]; ok {
			return true
		}
		seen[n] = struct{}{}
		return false
	}
	for _, a := range el.Attr {
		if !validNCName(a.Key) || (a.Space != "" && !validNCName(a.Space)) {
			return fmt.Errorf("%w: invalid attribute name %q", ErrMalformed, a.FullKey())
		}
		d := dup(attrName{space: a.Space, key: a.Key})
		if a.Space != "" && a.Space != "xmlns" {
			uri, ok := scope.lookup(a.Space)
			if !ok {
				return fmt.Errorf("%w: undeclared prefix %q", ErrMalformed, a.Space)
			}
			d = dup(attrName{byURI: true, space: uri, key: a.Key}) || d
		}
		if d {
			return fmt.Errorf("%w: duplicate attribute %q", ErrMalformed, a.FullKey())
		}
	}
	for _, t := range el.Child {
		switch t := t.(type) {
		case *etree.Element:
			if err := checkElement(t, scope, depth+1); err != nil {
				return err
			}
		case *etree.Comment:
			return fmt.Errorf("%w: comments are not allowed inside the document element", ErrMalformed)
		case *etree.ProcInst:
			return fmt.Errorf("%w: processing instructions are not allowed", ErrMalformed)
		case *etree.Directive:
			return fmt.Errorf("%w: directives are not allowed", ErrMalformed)
		}
	}
	scope.unwind(mark)
	return nil
}

// validNCName reports whether s is a non-empty XML name without colons. It is
// deliberately stricter than XML for non-ASCII names only in requiring the first
// rune to be a letter or underscore.
func validNCName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || r >= 0x80:
		case i > 0 && (r == '-' || r == '.' || (r >= '0' && r <= '9')):
		default:
			return false
		}
	}
	return true
}

// TextOf returns the whole character content of a leaf element and refuses an
// element that has child elements: a value split by markup is a value nobody
// signed on purpose.
func TextOf(el *etree.Element) (string, error) {
	var b strings.Builder
	for _, t := range el.Child {
		switch t := t.(type) {
		case *etree.CharData:
			b.WriteString(t.Data)
		default:
			return "", fmt.Errorf("%w: unexpected content in <%s>", ErrMalformed, el.Tag)
		}
	}
	return b.String(), nil
}

// Attr returns the value of the unprefixed attribute name. etree's SelectAttr
// would also match "x:name" or "xmlns:name", letting a foreign attribute stand
// in for a protocol one.
func Attr(el *etree.Element, name string) string {
	for _, a := range el.Attr {
		if a.Space == "" && a.Key == name {
			return a.Value
		}
	}
	return ""
}

// HasAttr reports whether el has the unprefixed attribute name.
func HasAttr(el *etree.Element, name string) bool {
	for _, a := range el.Attr {
		if a.Space == "" && a.Key == name {
			return true
		}
	}
	return false
}
