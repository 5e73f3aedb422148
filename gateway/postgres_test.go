package gateway_test

import (
	"context"
	"database/sql"
	"net"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/gateway"
	"github.com/clave-go/clave/internal/servicetest"
)

// TestGatewayOnPostgres runs logins on a PostgreSQL database shared by two
// gateway processes (two gateways, each with a connection pool of its own,
// behind one address, as behind a load balancer): a login started on one
// finishes on the other, with the pending PIN, the failure count and the
// seen request IDs all in the database; and after both stop, a gateway on
// the same database still knows them.
func TestGatewayOnPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	open := sharedDatabase(t)
	first, second := open(), open()

	w := newSlotWorld(t, func(c *gateway.Config) { c.DB = first }, nil)
	require.NoError(t, w.gw.PutCitizen(ctx, citizen(t, maria, mariaValid, "MARIA", "GARCIA", "LOPEZ", mariaPhone, "advanced")))

	// On the first process: a request received, and a PIN asked for.
	replayer := newBrowser(t)
	_, requestPage := replayer.get(w.agency.srv.URL + "/tramite")
	resp, _ := replayer.submit(requestPage, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	s := w.start()
	s.requestPIN(maria, mariaValid, "")
	require.Equal(t, http.StatusOK, s.resp.StatusCode, s.page)
	right := w.lastSMS(mariaPhone).Code

	// The second process takes over the address; the first keeps running.
	w.swap(func(c *gateway.Config) { c.DB = second })
	t.Run("a request seen by the other process is refused", func(t *testing.T) {
		resp, page := replayer.submit(requestPage, nil)
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
		assert.Contains(t, page, "already received")
	})
	t.Run("a login started on the other process finishes here", func(t *testing.T) {
		s.verify(otherPIN(right), "")
		require.Equal(t, http.StatusUnauthorized, s.resp.StatusCode, s.page)
		var failures int
		require.NoError(t, first.QueryRowContext(ctx, `SELECT failures FROM pin_citizens WHERE citizen = $1`, maria).Scan(&failures))
		assert.Equal(t, 1, failures, "the failure is seen from the other process")
		s.verify(right, "")
		require.Equal(t, http.StatusOK, s.resp.StatusCode, s.page)
		s.finish()
		assert.Equal(t, "hola MARIA|12345678Z|substantial|AEAT|GARCIA LOPEZ", s.page)
	})
	t.Run("a whole login", func(t *testing.T) {
		s := w.start()
		s.requestPIN(maria, mariaValid, "")
		require.Equal(t, http.StatusOK, s.resp.StatusCode, s.page)
		s.verify(w.lastSMS(mariaPhone).Code, "")
		s.finish()
		assert.Equal(t, "hola MARIA|12345678Z|substantial|AEAT|GARCIA LOPEZ", s.page)
	})

	// Both stop; a third starts on the same database.
	require.NoError(t, first.Close())
	require.NoError(t, second.Close())
	w.swap(func(c *gateway.Config) { c.DB = open() })
	t.Run("after a restart", func(t *testing.T) {
		got, err := w.gw.Citizen(ctx, maria)
		require.NoError(t, err)
		assert.Equal(t, "MARIA", got.GivenName)
		resp, page := replayer.submit(requestPage, nil)
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "the request is still refused")
		assert.Contains(t, page, "already received")
	})
}

// TestOpenDBChoosesTheEngine: a postgres:// or postgresql:// URL goes to
// PostgreSQL (here a port nothing listens on), anything else is a SQLite
// path; a failure never quotes the password.
func TestOpenDBChoosesTheEngine(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := l.Addr().String()
	l.Close()
	for _, scheme := range []string{"postgres", "postgresql"} {
		_, err := gateway.OpenDB(context.Background(), scheme+"://clave:hunter2@"+closed+"/clave?sslmode=disable")
		require.Error(t, err, scheme)
		assert.Contains(t, err.Error(), "postgres: open "+scheme+"://clave:xxxxx@"+closed, scheme)
		assert.NotContains(t, err.Error(), "hunter2", scheme)
	}
	db, err := gateway.OpenDB(context.Background(), filepath.Join(t.TempDir(), "postgres:"))
	require.NoError(t, err, "a file path, however named, is SQLite")
	require.NoError(t, db.Ping())
	db.Close()
}

// A Cl@ve PIN sent to the citizen's app by one gateway process is read by
// the app through another: the app's messages live in the database too.
func TestAppMessagesSharedOnPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	open := sharedDatabase(t)
	first, second := open(), open()
	w := newSlotWorld(t, func(c *gateway.Config) { c.DB = first }, nil)
	require.NoError(t, w.gw.PutCitizen(ctx, citizen(t, maria, mariaValid, "MARIA", "GARCIA", "LOPEZ", mariaPhone, "advanced")))
	p := w.phoneBySMS(maria, mariaValid, mariaPhone)
	sms := len(w.gw.Inbox().Messages(gateway.ChannelSMS, mariaPhone))

	s := w.start()
	s.requestPIN(maria, mariaValid, "")
	require.Equal(t, http.StatusOK, s.resp.StatusCode, s.page)
	assert.Len(t, w.gw.Inbox().Messages(gateway.ChannelSMS, mariaPhone), sms, "the PIN went to the app, not by SMS")

	w.swap(func(c *gateway.Config) { c.DB = second })
	pins, err := p.PINs(ctx)
	require.NoError(t, err)
	require.Len(t, pins, 1, "the other process's PIN is in the app")
	s.verify(pins[0].Code, "")
	require.Equal(t, http.StatusOK, s.resp.StatusCode, s.page)
	s.finish()
	assert.Equal(t, "hola MARIA|12345678Z|substantial|AEAT|GARCIA LOPEZ", s.page)
}

// sharedDatabase makes a PostgreSQL database for the test and returns how
// to open it again, as each gateway process does with a pool of its own.
func sharedDatabase(t *testing.T) func() *sql.DB {
	url := servicetest.PostgresURL(t)
	return func() *sql.DB {
		db, err := gateway.OpenDB(context.Background(), url)
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
}
