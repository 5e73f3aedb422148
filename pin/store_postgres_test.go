package pin_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/servicetest"
	"github.com/clave-go/clave/internal/store/postgres"
	"github.com/clave-go/clave/pin"
	"github.com/clave-go/clave/pin/pintest"
)

// openPostgres returns a store on a fresh PostgreSQL database of its own.
// Its pool has several connections, each a session of its own to the
// server, so concurrent updates race as several gateway processes' would.
func openPostgres(t *testing.T) *pin.SQLStore {
	t.Helper()
	ctx := context.Background()
	db, err := postgres.Open(ctx, servicetest.PostgresURL(t))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	st, err := pin.NewSQLStore(ctx, db)
	require.NoError(t, err)
	return st
}

func TestStoreConformancePostgres(t *testing.T) {
	pintest.RunStoreTests(t, func(t *testing.T) pin.Store { return openPostgres(t) })
}

// TestRulesPostgres runs every Cl@ve PIN rule on PostgreSQL, the concurrent
// ones included: two attempts on one citizen each count, a PIN is used
// once, the request limit holds.
func TestRulesPostgres(t *testing.T) {
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			r.run(t, newEnv(t, openPostgres(t)))
		})
	}
}

// TestPersistencePostgres: what one connection pool wrote, closed, is there
// for the next, and migrating again is harmless.
func TestPersistencePostgres(t *testing.T) {
	ctx := context.Background()
	url := servicetest.PostgresURL(t)
	clk := &clock{now: t0}
	open := func() (*pin.Service, func()) {
		db, err := postgres.Open(ctx, url)
		require.NoError(t, err)
		st, err := pin.NewSQLStore(ctx, db)
		require.NoError(t, err)
		svc, err := pin.New(pin.Config{Secret: testSecret, Now: clk.Now}, st)
		require.NoError(t, err)
		return svc, func() { require.NoError(t, db.Close()) }
	}

	svc, closeDB := open()
	iss, err := svc.Request(ctx, citizen, "")
	require.NoError(t, err)
	require.ErrorIs(t, svc.Verify(ctx, citizen, iss.RequestCode, wrong(iss.PIN), "", ""), pin.ErrWrongPIN)
	closeDB()

	svc, closeDB = open()
	defer closeDB()
	st, err := svc.Status(ctx, citizen)
	require.NoError(t, err)
	assert.Equal(t, 1, st.Failures)
	require.NotNil(t, st.Pending)
	assert.True(t, iss.ExpiresAt.Equal(st.Pending.ExpiresAt))
	require.NoError(t, svc.Verify(ctx, citizen, iss.RequestCode, iss.PIN, "", ""), "the PIN survived the restart")
}
