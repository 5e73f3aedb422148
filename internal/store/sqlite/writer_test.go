package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func openFile(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := Open(context.Background(), path)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// TestConcurrentWritersLoseNoUpdate runs 200 goroutines of read-modify-write
// transactions (the shape of every store's Update) on a file database, with
// writes outside transactions and readers beside them: none fails with
// SQLITE_BUSY or otherwise, and no increment is lost.
func TestConcurrentWritersLoseNoUpdate(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	db := openFile(t, path)
	_, err := db.ExecContext(ctx, `CREATE TABLE counters(id INTEGER PRIMARY KEY, n INTEGER NOT NULL)`)
	require.NoError(t, err)
	const rows = 5
	for i := range rows {
		_, err := db.ExecContext(ctx, `INSERT INTO counters VALUES(?, 0)`, i)
		require.NoError(t, err)
	}
	// A second handle on the same file, as two stores opened separately
	// would be: it queues on the same lock.
	other := openFile(t, path)

	const writers, each = 200, 10
	var (
		wg    sync.WaitGroup
		fails atomic.Int64
		first sync.Once
		err1  error
		reads atomic.Int64
	)
	fail := func(err error) {
		fails.Add(1)
		first.Do(func() { err1 = err })
	}
	stop := make(chan struct{})
	for r := range 4 { // readers never wait for the writers
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var sum int
				if err := db.QueryRowContext(ctx, `SELECT coalesce(sum(n), 0) FROM counters WHERE id >= ?`, r%2).Scan(&sum); err != nil {
					fail(err)
					return
				}
				reads.Add(1)
			}
		}()
	}
	var writersWG sync.WaitGroup
	for w := range writers {
		writersWG.Add(1)
		go func() {
			defer writersWG.Done()
			h := db
			if w%2 == 1 {
				h = other
			}
			for i := range each {
				id := (w + i) % rows
				if i%5 == 4 { // a single-statement write, outside a transaction
					if _, err := h.ExecContext(ctx, `UPDATE counters SET n = n + 1 WHERE id = ?`, id); err != nil {
						fail(err)
					}
					continue
				}
				tx, err := h.BeginTx(ctx, nil)
				if err != nil {
					fail(err)
					continue
				}
				var n int
				if err := tx.QueryRowContext(ctx, `SELECT n FROM counters WHERE id = ?`, id).Scan(&n); err != nil {
					tx.Rollback()
					fail(err)
					continue
				}
				if _, err := tx.ExecContext(ctx, `UPDATE counters SET n = ? WHERE id = ?`, n+1, id); err != nil {
					tx.Rollback()
					fail(err)
					continue
				}
				if err := tx.Commit(); err != nil {
					fail(err)
				}
			}
		}()
	}
	writersWG.Wait()
	close(stop)
	wg.Wait()
	require.Zero(t, fails.Load(), "first error: %v", err1)
	var sum int
	require.NoError(t, db.QueryRowContext(ctx, `SELECT sum(n) FROM counters`).Scan(&sum))
	assert.Equal(t, writers*each, sum, "no update lost")
	assert.Positive(t, reads.Load())

	// And all of it is on disk for the next process.
	require.NoError(t, db.Close())
	require.NoError(t, other.Close())
	again := openFile(t, path)
	require.NoError(t, again.QueryRowContext(ctx, `SELECT sum(n) FROM counters`).Scan(&sum))
	assert.Equal(t, writers*each, sum)
}

// TestReadsDoNotWaitForTheWriter: a read outside the transaction answers
// while a read-write transaction is open (WAL), and sees the last commit.
func TestReadsDoNotWaitForTheWriter(t *testing.T) {
	ctx := context.Background()
	db := openFile(t, filepath.Join(t.TempDir(), "r.db"))
	_, err := db.ExecContext(ctx, `CREATE TABLE a(x INTEGER); INSERT INTO a VALUES (1)`)
	require.NoError(t, err)
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `UPDATE a SET x = 2`)
	require.NoError(t, err)
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var x int
	require.NoError(t, db.QueryRowContext(rctx, `SELECT x FROM a`).Scan(&x))
	assert.Equal(t, 1, x)
	ro, err := db.BeginTx(rctx, &sql.TxOptions{ReadOnly: true})
	require.NoError(t, err, "a read-only transaction takes no write lock")
	require.NoError(t, ro.Rollback())
}

// TestWriteWaitIsBounded: a write queued behind a transaction that never
// ends gives up with ErrBusy, or when its context ends; the lock is free
// again once the transaction ends.
func TestWriteWaitIsBounded(t *testing.T) {
	defer func(d time.Duration) { maxWriteWait = d }(maxWriteWait)
	maxWriteWait = 100 * time.Millisecond
	ctx := context.Background()
	db := openFile(t, filepath.Join(t.TempDir(), "b.db"))
	_, err := db.ExecContext(ctx, `CREATE TABLE a(x INTEGER)`)
	require.NoError(t, err)
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `INSERT INTO a VALUES (1)`)
	assert.ErrorIs(t, err, ErrBusy)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = db.BeginTx(cctx, nil)
	assert.ErrorIs(t, err, context.Canceled)
	require.NoError(t, tx.Rollback())
	_, err = db.ExecContext(ctx, `INSERT INTO a VALUES (1)`)
	assert.NoError(t, err)
}

