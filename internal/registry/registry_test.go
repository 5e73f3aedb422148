package registry_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/dni"
	"github.com/clave-go/clave/internal/registry"
	"github.com/clave-go/clave/internal/registry/registrytest"
	"github.com/clave-go/clave/internal/servicetest"
	"github.com/clave-go/clave/internal/store/postgres"
	"github.com/clave-go/clave/internal/store/sqlite"
)

func TestMemoryStoreConformance(t *testing.T) {
	registrytest.RunStoreTests(t, func(*testing.T) registry.Store { return registry.NewMemoryStore() })
}

func TestSQLStoreConformance(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		registrytest.RunStoreTests(t, func(t *testing.T) registry.Store { return newSQLStore(t, ":memory:") })
	})
	// A file database has several connections and real locking, which is
	// where a check-then-write race would show.
	t.Run("file", func(t *testing.T) {
		registrytest.RunStoreTests(t, func(t *testing.T) registry.Store {
			return newSQLStore(t, filepath.Join(t.TempDir(), "registry.db"))
		})
	})
}

func newSQLStore(t *testing.T, path string) *registry.SQLStore {
	t.Helper()
	db, err := sqlite.Open(t.Context(), path)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	s, err := registry.NewSQLStore(t.Context(), db)
	require.NoError(t, err)
	return s
}

// testCitizen is a valid, normalised DNI holder whose identifier and phone
// derive from n (below 100,000,000), as the conformance suite makes them.
func testCitizen(n int) registry.Citizen {
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	return registry.Citizen{
		ID:            fmt.Sprintf("%08d%c", n, "TRWAGMYFPDXBNJZSQVHLCKE"[n%23]),
		ValidUntil:    day(2031, time.March, 9),
		IssuedOn:      day(2021, time.March, 9),
		GivenName:     "MARÍA JOSÉ",
		FirstSurname:  "GARCÍA",
		SecondSurname: "LÓPEZ",
		DateOfBirth:   day(1980, time.May, 17),
		Phone:         fmt.Sprintf("+346%08d", n),
		Email:         fmt.Sprintf("citizen%d@example.es", n),
		Level:         registry.LevelAdvanced,
		Status:        registry.StatusActive,
		CreatedAt:     time.Date(2024, time.June, 1, 10, 30, 15, 123456789, time.UTC),
	}
}

// TestSQLStoreDurable: citizens outlive the process (or connection pool)
// that wrote them, and migrating again is harmless, on either engine.
func TestSQLStoreDurable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.db")
	t.Run("sqlite", func(t *testing.T) {
		checkDurable(t, func(ctx context.Context) (*sql.DB, error) { return sqlite.Open(ctx, path) })
	})
	t.Run("postgres", func(t *testing.T) {
		url := servicetest.PostgresURL(t)
		checkDurable(t, func(ctx context.Context) (*sql.DB, error) { return postgres.Open(ctx, url) })
	})
}

func checkDurable(t *testing.T, openDB func(context.Context) (*sql.DB, error)) {
	ctx := t.Context()
	db, err := openDB(ctx)
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

	db, err = openDB(ctx)
	require.NoError(t, err)
	defer db.Close()
	s, err = registry.NewSQLStore(ctx, db) // migrations already applied: a no-op
	require.NoError(t, err)
	got, err := s.List(ctx)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	assert.Equal(t, registry.StatusGaveUp, got[0].Status)
}

func TestStoresUseTheirClock(t *testing.T) {
	at := time.Date(2025, time.February, 3, 4, 5, 6, 7, time.FixedZone("CET", 3600))
	now := func() time.Time { return at }
	for name, s := range map[string]registry.Store{
		"memory": registry.NewMemoryStore().WithClock(now),
		"sql":    newSQLStore(t, ":memory:").WithClock(now),
	} {
		c := testCitizen(1)
		c.CreatedAt = time.Time{}
		require.NoError(t, s.Put(t.Context(), c), name)
		got, err := s.Get(t.Context(), dni.MustParse(c.ID))
		require.NoError(t, err, name)
		assert.Equal(t, at.UTC(), got.CreatedAt, name)
	}
}

func TestSQLStoreRejectsCorruptRows(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, ":memory:")
	require.NoError(t, err)
	defer db.Close()
	s, err := registry.NewSQLStore(ctx, db)
	require.NoError(t, err)
	c := testCitizen(1)
	require.NoError(t, s.Put(ctx, c))
	_, err = db.ExecContext(ctx, `UPDATE registry_citizens SET valid_until = '01/01/2030'`)
	require.NoError(t, err)
	_, err = s.Get(ctx, dni.MustParse(c.ID))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), c.ID)
	_, err = s.List(ctx)
	assert.Error(t, err)
}
