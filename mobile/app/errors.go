package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Errors of the app API, one per stable error code of the wire contract.
// An [*APIError] matches the one of its code with [errors.Is]:
//
//	if errors.Is(err, app.ErrReplay) { ... }
var (
	// ErrBadRequest (bad_request) reports a malformed call: a missing or
	// invalid field, an invalid DNI/NIE, a bad query parameter.
	ErrBadRequest = errors.New("app: bad request")

	// ErrTooLarge (too_large) reports a request body over the server's
	// limit.
	ErrTooLarge = errors.New("app: request too large")

	// ErrUnauthenticated (unauthenticated) reports a signed call the server
	// could not attribute: missing headers or an unknown device.
	ErrUnauthenticated = errors.New("app: unauthenticated")

	// ErrBadSignature (bad_signature) reports a call whose signature does
	// not verify under the device's key.
	ErrBadSignature = errors.New("app: bad call signature")

	// ErrStale (stale) reports a call signed too far from the server's
	// clock: the phone's clock is off.
	ErrStale = errors.New("app: call time outside the allowed skew")

	// ErrReplay (replay) reports a call nonce the server has already seen.
	ErrReplay = errors.New("app: replayed call")

	// ErrDeviceInactive (device_inactive) reports that this phone was
	// deactivated, or replaced by another activated for the citizen.
	ErrDeviceInactive = errors.New("app: device not active")

	// ErrWrongCode (wrong_code) reports a wrong SMS activation code;
	// attempts remain.
	ErrWrongCode = errors.New("app: wrong activation code")

	// ErrTooManyAttempts (too_many_attempts) reports a code spent by
	// failed attempts, or a rate limit reached.
	ErrTooManyAttempts = errors.New("app: too many attempts")

	// ErrNoCode (no_code) reports an activation with no SMS code
	// outstanding: ask for one first.
	ErrNoCode = errors.New("app: no activation code outstanding")

	// ErrExpired (expired) reports a code or login request past its
	// validity.
	ErrExpired = errors.New("app: expired")

	// ErrBadProof (bad_proof) reports a certificate chain, DNIe card, CAN
	// or proof signature the gateway refused.
	ErrBadProof = errors.New("app: activation proof refused")

	// ErrNotFound (not_found) reports an unknown request or a QR code
	// that does not (or no longer) name one.
	ErrNotFound = errors.New("app: no such request")

	// ErrClaimed (claimed) reports a QR code already scanned by another
	// citizen's phone.
	ErrClaimed = errors.New("app: request already scanned by another citizen")

	// ErrNotClaimed (not_claimed) reports a decision on a QR request that
	// this phone never scanned.
	ErrNotClaimed = errors.New("app: request not scanned")

	// ErrAlreadyDecided (already_decided) reports a request already
	// confirmed or declined.
	ErrAlreadyDecided = errors.New("app: request already decided")

	// ErrMismatch (mismatch) reports a confirmation signed for another
	// login, request or nonce.
	ErrMismatch = errors.New("app: confirmation is for another request")

	// ErrBadConfirmation (bad_confirmation) reports a confirmation the
	// server could not read or verify.
	ErrBadConfirmation = errors.New("app: confirmation refused")

	// ErrWrongDevice (wrong_device) reports a request of another citizen.
	ErrWrongDevice = errors.New("app: request belongs to another citizen")

	// ErrMethodNotAllowed (method_not_allowed) reports a call with the
	// wrong HTTP method: a client and server of different versions.
	ErrMethodNotAllowed = errors.New("app: method not allowed")

	// ErrUnavailable (unavailable) reports a failure of the gateway's
	// storage: nothing was counted against the citizen; try again later.
	ErrUnavailable = errors.New("app: gateway unavailable")
)

