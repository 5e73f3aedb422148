package gateway

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/clave-go/clave/internal/flow"
	"github.com/clave-go/clave/permanente"
	"github.com/clave-go/clave/pin"
	"github.com/clave-go/clave/saml"
)

// Observer is told what the gateway does, for metrics and alerts: logins
// started and finished, citizens locked out, storage failures. Set it in
// Config.Observer; package gateway itself depends on no metrics library, so
// the binary that serves the gateway decides how to count (examples/gateway
// counts with Prometheus).
//
// The methods are called on the goroutine of the request that caused the
// event, with its context, and must return quickly without calling the
// Gateway. They are never given personal data: no identifier, name, phone
// or secret of a citizen.
type Observer interface {
	// LoginStarted is called when a verified AuthnRequest opens a login,
	// before the chooser is shown. Its Method is empty and its Outcome
	// and Duration zero.
	LoginStarted(ctx context.Context, l ObservedLogin)
	// LoginFinished is called once per login, when the gateway has
	// answered it: its Response posted back to the service (or, with
	// Outcome LoginError, an error page when no Response could be built).
	// Logins that expire unanswered are never finished; their ExpiresAt,
	// given at LoginStarted, says when they stop being pending.
	LoginFinished(ctx context.Context, l ObservedLogin)
	// Lockout is called when a citizen's failures block a credential of
	// method m: Cl@ve PIN blocking the citizen (saml.MethodAEATPIN), Cl@ve
	// Permanente blocking a password or an activation code
	// (saml.MethodGISS). It is called once per block, when the failure
	// that crosses the limit is stored. Decoys, which look blocked to keep
	// unknown identifiers indistinguishable, are not lockouts.
	Lockout(ctx context.Context, m saml.Method)
	// StoreError is called when a failure of the gateway's storage makes
	// it answer a request with an error: once per answer, not per failed
	// query. component names where: "flows" (the logins and the request
	// IDs already answered), a method's slug ("pin", "movil",
	// "permanente", or a method of Config.Methods) when the method
	// answered 503, or "pin_api" for the Cl@ve PIN API of services' apps.
	// err describes the failure for a log; when a method reported it only
	// by its 503 answer, err says so and the method logged the cause.
	StoreError(ctx context.Context, component string, err error)
}

// ObservedLogin describes a login to an Observer.
type ObservedLogin struct {
	// ID is the login's random identifier, the one in its URLs and the
	// gateway's log lines ("flow").
	ID string
	// SPID is the service that asked.
	SPID string
	// Method is the method that ended the login (saml.MethodAEATPIN for
	// Cl@ve PIN, saml.MethodMovil, saml.MethodGISS, ...); empty when the
	// citizen cancelled at the chooser, before choosing one.
	Method saml.Method
	// Outcome is how the login ended; empty at LoginStarted.
	Outcome LoginOutcome
	// StartedAt and ExpiresAt bound the login, on the gateway's clock
	// (Config.Now).
	StartedAt, ExpiresAt time.Time
	// Duration runs from the AuthnRequest to the Response posted back, on
	// the gateway's clock; zero at LoginStarted.
	Duration time.Duration
}

// LoginOutcome is how a login ended.
type LoginOutcome string

// Outcomes of a login.
const (
	// LoginSucceeded: the citizen was authenticated at the level asked for.
	LoginSucceeded LoginOutcome = "success"
	// LoginCancelled: the citizen cancelled or declined
	// (Requester/RequestDenied).
	LoginCancelled LoginOutcome = "cancelled"
	// LoginFailed: any other failure status (authentication failed, a
	// level of assurance below the one asked for, ...).
	LoginFailed LoginOutcome = "failed"
	// LoginError: the gateway could not build the Response.
	LoginError LoginOutcome = "error"
)

// outcomeOf classifies a login's ending status.
func outcomeOf(st *saml.StatusError) LoginOutcome {
	switch {
	case st == nil:
		return LoginSucceeded
	case st.SubCode == saml.StatusRequestDenied:
		return LoginCancelled
	default:
		return LoginFailed
	}
}

// observer is cfg.Observer, or one that observes nothing.
func (g *Gateway) observer() Observer {
	if g.cfg.Observer == nil {
		return noObserver{}
	}
	return g.cfg.Observer
}

type noObserver struct{}

func (noObserver) LoginStarted(context.Context, ObservedLogin)  {}
func (noObserver) LoginFinished(context.Context, ObservedLogin) {}
func (noObserver) Lockout(context.Context, saml.Method)         {}
func (noObserver) StoreError(context.Context, string, error)    {}

// observed is f as an Observer sees it.
func observed(f *flow.Flow) ObservedLogin {
	return ObservedLogin{ID: f.ID, SPID: f.SPID, Method: f.Method, StartedAt: f.CreatedAt, ExpiresAt: f.ExpiresAt}
}

