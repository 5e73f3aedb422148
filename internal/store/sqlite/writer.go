package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// ErrBusy is returned when a write waited longer than maxWriteWait for its
// turn: the database is taking writes more slowly than they arrive, and
// shedding the excess is better than queueing without bound.
var ErrBusy = errors.New("sqlite: database busy: too many writes waiting")

// maxWriteWait bounds the wait for the write lock. Under a fair queue it is
// reached only when tens of thousands of writes are queued, never by
// ordinary contention. A variable for tests.
var maxWriteWait = 10 * time.Second

// writeLock admits one writer at a time to a database file, in arrival
// order. SQLite itself allows one writer too, but its waiting is polling
// (sleeps of up to 100 ms under busy_timeout), unfair, and gives up with
// SQLITE_BUSY: at a few hundred concurrent writers, some always lose. Queueing
// in Go instead wakes each writer the moment the previous one commits, in
// turn, and SQLite never sees two writers from this process. The busy
// timeout still covers other processes sharing the file.
type writeLock struct {
	// slot holds a token while the lock is taken. Blocked senders on a
	// channel are served first in, first out, and a release hands the slot
	// straight to the longest waiter, so no writer can starve.
	slot chan struct{}
	refs int // openers of the same file sharing this lock; see locks
}

func (l *writeLock) acquire(ctx context.Context) error {
	select {
	case l.slot <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(maxWriteWait)
	defer t.Stop()
	select {
	case l.slot <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return ErrBusy
	}
}

func (l *writeLock) release() { <-l.slot }

// locks shares one writeLock among every Open of the same file in this
// process, so two *sql.DB on one file still queue behind each other.
var locks = struct {
	sync.Mutex
	byPath map[string]*writeLock
}{byPath: map[string]*writeLock{}}

// lockFor returns the lock of path ("" for a private database, which gets
// one of its own) and a function releasing the reference.
func lockFor(path string) (*writeLock, func()) {
	if path == "" {
		return &writeLock{slot: make(chan struct{}, 1)}, func() {}
	}
	locks.Lock()
	defer locks.Unlock()
	l := locks.byPath[path]
	if l == nil {
		l = &writeLock{slot: make(chan struct{}, 1)}
		locks.byPath[path] = l
	}
	l.refs++
	var once sync.Once
	return l, func() {
		once.Do(func() {
			locks.Lock()
			defer locks.Unlock()
			if l.refs--; l.refs == 0 {
				delete(locks.byPath, path)
			}
		})
	}
}

// connector opens the driver's connections wrapped so that every write
// takes the file's writeLock.
type connector struct {
	driver.Connector
	lock *writeLock
	// durable, when set, makes each commit durable before it is
	// acknowledged (see walSyncer); nil when SQLite syncs in COMMIT itself.
	durable *walSyncer
	close   func()
}

func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	inner, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	for _, ok := range []bool{is[driver.ConnBeginTx](inner), is[driver.ExecerContext](inner), is[driver.QueryerContext](inner),
		is[driver.ConnPrepareContext](inner), is[driver.Pinger](inner), is[driver.SessionResetter](inner), is[driver.Validator](inner)} {
		if !ok {
			inner.Close()
			return nil, fmt.Errorf("sqlite: driver connection %T lacks an interface the write lock needs", inner)
		}
	}
	return &conn{Conn: inner, lock: c.lock, durable: c.durable}, nil
}

// Close implements io.Closer, which sql.DB.Close calls.
func (c *connector) Close() error {
	if c.durable != nil {
		c.durable.close()
	}
	c.close()
	return nil
}

func is[T any](v any) bool {
	_, ok := v.(T)
	return ok
}

// conn is a driver connection whose writes hold the lock: a read-write
// transaction from BEGIN to COMMIT or ROLLBACK, and a writing statement run
// outside a transaction for its duration. Reads take no lock (WAL lets them
// run beside the writer). database/sql uses a connection from one goroutine
// at a time, so inTx needs no synchronisation.
type conn struct {
	driver.Conn
	lock    *writeLock
	durable *walSyncer
	inTx    bool
}

// Unwrap returns the driver's connection (modernc.org/sqlite looks through
// wrappers with it).
func (c *conn) Unwrap() driver.Conn { return c.Conn }

func (c *conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if opts.ReadOnly {
		// A plain BEGIN, which takes no write lock in SQLite either.
		return c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
	}
	if err := c.lock.acquire(ctx); err != nil {
		return nil, err
	}
	t, err := c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
	if err != nil {
		c.lock.release()
		return nil, err
	}
	c.inTx = true
	return &tx{Tx: t, c: c}, nil
}

// endTx releases the lock of the open transaction, if any.
func (c *conn) endTx() {
	if c.inTx {
		c.inTx = false
		c.lock.release()
	}
}

// Close closes the connection, which rolls back a transaction still open,
// before letting the next writer in.
func (c *conn) Close() error {
	err := c.Conn.Close()
	c.endTx()
	return err
}

