package mobile

import (
	"context"
	"sync"
)

// Signals wakes whoever waits for a change: the login page waiting for its
// request's outcome, the app long-polling for its citizen's requests. A
// signal carries no data, only "look again": waiters re-read the store, so a
// lost or duplicated signal costs a read, never a wrong answer, and the store
// stays the only truth.
//
// [NewLocalSignals] serves one process; gateways sharing a database need one
// that crosses processes (PostgreSQL's LISTEN/NOTIFY, say).
type Signals interface {
	// Publish wakes the current subscribers of topic. It must not block
	// on slow subscribers.
	Publish(ctx context.Context, topic string)
	// Subscribe calls wake after each Publish of topic from now on, until
	// stop is called. wake must return at once; it may be called from any
	// goroutine, and several times for one change.
	Subscribe(topic string, wake func()) (stop func())
}

// wakeChannel subscribes to topic with a channel that receives a value
// after each Publish (coalesced: one pending value at most).
func wakeChannel(s Signals, topic string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	stop := s.Subscribe(topic, func() {
		select {
		case ch <- struct{}{}:
		default: // one wake-up is already pending
		}
	})
	return ch, stop
}

// Topics of the signals a Service publishes.

// RequestTopic is the topic of the changes of request id: scanned, decided,
// expired, its SMS PIN sent.
func RequestTopic(id string) string { return "request:" + id }

// CitizenTopic is the topic of a citizen's new requests, which the app's
// long-poll waits for.
func CitizenTopic(citizen string) string { return "citizen:" + citizen }

// LocalSignals is Signals within one process. Its memory is one small entry
// per waiter, gone when the waiter leaves.
type LocalSignals struct {
	mu   sync.Mutex
	subs map[string]map[*localSub]struct{}
}

type localSub struct{ wake func() }

// NewLocalSignals returns Signals for one process.
func NewLocalSignals() *LocalSignals {
	return &LocalSignals{subs: map[string]map[*localSub]struct{}{}}
}

// Publish implements Signals. The subscribers are called outside the lock.
func (l *LocalSignals) Publish(_ context.Context, topic string) {
	l.mu.Lock()
	set := l.subs[topic]
	wakes := make([]func(), 0, len(set))
	for s := range set {
		wakes = append(wakes, s.wake)
	}
	l.mu.Unlock()
	for _, wake := range wakes {
		wake()
	}
}

// Subscribe implements Signals.
func (l *LocalSignals) Subscribe(topic string, wake func()) func() {
	s := &localSub{wake: wake}
	l.mu.Lock()
	set := l.subs[topic]
	if set == nil {
		set = map[*localSub]struct{}{}
		l.subs[topic] = set
	}
	set[s] = struct{}{}
	l.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if set := l.subs[topic]; set != nil {
				delete(set, s)
				if len(set) == 0 {
					delete(l.subs, topic)
				}
			}
		})
	}
}

// Waiters reports how many subscriptions are open, for tests and metrics.
func (l *LocalSignals) Waiters() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, set := range l.subs {
		n += len(set)
	}
	return n
}
