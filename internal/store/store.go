// Package store holds what the reference gateway's SQL stores share: their
// errors, the SQL dialect of a database, the migration runner and
// transactions. Opening a database is the job of internal/store/sqlite (the
// embedded default) and internal/store/postgres (a server several gateway
// processes share), the only importers of a driver, so a package that only
// uses the memory stores links no database, and one on SQLite links no
// PostgreSQL client.
//
// Every component (citizen registry, login flows, Cl@ve PIN, ...) owns its
// tables and its Store interface; a component's SQL store is one plain
// database/sql implementation for both engines. Its statements use $1-style
// placeholders, which SQLite reads too, and the SQL both engines accept
// (ON CONFLICT upserts, row values). What differs is kept small and named:
// the column types, hence one migration list per dialect ([Migrations]),
// and the locking. SQLite runs one read-write transaction at a time (see
// internal/store/sqlite), so a read-check-write inside one is atomic by
// itself; PostgreSQL runs them concurrently at READ COMMITTED, so a store
// makes the first statement of such a transaction lock the row it is about
// to read: an UPDATE of the row, or for a record that may not exist yet an
// upsert (INSERT ... ON CONFLICT DO UPDATE), which PostgreSQL guarantees to
// either insert or lock, even racing another insert or a delete. On SQLite
// that same first write takes the database's write lock, so the code is one.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// ErrNotFound is returned by stores for a missing record.
var ErrNotFound = errors.New("store: not found")

// ErrConflict is returned by stores when a write would break a uniqueness rule.
var ErrConflict = errors.New("store: conflict")

// The SQL dialects a store speaks, as [DialectOf] reports them.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// dialecter is implemented by the driver.Driver of a database opened by
// internal/store/postgres (and internal/store/sqlite), which is how a store
// tells the engines apart without importing their drivers.
type dialecter interface{ Dialect() string }

// DialectOf reports the SQL dialect of db: the one its opener declares
// (see dialecter), else Postgres for a database opened through pgx's
// database/sql driver directly (sql.Open("pgx", url)), else SQLite, the
// gateway's default (sql.Open("sqlite", path) included).
func DialectOf(db *sql.DB) string {
	drv := db.Driver()
	if d, ok := drv.(dialecter); ok {
		return d.Dialect()
	}
	// The package path, not the type: importing pgx here would link it
	// into every program that uses a store.
	if t := reflect.TypeOf(drv); t != nil {
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if strings.HasPrefix(t.PkgPath(), "github.com/jackc/pgx/") {
			return Postgres
		}
	}
	return SQLite
}

// Migrations are a component's schema steps, one list per dialect, each
// append-only: a released step is never edited, a change is a new step. The
// lists are counted apart (a database only ever runs its own dialect's), so
// they may differ in number; they must end in the same tables, columns and
// indexes, each column of the dialect's type for the Go value it holds.
type Migrations struct {
	SQLite   []string
	Postgres []string
}

// migrationLock is the key of the PostgreSQL advisory lock that serialises
// migrations, so that gateway processes starting together on one database
// do not race to create the same tables. Any constant will do; this one is
// "clave" in ASCII.
const migrationLock = 0x636c617665

// Migrate brings component's schema up to date by running, in one
// transaction each, the steps of db's dialect not yet applied. On
// PostgreSQL each transaction first takes an advisory lock, so that
// concurrent Migrates (several processes starting at once) apply each step
// once, one after the other; on SQLite the write lock does as much.
func Migrate(ctx context.Context, db *sql.DB, component string, m Migrations) error {
	dialect := DialectOf(db)
	var steps []string
	switch dialect {
	case SQLite:
		steps = m.SQLite
	case Postgres:
		steps = m.Postgres
	}
	if len(steps) == 0 {
		return fmt.Errorf("store: %s has no schema for %s databases", component, dialect)
	}
	const versions = `CREATE TABLE IF NOT EXISTS schema_versions (
		component TEXT PRIMARY KEY, version INTEGER NOT NULL)`
	if dialect == SQLite {
		if _, err := db.ExecContext(ctx, versions); err != nil {
			return fmt.Errorf("store: migrations table: %w", err)
		}
	}
	for {
		done, err := migrateStep(ctx, db, dialect, component, steps, versions)
		if err != nil || done {
			return err
		}
	}
}

// migrateStep applies the first step of steps not yet applied, in one
// transaction, and reports done when there was none.
func migrateStep(ctx context.Context, db *sql.DB, dialect, component string, steps []string, versions string) (done bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	if dialect == Postgres {
		// Held to the end of the transaction. CREATE TABLE IF NOT EXISTS
		// is not safe against a concurrent creation on PostgreSQL, hence
		// inside the lock.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return false, fmt.Errorf("store: migration lock: %w", err)
		}
		if _, err := tx.ExecContext(ctx, versions); err != nil {
			return false, fmt.Errorf("store: migrations table: %w", err)
		}
	}
	var v int
	err = tx.QueryRowContext(ctx, `SELECT version FROM schema_versions WHERE component = $1`, component).Scan(&v)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, err
	}
	if v > len(steps) {
		return false, fmt.Errorf("store: %s schema version %d is newer than this program (%d)", component, v, len(steps))
	}
	if v == len(steps) {
		return true, nil
	}
	for _, stmt := range splitStatements(steps[v]) {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return false, fmt.Errorf("store: %s migration %d: %w", component, v+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_versions(component, version) VALUES($1, $2)
		ON CONFLICT(component) DO UPDATE SET version = excluded.version`, component, v+1); err != nil {
		return false, err
	}
	return false, tx.Commit()
}

// IsUniqueViolation reports whether err is the database refusing a write
// that would duplicate a unique key: SQLSTATE 23505 on PostgreSQL,
// SQLITE_CONSTRAINT_UNIQUE or _PRIMARYKEY on SQLite. It matches the
// drivers' error interfaces, not their types, for the reason DialectOf
// gives.
func IsUniqueViolation(err error) bool {
	var pg interface{ SQLState() string }
	if errors.As(err, &pg) {
		return pg.SQLState() == "23505"
	}
	var lite interface{ Code() int }
	if errors.As(err, &lite) {
		const constraintUnique, constraintPrimaryKey = 2067, 1555
		return lite.Code() == constraintUnique || lite.Code() == constraintPrimaryKey
	}
	return false
}

func splitStatements(step string) []string {
	var out []string
	for _, s := range strings.Split(step, ";") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// InTx runs fn in a transaction, committing when it returns nil.
func InTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}
