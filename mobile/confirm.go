package mobile

import (
	"bytes"
	"crypto/ed25519"
	"strconv"
	"strings"
	"time"
)

// Decision is the citizen's answer to a login request.
type Decision string

// The two answers a device can sign.
const (
	Confirm Decision = "confirm"
	Decline Decision = "decline"
)

const (
	// confirmationHeader opens every payload. It separates confirmations
	// from anything else a device key signs (the app API's calls), so that
	// no other signed message can be passed off as a confirmation.
	confirmationHeader = "clave-mobile-confirmation-v1"

	// maxPayloadLen bounds what is parsed: a canonical payload is far
	// shorter.
	maxPayloadLen = 1024

	// maxFieldLen bounds the identifiers in a payload.
	maxFieldLen = 128
)

// Confirmation is what a device signs to answer a request: it binds the
// login, the request and its one-time nonce, the decision and the time of
// signing, so that a signature is good for one answer to one request, for a
// few minutes.
type Confirmation struct {
	// LoginID is the gateway login the request belongs to.
	LoginID string

	// RequestID and Nonce are those of the [Request].
	RequestID, Nonce string

	// Decision is the citizen's answer.
	Decision Decision

	// At is when the device signed, to the second.
	At time.Time
}

// Payload returns the canonical bytes a device signs: six lines separated by
// "\n", with no trailing newline,
//
//	clave-mobile-confirmation-v1
//	login=<LoginID>
//	request=<RequestID>
//	nonce=<Nonce>
//	decision=confirm|decline
//	at=<At as decimal Unix seconds>
//
// The identifiers must be 1 to 128 characters of A-Z, a-z, 0-9, '-', '_' and
// '.', so that no field can carry a newline or an '=' into another. It
// fails with [ErrBadPayload] on any other input.
func (c Confirmation) Payload() ([]byte, error) {
	for _, f := range []string{c.LoginID, c.RequestID, c.Nonce} {
		if !validField(f) {
			return nil, ErrBadPayload
		}
	}
	if c.Decision != Confirm && c.Decision != Decline {
		return nil, ErrBadPayload
	}
	if c.At.Unix() < 0 {
		return nil, ErrBadPayload
	}
	return []byte(confirmationHeader +
		"\nlogin=" + c.LoginID +
		"\nrequest=" + c.RequestID +
		"\nnonce=" + c.Nonce +
		"\ndecision=" + string(c.Decision) +
		"\nat=" + strconv.FormatInt(c.At.Unix(), 10)), nil
}

// ParseConfirmation reads a payload made by [Confirmation.Payload]. Only the
// canonical form is accepted (field order, no extra spaces or lines, no
// leading zeros), so that one confirmation has exactly one encoding. It does
// not check any signature: see [VerifyConfirmation].
func ParseConfirmation(payload []byte) (Confirmation, error) {
	if len(payload) > maxPayloadLen {
		return Confirmation{}, ErrBadPayload
	}
	lines := strings.Split(string(payload), "\n")
	if len(lines) != 6 || lines[0] != confirmationHeader {
		return Confirmation{}, ErrBadPayload
	}
	var v [5]string
	for i, k := range []string{"login=", "request=", "nonce=", "decision=", "at="} {
		var ok bool
		if v[i], ok = strings.CutPrefix(lines[i+1], k); !ok {
			return Confirmation{}, ErrBadPayload
		}
	}
	secs, err := strconv.ParseInt(v[4], 10, 64)
	if err != nil {
		return Confirmation{}, ErrBadPayload
	}
	c := Confirmation{LoginID: v[0], RequestID: v[1], Nonce: v[2], Decision: Decision(v[3]), At: time.Unix(secs, 0).UTC()}
	// Re-encoding checks every field and rejects non-canonical numbers
	// ("+5", "05") in one place.
	again, err := c.Payload()
	if err != nil || !bytes.Equal(again, payload) {
		return Confirmation{}, ErrBadPayload
	}
	return c, nil
}

// SignConfirmation is what the phone does: it signs c's canonical payload
// with the device key, returning the payload and the signature to send.
func SignConfirmation(priv ed25519.PrivateKey, c Confirmation) (payload, sig []byte, err error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, nil, ErrBadKey
	}
	if payload, err = c.Payload(); err != nil {
		return nil, nil, err
	}
	return payload, ed25519.Sign(priv, payload), nil
}

// VerifyConfirmation checks that sig is pub's Ed25519 signature of payload
// and that payload is a canonical confirmation, and returns it. It returns
// [ErrBadKey], [ErrBadSignature] or [ErrBadPayload]. The signature is checked
// before the payload is parsed, so unsigned input reaches no parser.
//
// It says nothing of whether the confirmation is fresh, for this request,
// or from the right device: [Request.Decide] checks those.
func VerifyConfirmation(pub ed25519.PublicKey, payload, sig []byte) (Confirmation, error) {
	if len(pub) != ed25519.PublicKeySize {
		return Confirmation{}, ErrBadKey
	}
	if len(payload) > maxPayloadLen || !ed25519.Verify(pub, payload, sig) {
		return Confirmation{}, ErrBadSignature
	}
	return ParseConfirmation(payload)
}

// fresh reports whether a signed time at is within skew of now, either way.
func fresh(at, now time.Time, skew time.Duration) bool {
	return !at.Before(now.Add(-skew)) && !at.After(now.Add(skew))
}

func validField(s string) bool {
	if s == "" || len(s) > maxFieldLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
