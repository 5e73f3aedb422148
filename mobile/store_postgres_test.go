package mobile_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/servicetest"
	"github.com/clave-go/clave/internal/store/postgres"
	"github.com/clave-go/clave/mobile"
	"github.com/clave-go/clave/mobile/mobiletest"
)

// openPostgres returns a store on a fresh PostgreSQL database of its own.
// Its pool has several connections, each a session of its own to the
// server, so concurrent updates race as several gateway processes' would.
func openPostgres(t *testing.T) *mobile.SQLStore {
	t.Helper()
	ctx := context.Background()
	db, err := postgres.Open(ctx, servicetest.PostgresURL(t))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	st, err := mobile.NewSQLStore(ctx, db)
	require.NoError(t, err)
	return st
}

func TestStoresPostgres(t *testing.T) {
	mobiletest.RunStoreTests(t, func(t *testing.T) mobile.Store { return openPostgres(t) })
}

// TestPersistencePostgres: devices, requests and history outlive the
// connection pool that wrote them, and migrating again is harmless.
func TestPersistencePostgres(t *testing.T) {
	ctx := context.Background()
	url := servicetest.PostgresURL(t)
	open := func() (*mobile.SQLStore, func()) {
		db, err := postgres.Open(ctx, url)
		require.NoError(t, err)
		st, err := mobile.NewSQLStore(ctx, db)
		require.NoError(t, err)
		return st, func() { require.NoError(t, db.Close()) }
	}

	st, closeDB := open()
	e := newEnv(t, st)
	p := e.activate(t, citizen, 1)
	r := e.request(t, mobile.RequestSpec{Kind: mobile.KindPush, Citizen: citizen})
	payload, sig := p.sign(t, r, mobile.Decline, e.clock.Now())
	_, err := e.svc.Decide(ctx, p.dev.ID, payload, sig)
	require.NoError(t, err)
	closeDB()

	st, closeDB = open()
	defer closeDB()
	dev, err := st.Device(ctx, p.dev.ID)
	require.NoError(t, err)
	assert.Equal(t, mobile.DeviceActive, dev.Status)
	got, err := st.Request(ctx, r.ID)
	require.NoError(t, err)
	assert.Equal(t, mobile.StateDeclined, got.State)
	h, err := st.History(ctx, citizen, mobile.Query{Limit: 10})
	require.NoError(t, err)
	require.Len(t, h, 1)
	assert.Equal(t, mobile.StateDeclined, h[0].Outcome)
	assert.True(t, t0.Equal(h[0].At), "%v", h[0].At)
}
