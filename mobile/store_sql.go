package mobile

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/clave-go/clave/internal/store"
)

// migrations are append-only: a released step is never edited.
//
// Times are Unix nanoseconds so that they round-trip exactly (BIGINT on
// PostgreSQL, whose INTEGER has 32 bits); NULL stands for the zero time.
// Indexes serve what is looked up or pruned: devices by citizen, requests by
// citizen and state (the app's pending list) and by state and expiry
// (pruning), history by citizen and time, nonces by expiry. On PostgreSQL
// the history's request IDs sort in byte order (COLLATE "C"), as SQLite's
// and the memory store's do, whatever the database's locale.
var migrations = store.Migrations{
	SQLite: []string{`
CREATE TABLE mobile_accounts (
	citizen             TEXT PRIMARY KEY NOT NULL,
	activation_hash     BLOB,
	activation_expires  INTEGER,
	activation_failures INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE mobile_devices (
	id             TEXT PRIMARY KEY NOT NULL,
	citizen        TEXT NOT NULL,
	seq            INTEGER NOT NULL,
	public_key     BLOB NOT NULL,
	method         TEXT NOT NULL,
	status         TEXT NOT NULL,
	activated_at   INTEGER,
	deactivated_at INTEGER
);
CREATE INDEX mobile_devices_citizen ON mobile_devices(citizen, seq);
CREATE TABLE mobile_requests (
	id             TEXT PRIMARY KEY NOT NULL,
	login_id       TEXT NOT NULL,
	citizen        TEXT NOT NULL,
	requester      TEXT NOT NULL,
	kind           TEXT NOT NULL,
	decoy          INTEGER NOT NULL,
	nonce          TEXT NOT NULL,
	secret         BLOB NOT NULL,
	created_at     INTEGER,
	expires_at     INTEGER NOT NULL,
	state          TEXT NOT NULL,
	decided_at     INTEGER,
	device_id      TEXT NOT NULL,
	pin_hash       BLOB,
	pin_issued_at  INTEGER,
	pin_expires_at INTEGER,
	pin_used       INTEGER NOT NULL DEFAULT 0,
	pin_failures   INTEGER NOT NULL DEFAULT 0,
	pin_sends      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX mobile_requests_citizen ON mobile_requests(citizen, state);
CREATE INDEX mobile_requests_expiry ON mobile_requests(state, expires_at);
CREATE TABLE mobile_history (
	request_id TEXT PRIMARY KEY NOT NULL,
	citizen    TEXT NOT NULL,
	at         INTEGER NOT NULL,
	requester  TEXT NOT NULL,
	kind       TEXT NOT NULL,
	outcome    TEXT NOT NULL
);
CREATE INDEX mobile_history_citizen_at ON mobile_history(citizen, at, request_id);
CREATE TABLE mobile_nonces (
	nonce TEXT PRIMARY KEY NOT NULL,
	until INTEGER NOT NULL
);
CREATE INDEX mobile_nonces_until ON mobile_nonces(until)`},
	Postgres: []string{`
CREATE TABLE mobile_accounts (
	citizen             TEXT PRIMARY KEY NOT NULL,
	activation_hash     BYTEA,
	activation_expires  BIGINT,
	activation_failures INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE mobile_devices (
	id             TEXT PRIMARY KEY NOT NULL,
	citizen        TEXT NOT NULL,
	seq            INTEGER NOT NULL,
	public_key     BYTEA NOT NULL,
	method         TEXT NOT NULL,
	status         TEXT NOT NULL,
	activated_at   BIGINT,
	deactivated_at BIGINT
);
CREATE INDEX mobile_devices_citizen ON mobile_devices(citizen, seq);
CREATE TABLE mobile_requests (
	id             TEXT PRIMARY KEY NOT NULL,
	login_id       TEXT NOT NULL,
	citizen        TEXT NOT NULL,
	requester      TEXT NOT NULL,
	kind           TEXT NOT NULL,
	decoy          BOOLEAN NOT NULL,
	nonce          TEXT NOT NULL,
	secret         BYTEA NOT NULL,
	created_at     BIGINT,
	expires_at     BIGINT NOT NULL,
	state          TEXT NOT NULL,
	decided_at     BIGINT,
	device_id      TEXT NOT NULL,
	pin_hash       BYTEA,
	pin_issued_at  BIGINT,
	pin_expires_at BIGINT,
	pin_used       BOOLEAN NOT NULL DEFAULT FALSE,
	pin_failures   INTEGER NOT NULL DEFAULT 0,
	pin_sends      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX mobile_requests_citizen ON mobile_requests(citizen, state);
CREATE INDEX mobile_requests_expiry ON mobile_requests(state, expires_at);
CREATE TABLE mobile_history (
	request_id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
	citizen    TEXT NOT NULL,
	at         BIGINT NOT NULL,
	requester  TEXT NOT NULL,
	kind       TEXT NOT NULL,
	outcome    TEXT NOT NULL
);
CREATE INDEX mobile_history_citizen_at ON mobile_history(citizen, at, request_id);
CREATE TABLE mobile_nonces (
	nonce TEXT PRIMARY KEY NOT NULL,
	until BIGINT NOT NULL
);
CREATE INDEX mobile_nonces_until ON mobile_nonces(until)`},
}

