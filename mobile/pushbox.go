package mobile

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/clave-go/clave/gateway/method"
)

// Bounds of a PushBox: a citizen's app shows a handful of recent codes, and
// a gateway's memory holds the boxes of the citizens most recently sent to.
const (
	maxPushPerCitizen = 20
	maxPushCitizens   = 100_000
	maxPushText       = 2048
	maxPushCode       = 64
)

// ErrWrongChannel is returned by [PushBox.Send] for a message that is not
// for the app ([method.App]): SMS go through another Notifier.
var ErrWrongChannel = errors.New("mobile: push box takes app messages only")

// PushBox is the gateway's push channel to the citizen's app: a
// [method.Notifier] for [method.App] messages that keeps them, in memory,
// for the app to read through the app API ([AppInbox]). It keeps at most
// 20 messages per citizen and the boxes of at most 100,000 citizens,
// forgetting the oldest, and drops messages past their ExpiresAt. It is safe
// for concurrent use.
//
// Memory is the right place for what it holds in one process: codes of a
// few minutes, which a restart may lose at the cost of asking for another.
// Gateway processes sharing a database share an [SQLPushBox] instead.
type PushBox struct {
	// Signals, if set, is told [CitizenTopic] of the citizen after each
	// message, so that the citizen's app, waiting on GET /app/v1/requests,
	// comes back at once and reads its inbox. Set it before the first Send.
	Signals Signals

	now func() time.Time

	mu    sync.Mutex
	boxes map[string]*list.Element // of *pushBox
	order *list.List               // least recently sent to first
}

type pushBox struct {
	citizen string
	msgs    []method.Message // oldest first
}

// NewPushBox returns an empty PushBox on the clock now (nil means
// time.Now), which stamps SentAt and tells what has expired.
func NewPushBox(now func() time.Time) *PushBox {
	if now == nil {
		now = time.Now
	}
	return &PushBox{now: now, boxes: map[string]*list.Element{}, order: list.New()}
}

// Send implements [method.Notifier]: it keeps m, stamped with SentAt, in
// the box of m.To, which must be a citizen's normalised DNI or NIE. It
// returns [ErrWrongChannel] for a message that is not for the app and
// [ErrBadCitizen] for another To. A message already expired is dropped.
func (p *PushBox) Send(ctx context.Context, m method.Message) error {
	if err := checkPush(m); err != nil {
		return err
	}
	now := p.now()
	if !m.ExpiresAt.IsZero() && !now.Before(m.ExpiresAt) {
		return nil
	}
	m.SentAt = now
	p.mu.Lock()
	e, ok := p.boxes[m.To]
	if ok {
		p.order.MoveToBack(e)
	} else {
		for p.order.Len() >= maxPushCitizens {
			oldest := p.order.Front()
			p.order.Remove(oldest)
			delete(p.boxes, oldest.Value.(*pushBox).citizen)
		}
		e = p.order.PushBack(&pushBox{citizen: m.To})
		p.boxes[m.To] = e
	}
	b := e.Value.(*pushBox)
	b.msgs = append(b.dropExpired(now), m)
	if extra := len(b.msgs) - maxPushPerCitizen; extra > 0 {
		b.msgs = slices.Clone(b.msgs[extra:])
	}
	p.mu.Unlock()
	if p.Signals != nil {
		p.Signals.Publish(ctx, CitizenTopic(m.To))
	}
	return nil
}

// checkPush applies the rules every push box's Send has: app messages
// only, to a normalised citizen, of bounded size.
func checkPush(m method.Message) error {
	if m.Channel != method.App {
		return ErrWrongChannel
	}
	if id, err := parseCitizen(m.To); err != nil || id != m.To {
		return ErrBadCitizen
	}
	if len(m.Text) > maxPushText || len(m.Code) > maxPushCode {
		return fmt.Errorf("mobile: push message over %d bytes of text or %d of code", maxPushText, maxPushCode)
	}
	return nil
}

// AppMessages implements [AppInbox]: copies of citizen's unexpired
// messages, newest first. It never fails.
func (p *PushBox) AppMessages(_ context.Context, citizen string) ([]method.Message, error) {
	id, err := parseCitizen(citizen)
	if err != nil {
		return nil, nil
	}
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.boxes[id]
	if !ok {
		return nil, nil
	}
	b := e.Value.(*pushBox)
	b.msgs = b.dropExpired(now)
	if len(b.msgs) == 0 {
		p.order.Remove(e)
		delete(p.boxes, id)
		return nil, nil
	}
	out := slices.Clone(b.msgs)
	slices.Reverse(out)
	return out, nil
}

// dropExpired returns b's messages without those expired at now.
func (b *pushBox) dropExpired(now time.Time) []method.Message {
	return slices.DeleteFunc(b.msgs, func(m method.Message) bool {
		return !m.ExpiresAt.IsZero() && !now.Before(m.ExpiresAt)
	})
}

// Interfaces a PushBox implements.
var (
	_ method.Notifier = (*PushBox)(nil)
	_ AppInbox        = (*PushBox)(nil)
)
