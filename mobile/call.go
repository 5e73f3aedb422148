package mobile

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Headers of a device's signed call to the app API; see [SignCall].
const (
	HeaderDevice    = "Clave-Device"
	HeaderTime      = "Clave-Time"
	HeaderNonce     = "Clave-Nonce"
	HeaderSignature = "Clave-Signature"
)

// callLabel starts every signed call's canonical string, so that a
// signature over a call can never pass for a confirmation (which starts
// with its own label) or the other way round.
const callLabel = "clave-mobile-call-v1"

// Call is what a device signs for one call of the app API: the method, the
// path with its query, when, a unique nonce and the body's SHA-256. A
// signature is thus good for one call, once, for a few minutes.
type Call struct {
	Method, URI string
	At          time.Time
	Nonce       string
	Body        []byte
}

// CanonicalCall is the string a device signs for c, six lines separated by
// "\n", with no trailing newline:
//
//	clave-mobile-call-v1
//	<method, upper case>
//	<request URI: path and query, as sent>
//	<At as decimal Unix seconds>
//	<nonce>
//	<hex SHA-256 of the body>
//
// It fails with ErrBadPayload when the method, URI or nonce could carry a
// newline into another line, or the nonce is not 16 to 128 characters of
// A-Z, a-z, 0-9, '-', '_' and '.'.
func CanonicalCall(c Call) ([]byte, error) {
	if c.Method == "" || strings.ContainsAny(c.Method, "\r\n ") || !strings.HasPrefix(c.URI, "/") ||
		strings.ContainsAny(c.URI, "\r\n") || len(c.URI) > 2048 || len(c.Nonce) < 16 || !validField(c.Nonce) {
		return nil, ErrBadPayload
	}
	sum := sha256.Sum256(c.Body)
	return []byte(callLabel + "\n" + strings.ToUpper(c.Method) + "\n" + c.URI + "\n" +
		strconv.FormatInt(c.At.Unix(), 10) + "\n" + c.Nonce + "\n" + hex.EncodeToString(sum[:])), nil
}

// SignCall signs an app API request as device deviceID: it sets the four
// Clave-* headers on r, whose body is body (the caller sends the same
// bytes). nonce must be fresh for every call: 16 random bytes in base64url,
// say.
func SignCall(r *http.Request, deviceID string, priv ed25519.PrivateKey, at time.Time, nonce string, body []byte) error {
	if len(priv) != ed25519.PrivateKeySize {
		return ErrBadKey
	}
	msg, err := CanonicalCall(Call{Method: r.Method, URI: r.URL.RequestURI(), At: at, Nonce: nonce, Body: body})
	if err != nil {
		return err
	}
	r.Header.Set(HeaderDevice, deviceID)
	r.Header.Set(HeaderTime, strconv.FormatInt(at.Unix(), 10))
	r.Header.Set(HeaderNonce, nonce)
	r.Header.Set(HeaderSignature, base64.RawURLEncoding.EncodeToString(ed25519.Sign(priv, msg)))
	return nil
}

// VerifyCall checks the signature of an app API request r with body body
// against the device's key pub, and returns the call it signed: time and
// nonce, for [Service.CheckFresh]. It returns ErrBadPayload for missing or
// malformed headers and ErrBadSignature for a signature that does not
// verify. It checks neither freshness nor the device's status.
func VerifyCall(r *http.Request, pub ed25519.PublicKey, body []byte) (Call, error) {
	secs, err := strconv.ParseInt(r.Header.Get(HeaderTime), 10, 64)
	if err != nil || secs <= 0 || secs > 1<<40 {
		return Call{}, ErrBadPayload
	}
	c := Call{Method: r.Method, URI: r.URL.RequestURI(), At: time.Unix(secs, 0), Nonce: r.Header.Get(HeaderNonce), Body: body}
	msg, err := CanonicalCall(c)
	if err != nil {
		return Call{}, err
	}
	sig, err := base64.RawURLEncoding.DecodeString(r.Header.Get(HeaderSignature))
	if err != nil || len(sig) != ed25519.SignatureSize {
		return Call{}, ErrBadSignature
	}
	if len(pub) != ed25519.PublicKeySize {
		return Call{}, ErrBadKey
	}
	if !ed25519.Verify(pub, msg, sig) {
		return Call{}, ErrBadSignature
	}
	return c, nil
}

// qrPrefix starts every QR payload, naming the scheme and its version.
const qrPrefix = "CLAVEMOVIL:1:"

// QRPayload is the text of r's QR code: "CLAVEMOVIL:1:<request ID>:<nonce>".
// It names the request and carries its one-time nonce, which only the page
// shows; the app sends both back when the citizen scans (see
// [Service.Claim]). It is short, so the code stays readable at low
// resolution.
func QRPayload(r *Request) string { return qrPrefix + r.ID + ":" + r.Nonce }

// ParseQRPayload reads a payload made by [QRPayload]. It returns
// ErrBadPayload for anything else.
func ParseQRPayload(s string) (requestID, nonce string, err error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(s), qrPrefix)
	if !ok {
		return "", "", fmt.Errorf("%w: not a Cl@ve Móvil QR code", ErrBadPayload)
	}
	requestID, nonce, ok = strings.Cut(rest, ":")
	if !ok || !validField(requestID) || !validField(nonce) {
		return "", "", fmt.Errorf("%w: not a Cl@ve Móvil QR code", ErrBadPayload)
	}
	return requestID, nonce, nil
}
