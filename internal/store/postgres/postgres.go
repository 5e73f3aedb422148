// Package postgres opens the reference gateway's database on a PostgreSQL
// server, which several gateway processes can share: every store keeps its
// guarantees across processes there (see package store on locking). It is
// the only package of the gateway's stores that imports a PostgreSQL driver
// (pgx, through database/sql), so a gateway on SQLite does not link one.
//
//	db, err := postgres.Open(ctx, "postgres://clave:secret@db.example:5432/clave")
//	if err != nil { ... }
//	defer db.Close()
//	st, err := pin.NewSQLStore(ctx, db)
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/clave-go/clave/internal/store"
)

// DefaultMaxConns sizes the connection pool of one process. Every gateway
// process sharing the server holds up to this many connections, and the
// server's max_connections (100 by default) bounds their sum, so it is
// kept modest; a transaction waiting on a row lock holds its connection,
// so it is not tiny either. The URL's pool_max_conns parameter (as pgxpool
// names it) overrides it.
const DefaultMaxConns = 16

// connectTimeout bounds each connection attempt when the URL sets no
// connect_timeout, so that a server that does not answer fails Open, and
// a later query, instead of hanging on the operating system's TCP timeout.
const connectTimeout = 10 * time.Second

// Open connects to the PostgreSQL database at rawURL
// (postgres://user:password@host:port/database?sslmode=...), checks that it
// answers, and returns a pool of connections to it. Errors name the URL
// without its password, and never quote it.
//
// The database runs at PostgreSQL's default isolation, READ COMMITTED; the
// stores lock the rows they read-check-write. The caller owns the returned
// database and closes it.
func Open(ctx context.Context, rawURL string) (*sql.DB, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Parse's error quotes the whole URL, password included.
		return nil, errors.New("postgres: the database URL does not parse; want postgres://user:password@host:port/database")
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		// Not echoed: a key=value connection string parses as a URL path,
		// password and all.
		return nil, errors.New("postgres: the database URL must start with postgres:// or postgresql://")
	}
	secrets := passwords(u)
	shown := redacted(u)
	fail := func(err error) error {
		return fmt.Errorf("postgres: open %s: %w", shown, scrub(err, secrets))
	}

	maxConns := DefaultMaxConns
	q := u.Query()
	if v := q.Get("pool_max_conns"); v != "" {
		if maxConns, err = strconv.Atoi(v); err != nil || maxConns < 1 {
			return nil, fail(errors.New("pool_max_conns must be a positive integer"))
		}
		q.Del("pool_max_conns") // not a server setting: pgx would send it on
		u.RawQuery = q.Encode()
	}
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		return nil, fail(err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = connectTimeout
	}

	db := sql.OpenDB(connector{stdlib.GetConnector(*cfg)})
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	// Connections are cheap to keep and dear to open (a backend process
	// each): idle ones go after a while, and every one is renewed now and
	// then so that a server-side change (a failover, a setting) reaches
	// all of them.
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(time.Hour)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fail(err)
	}
	return db, nil
}

// connector is pgx's, with a driver that declares the dialect (see
// store.DialectOf). The connections themselves are pgx's own, so code that
// reaches the pgx connection underneath (conn.Raw) still finds it.
type connector struct{ driver.Connector }

func (c connector) Driver() driver.Driver { return dialectDriver{c.Connector.Driver()} }

type dialectDriver struct{ driver.Driver }

// Dialect implements store's dialecter.
func (dialectDriver) Dialect() string { return store.Postgres }

// passwords are the secrets rawURL may carry: the userinfo password and the
// password and sslpassword parameters.
func passwords(u *url.URL) []string {
	var out []string
	if p, ok := u.User.Password(); ok && p != "" {
		out = append(out, p)
	}
	for _, k := range []string{"password", "sslpassword"} {
		if p := u.Query().Get(k); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// redacted is u with its passwords masked, as url.URL.Redacted does for the
// userinfo, and for the parameters too.
func redacted(u *url.URL) string {
	c := *u
	q := c.Query()
	for _, k := range []string{"password", "sslpassword"} {
		if q.Has(k) {
			q.Set(k, "xxxxx")
		}
	}
	c.RawQuery = q.Encode()
	return c.Redacted()
}

// scrub returns err with every secret masked in its message. pgx already
// redacts what it reports; this is the guarantee, whatever a future
// version or a server message quotes.
func scrub(err error, secrets []string) error {
	msg := err.Error()
	masked := msg
	for _, s := range secrets {
		masked = strings.ReplaceAll(masked, s, "xxxxx")
		masked = strings.ReplaceAll(masked, url.QueryEscape(s), "xxxxx")
		masked = strings.ReplaceAll(masked, url.PathEscape(s), "xxxxx")
	}
	if masked == msg {
		return err
	}
	return &scrubbed{msg: masked, err: err}
}

// scrubbed is an error whose message was masked; errors.Is and errors.As
// still see the original (context.DeadlineExceeded, say).
type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }
