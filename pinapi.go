package clave

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/clave-go/clave/internal/pinwire"
	"github.com/clave-go/clave/saml"
)

// Sentinel outcomes of the PIN API, matched by *PINAPIError through
// errors.Is, so an app can react without comparing codes.
var (
	// ErrPINWrong means the PIN was wrong, expired, already used, or no PIN
	// was pending for that request code. They are one outcome on purpose:
	// telling them apart would help whoever guesses.
	ErrPINWrong = errors.New("clave: wrong, expired or used Cl@ve PIN")
	// ErrPINBlocked means the citizen is blocked after too many failures
	// (at least 24 hours at the real gateway).
	ErrPINBlocked = errors.New("clave: Cl@ve PIN blocked after too many failures")
	// ErrPINRateLimited means too many calls, by this service or for this
	// citizen; PINAPIError.RetryAt tells when to try again.
	ErrPINRateLimited = errors.New("clave: too many Cl@ve PIN calls")
	// ErrPINPhoneRequired means that after repeated failures the citizen
	// must also type their registered phone, and it was missing or wrong.
	ErrPINPhoneRequired = errors.New("clave: registered phone required with the Cl@ve PIN")
	// ErrPINUnavailable means the gateway could not reach its own storage:
	// nothing was counted or spent, and the same call may be retried.
	ErrPINUnavailable = errors.New("clave: Cl@ve PIN temporarily unavailable")
)

// PINAPIError is a refusal by the gateway's PIN API.
type PINAPIError struct {
	// Status is the HTTP status of the answer.
	Status int
	// Code is the gateway's error code: wrong_pin, phone_required, blocked,
	// rate_limited, loa_not_reached, request_reused, bad_document,
	// bad_code, bad_acs_url, bad_request_id, bad_loa, bad_request,
	// unauthorized, stale, replayed, too_large, unavailable or internal. It is empty
	// when the answer was not the API's JSON (a proxy's error page).
	Code string
	// RetryAt is set with rate_limited: the first moment a call may succeed.
	RetryAt time.Time
}

// Error implements error.
func (e *PINAPIError) Error() string {
	code := e.Code
	if code == "" {
		code = "unexpected answer"
	}
	return fmt.Sprintf("clave: PIN API: %d %s", e.Status, code)
}

// Is lets errors.Is match the sentinel outcomes ErrPINWrong, ErrPINBlocked,
// ErrPINRateLimited, ErrPINPhoneRequired and ErrPINUnavailable.
func (e *PINAPIError) Is(target error) bool {
	switch target {
	case ErrPINWrong:
		return e.Code == pinwire.CodeWrongPIN
	case ErrPINBlocked:
		return e.Code == pinwire.CodeBlocked
	case ErrPINRateLimited:
		return e.Code == pinwire.CodeRateLimited
	case ErrPINPhoneRequired:
		return e.Code == pinwire.CodePhoneRequired
	case ErrPINUnavailable:
		return e.Code == pinwire.CodeUnavailable
	}
	return false
}

// PINClient is a service's back end calling the gateway's app-native Cl@ve
// PIN API on behalf of its own app. Every call is signed with the service's
// registered key and carries a fresh nonce and time, so a captured call
// cannot be replayed. It is safe for concurrent use once configured.
//
// The SAML Response VerifyPIN returns is not trusted by itself: validate it
// with Client.ValidateAppResponse, which checks it as strictly as a browser
// login.
type PINClient struct {
	// GatewayBaseURL is the gateway's base URL ("https://pasarela.example");
	// the API paths are appended. It must be https, except on a loopback
	// host for tests, since calls carry PINs and answers identities.
	GatewayBaseURL string
	// SPID is the service's identifier as registered with the gateway.
	SPID string
	// Key is the service's registered RSA key (the one that signs its
	// AuthnRequests); it signs each call.
	Key crypto.Signer
	// HTTPClient makes the calls; default http.DefaultClient. Redirects are
	// never followed: the API has none, and following one would hand a
	// signed call and a PIN to another host.
	HTTPClient *http.Client
	// Now is the clock for issued_at; default time.Now.
	Now func() time.Time
}

