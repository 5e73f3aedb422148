package method

import (
	"crypto/subtle"
	"errors"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/clave-go/clave/internal/calendar"
	"github.com/clave-go/clave/internal/dni"
	"github.com/clave-go/clave/saml"
)

// ErrInvalid is wrapped by every validation failure, so callers can tell bad
// input (show the form again) from a storage failure (retry or alert).
var ErrInvalid = errors.New("method: invalid citizen")

// FieldError names the field a validation failure is about, so a form can
// highlight it. Field uses the seed file's JSON names ("valid_until",
// "phone", ...). Reason never quotes the value, which may be personal data.
type FieldError struct {
	Field  string
	Reason string
}

// Error reads "method: invalid citizen <field>: <reason>".
func (e *FieldError) Error() string { return "method: invalid citizen " + e.Field + ": " + e.Reason }

// Unwrap lets errors.Is(err, ErrInvalid) hold for every field error.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// Level is how thoroughly the citizen's identity was checked at
// registration; it caps the LoA the gateway may assert and gates Cl@ve
// Firma, which basic users cannot use.
type Level string

const (
	// LevelBasic is registration by automatic video identification or by
	// invitation letter to the tax address.
	LevelBasic Level = "basic"
	// LevelAdvanced is registration checked with a certificate or DNIe, in
	// person, or by video reviewed by an employee.
	LevelAdvanced Level = "advanced"
)

// Status says whether the citizen may log in at all, independently of any
// method's own lockouts.
type Status string

const (
	// StatusActive citizens may log in.
	StatusActive Status = "active"
	// StatusBlocked citizens were locked out by an administrator or by
	// fraud rules; their registration is kept so it can be unblocked.
	StatusBlocked Status = "blocked"
	// StatusGaveUp citizens renounced Cl@ve from the app; the record stays so
	// that re-registration can be limited to in person or certificate.
	StatusGaveUp Status = "gave_up"
)

// LoA is the highest level of assurance a registration at l supports: an
// advanced registration substantial, a basic one low. Methods that prove
// possession of the registered phone or device (Cl@ve PIN, Cl@ve Móvil)
// reach it.
func (l Level) LoA() saml.LoA {
	if l == LevelAdvanced {
		return saml.LoASubstantial
	}
	return saml.LoALow
}

// Valid reports whether l is one of the registration levels.
func (l Level) Valid() bool { return l == LevelBasic || l == LevelAdvanced }

// Valid reports whether s is one of the statuses.
func (s Status) Valid() bool { return s == StatusActive || s == StatusBlocked || s == StatusGaveUp }

// Citizen is one registration. Dates (ValidUntil, IssuedOn, DateOfBirth) are
// calendar dates: stores keep only the year, month and day as seen in the
// value's own location and return them at midnight UTC.
type Citizen struct {
	// ID is a DNI or NIE in normalised form ("12345678Z", "X1234567L"):
	// digits, then the check letter, no separators. Stores normalise what
	// they are given ("12.345.678-z") and refuse anything else; eIDAS
	// citizens are vouched for by their own country and are never
	// registered here.
	ID string

	// ValidUntil is the DNI's expiry date, the contrast datum of a DNI.
	// A permanent DNI (holders over 70) shows 01-01-9999 instead.
	ValidUntil time.Time
	// IssuedOn is the DNI's issue date. A permanent DNI requires it, since
	// its validity date is the same for everyone and proves nothing.
	IssuedOn time.Time
	// SupportNumber is the NIE card's serial ('E' or 'C' and 8 digits), the
	// contrast datum of a NIE; empty for a DNI.
	SupportNumber string

	GivenName     string
	FirstSurname  string
	SecondSurname string // often empty for foreign residents
	DateOfBirth   time.Time

	// Phone is the Spanish mobile that receives SMS codes, kept in E.164
	// (+34XXXXXXXXX). Cl@ve allows one DNI/NIE per mobile number, so that an
	// SMS code proves who asked for it.
	Phone string
	Email string

	Level  Level
	Status Status

	// CreatedAt is the registration time; Cl@ve Firma refuses registrations
	// older than 5 years. Left zero, the store sets it on first Put and
	// keeps it on later ones.
	CreatedAt time.Time
}

const (
	// maxNameLen bounds each name field, far above real names, so that
	// stored rows and rendered pages stay small.
	maxNameLen = 100
	// maxEmailLen is the SMTP limit on a forward path.
	maxEmailLen = 254
	// maxContrastLen caps the work a typed contrast datum can cause.
	maxContrastLen = 64
)

// permanentValidity is the validity date printed on a permanent DNI.
var permanentValidity = time.Date(9999, time.January, 1, 0, 0, 0, 0, time.UTC)

// earliestBirth rejects dates of birth that are surely typing errors.
var earliestBirth = time.Date(1900, time.January, 1, 0, 0, 0, 0, time.UTC)

