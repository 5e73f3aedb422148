package permanente

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/clave-go/clave/gateway/method"
	"github.com/clave-go/clave/internal/dni"
	"github.com/clave-go/clave/internal/pages"
	"github.com/clave-go/clave/internal/seal"
	"github.com/clave-go/clave/saml"
)

// Login data keys of this method.
const (
	// keyCitizen is the citizen whose password was accepted.
	keyCitizen = "permanente.citizen"
	// keyStep is what the login waits for after the password: stepChange
	// or stepSMS; empty while it waits for the password.
	keyStep = "permanente.step"
	// keyTicket is the change ticket of an expired password, sealed: the
	// login's data is stored, and a ticket sets a password.
	keyTicket = "permanente.ticket"
	// keySends counts the SMS codes sent for the login.
	keySends = "permanente.sends"
)

// Steps of a login after the password.
const (
	stepChange = "change"
	stepSMS    = "sms"
)

// maxLoginSends bounds the SMS codes sent for one login, resends included.
const maxLoginSends = 3

// maxFormBytes bounds a posted form: a few fields, a password of at most
// 512 bytes among them.
const maxFormBytes = 4096

// AccountPath is where the gateway mounts the account services
// ([AccountPages]); the login pages link to them.
const AccountPath = "/permanente/"

// errSMSLimit reports a citizen over Limits.CitizenSMS.
var errSMSLimit = errors.New("permanente: too many SMS codes for this citizen")

// Method is Cl@ve Permanente on the gateway's chooser (a method.Method): the
// pages of a login with DNI/NIE and password, the change an expired password
// forces, and the SMS code of the reinforced step, on top of a [Service].
//
// The level reached follows the rules: the password alone gives low; for a
// login that asks for substantial or more, a citizen of advanced
// registration also types a 6-digit SMS code sent to the registered phone
// and reaches substantial. A basic registration stays at low, which the
// gateway refuses to a login that asked for more.
type Method struct {
	svc    *Service
	log    *slog.Logger
	guard  *guard
	sealer *seal.Sealer
}

// NewMethod builds the Cl@ve Permanente method on svc, with limits per
// client and overall. log may be nil (slog.Default).
func NewMethod(svc *Service, limits Limits, log *slog.Logger) *Method {
	if log == nil {
		log = slog.Default()
	}
	return &Method{svc: svc, log: log, guard: newGuard(limits, svc.cfg.Now, log),
		sealer: mustSealer(svc.key, "permanente login change ticket")}
}

// mustSealer derives a sealer from the service's key, which is always
// long enough.
func mustSealer(key []byte, purpose string) *seal.Sealer {
	s, err := seal.New(key, purpose)
	if err != nil {
		panic(fmt.Sprintf("permanente: sealer: %v", err))
	}
	return s
}

// ID implements method.Method: the SelectedIdP the real gateway sends for
// Cl@ve Permanente.
func (m *Method) ID() saml.Method { return saml.MethodGISS }

// MaxLoA implements method.Method: an advanced registration with the SMS
// code gives substantial.
func (m *Method) MaxLoA() saml.LoA { return saml.LoASubstantial }

// Slug implements method.Method.
func (m *Method) Slug() string { return "permanente" }

// Handler implements method.Method.
func (m *Method) Handler(host method.Host) http.Handler {
	mux := http.NewServeMux()
	p := "/login/{login}/permanente/"
	mux.HandleFunc("GET "+p+"{$}", func(w http.ResponseWriter, r *http.Request) { m.page(host, w, r) })
	mux.HandleFunc("POST "+p+"password", func(w http.ResponseWriter, r *http.Request) { m.password(host, w, r) })
	mux.HandleFunc("POST "+p+"change", func(w http.ResponseWriter, r *http.Request) { m.change(host, w, r) })
	mux.HandleFunc("POST "+p+"sms", func(w http.ResponseWriter, r *http.Request) { m.sms(host, w, r) })
	mux.HandleFunc("POST "+p+"resend", func(w http.ResponseWriter, r *http.Request) { m.resend(host, w, r) })
	mux.HandleFunc("POST "+p+"restart", func(w http.ResponseWriter, r *http.Request) { m.restart(host, w, r) })
	// A page answering a post carries the language switch, a link to its
	// own address: it leads back to the login's current step.
	mux.HandleFunc("GET "+p+"{step}", func(w http.ResponseWriter, r *http.Request) {
		pages.Back(w, r, strings.TrimSuffix(r.URL.Path, r.PathValue("step")))
	})
	return mux
}

