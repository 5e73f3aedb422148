// Package store holds what the reference gateway's SQL stores share: their
// errors, the migration runner and transactions. Opening the embedded SQLite
// database is internal/store/sqlite's job, the one importer of the driver, so
// a package that only uses the memory stores links no database.
//
// Every component (citizen registry, login flows, Cl@ve PIN, ...) owns its
// tables and its Store interface; this package only provides the migration
// runner, so a component's SQL store is a
// plain database/sql implementation that any SQL database could replace.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// ErrNotFound is returned by stores for a missing record.
var ErrNotFound = errors.New("store: not found")

// ErrConflict is returned by stores when a write would break a uniqueness rule.
var ErrConflict = errors.New("store: conflict")

// Migrate brings component's schema up to date by running, in one transaction
// each, the steps not yet applied. Steps are append-only: a released step is
// never edited, a change is a new step.
func Migrate(ctx context.Context, db *sql.DB, component string, steps []string) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_versions (
		component TEXT PRIMARY KEY, version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("store: migrations table: %w", err)
	}
	for {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		var v int
		err = tx.QueryRowContext(ctx, `SELECT version FROM schema_versions WHERE component = ?`, component).Scan(&v)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			tx.Rollback()
			return err
		}
		if v > len(steps) {
			tx.Rollback()
			return fmt.Errorf("store: %s schema version %d is newer than this program (%d)", component, v, len(steps))
		}
		if v == len(steps) {
			return tx.Rollback()
		}
		for _, stmt := range splitStatements(steps[v]) {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				tx.Rollback()
				return fmt.Errorf("store: %s migration %d: %w", component, v+1, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_versions(component, version) VALUES(?, ?)
			ON CONFLICT(component) DO UPDATE SET version = excluded.version`, component, v+1); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
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
