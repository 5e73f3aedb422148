package permanente

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/clave-go/clave/gateway/method"
	"github.com/clave-go/clave/internal/limit"
)

// Limits bound what one client, and everyone together, can try on the
// Cl@ve Permanente pages (the login's and the account services'), on top
// of the per-citizen rules of Config: a password, an activation code or a
// 6-digit SMS code is only safe behind limits that also see guessing spread
// across many identifiers. They are far above what a person meets: a login
// is a password and an SMS code, an activation an activation code, an SMS
// code and a password. Zero fields take the defaults.
type Limits struct {
	// ClientAttempts is how many passwords, activation codes and SMS codes
	// one client may type per Window; default 40.
	ClientAttempts int
	// ClientIdentifiers is how many different DNI/NIE one client may try
	// per Window; default 10. Going from identifier to identifier is what
	// guessing across citizens looks like.
	ClientIdentifiers int
	// CitizenSMS is how many SMS codes one citizen may receive per Window,
	// whoever asks; default 10, so that nobody can flood a phone.
	CitizenSMS int
	// Window is the span of the limits above; default 10 minutes.
	Window time.Duration
	// GlobalAttempts bounds everyone together per minute; default 6,000.
	// Past it an attack spread over many addresses is under way: it is
	// logged, and every client is held to SiegeAttempts until the minute
	// ends. A refusal for everyone would let an attacker lock every
	// citizen out.
	GlobalAttempts int
	// SiegeAttempts is what each client may try per Window while
	// GlobalAttempts is exceeded; default 5, a person's login or
	// activation.
	SiegeAttempts int
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.ClientAttempts, 40)
	def(&l.ClientIdentifiers, 10)
	def(&l.CitizenSMS, 10)
	def(&l.GlobalAttempts, 6000)
	def(&l.SiegeAttempts, 5)
	if l.Window <= 0 {
		l.Window = 10 * time.Minute
	}
	return l
}

// errUnavailable wraps a failure of the gateway's own storage, answered
// "try again later": the citizen did nothing wrong.
var errUnavailable = errors.New("permanente: temporarily unavailable")

// guard applies Limits for one set of pages.
type guard struct {
	log         *slog.Logger
	attempts    *limit.Window
	identifiers *limit.Distinct
	citizenSMS  *limit.Window
	global      *limit.Window
	siege       *limit.Window
	// siegeLogged is when the last siege warning was logged (Unix ns, wall
	// clock: it only spaces log lines).
	siegeLogged atomic.Int64
}

func newGuard(l Limits, now func() time.Time, log *slog.Logger) *guard {
	l = l.withDefaults()
	return &guard{
		log:         log,
		attempts:    &limit.Window{Max: l.ClientAttempts, Per: l.Window, Now: now},
		identifiers: &limit.Distinct{Max: l.ClientIdentifiers, Per: l.Window, Now: now},
		citizenSMS:  &limit.Window{Max: l.CitizenSMS, Per: l.Window, Now: now},
		global:      &limit.Window{Max: l.GlobalAttempts, Per: time.Minute, Now: now},
		siege:       &limit.Window{Max: l.SiegeAttempts, Per: l.Window, Now: now},
	}
}

// allow counts one attempt of client at identifier id (normalised; "" when
// the identifier is already bound to the step) and reports whether the
// limits let it through.
func (g *guard) allow(ctx context.Context, client, id string) bool {
	if ok, _ := g.attempts.Allow(client); !ok {
		g.log.WarnContext(ctx, "permanente: client over its limit", "limit", "attempts")
		return false
	}
	if id != "" {
		if ok, _ := g.identifiers.Allow(client, id); !ok {
			g.log.WarnContext(ctx, "permanente: client trying many identifiers; refused", "limit", "identifiers")
			return false
		}
	}
	if ok, _ := g.global.Allow(""); ok {
		return true
	}
	if now := time.Now().UnixNano(); now-g.siegeLogged.Load() > int64(10*time.Second) {
		g.siegeLogged.Store(now)
		g.log.WarnContext(ctx, "permanente: global limit reached: clients held to the siege limits", "limit", "attempts")
	}
	ok, _ := g.siege.Allow(client)
	return ok
}

// allowSMS counts one SMS to citizen and reports whether it may be sent.
func (g *guard) allowSMS(ctx context.Context, c method.Citizen) bool {
	if ok, _ := g.citizenSMS.Allow(c.ID); !ok {
		g.log.WarnContext(ctx, "permanente: citizen over the SMS limit", "person", c.Masked())
		return false
	}
	return true
}

