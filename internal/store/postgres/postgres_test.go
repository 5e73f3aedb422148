package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	neturl "net/url"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/clave-go/clave/internal/servicetest"
	"github.com/clave-go/clave/internal/store"
	"github.com/clave-go/clave/internal/store/postgres"
)

func open(t *testing.T, url string) *sql.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestOpen(t *testing.T) {
	url := servicetest.PostgresURL(t)
	db := open(t, url)
	assert.Equal(t, store.Postgres, store.DialectOf(db))
	assert.Equal(t, postgres.DefaultMaxConns, db.Stats().MaxOpenConnections)

	plain, err := sql.Open("pgx", url)
	require.NoError(t, err)
	defer plain.Close()
	assert.Equal(t, store.Postgres, store.DialectOf(plain), "pgx's own driver is recognised too")

	u, err := neturl.Parse(url)
	require.NoError(t, err)
	q := u.Query()
	q.Set("pool_max_conns", "3")
	u.RawQuery = q.Encode()
	small := open(t, u.String())
	assert.Equal(t, 3, small.Stats().MaxOpenConnections)
	require.NoError(t, small.PingContext(context.Background()), "pool_max_conns is not sent to the server")
}

// TestOpenErrorsHideThePassword: whatever goes wrong, the error names the
// server but never quotes the password.
func TestOpenErrorsHideThePassword(t *testing.T) {
	const secret = "s3cr3t-Pa55"
	// A port nothing listens on: bound, then closed.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := l.Addr().String()
	l.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for name, url := range map[string]string{
		"closed port":         "postgres://clave:" + secret + "@" + closed + "/clave?sslmode=disable",
		"password parameter":  "postgresql://clave@" + closed + "/clave?sslmode=disable&password=" + secret,
		"bad port":            "postgres://clave:" + secret + "@127.0.0.1:port/clave",
		"bad setting":         "postgres://clave:" + secret + "@" + closed + "/clave?sslmode=sometimes",
		"bad pool size":       "postgres://clave:" + secret + "@" + closed + "/clave?pool_max_conns=0",
		"key=value string":    "host=127.0.0.1 user=clave password=" + secret,
		"other scheme":        "mysql://clave:" + secret + "@" + closed + "/clave",
		"percent in password": "postgres://clave:" + secret + "%zz@" + closed + "/clave",
	} {
		t.Run(name, func(t *testing.T) {
			db, err := postgres.Open(ctx, url)
			require.Error(t, err)
			assert.Nil(t, db)
			assert.NotContains(t, err.Error(), secret)
			assert.True(t, strings.HasPrefix(err.Error(), "postgres: "), "%v", err)
			t.Log(err)
		})
	}
	_, err = postgres.Open(ctx, "postgres://clave:"+secret+"@"+closed+"/clave?sslmode=disable")
	assert.Contains(t, err.Error(), closed, "the error names the server")
	assert.Contains(t, err.Error(), "clave:xxxxx@", "and the user")
}

func TestOpenCancelled(t *testing.T) {
	url := servicetest.PostgresURL(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := postgres.Open(ctx, url)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	url := servicetest.PostgresURL(t)
	db := open(t, url)
	m := store.Migrations{
		SQLite:   []string{`CREATE TABLE a(x INTEGER)`},
		Postgres: []string{`CREATE TABLE a(x BIGINT); INSERT INTO a VALUES (1)`},
	}
	require.NoError(t, store.Migrate(ctx, db, "c", m))
	require.NoError(t, store.Migrate(ctx, db, "c", m), "idempotent")
	m.Postgres = append(m.Postgres, `ALTER TABLE a ADD COLUMN y TEXT`)
	require.NoError(t, store.Migrate(ctx, db, "c", m))
	db.Close()

	db = open(t, url)
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM a`).Scan(&n))
	assert.Equal(t, 1, n, "the first step ran once")
	assert.Error(t, store.Migrate(ctx, db, "c", store.Migrations{Postgres: m.Postgres[:1]}),
		"an older program refuses a newer schema")
	assert.ErrorContains(t, store.Migrate(ctx, db, "s", store.Migrations{SQLite: m.SQLite}), "no schema for postgres")
	bad := store.Migrations{Postgres: []string{`CREATE TABLE b(x BIGINT); CREATE TABLE b(x BIGINT)`}}
	assert.Error(t, store.Migrate(ctx, db, "d", bad))
	assert.Error(t, db.QueryRow(`SELECT count(*) FROM b`).Scan(&n), "a failed step leaves nothing behind")
}

// TestMigrateConcurrently: gateway processes starting together on a new
// database each migrate it; every one succeeds and each step runs once.
func TestMigrateConcurrently(t *testing.T) {
	ctx := context.Background()
	url := servicetest.PostgresURL(t)
	steps := func(c string) store.Migrations {
		return store.Migrations{Postgres: []string{
			`CREATE TABLE ` + c + `(step INTEGER); INSERT INTO ` + c + ` VALUES (1)`,
			`INSERT INTO ` + c + ` VALUES (2)`,
		}}
	}
	const processes = 6
	var wg sync.WaitGroup
	errs := make(chan error, 2*processes)
	for range processes {
		db := open(t, url) // a pool each, as separate processes have
		wg.Go(func() {
			for _, c := range []string{"one", "two"} {
				errs <- store.Migrate(ctx, db, c, steps(c))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	db := open(t, url)
	for _, c := range []string{"one", "two"} {
		var n int
		require.NoError(t, db.QueryRow(`SELECT count(*) FROM `+c).Scan(&n))
		assert.Equal(t, 2, n, "each step of %s ran once", c)
	}
}

func TestIsUniqueViolation(t *testing.T) {
	ctx := context.Background()
	db := open(t, servicetest.PostgresURL(t))
	_, err := db.ExecContext(ctx, `CREATE TABLE a(k TEXT PRIMARY KEY, w TEXT UNIQUE)`)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `INSERT INTO a VALUES ($1, $2)`, "x", "u")
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `INSERT INTO a VALUES ($1, $2)`, "x", "v")
	assert.True(t, store.IsUniqueViolation(err), "primary key: %v", err)
	_, err = db.ExecContext(ctx, `INSERT INTO a VALUES ($1, $2)`, "y", "u")
	assert.True(t, store.IsUniqueViolation(fmt.Errorf("wrapped: %w", err)), "unique index: %v", err)
	_, err = db.ExecContext(ctx, `INSERT INTO a VALUES ($1, $2, $3)`, "z", "z", "z")
	assert.False(t, store.IsUniqueViolation(err), "another error: %v", err)
	assert.False(t, store.IsUniqueViolation(errors.New("duplicate key")))
}
