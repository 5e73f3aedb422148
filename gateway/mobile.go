package gateway

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/http"
	"sync"

	"github.com/clave-go/clave/gateway/method"
	"github.com/clave-go/clave/mobile"
)

// initMobile builds Cl@ve Móvil: the method on the chooser, the citizen
// app's API, the app's push channel and the test credentials the app can
// activate with. The gateway's notifier becomes a tee: app messages go to
// the push channel, which the app reads, and to the configured notifier.
func (g *Gateway) initMobile(cfg Config) error {
	cas, err := newCredentialAuthorities(cfg.Now())
	if err != nil {
		return err
	}
	g.cas = cas
	g.pushes = mobile.NewPushBox(cfg.Now)
	g.pushes.Signals = g.mobile.Signals() // a PIN for the app wakes its long-poll
	g.notifier = appTee{app: g.pushes, rest: g.notifier, after: g.personaPhone}
	g.movil = mobile.NewMethod(g.mobile, cfg.MobileLimits, g.log)
	g.appAPI, err = mobile.NewAPI(mobile.APIConfig{
		Service:          g.mobile,
		Citizens:         citizenLookup{g.citizens},
		Notifier:         g.notifier,
		Inbox:            g.pushes,
		CertificateRoots: cas.certificates.roots(),
		DNIeRoots:        cas.dnie.roots(),
		CardAccessNumber: cas.cardAccessNumber,
		Client:           cfg.ClientAddress,
		Now:              cfg.Now,
		Logger:           g.log,
		Permanente:       g.permanente,
	})
	return err
}

// appTee delivers app messages to the app's push channel as well as to the
// configured notifier (the demo's inbox shows them); SMS go to the latter
// only.
type appTee struct {
	app  method.Notifier
	rest method.Notifier
	// after sees every app message once delivered: the personas' phones
	// answer there.
	after func(ctx context.Context, m method.Message)
}

// Send implements method.Notifier.
func (t appTee) Send(ctx context.Context, m method.Message) error {
	if m.Channel != method.App {
		return t.rest.Send(ctx, m)
	}
	err := t.app.Send(ctx, m)
	if err2 := t.rest.Send(ctx, m); err == nil {
		err = err2
	}
	if t.after != nil {
		t.after(ctx, m)
	}
	return err
}

// personaDevices are the phones of the personas whose story is told
// through Cl@ve Móvil, by citizen: activated at SeedPersonas with keys
// that live in this process only.
type personaDevices struct {
	mu   sync.Mutex
	keys map[string]personaDevice
}

type personaDevice struct {
	id  string
	key ed25519.PrivateKey
}

// activatePersonaPhones gives the personas that answer on a phone (they
// approve, decline or never answer) an active device, replacing any
// earlier one.
func (g *Gateway) activatePersonaPhones(ctx context.Context) error {
	g.personaPhones.mu.Lock()
	defer g.personaPhones.mu.Unlock()
	if g.personaPhones.keys == nil {
		g.personaPhones.keys = map[string]personaDevice{}
	}
	for _, p := range personaDefs {
		switch p.Outcome {
		case OutcomeApproves, OutcomeDeclines, OutcomeTimesOut, OutcomeBasic:
		default:
			continue
		}
		pub, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		dev, err := g.mobile.Activate(ctx, p.id.String(), mobile.ByCertificate, pub)
		if err != nil {
			return fmt.Errorf("gateway: persona %s's phone: %w", p.ID, err)
		}
		g.personaPhones.keys[p.id.String()] = personaDevice{id: dev.ID, key: key}
	}
	return nil
}

// personaPhone answers, as the persona's phone would, the Cl@ve Móvil
// requests pushed to a persona: approves or declines at once, or never
// answers.
func (g *Gateway) personaPhone(ctx context.Context, m method.Message) {
	g.personaPhones.mu.Lock()
	dev, ok := g.personaPhones.keys[m.To]
	g.personaPhones.mu.Unlock()
	if !ok {
		return
	}
	p, _ := persona(m.To)
	decision := mobile.Confirm
	switch p.Outcome {
	case OutcomeDeclines:
		decision = mobile.Decline
	case OutcomeTimesOut:
		return
	}
	pending, err := g.mobile.PendingRequests(ctx, dev.id)
	if err != nil {
		g.log.WarnContext(ctx, "gateway: persona phone", "persona", p.id, "error", err)
		return
	}
	for _, req := range pending {
		payload, sig, err := mobile.SignConfirmation(dev.key, req.Confirmation(decision, g.cfg.Now()))
		if err == nil {
			_, err = g.mobile.Decide(ctx, dev.id, payload, sig)
		}
		if err != nil {
			g.log.WarnContext(ctx, "gateway: persona phone", "persona", p.id, "error", err)
			continue
		}
		g.log.InfoContext(ctx, "gateway: persona answered on the phone", "persona", p.id, "decision", decision)
	}
}

// mobileRoutes mounts the citizen app's API.
func (g *Gateway) mobileRoutes(mux *http.ServeMux) {
	mux.Handle("/app/v1/", g.appAPI)
}
