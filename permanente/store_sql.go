package permanente

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/clave-go/clave/internal/store"
)

// migrations are append-only: a released step is never edited.
//
// One row per citizen, each optional part of an [Account] in its own
// columns; the part is present when its first column is not NULL. Times are
// Unix nanoseconds so that they round-trip exactly (BIGINT on PostgreSQL,
// whose INTEGER has 32 bits); NULL stands for the zero time. Nothing here
// is secret in clear: codes and tickets are HMACs under a key kept out of
// the database, passwords argon2id hashes.
var migrations = store.Migrations{
	SQLite: []string{`
CREATE TABLE permanente_accounts (
	citizen              TEXT PRIMARY KEY NOT NULL,
	activation_hash      BLOB,
	activation_issued_at INTEGER,
	activation_failures  INTEGER NOT NULL DEFAULT 0,
	password_hash        TEXT,
	password_set_at      INTEGER,
	password_previous    TEXT NOT NULL DEFAULT '',
	password_failures    INTEGER NOT NULL DEFAULT 0,
	flow_purpose         TEXT,
	flow_step            TEXT NOT NULL DEFAULT '',
	flow_hash            BLOB,
	flow_expires_at      INTEGER,
	flow_failures        INTEGER NOT NULL DEFAULT 0,
	login_id             TEXT,
	login_hash           BLOB,
	login_expires_at     INTEGER,
	login_failures       INTEGER NOT NULL DEFAULT 0
)`},
	Postgres: []string{`
CREATE TABLE permanente_accounts (
	citizen              TEXT PRIMARY KEY NOT NULL,
	activation_hash      BYTEA,
	activation_issued_at BIGINT,
	activation_failures  INTEGER NOT NULL DEFAULT 0,
	password_hash        TEXT,
	password_set_at      BIGINT,
	password_previous    TEXT NOT NULL DEFAULT '',
	password_failures    INTEGER NOT NULL DEFAULT 0,
	flow_purpose         TEXT,
	flow_step            TEXT NOT NULL DEFAULT '',
	flow_hash            BYTEA,
	flow_expires_at      BIGINT,
	flow_failures        INTEGER NOT NULL DEFAULT 0,
	login_id             TEXT,
	login_hash           BYTEA,
	login_expires_at     BIGINT,
	login_failures       INTEGER NOT NULL DEFAULT 0
)`},
}

// accountColumns are read by scanAccount. The activation's presence is read
// apart from its hash because the driver scans an empty BLOB as nil.
const accountColumns = `activation_hash IS NOT NULL, activation_hash, activation_issued_at, activation_failures,
	password_hash, password_set_at, password_previous, password_failures,
	flow_purpose, flow_step, flow_hash, flow_expires_at, flow_failures,
	login_id, login_hash, login_expires_at, login_failures`

// SQLStore is a [Store] on a SQL database, the default for a running gateway:
// accounts survive restarts, and several gateway processes can share one
// database.
type SQLStore struct {
	db *sql.DB
}

// NewSQLStore creates or upgrades the "permanente" tables in db and returns a
// store on it. db is SQLite, best opened with sqlite.Open, whose settings
// make every acknowledged write durable, or PostgreSQL (see
// gateway.OpenDB); the caller keeps ownership of db.
func NewSQLStore(ctx context.Context, db *sql.DB) (*SQLStore, error) {
	if err := store.Migrate(ctx, db, "permanente", migrations); err != nil {
		return nil, fmt.Errorf("permanente: sql store: %w", err)
	}
	return &SQLStore{db: db}, nil
}

// Account implements [Store].
func (s *SQLStore) Account(ctx context.Context, citizen string) (Account, error) {
	a, err := scanAccount(s.db.QueryRowContext(ctx,
		`SELECT `+accountColumns+` FROM permanente_accounts WHERE citizen = $1`, citizen))
	if errors.Is(err, sql.ErrNoRows) {
		return Account{}, fmt.Errorf("permanente: sql store: account: %w", ErrNotFound)
	}
	if err != nil {
		return Account{}, fmt.Errorf("permanente: sql store: account: %w", err)
	}
	return a, nil
}