// kind is the document kind of c.ID, KindUnknown when it does not parse.
func (c Citizen) kind() dni.Kind {
	id, err := dni.Parse(c.ID)
	if err != nil {
		return dni.KindUnknown
	}
	return id.Kind()
}

// Masked is c.ID with all but its last four characters hidden
// ("*****678Z"), the only form of it fit for logs and pages.
func (c Citizen) Masked() string {
	id, err := dni.Parse(c.ID)
	if err != nil {
		return "(invalid)"
	}
	return id.Masked()
}

// FamilyNames is the eIDAS CurrentFamilyName the gateway asserts: both
// surnames separated by a space, or the only one a foreigner may have.
func (c Citizen) FamilyNames() string {
	first, second := strings.TrimSpace(c.FirstSurname), strings.TrimSpace(c.SecondSurname)
	if second == "" {
		return first
	}
	if first == "" {
		return second
	}
	return first + " " + second
}

// IsPermanentDNI reports whether the citizen's contrast datum is the issue
// date rather than the (shared, hence public) 01-01-9999 validity date.
func (c Citizen) IsPermanentDNI() bool {
	return c.kind() == dni.KindDNI && !c.ValidUntil.IsZero() && calendar.Date(c.ValidUntil).Equal(permanentValidity)
}

// MatchContrast checks the contrast datum typed in a login form, which
// proves the person holds the document rather than just knowing its number.
// For a DNI it is a date typed as dd/mm/yyyy, dd-mm-yyyy or yyyy-mm-dd,
// equal to ValidUntil, or to IssuedOn for a permanent DNI (whose 01-01-9999
// then does not match: everyone knows it). For a NIE it is the support
// number, ignoring case and spaces. The final comparison is constant-time so
// that response timing does not leak how much of a datum was right.
func (c Citizen) MatchContrast(datum string) bool {
	if len(datum) > maxContrastLen {
		return false
	}
	var got, want string
	switch c.kind() {
	case dni.KindDNI:
		d, ok := parseTypedDate(datum)
		if !ok {
			return false
		}
		expected := c.ValidUntil
		if c.IsPermanentDNI() {
			expected = c.IssuedOn
		}
		if expected.IsZero() {
			return false
		}
		got, want = d, calendar.Format(expected)
	case dni.KindNIE:
		got, want = normalizeSupport(datum), normalizeSupport(c.SupportNumber)
		if want == "" {
			return false
		}
	default:
		return false
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// typedDateLayouts are the forms citizens type dates in: Spanish order with
// either separator, and ISO as an HTML date input sends it.
var typedDateLayouts = []string{"02/01/2006", "02-01-2006", calendar.Layout}

func parseTypedDate(s string) (string, bool) {
	s = strings.TrimSpace(s)
	for _, layout := range typedDateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Format(calendar.Layout), true
		}
	}
	return "", false
}

// normalizeSupport drops spaces and uppercases, as dni.ValidSupportNumber
// tolerates both and citizens copy the number from a printed card.
func normalizeSupport(s string) string {
	return strings.ToUpper(strings.Join(strings.Fields(s), ""))
}

// NormalizePhone returns a Spanish mobile number in E.164 (+34XXXXXXXXX),
// the one form stored and compared, so that "600 000 000", "600-000-000",
// "0034600000000" and "+34600000000" are the same phone. Only mobile ranges
// (6 and 71–74) are accepted, since the number must receive SMS. Errors are
// a *FieldError for "phone", wrapping [ErrInvalid].
func NormalizePhone(s string) (string, error) {
	if len(s) > 32 {
		return "", &FieldError{Field: "phone", Reason: "too long"}
	}
	var b strings.Builder
	for _, r := range strings.TrimSpace(s) {
		switch {
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		case r == '+' && b.Len() == 0:
			b.WriteByte('0') // "+" is the international prefix "00"
			b.WriteByte('0')
		case '0' <= r && r <= '9':
			b.WriteRune(r)
		default:
			return "", &FieldError{Field: "phone", Reason: "only digits, spaces, '-', '.', '(', ')' and a leading '+' are allowed"}
		}
	}
	digits := b.String()
	switch {
	case len(digits) == 13 && strings.HasPrefix(digits, "0034"):
		digits = digits[4:]
	case len(digits) == 11 && strings.HasPrefix(digits, "34"):
		digits = digits[2:]
	}
	if len(digits) != 9 {
		return "", &FieldError{Field: "phone", Reason: "want a Spanish number of 9 digits, optionally after +34"}
	}
	if !(digits[0] == '6' || digits[0] == '7' && '1' <= digits[1] && digits[1] <= '4') {
		return "", &FieldError{Field: "phone", Reason: "not a Spanish mobile number (6XX or 71X-74X)"}
	}
	return "+34" + digits, nil
}

