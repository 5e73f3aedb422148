package app

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// checkLetters is the DNI/NIE control-letter table: the letter is
// checkLetters[number mod 23].
const checkLetters = "TRWAGMYFPDXBNJZSQVHLCKE"

var (
	dniRe     = regexp.MustCompile(`^([0-9]{8})([A-Z])$`)
	nieRe     = regexp.MustCompile(`^([XYZ])([0-9]{7})([A-Z])$`)
	supportRe = regexp.MustCompile(`^[EC][0-9]{8}$`)
	dateRe    = regexp.MustCompile(`^[0-9]{2}/[0-9]{2}/[0-9]{4}$`)
)

// Why a saved user was refused, in words a citizen can act on.
var (
	errDocumentFormat = errors.New("El DNI debe tener 8 números y una letra (12345678Z); el NIE, una X, Y o Z, 7 números y una letra (X1234567L).")
	errDocumentLetter = errors.New("La letra del DNI/NIE no corresponde a sus números: revísela en su documento.")
	errDateFormat     = errors.New("La fecha de validez debe escribirse como dd/mm/aaaa y ser una fecha real (por ejemplo 01/01/2030); si su DNI es permanente, escriba su fecha de expedición.")
	errSupportFormat  = errors.New("El número de soporte del NIE es una E o una C seguida de 8 números (E12345678); figura en su tarjeta.")
	errLabelLength    = errors.New("El nombre para reconocerlo no puede pasar de 60 caracteres.")
)

// normalizeDocument turns what a citizen typed ("12.345.678-z") into the
// bare form the gateway uses ("12345678Z").
func normalizeDocument(s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	return strings.NewReplacer(" ", "", ".", "", "-", "").Replace(s)
}

// validDocument checks a DNI or NIE and its control letter, and tells
// whether it is a NIE, whose contrast datum is a support number.
func validDocument(doc string) (nie bool, err error) {
	var digits string
	var letter byte
	if m := dniRe.FindStringSubmatch(doc); m != nil {
		digits, letter = m[1], m[2][0]
	} else if m := nieRe.FindStringSubmatch(doc); m != nil {
		// X, Y and Z stand for 0, 1 and 2 in front of the digits.
		digits, letter, nie = strconv.Itoa(strings.Index("XYZ", m[1]))+m[2], m[3][0], true
	} else {
		return false, errDocumentFormat
	}
	n, _ := strconv.Atoi(digits)
	if checkLetters[n%23] != letter {
		return nie, errDocumentLetter
	}
	return nie, nil
}

// validContrast checks the contrast datum's format: a date for a DNI
// (validity, or issue for a permanent DNI), a support number for a NIE.
// Whether it matches the citizen's is for the gateway to know, and it never
// says.
func validContrast(contrast string, nie bool) (string, error) {
	c := strings.ToUpper(strings.TrimSpace(contrast))
	if nie && supportRe.MatchString(c) {
		return c, nil
	}
	if !dateRe.MatchString(c) {
		if nie {
			return "", errSupportFormat
		}
		return "", errDateFormat
	}
	if _, err := time.Parse("02/01/2006", c); err != nil {
		return "", errDateFormat
	}
	return c, nil
}

// savedUserInput is a saved user as typed in the form.
type savedUserInput struct {
	Document, Contrast, Label string
}

// check normalizes in and returns it, or the errors to show beside each
// field.
func (in savedUserInput) check() (savedUserInput, map[string]string) {
	errs := map[string]string{}
	out := savedUserInput{Document: normalizeDocument(in.Document), Label: strings.TrimSpace(in.Label)}
	nie, err := validDocument(out.Document)
	if err != nil {
		errs["document"] = err.Error()
	}
	if c, err := validContrast(in.Contrast, nie); err != nil {
		errs["contrast"] = err.Error()
	} else {
		out.Contrast = c
	}
	if len([]rune(out.Label)) > 60 {
		errs["label"] = errLabelLength.Error()
	}
	if out.Label == "" {
		out.Label = maskDocument(out.Document)
	}
	return out, errs
}

// maskDocument hides all but the last four characters: *****678Z, as the
// Cl@ve app shows it.
func maskDocument(doc string) string {
	if len(doc) <= 4 {
		return doc
	}
	return strings.Repeat("*", len(doc)-4) + doc[len(doc)-4:]
}
