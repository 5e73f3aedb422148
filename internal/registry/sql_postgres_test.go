package registry_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/registry"
	"github.com/clave-go/clave/internal/registry/registrytest"
	"github.com/clave-go/clave/internal/servicetest"
	"github.com/clave-go/clave/internal/store/postgres"
)

// TestSQLStoreConformancePostgres runs the suite on PostgreSQL, through a
// pool of several connections, each a session of its own to the server:
// Puts racing for one phone there are not serialised, as on SQLite, but
// refused by the unique index.
func TestSQLStoreConformancePostgres(t *testing.T) {
	registrytest.RunStoreTests(t, func(t *testing.T) registry.Store {
		db, err := postgres.Open(t.Context(), servicetest.PostgresURL(t))
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		s, err := registry.NewSQLStore(t.Context(), db)
		require.NoError(t, err)
		return s
	})
}
