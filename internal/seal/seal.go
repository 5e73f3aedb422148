// Package seal encrypts and authenticates small values for cookies, so a
// service keeps login state in the browser and any replica sharing the secret
// can read it back.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// MinSecretLen is the shortest secret accepted.
const MinSecretLen = 32

// ErrInvalid is returned for any value that does not open: tampered, sealed
// under another secret or purpose, truncated, or expired.
var ErrInvalid = errors.New("seal: invalid or expired value")

// Sealer seals values with AES-256-GCM under a key derived from a secret and a
// purpose, so a login cookie can never be replayed as a session cookie.
type Sealer struct {
	aead cipher.AEAD
}

// New derives the key for purpose from secret.
func New(secret []byte, purpose string) (*Sealer, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("seal: secret must be at least %d bytes", MinSecretLen)
	}
	key, err := hkdf.Key(sha256.New, secret, nil, "clave seal v1 "+purpose, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

type envelope struct {
	Exp int64           `json:"e"`
	V   json.RawMessage `json:"v"`
}

// Seal encodes v as JSON, valid until exp, bound to name (the cookie name) so a
// value cannot be moved to another cookie.
func (s *Sealer) Seal(name string, v any, exp time.Time) (string, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	plain, err := json.Marshal(envelope{Exp: exp.Unix(), V: raw})
	if err != nil {
		return "", err
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, []byte(name))), nil
}

// Open reverses Seal, refusing values past their expiry at now.
func (s *Sealer) Open(name, value string, now time.Time, v any) error {
	if len(value) > 8192 {
		return ErrInvalid
	}
	data, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(data) < s.aead.NonceSize()+s.aead.Overhead() {
		return ErrInvalid
	}
	ns := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, data[:ns], data[ns:], []byte(name))
	if err != nil {
		return ErrInvalid
	}
	var env envelope
	if err := json.Unmarshal(plain, &env); err != nil {
		return ErrInvalid
	}
	if !now.Before(time.Unix(env.Exp, 0)) {
		return ErrInvalid
	}
	if err := json.Unmarshal(env.V, v); err != nil {
		return ErrInvalid
	}
	return nil
}
