package clave

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/clave-go/clave/saml"
)

const sessionCookie = "clave_session"
const logoutCookie = "clave_logout"

// maxFormBytes bounds a posted form: a base64, URL-encoded response of the
// largest size the validator accepts, plus RelayState.
var maxFormBytes = saml.MaxFormSize(0)

type ctxKey struct{}

// IdentityFromContext returns the citizen RequireLogin put in the request
// context.
func IdentityFromContext(ctx context.Context) (*Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(*Identity)
	return id, ok
}

// session is what a session holds: the identity without the raw attributes
// (PartialAfirma alone can exceed a cookie's size). Without a SessionStore
// the session cookie seals it; with one, the store keeps it sealed under its
// session ID, and the cookie seals a sessionRef.
type session struct {
	ID Identity `json:"id"`
}

// sessionRef is what the session cookie holds when sessions live in a
// SessionStore. It is sealed under a key of its own, so that a cookie of
// one kind never opens as the other when a service changes its setting.
type sessionRef struct {
	SID string `json:"s"`
}

// Session returns the citizen of the request's session, if any. With a
// SessionStore, a session the store does not hold (deleted at logout,
// expired) is no session, and neither is one the store cannot be asked
// about: that error is logged.
func (c *Client) Session(r *http.Request) (*Identity, bool) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, false
	}
	now := c.cfg.Now()
	var s session
	if c.sessions == nil {
		if err := c.sessSeal.Open(sessionCookie, ck.Value, now, &s); err != nil || s.ID.PersonIdentifier == "" {
			return nil, false
		}
		return &s.ID, true
	}
	var ref sessionRef
	if err := c.refSeal.Open(sessionCookie, ck.Value, now, &ref); err != nil || ref.SID == "" {
		return nil, false
	}
	data, err := c.sessions.Load(r.Context(), ref.SID)
	switch {
	case errors.Is(err, ErrNoSession):
		return nil, false
	case err != nil:
		c.log().ErrorContext(r.Context(), "clave: session store: cannot load a session; treated as none", slog.Any("error", err))
		return nil, false
	}
	// The record is bound to its ID: one moved to another ID does not open.
	if err := c.recordSeal.Open(ref.SID, string(data), now, &s); err != nil || s.ID.PersonIdentifier == "" {
		c.log().WarnContext(r.Context(), "clave: session store: a stored session does not open; treated as none")
		return nil, false
	}
	return &s.ID, true
}

// SetSession starts a session for id (ACSHandler does this after a login).
// With a SessionStore it saves the session there under a new random ID,
// with a background context.
func (c *Client) SetSession(w http.ResponseWriter, id *Identity) error {
	return c.setSession(context.Background(), w, id)
}

func (c *Client) setSession(ctx context.Context, w http.ResponseWriter, id *Identity) error {
	exp := c.cfg.Now().Add(c.cfg.SessionTTL)
	s := session{ID: *id}
	if c.sessions == nil {
		v, err := c.sessSeal.Seal(sessionCookie, s, exp)
		if err != nil {
			return err
		}
		http.SetCookie(w, c.cookie(sessionCookie, v, exp, false))
		return nil
	}
	sid, err := randomToken(32)
	if err != nil {
		return err
	}
	record, err := c.recordSeal.Seal(sid, s, exp)
	if err != nil {
		return err
	}
	if err := c.sessions.Save(ctx, sid, []byte(record), exp); err != nil {
		return fmt.Errorf("clave: session store: %w", err)
	}
	v, err := c.refSeal.Seal(sessionCookie, sessionRef{SID: sid}, exp)
	if err != nil {
		return err
	}
	http.SetCookie(w, c.cookie(sessionCookie, v, exp, false))
	return nil
}

// ClearSession ends the request's session: it deletes it from the
// SessionStore, if there is one, and expires the cookie. When the store
// cannot delete it, the cookie is kept and the error returned, so that the
// citizen can try again: clearing only this browser's cookie would leave the
// session open to anyone holding a copy of it.
func (c *Client) ClearSession(w http.ResponseWriter, r *http.Request) error {
	if err := c.deleteSession(r); err != nil {
		return err
	}
	http.SetCookie(w, c.cookie(sessionCookie, "", time.Unix(0, 0), false))
	return nil
}

// deleteSession deletes the request's session from the SessionStore; a
// request without a stored session has nothing to delete. The cookie is
// opened whatever its expiry: a session past its cookie's expiry is still
// deleted from a store on another clock.
func (c *Client) deleteSession(r *http.Request) error {
	if c.sessions == nil {
		return nil
	}
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	var ref sessionRef
	if err := c.refSeal.Open(sessionCookie, ck.Value, time.Time{}, &ref); err != nil || ref.SID == "" {
		return nil
	}
	if err := c.sessions.Delete(r.Context(), ref.SID); err != nil {
		return fmt.Errorf("clave: session store: %w", err)
	}
	return nil
}

// RequireLogin passes requests with a session to next, with the Identity in the
// context, and sends the others to Cl@ve: a GET starts a login that comes back
// to the same URL; other methods get 401, since their body cannot be replayed.
func (c *Client) RequireLogin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, ok := c.Session(r); ok {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, id)))
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		if err := c.StartLogin(w, r, LoginOptions{ReturnTo: r.URL.RequestURI()}); err != nil {
			c.log().ErrorContext(r.Context(), "clave: cannot start login", "error", err)
			http.Error(w, "cannot start login", http.StatusInternalServerError)
		}
	})
}

