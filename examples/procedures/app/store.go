package app

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	_ "modernc.org/sqlite" // pure-Go SQLite driver, registered as "sqlite"
)

// schema holds the saved Cl@ve PIN users and the generated documents. A
// document's share token is 32 random bytes: its link is its only key.
const schema = `
CREATE TABLE IF NOT EXISTS saved_users (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	document   TEXT NOT NULL,
	contrast   TEXT NOT NULL,
	label      TEXT NOT NULL,
	created_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS downloads (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	name        TEXT NOT NULL,
	entity      TEXT NOT NULL,
	procedure   TEXT NOT NULL,
	holder      TEXT NOT NULL,
	content     TEXT NOT NULL,
	share_token TEXT NOT NULL UNIQUE,
	created_at  TIMESTAMP NOT NULL
);`

var errNotFound = errors.New("not found")

// openDB opens (creating if needed) the SQLite database at path.
func openDB(ctx context.Context, path string) (*sql.DB, error) {
	// WAL and a busy timeout let the pages read while one writes.
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return db, nil
}

type savedUser struct {
	ID                        int64
	Document, Contrast, Label string
	CreatedAt                 time.Time
}

type download struct {
	ID                              int64
	Name, Entity, Procedure, Holder string
	Content, ShareToken             string
	CreatedAt                       time.Time
}

type store struct {
	db  *sql.DB
	now func() time.Time
}

func (s *store) users(ctx context.Context) ([]savedUser, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, document, contrast, label, created_at FROM saved_users ORDER BY label, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []savedUser
	for rows.Next() {
		var u savedUser
		if err := rows.Scan(&u.ID, &u.Document, &u.Contrast, &u.Label, &u.CreatedAt); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

func (s *store) user(ctx context.Context, id int64) (savedUser, error) {
	var u savedUser
	err := s.db.QueryRowContext(ctx, `SELECT id, document, contrast, label, created_at FROM saved_users WHERE id = ?`, id).
		Scan(&u.ID, &u.Document, &u.Contrast, &u.Label, &u.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return u, errNotFound
	}
	return u, err
}

func (s *store) addUser(ctx context.Context, in savedUserInput) (int64, error) {
	res, err := s.db.ExecContext(ctx, `INSERT INTO saved_users (document, contrast, label, created_at) VALUES (?, ?, ?, ?)`,
		in.Document, in.Contrast, in.Label, s.now().UTC())
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

func (s *store) updateUser(ctx context.Context, id int64, in savedUserInput) error {
	return affected(s.db.ExecContext(ctx, `UPDATE saved_users SET document = ?, contrast = ?, label = ? WHERE id = ?`,
		in.Document, in.Contrast, in.Label, id))
}

func (s *store) deleteUser(ctx context.Context, id int64) error {
	return affected(s.db.ExecContext(ctx, `DELETE FROM saved_users WHERE id = ?`, id))
}

func (s *store) downloads(ctx context.Context) ([]download, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, entity, procedure, holder, share_token, created_at FROM downloads ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []download
	for rows.Next() {
		var d download
		if err := rows.Scan(&d.ID, &d.Name, &d.Entity, &d.Procedure, &d.Holder, &d.ShareToken, &d.CreatedAt); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func (s *store) download(ctx context.Context, id int64) (download, error) {
	return s.scanDownload(s.db.QueryRowContext(ctx, `SELECT id, name, entity, procedure, holder, content, share_token, created_at FROM downloads WHERE id = ?`, id))
}

func (s *store) downloadByToken(ctx context.Context, token string) (download, error) {
	return s.scanDownload(s.db.QueryRowContext(ctx, `SELECT id, name, entity, procedure, holder, content, share_token, created_at FROM downloads WHERE share_token = ?`, token))
}

func (s *store) scanDownload(row *sql.Row) (download, error) {
	var d download
	err := row.Scan(&d.ID, &d.Name, &d.Entity, &d.Procedure, &d.Holder, &d.Content, &d.ShareToken, &d.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return d, errNotFound
	}
	return d, err
}

func (s *store) addDownload(ctx context.Context, d download) (int64, error) {
	token, err := randomToken(32)
	if err != nil {
		return 0, err
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO downloads (name, entity, procedure, holder, content, share_token, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		d.Name, d.Entity, d.Procedure, d.Holder, d.Content, token, s.now().UTC())
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

func (s *store) renameDownload(ctx context.Context, id int64, name string) error {
	return affected(s.db.ExecContext(ctx, `UPDATE downloads SET name = ? WHERE id = ?`, name, id))
}

func (s *store) deleteDownload(ctx context.Context, id int64) error {
	return affected(s.db.ExecContext(ctx, `DELETE FROM downloads WHERE id = ?`, id))
}

func affected(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return errNotFound
	}
	return nil
}

// randomToken is n random bytes, URL-safe base64.
func randomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
