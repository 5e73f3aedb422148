package gateway

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
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
func (g *Gateway) initMobile(ctx context.Context, cfg Config) error {
	cas, err := newCredentialAuthorities(cfg.Now())
	if err != nil {
		return err
	}
	g.cas = cas
	// A PIN for the app wakes its long-poll, through the signals.
	if cfg.DB != nil {
		// Processes sharing the database share the app's messages too.
		box, err := mobile.NewSQLPushBox(ctx, cfg.DB, mobileSecret(cfg), cfg.Now)
		if err != nil {
			return err
		}
		box.Signals = g.mobile.Signals()
		g.pushes = box
	} else {
		box := mobile.NewPushBox(cfg.Now)
		box.Signals = g.mobile.Signals()
		g.pushes = box
	}
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

// pushBox is the app's push channel: messages in, the app's inbox out.
type pushBox interface {
	method.Notifier
	mobile.AppInbox
}

// mobileSecret is the secret Cl@ve Móvil keys its codes with, which also
// keys the app's stored messages.
func mobileSecret(cfg Config) []byte {
	if cfg.Mobile.Secret != nil {
		return cfg.Mobile.Secret
	}
	return cfg.PINSecret
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
// through Cl@ve Móvil, by citizen. Their keys are derived from the
// gateway's PIN secret, so that gateway processes sharing a database and
// that secret hold the same phones: each answers the pushes it sends with
// the one active device, whichever process activated it.
type personaDevices struct {
	mu   sync.Mutex
	keys map[string]ed25519.PrivateKey
}

// personaPhoneKey is the key of a persona's phone: derived from secret
// when there is one, random otherwise (a gateway whose secret is random
// at each start shares nothing with another anyway).
func personaPhoneKey(secret []byte, citizen string) (ed25519.PrivateKey, error) {
	if len(secret) == 0 {
		_, key, err := ed25519.GenerateKey(rand.Reader)
		return key, err
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("clave gateway persona phone\x00" + citizen))
	return ed25519.NewKeyFromSeed(m.Sum(nil)), nil
}

// activatePersonaPhones gives the personas that answer on a phone (they
// approve, decline or never answer) an active device with their key,
// unless one is active with it already (another process of the gateway
// activated it): activating again would replace that process's device.
func (g *Gateway) activatePersonaPhones(ctx context.Context) error {
	g.personaPhones.mu.Lock()
	defer g.personaPhones.mu.Unlock()
	if g.personaPhones.keys == nil {
		g.personaPhones.keys = map[string]ed25519.PrivateKey{}
	}
	for _, p := range personaDefs {
		switch p.Outcome {
		case OutcomeApproves, OutcomeDeclines, OutcomeTimesOut, OutcomeBasic:
		default:
			continue
		}
		citizen := p.id.String()
		key, err := personaPhoneKey(g.cfg.PINSecret, citizen)
		if err != nil {
			return err
		}
		pub := key.Public().(ed25519.PublicKey)
		dev, err := g.mobile.ActiveDevice(ctx, citizen)
		switch {
		case err == nil && dev.PublicKey.Equal(pub):
			// Already this phone.
		case err == nil || errors.Is(err, mobile.ErrNoDevice):
			if _, err := g.mobile.Activate(ctx, citizen, mobile.ByCertificate, pub); err != nil {
				return fmt.Errorf("gateway: persona %s's phone: %w", p.ID, err)
			}
		default:
			return fmt.Errorf("gateway: persona %s's phone: %w", p.ID, err)
		}
		g.personaPhones.keys[citizen] = key
	}
	return nil
}

// personaPhone answers, as the persona's phone would, the Cl@ve Móvil
// requests pushed to a persona: approves or declines at once, or never
// answers. It answers from the active device if that device holds the
// persona's key; a device the citizen's app activated since is left to
// the app.
func (g *Gateway) personaPhone(ctx context.Context, m method.Message) {
	g.personaPhones.mu.Lock()
	key, ok := g.personaPhones.keys[m.To]
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
	dev, err := g.mobile.ActiveDevice(ctx, m.To)
	if err != nil || !dev.PublicKey.Equal(key.Public()) {
		g.log.WarnContext(ctx, "gateway: persona phone is no longer the active device", "persona", p.id, "error", err)
		return
	}
	pending, err := g.mobile.PendingRequests(ctx, dev.ID)
	if err != nil {
		g.log.WarnContext(ctx, "gateway: persona phone", "persona", p.id, "error", err)
		return
	}
	for _, req := range pending {
		payload, sig, err := mobile.SignConfirmation(key, req.Confirmation(decision, g.cfg.Now()))
		if err == nil {
			_, err = g.mobile.Decide(ctx, dev.ID, payload, sig)
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
