package registry_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/dni"
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

func TestSQLStoreDurablePostgres(t *testing.T) {
	ctx := context.Background()
	url := servicetest.PostgresURL(t)
	db, err := postgres.Open(ctx, url)
	require.NoError(t, err)
	s, err := registry.NewSQLStore(ctx, db)
	require.NoError(t, err)
	seed := loadTestSeed(t)
	require.NoError(t, registry.SeedStore(ctx, s, seed))
	require.NoError(t, s.SetStatus(ctx, dni.MustParse(seed[0].ID), registry.StatusGaveUp))
	want, err := s.List(ctx)
	require.NoError(t, err)
	require.Len(t, want, len(seed))
	require.NoError(t, db.Close())

	db, err = postgres.Open(ctx, url)
	require.NoError(t, err)
	defer db.Close()
	s, err = registry.NewSQLStore(ctx, db) // migrations already applied: a no-op
	require.NoError(t, err)
	got, err := s.List(ctx)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	assert.Equal(t, registry.StatusGaveUp, got[0].Status)
}
