package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// walSyncer makes commits durable in groups. The database runs with
// synchronous=NORMAL, under which a WAL commit is written but not fsynced;
// before a commit is acknowledged, its connection asks the syncer for an
// fsync of the WAL file that started after the commit returned. One fsync
// covers every commit that returned before it started, so under load a
// single fsync acknowledges dozens of transactions, where
// synchronous=FULL would fsync (about a millisecond here) inside each
// commit, holding the write lock meanwhile.
//
// Why this loses nothing acknowledged, after a process or a machine crash:
//   - a commit's WAL frames were written (write(2)) before COMMIT returned,
//     and fsync flushes every written page of the file, whichever
//     descriptor wrote it (the WAL inode's, not this descriptor's);
//   - frames after a lost frame are invalid too (each frame's checksum
//     chains on the one before), so a commit never survives a commit it
//     read from: a crash before the fsync loses a suffix of commits, none
//     of them acknowledged;
//   - a checkpoint under NORMAL fsyncs the WAL before copying it and the
//     database file after, so commits moved into the database stay durable
//     when the WAL is later restarted, truncated or deleted; and a WAL file
//     replaced since the last fsync is reopened (and its directory synced)
//     before the next.
//
// What NORMAL alone would risk (losing the last commits at power loss) is
// thus closed; its consistency in WAL mode is SQLite's. Readers may see a
// commit a few hundred microseconds before it is acknowledged, as with any
// group commit; the writer's caller is only told once it is durable.
type walSyncer struct {
	wal, db, dir string

	mu   sync.Mutex
	cond sync.Cond
	// next is the ticket of the next commit to ask; every ticket below
	// covered is durable.
	next, covered uint64
	running       bool
	// err is sticky: after a failed fsync the kernel may have dropped the
	// pages it could not write, so no later fsync could vouch for them.
	// Every commit fails from then on, until the process restarts and
	// SQLite recovers from what the disk holds.
	err error

	// flush is fsync, replaced by tests.
	flush func() error
	// f is the WAL file, used by the one flush running at a time.
	f *os.File
}

func newWALSyncer(dbPath string) *walSyncer {
	s := &walSyncer{wal: dbPath + "-wal", db: dbPath, dir: filepath.Dir(dbPath)}
	s.cond.L = &s.mu
	s.flush = s.fsync
	return s
}

// sync returns once an fsync of the WAL that started after the call has
// completed, or with the error that kept it from completing.
func (s *walSyncer) sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.next
	s.next++
	for s.covered <= t {
		if s.err != nil {
			return s.err
		}
		if s.running {
			s.cond.Wait()
			continue
		}
		s.running = true
		upTo := s.next
		s.mu.Unlock()
		err := s.flush()
		s.mu.Lock()
		s.running = false
		if err != nil {
			s.err = fmt.Errorf("sqlite: making commits durable: %w", err)
		} else {
			s.covered = upTo
		}
		s.cond.Broadcast()
	}
	return nil
}

// fsync flushes the WAL file, reopening it when it was replaced.
func (s *walSyncer) fsync() error {
	if s.f != nil {
		cur, err := os.Stat(s.wal)
		open, ferr := s.f.Stat()
		if err == nil && ferr == nil && os.SameFile(cur, open) {
			return datasync(s.f)
		}
		s.f.Close()
		s.f = nil
	}
	f, err := os.Open(s.wal)
	if errors.Is(err, fs.ErrNotExist) {
		// No WAL: everything committed was checkpointed into the
		// database file by the connection that removed it. Flush that
		// file too, which costs nothing if it is clean.
		return syncFiles(s.db, s.dir)
	}
	if err != nil {
		return err
	}
	// A new WAL file: its directory entry must be durable too.
	if err := syncFiles(s.dir); err != nil {
		f.Close()
		return err
	}
	s.f = f
	return datasync(f)
}

func (s *walSyncer) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f != nil && !s.running {
		s.f.Close()
		s.f = nil
	}
}

// syncFiles fsyncs each path (a file or a directory).
func syncFiles(paths ...string) error {
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}