const (
	requestColumns = `id, login_id, citizen, requester, kind, decoy, nonce, secret, created_at, expires_at,
	state, decided_at, device_id, pin_hash, pin_issued_at, pin_expires_at, pin_used, pin_failures, pin_sends`
	deviceColumns = `id, citizen, public_key, method, status, activated_at, deactivated_at`
)

// SQLStore is a [Store] on a SQL database, the default for a running gateway:
// devices, pending logins and history survive restarts, and several gateway
// processes can share one database.
type SQLStore struct {
	db *sql.DB
}

// NewSQLStore creates or upgrades the "mobile" tables in db and returns a
// store on it. db is SQLite, best opened with sqlite.Open, whose settings
// make every acknowledged write durable, or PostgreSQL (see
// gateway.OpenDB); the caller keeps ownership of db.
func NewSQLStore(ctx context.Context, db *sql.DB) (*SQLStore, error) {
	if err := store.Migrate(ctx, db, "mobile", migrations); err != nil {
		return nil, fmt.Errorf("mobile: sql store: %w", err)
	}
	return &SQLStore{db: db}, nil
}

// queryer is what both *sql.DB and *sql.Tx offer for reading.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Account implements [Store]. It reads in one transaction so that the
// account row and its devices are one snapshot.
func (s *SQLStore) Account(ctx context.Context, citizen string) (Account, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return Account{}, fmt.Errorf("mobile: sql store: begin: %w", err)
	}
	defer tx.Rollback()
	a, found, err := readAccount(ctx, tx, citizen)
	if err != nil {
		return Account{}, fmt.Errorf("mobile: sql store: account: %w", err)
	}
	if !found {
		return Account{}, fmt.Errorf("mobile: sql store: account: %w", ErrNotFound)
	}
	return a, nil
}

// readAccount reads citizen's account; found is false when it has no row.
func readAccount(ctx context.Context, q queryer, citizen string) (a Account, found bool, err error) {
	var (
		hash     []byte
		expires  sql.NullInt64
		failures int
	)
	err = q.QueryRowContext(ctx, `SELECT activation_hash, activation_expires, activation_failures
		FROM mobile_accounts WHERE citizen = $1`, citizen).Scan(&hash, &expires, &failures)
	if errors.Is(err, sql.ErrNoRows) {
		return Account{}, false, nil
	}
	if err != nil {
		return Account{}, false, err
	}
	if hash != nil {
		a.Activation = &ActivationCode{Hash: hash, ExpiresAt: fromNanos(expires), Failures: failures}
	}
	rows, err := q.QueryContext(ctx, `SELECT `+deviceColumns+` FROM mobile_devices WHERE citizen = $1 ORDER BY seq`, citizen)
	if err != nil {
		return Account{}, false, err
	}
	defer rows.Close()
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return Account{}, false, err
		}
		a.Devices = append(a.Devices, d)
	}
	return a, true, rows.Err()
}

type scanner interface{ Scan(dest ...any) error }

func scanDevice(row scanner) (Device, error) {
	var (
		d        Device
		key      []byte
		act, dea sql.NullInt64
	)
	if err := row.Scan(&d.ID, &d.Citizen, &key, &d.Method, &d.Status, &act, &dea); err != nil {
		return Device{}, err
	}
	d.PublicKey = key
	d.ActivatedAt, d.DeactivatedAt = fromNanos(act), fromNanos(dea)
	return d, nil
}

