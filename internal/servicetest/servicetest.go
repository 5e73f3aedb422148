// Package servicetest finds the Redis and PostgreSQL servers that the tests
// of the stores beyond one machine run against, on loopback. A test asks for
// a server and gets an address of its own (a fresh PostgreSQL database, a
// Redis key prefix); when no server answers, the test is skipped with the
// reason logged, or fails when CLAVE_REQUIRE_SERVICES is set (as CI sets it,
// after starting both servers with .ci/services).
//
// Tests only: production code never imports this package.
package servicetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Defaults, as .ci/services starts the servers.
const (
	DefaultRedisURL    = "redis://127.0.0.1:6379/0"
	DefaultPostgresURL = "postgres://clave:clave@127.0.0.1:5432/clave?sslmode=disable"
)

// RedisURL returns the Redis server's URL (CLAVE_REDIS_URL, default
// DefaultRedisURL) and a key prefix unique to this test, which the test must
// put before every key it writes. It skips or fails t when nothing answers.
func RedisURL(t testing.TB) (rawURL, prefix string) {
	t.Helper()
	rawURL = env("CLAVE_REDIS_URL", DefaultRedisURL)
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("CLAVE_REDIS_URL: %v", err)
	}
	unavailable(t, "Redis", hostPort(u, "6379"))
	return rawURL, "clavetest:" + token() + ":"
}

// PostgresURL creates a database for this test on the PostgreSQL server
// (CLAVE_POSTGRES_URL, default DefaultPostgresURL; its role must be allowed
// to create databases) and returns the URL of the new database, which is
// dropped when the test ends. It skips or fails t when nothing answers.
func PostgresURL(t testing.TB) string {
	t.Helper()
	rawURL := env("CLAVE_POSTGRES_URL", DefaultPostgresURL)
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("CLAVE_POSTGRES_URL: %v", err)
	}
	unavailable(t, "PostgreSQL", hostPort(u, "5432"))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, rawURL)
	if err != nil {
		fail(t, fmt.Sprintf("PostgreSQL at %s: %v", u.Redacted(), err))
		return ""
	}
	defer admin.Close(ctx)
	name := "clavetest_" + token()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("PostgreSQL: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, rawURL)
		if err != nil {
			t.Logf("PostgreSQL: drop database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		// WITH (FORCE) ends the connections a test left open (a killed
		// child process's, say). An autovacuum worker on the database may
		// refuse to be ended by a role without pg_signal_backend; it
		// finishes soon, so the drop is tried again a few times.
		for attempt := 1; ; attempt++ {
			_, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			if err == nil {
				return
			}
			if attempt == 5 || ctx.Err() != nil {
				t.Logf("PostgreSQL: drop database %s: %v", name, err)
				return
			}
			select {
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			case <-ctx.Done():
			}
		}
	})
	own := *u
	own.Path = "/" + name
	return own.String()
}

// Required reports whether CLAVE_REQUIRE_SERVICES is set, in which case a
// missing server fails the test instead of skipping it.
func Required() bool { return os.Getenv("CLAVE_REQUIRE_SERVICES") != "" }

func unavailable(t testing.TB, what, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		fail(t, fmt.Sprintf("no %s server at %s (%v); start one with `bash .ci/services`", what, addr, err))
		return
	}
	c.Close()
}

func fail(t testing.TB, reason string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s, and CLAVE_REQUIRE_SERVICES is set", reason)
	}
	t.Skipf("skipped: %s", reason)
}

func hostPort(u *url.URL, port string) string {
	host := u.Hostname()
	if host == "" {
		host = "127.0.0.1"
	}
	if p := u.Port(); p != "" {
		port = p
	}
	return net.JoinHostPort(host, port)
}

func env(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}

func token() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
