package registry

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/store"
)

func TestMemoryStoreConformance(t *testing.T) {
	RunConformance(t, func(*testing.T) Store { return NewMemoryStore() })
}

func TestSQLStoreConformance(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		RunConformance(t, func(t *testing.T) Store { return newSQLStore(t, ":memory:") })
	})
	// A file database has several connections and real locking, which is
	// where a check-then-write race would show.
	t.Run("file", func(t *testing.T) {
		RunConformance(t, func(t *testing.T) Store {
			return newSQLStore(t, filepath.Join(t.TempDir(), "registry.db"))
		})
	})
}

func newSQLStore(t *testing.T, path string) *SQLStore {
	t.Helper()
	db, err := store.Open(t.Context(), path)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	s, err := NewSQLStore(t.Context(), db)
	require.NoError(t, err)
	return s
}

func TestSQLStoreDurable(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "registry.db")
	db, err := store.Open(ctx, path)
	require.NoError(t, err)
	s, err := NewSQLStore(ctx, db)
	require.NoError(t, err)
	seed := loadTestSeed(t)
	require.NoError(t, SeedStore(ctx, s, seed))
	require.NoError(t, s.SetStatus(ctx, seed[0].ID, StatusGaveUp))
	want, err := s.List(ctx)
	require.NoError(t, err)
	require.Len(t, want, len(seed))
	require.NoError(t, db.Close())

	db, err = store.Open(ctx, path)
	require.NoError(t, err)
	defer db.Close()
	s, err = NewSQLStore(ctx, db) // migrations already applied: a no-op
	require.NoError(t, err)
	got, err := s.List(ctx)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	assert.Equal(t, StatusGaveUp, got[0].Status)
}

func TestStoresUseTheirClock(t *testing.T) {
	at := time.Date(2025, time.February, 3, 4, 5, 6, 7, time.FixedZone("CET", 3600))
	now := func() time.Time { return at }
	for name, s := range map[string]Store{
		"memory": NewMemoryStore().WithClock(now),
		"sql":    newSQLStore(t, ":memory:").WithClock(now),
	} {
		c := conformanceCitizen(1)
		c.CreatedAt = time.Time{}
		require.NoError(t, s.Put(t.Context(), c), name)
		got, err := s.Get(t.Context(), c.ID)
		require.NoError(t, err, name)
		assert.Equal(t, at.UTC(), got.CreatedAt, name)
	}
}

func TestSQLStoreRejectsCorruptRows(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, ":memory:")
	require.NoError(t, err)
	defer db.Close()
	s, err := NewSQLStore(ctx, db)
	require.NoError(t, err)
	c := conformanceCitizen(1)
	require.NoError(t, s.Put(ctx, c))
	_, err = db.ExecContext(ctx, `UPDATE registry_citizens SET valid_until = '01/01/2030'`)
	require.NoError(t, err)
	_, err = s.Get(ctx, c.ID)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), c.ID.String())
	_, err = s.List(ctx)
	assert.Error(t, err)
}
