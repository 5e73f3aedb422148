package clave

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/clave-go/clave/saml"
)

// ErrNoPendingLogin is returned by HandleACS when the browser holds no started
// login for the posted RelayState: a response nobody here asked for, a login
// started in another browser, or one that timed out. It wraps
// saml.ErrRelayState.
var ErrNoPendingLogin = fmt.Errorf("clave: no pending login for this RelayState: %w", saml.ErrRelayState)

// LoginOptions adjusts one login.
type LoginOptions struct {
	// LoA overrides Config.LoA for this login.
	LoA saml.LoA
	// DisabledMethods overrides Config.DisabledMethods when not nil.
	DisabledMethods []saml.Method
	// ReturnTo is the local path ("/expediente?id=1") to go back to after
	// login. Anything that is not a local path is ignored: no open redirects.
	ReturnTo string
}

// PendingLogin is what the service remembers between StartLogin and the
// response. StartLogin keeps it in a sealed cookie; services with their own
// state can use Client.NewLogin and Client.ValidateResponse directly.
type PendingLogin struct {
	RequestID  string   `json:"i"`
	RelayState string   `json:"r"`
	LoA        saml.LoA `json:"l"`
	ReturnTo   string   `json:"t,omitempty"`
}

// NewLogin builds and signs an AuthnRequest. It returns the form to post and
// the state to keep until the response arrives.
func (c *Client) NewLogin(opts LoginOptions) (saml.PostForm, PendingLogin, error) {
	loa := opts.LoA
	if loa == 0 {
		loa = c.cfg.LoA
	}
	if !loa.Valid() {
		return saml.PostForm{}, PendingLogin{}, errors.New("clave: invalid LoA")
	}
	disabled := c.cfg.DisabledMethods
	if opts.DisabledMethods != nil {
		disabled = opts.DisabledMethods
	}
	req := &saml.AuthnRequest{
		IssueInstant:    c.cfg.Now(),
		Destination:     c.dest,
		ACSURL:          c.cfg.ACSURL,
		SPID:            c.cfg.SPID,
		ApplicationName: c.cfg.ApplicationName,
		LoA:             loa,
		Attributes:      c.cfg.Attributes,
		Disabled:        disabled,
	}
	xml, err := req.Sign(c.signer)
	if err != nil {
		return saml.PostForm{}, PendingLogin{}, err
	}
	relay, err := randomToken(18)
	if err != nil {
		return saml.PostForm{}, PendingLogin{}, err
	}
	p := PendingLogin{RequestID: req.ID, RelayState: relay, LoA: loa, ReturnTo: localPath(opts.ReturnTo)}
	return saml.PostForm{Action: c.dest, Field: saml.FieldSAMLRequest, Message: xml, RelayState: relay}, p, nil
}

// StartLogin answers the browser with an auto-submitting form that carries a
// signed AuthnRequest to the gateway, and remembers the request in a sealed
// cookie. Several logins may be pending at once (one per tab): each has its own
// cookie, named after its RelayState.
func (c *Client) StartLogin(w http.ResponseWriter, r *http.Request, opts LoginOptions) error {
	form, p, err := c.NewLogin(opts)
	if err != nil {
		return err
	}
	name := loginCookieName(p.RelayState)
	exp := c.cfg.Now().Add(c.cfg.LoginTimeout)
	v, err := c.loginSeal.Seal(name, p, exp)
	if err != nil {
		return err
	}
	http.SetCookie(w, c.cookie(name, v, exp, true))
	form.ServeHTTP(w, r)
	return nil
}

