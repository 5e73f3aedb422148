// Package dni parses and validates Spanish DNI and NIE numbers, and the
// eIDAS person identifiers presented by citizens of other EU countries, so
// the rest of clave can handle all three as one normalised, comparable value.
//
// Identifiers are personal data. Errors from this package never echo the
// input, and [ID.Masked] exists so that logs and user-facing pages can refer
// to a person without exposing the whole number.
package dni

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	// maxInputLen is far above any legitimate identifier (an eIDAS one is at
	// most 6+256 ASCII characters) and caps the work an attacker can cause.
	maxInputLen = 300

	// maxEIDASLen is the eIDAS limit on the part after "CC/CC/", in characters.
	maxEIDASLen = 256

	// maxNumber is the largest number that fits in the eight DNI digits.
	maxNumber = 99999999

	// checkLetters is indexed by the number modulo 23. I, Ñ, O and U are
	// missing on purpose: they are too easily confused with other glyphs.
	checkLetters = "TRWAGMYFPDXBNJZSQVHLCKE"

	// eidasPrefixLen is the length of "CC/CC/".
	eidasPrefixLen = 6

	// maskVisibleNational is how many trailing characters of a DNI or NIE
	// stay readable: enough for a person to recognise their own document,
	// too few to identify anyone.
	maskVisibleNational = 4

	// maskVisibleEIDAS is the eIDAS counterpart of maskVisibleNational; the
	// country prefix is also shown, so fewer identifier characters are.
	maskVisibleEIDAS = 3
)

// Sentinel errors, matched with [errors.Is]. Parse wraps them with context
// that never includes the input, so they are safe to log or show.
var (
	// ErrEmpty reports an input that is empty or only whitespace, which
	// callers usually want to treat as "not provided" rather than "invalid".
	ErrEmpty = errors.New("empty identifier")

	// ErrFormat reports an input whose shape is not that of any supported
	// identifier, as opposed to a well-formed one with the wrong letter.
	ErrFormat = errors.New("malformed identifier")

	// ErrCheckLetter reports a well-formed DNI or NIE whose letter does not
	// match its number, which is almost always a typing mistake.
	ErrCheckLetter = errors.New("check letter mismatch")

	// ErrTooLong reports an input rejected for its size alone, before any
	// parsing, so that oversized input cannot cost more than a length check.
	ErrTooLong = errors.New("identifier too long")
)

// Kind tells which document an [ID] comes from; they are issued by
// different authorities and are contrasted against different data.
type Kind int

const (
	// KindUnknown is the zero value, so that a zero [ID] is recognisably
	// unset instead of silently looking like a DNI.
	KindUnknown Kind = iota
	// KindDNI is the Documento Nacional de Identidad of Spanish citizens.
	KindDNI
	// KindNIE is the Número de Identidad de Extranjero of foreign residents.
	KindNIE
	// KindEIDAS is a person identifier asserted by another EU member
	// state's eIDAS node; Spain cannot validate it beyond its shape.
	KindEIDAS
)

// String returns the name users and auditors know the document by.
func (k Kind) String() string {
	switch k {
	case KindUnknown:
		return "unknown"
	case KindDNI:
		return "DNI"
	case KindNIE:
		return "NIE"
	case KindEIDAS:
		return "eIDAS"
	default:
		return "Kind(" + strconv.Itoa(int(k)) + ")"
	}
}

// ID is a validated, normalised identifier. Its fields are unexported so
// that every non-zero ID has passed [Parse]; IDs are comparable with ==
// because the value is normalised.
type ID struct {
	kind  Kind
	value string
}

