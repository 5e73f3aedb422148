package gateway

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clave-go/clave/internal/dni"
	"github.com/clave-go/clave/internal/faults"
	"github.com/clave-go/clave/internal/flow"
	"github.com/clave-go/clave/internal/pki"
	"github.com/clave-go/clave/internal/samlidp"
	"github.com/clave-go/clave/mobile"
	"github.com/clave-go/clave/pin"
	"github.com/clave-go/clave/saml"
)

// Errors of the gateway's test controls.
var (
	// ErrUnknownFault is returned by ArmFault for a case ID that is not in
	// the fault catalogue.
	ErrUnknownFault = errors.New("gateway: no such fault case")
	// ErrFaultNotDeliverable is returned by ArmFault for a case this gateway
	// cannot send to that service: it needs an encryption certificate the
	// service did not register, a signing key that is not an
	// *rsa.PrivateKey, or a SAMLResponse field that is not canonical,
	// non-empty base64 (the POST binding encodes the message itself).
	ErrFaultNotDeliverable = errors.New("gateway: fault cannot be delivered by this gateway")
	// ErrUnknownPersona is returned by ArmPersona for an identifier that is
	// not one of Personas.
	ErrUnknownPersona = errors.New("gateway: no such persona")
	// ErrUnknownService is returned by ArmFault and ArmPersona for an SPID
	// that is not registered, and wrapped by the refusal of a request from
	// one.
	ErrUnknownService = samlidp.ErrUnknownSP
)

// gatewayClock is the configured clock plus an offset the test controls can
// advance.
type gatewayClock struct {
	base   func() time.Time
	offset atomic.Int64
}

func (c *gatewayClock) Now() time.Time { return c.base().Add(time.Duration(c.offset.Load())) }

// controls holds what tests armed on the gateway; initControls makes its maps.
type controls struct {
	mu sync.Mutex
	// faults and personas are the armed case and persona IDs per SPID,
	// oldest first: each answers one response and is dropped.
	faults   map[string][]string
	personas map[string][]string
	// pending holds the parameters of a response between buildResponse and
	// applyArmedFault, by flow ID.
	pending map[string]builtResponse
	// last is the last genuine successful response per SPID, the one a
	// replay case sends again.
	last map[string][]byte

	// keyMu guards the keys made on first use: generating RSA keys is slow
	// and most gateways never arm a fault.
	keyMu     sync.Mutex
	untrusted *faults.KeyPair
	next      *faults.KeyPair

	// adminKey keys the MACs of the admin pages (session IDs, CSRF
	// tokens); adminMAC is the MAC of the admin token, against which a
	// presented token is compared. The sessions themselves are in adminSite.
	adminKey []byte
	adminMAC []byte
}

type builtResponse struct {
	params  samlidp.ResponseParams
	success bool
}

// built records the parameters of the response just built for flow id. Flows
// without an ID (the PIN API's) never reach applyArmedFault.
func (c *controls) built(id string, p samlidp.ResponseParams, success bool) {
	if id == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending[id] = builtResponse{params: p, success: success}
}

// push and pop queue armed IDs; m is c.faults or c.personas, maps made once
// by initControls and never replaced, so reading the field needs no lock.
func (c *controls) push(m map[string][]string, spid, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m[spid] = append(m[spid], id)
}

func (c *controls) pop(m map[string][]string, spid string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return popFront(m, spid)
}

func popFront(m map[string][]string, key string) (string, bool) {
	q := m[key]
	if len(q) == 0 {
		return "", false
	}
	if len(q) == 1 {
		delete(m, key)
	} else {
		m[key] = q[1:]
	}
	return q[0], true
}

// armed returns copies of the armed faults and personas.
func (c *controls) armed() (fs, ps map[string][]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp := func(m map[string][]string) map[string][]string {
		out := make(map[string][]string, len(m))
		for k, v := range m {
			out[k] = append([]string(nil), v...)
		}
		return out
	}
	return cp(c.faults), cp(c.personas)
}

// initControls validates the controls' configuration, mounts the admin page
// and seeds the personas; New calls it last.
func (g *Gateway) initControls(ctx context.Context) error {
	c := &g.controls
	c.faults, c.personas = map[string][]string{}, map[string][]string{}
	c.pending, c.last = map[string]builtResponse{}, map[string][]byte{}
	if k := g.cfg.NextSigningKey; k != nil {
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return errors.New("gateway: gateway NextSigningKey must be an *rsa.PrivateKey")
		}
		if len(g.cfg.NextCertificates) == 0 || !rk.PublicKey.Equal(g.cfg.NextCertificates[0].PublicKey) {
			return errors.New("gateway: gateway NextSigningKey must be the key of NextCertificates[0]")
		}
	}
	if g.cfg.AdminToken != "" {
		if err := g.mountAdmin(); err != nil {
			return err
		}
	}
	if g.cfg.Personas {
		if err := g.SeedPersonas(ctx); err != nil {
			return err
		}
	}
	return nil
}