// loginFinished tells the observer that f ended with st (nil: success), or
// with outcome LoginError when built is false.
func (g *Gateway) loginFinished(r *http.Request, f *flow.Flow, st *saml.StatusError, built bool) {
	l := observed(f)
	if l.Method == "" {
		// Host.Fail names no method: the request that failed the login
		// is one of the method's pages.
		l.Method = g.methodOfPath(r.URL.Path)
	}
	l.Outcome = outcomeOf(st)
	if !built {
		l.Outcome = LoginError
	}
	l.Duration = g.cfg.Now().Sub(f.CreatedAt)
	g.observer().LoginFinished(r.Context(), l)
}

// methodOfPath is the ID of the method whose pages serve path
// (/login/{login}/<slug>/...), or "".
func (g *Gateway) methodOfPath(path string) saml.Method {
	if slug := slugOfPath(path); slug != "" {
		for _, m := range g.methods {
			if m.Slug() == slug {
				return m.ID()
			}
		}
	}
	return ""
}

// slugOfPath is the <slug> of /login/{login}/<slug>/..., or "".
func slugOfPath(path string) string {
	rest, ok := strings.CutPrefix(path, "/login/")
	if !ok {
		return ""
	}
	_, rest, ok = strings.Cut(rest, "/")
	if !ok {
		return ""
	}
	slug, _, ok := strings.Cut(rest, "/")
	if !ok {
		return ""
	}
	return slug
}

// errMethodUnavailable is the StoreError of a method that reported a
// storage failure only by answering 503; the method logged the cause.
var errMethodUnavailable = errors.New("gateway: the method answered 503 Service Unavailable (its storage failed; see its log)")

// methodAnswered tells the observer of a method's page answered with
// status: a 503 is a storage failure (method package doc: "A storage error
// is never the citizen's mistake: answer 'try again later'").
func (g *Gateway) methodAnswered(r *http.Request, status int) {
	if status != http.StatusServiceUnavailable {
		return
	}
	component := slugOfPath(r.URL.Path)
	if component == "" {
		component = "method"
	}
	g.observer().StoreError(r.Context(), component, errMethodUnavailable)
}

// storeError tells the observer that the gateway's own storage failed.
func (g *Gateway) storeError(ctx context.Context, component string, err error) {
	g.observer().StoreError(ctx, component, err)
}

// observeStores wraps the methods' stores so that the observer learns of
// lockouts where they happen: when the failure that blocks a citizen is
// stored. The method packages have no event hook, and their answers cannot
// tell a new block from an old one, nor a decoy from a citizen.
func (g *Gateway) observeStores(ps pin.Store, pms permanente.Store) (pin.Store, permanente.Store) {
	if g.cfg.Observer == nil {
		return ps, pms
	}
	return lockoutPINStore{ps, g}, lockoutPermanenteStore{pms, g}
}

// lockoutPINStore reports a Cl@ve PIN block when a record gets a new
// BlockedUntil.
type lockoutPINStore struct {
	pin.Store
	g *Gateway
}

// Update implements pin.Store.
func (s lockoutPINStore) Update(ctx context.Context, citizen string, fn func(*pin.Record) error) error {
	blocked := false
	err := s.Store.Update(ctx, citizen, func(r *pin.Record) error {
		was := r.BlockedUntil
		err := fn(r)
		blocked = err == nil && !r.BlockedUntil.IsZero() && !r.BlockedUntil.Equal(was)
		return err
	})
	if err == nil && blocked {
		s.g.observer().Lockout(ctx, saml.MethodAEATPIN)
	}
	return err
}

// lockoutPermanenteStore reports a Cl@ve Permanente block when an update
// counts a failure (of the password or the activation code) and the
// account is blocked afterwards. The limits are the Service's, so it asks
// the Service. Two failures of one citizen stored at the same instant, both
// seeing the block, would count it twice.
type lockoutPermanenteStore struct {
	permanente.Store
	g *Gateway
}

// UpdateAccount implements permanente.Store.
func (s lockoutPermanenteStore) UpdateAccount(ctx context.Context, citizen string, fn func(*permanente.Account) error) error {
	var password, activation bool
	err := s.Store.UpdateAccount(ctx, citizen, func(a *permanente.Account) error {
		pw, act := permanenteFailures(a)
		err := fn(a)
		pw2, act2 := permanenteFailures(a)
		password, activation = err == nil && pw2 > pw, err == nil && act2 > act
		return err
	})
	if err != nil || (!password && !activation) || s.g.permanente == nil {
		return err
	}
	if st, serr := s.g.permanente.Status(ctx, citizen); serr == nil &&
		((password && st.PasswordBlocked) || (activation && st.ActivationBlocked)) {
		s.g.observer().Lockout(ctx, saml.MethodGISS)
	}
	return nil
}

func permanenteFailures(a *permanente.Account) (password, activation int) {
	if a.Password != nil {
		password = a.Password.Failures
	}
	if a.Activation != nil {
		activation = a.Activation.Failures
	}
	return password, activation
}