// Parse validates s and returns it in normalised form, so that the same
// person always yields the same ID whatever way they typed their number.
//
// Leading and trailing whitespace is ignored. For a DNI or NIE, letters are
// uppercased, the separators ' ', '-' and '.' are dropped anywhere (so
// "12.345.678-z" is "12345678Z"), a DNI with fewer than eight digits is
// left-padded with zeros, and the check letter must match. An input of the
// form "CC/CC/rest", with two-letter origin and destination country codes,
// is an eIDAS identifier: only the country codes are uppercased, rest is
// kept verbatim and must be 1 to 256 printable characters.
//
// Errors wrap [ErrEmpty], [ErrFormat], [ErrCheckLetter] or [ErrTooLong].
func Parse(s string) (ID, error) {
	if len(s) > maxInputLen {
		return ID{}, fmt.Errorf("dni: input of %d bytes exceeds the %d-byte limit: %w", len(s), maxInputLen, ErrTooLong)
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return ID{}, fmt.Errorf("dni: nothing to parse: %w", ErrEmpty)
	}
	if hasEIDASPrefix(s) {
		return parseEIDAS(s)
	}
	return parseNational(s)
}

// MustParse is for identifiers known to be valid at compile time, such as
// test fixtures; it panics if [Parse] fails.
func MustParse(s string) ID {
	id, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return id
}

// Kind reports the document type, which decides how the identity provider
// contrasts the ID.
func (id ID) Kind() Kind { return id.kind }

// String returns the full normalised value, the form to store and compare.
// Use [ID.Masked] instead wherever the value may be seen by others.
func (id ID) String() string { return id.value }

// Masked hides most of the identifier so it can appear in logs and in the
// user's "My data" page. It keeps the length, and the last 4 characters of a
// DNI or NIE ("12345678Z" gives "*****678Z"). For eIDAS it keeps the
// "CC/CC/" prefix and the last 3 characters of the rest, but always hides at
// least one. Length is counted in characters (runes), as eIDAS identifiers
// may contain non-ASCII text. The zero ID masks to "".
func (id ID) Masked() string {
	switch id.kind {
	case KindDNI, KindNIE:
		return mask(id.value, maskVisibleNational)
	case KindEIDAS:
		rest := id.value[eidasPrefixLen:]
		visible := min(maskVisibleEIDAS, utf8.RuneCountInString(rest)-1)
		return id.value[:eidasPrefixLen] + mask(rest, visible)
	default:
		return ""
	}
}

// IsZero reports whether id was never set, e.g. an optional field that was
// left empty, since the zero ID is not a valid identifier.
func (id ID) IsZero() bool { return id.kind == KindUnknown }

// CheckLetter returns the DNI check letter of n. It is exported so that
// forms can suggest the right letter as the user types. For a NIE, pass the
// number obtained by replacing X, Y or Z with 0, 1 or 2.
//
// It panics if n is outside [0, 99999999]: no document has such a number,
// so the caller has a bug rather than bad input.
func CheckLetter(n int) byte {
	if n < 0 || n > maxNumber {
		panic("dni: CheckLetter argument out of range [0, 99999999]")
	}
	return checkLetters[n%len(checkLetters)]
}

// ValidSupportNumber reports whether s looks like a NIE support number (the
// serial of the residence card or certificate): 'E' or 'C' followed by 8
// digits. Case, surrounding whitespace and internal spaces are ignored,
// since users copy it from a printed card. It has no check digit, so only
// the shape can be validated here; the issuer confirms the rest.
func ValidSupportNumber(s string) bool {
	if len(s) > maxInputLen {
		return false
	}
	s = strings.TrimSpace(s)
	var buf [9]byte
	n := 0
	for i := range len(s) {
		c := s[i]
		if c == ' ' {
			continue
		}
		if n == len(buf) {
			return false
		}
		buf[n] = c
		n++
	}
	if n != len(buf) {
		return false
	}
	switch buf[0] {
	case 'E', 'e', 'C', 'c':
	default:
		return false
	}
	return allDigits(buf[1:])
}

func hasEIDASPrefix(s string) bool {
	return len(s) >= eidasPrefixLen &&
		isASCIILetter(s[0]) && isASCIILetter(s[1]) && s[2] == '/' &&
		isASCIILetter(s[3]) && isASCIILetter(s[4]) && s[5] == '/'
}