// TestWritingQueryHoldsTheLockUntilClosed: INSERT ... RETURNING through
// Query is a write, locked until its rows are closed.
func TestWritingQueryHoldsTheLockUntilClosed(t *testing.T) {
	defer func(d time.Duration) { maxWriteWait = d }(maxWriteWait)
	maxWriteWait = 100 * time.Millisecond
	ctx := context.Background()
	db := openFile(t, filepath.Join(t.TempDir(), "q.db"))
	_, err := db.ExecContext(ctx, `CREATE TABLE a(x INTEGER PRIMARY KEY)`)
	require.NoError(t, err)
	rows, err := db.QueryContext(ctx, `INSERT INTO a VALUES (7) RETURNING x`)
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `INSERT INTO a VALUES (8)`)
	assert.ErrorIs(t, err, ErrBusy, "the lock is held while the rows are open")
	require.True(t, rows.Next())
	require.NoError(t, rows.Close())
	_, err = db.ExecContext(ctx, `INSERT INTO a VALUES (8)`)
	assert.NoError(t, err)
}

func TestReadOnlyStatements(t *testing.T) {
	for q, want := range map[string]bool{
		`SELECT 1`:                           true,
		"  \n\tselect x FROM a":              true,
		`(SELECT 1)`:                         true,
		"-- comment\nSELECT 1":               true,
		"/* c */ SELECT 1":                   true,
		`VALUES (1)`:                         true,
		`EXPLAIN QUERY PLAN SELECT 1`:        true,
		`SELECT 1;`:                          true,
		`SELECT 1; DELETE FROM a`:            false,
		`INSERT INTO a VALUES (1)`:           false,
		`UPDATE a SET x = 1`:                 false,
		`DELETE FROM a`:                      false,
		`WITH t AS (SELECT 1) DELETE FROM a`: false,
		`PRAGMA journal_mode`:                false,
		`CREATE TABLE a(x)`:                  false,
		"-- unterminated":                    false,
		"/* unterminated":                    false,
		``:                                   false,
	} {
		assert.Equal(t, want, readOnly(q), "%q", q)
	}
}

// TestGroupCommit: concurrent commits share fsyncs, and each returns only
// after an fsync that started after it asked.
func TestGroupCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	require.NoError(t, os.WriteFile(path+"-wal", []byte("x"), 0o600))
	s := newWALSyncer(path)
	var (
		mu      sync.Mutex
		started []time.Time
		flushes atomic.Int64
	)
	real := s.flush
	s.flush = func() error {
		mu.Lock()
		started = append(started, time.Now())
		mu.Unlock()
		flushes.Add(1)
		time.Sleep(2 * time.Millisecond)
		return real()
	}
	const callers = 200
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			asked := time.Now()
			assert.NoError(t, s.sync())
			mu.Lock()
			defer mu.Unlock()
			covered := false
			for _, st := range started {
				covered = covered || !st.Before(asked)
			}
			assert.True(t, covered, "returned without an fsync started after it asked")
		}()
	}
	wg.Wait()
	assert.Less(t, flushes.Load(), int64(callers/4), "fsyncs are shared")
	s.close()
}

// TestGroupCommitFailureIsSticky: after a failed fsync nothing is
// acknowledged any more: the kernel may have dropped what it could not write.
func TestGroupCommitFailureIsSticky(t *testing.T) {
	s := newWALSyncer(filepath.Join(t.TempDir(), "f.db"))
	boom := errors.New("EIO")
	s.flush = func() error { return boom }
	assert.ErrorIs(t, s.sync(), boom)
	s.flush = func() error { return nil }
	assert.ErrorIs(t, s.sync(), boom)
}

// TestSyncFollowsTheWALFile: a WAL file replaced since the last fsync is
// reopened; a missing one means the database file is synced instead.
func TestSyncFollowsTheWALFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.db")
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	require.NoError(t, newWALSyncer(path).sync(), "no WAL: the database file is synced")
	s := newWALSyncer(path)
	require.NoError(t, os.WriteFile(path+"-wal", []byte("1"), 0o600))
	require.NoError(t, s.sync())
	first := s.f
	require.NotNil(t, first)
	require.NoError(t, os.Remove(path+"-wal"))
	require.NoError(t, os.WriteFile(path+"-wal", []byte("2"), 0o600))
	require.NoError(t, s.sync())
	cur, err := os.Stat(path + "-wal")
	require.NoError(t, err)
	open, err := s.f.Stat()
	require.NoError(t, err)
	assert.True(t, os.SameFile(cur, open), "the new WAL file was synced")
	s.close()
}

// TestFileDatabaseSettings: a file database is in WAL mode with commits
// made durable by the group commit; a memory one keeps one connection.
func TestFileDatabaseSettings(t *testing.T) {
	ctx := context.Background()
	db := openFile(t, filepath.Join(t.TempDir(), "s.db"))
	var mode string
	var syncMode, busy int
	require.NoError(t, db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode))
	require.NoError(t, db.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&syncMode))
	require.NoError(t, db.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&busy))
	assert.Equal(t, "wal", mode)
	assert.Equal(t, 1, syncMode, "NORMAL, with the fsync before acknowledging done by walSyncer")
	assert.Equal(t, 5000, busy)
	assert.Equal(t, maxOpenConns, db.Stats().MaxOpenConnections)

	mem := openFile(t, ":memory:")
	require.NoError(t, mem.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&syncMode))
	assert.Equal(t, 2, syncMode)
	assert.Equal(t, 1, mem.Stats().MaxOpenConnections)
}
