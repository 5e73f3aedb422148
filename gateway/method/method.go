package method

import (
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"github.com/clave-go/clave/saml"
)

// Method is one way of logging in offered on the gateway's chooser.
type Method interface {
	// ID is what the gateway's Response says in SelectedIdP, and what an
	// AuthnRequest names to disable the method.
	ID() saml.Method
	// MaxLoA is the highest level of assurance the method can give; the
	// chooser hides the method from requests that ask for more.
	MaxLoA() saml.LoA
	// Slug names the method in URLs: its pages live under
	// /login/{login}/<slug>/, and the chooser links to that path.
	Slug() string
	// Handler serves the method's pages and APIs under /login/{login}/<slug>/
	// (the path value "login" names the login). It is called once, when the
	// gateway is built. A nil Handler means the method is not available on
	// this gateway: the chooser shows it greyed out.
	Handler(h Host) http.Handler
}

// ErrNoLogin is returned by Host.Login when the request cannot continue a
// login: unknown, finished, expired, or started in another browser.
var ErrNoLogin = errors.New("method: no such login in progress")

// ErrUnknownCitizen is returned by Citizens.Citizen for an identifier that is
// not registered. Never show it to the person who typed the identifier: the
// gateway's pages must answer the same for registered and unknown ones.
var ErrUnknownCitizen = errors.New("method: no such citizen")

// Login is a login in progress at the gateway, as a method sees it: which
// service asked, for what, and the method's own step state. The gateway keeps
// everything else (the request's ACS URL, RelayState, browser binding) to
// itself.
type Login struct {
	// ID names the login in URLs; it is random and unguessable.
	ID string
	// SPID is the requesting service's identifier; Requester the name shown
	// to the citizen.
	SPID, Requester string
	// RequestID is the AuthnRequest's ID.
	RequestID string
	// MinLoA is the level of assurance the service asked for at least.
	MinLoA saml.LoA
	// Lang is the page language the citizen chose ("es", "ca",
	// "ca-valencia", "gl", "eu", "en").
	Lang string
	// CreatedAt and ExpiresAt bound the login at the gateway.
	CreatedAt, ExpiresAt time.Time
	// Data is the method's step state, stored with the login (so a login
	// survives a restart and can be continued by another replica). Keys
	// should be prefixed with the method's slug. Change it through
	// Host.Update, never in place.
	Data map[string]string
}

// Host is what the gateway offers a method: the login in progress, the
// citizens, delivery, pages and the clock. Everything a method needs from the
// gateway goes through it, so a method can be tested against a Host of its
// own.
type Host interface {
	// Login returns the login named by the request's path value "login",
	// checked against the browser's cookie, not finished and not expired;
	// ErrNoLogin otherwise, or a storage error.
	Login(r *http.Request) (*Login, error)
	// Update changes the login's Data atomically: fn gets the stored data
	// and may change it; nothing is written when fn returns an error.
	Update(ctx context.Context, loginID string, fn func(data map[string]string) error) error
	// Complete ends the login with the citizen authenticated at loa by the
	// method m, and answers the browser with the signed Response posted to
	// the service. A loa below what the service asked for ends the login
	// with a failure status instead.
	Complete(w http.ResponseWriter, r *http.Request, m Method, l *Login, c Citizen, loa saml.LoA)
	// Fail ends the login with an error status posted to the service (use
	// saml.StatusRequester + saml.StatusRequestDenied for a citizen who
	// declined, saml.StatusResponder + saml.StatusAuthnFailed for one who
	// could not prove who they are).
	Fail(w http.ResponseWriter, r *http.Request, l *Login, st *saml.StatusError)
	// Render writes one of the gateway's own pages (by template name) in its
	// layout and the citizen's language. Methods of this module use it. It
	// adds FormToken(r) to data as "FormToken" (unless data has one), which
	// the gateway's templates put in every form.
	Render(w http.ResponseWriter, r *http.Request, status int, page string, data map[string]any)
	// Page writes body, a page a method rendered from templates of its own,
	// inside the gateway's layout (header, language switch, footer) with
	// title. The page's Content-Security-Policy runs no inline code but the
	// layout's: body may use the layout's classes, and no <script>,
	// <style>, style= attribute or on...= handler of its own; its forms post
	// to the gateway only, each with FormToken.
	Page(w http.ResponseWriter, r *http.Request, status int, title string, body template.HTML)
	// FormToken is the anti-CSRF token of the login r names, bound to it and
	// to the browser that holds it: "" when r carries no cookie of the login.
	// Every request under /login/{login}/ other than GET, HEAD and OPTIONS
	// that carries the login's cookie must carry the token, as the form
	// field "csrf" of an application/x-www-form-urlencoded body or in the
	// header X-CSRF-Token; the gateway refuses the others with 403, before
	// the method's handler runs. Forms of a method's pages therefore hold
	// <input type="hidden" name="csrf" value="{{.FormToken}}">.
	FormToken(r *http.Request) string
	// Citizens looks up registered citizens.
	Citizens() Citizens
	// Notifier sends SMS and app notifications.
	Notifier() Notifier
	// Client names the client that sent r (its address, or the one a
	// trusted proxy forwarded), for limits per client.
	Client(r *http.Request) string
	// Now is the gateway's clock, which tests and the demo can move.
	Now() time.Time
	// Logger receives the method's events; never log secrets or full
	// identifiers (use Citizen.Masked).
	Logger() *slog.Logger
}

// Citizens finds registered citizens.
type Citizens interface {
	// Citizen returns the citizen with the DNI or NIE id (in any form a
	// person types it), ErrUnknownCitizen when none is registered, or
	// another error when the registry cannot be read.
	Citizen(ctx context.Context, id string) (Citizen, error)
}
