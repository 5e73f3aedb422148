package permanente

import (
	"context"
	"errors"
	"net/http"

	"github.com/clave-go/clave/gateway/method"
	"github.com/clave-go/clave/internal/dni"
	"github.com/clave-go/clave/internal/pages"
)

// Identifier identifies a citizen with another method, for the account
// service that needs it: a new activation code is only handed to someone who
// proved who they are otherwise. The reference gateway's is Cl@ve PIN.
type Identifier interface {
	// Challenge sends citizen id, who typed contrast (their document's
	// contrast datum), a one-time secret (a Cl@ve PIN to their app or
	// phone) and returns a reference for the page to show and to verify
	// it with. It answers alike for registered and unknown identifiers.
	// ctx carries the language of the page asking (the module's pages
	// package), which the secret's message should be written in.
	Challenge(ctx context.Context, client, id, contrast string) (ref string, err error)
	// Verify checks the secret typed for ref and returns the citizen it
	// identifies; ErrIdentify when it does not, ErrIdentifyLimited past a
	// limit, or a storage error.
	Verify(ctx context.Context, client, id, ref, secret string) (method.Citizen, error)
}

// Errors of an Identifier.
var (
	// ErrIdentify reports a secret that does not identify the citizen.
	ErrIdentify = errors.New("permanente: not identified")
	// ErrIdentifyLimited reports an identification refused by a limit.
	ErrIdentifyLimited = errors.New("permanente: too many identification attempts")
)

// regenCookie holds the sealed step of a regeneration: whose, and the
// identification's reference.
const regenCookie = "clave_pm_regen"

// regenState is the step of a regeneration, sealed in regenCookie.
type regenState struct {
	Citizen string `json:"c"`
	Ref     string `json:"r"`
}

// regenerate serves GET /permanente/regenerate: the identification form,
// or the secret's once asked for.
func (p *AccountPages) regenerate(w http.ResponseWriter, r *http.Request) {
	var st regenState
	if c, err := r.Cookie(regenCookie); err == nil && p.state.Open(regenCookie, c.Value, p.now(), &st) == nil {
		p.regenPIN(w, r, st, http.StatusOK, "")
		return
	}
	p.regenStart(w, r, http.StatusOK, "", "")
}

func (p *AccountPages) regenStart(w http.ResponseWriter, r *http.Request, status int, errKey, doc string) {
	p.render(w, r, status, "permanente_regenerate", map[string]any{"Error": errKey, "Document": doc})
}

func (p *AccountPages) regenPIN(w http.ResponseWriter, r *http.Request, st regenState, status int, errKey string) {
	p.render(w, r, status, "permanente_regenerate_pin", map[string]any{"Error": errKey, "Ref": st.Ref})
}

// regenerateStart identifies the citizen: a Cl@ve PIN goes to them.
func (p *AccountPages) regenerateStart(w http.ResponseWriter, r *http.Request) {
	id, err := dni.Parse(r.PostForm.Get("document"))
	if err != nil || (id.Kind() != dni.KindDNI && id.Kind() != dni.KindNIE) {
		p.regenStart(w, r, http.StatusBadRequest, "permanente.baddocument", "")
		return
	}
	ctx := pages.WithLang(r.Context(), pages.Lang(r)) // the PIN's SMS speaks the page's language
	ref, err := p.identify.Challenge(ctx, p.client(r), id.String(), r.PostForm.Get("contrast"))
	switch {
	case errors.Is(err, ErrIdentifyLimited):
		p.regenStart(w, r, http.StatusTooManyRequests, "permanente.toomany", id.String())
		return
	case err != nil:
		p.unavailable(w, r, "identifying for a new activation code", err)
		return
	}
	st := regenState{Citizen: id.String(), Ref: ref}
	v, err := p.state.Seal(regenCookie, st, p.now().Add(stateLifetime))
	if err != nil {
		p.unavailable(w, r, "sealing the step", err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: regenCookie, Value: v, Path: AccountPath, MaxAge: int(stateLifetime.Seconds()),
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	p.regenPIN(w, r, st, http.StatusOK, "")
}

// regenerateVerify checks the Cl@ve PIN and shows the new activation code.
func (p *AccountPages) regenerateVerify(w http.ResponseWriter, r *http.Request) {
	var st regenState
	c, err := r.Cookie(regenCookie)
	if err != nil || p.state.Open(regenCookie, c.Value, p.now(), &st) != nil {
		p.regenStart(w, r, http.StatusBadRequest, "permanente.sms.flowexpired", "")
		return
	}
	ctx := r.Context()
	who, err := p.identify.Verify(ctx, p.client(r), st.Citizen, st.Ref, r.PostForm.Get("pin"))
	switch {
	case errors.Is(err, ErrIdentifyLimited):
		p.regenPIN(w, r, st, http.StatusTooManyRequests, "permanente.toomany")
		return
	case errors.Is(err, ErrIdentify):
		p.regenPIN(w, r, st, http.StatusUnauthorized, "permanente.regenerate.wrongpin")
		return
	case err != nil:
		p.unavailable(w, r, "identifying for a new activation code", err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: regenCookie, Path: AccountPath, MaxAge: -1, HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	code, err := p.svc.RegenerateActivationCode(ctx, who.ID)
	switch {
	case errors.Is(err, ErrNotRegistered):
		// Identified: they may learn that they have no Cl@ve Permanente.
		p.render(w, r, http.StatusConflict, "permanente_done", map[string]any{"Message": "permanente.regenerate.none"})
		return
	case err != nil:
		p.unavailable(w, r, "regenerating the activation code", err)
		return
	}
	p.log.InfoContext(ctx, "permanente: activation code regenerated on the pages", "person", who.Masked())
	p.render(w, r, http.StatusOK, "permanente_regenerated", map[string]any{"Code": code.Grouped()})
}
