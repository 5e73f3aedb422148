package clave_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/saml"
)

// logIn runs a login of browser b at agency a through the stub gateway and
// returns the page it ends on.
func logIn(t *testing.T, b *browser, a *agency) (*http.Response, string) {
	t.Helper()
	_, page := b.get(a.srv.URL + "/expediente")
	require.Contains(t, page, `name="SAMLRequest"`)
	_, page = b.submit(page, nil)
	return b.submit(page, nil)
}

// logOut runs the Cl@ve logout of browser b, started at agency a.
func logOut(t *testing.T, b *browser, a *agency) {
	t.Helper()
	resp, err := b.c.PostForm(a.srv.URL+"/clave/logout", nil)
	require.NoError(t, err)
	page := body(t, resp)
	require.Equal(t, http.StatusOK, resp.StatusCode, page)
	require.Contains(t, page, `name="logoutRequest"`)
	_, page = b.submit(page, nil)
	require.Contains(t, page, `name="logoutResponse"`)
	b.submit(page, nil)
}

// sessionCookie is b's session cookie at a.
func sessionCookie(t *testing.T, b *browser, a *agency) *http.Cookie {
	t.Helper()
	for _, ck := range b.c.Jar.Cookies(mustURL(t, a.srv.URL)) {
		if ck.Name == "clave_session" {
			return ck
		}
	}
	return nil
}

// getWith fetches path at a with only the cookie ck, as someone who copied
// it would, and returns the page.
func getWith(t *testing.T, a *agency, path string, ck *http.Cookie) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, a.srv.URL+path, nil)
	require.NoError(t, err)
	req.AddCookie(ck)
	resp, err := http.DefaultTransport.RoundTrip(req)
	require.NoError(t, err)
	return body(t, resp)
}

// replicas starts two agencies sharing the stub gateway, the cookie secret,
// the ACS URL (the first one's, as behind a load balancer) and tweak.
func replicas(t *testing.T, g *stubGateway, tweak func(*clave.Config)) (a, b *agency) {
	a = newAgency(t, g, time.Now, tweak)
	b = newAgency(t, g, time.Now, func(c *clave.Config) {
		tweak(c)
		c.ACSURL = a.srv.URL + "/clave/acs"
	})
	return a, b
}

// TestLogoutEndsStoredSessionEverywhere: with a SessionStore shared by two
// replicas, a copy of the session cookie works on both until its owner logs
// out on one of them; then neither accepts it. Without a store, the copy
// outlives the logout: that is what the store is for.
func TestLogoutEndsStoredSessionEverywhere(t *testing.T) {
	g := newStubGateway(t, time.Now)
	t.Run("SessionStore", func(t *testing.T) {
		store := clave.NewMemorySessionStore(0)
		a, b := replicas(t, g, func(c *clave.Config) { c.SessionStore = store })
		br := newBrowser(t)
		resp, page := logIn(t, br, a)
		require.Equal(t, http.StatusOK, resp.StatusCode, page)
		require.Contains(t, page, "hola MARIA 12345678Z")
		copied := sessionCookie(t, br, a)
		require.NotNil(t, copied)
		assert.Contains(t, getWith(t, b, "/otra", copied), "hola MARIA", "the other replica finds the session")

		logOut(t, br, b)
		assert.Nil(t, sessionCookie(t, br, a), "the browser's cookie is gone")
		for name, r := range map[string]*agency{"replica that logged out": b, "other replica": a} {
			page := getWith(t, r, "/otra", copied)
			assert.NotContains(t, page, "hola", name)
			assert.Contains(t, page, `name="SAMLRequest"`, "%s: a copy of the cookie needs a new login", name)
		}
	})
	t.Run("sealed cookie, the default", func(t *testing.T) {
		a, b := replicas(t, g, func(c *clave.Config) {})
		br := newBrowser(t)
		logIn(t, br, a)
		copied := sessionCookie(t, br, a)
		logOut(t, br, b)
		assert.Contains(t, getWith(t, a, "/otra", copied), "hola MARIA", "a sealed cookie cannot be revoked")
	})
}