// strangerMemory is how long the decoys remember wrong entries: a real
// account stays blocked until a reset or a new code, a decoy for a day.
const strangerMemory = 24 * time.Hour

// strangers answers for identifiers that have no account able to take an
// attempt (unknown at the registry, not active, without Cl@ve Permanente,
// not activated, a wrong contrast datum) as an account would: their wrong
// entries are counted in bounded memory, and past the number an account
// tolerates they are answered "blocked" too, so that neither the answer
// nor the moment it changes tells who is registered. Nothing is stored for
// them. A full memory answers "blocked" (deny on doubt).
type strangers struct {
	passwords   *limit.Window
	activations *limit.Window
}

func newStrangers(cfg Config) *strangers {
	return &strangers{
		// A password blocks on the failure that reaches PasswordFailures;
		// an activation code on the one beyond ActivationFailures.
		passwords:   &limit.Window{Max: cfg.PasswordFailures - 1, Per: strangerMemory, Now: cfg.Now},
		activations: &limit.Window{Max: cfg.ActivationFailures, Per: strangerMemory, Now: cfg.Now},
	}
}

// password counts a password typed for a stranger: ErrWrongPassword, or
// ErrBlocked from the failure at which an account would block.
func (s *strangers) password(id string) error {
	if ok, _ := s.passwords.Allow(id); !ok {
		return ErrBlocked
	}
	return ErrWrongPassword
}

// activation counts an activation code typed for a stranger as
// Service.StartActivation counts one: a malformed code is not counted.
func (s *strangers) activation(id, typed string) error {
	if _, wellFormed := normaliseActivationCode(typed); !wellFormed {
		return ErrWrongActivationCode
	}
	if ok, _ := s.activations.Allow(id); !ok {
		return ErrActivationBlocked
	}
	return ErrWrongActivationCode
}

// canLogIn reports whether id has an activated Cl@ve Permanente, the only
// accounts whose password attempts the Service counts.
func (s *Service) canLogIn(ctx context.Context, id string) (bool, error) {
	st, err := s.Status(ctx, id)
	if errors.Is(err, ErrNotRegistered) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return st.Activated, nil
}

// ruleErrors are the outcomes of the rules; any other error is the
// gateway's own failure.
var ruleErrors = []error{ErrBadCitizen, ErrNotRegistered, ErrAlreadyRegistered, ErrNotActivated,
	ErrAlreadyActivated, ErrWrongActivationCode, ErrActivationBlocked, ErrNoCode, ErrWrongCode, ErrExpired,
	ErrRestart, ErrTooManyAttempts, ErrBadTicket, ErrBadLoginID, ErrWrongPassword, ErrBlocked,
	ErrPasswordExpired, ErrWeakPassword, ErrConflict}

// storage turns an error that is none of the rules' outcomes into
// errUnavailable, logged.
func storage(ctx context.Context, log *slog.Logger, what string, err error) error {
	if err == nil {
		return nil
	}
	for _, rule := range ruleErrors {
		if errors.Is(err, rule) {
			return err
		}
	}
	log.ErrorContext(ctx, "permanente: storage failure", "step", what, "error", err)
	return fmt.Errorf("%w: %w", errUnavailable, err)
}

// sendSMS sends code to the citizen's registered phone with text, which
// holds the code.
func sendSMS(ctx context.Context, n method.Notifier, log *slog.Logger, c method.Citizen, text string, code Code) {
	msg := method.Message{Channel: method.SMS, To: c.Phone, Text: text, Code: code.Value, ExpiresAt: code.ExpiresAt}
	if err := n.Send(ctx, msg); err != nil {
		log.ErrorContext(ctx, "permanente: SMS delivery failed", "person", c.Masked(), "error", err)
	}
}

// maskPhone shows the last two digits of a phone, so that the citizen
// knows where the code went and nobody else learns the number.
func maskPhone(p string) string {
	if len(p) < 2 {
		return "***"
	}
	return strings.Repeat("*", 7) + p[len(p)-2:]
}

// ruleKeys are the text keys of the broken rules in err, for a form to
// list; nil when err breaks none.
func ruleKeys(err error) []string {
	var keys []string
	for _, r := range BrokenRules(err) {
		keys = append(keys, "permanente.rule."+string(r))
	}
	return keys
}

// madrid is the time zone of the SMS texts; UTC+1 when the system has no
// zone database.
var madrid = func() *time.Location {
	if loc, err := time.LoadLocation("Europe/Madrid"); err == nil {
		return loc
	}
	return time.FixedZone("CET", 3600)
}()
