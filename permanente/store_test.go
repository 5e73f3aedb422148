package permanente_test

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
	"github.com/clave-go/clave/permanente"
	"github.com/clave-go/clave/permanente/permanentetest"
)

func TestStores(t *testing.T) {
	for _, k := range storeKinds() {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			permanentetest.RunStoreTests(t, k.open)
		})
	}
}

// TestPersistence: accounts outlive the process (or connection pool) that
// wrote them, with the same Secret, and migrating again is harmless, on
// either engine.
func TestPersistence(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "permanente.db")
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
	open := func() (*permanente.SQLStore, func()) {
		db, err := openDB(ctx)
		require.NoError(t, err)
		st, err := permanente.NewSQLStore(ctx, db)
		require.NoError(t, err)
		return st, func() { require.NoError(t, db.Close()) }
	}

	st, closeDB := open()
	e := newEnv(t, st)
	code := e.activate(t, citizen, goodPassword)
	closeDB()

	st, closeDB = open()
	defer closeDB()
	e = newEnv(t, st)
	res, err := e.svc.Login(ctx, citizen, goodPassword)
	require.NoError(t, err)
	assert.Equal(t, citizen, res.Citizen)
	_, err = e.svc.StartReset(ctx, citizen, code.Grouped())
	assert.NoError(t, err, "the activation code still verifies after a restart")
}