// UpdateAccount implements [Store] as one transaction whose first statement
// locks the citizen's account row, creating it if missing: an upsert that
// updates nothing, which takes SQLite's write lock (even on a connection
// whose BEGIN takes none) and on PostgreSQL locks the row until the end of
// the transaction, whether it inserted or found it. The read-check-write
// is thus atomic on both. A device ID claimed at once by another citizen's
// transaction, which no row lock covers, is caught by its primary key.
func (s *SQLStore) UpdateAccount(ctx context.Context, citizen string, fn func(*Account) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("mobile: sql store: begin: %w", err)
	}
	defer tx.Rollback() // also if fn panics

	if _, err := tx.ExecContext(ctx,
		`INSERT INTO mobile_accounts(citizen) VALUES ($1) ON CONFLICT(citizen) DO UPDATE SET citizen = excluded.citizen`,
		citizen); err != nil {
		return fmt.Errorf("mobile: sql store: lock: %w", err)
	}
	a, _, err := readAccount(ctx, tx, citizen)
	if err != nil {
		return fmt.Errorf("mobile: sql store: read: %w", err)
	}
	if err := fn(&a); err != nil {
		return err
	}
	if err := a.checkDevices(); err != nil {
		return err
	}
	if err := writeAccount(ctx, tx, citizen, &a); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("mobile: sql store: commit: %w", err)
	}
	return nil
}

