package flow_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/flow"
	"github.com/clave-go/clave/internal/flow/flowtest"
	"github.com/clave-go/clave/internal/servicetest"
	"github.com/clave-go/clave/internal/store"
	"github.com/clave-go/clave/internal/store/postgres"
	"github.com/clave-go/clave/internal/store/sqlite"
)

func openPostgres(t *testing.T) *sql.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), servicetest.PostgresURL(t))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// TestSQLStoreConformancePostgres runs the suite on PostgreSQL, through a
// pool of several connections, each a session of its own to the server, so
// that concurrent updates race as several gateway processes' would.
func TestSQLStoreConformancePostgres(t *testing.T) {
	flowtest.RunStoreTests(t, func(t *testing.T, now func() time.Time) flow.Store {
		s, err := flow.NewSQLStore(context.Background(), openPostgres(t), now)
		require.NoError(t, err)
		return s
	})
}

// TestSQLStorePrunes: expired flows (an hour after their expiry) and
// request IDs are swept on the next write, on either engine. The memory
// store sweeps on its own schedule, so this is not part of the suite.
func TestSQLStorePrunes(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) *sql.DB{
		"sqlite": func(t *testing.T) *sql.DB {
			db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "flows.db"))
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			return db
		},
		"postgres": openPostgres,
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db := open(t)
			t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
			now := t0
			s, err := flow.NewSQLStore(ctx, db, func() time.Time { return now })
			require.NoError(t, err)
			for id, expires := range map[string]time.Time{"old": t0.Add(30 * time.Minute), "recent": t0.Add(90 * time.Minute)} {
				require.NoError(t, s.Create(ctx, &flow.Flow{ID: id, CreatedAt: t0, ExpiresAt: expires}))
			}
			for id, expires := range map[string]time.Time{"_old": t0.Add(time.Hour), "_live": t0.Add(5 * time.Hour)} {
				seen, err := s.SeenRequest(ctx, "S1", id, expires)
				require.NoError(t, err)
				require.False(t, seen)
			}

			now = t0.Add(2 * time.Hour) // the next write sweeps
			require.NoError(t, s.Create(ctx, &flow.Flow{ID: "new", CreatedAt: now, ExpiresAt: now.Add(30 * time.Minute)}))
			_, err = s.Get(ctx, "old")
			assert.ErrorIs(t, err, store.ErrNotFound, "expired more than an hour ago: swept")
			_, err = s.Get(ctx, "recent")
			assert.NoError(t, err, "expired less than an hour ago: kept for inspection")
			var n int
			require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM seen_requests`).Scan(&n))
			assert.Equal(t, 1, n, "the expired request ID is swept, the live one kept")
		})
	}
}
