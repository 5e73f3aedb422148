package conformance

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/clave-go/clave/saml"
)

// Target is a service provider under test. Each case starts with a fresh
// Login, so nothing one case does (a consumed assertion, a session cookie) can
// influence the next.
type Target interface {
	// Login starts a login at the service, as a citizen's browser would, and
	// returns what the gateway would receive.
	Login(ctx context.Context) (*Login, error)
}

// Login is one login started at the service under test.
type Login struct {
	// RequestID is the AuthnRequest's ID, which the response answers.
	RequestID string
	// ACSURL is where the response goes; it is also its Destination,
	// Recipient and Audience.
	ACSURL string
	// RelayState is the form RelayState the service sent with the request.
	RelayState string
	// LoA is the requested minimum level of assurance; 0 when unknown, in
	// which case responses are issued at low.
	LoA saml.LoA
	// Post delivers a SAMLResponse form field (base64 as the gateway sends it,
	// or a deliberately broken value) with relayState to the service, within
	// this login (same browser). An error means the delivery itself failed,
	// which the kit reports as a failure of the case, never as a refusal.
	Post func(ctx context.Context, samlResponseField, relayState string) (Outcome, error)
}

// Outcome is what the service did with a posted response.
type Outcome struct {
	// Accepted reports that the service logged the citizen in.
	Accepted bool
	// Detail says why, for the report (a status code, an error message).
	Detail string
	// Err is the service's own error when the target can see it (FuncTarget:
	// what Validate returned), so Go callers can classify refusals with
	// errors.Is. It is not part of the JSON report.
	Err error
}

// RequestInfo is the login a FuncTarget's Validate answers. The kit invents it
// as a service would when starting a login.
type RequestInfo struct {
	ID, RelayState, ACSURL string
	LoA                    saml.LoA
}

// FuncTarget tests a validation function in-process, without HTTP: each login
// is started by Start (or, without it, invented by the kit: a random request
// ID and RelayState) and every response goes to Validate. Validate must do
// what the service does at its ACS, including checking the posted RelayState
// against the login's (req) and its replay protection; a nil error means
// accepted.
//
// A panic in Validate is recovered and counted as a refusal (a web server
// drops the request the same way), with the panic in the detail: it is still
// a bug worth fixing.
type FuncTarget struct {
	// ACSURL is the service's ACS URL (Destination, Recipient and Audience of
	// the responses).
	ACSURL string
	// LoA is the level every login requests; 0 means none (responses at low).
	LoA saml.LoA
	// Start, when set, starts a login the service's way (e.g. with
	// clave.Client.NewLogin) and returns it; empty ACSURL and LoA are taken
	// from the fields above.
	Start func(ctx context.Context) (RequestInfo, error)
	// Validate judges one posted response for the login req. Required.
	Validate func(ctx context.Context, req RequestInfo, samlResponseField, relayState string) error
}

// String names the target in reports.
func (t FuncTarget) String() string { return "in-process validator for " + t.ACSURL }

// Login implements Target.
func (t FuncTarget) Login(ctx context.Context) (*Login, error) {
	if t.Validate == nil {
		return nil, errors.New("conformance: FuncTarget needs Validate")
	}
	req, err := t.start(ctx)
	if err != nil {
		return nil, err
	}
	if req.ACSURL == "" {
		req.ACSURL = t.ACSURL
	}
	if req.LoA == 0 {
		req.LoA = t.LoA
	}
	if req.ID == "" || req.ACSURL == "" {
		return nil, errors.New("conformance: FuncTarget login needs a request ID and an ACS URL")
	}
	return &Login{
		RequestID:  req.ID,
		ACSURL:     req.ACSURL,
		RelayState: req.RelayState,
		LoA:        req.LoA,
		Post: func(ctx context.Context, field, relayState string) (out Outcome, err error) {
			defer func() {
				if p := recover(); p != nil {
					out = Outcome{Detail: fmt.Sprintf("refused by panicking: %v", p), Err: fmt.Errorf("panic: %v", p)}
					err = nil
				}
			}()
			if verr := t.Validate(ctx, req, field, relayState); verr != nil {
				return Outcome{Detail: verr.Error(), Err: verr}, nil
			}
			return Outcome{Accepted: true, Detail: "validated"}, nil
		},
	}, nil
}

func (t FuncTarget) start(ctx context.Context) (RequestInfo, error) {
	if t.Start != nil {
		req, err := t.Start(ctx)
		if err != nil {
			return req, fmt.Errorf("conformance: starting a login: %w", err)
		}
		return req, nil
	}
	id, err := saml.NewID(nil)
	if err != nil {
		return RequestInfo{}, err
	}
	rs := make([]byte, 18)
	if _, err := rand.Read(rs); err != nil {
		return RequestInfo{}, err
	}
	return RequestInfo{ID: id, RelayState: base64.RawURLEncoding.EncodeToString(rs)}, nil
}