// PINRequest asks the gateway to send a citizen a Cl@ve PIN.
type PINRequest struct {
	// Document is the citizen's DNI or NIE as typed.
	Document string
	// Contrast is the contrast datum: DNI validity date (dd/mm/yyyy), issue
	// date for a permanent DNI, or NIE support number.
	Contrast string
	// Code is a request code chosen by the citizen (4 letters or digits);
	// empty lets the gateway choose one.
	Code string
}

// PINTicket is the gateway's answer to a PINRequest. It is the same whether
// or not the citizen is registered and the contrast datum matched, so the app
// must show it as "if your data is right, you will receive a PIN".
type PINTicket struct {
	// RequestCode pairs the PIN with this request; show it to the citizen.
	RequestCode string
	// ExpiresAt is when the PIN stops being valid, for a countdown.
	ExpiresAt time.Time
}

// PINVerification is what the citizen typed in the app, plus the SAML
// request the resulting Response must answer.
type PINVerification struct {
	// Document is the citizen's DNI or NIE, as in the PINRequest.
	Document string
	// RequestCode is the PINTicket's code (or the one the citizen reads on
	// their PIN message).
	RequestCode string
	// PIN is the 3-character PIN the citizen received.
	PIN string
	// Phone is the registered phone; the gateway requires it after repeated
	// failures (see ErrPINPhoneRequired).
	Phone string
	// RequestID is the service's own SAML request ID (an NCName of at most
	// 64 characters, e.g. from saml.NewID), later given to
	// ValidateAppResponse. The gateway answers each request ID once.
	RequestID string
	// ACSURL is one of the service's registered ACS URLs; it becomes the
	// Response's Destination and Audience, so it must be the ACSURL of the
	// Client that validates the Response.
	ACSURL string
	// LoA is the minimum level of assurance; Cl@ve PIN reaches substantial
	// for advanced registrations and low for basic ones.
	LoA saml.LoA
}

// RequestPIN asks the gateway to issue a PIN for a citizen. Errors are a
// *PINAPIError (bad_document, bad_code, rate_limited, blocked, ...) or a
// transport error.
func (p *PINClient) RequestPIN(ctx context.Context, r PINRequest) (PINTicket, error) {
	env, err := p.envelope()
	if err != nil {
		return PINTicket{}, err
	}
	body := pinwire.Request{SPID: env.SPID, IssuedAt: env.IssuedAt, Nonce: env.Nonce,
		Document: r.Document, Contrast: r.Contrast, Code: r.Code}
	var t pinwire.Ticket
	if err := p.call(ctx, pinwire.RequestPath, &body, &t); err != nil {
		return PINTicket{}, err
	}
	if t.RequestCode == "" || t.ExpiresAt.IsZero() {
		return PINTicket{}, errors.New("clave: PIN API: incomplete answer")
	}
	return PINTicket{RequestCode: t.RequestCode, ExpiresAt: t.ExpiresAt}, nil
}

// VerifyPIN checks the PIN the citizen typed and returns the gateway's signed
// SAML Response (base64, as a browser would post it) for v.RequestID. Errors
// are a *PINAPIError matching ErrPINWrong, ErrPINPhoneRequired,
// ErrPINBlocked or ErrPINRateLimited, another *PINAPIError
// (loa_not_reached, request_reused, bad_acs_url, ...) or a transport error.
func (p *PINClient) VerifyPIN(ctx context.Context, v PINVerification) (samlResponse string, err error) {
	if !v.LoA.Valid() {
		return "", errors.New("clave: PINVerification needs a valid LoA")
	}
	env, err := p.envelope()
	if err != nil {
		return "", err
	}
	body := pinwire.Verify{SPID: env.SPID, IssuedAt: env.IssuedAt, Nonce: env.Nonce,
		Document: v.Document, RequestCode: v.RequestCode, PIN: v.PIN, Phone: v.Phone,
		RequestID: v.RequestID, ACSURL: v.ACSURL, LoA: v.LoA.String()}
	var out pinwire.Response
	if err := p.call(ctx, pinwire.VerifyPath, &body, &out); err != nil {
		return "", err
	}
	if out.SAMLResponse == "" {
		return "", errors.New("clave: PIN API: incomplete answer")
	}
	return out.SAMLResponse, nil
}

