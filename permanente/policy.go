package permanente

import (
	"errors"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/clave-go/clave/internal/dni"
)

// Lengths of the password policy, counted in characters (Unicode code
// points), so forms can state them.
const (
	// MinPasswordLength is the shortest password accepted.
	MinPasswordLength = 8

	// ClassFreeLength is the length from which a password needs no mix of
	// character classes: a long passphrase is strong without one.
	ClassFreeLength = 16

	// MaxPasswordLength is the longest password accepted. It bounds the
	// work of checking and hashing what a form posts.
	MaxPasswordLength = 128

	// maxPasswordBytes is the most bytes MaxPasswordLength characters can
	// take in UTF-8; anything longer is refused before being looked at.
	maxPasswordBytes = MaxPasswordLength * utf8.UTFMax

	// minNamePart is the shortest part of a name that a password may not
	// contain; shorter ones ("Li", "de") would forbid too much.
	minNamePart = 3
)

// Rule names one rule of the password policy. The values are stable, so
// that pages can map them to messages in every language.
type Rule string

// The rules of the password policy, in the order [CheckPassword] reports
// them.
const (
	// RuleTooLong: more than MaxPasswordLength characters.
	RuleTooLong Rule = "too_long"
	// RuleControl: a control character (tab, newline, ...) or bytes that
	// are not UTF-8.
	RuleControl Rule = "control"
	// RuleTooShort: fewer than MinPasswordLength characters.
	RuleTooShort Rule = "too_short"
	// RuleNoLower: shorter than ClassFreeLength and no lower-case letter.
	RuleNoLower Rule = "no_lower"
	// RuleNoUpper: shorter than ClassFreeLength and no upper-case letter.
	RuleNoUpper Rule = "no_upper"
	// RuleNoDigit: shorter than ClassFreeLength and no digit.
	RuleNoDigit Rule = "no_digit"
	// RuleNoSpecial: shorter than ClassFreeLength and no character that is
	// neither a letter nor a digit.
	RuleNoSpecial Rule = "no_special"
	// RuleHasName: contains the citizen's given name or a surname.
	RuleHasName Rule = "has_name"
	// RuleHasID: contains the citizen's DNI or NIE.
	RuleHasID Rule = "has_id"
	// RuleReused: the citizen's current or previous password.
	RuleReused Rule = "reused"
)

var ruleText = map[Rule]string{
	RuleTooLong:   "is longer than 128 characters",
	RuleControl:   "contains control characters",
	RuleTooShort:  "is shorter than 8 characters",
	RuleNoLower:   "has no lower-case letter",
	RuleNoUpper:   "has no upper-case letter",
	RuleNoDigit:   "has no digit",
	RuleNoSpecial: "has no special character",
	RuleHasName:   "contains the citizen's name or surname",
	RuleHasID:     "contains the citizen's DNI or NIE",
	RuleReused:    "was used before",
}

// PolicyError reports one broken rule of the password policy. It matches
// [ErrWeakPassword] with [errors.Is]; [BrokenRules] lists every one in an
// error.
type PolicyError struct {
	// Rule is the broken rule.
	Rule Rule
}

// Error describes the rule in English; pages translate e.Rule instead.
func (e *PolicyError) Error() string {
	text, ok := ruleText[e.Rule]
	if !ok {
		text = "breaks rule " + string(e.Rule)
	}
	return "permanente: password " + text
}

// Is makes every PolicyError match ErrWeakPassword.
func (e *PolicyError) Is(target error) bool { return target == ErrWeakPassword }

// BrokenRules returns the rules of every [*PolicyError] in err's tree, in
// order, so that a form can list them all; nil if there is none.
func BrokenRules(err error) []Rule {
	var out []Rule
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
		case *PolicyError:
			out = append(out, e.Rule)
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				walk(inner)
			}
		default:
			walk(errors.Unwrap(err))
		}
	}
	walk(err)
	return out
}

// Profile is what the policy knows of the citizen choosing a password, from
// the registry.
type Profile struct {
	// GivenName, FirstSurname and SecondSurname are the citizen's names,
	// as registered; any may be empty.
	GivenName, FirstSurname, SecondSurname string

	// ID is the citizen's DNI or NIE. The Service fills it in.
	ID string
}

// nameParticles are the joining words of Spanish and other names that are
// not a name by themselves ("María del Mar", "de las Heras", "van der
// Berg"); the shorter ones are below minNamePart anyway.
var nameParticles = []string{"del", "las", "los", "dos", "das", "der", "den", "van", "von"}

