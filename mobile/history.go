package mobile

import (
	"cmp"
	"context"
	"fmt"
	"time"
)

const (
	// DefaultPageSize is the number of history entries a [Query] without
	// a Limit returns.
	DefaultPageSize = 20

	// MaxPageSize bounds the entries one [Query] returns, so that no call
	// of the app reads a whole history at once.
	MaxPageSize = 100
)

// Entry is one line of the citizen's "My Cl@ve Móvil" history: one login
// request and how it ended.
type Entry struct {
	// RequestID is the request the entry records; one entry per request.
	RequestID string

	// Citizen is the normalised DNI or NIE whose history it is.
	Citizen string

	// At is when the request was made.
	At time.Time

	// Requester is the requesting body's name.
	Requester string

	// Kind is QR or push (no QR).
	Kind Kind

	// Outcome is StateConfirmed, StateDeclined or StateExpired.
	Outcome State
}

// Order is the order of a history page.
type Order string

// The two orders; the zero value is NewestFirst.
const (
	NewestFirst Order = ""
	OldestFirst Order = "oldest"
)

// Query selects and orders a page of a citizen's history. The zero value is
// the newest [DefaultPageSize] entries; every filter left zero matches all.
type Query struct {
	// Outcome keeps the entries with this outcome.
	Outcome State

	// Kind keeps the entries of this kind.
	Kind Kind

	// Requester keeps the entries of this requesting body, compared
	// exactly.
	Requester string

	// From keeps the entries at or after it; To those before it.
	From, To time.Time

	// Order is newest or oldest first; entries made at the same instant
	// are in RequestID order (descending for NewestFirst), so pages never
	// overlap.
	Order Order

	// Limit is the page size: 0 means DefaultPageSize, and more than
	// MaxPageSize is cut to it.
	Limit int

	// Offset skips that many entries, for the next pages.
	Offset int
}

// Normalized returns q with its Limit settled (1 to MaxPageSize), or
// [ErrBadQuery] for an unknown outcome, kind or order, a negative limit or
// offset, or To not after From. Stores receive normalised queries.
func (q Query) Normalized() (Query, error) {
	switch {
	case q.Outcome != "" && !q.Outcome.final(),
		q.Kind != "" && !q.Kind.valid(),
		q.Order != NewestFirst && q.Order != OldestFirst,
		q.Limit < 0, q.Offset < 0,
		!q.From.IsZero() && !q.To.IsZero() && !q.To.After(q.From):
		return Query{}, ErrBadQuery
	}
	if q.Limit == 0 {
		q.Limit = DefaultPageSize
	}
	q.Limit = min(q.Limit, MaxPageSize)
	return q, nil
}

// Match reports whether e passes q's filters (not its order or page).
func (q Query) Match(e Entry) bool {
	return (q.Outcome == "" || e.Outcome == q.Outcome) &&
		(q.Kind == "" || e.Kind == q.Kind) &&
		(q.Requester == "" || e.Requester == q.Requester) &&
		(q.From.IsZero() || !e.At.Before(q.From)) &&
		(q.To.IsZero() || e.At.Before(q.To))
}

// compare orders a and b as q asks; a negative result puts a first.
func (q Query) compare(a, b Entry) int {
	c := cmp.Or(a.At.Compare(b.At), cmp.Compare(a.RequestID, b.RequestID))
	if q.Order == NewestFirst {
		return -c
	}
	return c
}

// History returns a page of citizen's history, as q selects it.
func (s *Service) History(ctx context.Context, citizen string, q Query) ([]Entry, error) {
	c, err := parseCitizen(citizen)
	if err != nil {
		return nil, err
	}
	if q, err = q.Normalized(); err != nil {
		return nil, err
	}
	out, err := s.st.History(ctx, c, q)
	if err != nil {
		return nil, fmt.Errorf("mobile: history: %w", err)
	}
	return out, nil
}
