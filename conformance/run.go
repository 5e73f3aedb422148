package conformance

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/clave-go/clave/internal/faults"
	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/saml"
)

// Report is the outcome of a run.
type Report struct {
	// Started is when the run began (by the kit's clock).
	Started time.Time `json:"started"`
	// Target names the service under test.
	Target string `json:"target"`
	// Issuer is the gateway Issuer the kit signed as.
	Issuer string `json:"issuer"`
	// Cases are the results in catalogue order.
	Cases []Result `json:"cases"`
	// Passed, Failed and Skipped count Cases.
	Passed  int `json:"passed"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
}

// Result is the outcome of one case.
type Result struct {
	CaseInfo
	// Got is what the service did: Accept or Refuse; empty when the case was
	// skipped or could not be delivered.
	Got Expect `json:"got,omitempty"`
	// Pass reports that Got is the case's Expect.
	Pass bool `json:"pass"`
	// Skipped cases count neither as passed nor as failed.
	Skipped bool `json:"skipped,omitempty"`
	// Detail is the service's answer (status codes, error message) or why the
	// case could not be judged.
	Detail string `json:"detail,omitempty"`
	// Err is the service's error, when the target exposes it (see
	// Outcome.Err).
	Err error `json:"-"`
	// Duration is how long the case took, login included, in nanoseconds.
	Duration time.Duration `json:"duration_ns"`
}

// OK reports whether no case failed.
func (r *Report) OK() bool { return r.Failed == 0 }

// UnreachableError reports a service that does not answer: nothing listens
// at its address (it is not started, or it stopped during the run), or, for
// HTTPTarget.Check, it did not answer in time. Every case would fail the same
// way and prove nothing, so the run stops at the first one.
type UnreachableError struct {
	// Target names the service, as reports do.
	Target string
	// Done is how many cases were run (skipped ones included) before the
	// service stopped answering; 0 when it never answered.
	Done int
	// Err is the connection's error.
	Err error
}

// Error implements error.
func (e *UnreachableError) Error() string {
	// The connection's error alone ("dial tcp 127.0.0.1:8080: connect:
	// connection refused") says it: the URL is already in the sentence.
	cause := e.Err
	var op *net.OpError
	var ue *url.Error
	if errors.As(cause, &op) {
		cause = op
	} else if errors.As(cause, &ue) {
		cause = ue.Err
	}
	what := "does not answer"
	if e.Done > 0 {
		what = fmt.Sprintf("stopped answering after %d cases", e.Done)
	}
	return fmt.Sprintf("the service at %s %s: %v; start it, then run the kit again", e.Target, what, cause)
}

// Unwrap returns Err.
func (e *UnreachableError) Unwrap() error { return e.Err }

// unreachable returns err as an *UnreachableError when it says that nothing
// answers at the service's address: one already made by the target, or a
// failure to connect. Other errors (a connection reset while posting a huge
// response, say) belong to one case, since a service may well drop those.
func unreachable(target string, err error) *UnreachableError {
	var ue *UnreachableError
	if errors.As(err, &ue) {
		return ue
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return &UnreachableError{Target: target, Err: err}
	}
	return nil
}

// Run plays every selected case against t, one after another, each on a fresh
// login. A case passes iff the service did what Expect says; a login or a
// delivery that fails makes the case fail (it proves nothing either way).
// Run returns an error, with the cases judged so far, when ctx ends or when
// the service does not answer (an *UnreachableError: the case that met it is
// not in the report).
func (k *Kit) Run(ctx context.Context, t Target) (*Report, error) {
	rep := &Report{Started: k.now(), Target: targetName(t), Issuer: k.issuer}
	for _, c := range k.cases {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		res, err := k.runCase(ctx, c, t)
		if err != nil {
			err.Done = len(rep.Cases)
			return rep, err
		}
		rep.add(res)
	}
	return rep, nil
}

func (r *Report) add(res Result) {
	r.Cases = append(r.Cases, res)
	switch {
	case res.Skipped:
		r.Skipped++
	case res.Pass:
		r.Passed++
	default:
		r.Failed++
	}
}

func targetName(t Target) string {
	if s, ok := t.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprintf("%T", t)
}

// runCase plays one case. Everything it uses is made here, so no state passes
// from one case to the next. It returns an error only when the service does
// not answer, and then no Result.
func (k *Kit) runCase(ctx context.Context, c faults.Case, t Target) (Result, *UnreachableError) {
	start := time.Now()
	res := Result{CaseInfo: caseInfo(c)}
	finish := func(format string, args ...any) (Result, *UnreachableError) {
		res.Detail = fmt.Sprintf(format, args...)
		res.Duration = time.Since(start)
		return res, nil
	}
	// failed is finish for the target's errors: a service that does not
	// answer stops the run instead.
	failed := func(err error, format string) (Result, *UnreachableError) {
		if ue := unreachable(targetName(t), err); ue != nil {
			return Result{}, ue
		}
		return finish(format, err)
	}
	if c.NeedsEncryption && k.enc == nil {
		res.Skipped = true
		return finish("skipped: needs KitConfig.EncryptionCertificate (the service's encryption certificate)")
	}
	login, err := t.Login(ctx)
	if err != nil {
		return failed(err, "could not start a login: %v")
	}
	if login == nil || login.Post == nil {
		return finish("could not start a login: the target returned no Post")
	}
	base, err := k.base(login)
	if err != nil {
		return finish("kit: %v", err)
	}
	d, err := c.Build(base)
	if err != nil {
		return finish("kit: building the response: %v", err)
	}
	field := base64.StdEncoding.EncodeToString(d.XML)
	if d.RawForm != nil {
		field = *d.RawForm
	}
	relay := login.RelayState
	if d.RelayState != nil {
		relay = *d.RelayState
	}
	if d.Replay {
		first, err := login.Post(ctx, field, relay)
		if err != nil {
			return failed(err, "could not deliver the first response: %v")
		}
		if !first.Accepted {
			res.Err = first.Err
			return finish("valid response refused, cannot test replay: %s", first.Detail)
		}
	}
	out, err := login.Post(ctx, field, relay)
	if err != nil {
		return failed(err, "could not deliver the response: %v")
	}
	res.Got, res.Err = Refuse, out.Err
	if out.Accepted {
		res.Got = Accept
	}
	res.Pass = res.Got == res.Expect
	switch {
	case res.Pass:
		res.Detail = out.Detail
	case res.Got == Accept:
		res.Detail = "accepted a response it must refuse: " + out.Detail
	default:
		res.Detail = "refused a response it must accept: " + out.Detail
	}
	res.Duration = time.Since(start)
	return res, nil
}

// base is the valid answer a correct gateway would give to login, shaped like
// a real Cl@ve response: a Cl@ve PIN login of the kit's citizen at the
// requested level.
func (k *Kit) base(login *Login) (*faults.Base, error) {
	id, err := saml.NewID(nil)
	if err != nil {
		return nil, err
	}
	aid, err := saml.NewID(nil)
	if err != nil {
		return nil, err
	}
	loa := login.LoA
	if !loa.Valid() {
		loa = saml.LoALow
	}
	now := k.now()
	return &faults.Base{
		Params: samlidp.ResponseParams{
			ID:             id,
			AssertionID:    aid,
			InResponseTo:   login.RequestID,
			Destination:    login.ACSURL,
			Issuer:         k.issuer,
			IssueInstant:   now,
			AuthnInstant:   now,
			NameID:         saml.NameID{Value: k.nameID},
			SubjectAddress: "10.0.0.1",
			LoA:            loa,
			Attributes: []saml.Attribute{
				{Name: saml.AttrCurrentFamilyName, FriendlyName: "FamilyName", XSIType: "eidas-natural:CurrentFamilyNameType", Values: []string{"ESPAÑOL ESPAÑOL"}},
				{Name: saml.AttrCurrentGivenName, FriendlyName: "FirstName", XSIType: "eidas-natural:CurrentGivenNameType", Values: []string{"MARÍA"}},
				{Name: saml.AttrPersonIdentifier, FriendlyName: "PersonIdentifier", XSIType: "eidas-natural:PersonIdentifierType", Values: []string{k.nameID}},
				{Name: saml.AttrFirstSurname, FriendlyName: "FirstSurname", Values: []string{"ESPAÑOL"}},
				{Name: saml.AttrSelectedIdP, FriendlyName: "SelectedIdP", Values: []string{string(saml.MethodAEATPIN)}},
			},
		},
		Keys:       k.keys,
		EncryptFor: k.enc,
		Now:        now,
	}, nil
}
