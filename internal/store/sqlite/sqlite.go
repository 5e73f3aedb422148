// Package sqlite opens the reference gateway's embedded SQLite database (pure
// Go, no cgo). It is the only package of the module that imports a database
// driver.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	msqlite "modernc.org/sqlite"
)

// maxOpenConns sizes the pool of a file database. Reads run in parallel
// beside the one writer (WAL); writers queue on the write lock holding a
// connection each. Idle connections are kept, never closed and reopened at
// every burst: an open costs a file open and a schema read, and that churn
// under load was part of the SQLITE_BUSY failures.
const maxOpenConns = 64

// Open opens (creating if needed) the database at path; ":memory:" gives a
// private in-memory database, for tests.
//
// Writes are durable when acknowledged: a commit returns only once the WAL
// holding it is fsynced, so killing the process, or the machine, loses
// nothing a call returned successfully for. The fsync is shared by the
// commits made meanwhile (group commit, see walSyncer) rather than done
// inside each commit as synchronous=FULL would, which under load cost a
// millisecond of write lock per transaction.
//
// Writes are serialised in the process, first come first served: a
// read-write transaction holds a write lock from BEGIN to COMMIT, and a
// writing statement outside a transaction for its duration, while reads go
// on in parallel. Hundreds of concurrent writers then each wait their turn
// instead of polling SQLite's lock and failing with SQLITE_BUSY; a write
// that would wait more than maxWriteWait fails with ErrBusy. Transactions
// are BEGIN IMMEDIATE, and busy_timeout covers another process on the file.
//
// Inside a read-write transaction a caller must use the *sql.Tx, never
// write through the *sql.DB: that write would wait for the lock its own
// transaction holds (until ErrBusy).
func Open(ctx context.Context, path string) (*sql.DB, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	if path == ":memory:" {
		// One shared connection: each new connection to ":memory:" would be a
		// new, empty database. Nothing to make durable.
		db, err := open(ctx, "file::memory:", "FULL", "", nil)
		if err != nil {
			return nil, err
		}
		return db, nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db, err := open(ctx, "file:"+path, "NORMAL", abs, newWALSyncer(abs))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	var mode string
	if err := db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if strings.EqualFold(mode, "wal") {
		return db, nil
	}
	// A file system without WAL (no shared memory): the group commit's
	// reasoning does not hold, so SQLite syncs in every commit.
	db.Close()
	if db, err = open(ctx, "file:"+path, "FULL", abs, nil); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return db, nil
}

// open opens the database named by uri with the given synchronous mode,
// writes locked on lockPath's lock (a private lock for "") and made
// durable by durable when not nil.
func open(ctx context.Context, uri, synchronous, lockPath string, durable *walSyncer) (*sql.DB, error) {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(" + synchronous + ")", "foreign_keys(ON)", "busy_timeout(5000)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	inner, err := msqlite.NewConnector(uri + "?" + q.Encode())
	if err != nil {
		return nil, err
	}
	lock, unref := lockFor(lockPath)
	db := sql.OpenDB(&connector{Connector: inner, lock: lock, durable: durable, close: unref})
	if lockPath == "" {
		db.SetMaxOpenConns(1)
	} else {
		db.SetMaxOpenConns(maxOpenConns)
		db.SetMaxIdleConns(maxOpenConns)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}
