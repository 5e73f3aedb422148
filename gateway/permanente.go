package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/clave-go/clave/gateway/method"
	"github.com/clave-go/clave/permanente"
	"github.com/clave-go/clave/pin"
)

// initPermanente builds Cl@ve Permanente on the gateway's Service: the
// method on the chooser and the account services' pages. It runs after
// initMobile, whose notifier also serves the app.
func (g *Gateway) initPermanente(cfg Config) error {
	g.permanenteMethod = permanente.NewMethod(g.permanente, cfg.PermanenteLimits, g.log)
	var err error
	g.permanentePages, err = permanente.NewAccountPages(permanente.AccountConfig{
		Service:  g.permanente,
		Citizens: citizenLookup{g.citizens},
		Notifier: g.notifier,
		Now:      cfg.Now,
		Logger:   g.log,
		Client:   cfg.ClientAddress,
		Limits:   cfg.PermanenteLimits,
		Identify: pinIdentifier{g.pinMethod},
	})
	return err
}

// pinIdentifier identifies citizens with Cl@ve PIN for the account pages'
// new activation code, with Cl@ve PIN's decoys and limits.
type pinIdentifier struct{ m *pin.Method }

// Challenge implements permanente.Identifier: a Cl@ve PIN for id, or a
// decoy answered alike.
func (p pinIdentifier) Challenge(ctx context.Context, client, id, contrast string) (string, error) {
	issued, err := p.m.Issue(ctx, client, id, contrast, "")
	switch {
	case err == nil:
		return issued.RequestCode, nil
	case errors.Is(err, pin.ErrTooManyAttempts), errors.Is(err, pin.ErrRateLimited), errors.Is(err, pin.ErrBlocked):
		return "", fmt.Errorf("%w: %w", permanente.ErrIdentifyLimited, err)
	case errors.Is(err, pin.ErrUnavailable):
		return "", err
	}
	return "", fmt.Errorf("%w: %w", permanente.ErrIdentify, err)
}

// Verify implements permanente.Identifier.
func (p pinIdentifier) Verify(ctx context.Context, client, id, ref, secret string) (method.Citizen, error) {
	c, err := p.m.Check(ctx, client, id, ref, strings.TrimSpace(secret), "")
	switch {
	case err == nil:
		return c, nil
	case errors.Is(err, pin.ErrTooManyAttempts), errors.Is(err, pin.ErrBlocked):
		return method.Citizen{}, fmt.Errorf("%w: %w", permanente.ErrIdentifyLimited, err)
	case errors.Is(err, pin.ErrUnavailable):
		return method.Citizen{}, err
	}
	return method.Citizen{}, fmt.Errorf("%w: %w", permanente.ErrIdentify, err)
}

// permanenteRoutes mounts the account services, outside any login: the
// gateway's form tokens belong to logins, so these pages carry their own.
func (g *Gateway) permanenteRoutes(mux *http.ServeMux) {
	mux.Handle(permanente.AccountPath, g.permanentePages)
}

// RegisterPermanente gives the registered citizen id Cl@ve Permanente and
// returns the first activation code, in clear this once: it comes with the
// registration, and the caller hands it to the citizen (on the invitation
// letter, say), who activates at /permanente/activate with it, the email
// of the registration and an SMS code. It returns ErrNotRegistered for a
// citizen the gateway does not know and permanente.ErrAlreadyRegistered
// for one who has Cl@ve Permanente already.
func (g *Gateway) RegisterPermanente(ctx context.Context, id string) (permanente.ActivationCode, error) {
	c, err := g.registered(ctx, id)
	if err != nil {
		return permanente.ActivationCode{}, err
	}
	code, err := g.permanente.Register(ctx, c.ID)
	if err != nil {
		return permanente.ActivationCode{}, err
	}
	g.log.InfoContext(ctx, "gateway: Cl@ve Permanente registered", "person", c.Masked())
	return code, nil
}

// RegeneratePermanenteCode issues a new activation code to the registered
// citizen id, who identified by other means, and returns it in clear this
// once. Only the new code is valid from then on, unblocked; an activation
// or reset started with the old one is dropped. It returns
// ErrNotRegistered for a citizen the gateway does not know and
// permanente.ErrNotRegistered for one without Cl@ve Permanente.
func (g *Gateway) RegeneratePermanenteCode(ctx context.Context, id string) (permanente.ActivationCode, error) {
	c, err := g.registered(ctx, id)
	if err != nil {
		return permanente.ActivationCode{}, err
	}
	code, err := g.permanente.RegenerateActivationCode(ctx, c.ID)
	if err != nil {
		return permanente.ActivationCode{}, err
	}
	g.log.InfoContext(ctx, "gateway: Cl@ve Permanente activation code regenerated", "person", c.Masked())
	return code, nil
}

// apiPermanente registers a citizen for Cl@ve Permanente or regenerates
// their activation code: {"citizen": "...", "action": "register" |
// "regenerate"} → {"activation_code": "XXXX-XXXX-XXXX-XXXX"}.
func (g *Gateway) apiPermanente(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Citizen string `json:"citizen"`
		Action  string `json:"action"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	var (
		code permanente.ActivationCode
		err  error
	)
	switch in.Action {
	case "register":
		code, err = g.RegisterPermanente(r.Context(), in.Citizen)
	case "regenerate":
		code, err = g.RegeneratePermanenteCode(r.Context(), in.Citizen)
	default:
		err = errors.New(`action must be "register" or "regenerate"`)
	}
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, map[string]string{"activation_code": code.Grouped()})
	case errors.Is(err, ErrNotRegistered):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not a registered citizen"})
	case errors.Is(err, permanente.ErrNotRegistered):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "the citizen has no Cl@ve Permanente"})
	case errors.Is(err, permanente.ErrAlreadyRegistered):
		writeJSON(w, http.StatusConflict, map[string]string{"error": "the citizen has Cl@ve Permanente already; regenerate the code"})
	case errors.Is(err, permanente.ErrBadCitizen):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "not a valid DNI or NIE"})
	default:
		if in.Action == "register" || in.Action == "regenerate" {
			g.log.ErrorContext(r.Context(), "gateway: Cl@ve Permanente", "action", in.Action, "error", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily unavailable"})
			return
		}
		apiError(w, err)
	}
}
