package clave_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL, as "pgx"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/internal/servicetest"
	"github.com/clave-go/clave/internal/sptest"
	"github.com/clave-go/clave/internal/store/sqlite"
)

// The agency side's stores of this package pass the conformance suites of
// internal/sptest; redisstore runs them on Redis.

func TestMemoryReplayCacheConformance(t *testing.T) {
	sptest.RunReplayCacheTests(t, sptest.Target[clave.ReplayCache]{
		New: func(t *testing.T, now func() time.Time) func() clave.ReplayCache {
			c := clave.NewMemoryReplayCache(0).WithClock(now)
			return func() clave.ReplayCache { return c }
		},
	})
}

func TestMemorySessionStoreConformance(t *testing.T) {
	sptest.RunSessionStoreTests(t, sptest.Target[clave.SessionStore]{
		New: func(t *testing.T, now func() time.Time) func() clave.SessionStore {
			s := clave.NewMemorySessionStore(0).WithClock(now)
			return func() clave.SessionStore { return s }
		},
	})
}

// TestSQLReplayCacheConformance runs the suite on SQLite, each replica a
// database handle of its own on one file (processes of one machine), and on
// PostgreSQL, each replica a connection pool of its own.
func TestSQLReplayCacheConformance(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		sptest.RunReplayCacheTests(t, sptest.Target[clave.ReplayCache]{
			New: func(t *testing.T, now func() time.Time) func() clave.ReplayCache {
				path := filepath.Join(t.TempDir(), "replay.db")
				return sqlReplicas(t, now, func() (*sql.DB, error) { return sqlite.Open(context.Background(), path) })
			},
		})
	})
	t.Run("postgres", func(t *testing.T) {
		sptest.RunReplayCacheTests(t, sptest.Target[clave.ReplayCache]{
			New: func(t *testing.T, now func() time.Time) func() clave.ReplayCache {
				url := servicetest.PostgresURL(t)
				return sqlReplicas(t, now, func() (*sql.DB, error) {
					db, err := sql.Open("pgx", url)
					if err == nil {
						db.SetMaxIdleConns(16) // not 2: the concurrent case reconnects less
					}
					return db, err
				})
			},
		})
	})
}

// sqlReplicas returns a function that opens a database handle with
// connect and a cache on it, each call one replica.
func sqlReplicas(t *testing.T, now func() time.Time, connect func() (*sql.DB, error)) func() clave.ReplayCache {
	return func() clave.ReplayCache {
		db, err := connect()
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		c, err := clave.NewSQLReplayCache(context.Background(), db, clave.SQLReplayCacheOptions{Now: now})
		require.NoError(t, err)
		return c
	}
}
