package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"
)

// readyTimeout bounds the database ping of /readyz: a database slower than
// this is as good as down for a login, and probes must answer promptly.
const readyTimeout = 2 * time.Second

// pinger is the database, as /readyz sees it.
type pinger interface {
	PingContext(ctx context.Context) error
}

// readiness answers /readyz: ready while the database answers a ping within
// readyTimeout and the gateway is not shutting down.
type readiness struct {
	db       pinger
	timeout  time.Duration
	log      *slog.Logger
	draining atomic.Bool
	// down remembers the last answer, so that only changes are logged:
	// probes come every few seconds.
	down atomic.Bool
}

func newReadiness(db pinger, log *slog.Logger) *readiness {
	return &readiness{db: db, timeout: readyTimeout, log: log}
}

// drain makes /readyz answer 503 from now on: the gateway is shutting down.
func (rd *readiness) drain() { rd.draining.Store(true) }

// ServeHTTP serves /readyz.
func (rd *readiness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reason := ""
	if rd.draining.Load() {
		reason = "shutting down"
	} else {
		ctx, cancel := context.WithTimeout(r.Context(), rd.timeout)
		err := rd.db.PingContext(ctx)
		late := errors.Is(ctx.Err(), context.DeadlineExceeded)
		cancel()
		if err != nil {
			// The error is logged, not sent: it may name hosts.
			reason = "database unavailable"
			if late {
				reason = fmt.Sprintf("database did not answer within %s", rd.timeout)
			}
			if !rd.down.Swap(true) {
				rd.log.WarnContext(r.Context(), "not ready: the database does not answer", "error", err)
			}
		} else if rd.down.Swap(false) {
			rd.log.InfoContext(r.Context(), "ready: the database answers again")
		}
	}
	if reason != "" {
		writeProbe(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": reason})
		return
	}
	writeProbe(w, http.StatusOK, map[string]string{"status": "ready"})
}

// healthz answers /healthz: the process is up and serving.
func healthz(w http.ResponseWriter, _ *http.Request) {
	writeProbe(w, http.StatusOK, map[string]string{"status": "ok"})
}

func writeProbe(w http.ResponseWriter, status int, body map[string]string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
