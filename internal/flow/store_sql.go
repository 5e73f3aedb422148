package flow

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/clave-go/clave/internal/store"
)

var migrations = []string{`
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
)`}

// SQLStore keeps flows in the gateway's database.
type SQLStore struct {
	db  *sql.DB
	now func() time.Time
}

// NewSQLStore migrates the flow tables and returns the store.
func NewSQLStore(ctx context.Context, db *sql.DB, now func() time.Time) (*SQLStore, error) {
	if now == nil {
		now = time.Now
	}
	if err := store.Migrate(ctx, db, "flow", migrations); err != nil {
		return nil, err
	}
	return &SQLStore{db: db, now: now}, nil
}

// Create implements Store.
func (s *SQLStore) Create(ctx context.Context, f *Flow) error {
	b, err := encode(f)
	if err != nil {
		return err
	}
	// Expired flows are kept an hour for inspection, then dropped here, where
	// writes happen anyway.
	if _, err := s.db.ExecContext(ctx, `DELETE FROM flows WHERE expires_at < ?`, s.now().Add(-time.Hour).Unix()); err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO flows(id, record, expires_at) VALUES(?, ?, ?)`, f.ID, string(b), f.ExpiresAt.Unix())
	if err != nil && strings.Contains(err.Error(), "UNIQUE") {
		return store.ErrConflict
	}
	return err
}

// Get implements Store.
func (s *SQLStore) Get(ctx context.Context, id string) (*Flow, error) {
	var rec string
	err := s.db.QueryRowContext(ctx, `SELECT record FROM flows WHERE id = ?`, id).Scan(&rec)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return decode([]byte(rec))
}

// Update implements Store.
func (s *SQLStore) Update(ctx context.Context, id string, fn func(*Flow) error) error {
	return store.InTx(ctx, s.db, func(tx *sql.Tx) error {
		var rec string
		err := tx.QueryRowContext(ctx, `SELECT record FROM flows WHERE id = ?`, id).Scan(&rec)
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
		_, err = tx.ExecContext(ctx, `UPDATE flows SET record = ?, expires_at = ? WHERE id = ?`, string(b), f.ExpiresAt.Unix(), id)
		return err
	})
}

// SeenRequest implements Store.
func (s *SQLStore) SeenRequest(ctx context.Context, spid, requestID string, expiry time.Time) (bool, error) {
	seen := false
	err := store.InTx(ctx, s.db, func(tx *sql.Tx) error {
		now := s.now().Unix()
		if _, err := tx.ExecContext(ctx, `DELETE FROM seen_requests WHERE expires_at <= ?`, now); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO seen_requests(spid, request_id, expires_at) VALUES(?, ?, ?)
			ON CONFLICT(spid, request_id) DO NOTHING`, spid, requestID, expiry.Unix())
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		seen = n == 0
		return err
	})
	return seen, err
}