// committed ends a write: it makes it durable when it succeeded.
func (c *conn) committed(err error) error {
	if err == nil && c.durable != nil {
		err = c.durable.sync()
	}
	return err
}

// write takes the lock for a statement run outside a transaction when it
// may write, and returns what ends it: the release of the lock and, for a
// statement that succeeded, its durability. Inside a transaction, or for
// a read, there is nothing to end: done is nil.
func (c *conn) write(ctx context.Context, query string) (done func(error) error, err error) {
	if c.inTx || readOnly(query) {
		return nil, nil
	}
	if err := c.lock.acquire(ctx); err != nil {
		return nil, err
	}
	return func(err error) error {
		c.lock.release()
		return c.committed(err)
	}, nil
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	done, err := c.write(ctx, query)
	if err != nil {
		return nil, err
	}
	res, err := c.Conn.(driver.ExecerContext).ExecContext(ctx, query, args)
	if done != nil {
		err = done(err)
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	done, err := c.write(ctx, query)
	if err != nil {
		return nil, err
	}
	r, err := c.Conn.(driver.QueryerContext).QueryContext(ctx, query, args)
	return wrapRows(r, err, done)
}

// wrapRows makes a writing query (INSERT ... RETURNING) hold the lock until
// its rows are closed; the rows of a read are the driver's own.
func wrapRows(r driver.Rows, err error, done func(error) error) (driver.Rows, error) {
	switch {
	case done == nil:
		return r, err
	case err != nil:
		return nil, done(err)
	}
	return &rows{Rows: r, done: done}, nil
}

func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	s, err := c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if !is[driver.StmtExecContext](s) || !is[driver.StmtQueryContext](s) {
		s.Close()
		return nil, fmt.Errorf("sqlite: driver statement %T lacks an interface the write lock needs", s)
	}
	return &stmt{Stmt: s, c: c, query: query}, nil
}

func (c *conn) Ping(ctx context.Context) error { return c.Conn.(driver.Pinger).Ping(ctx) }

func (c *conn) ResetSession(ctx context.Context) error {
	return c.Conn.(driver.SessionResetter).ResetSession(ctx)
}

func (c *conn) IsValid() bool { return c.Conn.(driver.Validator).IsValid() }

// tx releases the lock once the transaction ends, however it ends.
type tx struct {
	driver.Tx
	c *conn
}

// Commit commits, lets the next writer in, and then waits for the commit
// to be durable: the fsync of one commit overlaps the next ones, and
// covers them too.
func (t *tx) Commit() error {
	err := t.Tx.Commit()
	t.c.endTx()
	return t.c.committed(err)
}

func (t *tx) Rollback() error {
	defer t.c.endTx()
	return t.Tx.Rollback()
}

type rows struct {
	driver.Rows
	done   func(error) error
	closed bool
}

func (r *rows) Close() error {
	err := r.Rows.Close()
	if !r.closed {
		r.closed = true
		err = r.done(err)
	}
	return err
}

// stmt is a prepared statement of a conn, locked as the conn's own
// statements are.
type stmt struct {
	driver.Stmt
	c     *conn
	query string
}

func (s *stmt) Exec(args []driver.Value) (driver.Result, error) {
	named := make([]driver.NamedValue, len(args))
	for i, v := range args {
		named[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return s.ExecContext(context.Background(), named)
}

func (s *stmt) Query(args []driver.Value) (driver.Rows, error) {
	named := make([]driver.NamedValue, len(args))
	for i, v := range args {
		named[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return s.QueryContext(context.Background(), named)
}

func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	done, err := s.c.write(ctx, s.query)
	if err != nil {
		return nil, err
	}
	res, err := s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
	if done != nil {
		err = done(err)
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	done, err := s.c.write(ctx, s.query)
	if err != nil {
		return nil, err
	}
	r, err := s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
	return wrapRows(r, err, done)
}

// readOnly reports whether query surely only reads: it starts, after
// blanks and comments, with SELECT, VALUES or EXPLAIN. Anything else
// (including WITH, which may prefix a write, and PRAGMA) takes the lock;
// a read mistaken for a write costs a short wait, never correctness.
func readOnly(query string) bool {
	q := query
	for {
		q = strings.TrimLeft(q, " \t\r\n(")
		switch {
		case strings.HasPrefix(q, "--"):
			i := strings.IndexByte(q, '\n')
			if i < 0 {
				return false
			}
			q = q[i+1:]
			continue
		case strings.HasPrefix(q, "/*"):
			i := strings.Index(q, "*/")
			if i < 0 {
				return false
			}
			q = q[i+2:]
			continue
		}
		break
	}
	if strings.Contains(strings.TrimRight(q, "; \t\r\n"), ";") {
		return false // several statements: any may write
	}
	end := strings.IndexFunc(q, func(r rune) bool { return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') })
	if end < 0 {
		end = len(q)
	}
	switch strings.ToUpper(q[:end]) {
	case "SELECT", "VALUES", "EXPLAIN":
		return true
	}
	return false
}
