package gateway_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/gateway"
)

// guardLog collects a gateway's log lines.
type guardLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *guardLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *guardLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// guardedWorld is a world with the admin controls, whose clients are named by
// the X-Test-Client header (127.0.0.1 without it) and whose log is kept.
func guardedWorld(t *testing.T) (*world, *guardLog) {
	logs := &guardLog{}
	w := newWorld(t, func(c *gateway.Config) {
		withAdmin(c)
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
		c.ClientAddress = func(r *http.Request) string {
			if c := r.Header.Get("X-Test-Client"); c != "" {
				return c
			}
			return "127.0.0.1"
		}
	}, nil, nil)
	return w, logs
}

// adminCall calls the admin API as client with token.
func adminCall(t *testing.T, w *world, client, token string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, w.gwSrv.URL+"/admin/api/state", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-Test-Client", client)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = body(t, resp)
	return resp
}

func TestAdminWrongTokensThrottledPerClient(t *testing.T) {
	w, logs := guardedWorld(t)
	var tried []string
	wrong := func(i int) string {
		tok := fmt.Sprintf("guess-%02d-guess-guess", i)
		tried = append(tried, tok)
		return tok
	}

	for i := range 5 {
		assert.Equal(t, http.StatusUnauthorized, adminCall(t, w, "10.0.0.1", wrong(i)).StatusCode, "guess %d", i)
	}
	resp := adminCall(t, w, "10.0.0.1", wrong(5))
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "the sixth distinct guess within the minute")
	retry, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	require.NoError(t, err)
	assert.InDelta(t, 60, retry, 1)
	assert.Equal(t, http.StatusTooManyRequests, adminCall(t, w, "10.0.0.1", adminToken).StatusCode,
		"while locked out even the right token is not checked, or guessing would go on")

	assert.Equal(t, http.StatusOK, adminCall(t, w, "10.0.0.2", adminToken).StatusCode, "other clients are not locked out")
	for range 10 {
		assert.Equal(t, http.StatusUnauthorized, adminCall(t, w, "10.0.0.2", "stale-token-stale-token").StatusCode)
	}
	assert.Equal(t, http.StatusOK, adminCall(t, w, "10.0.0.2", adminToken).StatusCode,
		"retrying one stale token guesses nothing and does not lock its client out")

	w.clock.Advance(time.Minute)
	assert.Equal(t, http.StatusOK, adminCall(t, w, "10.0.0.1", adminToken).StatusCode, "the window has passed")

	out := logs.String()
	assert.Equal(t, 5+10, strings.Count(out, "wrong admin token"), "each wrong token is logged")
	assert.Equal(t, 2, strings.Count(out, "too many wrong tokens"), "and each refusal unchecked")
	assert.Contains(t, out, "client=10.0.0.1")
	for _, tok := range append(tried, adminToken, "stale-token-stale-token") {
		assert.NotContains(t, out, tok, "tokens are never logged")
	}
}

func TestAdminWrongTokensThrottledGlobally(t *testing.T) {
	w, _ := guardedWorld(t)
	for i := range 20 {
		client := fmt.Sprintf("10.0.1.%d", i)
		assert.Equal(t, http.StatusUnauthorized, adminCall(t, w, client, fmt.Sprintf("spread-%02d-spread-spread", i)).StatusCode)
	}
	assert.Equal(t, http.StatusTooManyRequests, adminCall(t, w, "10.0.2.1", "spread-xx-spread-spread").StatusCode,
		"guesses spread over many addresses meet the global limit")
	assert.Equal(t, http.StatusTooManyRequests, adminCall(t, w, "10.0.2.2", adminToken).StatusCode)
	w.clock.Advance(time.Minute)
	assert.Equal(t, http.StatusOK, adminCall(t, w, "10.0.2.2", adminToken).StatusCode)
}

