package permanente_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/servicetest"
	"github.com/clave-go/clave/internal/store/postgres"
	"github.com/clave-go/clave/permanente"
	"github.com/clave-go/clave/permanente/permanentetest"
)

// openPostgres returns a store on a fresh PostgreSQL database of its own.
// Its pool has several connections, each a session of its own to the
// server, so concurrent updates race as several gateway processes' would.
func openPostgres(t *testing.T) *permanente.SQLStore {
	t.Helper()
	ctx := context.Background()
	db, err := postgres.Open(ctx, servicetest.PostgresURL(t))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	st, err := permanente.NewSQLStore(ctx, db)
	require.NoError(t, err)
	return st
}

func TestStoresPostgres(t *testing.T) {
	t.Parallel()
	permanentetest.RunStoreTests(t, func(t *testing.T) permanente.Store { return openPostgres(t) })
}