// TestNewLoginEndsStoredSession: a login in a browser that has a session
// deletes the old one, so a copy of its cookie stops working.
func TestNewLoginEndsStoredSession(t *testing.T) {
	g := newStubGateway(t, time.Now)
	a := newAgency(t, g, time.Now, func(c *clave.Config) { c.SessionStore = clave.NewMemorySessionStore(0) })
	br := newBrowser(t)
	logIn(t, br, a)
	old := sessionCookie(t, br, a)
	require.Contains(t, getWith(t, a, "/", old), "hola")

	// A second login, started by the service itself (RequireLogin starts
	// none while there is a session).
	rec := httptest.NewRecorder()
	require.NoError(t, a.client.StartLogin(rec, httptest.NewRequest(http.MethodGet, "/", nil), clave.LoginOptions{}))
	br.c.Jar.SetCookies(mustURL(t, a.srv.URL), rec.Result().Cookies())
	_, page := br.submit(rec.Body.String(), nil)
	resp, page := br.submit(page, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, page)
	fresh := sessionCookie(t, br, a)
	require.NotEqual(t, old.Value, fresh.Value)
	assert.Contains(t, getWith(t, a, "/", fresh), "hola")
	assert.NotContains(t, getWith(t, a, "/", old), "hola", "the old session ended with the new login")
}

// faultyStore is a SessionStore whose operations fail on demand.
type faultyStore struct {
	*clave.MemorySessionStore
	mu                             sync.Mutex
	failSave, failLoad, failDelete bool
	saved                          map[string][]byte
}

var errStoreDown = errors.New("store down")

func newFaultyStore() *faultyStore {
	return &faultyStore{MemorySessionStore: clave.NewMemorySessionStore(0), saved: map[string][]byte{}}
}

func (f *faultyStore) set(save, load, del bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failSave, f.failLoad, f.failDelete = save, load, del
}

func (f *faultyStore) Save(ctx context.Context, id string, data []byte, exp time.Time) error {
	f.mu.Lock()
	fail := f.failSave
	f.saved[id] = append([]byte(nil), data...)
	f.mu.Unlock()
	if fail {
		return errStoreDown
	}
	return f.MemorySessionStore.Save(ctx, id, data, exp)
}

func (f *faultyStore) Load(ctx context.Context, id string) ([]byte, error) {
	f.mu.Lock()
	fail := f.failLoad
	f.mu.Unlock()
	if fail {
		return nil, errStoreDown
	}
	return f.MemorySessionStore.Load(ctx, id)
}

func (f *faultyStore) Delete(ctx context.Context, id string) error {
	f.mu.Lock()
	fail := f.failDelete
	f.mu.Unlock()
	if fail {
		return errStoreDown
	}
	return f.MemorySessionStore.Delete(ctx, id)
}

// TestSessionStoreFailuresDenySessions: a store that cannot load means no
// session (logged, without the citizen's identifier); one that cannot save
// means no login; one that cannot delete means the logout is refused and
// the cookie kept, so that it can be tried again.
func TestSessionStoreFailuresDenySessions(t *testing.T) {
	g := newStubGateway(t, time.Now)
	store := newFaultyStore()
	var logs strings.Builder
	var mu sync.Mutex
	a := newAgency(t, g, time.Now, func(c *clave.Config) {
		c.SessionStore = store
		c.Logger = slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
	})
	br := newBrowser(t)
	resp, page := logIn(t, br, a)
	require.Equal(t, http.StatusOK, resp.StatusCode, page)
	ck := sessionCookie(t, br, a)

	store.set(false, true, false)
	page = getWith(t, a, "/otra", ck)
	assert.NotContains(t, page, "hola", "a store that cannot answer is no session")
	assert.Contains(t, page, `name="SAMLRequest"`)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(ck)
	id, ok := a.client.Session(r)
	assert.False(t, ok)
	assert.Nil(t, id)
	mu.Lock()
	assert.Contains(t, logs.String(), "session store")
	assert.Contains(t, logs.String(), errStoreDown.Error())
	assert.NotContains(t, logs.String(), "12345678Z", "no full DNI in the logs")
	mu.Unlock()

	store.set(false, false, true)
	rec := httptest.NewRecorder()
	err := a.client.ClearSession(rec, r)
	assert.ErrorIs(t, err, errStoreDown)
	assert.Empty(t, rec.Result().Cookies(), "the cookie is kept when the session could not be deleted")
	resp, err = br.c.PostForm(a.srv.URL+"/clave/logout", nil)
	require.NoError(t, err)
	page = body(t, resp)
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	assert.NotContains(t, page, "logoutRequest", "nothing sent to the gateway")
	assert.Contains(t, getWith(t, a, "/otra", ck), "hola", "the session is still there, and so is its cookie")

	store.set(true, false, false)
	br2 := newBrowser(t)
	resp, page = logIn(t, br2, a)
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode, page)
	assert.Nil(t, sessionCookie(t, br2, a), "no session cookie for a session not saved")

	store.set(false, false, false)
	rec = httptest.NewRecorder()
	require.NoError(t, a.client.ClearSession(rec, r))
	require.Len(t, rec.Result().Cookies(), 1)
	assert.Equal(t, -1, rec.Result().Cookies()[0].MaxAge, "cookie expired")
	assert.NotContains(t, getWith(t, a, "/otra", ck), "hola")
}

