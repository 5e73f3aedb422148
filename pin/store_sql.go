package pin

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/clave-go/clave/internal/store"
)

// migrations are append-only: a released step is never edited.
//
// Times are Unix nanoseconds so that they round-trip exactly (BIGINT on
// PostgreSQL, whose INTEGER has 32 bits); NULL stands for the zero time. A
// pending PIN exists when pending_code is not NULL. The request times are
// one JSON array in the row, rather than a table of their own, because the
// list is short and always read and written whole.
var migrations = store.Migrations{
	SQLite: []string{`
CREATE TABLE pin_citizens (
	citizen         TEXT PRIMARY KEY NOT NULL,
	failures        INTEGER NOT NULL DEFAULT 0,
	blocked_until   INTEGER,
	pending_code    TEXT,
	pending_hash    BLOB,
	pending_expires INTEGER,
	pending_used    INTEGER NOT NULL DEFAULT 0,
	requests        TEXT NOT NULL DEFAULT '[]'
)`},
	Postgres: []string{`
CREATE TABLE pin_citizens (
	citizen         TEXT PRIMARY KEY NOT NULL,
	failures        INTEGER NOT NULL DEFAULT 0,
	blocked_until   BIGINT,
	pending_code    TEXT,
	pending_hash    BYTEA,
	pending_expires BIGINT,
	pending_used    BOOLEAN NOT NULL DEFAULT FALSE,
	requests        TEXT NOT NULL DEFAULT '[]'
)`},
}

const selectRecord = `SELECT failures, blocked_until, pending_code, pending_hash, pending_expires,
	pending_used, requests FROM pin_citizens WHERE citizen = $1`

// SQLStore is a [Store] on a SQL database, the default for a running gateway:
// with the secret configured, pending PINs, failure counts and blocks survive
// restarts, and several gateway processes can share one database.
type SQLStore struct {
	db *sql.DB
}

// NewSQLStore creates or upgrades the "pin" tables in db and returns a store
// on it. db is SQLite, best opened with sqlite.Open, whose settings make
// every acknowledged write durable, or PostgreSQL (see gateway.OpenDB); the
// caller keeps ownership of db.
func NewSQLStore(ctx context.Context, db *sql.DB) (*SQLStore, error) {
	if err := store.Migrate(ctx, db, "pin", migrations); err != nil {
		return nil, fmt.Errorf("pin: sql store: %w", err)
	}
	return &SQLStore{db: db}, nil
}

// Get implements [Store]. A single statement reads the whole record, so it is
// one consistent snapshot without a transaction.
func (s *SQLStore) Get(ctx context.Context, citizen string) (Record, error) {
	r, err := scanRecord(s.db.QueryRowContext(ctx, selectRecord, citizen))
	if errors.Is(err, sql.ErrNoRows) {
		return Record{}, fmt.Errorf("pin: sql store: %w", store.ErrNotFound)
	}
	if err != nil {
		return Record{}, fmt.Errorf("pin: sql store: get: %w", err)
	}
	return r, nil
}

// Update implements [Store] as one transaction whose first statement locks
// the citizen's row, creating it if missing, before anything is read: an
// upsert that updates nothing, which on SQLite takes the write lock (even
// on a connection not opened with _txlock=immediate, whose BEGIN takes
// none) and on PostgreSQL locks the row until the transaction ends,
// whether it inserted it or found it, also racing another insert or a
// delete. Concurrent Updates of one citizen thus run one after the other,
// each reading what the one before wrote.
func (s *SQLStore) Update(ctx context.Context, citizen string, fn func(*Record) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("pin: sql store: begin: %w", err)
	}
	// Also rolls back if fn panics, which would otherwise leave the
	// connection, maybe the only one, inside a transaction.
	defer tx.Rollback()

	if _, err := tx.ExecContext(ctx, `INSERT INTO pin_citizens(citizen) VALUES ($1)
		ON CONFLICT(citizen) DO UPDATE SET citizen = excluded.citizen`, citizen); err != nil {
		return fmt.Errorf("pin: sql store: lock: %w", err)
	}
	r, err := scanRecord(tx.QueryRowContext(ctx, selectRecord, citizen))
	if err != nil {
		return fmt.Errorf("pin: sql store: read: %w", err)
	}
	if err := fn(&r); err != nil {
		return err
	}
	if r.isZero() {
		_, err = tx.ExecContext(ctx, `DELETE FROM pin_citizens WHERE citizen = $1`, citizen)
	} else {
		err = writeRecord(ctx, tx, citizen, &r)
	}
	if err != nil {
		return fmt.Errorf("pin: sql store: write: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("pin: sql store: commit: %w", err)
	}
	return nil
}

func writeRecord(ctx context.Context, tx *sql.Tx, citizen string, r *Record) error {
	reqs := make([]int64, len(r.Requests))
	for i, t := range r.Requests {
		reqs[i] = t.UnixNano()
	}
	js, err := json.Marshal(reqs)
	if err != nil {
		return err
	}
	var (
		code    sql.NullString
		hash    []byte
		expires sql.NullInt64
		used    bool
	)
	if p := r.Pending; p != nil {
		code = sql.NullString{String: p.RequestCode, Valid: true}
		hash, expires, used = p.Hash, nanos(p.ExpiresAt), p.Used
		if hash == nil {
			// Keeps "pending with an empty hash" distinguishable from
			// NULL, so the record reads back as written.
			hash = []byte{}
		}
	}
	_, err = tx.ExecContext(ctx, `UPDATE pin_citizens SET failures = $1, blocked_until = $2, pending_code = $3,
		pending_hash = $4, pending_expires = $5, pending_used = $6, requests = $7 WHERE citizen = $8`,
		r.Failures, nanos(r.BlockedUntil), code, hash, expires, used, string(js), citizen)
	return err
}

func scanRecord(row *sql.Row) (Record, error) {
	var (
		r       Record
		blocked sql.NullInt64
		code    sql.NullString
		hash    []byte
		expires sql.NullInt64
		used    bool
		reqs    string
	)
	if err := row.Scan(&r.Failures, &blocked, &code, &hash, &expires, &used, &reqs); err != nil {
		return Record{}, err
	}
	r.BlockedUntil = fromNanos(blocked)
	if code.Valid {
		r.Pending = &Pending{RequestCode: code.String, Hash: hash, ExpiresAt: fromNanos(expires), Used: used}
	}
	var ns []int64
	if err := json.Unmarshal([]byte(reqs), &ns); err != nil {
		return Record{}, fmt.Errorf("request times: %w", err)
	}
	for _, n := range ns {
		r.Requests = append(r.Requests, time.Unix(0, n).UTC())
	}
	return r, nil
}

func nanos(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}

func fromNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}