func writeAccount(ctx context.Context, tx *sql.Tx, citizen string, a *Account) error {
	for _, d := range a.Devices {
		var owner string
		err := tx.QueryRowContext(ctx, `SELECT citizen FROM mobile_devices WHERE id = $1`, d.ID).Scan(&owner)
		if err == nil && owner != citizen {
			return fmt.Errorf("mobile: sql store: device of another citizen: %w", ErrConflict)
		}
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("mobile: sql store: read device: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM mobile_devices WHERE citizen = $1`, citizen); err != nil {
		return fmt.Errorf("mobile: sql store: write: %w", err)
	}
	if a.isZero() {
		if _, err := tx.ExecContext(ctx, `DELETE FROM mobile_accounts WHERE citizen = $1`, citizen); err != nil {
			return fmt.Errorf("mobile: sql store: write: %w", err)
		}
		return nil
	}
	var (
		hash     []byte
		expires  sql.NullInt64
		failures int
	)
	if c := a.Activation; c != nil {
		hash, expires, failures = c.Hash, nanos(c.ExpiresAt), c.Failures
		if hash == nil {
			hash = []byte{} // keeps "code with an empty hash" apart from NULL
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE mobile_accounts SET activation_hash = $1, activation_expires = $2,
		activation_failures = $3 WHERE citizen = $4`, hash, expires, failures, citizen); err != nil {
		return fmt.Errorf("mobile: sql store: write: %w", err)
	}
	for i, d := range a.Devices {
		key := []byte(d.PublicKey)
		if key == nil {
			key = []byte{}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO mobile_devices(`+deviceColumns+`, seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			d.ID, citizen, key, string(d.Method), string(d.Status), nanos(d.ActivatedAt), nanos(d.DeactivatedAt), i); err != nil {
			if store.IsUniqueViolation(err) {
				// Another citizen's transaction took the ID after the
				// check above (PostgreSQL, where it did not wait).
				return fmt.Errorf("mobile: sql store: device ID taken: %w", ErrConflict)
			}
			return fmt.Errorf("mobile: sql store: write device: %w", err)
		}
	}
	return nil
}

// Device implements [Store].
func (s *SQLStore) Device(ctx context.Context, id string) (Device, error) {
	d, err := scanDevice(s.db.QueryRowContext(ctx, `SELECT `+deviceColumns+` FROM mobile_devices WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Device{}, fmt.Errorf("mobile: sql store: device: %w", ErrNotFound)
	}
	if err != nil {
		return Device{}, fmt.Errorf("mobile: sql store: device: %w", err)
	}
	return d, nil
}

// CreateRequest implements [Store].
func (s *SQLStore) CreateRequest(ctx context.Context, r Request) error {
	return store.InTx(ctx, s.db, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO mobile_requests(id, login_id, citizen, requester, kind, decoy,
			nonce, secret, expires_at, state, device_id) VALUES ($1, '', '', '', '', $2, '', $3, 0, '', '')
			ON CONFLICT(id) DO NOTHING`, r.ID, false, []byte{})
		if err != nil {
			return fmt.Errorf("mobile: sql store: create request: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("mobile: sql store: create request: %w", err)
		} else if n == 0 {
			return fmt.Errorf("mobile: sql store: request: %w", ErrConflict)
		}
		return writeRequest(ctx, tx, &r)
	})
}

// Request implements [Store].
func (s *SQLStore) Request(ctx context.Context, id string) (Request, error) {
	r, err := scanRequest(s.db.QueryRowContext(ctx, `SELECT `+requestColumns+` FROM mobile_requests WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Request{}, fmt.Errorf("mobile: sql store: request: %w", ErrNotFound)
	}
	if err != nil {
		return Request{}, fmt.Errorf("mobile: sql store: request: %w", err)
	}
	return r, nil
}

// UpdateRequest implements [Store] as one transaction whose first statement
// locks the request's row, as UpdateAccount's does (an UPDATE that changes
// nothing), so that a request is decided once even by concurrent
// processes.
func (s *SQLStore) UpdateRequest(ctx context.Context, id string, fn func(*Request) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("mobile: sql store: begin: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE mobile_requests SET id = id WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("mobile: sql store: lock: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("mobile: sql store: lock: %w", err)
	} else if n == 0 {
		return fmt.Errorf("mobile: sql store: request: %w", ErrNotFound)
	}
	r, err := scanRequest(tx.QueryRowContext(ctx, `SELECT `+requestColumns+` FROM mobile_requests WHERE id = $1`, id))
	if err != nil {
		return fmt.Errorf("mobile: sql store: read: %w", err)
	}
	if err := fn(&r); err != nil {
		return err
	}
	r.ID = id
	if err := writeRequest(ctx, tx, &r); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("mobile: sql store: commit: %w", err)
	}
	return nil
}

// writeRequest saves r over its row, and its history entry if it has one.
func writeRequest(ctx context.Context, tx *sql.Tx, r *Request) error {
	var (
		pinHash             []byte
		pinIssued, pinExpir sql.NullInt64
		pinUsed             bool
	)
	if p := r.PIN; p != nil {
		pinHash, pinIssued, pinExpir, pinUsed = p.Hash, nanos(p.IssuedAt), nanos(p.ExpiresAt), p.Used
		if pinHash == nil {
			pinHash = []byte{}
		}
	}
	secret := r.Secret
	if secret == nil {
		secret = []byte{}
	}
	_, err := tx.ExecContext(ctx, `UPDATE mobile_requests SET login_id = $1, citizen = $2, requester = $3, kind = $4,
		decoy = $5, nonce = $6, secret = $7, created_at = $8, expires_at = $9, state = $10, decided_at = $11, device_id = $12,
		pin_hash = $13, pin_issued_at = $14, pin_expires_at = $15, pin_used = $16, pin_failures = $17, pin_sends = $18
		WHERE id = $19`,
		r.LoginID, r.Citizen, r.Requester, string(r.Kind), r.Decoy, r.Nonce, secret, nanos(r.CreatedAt),
		r.ExpiresAt.UnixNano(), string(r.State), nanos(r.DecidedAt), r.DeviceID,
		pinHash, pinIssued, pinExpir, pinUsed, r.PINFailures, r.PINSends, r.ID)
	if err != nil {
		return fmt.Errorf("mobile: sql store: write request: %w", err)
	}
	if e, ok := r.HistoryEntry(); ok {
		if _, err := tx.ExecContext(ctx, `INSERT INTO mobile_history(request_id, citizen, at, requester, kind, outcome)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT(request_id) DO NOTHING`,
			e.RequestID, e.Citizen, e.At.UnixNano(), e.Requester, string(e.Kind), string(e.Outcome)); err != nil {
			return fmt.Errorf("mobile: sql store: write history: %w", err)
		}
	}
	return nil
}

func scanRequest(row scanner) (Request, error) {
	var (
		r                         Request
		kind, state               string
		created, expires, decided sql.NullInt64
		pinHash                   []byte
		pinIssued, pinExpires     sql.NullInt64
		pinUsed                   bool
	)
	if err := row.Scan(&r.ID, &r.LoginID, &r.Citizen, &r.Requester, &kind, &r.Decoy, &r.Nonce, &r.Secret,
		&created, &expires, &state, &decided, &r.DeviceID, &pinHash, &pinIssued, &pinExpires, &pinUsed,
		&r.PINFailures, &r.PINSends); err != nil {
		return Request{}, err
	}
	r.Kind, r.State = Kind(kind), State(state)
	r.CreatedAt, r.ExpiresAt, r.DecidedAt = fromNanos(created), fromNanos(expires), fromNanos(decided)
	if pinHash != nil {
		r.PIN = &SMSPIN{Hash: pinHash, IssuedAt: fromNanos(pinIssued), ExpiresAt: fromNanos(pinExpires), Used: pinUsed}
	}
	return r, nil
}

func (s *SQLStore) queryRequests(ctx context.Context, where string, args ...any) ([]Request, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+requestColumns+` FROM mobile_requests WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Request
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// PendingRequests implements [Store].
func (s *SQLStore) PendingRequests(ctx context.Context, citizen string) ([]Request, error) {
	out, err := s.queryRequests(ctx, `citizen = $1 AND state = $2`, citizen, string(StatePending))
	if err != nil {
		return nil, fmt.Errorf("mobile: sql store: pending requests: %w", err)
	}
	return out, nil
}

// ExpiredRequests implements [Store].
func (s *SQLStore) ExpiredRequests(ctx context.Context, now time.Time, limit int) ([]Request, error) {
	out, err := s.queryRequests(ctx, `state = $1 AND expires_at <= $2 LIMIT $3`, string(StatePending), now.UnixNano(), limit)
	if err != nil {
		return nil, fmt.Errorf("mobile: sql store: expired requests: %w", err)
	}
	return out, nil
}

// DeleteRequests implements [Store].
func (s *SQLStore) DeleteRequests(ctx context.Context, before time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM mobile_requests WHERE state <> $1 AND expires_at < $2`,
		string(StatePending), before.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("mobile: sql store: delete requests: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// History implements [Store].
func (s *SQLStore) History(ctx context.Context, citizen string, q Query) ([]Entry, error) {
	var args []any
	// arg adds v to args and returns its placeholder.
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	where := []string{"citizen = " + arg(citizen)}
	for _, f := range []struct {
		on   bool
		cond string
		arg  any
	}{
		{q.Outcome != "", "outcome = ", string(q.Outcome)},
		{q.Kind != "", "kind = ", string(q.Kind)},
		{q.Requester != "", "requester = ", q.Requester},
		{!q.From.IsZero(), "at >= ", q.From.UnixNano()},
		{!q.To.IsZero(), "at < ", q.To.UnixNano()},
	} {
		if f.on {
			where = append(where, f.cond+arg(f.arg))
		}
	}
	order := "at DESC, request_id DESC"
	if q.Order == OldestFirst {
		order = "at ASC, request_id ASC"
	}
	// The text first, then the call: arg appends to args, and Go leaves
	// unspecified whether a call's args operand is read before or after the
	// arg calls in its other operands.
	query := `SELECT request_id, citizen, at, requester, kind, outcome FROM mobile_history
		WHERE ` + strings.Join(where, " AND ") + ` ORDER BY ` + order + ` LIMIT ` + arg(q.Limit) + ` OFFSET ` + arg(q.Offset)
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("mobile: sql store: history: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var (
			e             Entry
			at            int64
			kind, outcome string
		)
		if err := rows.Scan(&e.RequestID, &e.Citizen, &at, &e.Requester, &kind, &outcome); err != nil {
			return nil, fmt.Errorf("mobile: sql store: history: %w", err)
		}
		e.At, e.Kind, e.Outcome = time.Unix(0, at).UTC(), Kind(kind), State(outcome)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mobile: sql store: history: %w", err)
	}
	return out, nil
}

// UseNonce implements [Store]: one statement, so that of concurrent uses
// exactly one inserts.
func (s *SQLStore) UseNonce(ctx context.Context, nonce string, until time.Time) error {
	res, err := s.db.ExecContext(ctx, `INSERT INTO mobile_nonces(nonce, until) VALUES ($1, $2)
		ON CONFLICT(nonce) DO NOTHING`, nonce, until.UnixNano())
	if err != nil {
		return fmt.Errorf("mobile: sql store: use nonce: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("mobile: sql store: use nonce: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("mobile: sql store: nonce: %w", ErrConflict)
	}
	return nil
}

// PruneNonces implements [Store].
func (s *SQLStore) PruneNonces(ctx context.Context, before time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM mobile_nonces WHERE until < $1`, before.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("mobile: sql store: prune nonces: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
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
