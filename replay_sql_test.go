package clave_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite" // SQLite, as "sqlite"

	"github.com/clave-go/clave"
	"github.com/clave-go/clave/internal/servicetest"
	"github.com/clave-go/clave/internal/store/sqlite"
)

// sqlDatabases runs f on a fresh SQLite file and a fresh PostgreSQL
// database; connect opens one more handle on the same database.
func sqlDatabases(t *testing.T, f func(t *testing.T, connect func() *sql.DB)) {
	opener := func(t *testing.T, open func() (*sql.DB, error)) func() *sql.DB {
		return func() *sql.DB {
			db, err := open()
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			return db
		}
	}
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "replay.db")
		f(t, opener(t, func() (*sql.DB, error) { return sqlite.Open(context.Background(), path) }))
	})
	t.Run("postgres", func(t *testing.T) {
		url := servicetest.PostgresURL(t)
		f(t, opener(t, func() (*sql.DB, error) { return sql.Open("pgx", url) }))
	})
}

func countRows(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow(`SELECT COUNT(*) FROM clave_replay`).Scan(&n))
	return n
}

func TestSQLReplayCacheSchema(t *testing.T) {
	ctx := context.Background()
	sqlDatabases(t, func(t *testing.T, connect func() *sql.DB) {
		db := connect()
		_, err := clave.NewSQLReplayCache(ctx, nil, clave.SQLReplayCacheOptions{})
		assert.Error(t, err, "nil database")
		for _, bad := range []string{"x; DROP TABLE y", "sede.replay", "1replay", `"replay"`, "re play"} {
			_, err := clave.NewSQLReplayCache(ctx, db, clave.SQLReplayCacheOptions{Table: bad})
			assert.Error(t, err, "table %q", bad)
		}

		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		c, err := clave.NewSQLReplayCache(ctx, db, clave.SQLReplayCacheOptions{Table: "sede_replay", Now: func() time.Time { return now }})
		require.NoError(t, err)
		used, err := c.Use(ctx, "_a", now.Add(time.Minute).Add(time.Microsecond))
		require.NoError(t, err)
		require.False(t, used)
		var exp int64
		require.NoError(t, db.QueryRow(`SELECT expires_at FROM sede_replay WHERE id = $1`, "_a").Scan(&exp))
		assert.Equal(t, now.Add(time.Minute).UnixMilli()+1, exp, "Unix milliseconds, rounded up")

		// A restart: the table is there, and so is what it remembers.
		again, err := clave.NewSQLReplayCache(ctx, connect(), clave.SQLReplayCacheOptions{Table: "sede_replay", Now: func() time.Time { return now }})
		require.NoError(t, err)
		used, err = again.Use(ctx, "_a", now.Add(time.Hour))
		require.NoError(t, err)
		assert.True(t, used, "remembered across a restart")

		// Replicas starting at once all get their cache.
		var wg sync.WaitGroup
		for range 4 {
			db := connect()
			wg.Go(func() {
				_, err := clave.NewSQLReplayCache(ctx, db, clave.SQLReplayCacheOptions{Table: "started_together"})
				assert.NoError(t, err)
			})
		}
		wg.Wait()
	})
}

// TestSQLReplayCachePrunes: expired rows go a few per Use, never the live
// ones, until none is left.
func TestSQLReplayCachePrunes(t *testing.T) {
	ctx := context.Background()
	sqlDatabases(t, func(t *testing.T, connect func() *sql.DB) {
		db := connect()
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		now := t0
		c, err := clave.NewSQLReplayCache(ctx, db, clave.SQLReplayCacheOptions{Now: func() time.Time { return now }})
		require.NoError(t, err)
		const n = 40
		for i := range n {
			_, err := c.Use(ctx, "_old"+strconv.Itoa(i), t0.Add(time.Second))
			require.NoError(t, err)
		}
		now = t0.Add(2 * time.Second)
		for i := 0; ; i++ {
			before := countRows(t, db)
			used, err := c.Use(ctx, "_new"+strconv.Itoa(i), now.Add(time.Hour))
			require.NoError(t, err)
			require.False(t, used)
			after := countRows(t, db)
			assert.GreaterOrEqual(t, after, before+1-4, "at most 4 rows pruned per Use")
			if after == i+1 {
				break // only the live rows are left
			}
			require.Less(t, i, n, "expired rows never all went")
		}
		var live int
		require.NoError(t, db.QueryRow(`SELECT COUNT(*) FROM clave_replay WHERE expires_at > $1`, now.UnixMilli()).Scan(&live))
		assert.Equal(t, countRows(t, db), live, "no expired row left")
	})
}

// TestSQLReplayCacheErrors: a database that cannot answer gives an error,
// never "not used".
func TestSQLReplayCacheErrors(t *testing.T) {
	ctx := context.Background()
	sqlDatabases(t, func(t *testing.T, connect func() *sql.DB) {
		db := connect()
		c, err := clave.NewSQLReplayCache(ctx, db, clave.SQLReplayCacheOptions{})
		require.NoError(t, err)
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		used, err := c.Use(cancelled, "_x", time.Now().Add(time.Hour))
		assert.Error(t, err, "cancelled context")
		assert.False(t, used)

		_, err = db.Exec(`DROP TABLE clave_replay`)
		require.NoError(t, err)
		used, err = c.Use(ctx, "_x", time.Now().Add(time.Hour))
		assert.Error(t, err, "table gone")
		assert.False(t, used)

		require.NoError(t, db.Close())
		used, err = c.Use(ctx, "_x", time.Now().Add(time.Hour))
		assert.Error(t, err, "database closed")
		assert.False(t, used)
	})
}

// A service on one machine keeps used assertions in its SQLite database,
// so that a restart does not make them acceptable again. (The driver is the
// service's choice: modernc.org/sqlite here, registered as "sqlite".)
func ExampleNewSQLReplayCache() {
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:example?mode=memory")
	if err != nil {
		panic(err)
	}
	defer db.Close()
	cache, err := clave.NewSQLReplayCache(ctx, db, clave.SQLReplayCacheOptions{})
	if err != nil {
		panic(err)
	}
	// cfg.ReplayCache = cache
	expiry := time.Now().Add(16 * time.Minute)
	first, _ := cache.Use(ctx, "_assertion1", expiry)
	second, _ := cache.Use(ctx, "_assertion1", expiry)
	fmt.Println(first, second)
	// Output: false true
}