// Errors the app finds itself, which are no error code of the API.
var (
	// ErrWrongPassphrase reports a passphrase that does not open the
	// phone's key. The authenticated encryption cannot tell a wrong
	// passphrase from a state file altered by someone (its key, or the
	// device or citizen the key is bound to): both are refused alike.
	ErrWrongPassphrase = errors.New("app: wrong passphrase, or the state file was altered")

	// ErrNoPassphrase reports an empty unlock passphrase: the key would be
	// released to anyone holding the phone.
	ErrNoPassphrase = errors.New("app: empty passphrase")

	// ErrBadState reports a state file that is not one this package wrote.
	ErrBadState = errors.New("app: invalid phone state")

	// ErrCodeMismatch reports a request whose verification code is not
	// the one its secret gives, or not the one the citizen read on the
	// login page: the phone refuses to confirm what may be someone
	// else's login.
	ErrCodeMismatch = errors.New("app: verification code does not match")

	// ErrLocked reports a call on a session after [Session.Lock].
	ErrLocked = errors.New("app: session locked")

	// ErrNotQRCode reports scanned text that is not a Cl@ve Móvil QR
	// code ("CLAVEMOVIL:1:<request>:<nonce>").
	ErrNotQRCode = errors.New("app: not a Cl@ve Móvil QR code")

	// ErrBadAnswer reports an answer of the gateway that does not follow
	// the app API: not JSON, too large, missing fields.
	ErrBadAnswer = errors.New("app: malformed answer from the gateway")
)

// codes maps each stable error code of the app API to its sentinel.
var codes = map[string]error{
	"bad_request":        ErrBadRequest,
	"too_large":          ErrTooLarge,
	"unauthenticated":    ErrUnauthenticated,
	"bad_signature":      ErrBadSignature,
	"stale":              ErrStale,
	"replay":             ErrReplay,
	"device_inactive":    ErrDeviceInactive,
	"wrong_code":         ErrWrongCode,
	"too_many_attempts":  ErrTooManyAttempts,
	"no_code":            ErrNoCode,
	"expired":            ErrExpired,
	"bad_proof":          ErrBadProof,
	"not_found":          ErrNotFound,
	"claimed":            ErrClaimed,
	"not_claimed":        ErrNotClaimed,
	"already_decided":    ErrAlreadyDecided,
	"mismatch":           ErrMismatch,
	"bad_confirmation":   ErrBadConfirmation,
	"wrong_device":       ErrWrongDevice,
	"method_not_allowed": ErrMethodNotAllowed,
	"unavailable":        ErrUnavailable,
}

// APIError is an error answer of the gateway: its HTTP status and the
// stable code and English message of its body. It matches the sentinel of
// its code with [errors.Is], so callers never compare codes or messages.
type APIError struct {
	// Status is the HTTP status of the answer.
	Status int

	// Code is the stable error code ("replay", "expired", ...), empty when
	// the answer was not an app API error (a proxy's error page, say).
	Code string

	// Message is the gateway's explanation, for people.
	Message string
}

// Error returns the message with its code and status.
func (e *APIError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("app: %s (HTTP %d)", e.Message, e.Status)
	}
	return fmt.Sprintf("app: %s (%s, HTTP %d)", e.Message, e.Code, e.Status)
}

// Is reports whether target is the sentinel of e's code.
func (e *APIError) Is(target error) bool {
	s, ok := codes[e.Code]
	if !ok {
		s, ok = permanenteCodes[e.Code]
	}
	return ok && s == target
}

// apiErrorFrom builds the error of a non-2xx answer from its body, which may
// not be an app API error at all (a proxy in between, a gateway without the
// app API): an *APIError, or for weak_password a *WeakPasswordError with
// the rules the body lists.
func apiErrorFrom(status int, body []byte) error {
	var env struct {
		Error struct {
			Code    string          `json:"code"`
			Message string          `json:"message"`
			Rules   json.RawMessage `json:"rules"`
		} `json:"error"`
	}
	if err := decodeLenient(body, &env); err != nil || env.Error.Code == "" {
		return &APIError{Status: status, Message: "the gateway answered " + http.StatusText(status) + " without an app API error"}
	}
	msg := printable(env.Error.Message, maxMessageLen)
	if msg == "" {
		msg = http.StatusText(status)
	}
	e := &APIError{Status: status, Code: printable(env.Error.Code, maxMessageLen), Message: msg}
	if e.Code == "weak_password" {
		// Rules that do not read leave the error without them, not
		// without its code.
		var rules []string
		_ = json.Unmarshal(env.Error.Rules, &rules)
		return weakPassword(e, rules)
	}
	return e
}

// maxMessageLen bounds the message of an APIError, which ends up on a
// terminal or in a log.
const maxMessageLen = 300

// printable returns s without control characters, cut to at most n bytes on
// a character boundary, so that a hostile gateway cannot write escape
// sequences to the citizen's terminal.
func printable(s string, n int) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) || r == utf8.RuneError {
			continue
		}
		if b.Len()+utf8.RuneLen(r) > n {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}