func base(l *method.Login) string { return "/login/" + l.ID + "/permanente/" }

// login reads the login of r, answering the browser when there is none.
func (m *Method) login(host method.Host, w http.ResponseWriter, r *http.Request) (*method.Login, bool) {
	l, err := host.Login(r)
	switch {
	case errors.Is(err, method.ErrNoLogin):
		host.Render(w, r, http.StatusNotFound, "error", map[string]any{"Message": "error.flow"})
		return nil, false
	case err != nil:
		m.unavailable(host, w, r, "reading the login", err)
		return nil, false
	}
	return l, true
}

// unavailable answers a failure of the gateway's own storage: the citizen
// did nothing wrong and may try again.
func (m *Method) unavailable(host method.Host, w http.ResponseWriter, r *http.Request, what string, err error) {
	if !errors.Is(err, errUnavailable) { // already logged by storage
		m.log.ErrorContext(r.Context(), "permanente: "+what, "error", err)
	}
	host.Render(w, r, http.StatusServiceUnavailable, "error", map[string]any{"Message": "error.unavailable"})
}

// page shows the login's current step.
func (m *Method) page(host method.Host, w http.ResponseWriter, r *http.Request) {
	l, ok := m.login(host, w, r)
	if !ok {
		return
	}
	switch l.Data[keyStep] {
	case stepChange:
		m.renderChange(host, w, r, l, http.StatusOK, "", nil)
	case stepSMS:
		m.renderSMS(host, w, r, l, http.StatusOK, "")
	default:
		m.renderPassword(host, w, r, l, http.StatusOK, "", "")
	}
}

func (m *Method) renderPassword(host method.Host, w http.ResponseWriter, r *http.Request, l *method.Login, status int, errKey, doc string) {
	host.Render(w, r, status, "permanente_login", map[string]any{
		"Base": base(l), "Requester": l.Requester, "CancelURL": "/login/" + l.ID + "/cancel", "Error": errKey, "Document": doc,
		"ActivateURL": AccountPath + "activate", "ResetURL": AccountPath + "reset",
	})
}

func (m *Method) renderChange(host method.Host, w http.ResponseWriter, r *http.Request, l *method.Login, status int, errKey string, rules []string) {
	host.Render(w, r, status, "permanente_expired", map[string]any{
		"Base": base(l), "CancelURL": "/login/" + l.ID + "/cancel", "Error": errKey, "Rules": rules,
	})
}

func (m *Method) renderSMS(host method.Host, w http.ResponseWriter, r *http.Request, l *method.Login, status int, errKey string) {
	phone := ""
	if c, err := host.Citizens().Citizen(r.Context(), l.Data[keyCitizen]); err == nil {
		phone = maskPhone(c.Phone)
	}
	sends, _ := strconv.Atoi(l.Data[keySends])
	host.Render(w, r, status, "permanente_sms", map[string]any{
		"Base": base(l), "Requester": l.Requester, "CancelURL": "/login/" + l.ID + "/cancel", "Error": errKey, "Phone": phone,
		"Minutes": int(m.svc.cfg.SMSValidity.Minutes()), "CanResend": sends < maxLoginSends,
	})
}

