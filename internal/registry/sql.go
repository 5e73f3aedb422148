package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/clave-go/clave/internal/calendar"
	"github.com/clave-go/clave/internal/dni"
	"github.com/clave-go/clave/internal/store"
)

// migrations are append-only (see store.Migrate). Dates are ISO text, ""
// meaning unset, so rows read the same in any SQL client and sort
// correctly. Statements must not contain ';' inside them: the runner splits
// on it. On PostgreSQL the identifier sorts in byte order (COLLATE "C"), as
// in SQLite and the memory store, whatever the database's locale.
var migrations = store.Migrations{
	SQLite: []string{
		`CREATE TABLE registry_citizens (
		id             TEXT PRIMARY KEY,
		valid_until    TEXT NOT NULL,
		issued_on      TEXT NOT NULL,
		support_number TEXT NOT NULL,
		given_name     TEXT NOT NULL,
		first_surname  TEXT NOT NULL,
		second_surname TEXT NOT NULL,
		date_of_birth  TEXT NOT NULL,
		phone          TEXT NOT NULL,
		email          TEXT NOT NULL,
		level          TEXT NOT NULL,
		status         TEXT NOT NULL,
		created_at     TEXT NOT NULL
	);
	CREATE UNIQUE INDEX registry_citizens_phone ON registry_citizens(phone)`,
	},
	Postgres: []string{
		`CREATE TABLE registry_citizens (
		id             TEXT COLLATE "C" PRIMARY KEY,
		valid_until    TEXT NOT NULL,
		issued_on      TEXT NOT NULL,
		support_number TEXT NOT NULL,
		given_name     TEXT NOT NULL,
		first_surname  TEXT NOT NULL,
		second_surname TEXT NOT NULL,
		date_of_birth  TEXT NOT NULL,
		phone          TEXT NOT NULL,
		email          TEXT NOT NULL,
		level          TEXT NOT NULL,
		status         TEXT NOT NULL,
		created_at     TEXT NOT NULL
	);
	CREATE UNIQUE INDEX registry_citizens_phone ON registry_citizens(phone)`,
	},
}

// createdAtLayout is fixed-width, unlike RFC3339Nano, so stored values sort
// in time order as text.
const createdAtLayout = "2006-01-02T15:04:05.000000000Z07:00"

const citizenColumns = `id, valid_until, issued_on, support_number, given_name, first_surname,
	second_surname, date_of_birth, phone, email, level, status, created_at`

// SQLStore is a [Store] on a database/sql database, normally the gateway's
// embedded SQLite from [sqlite.Open], or PostgreSQL from [postgres.Open]
// for several gateway processes. An acknowledged Put survives a crash as
// far as the database guarantees it (sqlite.Open configures SQLite so).
type SQLStore struct {
	db  *sql.DB
	now func() time.Time
}

var _ Store = (*SQLStore)(nil)

// NewSQLStore brings the "registry" schema in db up to date and returns a
// store on it. db stays owned by the caller, who closes it.
func NewSQLStore(ctx context.Context, db *sql.DB) (*SQLStore, error) {
	if db == nil {
		return nil, errors.New("registry: nil database")
	}
	if err := store.Migrate(ctx, db, "registry", migrations); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	return &SQLStore{db: db, now: time.Now}, nil
}

// WithClock sets the clock that stamps CreatedAt on new registrations, so
// tests can predict it. Call it before using the store.
func (s *SQLStore) WithClock(now func() time.Time) *SQLStore {
	s.now = now
	return s
}

// Get implements [Store].
func (s *SQLStore) Get(ctx context.Context, id dni.ID) (Citizen, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+citizenColumns+` FROM registry_citizens WHERE id = $1`, id.String())
	c, err := scanCitizen(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Citizen{}, notFound(id)
	}
	if err != nil {
		return Citizen{}, fmt.Errorf("registry: get %s: %w", masked(id), err)
	}
	return c, nil
}

