package pin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/clave-go/clave/gateway/method"
	"github.com/clave-go/clave/internal/dni"
	"github.com/clave-go/clave/saml"
)

// Devices tells whether a citizen has an active Cl@ve app, which then receives
// the PIN instead of an SMS. Cl@ve Móvil implements it; without it every PIN
// goes by SMS.
type Devices interface {
	HasActiveDevice(ctx context.Context, citizen string) (bool, error)
}

// Flow data keys of this method.
const (
	keyCitizen = "pin.citizen"
	keyCode    = "pin.code"
	keyExpires = "pin.expires"
)

// Method is Cl@ve PIN on the gateway's chooser (a method.Method): the
// citizen's pages, on top of a Service.
type Method struct {
	svc      *Service
	citizens method.Citizens
	notifier method.Notifier
	devices  Devices
	log      *slog.Logger
}

// NewMethod builds the Cl@ve PIN method: PINs issued and checked by svc,
// delivered through n to the citizens found in citizens. devices may be set
// later with WithDevices. log may be nil (slog.Default).
func NewMethod(svc *Service, citizens method.Citizens, n method.Notifier, log *slog.Logger) *Method {
	if log == nil {
		log = slog.Default()
	}
	return &Method{svc: svc, citizens: citizens, notifier: n, log: log}
}

// WithDevices makes the method deliver PINs to active apps.
func (m *Method) WithDevices(d Devices) *Method {
	m.devices = d
	return m
}

// ID implements method.Method.
func (m *Method) ID() saml.Method { return saml.MethodAEATPIN }

// MaxLoA implements method.Method: advanced registration gives substantial.
func (m *Method) MaxLoA() saml.LoA { return saml.LoASubstantial }

// Slug implements method.Method.
func (m *Method) Slug() string { return "pin" }

// LoAFor is the level a citizen reaches with Cl@ve PIN: a basic registration
// (video or letter) gives low, an advanced one substantial.
func LoAFor(c method.Citizen) saml.LoA {
	if c.Level == method.LevelAdvanced {
		return saml.LoASubstantial
	}
	return saml.LoALow
}

// Handler implements method.Method.
func (m *Method) Handler(host method.Host) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/{login}/pin/{$}", func(w http.ResponseWriter, r *http.Request) { m.page(host, w, r, "") })
	mux.HandleFunc("GET /login/{login}/pin/new", func(w http.ResponseWriter, r *http.Request) { m.restart(host, w, r) })
	mux.HandleFunc("POST /login/{login}/pin/request", func(w http.ResponseWriter, r *http.Request) { m.request(host, w, r) })
	mux.HandleFunc("POST /login/{login}/pin/verify", func(w http.ResponseWriter, r *http.Request) { m.verify(host, w, r) })
	return mux
}

func (m *Method) flowOr404(host method.Host, w http.ResponseWriter, r *http.Request) (*method.Login, bool) {
	f, err := host.Login(r)
	switch {
	case errors.Is(err, method.ErrNoLogin):
		host.Render(w, r, http.StatusNotFound, "error", map[string]any{"Message": "error.flow"})
		return nil, false
	case err != nil:
		m.log.ErrorContext(r.Context(), "pin: reading the login", "error", err)
		host.Render(w, r, http.StatusServiceUnavailable, "error", map[string]any{"Message": "error.request"})
		return nil, false
	}
	return f, true
}

func base(f *method.Login) string { return "/login/" + f.ID + "/pin/" }

// page shows the identification form, or the PIN form once a PIN was asked for.
func (m *Method) page(host method.Host, w http.ResponseWriter, r *http.Request, errKey string) {
	f, ok := m.flowOr404(host, w, r)
	if !ok {
		return
	}
	if f.Data[keyCitizen] == "" {
		m.renderForm(host, w, r, f, http.StatusOK, errKey, "")
		return
	}
	m.renderVerify(host, w, r, f, http.StatusOK, errKey)
}