func parseEIDAS(s string) (ID, error) {
	rest := s[eidasPrefixLen:]
	if rest == "" {
		return ID{}, fmt.Errorf("dni: eIDAS identifier has nothing after the country codes: %w", ErrFormat)
	}
	// Checked up front because ranging over invalid UTF-8 yields U+FFFD,
	// which is printable and would otherwise slip through.
	if !utf8.ValidString(rest) {
		return ID{}, fmt.Errorf("dni: eIDAS identifier is not valid UTF-8: %w", ErrFormat)
	}
	n := 0
	for i, r := range rest {
		// IsPrint also rejects format characters such as bidi overrides,
		// which could make a logged identifier display misleadingly.
		if !unicode.IsPrint(r) {
			return ID{}, fmt.Errorf("dni: eIDAS identifier has a non-printable character at byte %d: %w", eidasPrefixLen+i, ErrFormat)
		}
		n++
		if n > maxEIDASLen {
			return ID{}, fmt.Errorf("dni: eIDAS identifier exceeds %d characters after the country codes: %w", maxEIDASLen, ErrTooLong)
		}
	}
	return ID{kind: KindEIDAS, value: strings.ToUpper(s[:eidasPrefixLen]) + rest}, nil
}

func parseNational(s string) (ID, error) {
	// Nine bytes hold the longest valid form, so anything more is rejected
	// without allocating.
	var buf [9]byte
	n := 0
	for i := range len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '-' || c == '.':
			continue
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		default:
			return ID{}, fmt.Errorf("dni: unexpected character at byte %d: %w", i, ErrFormat)
		}
		if n == len(buf) {
			return ID{}, fmt.Errorf("dni: more than %d characters besides separators: %w", len(buf), ErrFormat)
		}
		buf[n] = c
		n++
	}
	if n < 2 {
		return ID{}, fmt.Errorf("dni: want a number followed by a check letter: %w", ErrFormat)
	}
	letter := buf[n-1]
	if letter < 'A' || letter > 'Z' {
		return ID{}, fmt.Errorf("dni: last character must be the check letter: %w", ErrFormat)
	}
	body := buf[:n-1]

	var (
		kind  Kind
		num   int
		value string
	)
	switch body[0] {
	case 'X', 'Y', 'Z':
		digits := body[1:]
		if len(digits) != 7 || !allDigits(digits) {
			return ID{}, fmt.Errorf("dni: NIE needs exactly 7 digits between X, Y or Z and the check letter: %w", ErrFormat)
		}
		kind = KindNIE
		num = int(body[0]-'X')*10_000_000 + atoi(digits)
		value = string(buf[:n])
	default:
		if !allDigits(body) {
			return ID{}, fmt.Errorf("dni: DNI needs up to 8 digits before the check letter: %w", ErrFormat)
		}
		kind = KindDNI
		num = atoi(body)
		value = strings.Repeat("0", 8-len(body)) + string(buf[:n])
	}
	if CheckLetter(num) != letter {
		return ID{}, fmt.Errorf("dni: %s check letter does not match its number: %w", kind, ErrCheckLetter)
	}
	return ID{kind: kind, value: value}, nil
}

// mask replaces all but the last visible runes of s with '*'.
func mask(s string, visible int) string {
	cut := len(s)
	for range visible {
		_, size := utf8.DecodeLastRuneInString(s[:cut])
		cut -= size
	}
	return strings.Repeat("*", utf8.RuneCountInString(s[:cut])) + s[cut:]
}

func isASCIILetter(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z'
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// atoi expects only ASCII digits, at most 8 of them, so it cannot overflow.
func atoi(b []byte) int {
	n := 0
	for _, c := range b {
		n = n*10 + int(c-'0')
	}
	return n
}

// LogValue makes log/slog print the masked form, so a full identifier never
// reaches a log by accident.
func (id ID) LogValue() slog.Value { return slog.StringValue(id.Masked()) }
