package app

import (
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/clave-go/clave/mobile"
)

// Request is a login waiting for this phone's answer, as the gateway sends
// it: enough to show the citizen who asks, and to sign the answer.
type Request struct {
	// ID names the request.
	ID string

	// LoginID is the gateway login the request belongs to; the
	// confirmation binds it.
	LoginID string

	// Requester is the requesting body, shown to the citizen.
	Requester string

	// Kind is QR (the citizen scanned the page) or push (the citizen typed
	// their DNI/NIE on the page).
	Kind mobile.Kind

	// Nonce is the request's one-time secret, bound into the confirmation.
	Nonce string

	// Secret is the input of the verification code, from which the app
	// recomputes it rather than trusting VerificationCode.
	Secret []byte

	// VerificationCode is the 3-digit code the login page shows, as the
	// gateway states it.
	VerificationCode string

	// CreatedAt is when the login asked; ExpiresAt the first instant at
	// which it can no longer be answered.
	CreatedAt, ExpiresAt time.Time
}

// requestJSON is a Request on the wire.
type requestJSON struct {
	ID               string    `json:"id"`
	LoginID          string    `json:"login_id"`
	Requester        string    `json:"requester"`
	Kind             string    `json:"kind"`
	Nonce            string    `json:"nonce"`
	Secret           string    `json:"secret"`
	VerificationCode string    `json:"verification_code"`
	CreatedAt        time.Time `json:"created_at"`
	ExpiresAt        time.Time `json:"expires_at"`
}

func (j requestJSON) request() (Request, error) {
	secret, err := b64.DecodeString(j.Secret)
	if err != nil {
		return Request{}, fmt.Errorf("%w: request secret: %w", ErrBadAnswer, err)
	}
	if j.ID == "" || j.LoginID == "" || j.Nonce == "" || len(secret) == 0 {
		return Request{}, fmt.Errorf("%w: request without ID, login, nonce or secret", ErrBadAnswer)
	}
	return Request{
		ID: j.ID, LoginID: j.LoginID, Requester: printable(j.Requester, maxMessageLen), Kind: mobile.Kind(j.Kind),
		Nonce: j.Nonce, Secret: secret, VerificationCode: j.VerificationCode,
		CreatedAt: j.CreatedAt, ExpiresAt: j.ExpiresAt,
	}, nil
}

// DeviceInfo is how the gateway sees this phone.
type DeviceInfo struct {
	// DeviceID names the device.
	DeviceID string

	// CitizenMasked is the citizen's DNI or NIE with all but its last four
	// characters hidden ("*****678Z").
	CitizenMasked string

	// Method is how the device was activated.
	Method mobile.ActivationMethod

	// Status tells whether the device may still sign.
	Status mobile.DeviceStatus

	// ActivatedAt is when it was activated.
	ActivatedAt time.Time
}

// PIN is a Cl@ve PIN delivered to the app's inbox, instead of by SMS.
type PIN struct {
	// Code is the PIN to type on the login page.
	Code string

	// Text is the message as the citizen reads it.
	Text string

	// SentAt is when it was sent; ExpiresAt when it stops being valid.
	SentAt, ExpiresAt time.Time

	// SecondsLeft is the validity left when the gateway answered.
	SecondsLeft int
}

// Entry is one line of the citizen's "My Cl@ve Móvil" history: a login
// request and how it ended.
type Entry struct {
	// RequestID names the request.
	RequestID string

	// At is when the request was made.
	At time.Time

	// Requester is the requesting body.
	Requester string

	// Kind is QR or push.
	Kind mobile.Kind

	// Outcome is confirmed, declined or expired.
	Outcome mobile.State
}

// HistoryQuery selects a page of history. The zero value asks for the
// newest page of the gateway's default size; every filter left zero
// matches all.
type HistoryQuery struct {
	// Outcome keeps the entries that ended so: mobile.StateConfirmed,
	// StateDeclined or StateExpired.
	Outcome mobile.State

	// Kind keeps the entries of one kind.
	Kind mobile.Kind

	// Requester keeps the entries of one requesting body, compared
	// exactly.
	Requester string

	// From and To are calendar dates, taken from their year, month and day
	// as they read in their own location: the gateway keeps the entries
	// from 00:00 of From through the end of To, Madrid time, both days
	// included.
	From, To time.Time

	// Order is mobile.NewestFirst (the zero value) or OldestFirst.
	Order mobile.Order

	// Limit is the page size, 0 for the gateway's default; Offset skips
	// that many entries, for the next pages.
	Limit, Offset int
}

// values encodes q as the query string of GET /history.
func (q HistoryQuery) values() (url.Values, error) {
	if q.Limit < 0 || q.Offset < 0 {
		return nil, fmt.Errorf("%w: negative limit or offset", ErrBadRequest)
	}
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("state", string(q.Outcome))
	set("kind", string(q.Kind))
	set("requester", q.Requester)
	if !q.From.IsZero() {
		v.Set("from", q.From.Format(time.DateOnly))
	}
	if !q.To.IsZero() {
		v.Set("to", q.To.Format(time.DateOnly))
	}
	switch q.Order {
	case mobile.NewestFirst:
	case mobile.OldestFirst:
		v.Set("order", "oldest")
	default:
		v.Set("order", string(q.Order))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Offset > 0 {
		v.Set("offset", strconv.Itoa(q.Offset))
	}
	return v, nil
}