func (m *Method) renderForm(host method.Host, w http.ResponseWriter, r *http.Request, f *method.Login, status int, errKey, doc string) {
	host.Render(w, r, status, "pin_form", map[string]any{
		"Action": base(f) + "request", "CancelURL": "/login/" + f.ID + "/cancel", "Error": errKey, "Document": doc,
	})
}

func (m *Method) renderVerify(host method.Host, w http.ResponseWriter, r *http.Request, f *method.Login, status int, errKey string) {
	st, err := m.svc.Status(r.Context(), f.Data[keyCitizen])
	if err != nil {
		m.log.ErrorContext(r.Context(), "pin: status", "error", err)
	}
	exp, _ := time.Parse(time.RFC3339Nano, f.Data[keyExpires])
	left := exp.Sub(host.Now())
	if left < 0 {
		left = 0
	}
	host.Render(w, r, status, "pin_verify", map[string]any{
		"Action": base(f) + "verify", "RestartURL": base(f) + "new", "CancelURL": "/login/" + f.ID + "/cancel",
		"RequestCode": f.Data[keyCode], "Seconds": int(left.Seconds()),
		"Left":       fmt.Sprintf("%d:%02d", int(left.Minutes()), int(left.Seconds())%60),
		"NeedsPhone": st.NeedsPhone, "Error": errKey,
	})
}

// restart forgets the identifier typed, to ask for another PIN.
func (m *Method) restart(host method.Host, w http.ResponseWriter, r *http.Request) {
	f, ok := m.flowOr404(host, w, r)
	if !ok {
		return
	}
	_ = host.Update(r.Context(), f.ID, func(data map[string]string) error {
		delete(data, keyCitizen)
		delete(data, keyCode)
		delete(data, keyExpires)
		return nil
	})
	http.Redirect(w, r, base(f), http.StatusSeeOther)
}

// request issues a PIN. Whether the identifier is registered, active and
// matches its contrast datum changes only whether the PIN is delivered: the
// PIN is issued, rate-limited and counted the same way in every case, so the
// answer reveals nothing about who is registered.
func (m *Method) request(host method.Host, w http.ResponseWriter, r *http.Request) {
	f, ok := m.flowOr404(host, w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		m.renderForm(host, w, r, f, http.StatusBadRequest, "pin.baddocument", "")
		return
	}
	id, err := dni.Parse(r.PostForm.Get("document"))
	if err != nil || id.Kind() == dni.KindEIDAS {
		m.renderForm(host, w, r, f, http.StatusBadRequest, "pin.baddocument", "")
		return
	}
	ctx := r.Context()
	issued, err := m.Issue(ctx, id.String(), r.PostForm.Get("contrast"), r.PostForm.Get("code"))
	switch {
	case errors.Is(err, ErrBadRequestCode):
		m.renderForm(host, w, r, f, http.StatusBadRequest, "pin.badcode", id.String())
		return
	case errors.Is(err, ErrRateLimited):
		m.renderForm(host, w, r, f, http.StatusTooManyRequests, "pin.ratelimited", id.String())
		return
	case errors.Is(err, ErrBlocked):
		m.renderForm(host, w, r, f, http.StatusForbidden, "pin.blocked", id.String())
		return
	case err != nil:
		m.log.ErrorContext(ctx, "pin: request", "error", err)
		host.Render(w, r, http.StatusInternalServerError, "error", map[string]any{"Message": "error.request"})
		return
	}
	err = host.Update(ctx, f.ID, func(data map[string]string) error {
		data[keyCitizen] = id.String()
		data[keyCode] = issued.RequestCode
		data[keyExpires] = issued.ExpiresAt.Format(time.RFC3339Nano)
		return nil
	})
	if err != nil {
		host.Render(w, r, http.StatusInternalServerError, "error", map[string]any{"Message": "error.request"})
		return
	}
	http.Redirect(w, r, base(f), http.StatusSeeOther)
}

