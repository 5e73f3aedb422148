// Package pinwire is the wire format of the app-native Cl@ve PIN API, shared
// by the SDK's PINClient and the reference gateway so that both sides cannot
// drift apart.
package pinwire

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
)

// A service's own app (not a browser) logs a
// citizen in through the service's back end, which calls the gateway with
// signed JSON and receives the same signed SAML Response a browser login
// would post to the ACS. The wire format lives here, shared by PINClient and
// the reference gateway, so that both sides cannot drift apart.
const (
	RequestPath = "/api/pin/v1/request"
	VerifyPath  = "/api/pin/v1/verify"

	// SignatureHeader authenticates a call: the service signs the exact body
	// bytes with its registered key, so no secret is shared with the gateway
	// beyond what SAML already uses.
	SignatureHeader = "Clave-Signature"
	SignatureAlg    = "rsa-sha256"

	// MaxBody bounds what the gateway reads before it has checked who
	// is calling.
	MaxBody = 8 << 10
	// MaxAnswer bounds what the client reads back: a signed, possibly
	// encrypted Response is a few tens of KiB.
	MaxAnswer = 1 << 20
)

// Error codes of the PIN API, in the "error" member of a non-200 answer.
const (
	CodeUnauthorized  = "unauthorized"
	CodeStale         = "stale"
	CodeReplayed      = "replayed"
	CodeTooLarge      = "too_large"
	CodeBadRequest    = "bad_request"
	CodeBadDocument   = "bad_document"
	CodeBadCode       = "bad_code"
	CodeBadACS        = "bad_acs_url"
	CodeBadRequestID  = "bad_request_id"
	CodeBadLoA        = "bad_loa"
	CodeRateLimited   = "rate_limited"
	CodeBlocked       = "blocked"
	CodeWrongPIN      = "wrong_pin"
	CodePhoneRequired = "phone_required"
	CodeLoANotReached = "loa_not_reached"
	CodeRequestReused = "request_reused"
	CodeInternal      = "internal"
	// CodeUnavailable: the gateway's storage failed; nothing was counted or
	// spent, and the same call may be retried.
	CodeUnavailable = "unavailable"
)

// Envelope is what every call carries to be authenticated and fresh.
type Envelope struct {
	SPID     string `json:"spid"`
	IssuedAt string `json:"issued_at"`
	Nonce    string `json:"nonce"`
}

// Request is the body of a PIN request. Fields are flat (no embedded
// envelope) so the strict decoder sees exactly the keys on the wire.
type Request struct {
	SPID     string `json:"spid"`
	IssuedAt string `json:"issued_at"`
	Nonce    string `json:"nonce"`
	Document string `json:"document"`
	Contrast string `json:"contrast"`
	Code     string `json:"code,omitempty"`
}

func (b *Request) Envelope() Envelope {
	return Envelope{SPID: b.SPID, IssuedAt: b.IssuedAt, Nonce: b.Nonce}
}

// Verify is the body of a PIN verification.
type Verify struct {
	SPID        string `json:"spid"`
	IssuedAt    string `json:"issued_at"`
	Nonce       string `json:"nonce"`
	Document    string `json:"document"`
	RequestCode string `json:"request_code"`
	PIN         string `json:"pin"`
	Phone       string `json:"phone,omitempty"`
	RequestID   string `json:"request_id"`
	ACSURL      string `json:"acs_url"`
	LoA         string `json:"loa"`
}

func (b *Verify) Envelope() Envelope {
	return Envelope{SPID: b.SPID, IssuedAt: b.IssuedAt, Nonce: b.Nonce}
}

type Ticket struct {
	RequestCode string    `json:"request_code"`
	ExpiresAt   time.Time `json:"expires_at"`
}

type Response struct {
	SAMLResponse string `json:"saml_response"`
}

type Failure struct {
	Error   string     `json:"error"`
	RetryAt *time.Time `json:"retry_at,omitempty"`
}

// Sign signs body with RSA PKCS#1 v1.5 over SHA-256, the scheme the
// gateway verifies, and returns it in standard base64.
func Sign(key crypto.Signer, body []byte) (string, error) {
	if _, ok := key.Public().(*rsa.PublicKey); !ok {
		return "", errors.New("pinwire: the signing key must be RSA")
	}
	sum := sha256.Sum256(body)
	// With crypto.SHA256 as options (not *rsa.PSSOptions) an RSA signer,
	// including HSM-backed ones, produces PKCS#1 v1.5.
	sig, err := key.Sign(rand.Reader, sum[:], crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("pinwire: signing a call: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}
