package ingest

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

type requestIDKey struct{}

// RequestID returns the request id [WithRequestLog] put in ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// quietPaths are logged at Debug: probes and scrapes come every few
// seconds and say nothing.
var quietPaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// WithRequestLog gives every request an id and logs it when done. The id
// is the client's X-Request-Id when that is 1 to 128 bytes of letters,
// digits and -_.:/, else a new one; it is sent back as X-Request-Id and
// is in the context for [RequestID]. The access log is one Info line per
// request (Debug for /healthz, /readyz and /metrics): method, path,
// status, bytes, duration_ms, request_id, remote.
// log may be nil: ids, no logs.
func WithRequestLog(h http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = NewID()
		}
		w.Header().Set("X-Request-Id", id)
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		if log == nil {
			return
		}
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		level := slog.LevelInfo
		if quietPaths[r.URL.Path] {
			level = slog.LevelDebug
		}
		log.LogAttrs(r.Context(), level, "http request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", sw.status), slog.Int64("bytes", sw.n),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1e3),
			slog.String("request_id", id), slog.String("remote", r.RemoteAddr))
	})
}

func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for _, c := range []byte(id) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == ':' || c == '/'
		if !ok {
			return false
		}
	}
	return true
}

// statusWriter records the status and the bytes written.
type statusWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
