package permanente

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/clave-go/clave/internal/dni"
)

const (
	// CodeLength is the number of digits of an SMS code, so forms can size
	// their input field.
	CodeLength = 6

	// ActivationCodeLength is the number of characters of an activation
	// code, without the separators of its grouped form.
	ActivationCodeLength = 16

	// ActivationAlphabet holds the characters of activation codes: capital
	// letters and digits without 0, O, 1 and I, which are easily mistaken
	// for one another on a printed letter. Its 32 symbols give a code 80
	// bits.
	ActivationAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

	// activationGroup is the size of the groups of the displayed form.
	activationGroup = 4

	// ticketBytes is the entropy of a ticket: 256 bits, beyond guessing
	// with no limit on attempts.
	ticketBytes = 32

	// maxTypedLen bounds what is normalised from user input.
	maxTypedLen = 64
)

// Code is a freshly issued SMS code: the only copy in clear, to be sent to
// the citizen's phone and then dropped.
type Code struct {
	// Value is the 6 digits.
	Value string

	// ExpiresAt is the first instant at which the code no longer verifies,
	// for the countdown shown with it.
	ExpiresAt time.Time
}

// String hides the value, so that logging a Code does not leak it.
func (c Code) String() string {
	return "{Value:*** ExpiresAt:" + c.ExpiresAt.Format(time.RFC3339) + "}"
}

// GoString hides the value from %#v too.
func (c Code) GoString() string { return "permanente.Code" + c.String() }

// ActivationCode is a freshly issued activation code: the only copy in
// clear, to be printed on the citizen's letter or shown once to the citizen,
// and then dropped. The citizen keeps it: it also opens the
// forgotten-password flow.
type ActivationCode struct {
	// Value is the 16 characters from [ActivationAlphabet], ungrouped.
	Value string

	// IssuedAt is when it was issued; it does not expire, but a newer
	// code replaces it.
	IssuedAt time.Time
}

// Grouped returns the code as it is shown to the citizen, in groups of four
// joined by hyphens: "ABCD-EFGH-JKLM-NPQR". The hyphens are optional when
// it is typed back, and so are case and spaces.
func (c ActivationCode) Grouped() string {
	var b strings.Builder
	for i, r := range c.Value {
		if i > 0 && i%activationGroup == 0 {
			b.WriteByte('-')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// String hides the value, so that logging an ActivationCode does not leak
// it.
func (c ActivationCode) String() string {
	return "{Value:*** IssuedAt:" + c.IssuedAt.Format(time.RFC3339) + "}"
}

// GoString hides the value from %#v too.
func (c ActivationCode) GoString() string { return "permanente.ActivationCode" + c.String() }

// newActivationCode draws ActivationCodeLength symbols of the alphabet from
// r. The alphabet has 32 symbols, so the low 5 bits of a byte pick one
// uniformly.
func newActivationCode(r io.Reader) (string, error) {
	b := make([]byte, ActivationCodeLength)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("permanente: reading randomness: %w", err)
	}
	for i := range b {
		b[i] = ActivationAlphabet[b[i]&31]
	}
	return string(b), nil
}

// normaliseActivationCode turns a typed activation code into its canonical
// form: spaces, tabs, hyphens and dots dropped, letters upper-cased. ok is
// false when what remains is not ActivationCodeLength symbols of the
// alphabet.
func normaliseActivationCode(s string) (code string, ok bool) {
	if len(s) > maxTypedLen {
		return "", false
	}
	out := make([]byte, 0, ActivationCodeLength)
	for i := range len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '-' || c == '.':
			continue
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		}
		if strings.IndexByte(ActivationAlphabet, c) < 0 || len(out) == ActivationCodeLength {
			return "", false
		}
		out = append(out, c)
	}
	if len(out) != ActivationCodeLength {
		return "", false
	}
	return string(out), true
}

// randomDigits draws n decimal digits from r, uniformly: a byte at or above
// 250 is discarded rather than reduced, since reducing it would favour the
// digits 0 to 5.
func randomDigits(r io.Reader, n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, n)
	for len(out) < n {
		chunk := buf[:n-len(out)]
		if _, err := io.ReadFull(r, chunk); err != nil {
			return "", fmt.Errorf("permanente: reading randomness: %w", err)
		}
		for _, b := range chunk {
			if b < 250 {
				out = append(out, '0'+b%10)
			}
		}
	}
	return string(out), nil
}

// digits draws an SMS code under the lock.
func (s *Service) digits() (string, error) {
	s.randM.Lock()
	defer s.randM.Unlock()
	return randomDigits(s.cfg.Rand, CodeLength)
}

// activationCode draws an activation code under the lock.
func (s *Service) activationCode() (string, error) {
	s.randM.Lock()
	defer s.randM.Unlock()
	return newActivationCode(s.cfg.Rand)
}

// ticket draws a ticket: random, unpadded base64url, safe in a form field.
func (s *Service) ticket() (string, error) {
	b, err := s.random(ticketBytes)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// normaliseTyped prepares a typed SMS code for comparison: surrounding and
// inner spaces are dropped ("123 456" is what an SMS shows). It is not
// validated: a malformed code simply does not match.
func normaliseTyped(s string) string {
	if len(s) > maxTypedLen {
		return ""
	}
	return strings.ReplaceAll(strings.TrimSpace(s), " ", "")
}

// HMAC labels: each kind of secret is hashed under its own, so that an
// activation code's hash never matches an SMS code's or a ticket's.
const (
	labelActivation = "activation"
	labelSMS        = "sms"
	labelTicket     = "ticket"
	labelLogin      = "login"
)

// mac is HMAC-SHA256 under the service key of a label and parts, each
// preceded by its length as 4 big-endian bytes, so that no two different
// lists of parts give the same message whatever bytes they hold.
func (s *Service) mac(label string, parts ...string) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(label))
	var n [4]byte
	for _, p := range parts {
		binary.BigEndian.PutUint32(n[:], uint32(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	return h.Sum(nil)
}

// parseCitizen normalises a DNI or NIE, so that one citizen has one account
// however the identifier was written. eIDAS identifiers are refused: Cl@ve
// Permanente is for Spanish registrations only.
func parseCitizen(s string) (string, error) {
	id, err := dni.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadCitizen, err)
	}
	if k := id.Kind(); k != dni.KindDNI && k != dni.KindNIE {
		return "", ErrBadCitizen
	}
	return id.String(), nil
}