// UpdateAccount implements [Store] as one transaction whose first statement
// locks the citizen's row, creating it if missing: an upsert that updates
// nothing, which takes SQLite's write lock (even on a connection whose
// BEGIN takes none) and on PostgreSQL locks the row until the transaction
// ends, whether it inserted or found it, also racing another insert or a
// delete. The read-check-write is thus atomic on both.
func (s *SQLStore) UpdateAccount(ctx context.Context, citizen string, fn func(*Account) error) error {
	return store.InTx(ctx, s.db, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO permanente_accounts(citizen) VALUES ($1)
			ON CONFLICT(citizen) DO UPDATE SET citizen = excluded.citizen`, citizen); err != nil {
			return fmt.Errorf("permanente: sql store: lock: %w", err)
		}
		a, err := scanAccount(tx.QueryRowContext(ctx,
			`SELECT `+accountColumns+` FROM permanente_accounts WHERE citizen = $1`, citizen))
		if err != nil {
			return fmt.Errorf("permanente: sql store: read: %w", err)
		}
		if err := fn(&a); err != nil {
			return err
		}
		return writeAccount(ctx, tx, citizen, &a)
	})
}

type scanner interface{ Scan(dest ...any) error }

func scanAccount(row scanner) (Account, error) {
	var (
		a                                         Account
		actHash, flowHash, loginHash              []byte
		actIssued, pwSet, flowExpires, loginExpir sql.NullInt64
		pwHash, flowPurpose, loginID              sql.NullString
		pwPrevious, flowStep                      string
		actFailures, pwFailures, flowFailures     int
		loginFailures                             int
		actPresent                                bool
	)
	if err := row.Scan(&actPresent, &actHash, &actIssued, &actFailures,
		&pwHash, &pwSet, &pwPrevious, &pwFailures,
		&flowPurpose, &flowStep, &flowHash, &flowExpires, &flowFailures,
		&loginID, &loginHash, &loginExpir, &loginFailures); err != nil {
		return Account{}, err
	}
	if actPresent {
		a.Activation = &Activation{Hash: actHash, IssuedAt: fromNanos(actIssued), Failures: actFailures}
	}
	if pwHash.Valid {
		a.Password = &Password{Hash: pwHash.String, SetAt: fromNanos(pwSet), Previous: pwPrevious, Failures: pwFailures}
	}
	if flowPurpose.Valid {
		a.Flow = &Flow{Purpose: Purpose(flowPurpose.String), Step: Step(flowStep), Hash: flowHash,
			ExpiresAt: fromNanos(flowExpires), Failures: flowFailures}
	}
	if loginID.Valid {
		a.Login = &LoginCode{LoginID: loginID.String, Hash: loginHash, ExpiresAt: fromNanos(loginExpir),
			Failures: loginFailures}
	}
	return a, nil
}

// writeAccount saves a over citizen's row, which the transaction created or
// holds, or deletes the row when a is zero.
func writeAccount(ctx context.Context, tx *sql.Tx, citizen string, a *Account) error {
	if a.isZero() {
		if _, err := tx.ExecContext(ctx, `DELETE FROM permanente_accounts WHERE citizen = $1`, citizen); err != nil {
			return fmt.Errorf("permanente: sql store: delete: %w", err)
		}
		return nil
	}
	var (
		actHash, flowHash, loginHash              []byte
		actIssued, pwSet, flowExpires, loginExpir sql.NullInt64
		pwHash, flowPurpose, loginID              sql.NullString
		pwPrevious, flowStep                      string
		actFailures, pwFailures, flowFailures     int
		loginFailures                             int
	)
	if c := a.Activation; c != nil {
		actHash, actIssued, actFailures = nonNil(c.Hash), nanos(c.IssuedAt), c.Failures
	}
	if p := a.Password; p != nil {
		pwHash = sql.NullString{String: p.Hash, Valid: true}
		pwSet, pwPrevious, pwFailures = nanos(p.SetAt), p.Previous, p.Failures
	}
	if f := a.Flow; f != nil {
		flowPurpose = sql.NullString{String: string(f.Purpose), Valid: true}
		flowStep, flowHash, flowExpires, flowFailures = string(f.Step), f.Hash, nanos(f.ExpiresAt), f.Failures
	}
	if l := a.Login; l != nil {
		loginID = sql.NullString{String: l.LoginID, Valid: true}
		loginHash, loginExpir, loginFailures = l.Hash, nanos(l.ExpiresAt), l.Failures
	}
	_, err := tx.ExecContext(ctx, `UPDATE permanente_accounts SET
		activation_hash = $1, activation_issued_at = $2, activation_failures = $3,
		password_hash = $4, password_set_at = $5, password_previous = $6, password_failures = $7,
		flow_purpose = $8, flow_step = $9, flow_hash = $10, flow_expires_at = $11, flow_failures = $12,
		login_id = $13, login_hash = $14, login_expires_at = $15, login_failures = $16
		WHERE citizen = $17`,
		actHash, actIssued, actFailures,
		pwHash, pwSet, pwPrevious, pwFailures,
		flowPurpose, flowStep, flowHash, flowExpires, flowFailures,
		loginID, loginHash, loginExpir, loginFailures, citizen)
	if err != nil {
		return fmt.Errorf("permanente: sql store: write: %w", err)
	}
	return nil
}

// nonNil keeps "present with an empty hash" apart from NULL, which means
// absent for the activation.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
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
