package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/store"
)

func TestMigrateIsIncrementalAndDurable(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "g.db")
	db, err := Open(ctx, path)
	require.NoError(t, err)
	steps := []string{`CREATE TABLE a(x INTEGER); INSERT INTO a VALUES (1)`}
	require.NoError(t, store.Migrate(ctx, db, "c", steps))
	require.NoError(t, store.Migrate(ctx, db, "c", steps), "idempotent")
	steps = append(steps, `ALTER TABLE a ADD COLUMN y TEXT`)
	require.NoError(t, store.Migrate(ctx, db, "c", steps))
	require.NoError(t, db.Close())

	db, err = Open(ctx, path)
	require.NoError(t, err)
	defer db.Close()
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM a`).Scan(&n))
	assert.Equal(t, 1, n, "the first step ran once")
	assert.Error(t, store.Migrate(ctx, db, "c", steps[:1]), "an older program refuses a newer schema")
	bad := []string{`CREATE TABLE b(x); CREATE TABLE b(x)`}
	assert.Error(t, store.Migrate(ctx, db, "d", bad))
	assert.Error(t, db.QueryRow(`SELECT count(*) FROM b`).Scan(&n), "a failed step leaves nothing behind")
}

func TestMemoryDatabaseIsShared(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, ":memory:")
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, store.Migrate(ctx, db, "c", []string{`CREATE TABLE a(x)`}))
	_, err = db.Exec(`INSERT INTO a VALUES (1)`)
	require.NoError(t, err)
}
