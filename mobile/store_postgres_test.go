package mobile_test

import (
	"context"
	"testing"

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