// AdvanceClock moves the gateway's clock forward by d, for every part of the
// gateway at once: PINs, lockouts, flows and the instants of responses.
// Time never goes back, since stores assume it does not: d ≤ 0 does nothing.
// Services keep their own clock, so an advance of more than their allowed
// skew makes them refuse the gateway's next responses, as they should.
func (g *Gateway) AdvanceClock(d time.Duration) {
	if d <= 0 {
		return
	}
	g.clock.offset.Add(int64(d))
	g.log.Info("gateway: clock advanced", "by", d.String(), "offset", time.Duration(g.clock.offset.Load()).String())
	// Cl@ve Móvil requests that expired with the jump are ended now, so
	// that their waiting pages and the history learn it at once.
	if err := g.movil.Prune(context.Background()); err != nil {
		g.log.Warn("gateway: expiring Cl@ve Móvil requests", "error", err)
	}
}

// ArmFault makes the next response to the service spid a case of the fault
// catalogue (listed by GET /admin/api/faults) instead of the genuine one, whatever
// the login's outcome: it is built from the genuine response's fields, signed
// with the gateway's key unless the case says otherwise, and posted to the
// same ACS. Each armed fault is used once; several armed for a service go out
// in the order they were armed. A replay case posts the service's last genuine
// successful response again; when there is none yet, the next login is answered
// genuinely and the replay goes out with the one after.
//
// It fails for an unknown case (ErrUnknownFault), an unregistered service
// (ErrUnknownService) or a case that cannot be sent to it
// (ErrFaultNotDeliverable); it builds the case once on the spot to find out.
func (g *Gateway) ArmFault(spid, caseID string) error {
	fc, ok := faults.Lookup(caseID)
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownFault, caseID)
	}
	sp, ok := g.serviceProvider(spid)
	if !ok {
		return fmt.Errorf("%w: %q", samlidp.ErrUnknownSP, spid)
	}
	if fc.NeedsEncryption && sp.EncryptionCertificate == nil {
		return fmt.Errorf("%w: %s needs an encryption certificate and %s registered none", ErrFaultNotDeliverable, fc.ID, spid)
	}
	if err := g.tryFault(fc, sp); err != nil {
		return err
	}
	g.controls.push(g.controls.faults, spid, fc.ID)
	g.log.Warn("gateway: fault armed", "sp", spid, "case", fc.ID, "title", fc.Title)
	return nil
}

// tryFault builds fc against a sample successful login to sp, so that a case
// the gateway cannot send is refused when armed rather than when a login is
// waiting for it.
func (g *Gateway) tryFault(fc faults.Case, sp *ServiceProvider) error {
	p, _ := persona(personaApproveID)
	c := p.citizen()
	f := &flow.Flow{SPID: sp.SPID, RequestID: "_armcheck", ACSURL: sp.ACSURLs[0], Method: saml.MethodAEATPIN}
	params, err := g.responseParams(f, &c, pin.LoAFor(c), nil)
	if err != nil {
		return err
	}
	b, err := g.faultBase(params, sp.SPID)
	if err != nil {
		return err
	}
	d, err := fc.Build(b)
	if err != nil {
		return fmt.Errorf("gateway: fault %s: %w", fc.ID, err)
	}
	if d.RawForm != nil {
		if _, ok := rawMessage(*d.RawForm); !ok {
			return fmt.Errorf("%w: %s posts a SAMLResponse field that is not canonical base64", ErrFaultNotDeliverable, fc.ID)
		}
	}
	return nil
}

// rawMessage decodes a raw form field when the POST binding would encode the
// result back to exactly the same text.
func rawMessage(raw string) ([]byte, bool) {
	b, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(b) == 0 || base64.StdEncoding.EncodeToString(b) != raw {
		return nil, false
	}
	return b, true
}

// DisarmAll forgets every armed fault and persona, for every service.
func (g *Gateway) DisarmAll() {
	g.controls.mu.Lock()
	clear(g.controls.faults)
	clear(g.controls.personas)
	g.controls.mu.Unlock()
	g.log.Info("gateway: test controls disarmed")
}

