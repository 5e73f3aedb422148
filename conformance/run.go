package conformance

import (
	"context"
	"encoding/base64"
	"fmt"
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

// Run plays every selected case against t, one after another, each on a fresh
// login. A case passes iff the service did what Expect says; a login or a
// delivery that fails makes the case fail (it proves nothing either way).
// Run returns an error only when ctx ends, with the cases run so far.
func (k *Kit) Run(ctx context.Context, t Target) (*Report, error) {
	rep := &Report{Started: k.now(), Target: targetName(t), Issuer: k.issuer}
	for _, c := range k.cases {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		rep.add(k.runCase(ctx, c, t))
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
// from one case to the next.
func (k *Kit) runCase(ctx context.Context, c faults.Case, t Target) Result {
	start := time.Now()
	res := Result{CaseInfo: caseInfo(c)}
	finish := func(format string, args ...any) Result {
		res.Detail = fmt.Sprintf(format, args...)
		res.Duration = time.Since(start)
		return res
	}
	if c.NeedsEncryption && k.enc == nil {
		res.Skipped = true
		return finish("skipped: needs KitConfig.EncryptionCertificate (the service's encryption certificate)")
	}
	login, err := t.Login(ctx)
	if err != nil {
		return finish("could not start a login: %v", err)
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
			return finish("could not deliver the first response: %v", err)
		}
		if !first.Accepted {
			res.Err = first.Err
			return finish("valid response refused, cannot test replay: %s", first.Detail)
		}
	}
	out, err := login.Post(ctx, field, relay)
	if err != nil {
		return finish("could not deliver the response: %v", err)
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
	return res
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
