package mobile

import (
	"crypto/hmac"
	"crypto/rand"
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
	// CodeLength is the number of digits of an SMS activation code and of
	// an SMS login PIN, so forms can size their input field.
	CodeLength = 6

	// VerificationCodeLength is the number of digits of the verification
	// code shown on the login page and in the app.
	VerificationCodeLength = 3

	// tokenBytes is the entropy of request IDs, device IDs and QR nonces:
	// 128 bits, beyond guessing even with no limit on attempts.
	tokenBytes = 16

	// secretBytes is the length of a request's verification-code secret.
	secretBytes = 32

	// maxTypedLen bounds what is normalised from user input.
	maxTypedLen = 64
)

// VerificationCode is the 3-digit code that the login page and the app both
// show, so that the citizen can tell that the request on the phone is the
// one on the screen. It is a pure function of the request, so page and app
// agree without trusting the channel between them:
//
//	digest = SHA-256( uint32be(len(secret)) || secret || requestID )
//	code   = uint64be(digest[0:8]) mod 1000, as 3 decimal digits, zero-padded
//
// where uint32be is the 4-byte big-endian length of secret and requestID is
// taken as its UTF-8 bytes. The length prefix, rather than a separator byte,
// keeps the split between a binary secret and the ID unambiguous. The
// reduction's bias (2^64 mod 1000 over 2^64) is below 10^-16.
//
// The gateway calls it with [Request.Secret] and [Request.ID]; the app, which
// receives the secret over its authenticated API, recomputes it.
func VerificationCode(secret []byte, requestID string) string {
	h := sha256.New()
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(secret)))
	h.Write(n[:])
	h.Write(secret)
	h.Write([]byte(requestID))
	sum := h.Sum(nil)
	return fmt.Sprintf("%03d", binary.BigEndian.Uint64(sum[:8])%1000)
}

// Code is a freshly issued activation code or SMS PIN: the only copy in
// clear, to be delivered to the citizen and then dropped.
type Code struct {
	// Value is the 6 digits; empty for a decoy.
	Value string

	// ExpiresAt is the first instant at which the code no longer verifies,
	// for the countdown shown with it.
	ExpiresAt time.Time
}

// String hides the value, so that logging a Code does not leak it.
func (c Code) String() string {
	return "{Value:*** ExpiresAt:" + c.ExpiresAt.Format(time.RFC3339) + "}"
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
			return "", fmt.Errorf("mobile: reading randomness: %w", err)
		}
		for _, b := range chunk {
			if b < 250 {
				out = append(out, '0'+b%10)
			}
		}
	}
	return string(out), nil
}

// token encodes random bytes as unpadded base64url, safe in URLs, QR codes
// and the confirmation payload.
func token(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// mac is HMAC-SHA256 under the service key of a label and parts, separated by
// NUL bytes. The label keeps an activation code's hash from ever matching a
// PIN's; none of the parts contains NUL (identifiers and digits), so no two
// different inputs give the same message.
func (s *Service) mac(label string, parts ...string) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(label))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return h.Sum(nil)
}

// decoyHash is a stored hash that no code matches. It is drawn from
// crypto/rand, not Config.Rand: a predictable decoy hash would be a code
// after all.
func decoyHash() ([]byte, error) {
	b := make([]byte, sha256.Size)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return b, nil
}

// normaliseTyped prepares a typed code for comparison: surrounding and inner
// spaces are dropped ("123 456" is what an SMS shows). It is not validated:
// a malformed code simply does not match.
func normaliseTyped(s string) string {
	if len(s) > maxTypedLen {
		return ""
	}
	return strings.ReplaceAll(strings.TrimSpace(s), " ", "")
}

// parseCitizen normalises a DNI or NIE, so that one citizen has one account
// however the identifier was written. eIDAS identifiers are refused: Cl@ve
// Móvil is for Spanish registrations only.
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
