package gateway

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/clave-go/clave/gateway/method"
)

// Channel says how a message travels; Message is one notification, and
// Notifier what delivers them (the gateway's SMS provider and app push).
// They are the method contract's types, named here for convenience.
type (
	Channel  = method.Channel
	Message  = method.Message
	Notifier = method.Notifier
)

// Channels.
const (
	ChannelSMS = method.SMS
	ChannelApp = method.App // a push to the citizen's active Cl@ve app
)

// ErrNoMessage is returned when an inbox holds nothing matching.
var ErrNoMessage = errors.New("gateway: no message")

// Inbox is the reference Notifier: it keeps the last messages per recipient
// in memory, for tests, the demo's inbox page and the citizen-app simulator
// to read. Nothing leaves the process.
type Inbox struct {
	mu    sync.Mutex
	boxes map[string][]Message
	max   int
	now   func() time.Time
	waits []chan struct{}
}

// NewInbox keeps up to max messages per recipient (0 means 50).
func NewInbox(max int, now func() time.Time) *Inbox {
	if max <= 0 {
		max = 50
	}
	if now == nil {
		now = time.Now
	}
	return &Inbox{boxes: map[string][]Message{}, max: max, now: now}
}

func key(c Channel, to string) string { return string(c) + ":" + strings.TrimSpace(to) }

// Send implements Notifier.
func (in *Inbox) Send(_ context.Context, m Message) error {
	if m.To == "" {
		return errors.New("gateway: message without recipient")
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if m.SentAt.IsZero() {
		m.SentAt = in.now()
	}
	k := key(m.Channel, m.To)
	box := append(in.boxes[k], m)
	if len(box) > in.max {
		box = box[len(box)-in.max:]
	}
	in.boxes[k] = box
	for _, w := range in.waits {
		close(w)
	}
	in.waits = nil
	return nil
}

// Messages returns the messages sent to a recipient on a channel, oldest first.
func (in *Inbox) Messages(c Channel, to string) []Message {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]Message(nil), in.boxes[key(c, to)]...)
}

// Last returns the newest message to a recipient on a channel.
func (in *Inbox) Last(c Channel, to string) (Message, error) {
	ms := in.Messages(c, to)
	if len(ms) == 0 {
		return Message{}, ErrNoMessage
	}
	return ms[len(ms)-1], nil
}

// Wait returns the newest message to a recipient sent after since, waiting
// until one arrives or ctx ends. It lets a scripted phone react to delivery
// instead of polling on a timer.
func (in *Inbox) Wait(ctx context.Context, c Channel, to string, since time.Time) (Message, error) {
	for {
		in.mu.Lock()
		box := in.boxes[key(c, to)]
		if n := len(box); n > 0 && box[n-1].SentAt.After(since) {
			m := box[n-1]
			in.mu.Unlock()
			return m, nil
		}
		ch := make(chan struct{})
		in.waits = append(in.waits, ch)
		in.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return Message{}, ctx.Err()
		}
	}
}

// All returns every inbox, for the demo page.
func (in *Inbox) All() map[string][]Message {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make(map[string][]Message, len(in.boxes))
	for k, v := range in.boxes {
		out[k] = append([]Message(nil), v...)
	}
	return out
}