// CheckPassword checks pw against the Cl@ve Permanente password policy for
// the citizen p describes, and returns nil or the [errors.Join] of one
// [*PolicyError] per broken rule, each matching [ErrWeakPassword]:
//
//   - [RuleTooLong]: at most MaxPasswordLength (128) characters. A password
//     of more than 512 bytes is refused with this rule alone, unread.
//   - [RuleControl]: no control characters, and valid UTF-8.
//   - [RuleTooShort]: at least MinPasswordLength (8) characters.
//   - [RuleNoLower], [RuleNoUpper], [RuleNoDigit], [RuleNoSpecial]: below
//     ClassFreeLength (16) characters, a lower-case letter, an upper-case
//     letter, a digit and a special character (anything that is neither a
//     letter nor a digit, space included). Letters are Unicode letters: ñ,
//     Ñ, ç, à, É and the like count as lower or upper case. From 16
//     characters on there is no class rule.
//   - [RuleHasName]: not containing the given name or either surname.
//     Each name is split into its words ("María José", "García-Pelayo"),
//     and words shorter than 3 letters and the particles "del", "las",
//     "los", ... are ignored. The comparison ignores case, accents and
//     everything in pw that is not a letter or digit, so "GARC-IA" and
//     "garcía" both contain "García".
//   - [RuleHasID]: not containing the DNI or NIE, with or without its
//     check letter, compared the same way.
//
// Characters are counted as Unicode code points; the password is never
// altered (no trimming or normalisation): what the citizen types is what is
// hashed. The one rule not checked here is [RuleReused], which needs the
// stored hashes: the [Service] adds it.
func CheckPassword(pw string, p Profile) error {
	if len(pw) > maxPasswordBytes {
		return errors.Join(&PolicyError{Rule: RuleTooLong})
	}
	var broken []Rule
	n := utf8.RuneCountInString(pw)
	if n > MaxPasswordLength {
		broken = append(broken, RuleTooLong)
	}
	var lower, upper, digit, special, control bool
	for _, r := range pw {
		switch {
		case r == utf8.RuneError, unicode.IsControl(r): // RuneError: bytes that are not UTF-8
			control = true
		case unicode.IsLower(r):
			lower = true
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsDigit(r):
			digit = true
		case unicode.IsLetter(r), unicode.IsMark(r), unicode.IsNumber(r):
			// Letters without case (and combining accents, and numerals
			// other than digits) are allowed but fill no class.
		default:
			special = true
		}
	}
	if control {
		broken = append(broken, RuleControl)
	}
	if n < MinPasswordLength {
		broken = append(broken, RuleTooShort)
	}
	if n < ClassFreeLength {
		for _, c := range []struct {
			has  bool
			rule Rule
		}{{lower, RuleNoLower}, {upper, RuleNoUpper}, {digit, RuleNoDigit}, {special, RuleNoSpecial}} {
			if !c.has {
				broken = append(broken, c.rule)
			}
		}
	}
	skeleton := fold(pw)
	if containsName(skeleton, p.GivenName, p.FirstSurname, p.SecondSurname) {
		broken = append(broken, RuleHasName)
	}
	if containsID(skeleton, p.ID) {
		broken = append(broken, RuleHasID)
	}
	return policyErrors(broken)
}

// policyErrors joins one PolicyError per rule; nil for none.
func policyErrors(rules []Rule) error {
	errs := make([]error, len(rules))
	for i, r := range rules {
		errs[i] = &PolicyError{Rule: r}
	}
	return errors.Join(errs...)
}

// containsName reports whether skeleton contains a word of one of names.
func containsName(skeleton string, names ...string) bool {
	for _, name := range names {
		words := strings.FieldsFunc(name, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsMark(r) })
		for _, w := range words {
			f := fold(w)
			if utf8.RuneCountInString(f) < minNamePart || slices.Contains(nameParticles, f) {
				continue
			}
			if strings.Contains(skeleton, f) {
				return true
			}
		}
	}
	return false
}

// containsID reports whether skeleton contains id with or without its last
// character, the check letter of a DNI or NIE. An id that does not parse is
// compared as written.
func containsID(skeleton, id string) bool {
	if parsed, err := dni.Parse(id); err == nil {
		id = parsed.String()
	}
	f := fold(id)
	if utf8.RuneCountInString(f) < minNamePart {
		return false
	}
	_, last := utf8.DecodeLastRuneInString(f)
	return strings.Contains(skeleton, f) || strings.Contains(skeleton, f[:len(f)-last])
}

// fold reduces s to its lower-case letters and digits without accents, the
// form in which names and identifiers are looked for: "García-Núñez" becomes
// "garcianunez". Combining accents (the decomposed "a" + U+0301) are dropped
// with the rest.
func fold(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			continue
		}
		r = unicode.ToLower(r)
		if base, ok := unaccented[r]; ok {
			r = base
		}
		b.WriteRune(r)
	}
	return b.String()
}

// unaccented maps the lower-case accented Latin letters of the languages of
// Spain and its neighbours to their base letter.
var unaccented = func() map[rune]rune {
	m := make(map[rune]rune)
	for base, accented := range map[rune]string{
		'a': "àáâãäåāăą",
		'c': "çćĉċč",
		'e': "èéêëēĕėęě",
		'i': "ìíîïĩīĭįı",
		'l': "ŀł",
		'n': "ñńņň",
		'o': "òóôõöøōŏő",
		'u': "ùúûüũūŭůűų",
		'y': "ýÿ",
		's': "śŝşš",
		'z': "źżž",
	} {
		for _, r := range accented {
			m[r] = base
		}
	}
	return m
}()
