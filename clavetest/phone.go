package clavetest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/clave-go/clave/gateway"
	"github.com/clave-go/clave/mobile"
	"github.com/clave-go/clave/mobile/app"
	"github.com/clave-go/clave/saml"
)

// phonePassphrase unlocks the phones of the kit; they are test phones.
var phonePassphrase = []byte("clavetest phone")

// Phone is a citizen's Cl@ve app played by a test: activated at the gateway
// like a real one, it answers the Cl@ve Móvil logins pushed to it (see
// Browser.LogInWithPhone), or the test drives it through Session.
type Phone struct {
	// Session is the unlocked app: Pending, Scan, Confirm, Decline,
	// PINs, History, Deactivate...
	Session *app.Session
	// Decision is how the phone answers in Browser.LogInWithPhone:
	// mobile.Confirm (the zero value means it too) or mobile.Decline.
	Decision mobile.Decision
}

// ErrNoRequest is returned when a phone waited for a login request and none
// came.
var ErrNoRequest = errors.New("clavetest: no Cl@ve Móvil request reached the phone")

// Phone activates a Cl@ve app for who, a registered citizen, the way a
// citizen does: it asks for an activation code with who.Contrast, reads it
// from the gateway's SMS inbox and activates a fresh device key. Any device
// the citizen had is deactivated. The phone shares the gateway's clock.
func (g *Gateway) Phone(ctx context.Context, who Citizen) (*Phone, error) {
	c, err := g.Citizen(ctx, who.ID)
	if err != nil {
		return nil, fmt.Errorf("clavetest: %s is not registered at the gateway: %w", who.ID, err)
	}
	in := g.Inbox()
	if in == nil {
		return nil, errors.New("clavetest: the gateway has no Inbox to read the activation code from")
	}
	client := &app.Client{BaseURL: g.URL, Now: g.Gateway.Now,
		// Test phones: a cheap key derivation keeps tests fast.
		KDF: app.KDFParams{Time: 1, MemoryKiB: 8 << 10, Threads: 1}}
	asked := g.Gateway.Now()
	if _, err := client.RequestActivationCode(ctx, who.ID, who.Contrast); err != nil {
		return nil, err
	}
	var code string
	for _, m := range in.Messages(gateway.ChannelSMS, c.Phone) {
		if !m.SentAt.Before(asked) && strings.Contains(m.Text, "activación") {
			code = m.Code
		}
	}
	if code == "" {
		return nil, errors.New("clavetest: no activation code was sent (wrong contrast datum, or not active?)")
	}
	p, err := client.ActivateSMS(ctx, c.ID, code, phonePassphrase)
	if err != nil {
		return nil, err
	}
	s, err := p.Unlock(phonePassphrase)
	if err != nil {
		return nil, err
	}
	return &Phone{Session: s}, nil
}

// Answer waits up to wait for a login request on the phone and answers it
// with p.Decision, returning it.
func (p *Phone) Answer(ctx context.Context, wait time.Duration) (app.Request, error) {
	reqs, err := p.Session.Pending(ctx, wait)
	if err != nil {
		return app.Request{}, err
	}
	if len(reqs) == 0 {
		return app.Request{}, ErrNoRequest
	}
	req := reqs[len(reqs)-1]
	if p.Decision == mobile.Decline {
		return req, p.Session.Decline(ctx, req)
	}
	return req, p.Session.Confirm(ctx, req)
}

// LogInWithPhone opens pageURL, a page of the agency that requires login,
// and logs in as who with Cl@ve Móvil without QR: it types who's DNI/NIE
// and contrast datum, phone answers as its Decision says, and the browser
// follows the outcome back to the agency. It returns the agency's last page
// and its status code, as LogIn does.
func (b *Browser) LogInWithPhone(ctx context.Context, pageURL string, who Citizen, phone *Phone) (string, int, error) {
	resp, page, err := b.toGateway(ctx, pageURL)
	if err != nil {
		return "", 0, err
	}
	href := methodHref(page, saml.MethodMovil)
	if href == "" {
		return "", 0, unexpected("Cl@ve Móvil on the chooser", resp, page)
	}
	if resp, page, err = b.do(ctx, http.MethodGet, b.gw.URL+href, nil); err != nil {
		return "", 0, err
	}
	token := hidden(page, "csrf")
	if token == "" {
		return "", 0, unexpected("the Cl@ve Móvil page", resp, page)
	}
	resp, page, err = b.do(ctx, http.MethodPost, b.gw.URL+href+"push",
		url.Values{"document": {who.ID}, "contrast": {who.Contrast}, "csrf": {token}})
	if err != nil {
		return "", 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return "", 0, unexpected("the Cl@ve Móvil waiting page", resp, page)
	}
	if _, err := phone.Answer(ctx, 5*time.Second); err != nil {
		return "", 0, err
	}
	// The waiting page, reloaded, ends the login.
	if resp, page, err = b.do(ctx, http.MethodGet, b.gw.URL+href, nil); err != nil {
		return "", 0, err
	}
	return b.backToAgency(ctx, resp, page)
}
