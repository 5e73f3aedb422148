// Package limit counts events per key in fixed windows, with a bound on the
// keys it remembers, so that limits per client, per identifier and globally
// cost bounded memory whatever the traffic: a limiter that is full refuses
// new keys rather than grow (deny on doubt).
package limit

import (
	"sync"
	"time"
)

// Window allows at most Max events per key in each Per.
type Window struct {
	Max int
	Per time.Duration
	// MaxKeys bounds the keys remembered; default 100,000.
	MaxKeys int
	// Now is the clock; default time.Now.
	Now func() time.Time

	mu   sync.Mutex
	keys map[string]*window
}

type window struct {
	start time.Time
	n     int
}

// Allow counts one event for key and reports whether it is within the limit;
// when it is not, retryAt is when the key's window ends.
func (w *Window) Allow(key string) (ok bool, retryAt time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	if w.keys == nil {
		w.keys = map[string]*window{}
	}
	e := w.keys[key]
	if e != nil && !now.Before(e.start.Add(w.Per)) {
		e.start, e.n = now, 0
	}
	if e == nil {
		if len(w.keys) >= w.maxKeys() {
			w.prune(now)
			if len(w.keys) >= w.maxKeys() {
				return false, now.Add(w.Per)
			}
		}
		e = &window{start: now}
		w.keys[key] = e
	}
	if e.n >= w.Max {
		return false, e.start.Add(w.Per)
	}
	e.n++
	return true, time.Time{}
}

func (w *Window) prune(now time.Time) {
	for k, e := range w.keys {
		if !now.Before(e.start.Add(w.Per)) {
			delete(w.keys, k)
		}
	}
}

func (w *Window) now() time.Time { return clock(w.Now) }

func (w *Window) maxKeys() int { return keyBound(w.MaxKeys) }

func clock(now func() time.Time) time.Time {
	if now != nil {
		return now()
	}
	return time.Now()
}

// keyBound is MaxKeys, or its default.
func keyBound(max int) int {
	if max > 0 {
		return max
	}
	return 100_000
}

// Distinct allows each key at most Max distinct values per Per: a client
// trying identifier after identifier is what guessing across many citizens
// looks like, while a person uses one or two.
type Distinct struct {
	Max int
	Per time.Duration
	// MaxKeys bounds the keys remembered; default 100,000.
	MaxKeys int
	// Now is the clock; default time.Now.
	Now func() time.Time

	mu   sync.Mutex
	keys map[string]*distinct
}

type distinct struct {
	start  time.Time
	values map[string]struct{}
}

// Allow records value for key and reports whether key stays within Max
// distinct values; a value already seen in the window is always allowed.
func (d *Distinct) Allow(key, value string) (ok bool, retryAt time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := clock(d.Now)
	if d.keys == nil {
		d.keys = map[string]*distinct{}
	}
	e := d.keys[key]
	if e != nil && !now.Before(e.start.Add(d.Per)) {
		e.start, e.values = now, map[string]struct{}{}
	}
	if e == nil {
		max := keyBound(d.MaxKeys)
		if len(d.keys) >= max {
			for k, v := range d.keys {
				if !now.Before(v.start.Add(d.Per)) {
					delete(d.keys, k)
				}
			}
			if len(d.keys) >= max {
				return false, now.Add(d.Per)
			}
		}
		e = &distinct{start: now, values: map[string]struct{}{}}
		d.keys[key] = e
	}
	if _, seen := e.values[value]; seen {
		return true, time.Time{}
	}
	if len(e.values) >= d.Max {
		return false, e.start.Add(d.Per)
	}
	e.values[value] = struct{}{}
	return true, time.Time{}
}