// TestStoredSessionsAreSealed: the store sees neither identifier nor name,
// and a record moved to another session ID, or changed, does not open.
func TestStoredSessionsAreSealed(t *testing.T) {
	g := newStubGateway(t, time.Now)
	store := newFaultyStore()
	a := newAgency(t, g, time.Now, func(c *clave.Config) { c.SessionStore = store })
	var cookies []*http.Cookie
	for range 2 {
		br := newBrowser(t)
		logIn(t, br, a)
		cookies = append(cookies, sessionCookie(t, br, a))
	}
	store.mu.Lock()
	var ids []string
	for id, data := range store.saved {
		ids = append(ids, id)
		assert.Len(t, id, 43, "256 random bits")
		for _, secret := range []string{"12345678Z", "MARIA", "GARCIA", "1980"} {
			assert.NotContains(t, string(data), secret)
		}
	}
	store.mu.Unlock()
	require.Len(t, ids, 2)
	working := func() int {
		n := 0
		for _, ck := range cookies {
			if strings.Contains(getWith(t, a, "/x", ck), "hola") {
				n++
			}
		}
		return n
	}
	require.Equal(t, 2, working())
	ctx := context.Background()
	first, err := store.Load(ctx, ids[0])
	require.NoError(t, err)
	require.NoError(t, store.Save(ctx, ids[1], first, time.Now().Add(time.Hour)))
	assert.Equal(t, 1, working(), "a record moved to another ID does not open")
	tampered := append([]byte(nil), first...)
	tampered[len(tampered)/2] ^= 1
	require.NoError(t, store.Save(ctx, ids[0], tampered, time.Now().Add(time.Hour)))
	assert.Equal(t, 0, working(), "nor does a changed one")
}

// TestSessionCookieKindsDoNotMix: a service that changes its SessionStore
// setting, keeping its secret, reads none of the other kind's cookies, and
// nothing else sealed under the secret passes for a session.
func TestSessionCookieKindsDoNotMix(t *testing.T) {
	g := newStubGateway(t, time.Now)
	withStore := newAgency(t, g, time.Now, func(c *clave.Config) { c.SessionStore = clave.NewMemorySessionStore(0) })
	without := newAgency(t, g, time.Now, nil)
	id := &clave.Identity{PersonIdentifier: "12345678Z", DocumentType: clave.DocumentDNI, GivenName: "MARIA", LoA: saml.LoALow}
	cookieOf := func(c *clave.Client) *http.Cookie {
		rec := httptest.NewRecorder()
		require.NoError(t, c.SetSession(rec, id))
		return rec.Result().Cookies()[0]
	}
	fromStore, fromCookie := cookieOf(withStore.client), cookieOf(without.client)
	assert.Less(t, len(fromStore.Value), len(fromCookie.Value), "the cookie carries an ID, not the identity")
	assert.Contains(t, getWith(t, withStore, "/", fromStore), "hola")
	assert.Contains(t, getWith(t, without, "/", fromCookie), "hola")
	assert.NotContains(t, getWith(t, without, "/", fromStore), "hola", "store cookie in a cookie-only service")
	assert.NotContains(t, getWith(t, withStore, "/", fromCookie), "hola", "identity cookie in a service with a store")
}

// TestReplayCacheErrorRefusesLogin: a replay cache that cannot answer
// refuses the login; it never counts as "not used". It is the service's
// failure, answered 503, not a response found invalid.
func TestReplayCacheErrorRefusesLogin(t *testing.T) {
	g := newStubGateway(t, time.Now)
	a := newAgency(t, g, time.Now, func(c *clave.Config) { c.ReplayCache = failingReplayCache{} })
	field, p := gatewayResponse(t, a)
	id, err := a.client.ValidateResponse(context.Background(), field, p.RelayState, p)
	assert.ErrorIs(t, err, errStoreDown)
	assert.ErrorIs(t, err, clave.ErrReplayCacheFailed)
	assert.Nil(t, id)

	br := newBrowser(t)
	resp, page := logIn(t, br, a)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, page)
	assert.NotContains(t, page, "no es válida", "not the response's fault")
	assert.Nil(t, sessionCookie(t, br, a))
}

type failingReplayCache struct{}

func (failingReplayCache) Use(context.Context, string, time.Time) (bool, error) {
	return false, errStoreDown
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return u
}