// ArmPersona makes the next AuthnRequest from the service spid be answered at
// once, with no page for the citizen, as the persona personaID (a DNI/NIE of
// Personas, in any form ParseDocument accepts) would end it: see Personas for
// each outcome. Several armed for a service answer in the order they were
// armed. The personas must be registered (SeedPersonas or
// Config.Personas) for the outcomes that assert an identity.
func (g *Gateway) ArmPersona(spid, personaID string) error {
	p, ok := persona(personaID)
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownPersona, personaID)
	}
	if _, ok := g.serviceProvider(spid); !ok {
		return fmt.Errorf("%w: %q", samlidp.ErrUnknownSP, spid)
	}
	g.controls.push(g.controls.personas, spid, p.ID)
	g.log.Info("gateway: persona armed", "sp", spid, "persona", p.id, "outcome", p.Outcome)
	return nil
}

// answerArmedPersona answers a new flow at once when a persona was armed for
// its service; it reports whether it did.
func (g *Gateway) answerArmedPersona(w http.ResponseWriter, r *http.Request, f *flow.Flow) bool {
	id, ok := g.controls.pop(g.controls.personas, f.SPID)
	if !ok {
		return false
	}
	p, _ := persona(id)
	ctx := r.Context()
	g.log.InfoContext(ctx, "gateway: armed persona answers", "sp", f.SPID, "flow", f.ID, "persona", p.id, "outcome", p.Outcome)
	// Headless personas stand for a Cl@ve Móvil confirmation (by the app,
	// or by the SMS PIN for the one without a device).
	f.Method = saml.MethodMovil
	if err := g.flows.Update(ctx, f.ID, func(cur *flow.Flow) error { cur.Method = f.Method; return nil }); err != nil {
		g.errorPage(w, r, http.StatusInternalServerError, "error.request", nil)
		return true
	}
	switch p.Outcome {
	case OutcomeTimesOut:
		// Nothing is ever posted: the flow stays pending until it expires.
		name := f.App
		if sp, ok := g.serviceProvider(f.SPID); ok && sp.Name != "" {
			name = sp.Name
		}
		g.render(w, r, http.StatusOK, "persona_wait", map[string]any{"Requester": name, "CancelURL": "/login/" + f.ID + "/cancel"})
	case OutcomeDeclines:
		g.fail(w, r, f, &saml.StatusError{Code: saml.StatusRequester, SubCode: saml.StatusRequestDenied, Message: "Rechazado por el usuario"})
	case OutcomeBlocked, OutcomeGaveUp:
		g.fail(w, r, f, &saml.StatusError{Code: saml.StatusResponder, SubCode: saml.StatusAuthnFailed, Message: "Autenticación fallida"})
	default:
		c, err := g.citizens.Get(ctx, p.id)
		if err != nil {
			g.log.ErrorContext(ctx, "gateway: armed persona is not registered (SeedPersonas)", "persona", p.id, "error", err)
			g.fail(w, r, f, &saml.StatusError{Code: saml.StatusResponder, SubCode: saml.StatusAuthnFailed, Message: "Autenticación fallida"})
			return true
		}
		// At the persona's own level even below the one asked for, so that
		// services can prove they check it themselves.
		g.answer(w, r, f, &c, mobile.LoAFor(c), nil)
	}
	return true
}

