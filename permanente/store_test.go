package permanente_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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

// TestPersistence: accounts outlive the process that wrote them, with the
// same Secret, and migrating again is harmless.
func TestPersistence(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "permanente.db")
	open := func() (*permanente.SQLStore, func()) {
		db, err := sqlite.Open(ctx, path)
		require.NoError(t, err)
		st, err := permanente.NewSQLStore(ctx, db)
		require.NoError(t, err)
		return st, func() { db.Close() }
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
