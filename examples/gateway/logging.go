package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"
)

// requestIDHeader carries a request's ID: read from the request when a
// proxy in front set a usable one, and always sent back.
const requestIDHeader = "X-Request-ID"

// maxRequestID bounds an incoming request ID, which ends up in every log
// line of its request.
const maxRequestID = 64

type requestIDKey struct{}

// requestIDFrom returns the ID of the request whose context is ctx.
func requestIDFrom(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(requestIDKey{}).(string)
	return id, ok
}

// requestID is the incoming ID when it is well-formed (1 to 64 letters,
// digits and -_.:=+/, the characters of the usual formats: UUIDs, trace
// IDs), or a new random one: anything else could forge log lines or
// fields.
func requestID(incoming string) string {
	if len(incoming) > 0 && len(incoming) <= maxRequestID {
		ok := true
		for i := 0; i < len(incoming) && ok; i++ {
			c := incoming[i]
			ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
				c == '-' || c == '_' || c == '.' || c == ':' || c == '=' || c == '+' || c == '/'
		}
		if ok {
			return incoming
		}
	}
	return rand.Text()
}

// requestIDHandler adds the request ID found in a record's context to the
// record, so that every line logged while serving a request (the
// gateway's and the methods' log with the request's context) carries it.
type requestIDHandler struct{ slog.Handler }

// Handle implements slog.Handler.
func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id, ok := requestIDFrom(ctx); ok {
		r = r.Clone()
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(as)}
}

// WithGroup implements slog.Handler.
func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

// newLogger logs to w as text or JSON from level up, with request IDs.
func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(requestIDHandler{h})
}

// withRequestIDs makes log add request IDs, unless it does already.
func withRequestIDs(log *slog.Logger) *slog.Logger {
	if _, ok := log.Handler().(requestIDHandler); ok {
		return log
	}
	return slog.New(requestIDHandler{log.Handler()})
}

// opsPaths are the probes' and the scraper's: logged at debug level only,
// every few seconds of them would drown the rest.
var opsPaths = map[string]bool{"GET /healthz": true, "GET /readyz": true, "GET /metrics": true}

// instrument gives every request an ID (X-Request-ID, in the response and
// in the context for the log), counts it by route pattern and status, and
// logs it: its method, route pattern, status and duration. The path and the
// query are not logged, as they may hold a phone number (the demo inbox's
// ?to=); the pattern says which page it was.
func instrument(next http.Handler, log *slog.Logger, m *metrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := requestID(r.Header.Get(requestIDHeader))
		w.Header().Set(requestIDHeader, id)
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		// The muxes set the pattern on the request they serve, this one.
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		status := rec.statusLabel()
		elapsed := time.Since(start)
		if m != nil {
			m.request(route, status, elapsed)
		}
		level := slog.LevelInfo
		switch {
		case opsPaths[route]:
			level = slog.LevelDebug
		case rec.status >= 500:
			level = slog.LevelWarn
		}
		log.LogAttrs(r.Context(), level, "http request", slog.String("method", r.Method), slog.String("route", route),
			slog.String("status", status), slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000))
	})
}

// statusRecorder remembers a response's status. It hands the connection
// over when a handler takes it (Cl@ve Móvil's waiting pages and the app's
// long polls do), and flushes, like the ResponseWriter it wraps.
type statusRecorder struct {
	http.ResponseWriter
	status   int
	hijacked bool
}

func (s *statusRecorder) WriteHeader(status int) {
	if s.status == 0 {
		s.status = status
	}
	s.ResponseWriter.WriteHeader(status)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

// Flush implements http.Flusher.
func (s *statusRecorder) Flush() {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

// Hijack implements http.Hijacker.
func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(s.ResponseWriter).Hijack()
	if err == nil {
		s.hijacked = true
	}
	return c, rw, err
}

// Unwrap lets http.ResponseController reach the wrapped writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// statusLabel is the status for metrics and logs: "hijacked" when the
// handler took the connection over (its status is written later, outside
// net/http).
func (s *statusRecorder) statusLabel() string {
	switch {
	case s.hijacked:
		return "hijacked"
	case s.status == 0:
		return "200"
	}
	return strconv.Itoa(s.status)
}