// applyArmedFault replaces the genuine response form with an armed fault's.
func (g *Gateway) applyArmedFault(ctx context.Context, f *flow.Flow, form saml.PostForm) saml.PostForm {
	c := &g.controls
	c.mu.Lock()
	built, haveBuilt := c.pending[f.ID]
	delete(c.pending, f.ID)
	caseID, armed := popFront(c.faults, f.SPID)
	var prev []byte
	if armed {
		prev = c.last[f.SPID]
	}
	c.mu.Unlock()

	genuine := func() saml.PostForm {
		if haveBuilt && built.success {
			c.mu.Lock()
			c.last[f.SPID] = form.Message
			c.mu.Unlock()
		}
		return form
	}
	if !armed {
		return genuine()
	}
	fc, ok := faults.Lookup(caseID)
	if !ok || !haveBuilt {
		g.log.ErrorContext(ctx, "gateway: armed fault lost", "sp", f.SPID, "flow", f.ID, "case", caseID)
		return g.undeliverable(form)
	}
	b, err := g.faultBase(built.params, f.SPID)
	if err != nil {
		g.log.ErrorContext(ctx, "gateway: cannot build armed fault", "sp", f.SPID, "flow", f.ID, "case", caseID, "error", err)
		return g.undeliverable(form)
	}
	d, err := fc.Build(b)
	if err != nil {
		g.log.ErrorContext(ctx, "gateway: cannot build armed fault", "sp", f.SPID, "flow", f.ID, "case", caseID, "error", err)
		return g.undeliverable(form)
	}
	if d.Replay {
		if prev == nil {
			// Nothing to replay yet: this genuine response becomes what the
			// next one replays.
			c.mu.Lock()
			c.faults[f.SPID] = append([]string{caseID}, c.faults[f.SPID]...)
			c.mu.Unlock()
			g.log.WarnContext(ctx, "gateway: armed replay waits for a genuine response to replay", "sp", f.SPID, "case", caseID)
			return genuine()
		}
		form.Message = prev
		g.log.WarnContext(ctx, "gateway: armed fault sent", "sp", f.SPID, "flow", f.ID, "case", caseID, "title", fc.Title)
		return form
	}
	form.Message = d.XML
	if d.RawForm != nil {
		raw, ok := rawMessage(*d.RawForm)
		if !ok {
			g.log.ErrorContext(ctx, "gateway: armed fault needs a raw form field", "sp", f.SPID, "flow", f.ID, "case", caseID)
			return g.undeliverable(form)
		}
		form.Message = raw
	}
	if d.RelayState != nil {
		form.RelayState = *d.RelayState
	}
	g.log.WarnContext(ctx, "gateway: armed fault sent", "sp", f.SPID, "flow", f.ID, "case", caseID, "title", fc.Title)
	return form
}

// undeliverable is the form of an armed fault that could not be built: an
// empty one, which the binding answers with an error instead of posting the
// genuine response a test would then wrongly count as refused or accepted.
func (g *Gateway) undeliverable(form saml.PostForm) saml.PostForm {
	form.Message = nil
	return form
}

// faultBase is what a fault case starts from: the genuine response's
// parameters and the gateway's keys.
func (g *Gateway) faultBase(p samlidp.ResponseParams, spid string) (*faults.Base, error) {
	key, ok := g.cfg.SigningKey.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: the signing key is not an *rsa.PrivateKey", ErrFaultNotDeliverable)
	}
	next, untrusted, err := g.faultKeys()
	if err != nil {
		return nil, err
	}
	b := &faults.Base{
		Params: p,
		Keys: faults.Keys{
			Trusted:   &faults.KeyPair{Key: key, Certificate: g.cfg.SigningCertificate},
			Next:      next,
			Untrusted: untrusted,
		},
		Now: g.cfg.Now(),
	}
	if sp, ok := g.serviceProvider(spid); ok {
		b.EncryptFor = sp.EncryptionCertificate
	}
	return b, nil
}

// faultKeys returns the next-key pair (the configured one, or a generated
// one) and an attacker's pair, generated on first use.
func (g *Gateway) faultKeys() (next, untrusted *faults.KeyPair, err error) {
	c := &g.controls
	c.keyMu.Lock()
	defer c.keyMu.Unlock()
	gen := func(cn string) (*faults.KeyPair, error) {
		kp, err := pki.Generate(cn, 2048, g.cfg.Now().Add(-time.Hour), 2*365*24*time.Hour)
		if err != nil {
			return nil, fmt.Errorf("gateway: fault keys: %w", err)
		}
		return &faults.KeyPair{Key: kp.Key, Certificate: kp.Certificate}, nil
	}
	if c.next == nil {
		if k, ok := g.cfg.NextSigningKey.(*rsa.PrivateKey); ok {
			c.next = &faults.KeyPair{Key: k, Certificate: g.cfg.NextCertificates[0]}
		} else if c.next, err = gen("clave gateway next key (generated, untrusted)"); err != nil {
			return nil, nil, err
		}
	}
	if c.untrusted == nil {
		if c.untrusted, err = gen("clave attacker key"); err != nil {
			return nil, nil, err
		}
	}
	return c.next, c.untrusted, nil
}

// persona finds a persona by DNI/NIE in any accepted form.
func persona(id string) (personaDef, bool) {
	d, err := dni.Parse(id)
	if err != nil {
		return personaDef{}, false
	}
	for _, p := range personaDefs {
		if p.id == d {
			return p, true
		}
	}
	return personaDef{}, false
}

// newSecret returns n random bytes.
func newSecret(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return b, nil
}

// Now is the gateway's clock: the configured one plus every AdvanceClock.
// A service tested against the gateway can share it (clave.Config.Now), so
// that advancing it moves both.
func (g *Gateway) Now() time.Time { return g.clock.Now() }
