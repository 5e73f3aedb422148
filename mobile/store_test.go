package mobile_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/servicetest"
	"github.com/clave-go/clave/internal/store/postgres"
	"github.com/clave-go/clave/internal/store/sqlite"
	"github.com/clave-go/clave/mobile"
	"github.com/clave-go/clave/mobile/mobiletest"
)

func TestStores(t *testing.T) {
	for _, k := range storeKinds() {
		t.Run(k.name, func(t *testing.T) { mobiletest.RunStoreTests(t, k.open) })
	}
}

// TestPersistence: devices, requests and history outlive the process (or
// connection pool) that wrote them, and migrating again is harmless, on
// either engine.
func TestPersistence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mobile.db")
	t.Run("sqlite", func(t *testing.T) {
		checkPersistence(t, func(ctx context.Context) (*sql.DB, error) { return sqlite.Open(ctx, path) })
	})
	t.Run("postgres", func(t *testing.T) {
		url := servicetest.PostgresURL(t)
		checkPersistence(t, func(ctx context.Context) (*sql.DB, error) { return postgres.Open(ctx, url) })
	})
}

func checkPersistence(t *testing.T, openDB func(context.Context) (*sql.DB, error)) {
	ctx := context.Background()
	open := func() (*mobile.SQLStore, func()) {
		db, err := openDB(ctx)
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