// Issue issues a PIN for id and delivers it when id is a registered, active
// citizen who typed the right contrast datum. Whether it was delivered changes
// nothing else: the PIN is issued, rate-limited and counted the same way in
// every case, so no answer built on it reveals who is registered. Every front
// door to Cl@ve PIN (these pages, the gateway's API for services' own apps)
// issues through it.
//
// id is a DNI or NIE in any form a person types it; an invalid one is
// refused with ErrBadCitizen.
func (m *Method) Issue(ctx context.Context, id, contrast, chosenCode string) (Issued, error) {
	doc, err := dni.Parse(id)
	if err != nil || (doc.Kind() != dni.KindDNI && doc.Kind() != dni.KindNIE) {
		return Issued{}, ErrBadCitizen
	}
	issued, err := m.svc.Request(ctx, doc.String(), chosenCode)
	if err != nil {
		return Issued{}, err
	}
	c, err := m.citizens.Citizen(ctx, doc.String())
	if err == nil && c.Status == method.StatusActive && c.MatchContrast(contrast) {
		m.deliver(ctx, c, issued)
	} else {
		m.log.InfoContext(ctx, "pin: not delivered (unknown, inactive or wrong contrast datum)", "person", doc)
	}
	return issued, nil
}

// deliver sends an issued PIN to the citizen: to the active Cl@ve app when
// there is one, by SMS to the registered phone otherwise.
func (m *Method) deliver(ctx context.Context, c method.Citizen, is Issued) {
	text := fmt.Sprintf("Cl@ve PIN: %s. Código de solicitud: %s. Válido hasta las %s.", is.PIN, is.RequestCode, is.ExpiresAt.Format("15:04"))
	msg := method.Message{Channel: method.SMS, To: c.Phone, Text: text, Code: is.PIN}
	if m.devices != nil {
		if active, err := m.devices.HasActiveDevice(ctx, c.ID); err == nil && active {
			msg.Channel, msg.To = method.App, c.ID
		}
	}
	if err := m.notifier.Send(ctx, msg); err != nil {
		m.log.ErrorContext(ctx, "pin: delivery failed", "person", c.Masked(), "channel", msg.Channel, "error", err)
	}
}

// verify checks the typed PIN and ends the flow on success.
func (m *Method) verify(host method.Host, w http.ResponseWriter, r *http.Request) {
	f, ok := m.flowOr404(host, w, r)
	if !ok {
		return
	}
	who := f.Data[keyCitizen]
	if who == "" {
		http.Redirect(w, r, base(f), http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		m.renderVerify(host, w, r, f, http.StatusBadRequest, "pin.wrong")
		return
	}
	ctx := r.Context()
	id, err := dni.Parse(who)
	if err != nil {
		m.renderVerify(host, w, r, f, http.StatusBadRequest, "pin.wrong")
		return
	}
	c, cerr := m.citizens.Citizen(ctx, id.String())
	registered := ""
	if cerr == nil {
		registered = c.Phone
	}
	err = m.svc.Verify(ctx, who, f.Data[keyCode], strings.TrimSpace(r.PostForm.Get("pin")), r.PostForm.Get("phone"), registered)
	switch {
	case err == nil && cerr == nil && c.Status == method.StatusActive:
		host.Complete(w, r, m, f, c, LoAFor(c))
	case err == nil:
		// Only reachable if the citizen was removed or blocked meanwhile.
		m.renderVerify(host, w, r, f, http.StatusForbidden, "pin.wrong")
	case errors.Is(err, ErrBlocked):
		m.renderVerify(host, w, r, f, http.StatusForbidden, "pin.blocked")
	case errors.Is(err, ErrPhoneRequired):
		m.renderVerify(host, w, r, f, http.StatusUnauthorized, "pin.phone_required")
	default:
		m.renderVerify(host, w, r, f, http.StatusUnauthorized, "pin.wrong")
	}
}