// HandleACS validates the Response posted to the ACS URL against the login
// this browser started, and returns the citizen. The pending-login cookie is
// consumed whatever the outcome: a response is tried once.
func (c *Client) HandleACS(w http.ResponseWriter, r *http.Request) (*Identity, *PendingLogin, error) {
	msg, relay, err := saml.ReadPost(r, saml.FieldSAMLResponse, 0)
	if err != nil {
		return nil, nil, err
	}
	if err := saml.CheckRelayState(relay); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", saml.ErrRelayState, err)
	}
	name := loginCookieName(relay)
	ck, err := r.Cookie(name)
	if err != nil {
		return nil, nil, ErrNoPendingLogin
	}
	http.SetCookie(w, c.cookie(name, "", time.Unix(0, 0), true))
	var p PendingLogin
	if err := c.loginSeal.Open(name, ck.Value, c.cfg.Now(), &p); err != nil {
		return nil, nil, ErrNoPendingLogin
	}
	if p.RelayState != relay {
		return nil, nil, fmt.Errorf("%w: cookie and form disagree", saml.ErrRelayState)
	}
	id, err := c.validate(r.Context(), msg, &p)
	return id, &p, err
}

// ValidateResponse validates a base64 SAMLResponse answering the pending login
// p, whose RelayState must equal the posted relayState. It is HandleACS for
// services that keep pending logins themselves.
func (c *Client) ValidateResponse(ctx context.Context, samlResponse, relayState string, p PendingLogin) (*Identity, error) {
	if p.RelayState == "" || relayState != p.RelayState {
		return nil, fmt.Errorf("%w: posted RelayState does not match the login", saml.ErrRelayState)
	}
	msg, err := saml.DecodeMessage(samlResponse, 0)
	if err != nil {
		return nil, err
	}
	return c.validate(ctx, msg, &p)
}

func (c *Client) validate(ctx context.Context, msg []byte, p *PendingLogin) (*Identity, error) {
	// Every request of this Client asks for cfg.Attributes (LoginOptions cannot
	// change them), so the required ones are known without storing them in the
	// pending login.
	a, err := c.validator.ValidateResponse(msg, saml.Expectation{RequestID: p.RequestID, MinLoA: p.LoA, RequiredAttributes: c.required})
	if err != nil {
		if !errors.Is(err, saml.ErrStatus) {
			c.log().WarnContext(ctx, "clave: response refused", slog.Any("error", err))
		}
		return nil, err
	}
	used, err := c.replay.Use(ctx, a.ID, a.NotOnOrAfter.Add(c.skew()))
	if err != nil {
		// Refused, as any doubt is; logged, since the cause is ours (the
		// cache's store is down or full), not the response's.
		c.log().ErrorContext(ctx, "clave: replay cache failed; response refused", slog.Any("error", err))
		return nil, fmt.Errorf("%w: %w", ErrReplayCacheFailed, err)
	}
	if used {
		c.log().WarnContext(ctx, "clave: replayed assertion refused", slog.String("assertion", a.ID))
		return nil, fmt.Errorf("%w: assertion %s", saml.ErrReplay, a.ID)
	}
	id, err := identityFrom(a)
	if err != nil {
		c.log().WarnContext(ctx, "clave: response refused", slog.Any("error", err))
		return nil, err
	}
	return id, nil
}

func (c *Client) skew() time.Duration {
	if c.cfg.Skew <= 0 {
		return saml.DefaultSkew
	}
	return c.cfg.Skew
}

func loginCookieName(relay string) string {
	sum := sha256.Sum256([]byte(relay))
	return "clave_login_" + base64.RawURLEncoding.EncodeToString(sum[:9])
}

// cookie builds a cookie for the gateway round trip. The ACS is reached by a
// cross-site POST from the gateway, which browsers send with SameSite=None
// cookies only, and those only over HTTPS; on plain-HTTP development setups the
// gateway is usually same-site (localhost), where Lax works.
func (c *Client) cookie(name, value string, exp time.Time, crossSite bool) *http.Cookie {
	ck := &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     c.cfg.CookiePath,
		Expires:  exp,
		HttpOnly: true,
		Secure:   c.secure,
		SameSite: http.SameSiteLaxMode,
	}
	if value == "" {
		ck.MaxAge = -1
	}
	if crossSite && c.secure {
		ck.SameSite = http.SameSiteNoneMode
	}
	return ck
}

func randomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// localPath accepts only a path on this site: it must start with one '/', and
// contain no backslash or control characters (browsers treat "/\evil.com" and
// "//evil.com" as other hosts).
func localPath(p string) string {
	if p == "" || p[0] != '/' || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n\t") || len(p) > 2048 {
		return ""
	}
	return p
}