// password checks the DNI/NIE and password typed on the login's first page.
func (m *Method) password(host method.Host, w http.ResponseWriter, r *http.Request) {
	l, ok := m.login(host, w, r)
	if !ok {
		return
	}
	if l.Data[keyStep] != "" {
		http.Redirect(w, r, base(l), http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		m.renderPassword(host, w, r, l, http.StatusBadRequest, "permanente.baddocument", "")
		return
	}
	id, err := dni.Parse(r.PostForm.Get("document"))
	if err != nil || (id.Kind() != dni.KindDNI && id.Kind() != dni.KindNIE) {
		m.renderPassword(host, w, r, l, http.StatusBadRequest, "permanente.baddocument", "")
		return
	}
	ctx := r.Context()
	if !m.guard.allow(ctx, host.Client(r), id.String()) {
		m.renderPassword(host, w, r, l, http.StatusTooManyRequests, "permanente.toomany", id.String())
		return
	}
	c, res, err := checkPassword(ctx, m.svc, host.Citizens(), m.log, id.String(), r.PostForm.Get("password"))
	switch {
	case err == nil:
		m.log.InfoContext(ctx, "permanente: password accepted", "login", l.ID, "person", c.Masked())
		m.proceed(host, w, r, l, c)
	case errors.Is(err, ErrPasswordExpired):
		m.log.InfoContext(ctx, "permanente: password expired; change required", "login", l.ID, "person", c.Masked())
		sealed, err := m.sealer.Seal(ticketName(l, c.ID), res.ChangeTicket, host.Now().Add(m.svc.cfg.TicketValidity))
		if err == nil {
			err = host.Update(ctx, l.ID, func(data map[string]string) error {
				data[keyCitizen], data[keyStep], data[keyTicket] = c.ID, stepChange, sealed
				return nil
			})
		}
		if err != nil {
			m.unavailable(host, w, r, "saving the login", err)
			return
		}
		http.Redirect(w, r, base(l), http.StatusSeeOther)
	case errors.Is(err, ErrBlocked):
		m.renderPassword(host, w, r, l, http.StatusForbidden, "permanente.blocked", id.String())
	case errors.Is(err, ErrWrongPassword):
		m.renderPassword(host, w, r, l, http.StatusUnauthorized, "permanente.wrong", id.String())
	default:
		m.unavailable(host, w, r, "checking the password", err)
	}
}

// ticketName binds a sealed change ticket to the login and the citizen.
func ticketName(l *method.Login, citizen string) string {
	return keyTicket + "|" + l.ID + "|" + citizen
}

// checkPassword checks id's password as Service.Login does, for the
// citizens who can log in with one (loginable). Anyone else gets the
// hashing work and the answers of a wrong password, blocked after as many
// (Service.strangers), and their account, if any, is left alone. Storage
// failures wrap errUnavailable.
func checkPassword(ctx context.Context, svc *Service, citizens method.Citizens, log *slog.Logger, id, pw string) (method.Citizen, Result, error) {
	c, ok, err := loginable(ctx, svc, citizens, log, id)
	if err != nil {
		return method.Citizen{}, Result{}, err
	}
	if !ok {
		return method.Citizen{}, Result{}, strangerPassword(ctx, svc, log, id, pw)
	}
	res, err := svc.Login(ctx, id, pw)
	return c, res, storage(ctx, log, "login", err)
}

// loginable returns the citizen id and whether they can log in with a
// password: registered at the gateway, active, with an activated Cl@ve
// Permanente. Storage failures wrap errUnavailable.
func loginable(ctx context.Context, svc *Service, citizens method.Citizens, log *slog.Logger, id string) (method.Citizen, bool, error) {
	c, err := citizens.Citizen(ctx, id)
	switch {
	case errors.Is(err, method.ErrUnknownCitizen):
		return method.Citizen{}, false, nil
	case err != nil:
		return method.Citizen{}, false, storage(ctx, log, "reading the registry", err)
	case c.Status != method.StatusActive:
		return method.Citizen{}, false, nil
	}
	ok, err := svc.canLogIn(ctx, id)
	if err != nil {
		return method.Citizen{}, false, storage(ctx, log, "reading the account", err)
	}
	return c, ok, nil
}

// strangerPassword answers a password typed for id, who cannot log in with
// one, after the work of checking it.
func strangerPassword(ctx context.Context, svc *Service, log *slog.Logger, id, pw string) error {
	if len(pw) > maxPasswordBytes {
		pw = ""
	}
	if _, _, err := svc.verifyPassword(pw, svc.dummy); err != nil {
		return storage(ctx, log, "hashing", err)
	}
	return svc.strangers.password(id)
}

// proceed goes on from an accepted password: to the SMS code when the login
// asks for substantial or more and the registration can give it, otherwise
// to the service at low.
func (m *Method) proceed(host method.Host, w http.ResponseWriter, r *http.Request, l *method.Login, c method.Citizen) {
	ctx := r.Context()
	if l.MinLoA < saml.LoASubstantial || c.Level != method.LevelAdvanced || c.Phone == "" {
		m.log.InfoContext(ctx, "permanente: login", "login", l.ID, "person", c.Masked(), "loa", saml.LoALow.String())
		host.Complete(w, r, m, l, c, saml.LoALow)
		return
	}
	err := host.Update(ctx, l.ID, func(data map[string]string) error {
		data[keyCitizen], data[keyStep] = c.ID, stepSMS
		delete(data, keyTicket)
		return nil
	})
	if err != nil {
		m.unavailable(host, w, r, "saving the login", err)
		return
	}
	l.Data[keyCitizen], l.Data[keyStep] = c.ID, stepSMS
	m.issue(host, w, r, l, c)
}

// issue sends a new SMS code for the login and shows its page.
func (m *Method) issue(host method.Host, w http.ResponseWriter, r *http.Request, l *method.Login, c method.Citizen) {
	ctx := r.Context()
	if !m.guard.allowSMS(ctx, c) {
		m.renderSMS(host, w, r, l, http.StatusTooManyRequests, "permanente.sms.sendlimit")
		return
	}
	// Counted before the code is made, in the same update that checks the
	// bound, so that concurrent resends cannot pass it together.
	err := host.Update(ctx, l.ID, func(data map[string]string) error {
		n, _ := strconv.Atoi(data[keySends])
		if n >= maxLoginSends {
			return errSMSLimit
		}
		data[keySends] = strconv.Itoa(n + 1)
		return nil
	})
	if errors.Is(err, errSMSLimit) {
		l.Data[keySends] = strconv.Itoa(maxLoginSends)
		m.renderSMS(host, w, r, l, http.StatusTooManyRequests, "permanente.sms.sendlimit")
		return
	}
	if err != nil {
		m.unavailable(host, w, r, "saving the login", err)
		return
	}
	code, err := m.svc.IssueLoginSMS(ctx, c.ID, l.ID)
	switch err := storage(ctx, m.log, "issuing the login code", err); {
	case err == nil:
	case errors.Is(err, errUnavailable):
		m.unavailable(host, w, r, "issuing the login code", err)
		return
	default: // spent by wrong entries, or blocked or deleted meanwhile
		m.log.InfoContext(ctx, "permanente: no more SMS codes for this login", "login", l.ID, "person", c.Masked(), "reason", err)
		m.failLogin(host, w, r, l)
		return
	}
	text := pages.Textf(pages.Lang(r), "sms.permanente.login", l.Requester, code.Value, code.ExpiresAt.In(madrid).Format("15:04"))
	sendSMS(ctx, host.Notifier(), m.log, c, text, code)
	m.log.InfoContext(ctx, "permanente: login SMS code sent", "login", l.ID, "person", c.Masked())
	http.Redirect(w, r, base(l), http.StatusSeeOther)
}

// failLogin ends the login as one whose citizen could not prove who they are.
func (m *Method) failLogin(host method.Host, w http.ResponseWriter, r *http.Request, l *method.Login) {
	host.Fail(w, r, l, &saml.StatusError{Code: saml.StatusResponder, SubCode: saml.StatusAuthnFailed, Message: "Autenticación fallida"})
}

// citizenOf reads the citizen of the login's accepted password, who must
// still be registered and active.
func (m *Method) citizenOf(host method.Host, w http.ResponseWriter, r *http.Request, l *method.Login) (method.Citizen, bool) {
	c, err := host.Citizens().Citizen(r.Context(), l.Data[keyCitizen])
	switch {
	case errors.Is(err, method.ErrUnknownCitizen) || (err == nil && c.Status != method.StatusActive):
		m.log.WarnContext(r.Context(), "permanente: citizen no longer able to log in", "login", l.ID)
		m.failLogin(host, w, r, l)
		return method.Citizen{}, false
	case err != nil:
		m.unavailable(host, w, r, "reading the registry", err)
		return method.Citizen{}, false
	}
	return c, true
}

// change sets the new password that an expired one requires.
func (m *Method) change(host method.Host, w http.ResponseWriter, r *http.Request) {
	l, ok := m.login(host, w, r)
	if !ok {
		return
	}
	if l.Data[keyStep] != stepChange {
		http.Redirect(w, r, base(l), http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		m.renderChange(host, w, r, l, http.StatusBadRequest, "permanente.mismatch", nil)
		return
	}
	pw := r.PostForm.Get("password")
	if pw != r.PostForm.Get("password2") {
		m.renderChange(host, w, r, l, http.StatusBadRequest, "permanente.mismatch", nil)
		return
	}
	ctx := r.Context()
	if !m.guard.allow(ctx, host.Client(r), "") {
		m.renderChange(host, w, r, l, http.StatusTooManyRequests, "permanente.toomany", nil)
		return
	}
	c, ok := m.citizenOf(host, w, r, l)
	if !ok {
		return
	}
	var ticket string
	err := m.sealer.Open(ticketName(l, c.ID), l.Data[keyTicket], host.Now(), &ticket)
	if err == nil {
		err = storage(ctx, m.log, "changing the password", m.svc.CompleteChange(ctx, c.ID, ticket, pw, profileOf(c)))
	}
	switch {
	case err == nil:
		m.log.InfoContext(ctx, "permanente: expired password changed", "login", l.ID, "person", c.Masked())
		m.proceed(host, w, r, l, c)
	case errors.Is(err, ErrWeakPassword):
		m.renderChange(host, w, r, l, http.StatusBadRequest, "permanente.policy", ruleKeys(err))
	case errors.Is(err, errUnavailable):
		m.unavailable(host, w, r, "changing the password", err)
	default: // the ticket expired, or the password changed meanwhile
		if err := m.forget(ctx, host, l); err != nil {
			m.unavailable(host, w, r, "saving the login", err)
			return
		}
		m.renderPassword(host, w, r, l, http.StatusUnauthorized, "permanente.change.expired", c.ID)
	}
}

// profileOf is what the password policy knows of c.
func profileOf(c method.Citizen) Profile {
	return Profile{GivenName: c.GivenName, FirstSurname: c.FirstSurname, SecondSurname: c.SecondSurname}
}

// sms checks the SMS code of the reinforced step.
func (m *Method) sms(host method.Host, w http.ResponseWriter, r *http.Request) {
	l, ok := m.login(host, w, r)
	if !ok {
		return
	}
	if l.Data[keyStep] != stepSMS {
		http.Redirect(w, r, base(l), http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		m.renderSMS(host, w, r, l, http.StatusBadRequest, "permanente.sms.wrong")
		return
	}
	ctx := r.Context()
	if !m.guard.allow(ctx, host.Client(r), "") {
		m.renderSMS(host, w, r, l, http.StatusTooManyRequests, "permanente.toomany")
		return
	}
	err := m.svc.VerifyLoginSMS(ctx, l.Data[keyCitizen], l.ID, r.PostForm.Get("code"))
	switch err := storage(ctx, m.log, "checking the login code", err); {
	case err == nil:
		c, ok := m.citizenOf(host, w, r, l)
		if !ok {
			return
		}
		m.log.InfoContext(ctx, "permanente: login", "login", l.ID, "person", c.Masked(), "loa", saml.LoASubstantial.String())
		host.Complete(w, r, m, l, c, saml.LoASubstantial)
	case errors.Is(err, ErrWrongCode):
		m.renderSMS(host, w, r, l, http.StatusUnauthorized, "permanente.sms.wrong")
	case errors.Is(err, ErrExpired), errors.Is(err, ErrNoCode):
		m.renderSMS(host, w, r, l, http.StatusUnauthorized, "permanente.sms.expired")
	case errors.Is(err, errUnavailable):
		m.unavailable(host, w, r, "checking the login code", err)
	default: // ErrTooManyAttempts, or a citizen gone meanwhile
		m.log.InfoContext(ctx, "permanente: login SMS code spent by wrong entries", "login", l.ID)
		m.failLogin(host, w, r, l)
	}
}

// resend sends another SMS code for the login.
func (m *Method) resend(host method.Host, w http.ResponseWriter, r *http.Request) {
	l, ok := m.login(host, w, r)
	if !ok {
		return
	}
	if l.Data[keyStep] != stepSMS {
		http.Redirect(w, r, base(l), http.StatusSeeOther)
		return
	}
	if c, ok := m.citizenOf(host, w, r, l); ok {
		m.issue(host, w, r, l, c)
	}
}

// restart forgets the password step, to log in as someone else.
func (m *Method) restart(host method.Host, w http.ResponseWriter, r *http.Request) {
	l, ok := m.login(host, w, r)
	if !ok {
		return
	}
	if err := m.forget(r.Context(), host, l); err != nil {
		m.unavailable(host, w, r, "saving the login", err)
		return
	}
	http.Redirect(w, r, base(l), http.StatusSeeOther)
}

// forget drops the method's step state from the login. The SMS sends are
// kept: starting again must not give more codes.
func (m *Method) forget(ctx context.Context, host method.Host, l *method.Login) error {
	return host.Update(ctx, l.ID, func(data map[string]string) error {
		delete(data, keyCitizen)
		delete(data, keyStep)
		delete(data, keyTicket)
		return nil
	})
}

// compile-time check.
var _ method.Method = (*Method)(nil)
