package gateway_test

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/gateway"
	"github.com/clave-go/clave/pin"
)

// TestStorageFailureIsNotTheCitizensMistake breaks the Cl@ve PIN table of a
// file database in the middle of a login: the citizen is told to try again
// (503), never "wrong PIN", nothing is counted against them, and once the
// database is back the same PIN logs them in.
func TestStorageFailureIsNotTheCitizensMistake(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := gateway.OpenDB(ctx, filepath.Join(t.TempDir(), "gateway.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	w := newWorld(t, func(c *gateway.Config) { c.DB = db }, nil, nil)

	s := w.start()
	s.requestPIN(maria, mariaValid, "")
	require.Equal(t, http.StatusOK, s.resp.StatusCode, s.page)
	right := w.lastSMS(mariaPhone).Code
	s.verify(otherPIN(right), "")
	require.Equal(t, http.StatusUnauthorized, s.resp.StatusCode, "a wrong PIN is the citizen's mistake")

	_, err = db.ExecContext(ctx, `ALTER TABLE pin_citizens RENAME TO pin_citizens_away`)
	require.NoError(t, err)
	for _, typed := range []string{otherPIN(right), right} {
		s.verify(typed, "")
		assert.Equal(t, http.StatusServiceUnavailable, s.resp.StatusCode, "storage down: try again (%s)", typed)
		assert.Contains(t, s.page, "no está disponible en este momento", "says to try again")
	}
	_, err = db.ExecContext(ctx, `ALTER TABLE pin_citizens_away RENAME TO pin_citizens`)
	require.NoError(t, err)

	var failures int
	require.NoError(t, db.QueryRowContext(ctx, `SELECT failures FROM pin_citizens WHERE citizen = ?`, maria).Scan(&failures))
	assert.Equal(t, 1, failures, "only the answered failure was counted")
	s.verify(right, "")
	s.finish()
	assert.Equal(t, http.StatusOK, s.resp.StatusCode)
	assert.Contains(t, s.page, "hola MARIA")
}

// TestPINLimitsAreConfigurable: Config.PINLimits reaches the Cl@ve PIN
// pages, whose "too many attempts" answer is a 429 with its own message.
func TestPINLimitsAreConfigurable(t *testing.T) {
	t.Parallel()
	w := newWorld(t, func(c *gateway.Config) { c.PINLimits = pin.Limits{ClientRequests: 1} }, nil, nil)
	s := w.start()
	s.requestPIN(maria, mariaValid, "")
	require.Equal(t, http.StatusOK, s.resp.StatusCode, s.page)
	s2 := &session{w: w, b: s.b}
	s2.see(s.b.get(w.agency.srv.URL + "/tramite"))
	s2.see(s2.b.submit(s2.page, nil))
	s2.requestPIN(maria, mariaValid, "")
	assert.Equal(t, http.StatusTooManyRequests, s2.resp.StatusCode, "a second request from the same client")
	assert.Contains(t, s2.page, "Demasiados intentos desde esta conexión")
}

// TestStorageFailureIsNotTheServicesMistake breaks the table of the
// requests already received: the service's request is answered 503 (try
// again), not refused as a replay, and once the database is back the same
// request is accepted.
func TestStorageFailureIsNotTheServicesMistake(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := gateway.OpenDB(ctx, filepath.Join(t.TempDir(), "gateway.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	w := newWorld(t, func(c *gateway.Config) { c.DB = db }, nil, nil)

	b := newBrowser(t)
	_, requestPage := b.get(w.agency.srv.URL + "/tramite")
	_, err = db.ExecContext(ctx, `ALTER TABLE seen_requests RENAME TO seen_requests_away`)
	require.NoError(t, err)
	resp, page := b.submit(requestPage, nil)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Contains(t, page, "no está disponible en este momento")
	assert.NotContains(t, page, "already received")

	_, err = db.ExecContext(ctx, `ALTER TABLE seen_requests_away RENAME TO seen_requests`)
	require.NoError(t, err)
	resp, page = b.submit(requestPage, nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the same request, once the database is back: %s", page)
	assert.Regexp(t, linkRe, page, "the chooser")
}
