package clave

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"regexp"
	"time"
)

// SQLReplayCacheOptions configures NewSQLReplayCache.
type SQLReplayCacheOptions struct {
	// Table names the cache's table; default "clave_replay". It must be a
	// plain identifier (letters, digits, underscores).
	Table string
	// Now is the clock entries expire on; default time.Now. Set it to
	// Config.Now when the Client runs on another clock, so that the cache
	// remembers an assertion for as long as the validator would take it.
	Now func() time.Time
}

// SQLReplayCache is a ReplayCache in a SQL database, through database/sql
// alone: it survives restarts, and replicas sharing the database share it.
// It runs on SQLite (3.24 or later) and PostgreSQL (9.5 or later), whose
// drivers the service imports itself. Its table,
//
//	clave_replay(id TEXT PRIMARY KEY, expires_at BIGINT NOT NULL)
//
// holds each used assertion ID with its expiry in Unix milliseconds, rounded
// up; each Use deletes a few expired rows.
type SQLReplayCache struct {
	db            *sql.DB
	now           func() time.Time
	insert, reuse string
	prune         string
	schema        [2]string
}

// sqlPrunePerUse is how many expired rows a Use deletes at most: more than
// one, so that expired rows go faster than inserts add them, few, so that no
// login waits for a large delete.
const sqlPrunePerUse = 4

var sqlIdentifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// NewSQLReplayCache returns a cache in db, creating its table and index if
// they do not exist.
func NewSQLReplayCache(ctx context.Context, db *sql.DB, opts SQLReplayCacheOptions) (*SQLReplayCache, error) {
	if db == nil {
		return nil, errors.New("clave: NewSQLReplayCache: nil database")
	}
	t := opts.Table
	if t == "" {
		t = "clave_replay"
	}
	if !sqlIdentifier.MatchString(t) {
		return nil, fmt.Errorf("clave: NewSQLReplayCache: table name %q is not a plain identifier", t)
	}
	c := &SQLReplayCache{db: db, now: opts.Now}
	if c.now == nil {
		c.now = time.Now
	}
	// Placeholders are $n: SQLite and PostgreSQL both take them.
	c.insert = `INSERT INTO ` + t + ` (id, expires_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`
	c.reuse = `UPDATE ` + t + ` SET expires_at = $2 WHERE id = $1 AND expires_at <= $3`
	// In expiry order, so that concurrent prunes take their rows' locks in
	// the same order (PostgreSQL).
	c.prune = `DELETE FROM ` + t + ` WHERE id IN (SELECT id FROM ` + t + ` WHERE expires_at <= $1 ORDER BY expires_at, id LIMIT ` +
		fmt.Sprint(sqlPrunePerUse) + `)`
	c.schema = [2]string{
		`CREATE TABLE IF NOT EXISTS ` + t + ` (id TEXT PRIMARY KEY, expires_at BIGINT NOT NULL)`,
		`CREATE INDEX IF NOT EXISTS ` + t + `_expires_at ON ` + t + ` (expires_at)`,
	}
	if err := c.createTable(ctx); err != nil {
		return nil, fmt.Errorf("clave: NewSQLReplayCache: %w", err)
	}
	return c, nil
}

// createTable creates the table and its index, trying again when that
// fails: two replicas starting at once on PostgreSQL can both pass IF NOT
// EXISTS, and one of them then fails on the catalogue's unique index.
func (c *SQLReplayCache) createTable(ctx context.Context) error {
	var err error
	for range 3 {
		if _, err = c.db.ExecContext(ctx, c.schema[0]); err != nil {
			continue
		}
		if _, err = c.db.ExecContext(ctx, c.schema[1]); err == nil {
			return nil
		}
	}
	return err
}

// Use implements ReplayCache. An ID not in the table is inserted; one in
// the table is taken over only if its row has expired. Each statement is
// atomic, and together they answer as one: of concurrent inserts of an ID,
// one creates the row and the others find it there; of concurrent
// takeovers of an expired row, the first updates it and the others, having
// waited for its lock, find it live. (A row pruned between the two
// statements makes the ID refused: a refusal on doubt, for an ID used
// before.) Unlike a single INSERT ... ON CONFLICT DO UPDATE ... WHERE, which
// locks and so writes the conflicting row even when it leaves it alone, a
// replayed ID costs no write: on PostgreSQL, replays of one ID then run
// side by side instead of queueing on that row.
func (c *SQLReplayCache) Use(ctx context.Context, id string, expiry time.Time) (bool, error) {
	now := unixMilliFloor(c.now())
	exp := unixMilliCeil(expiry)
	fresh, err := c.exec(ctx, c.insert, id, exp)
	if err == nil && !fresh {
		fresh, err = c.exec(ctx, c.reuse, id, exp, now)
	}
	if err != nil {
		return false, fmt.Errorf("clave: SQL replay cache: %w", err)
	}
	// A failed prune loses nothing: an expired row is taken over by the
	// update, and the next Use prunes again.
	_, _ = c.db.ExecContext(ctx, c.prune, now)
	return !fresh, nil
}

// exec runs a statement and reports whether it changed a row.
func (c *SQLReplayCache) exec(ctx context.Context, query string, args ...any) (bool, error) {
	res, err := c.db.ExecContext(ctx, query, args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// unixMilliCeil is t in Unix milliseconds rounded up, so that an entry is
// never remembered for less than asked; clamped to what an int64 holds.
func unixMilliCeil(t time.Time) int64 {
	ms := unixMilliFloor(t)
	if t.Nanosecond()%int(time.Millisecond) != 0 && ms < math.MaxInt64 {
		ms++
	}
	return ms
}

// unixMilliFloor is t in Unix milliseconds rounded down (time.UnixMilli
// already does), clamped to what an int64 holds.
func unixMilliFloor(t time.Time) int64 {
	switch {
	case t.Before(minMilli):
		return math.MinInt64
	case t.After(maxMilli):
		return math.MaxInt64
	}
	return t.UnixMilli()
}

var (
	minMilli = time.UnixMilli(math.MinInt64)
	maxMilli = time.UnixMilli(math.MaxInt64)
)
