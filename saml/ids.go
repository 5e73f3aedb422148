package saml

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"time"
)

// NewID returns a random SAML ID: an NCName (it starts with '_') carrying 160
// bits of randomness from r (crypto/rand when nil).
func NewID(r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	var b [20]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", err
	}
	return "_" + hex.EncodeToString(b[:]), nil
}

// FormatInstant writes an xs:dateTime in UTC with milliseconds, as the gateway
// does.
func FormatInstant(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}
