package pin

import (
	"fmt"
	"io"
	"strings"
)

const (
	// PINLength is the number of characters of a PIN, so forms can size
	// their input field.
	PINLength = 3

	// RequestCodeLength is the number of characters of a request code,
	// whether the system made it or the citizen chose it.
	RequestCodeLength = 4
)

const (
	// alphabet is the RFC 4648 base32 alphabet: it leaves out 0, 1, 8 and 9
	// so that a PIN read on a phone screen cannot be confused with O, I or B.
	alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

	// maxTypedLen bounds what is normalised from user input; anything longer
	// cannot be a code or a PIN, and is not worth the work.
	maxTypedLen = 64
)

// newPIN draws a PIN from r.
func newPIN(r io.Reader) (string, error) { return randomString(r, alphabet, PINLength) }

// newRequestCode draws a system-made request code from r. It uses the PIN
// alphabet so that both codes a citizen reads look alike.
func newRequestCode(r io.Reader) (string, error) {
	return randomString(r, alphabet, RequestCodeLength)
}

// randomString draws n symbols of alph from r, uniformly. A byte at or above
// the largest multiple of len(alph) is discarded rather than reduced, since
// reducing it would favour the first symbols (modulo bias). With the 32-symbol
// alphabet no byte is ever discarded, but the loop keeps the function correct
// for any alphabet of at most 256 symbols.
func randomString(r io.Reader, alph string, n int) (string, error) {
	limit := 256 - 256%len(alph)
	out := make([]byte, 0, n)
	buf := make([]byte, n)
	for len(out) < n {
		chunk := buf[:n-len(out)]
		if _, err := io.ReadFull(r, chunk); err != nil {
			return "", fmt.Errorf("pin: reading randomness: %w", err)
		}
		for _, b := range chunk {
			if int(b) < limit {
				out = append(out, alph[int(b)%len(alph)])
			}
		}
	}
	return string(out), nil
}

// normaliseRequestCode accepts what a citizen types as a chosen request code.
// Digits are allowed (unlike in system-made codes) because citizens pick
// memorable codes such as years.
func normaliseRequestCode(s string) (string, bool) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if len(s) != RequestCodeLength {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return "", false
		}
	}
	return s, true
}

// normaliseTypedCode prepares a request code typed at verification. It is
// not validated: a malformed code simply matches no pending PIN, which must
// look the same to the citizen as a wrong one.
func normaliseTypedCode(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > maxTypedLen {
		return ""
	}
	return strings.ToUpper(s)
}

// normalisePIN prepares a typed PIN for comparison. The digits that the
// alphabet leaves out are read as the letters they resemble, so that a
// citizen who types a zero for an O is not counted as a failed attempt.
func normalisePIN(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > maxTypedLen {
		return ""
	}
	return strings.NewReplacer("0", "O", "1", "I", "8", "B").Replace(strings.ToUpper(s))
}
