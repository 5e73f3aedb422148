package mobile

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/clave-go/clave/gateway/method"
	"github.com/clave-go/clave/internal/seal"
	"github.com/clave-go/clave/internal/store"
)

// pushMigrations are the SQL push box's schema, append-only. Each message is
// one row, its text and code sealed (AES-GCM, bound to the citizen and the
// row's random id): they are Cl@ve PINs in clear, which the app must show,
// so they are encrypted at rest rather than hashed. seq, the database's own
// counter, orders the messages as they were sent, even within one clock
// tick or from several processes.
var pushMigrations = store.Migrations{
	SQLite: []string{`
CREATE TABLE mobile_push_messages (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	citizen    TEXT NOT NULL,
	id         TEXT NOT NULL UNIQUE,
	sent_at    INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	sealed     TEXT NOT NULL
);
CREATE INDEX mobile_push_messages_citizen ON mobile_push_messages(citizen, seq);
CREATE INDEX mobile_push_messages_expiry ON mobile_push_messages(expires_at)`},
	Postgres: []string{`
CREATE TABLE mobile_push_messages (
	seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	citizen    TEXT NOT NULL,
	id         TEXT NOT NULL UNIQUE,
	sent_at    BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	sealed     TEXT NOT NULL
);
CREATE INDEX mobile_push_messages_citizen ON mobile_push_messages(citizen, seq);
CREATE INDEX mobile_push_messages_expiry ON mobile_push_messages(expires_at)`},
}

// pushKeepUnbounded is how long a message without ExpiresAt is kept in the
// database: the memory box keeps such a message until it is pushed out,
// which a table without a bound per citizen count alone would never do for
// citizens sent to once.
const pushKeepUnbounded = 24 * time.Hour

// pushPruneBatch bounds the expired messages one Send removes.
const pushPruneBatch = 100

// SQLPushBox is a push channel to the citizen's app, like [PushBox], kept in
// a SQL database (SQLite or PostgreSQL) so that every gateway process
// sharing the database sees the messages any of them sent: a Cl@ve PIN
// sent to the app by one process is read by the app through another. It
// keeps at most 20 messages per citizen and drops them at their ExpiresAt
// (a message without one after a day). It is safe for concurrent use.
type SQLPushBox struct {
	// Signals, if set, is told [CitizenTopic] of the citizen after each
	// message (see PushBox.Signals). Set it before the first Send.
	Signals Signals

	db     *sql.DB
	sealer *seal.Sealer
	now    func() time.Time
}

// NewSQLPushBox creates or upgrades the push box's table in db and returns
// a box on it. secret (at least 32 bytes) keys the encryption of the
// messages: processes sharing the database must share it, and keep it
// across restarts; nil means a random one, which a restart forgets. now
// (nil: time.Now) stamps SentAt and tells what has expired.
func NewSQLPushBox(ctx context.Context, db *sql.DB, secret []byte, now func() time.Time) (*SQLPushBox, error) {
	if secret == nil {
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, err
		}
	}
	s, err := seal.New(secret, "mobile push box message")
	if err != nil {
		return nil, fmt.Errorf("mobile: push box: %w", err)
	}
	if err := store.Migrate(ctx, db, "mobile_push", pushMigrations); err != nil {
		return nil, fmt.Errorf("mobile: push box: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	return &SQLPushBox{db: db, sealer: s, now: now}, nil
}

// sealedPush is what a row's sealed column holds.
type sealedPush struct {
	Text string `json:"t"`
	Code string `json:"c,omitempty"`
}

// Send implements [method.Notifier], with PushBox.Send's rules.
func (p *SQLPushBox) Send(ctx context.Context, m method.Message) error {
	if err := checkPush(m); err != nil {
		return err
	}
	now := p.now()
	if !m.ExpiresAt.IsZero() && !now.Before(m.ExpiresAt) {
		return nil
	}
	keep := m.ExpiresAt
	if keep.IsZero() {
		keep = now.Add(pushKeepUnbounded)
	}
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	id := hex.EncodeToString(b)
	sealed, err := p.sealer.Seal(m.To+"\x00"+id, sealedPush{Text: m.Text, Code: m.Code}, keep)
	if err != nil {
		return fmt.Errorf("mobile: push box: %w", err)
	}
	err = store.InTx(ctx, p.db, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO mobile_push_messages(citizen, id, sent_at, expires_at, sealed)
			VALUES ($1, $2, $3, $4, $5)`, m.To, id, now.UnixNano(), keep.UnixNano(), sealed); err != nil {
			return err
		}
		// The citizen's 20 newest stay.
		if _, err := tx.ExecContext(ctx, `DELETE FROM mobile_push_messages WHERE citizen = $1 AND seq NOT IN
			(SELECT seq FROM mobile_push_messages WHERE citizen = $1 ORDER BY seq DESC LIMIT $2)`,
			m.To, maxPushPerCitizen); err != nil {
			return err
		}
		// And a few expired messages of anyone go, so the table holds
		// what is live and little more.
		_, err := tx.ExecContext(ctx, `DELETE FROM mobile_push_messages WHERE seq IN
			(SELECT seq FROM mobile_push_messages WHERE expires_at <= $1 LIMIT $2)`,
			now.UnixNano(), pushPruneBatch)
		return err
	})
	if err != nil {
		return fmt.Errorf("mobile: push box: send: %w", err)
	}
	if p.Signals != nil {
		p.Signals.Publish(ctx, CitizenTopic(m.To))
	}
	return nil
}

// AppMessages implements [AppInbox]: citizen's unexpired messages, newest
// first. A row that does not open (another secret's, or tampered with) is
// left out.
func (p *SQLPushBox) AppMessages(ctx context.Context, citizen string) ([]method.Message, error) {
	id, err := parseCitizen(citizen)
	if err != nil {
		return nil, nil
	}
	now := p.now()
	rows, err := p.db.QueryContext(ctx, `SELECT id, sent_at, expires_at, sealed FROM mobile_push_messages
		WHERE citizen = $1 AND expires_at > $2 ORDER BY seq DESC LIMIT $3`,
		id, now.UnixNano(), maxPushPerCitizen)
	if err != nil {
		return nil, fmt.Errorf("mobile: push box: read: %w", err)
	}
	defer rows.Close()
	var out []method.Message
	for rows.Next() {
		var (
			rid              string
			sent, exp        int64
			sealed           string
			content          sealedPush
			expiresAt, sent2 time.Time
		)
		if err := rows.Scan(&rid, &sent, &exp, &sealed); err != nil {
			return nil, fmt.Errorf("mobile: push box: read: %w", err)
		}
		if err := p.sealer.Open(id+"\x00"+rid, sealed, now, &content); err != nil {
			continue
		}
		sent2 = time.Unix(0, sent)
		if exp != sent+int64(pushKeepUnbounded) {
			expiresAt = time.Unix(0, exp)
		}
		out = append(out, method.Message{Channel: method.App, To: id, Text: content.Text, Code: content.Code,
			SentAt: sent2, ExpiresAt: expiresAt})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mobile: push box: read: %w", err)
	}
	return out, nil
}

// Interfaces an SQLPushBox implements.
var (
	_ method.Notifier = (*SQLPushBox)(nil)
	_ AppInbox        = (*SQLPushBox)(nil)
)
