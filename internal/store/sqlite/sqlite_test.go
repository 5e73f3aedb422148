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
	require.NoError(t, store.Migrate(ctx, db, "c", store.Migrations{SQLite: steps}))
	require.NoError(t, store.Migrate(ctx, db, "c", store.Migrations{SQLite: steps}), "idempotent")
	steps = append(steps, `ALTER TABLE a ADD COLUMN y TEXT`)
	require.NoError(t, store.Migrate(ctx, db, "c", store.Migrations{SQLite: steps}))
	require.NoError(t, db.Close())

	db, err = Open(ctx, path)
	require.NoError(t, err)
	defer db.Close()
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM a`).Scan(&n))
	assert.Equal(t, 1, n, "the first step ran once")
	assert.Error(t, store.Migrate(ctx, db, "c", store.Migrations{SQLite: steps[:1]}), "an older program refuses a newer schema")
	bad := []string{`CREATE TABLE b(x); CREATE TABLE b(x)`}
	assert.Error(t, store.Migrate(ctx, db, "d", store.Migrations{SQLite: bad}))
	assert.Error(t, db.QueryRow(`SELECT count(*) FROM b`).Scan(&n), "a failed step leaves nothing behind")
}

func TestMemoryDatabaseIsShared(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, ":memory:")
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, store.Migrate(ctx, db, "c", store.Migrations{SQLite: []string{`CREATE TABLE a(x)`}}))
	_, err = db.Exec(`INSERT INTO a VALUES (1)`)
	require.NoError(t, err)
}

// TestStoresSQL checks what the stores assume of this database: it reports
// the SQLite dialect, takes $n placeholders (one statement text serves both
// engines) and its duplicate-key errors are recognised.
func TestStoresSQL(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	require.NoError(t, err)
	defer db.Close()
	assert.Equal(t, store.SQLite, store.DialectOf(db))
	require.NoError(t, store.Migrate(ctx, db, "c", store.Migrations{
		SQLite: []string{`CREATE TABLE a(k TEXT PRIMARY KEY, v INTEGER, w TEXT UNIQUE)`}}))
	_, err = db.ExecContext(ctx, `INSERT INTO a(k, v, w) VALUES ($1, $2, $3)`, "x", 7, "u")
	require.NoError(t, err)
	var v int
	require.NoError(t, db.QueryRowContext(ctx, `SELECT v FROM a WHERE k = $2 AND v = $1`, 7, "x").Scan(&v))
	assert.Equal(t, 7, v, "placeholders bind by number, not by position")
	_, err = db.ExecContext(ctx, `INSERT INTO a(k, v, w) VALUES ($1, $2, $3)`, "x", 8, "other")
	assert.True(t, store.IsUniqueViolation(err), "primary key: %v", err)
	_, err = db.ExecContext(ctx, `INSERT INTO a(k, v, w) VALUES ($1, $2, $3)`, "y", 8, "u")
	assert.True(t, store.IsUniqueViolation(err), "unique index: %v", err)
	assert.False(t, store.IsUniqueViolation(nil))

	err = store.Migrate(ctx, db, "p", store.Migrations{Postgres: []string{`CREATE TABLE p(x BIGINT)`}})
	assert.ErrorContains(t, err, "no schema for sqlite", "a component without SQLite steps is refused")
}
