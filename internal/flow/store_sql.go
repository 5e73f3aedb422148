package flow

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"time"

	"github.com/clave-go/clave/internal/store"
)

// migrations are append-only: a released step is never edited. Times are
// Unix seconds (BIGINT on PostgreSQL, whose INTEGER has 32 bits).
var migrations = store.Migrations{
	SQLite: []string{`
CREATE TABLE flows (
	id TEXT PRIMARY KEY,
	record TEXT NOT NULL,
	expires_at INTEGER NOT NULL
);
CREATE INDEX flows_expiry ON flows(expires_at);
CREATE TABLE seen_requests (
	spid TEXT NOT NULL,
	request_id TEXT NOT NULL,
	expires_at INTEGER NOT NULL,
	PRIMARY KEY (spid, request_id)
)`, `CREATE INDEX seen_requests_expiry ON seen_requests(expires_at)`},
	Postgres: []string{`
CREATE TABLE flows (
	id TEXT PRIMARY KEY,
	record TEXT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX flows_expiry ON flows(expires_at);
CREATE TABLE seen_requests (
	spid TEXT NOT NULL,
	request_id TEXT NOT NULL,
	expires_at BIGINT NOT NULL,
	PRIMARY KEY (spid, request_id)
);
CREATE INDEX seen_requests_expiry ON seen_requests(expires_at)`},
}

// pruneEvery is how often expired rows are swept (through the expiry
// indexes, a bounded batch at a time), instead of on every write.
const (
	pruneEvery = time.Minute
	pruneBatch = 1000
)

// SQLStore keeps flows in the gateway's database, SQLite or PostgreSQL.
type SQLStore struct {
	db  *sql.DB
	now func() time.Time
	// lockRow ends a SELECT that reads a row to update it: FOR UPDATE on
	// PostgreSQL; nothing on SQLite, where a read-write transaction holds
	// the database's write lock from BEGIN (sqlite.Open's BEGIN IMMEDIATE).
	lockRow string
	// skipLocked ends the SELECT that picks rows to prune: on PostgreSQL
	// they are locked, skipping those another process is pruning or
	// updating, so that two sweeps neither wait on nor deadlock with each
	// other.
	skipLocked string

	pruneMu   sync.Mutex
	lastPrune time.Time
}

// NewSQLStore migrates the flow tables and returns the store.
func NewSQLStore(ctx context.Context, db *sql.DB, now func() time.Time) (*SQLStore, error) {
	if now == nil {
		now = time.Now
	}
	if err := store.Migrate(ctx, db, "flow", migrations); err != nil {
		return nil, err
	}
	s := &SQLStore{db: db, now: now}
	if store.DialectOf(db) == store.Postgres {
		s.lockRow, s.skipLocked = " FOR UPDATE", " FOR UPDATE SKIP LOCKED"
	}
	return s, nil
}

// Create implements Store.
func (s *SQLStore) Create(ctx context.Context, f *Flow) error {
	b, err := encode(f)
	if err != nil {
		return err
	}
	if err := s.prune(ctx); err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO flows(id, record, expires_at) VALUES($1, $2, $3)
		ON CONFLICT(id) DO NOTHING`, f.ID, string(b), f.ExpiresAt.Unix())
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return store.ErrConflict
	}
	return nil
}

// prune drops, at most once per pruneEvery and a batch at a time, the flows
// expired more than an hour ago (kept that long for inspection) and the
// request IDs past their expiry. Both go through their expiry index, so the
// cost does not grow with the table.
func (s *SQLStore) prune(ctx context.Context) error {
	now := s.now()
	s.pruneMu.Lock()
	due := now.Sub(s.lastPrune) >= pruneEvery
	if due {
		s.lastPrune = now
	}
	s.pruneMu.Unlock()
	if !due {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM flows WHERE id IN
		(SELECT id FROM flows WHERE expires_at < $1 LIMIT $2`+s.skipLocked+`)`,
		now.Add(-time.Hour).Unix(), pruneBatch); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, `DELETE FROM seen_requests WHERE (spid, request_id) IN
		(SELECT spid, request_id FROM seen_requests WHERE expires_at <= $1 LIMIT $2`+s.skipLocked+`)`,
		now.Unix(), pruneBatch)
	return err
}

// Get implements Store.
func (s *SQLStore) Get(ctx context.Context, id string) (*Flow, error) {
	var rec string
	err := s.db.QueryRowContext(ctx, `SELECT record FROM flows WHERE id = $1`, id).Scan(&rec)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return decode([]byte(rec))
}

// Update implements Store. The row is locked from the read on (see
// lockRow), so concurrent Updates of one flow, from any process, run one
// after the other.
func (s *SQLStore) Update(ctx context.Context, id string, fn func(*Flow) error) error {
	return store.InTx(ctx, s.db, func(tx *sql.Tx) error {
		var rec string
		err := tx.QueryRowContext(ctx, `SELECT record FROM flows WHERE id = $1`+s.lockRow, id).Scan(&rec)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		f, err := decode([]byte(rec))
		if err != nil {
			return err
		}
		if err := fn(f); err != nil {
			return err
		}
		if f.ID != id {
			return store.ErrConflict
		}
		b, err := encode(f)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE flows SET record = $1, expires_at = $2 WHERE id = $3`, string(b), f.ExpiresAt.Unix(), id)
		return err
	})
}

// SeenRequest implements Store.
func (s *SQLStore) SeenRequest(ctx context.Context, spid, requestID string, expiry time.Time) (bool, error) {
	if err := s.prune(ctx); err != nil {
		return false, err
	}
	// One statement: an expired row (not yet swept) is taken over, a live
	// one is left alone, and RowsAffected tells which happened.
	res, err := s.db.ExecContext(ctx, `INSERT INTO seen_requests(spid, request_id, expires_at) VALUES($1, $2, $3)
		ON CONFLICT(spid, request_id) DO UPDATE SET expires_at = excluded.expires_at
		WHERE seen_requests.expires_at <= $4`, spid, requestID, expiry.Unix(), s.now().Unix())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 0, err
}

// RequestSeen implements Store.
func (s *SQLStore) RequestSeen(ctx context.Context, spid, requestID string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM seen_requests WHERE spid = $1 AND request_id = $2 AND expires_at > $3`,
		spid, requestID, s.now().Unix()).Scan(&n)
	return n > 0, err
}