func (p *PINClient) envelope() (pinwire.Envelope, error) {
	if p.SPID == "" || p.Key == nil {
		return pinwire.Envelope{}, errors.New("clave: PINClient needs SPID and Key")
	}
	nonce, err := randomToken(24)
	if err != nil {
		return pinwire.Envelope{}, err
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	return pinwire.Envelope{SPID: p.SPID, IssuedAt: now().UTC().Format(time.RFC3339), Nonce: nonce}, nil
}

// call posts body signed and decodes a 200 answer into out.
func (p *PINClient) call(ctx context.Context, path string, body, out any) error {
	base, err := p.baseURL()
	if err != nil {
		return err
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	sig, err := pinwire.Sign(p.Key, raw)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set(pinwire.SignatureHeader, fmt.Sprintf(`spid=%q, alg=%q, sig=%q`, p.SPID, pinwire.SignatureAlg, sig))
	hc := http.DefaultClient
	if p.HTTPClient != nil {
		hc = p.HTTPClient
	}
	noRedirect := *hc
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noRedirect.Do(req)
	if err != nil {
		return fmt.Errorf("clave: PIN API: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, pinwire.MaxAnswer+1))
	if err != nil {
		return fmt.Errorf("clave: PIN API: %w", err)
	}
	if len(data) > pinwire.MaxAnswer {
		return errors.New("clave: PIN API: answer too large")
	}
	if resp.StatusCode != http.StatusOK {
		e := &PINAPIError{Status: resp.StatusCode}
		var f pinwire.Failure
		if json.Unmarshal(data, &f) == nil {
			e.Code = f.Error
			if f.RetryAt != nil {
				e.RetryAt = *f.RetryAt
			}
		}
		return e
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("clave: PIN API: malformed answer: %w", err)
	}
	return nil
}

// baseURL refuses plain HTTP to anything but this machine: the calls carry
// PINs and the answers carry identities.
func (p *PINClient) baseURL() (string, error) {
	u, err := url.Parse(p.GatewayBaseURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", errors.New("clave: PINClient.GatewayBaseURL must be an absolute https URL")
	}
	if u.Scheme == "http" && !loopbackHost(u.Hostname()) {
		return "", errors.New("clave: PINClient.GatewayBaseURL must be https (http only on a loopback host)")
	}
	return strings.TrimSuffix(p.GatewayBaseURL, "/"), nil
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// ValidateAppResponse validates a base64 SAML Response obtained through the
// app-native PIN API (PINClient.VerifyPIN) as strictly as HandleACS validates
// a posted one: signature against the gateway's certificates, InResponseTo =
// requestID, Destination, Recipient and Audience = Config.ACSURL, times,
// achieved LoA ≥ minLoA (zero means Config.LoA) and the replay cache. Only the
// RelayState check is absent, because no browser carried the response. Keep
// requestID on the back end, bound to the app's session, and give it here
// once.
func (c *Client) ValidateAppResponse(ctx context.Context, samlResponse, requestID string, minLoA saml.LoA) (*Identity, error) {
	if requestID == "" {
		return nil, fmt.Errorf("%w: no request ID given", saml.ErrInResponseTo)
	}
	if minLoA == 0 {
		minLoA = c.cfg.LoA
	}
	if !minLoA.Valid() {
		return nil, errors.New("clave: invalid LoA")
	}
	msg, err := saml.DecodeMessage(samlResponse, 0)
	if err != nil {
		return nil, err
	}
	return c.validate(ctx, msg, &PendingLogin{RequestID: requestID, LoA: minLoA})
}