// ACSHandler serves the ACS URL: it validates responses, starts the session and
// redirects to where the login began (or "/"); it also receives the gateway's
// logout answers. Failures are logged with their reason (see FailureReason),
// the error they match and the request's Host, and answered with a page in
// the citizen's language that says what happened and what to do next
// (Config.FailureTemplate).
func (c *Client) ACSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			// The logout answer shares the endpoint.
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil {
				c.fail(w, r, http.StatusBadRequest, FailureInvalidResponse, "unreadable form", nil, 0)
				return
			}
			if r.PostForm.Get(saml.FieldLogoutResponse) != "" {
				c.serveLogoutResponse(w, r)
				return
			}
		}
		id, p, err := c.HandleACS(w, r)
		if err != nil {
			status, reason, cause := failure(err)
			var loa saml.LoA
			if p != nil {
				loa = p.LoA
			}
			c.fail(w, r, status, reason, cause, err, loa)
			return
		}
		// A session this browser had before the login ends: its cookie is
		// replaced, and a copy of it must not outlive it.
		if err := c.deleteSession(r); err != nil {
			c.log().WarnContext(r.Context(), "clave: cannot delete the previous session", slog.Any("error", err))
		}
		if err := c.setSession(r.Context(), w, id); err != nil {
			c.fail(w, r, http.StatusInternalServerError, FailureInternal, "session not started", err, 0)
			return
		}
		c.log().InfoContext(r.Context(), "clave: login", "identity", id)
		to := p.ReturnTo
		if to == "" {
			to = "/"
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
	})
}

// fail logs a failed login or logout and answers it with the failure page;
// loa is the level the login asked for, when known.
func (c *Client) fail(w http.ResponseWriter, r *http.Request, status int, reason FailureReason, cause string, err error, loa saml.LoA) {
	c.logFailure(r, status, reason, cause, err)
	c.serveFailure(w, r, c.newFailurePage(r, status, reason, loa))
}

// pendingLogout is the state of a Cl@ve logout between request and answer.
type pendingLogout struct {
	RequestID string `json:"i"`
}

// Logout ends the local session (ClearSession) and sends the browser to the
// gateway with a signed LogoutRequest; the answer comes back to the ACS URL.
// When the session cannot be deleted from the SessionStore, Logout returns
// the error before anything is sent.
func (c *Client) Logout(w http.ResponseWriter, r *http.Request) error {
	if err := c.ClearSession(w, r); err != nil {
		return err
	}
	req := &saml.LogoutRequest{
		IssueInstant: c.cfg.Now(),
		Destination:  c.dest,
		ReturnURL:    c.cfg.ACSURL,
		SPID:         c.cfg.SPID,
	}
	xml, err := req.Sign(c.signer)
	if err != nil {
		return err
	}
	exp := c.cfg.Now().Add(c.cfg.LoginTimeout)
	v, err := c.logoutSeal.Seal(logoutCookie, pendingLogout{RequestID: req.ID}, exp)
	if err != nil {
		return err
	}
	http.SetCookie(w, c.cookie(logoutCookie, v, exp, true))
	saml.PostForm{Action: c.dest, Field: saml.FieldLogoutRequest, Message: xml}.ServeHTTP(w, r)
	return nil
}

// LogoutHandler serves a logout button's target: POST only, so that a link on
// another site cannot log the citizen out.
func (c *Client) LogoutHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "use POST", http.StatusMethodNotAllowed)
			return
		}
		if err := c.Logout(w, r); err != nil {
			c.log().ErrorContext(r.Context(), "clave: cannot start logout", "error", err)
			http.Error(w, "cannot log out", http.StatusInternalServerError)
		}
	})
}

// HandleLogoutResponse validates the gateway's answer to Logout.
func (c *Client) HandleLogoutResponse(w http.ResponseWriter, r *http.Request) error {
	msg, _, err := saml.ReadPost(r, saml.FieldLogoutResponse, 0)
	if err != nil {
		return err
	}
	ck, err := r.Cookie(logoutCookie)
	if err != nil {
		return fmt.Errorf("%w: no pending logout", saml.ErrInResponseTo)
	}
	http.SetCookie(w, c.cookie(logoutCookie, "", time.Unix(0, 0), true))
	var p pendingLogout
	if err := c.logoutSeal.Open(logoutCookie, ck.Value, c.cfg.Now(), &p); err != nil {
		return fmt.Errorf("%w: no pending logout", saml.ErrInResponseTo)
	}
	return c.validator.ValidateLogoutResponse(msg, p.RequestID, c.cfg.ACSURL)
}

func (c *Client) serveLogoutResponse(w http.ResponseWriter, r *http.Request) {
	if err := c.HandleLogoutResponse(w, r); err != nil {
		_, _, cause := failure(err)
		c.logFailure(r, http.StatusBadRequest, FailureLogoutNotConfirmed, cause, err)
		c.serveFailure(w, r, c.newFailurePage(r, http.StatusBadRequest, FailureLogoutNotConfirmed, 0))
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