// Validate reports every problem with c at once, so a form can show them
// together: the result is an errors.Join of *FieldError values, each
// wrapping [ErrInvalid]. It accepts the forms stores normalise (a phone with
// spaces, a lowercase support number, dates in any location).
func (c Citizen) Validate() error {
	return c.Normalized().check()
}

// Normalized returns c in the form stores keep, so that every store agrees
// on what it returns and the phone uniqueness rule compares like with like:
// the identifier and phone in canonical form, dates as calendar dates at
// midnight UTC, names trimmed. What does not parse is kept as given, for
// Validate to report.
func (c Citizen) Normalized() Citizen {
	if p, err := NormalizePhone(c.Phone); err == nil {
		c.Phone = p
	}
	if c.kind() == dni.KindNIE || c.SupportNumber != "" {
		c.SupportNumber = normalizeSupport(c.SupportNumber)
	}
	c.ValidUntil = calendar.Date(c.ValidUntil)
	c.IssuedOn = calendar.Date(c.IssuedOn)
	c.DateOfBirth = calendar.Date(c.DateOfBirth)
	if !c.CreatedAt.IsZero() {
		c.CreatedAt = c.CreatedAt.UTC() // also drops the monotonic reading
	}
	if id, err := dni.Parse(c.ID); err == nil {
		c.ID = id.String()
	}
	c.GivenName = strings.TrimSpace(c.GivenName)
	c.FirstSurname = strings.TrimSpace(c.FirstSurname)
	c.SecondSurname = strings.TrimSpace(c.SecondSurname)
	c.Email = strings.TrimSpace(c.Email)
	return c
}

// check validates an already normalised citizen.
func (c Citizen) check() error {
	var errs []error
	bad := func(field, reason string) { errs = append(errs, &FieldError{Field: field, Reason: reason}) }

	switch c.kind() {
	case dni.KindDNI:
		if c.ValidUntil.IsZero() {
			bad("valid_until", "required for a DNI: it is the contrast datum")
		}
		if c.IsPermanentDNI() && c.IssuedOn.IsZero() {
			bad("issued_on", "required for a permanent DNI: its validity date proves nothing")
		}
		if c.SupportNumber != "" {
			bad("support_number", "only a NIE has a support number")
		}
	case dni.KindNIE:
		if !dni.ValidSupportNumber(c.SupportNumber) {
			bad("support_number", "a NIE needs its support number: E or C followed by 8 digits")
		}
	case dni.KindEIDAS:
		bad("id", "eIDAS citizens are identified by their own country, not registered here")
	default:
		bad("id", "missing")
	}
	if !c.IssuedOn.IsZero() && !c.ValidUntil.IsZero() && !c.IssuedOn.Before(c.ValidUntil) {
		bad("issued_on", "must be before valid_until")
	}

	checkName(bad, "given_name", c.GivenName, true)
	checkName(bad, "first_surname", c.FirstSurname, true)
	checkName(bad, "second_surname", c.SecondSurname, false)

	switch {
	case c.DateOfBirth.IsZero():
		bad("date_of_birth", "required")
	case c.DateOfBirth.Before(earliestBirth):
		bad("date_of_birth", "before 1900")
	case !c.IssuedOn.IsZero() && c.IssuedOn.Before(c.DateOfBirth):
		bad("date_of_birth", "after the document's issue date")
	case !c.CreatedAt.IsZero() && c.CreatedAt.Before(c.DateOfBirth):
		bad("date_of_birth", "after the registration date")
	}

	if _, err := NormalizePhone(c.Phone); err != nil {
		if c.Phone == "" {
			bad("phone", "required: SMS codes are sent to it")
		} else {
			errs = append(errs, err)
		}
	}
	checkEmail(bad, c.Email)

	if !c.Level.Valid() {
		bad("level", `must be "basic" or "advanced"`)
	}
	if !c.Status.Valid() {
		bad("status", `must be "active", "blocked" or "gave_up"`)
	}
	return errors.Join(errs...)
}

func checkName(bad func(field, reason string), field, s string, required bool) {
	switch {
	case s == "":
		if required {
			bad(field, "required")
		}
	case !utf8.ValidString(s):
		bad(field, "not valid UTF-8")
	case utf8.RuneCountInString(s) > maxNameLen:
		bad(field, "longer than 100 characters")
	case strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		// Control and bidi characters could make a name render misleadingly
		// on consent pages and in assertions.
		bad(field, "contains a non-printable character")
	}
}

func checkEmail(bad func(field, reason string), s string) {
	if s == "" {
		bad("email", "required: Cl@ve Permanente activation is sent to it")
		return
	}
	if len(s) > maxEmailLen {
		bad("email", "too long")
		return
	}
	// A display name or comments would be accepted by ParseAddress; only a
	// bare address is something we can send to.
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s || !strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".") {
		bad("email", "not a plain address like name@example.es")
	}
}
