package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/cleanframe/cleanframe/pipeline"
)

// Accepted is the JSON body of a 202 answer to POST /v1/images.
type Accepted struct {
	ID        string `json:"id"`
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	Offset    int64  `json:"offset"`
}

// ErrorBody is the JSON body of an error answer.
type ErrorBody struct {
	Error  string `json:"error"`
	Status int    `json:"status"`
}

// Handler returns the HTTP API:
//
//	POST /v1/images  raw image body, Content-Type image/*; optional headers
//	                 X-Image-Id (the id to use), X-Noise-Sigma, traceparent,
//	                 tracestate. 202 with [Accepted] once the broker has
//	                 acknowledged the record; 400, 413, 415 or 503 with
//	                 [ErrorBody] otherwise.
//	GET  /healthz    200 "ok"
//
// log may be nil.
func Handler(p *Publisher, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/images", func(w http.ResponseWriter, r *http.Request) {
		acc, err := postImage(p, r)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				e = &Error{http.StatusInternalServerError, err}
			}
			level := slog.LevelInfo
			if e.Status >= 500 {
				level = slog.LevelError
			}
			log.Log(r.Context(), level, "image rejected", "status", e.Status, "err", err)
			writeJSON(w, e.Status, ErrorBody{Error: err.Error(), Status: e.Status})
			return
		}
		log.Debug("image accepted", "image_id", acc.ID, "topic", acc.Topic,
			"partition", acc.Partition, "offset", acc.Offset)
		writeJSON(w, http.StatusAccepted, acc)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok\n")
	})
	return mux
}

// postImage reads, checks and publishes one upload.
func postImage(p *Publisher, r *http.Request) (*Accepted, error) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(ct, "image/") {
		return nil, &Error{http.StatusUnsupportedMediaType, fmt.Errorf(
			"content type %q: send the raw image with Content-Type image/png, image/jpeg "+
				"or image/gif", r.Header.Get("Content-Type"))}
	}
	if r.ContentLength > int64(p.MaxBytes) {
		return nil, tooLarge(r.ContentLength, p.MaxBytes)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(p.MaxBytes)+1))
	if err != nil {
		return nil, &Error{http.StatusBadRequest, fmt.Errorf("read body: %w", err)}
	}
	if len(body) > p.MaxBytes {
		return nil, tooLarge(-1, p.MaxBytes)
	}

	img := Image{ID: r.Header.Get("X-Image-Id"), Data: body, Source: "http",
		Traceparent: r.Header.Get("traceparent"), Tracestate: r.Header.Get("tracestate")}
	if v := r.Header.Get("X-Noise-Sigma"); v != "" {
		if img.NoiseSigma, err = pipeline.ParseSigma([]byte(v)); err != nil {
			return nil, &Error{http.StatusBadRequest, err}
		}
	}
	rec, err := p.Publish(r.Context(), img)
	if err != nil {
		return nil, err
	}
	return &Accepted{ID: string(rec.Key), Topic: rec.Topic, Partition: rec.Partition,
		Offset: rec.Offset}, nil
}

func tooLarge(n int64, limit int) error {
	size := "more than " + strconv.Itoa(limit)
	if n >= 0 {
		size = strconv.FormatInt(n, 10)
	}
	return &Error{http.StatusRequestEntityTooLarge, fmt.Errorf(
		"body of %s bytes exceeds the record limit of %d bytes; "+
			"send a smaller or more compressed image", size, limit)}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