// TestAdminLoginPageThrottled: the page's login form shares the limit.
func TestAdminLoginPageThrottled(t *testing.T) {
	w, _ := guardedWorld(t)
	b := newBrowser(t)
	admin := w.gwSrv.URL + "/admin/"
	_, page := b.get(admin)
	for i := range 6 {
		csrf := csrfRe.FindStringSubmatch(page)
		require.NotNil(t, csrf, page)
		resp, err := b.c.PostForm(admin+"login", url.Values{"token": {fmt.Sprintf("page-guess-%d-guess-guess", i)}, "csrf": {csrf[1]}})
		require.NoError(t, err)
		page = body(t, resp)
		if i < 5 {
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		} else {
			assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
			assert.NotEmpty(t, resp.Header.Get("Retry-After"))
		}
	}
	assert.Equal(t, http.StatusTooManyRequests, adminCall(t, w, "127.0.0.1", adminToken).StatusCode, "the API shares the count")
}

// adminSession logs in to the page with a fresh browser and returns it with
// its session cookie.
func adminSession(t *testing.T, w *world) (*browser, *http.Cookie) {
	t.Helper()
	b := newBrowser(t)
	admin := w.gwSrv.URL + "/admin/"
	_, page := b.get(admin)
	csrf := csrfRe.FindStringSubmatch(page)
	require.NotNil(t, csrf, page)
	resp, err := b.c.PostForm(admin+"login", url.Values{"token": {adminToken}, "csrf": {csrf[1]}})
	require.NoError(t, err)
	page = body(t, resp)
	require.Contains(t, page, `id="catalogue"`, "logged in")
	u, _ := url.Parse(admin)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "clave_admin" {
			return b, c
		}
	}
	t.Fatal("no session cookie")
	return nil, nil
}

// withCookie opens the admin page with only the given session cookie.
func withCookie(t *testing.T, w *world, c *http.Cookie) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, w.gwSrv.URL+"/admin/", nil)
	require.NoError(t, err)
	req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	return body(t, resp)
}

func loggedIn(page string) bool { return strings.Contains(page, `id="catalogue"`) }

func TestAdminSessions(t *testing.T) {
	w, _ := guardedWorld(t)
	admin := w.gwSrv.URL + "/admin/"
	a, aCookie := adminSession(t, w)
	b, bCookie := adminSession(t, w)
	assert.NotEqual(t, aCookie.Value, bCookie.Value, "a fresh session per login")
	assert.NotContains(t, aCookie.Value, adminToken)
	assert.True(t, loggedIn(withCookie(t, w, aCookie)))

	// Logging out ends the session on the server: the old cookie, kept
	// aside, no longer opens the page nor posts a form.
	_, page := a.get(admin)
	csrf := csrfRe.FindStringSubmatch(page)
	require.NotNil(t, csrf)
	resp, err := a.c.PostForm(admin+"logout", url.Values{"csrf": {csrf[1]}})
	require.NoError(t, err)
	_ = body(t, resp)
	assert.False(t, loggedIn(withCookie(t, w, aCookie)), "the cookie no longer works after logout")
	req, err := http.NewRequest(http.MethodPost, admin+"disarm", strings.NewReader(url.Values{"csrf": {csrf[1]}}.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: aCookie.Name, Value: aCookie.Value})
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = body(t, resp)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.True(t, loggedIn(withCookie(t, w, bCookie)), "other sessions go on")

	// Moving the gateway's clock from the page does not end the session;
	// twelve hours of the configured clock do.
	_, page = b.get(admin)
	csrf = csrfRe.FindStringSubmatch(page)
	require.NotNil(t, csrf)
	resp, err = b.c.PostForm(admin+"clock", url.Values{"advance": {"2d"}, "csrf": {csrf[1]}})
	require.NoError(t, err)
	page = body(t, resp)
	assert.True(t, loggedIn(page), page)
	w.clock.Advance(12 * time.Hour)
	assert.False(t, loggedIn(withCookie(t, w, bCookie)), "expired after 12 hours")
}

// TestAdminSessionsBounded: past the bound, a login ends the session that
// expires first.
func TestAdminSessionsBounded(t *testing.T) {
	w, _ := guardedWorld(t)
	_, first := adminSession(t, w)
	w.clock.Advance(time.Second)
	var last *http.Cookie
	for range 64 {
		_, last = adminSession(t, w)
	}
	assert.False(t, loggedIn(withCookie(t, w, first)), "the oldest session made room")
	assert.True(t, loggedIn(withCookie(t, w, last)))
}