// Put implements [Store]. The phone check and the write share one
// transaction. On SQLite, whose read-write transactions run one at a time
// (sqlite.Open makes them IMMEDIATE), concurrent Puts cannot both pass the
// check; on PostgreSQL they can, and the unique index on phone refuses the
// second write, which is reported as the same conflict.
//
// A Put without CreatedAt stamps a new registration with the store's clock
// and keeps an existing one's date: the upsert decides which, in one
// statement, so that two first Puts racing cannot leave the later stamp.
func (s *SQLStore) Put(ctx context.Context, c Citizen) error {
	c = c.Normalized()
	if err := c.Validate(); err != nil {
		return invalid(idOf(c), err)
	}
	id := c.ID
	keepCreated := c.CreatedAt.IsZero()
	if keepCreated {
		c.CreatedAt = s.now()
	}
	err := store.InTx(ctx, s.db, func(tx *sql.Tx) error {
		var owner string
		err := tx.QueryRowContext(ctx, `SELECT id FROM registry_citizens WHERE phone = $1 AND id <> $2`, c.Phone, id).Scan(&owner)
		switch {
		case err == nil:
			return phoneConflict(idOf(c))
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO registry_citizens (`+citizenColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
			ON CONFLICT(id) DO UPDATE SET
				valid_until = excluded.valid_until,
				issued_on = excluded.issued_on,
				support_number = excluded.support_number,
				given_name = excluded.given_name,
				first_surname = excluded.first_surname,
				second_surname = excluded.second_surname,
				date_of_birth = excluded.date_of_birth,
				phone = excluded.phone,
				email = excluded.email,
				level = excluded.level,
				status = excluded.status,
				created_at = CASE WHEN $14 THEN registry_citizens.created_at ELSE excluded.created_at END`,
			id, calendar.Format(c.ValidUntil), calendar.Format(c.IssuedOn), c.SupportNumber,
			c.GivenName, c.FirstSurname, c.SecondSurname, calendar.Format(c.DateOfBirth),
			c.Phone, c.Email, string(c.Level), string(c.Status), c.CreatedAt.UTC().Format(createdAtLayout),
			keepCreated)
		if store.IsUniqueViolation(err) {
			// The id conflict is the upsert's; only the phone is left.
			return phoneConflict(idOf(c))
		}
		return err
	})
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("registry: put %s: %w", masked(idOf(c)), err)
	}
	return err
}

// Delete implements [Store].
func (s *SQLStore) Delete(ctx context.Context, id dni.ID) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM registry_citizens WHERE id = $1`, id.String())
	return s.checkOne(id, "delete", res, err)
}

// List implements [Store].
func (s *SQLStore) List(ctx context.Context) ([]Citizen, error) {
	// BINARY collation: byte order, the same as MemoryStore's sort.
	rows, err := s.db.QueryContext(ctx, `SELECT `+citizenColumns+` FROM registry_citizens ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("registry: list: %w", err)
	}
	defer rows.Close()
	out := []Citizen{}
	for rows.Next() {
		c, err := scanCitizen(rows)
		if err != nil {
			return nil, fmt.Errorf("registry: list: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("registry: list: %w", err)
	}
	return out, nil
}

// SetStatus implements [Store].
func (s *SQLStore) SetStatus(ctx context.Context, id dni.ID, st Status) error {
	if !st.Valid() {
		return invalidStatus(id)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE registry_citizens SET status = $1 WHERE id = $2`, string(st), id.String())
	return s.checkOne(id, "set status of", res, err)
}

// checkOne turns a write that touched no row into ErrNotFound.
func (s *SQLStore) checkOne(id dni.ID, op string, res sql.Result, err error) error {
	if err != nil {
		return fmt.Errorf("registry: %s %s: %w", op, masked(id), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("registry: %s %s: %w", op, masked(id), err)
	}
	if n == 0 {
		return notFound(id)
	}
	return nil
}

// scanCitizen re-parses the identifier and dates it reads, so a row edited
// by hand into nonsense is reported rather than served.
func scanCitizen(row interface{ Scan(...any) error }) (Citizen, error) {
	var (
		c                                  Citizen
		id, validUntil, issuedOn, born, at string
		level, status                      string
	)
	if err := row.Scan(&id, &validUntil, &issuedOn, &c.SupportNumber, &c.GivenName, &c.FirstSurname,
		&c.SecondSurname, &born, &c.Phone, &c.Email, &level, &status, &at); err != nil {
		return Citizen{}, err
	}
	parsed, err := dni.Parse(id)
	if err != nil {
		return Citizen{}, fmt.Errorf("stored id: %w", err)
	}
	c.ID = parsed.String()
	for _, f := range []struct {
		name string
		text string
		dst  *time.Time
	}{{"valid_until", validUntil, &c.ValidUntil}, {"issued_on", issuedOn, &c.IssuedOn}, {"date_of_birth", born, &c.DateOfBirth}} {
		if *f.dst, err = calendar.Parse(f.text); err != nil {
			return Citizen{}, fmt.Errorf("stored %s of %s: %w", f.name, parsed.Masked(), err)
		}
	}
	if c.CreatedAt, err = time.Parse(createdAtLayout, at); err != nil {
		return Citizen{}, fmt.Errorf("stored created_at of %s: %w", parsed.Masked(), err)
	}
	c.Level, c.Status = Level(level), Status(status)
	return c, nil
}
