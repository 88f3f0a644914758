package ingest

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cleanframe/cleanframe/internal/results"
	"github.com/cleanframe/cleanframe/pipeline"
)

// Accepted is the JSON body of a 202 answer to POST /v1/images.
type Accepted struct {
	ID        string `json:"id"`
	StatusURL string `json:"status_url"`
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	Offset    int64  `json:"offset"`
}

// Status is the JSON body of a 202 answer to GET /v1/images/{id}.
type Status struct {
	ID        string `json:"id"`
	Status    string `json:"status"` // "pending"
	StatusURL string `json:"status_url"`
}

// ErrorBody is the JSON body of an error answer.
type ErrorBody struct {
	Error  string `json:"error"`
	Status int    `json:"status"`
}

// OpenAPI is the OpenAPI 3 description of the API, served at
// GET /openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte

// Defaults of [API].
const (
	DefaultMaxInFlight = 64
	DefaultMaxWaiters  = 256
	DefaultMaxWait     = 30 * time.Second
)

// multipartSlack is what a multipart body may hold besides the image.
const multipartSlack = 64 << 10

// API serves the HTTP API; see [API.Handler]. Its zero value, with a
// Publisher, works. Set the fields before the first Handler call.
type API struct {
	// Publisher checks and publishes uploads; required.
	Publisher *Publisher
	// Results holds the outputs this replica follows (see package
	// results). Nil: a store nobody feeds, so images stay pending.
	Results *results.Store
	// Logger gets rejected uploads; nil is quiet. Access logs are
	// [WithRequestLog]'s.
	Logger *slog.Logger
	// MaxInFlight bounds uploads being read and published at once; one
	// more gets 429 with Retry-After. Default DefaultMaxInFlight.
	MaxInFlight int
	// MaxWaiters bounds requests waiting for their result at once; past
	// it an accepted upload answers 202 at once instead of waiting.
	// Default DefaultMaxWaiters.
	MaxWaiters int
	// MaxWait caps the wait a client asks for. Keep it under the server's
	// write timeout. Default DefaultMaxWait (30 s).
	MaxWait time.Duration

	once     sync.Once
	inFlight chan struct{}
	waiters  chan struct{}
	mux      *http.ServeMux
}

// Handler returns the HTTP API of a Publisher with no result store and
// the default limits, behind [WithRequestLog]: see [API.Handler].
func Handler(p *Publisher, log *slog.Logger) http.Handler {
	return WithRequestLog((&API{Publisher: p, Logger: log}).Handler(), log)
}

// Handler returns the API, described in openapi.yaml:
//
//	POST /v1/images       raw image (Content-Type image/*) or multipart/form-data
//	                      with the image in field "file"; optional headers
//	                      X-Image-Id, X-Noise-Sigma, traceparent, tracestate.
//	                      ?wait=DURATION or "Prefer: wait=SECONDS": 200 with the
//	                      cleaned image when it is ready within the wait.
//	                      Otherwise 202 with [Accepted] and Location once the
//	                      broker has acknowledged the record; 400, 413, 415, 429
//	                      or 503 with [ErrorBody].
//	GET  /v1/images/{id}  200 with the cleaned image and X-Model-Version; 202
//	                      with [Status] while pending (after the wait, if one
//	                      is asked as for POST); 400 or 404.
//	GET  /openapi.yaml    the description
//	GET  /healthz         200 "ok"
func (a *API) Handler() http.Handler {
	a.once.Do(a.init)
	return a.mux
}

func (a *API) init() {
	if a.Logger == nil {
		a.Logger = slog.New(slog.DiscardHandler)
	}
	if a.Results == nil {
		a.Results = results.NewStore(results.StoreConfig{})
	}
	if a.MaxInFlight <= 0 {
		a.MaxInFlight = DefaultMaxInFlight
	}
	if a.MaxWaiters <= 0 {
		a.MaxWaiters = DefaultMaxWaiters
	}
	if a.MaxWait <= 0 {
		a.MaxWait = DefaultMaxWait
	}
	a.inFlight = make(chan struct{}, a.MaxInFlight)
	a.waiters = make(chan struct{}, a.MaxWaiters)

	a.mux = http.NewServeMux()
	a.mux.HandleFunc("POST /v1/images", a.post)
	a.mux.HandleFunc("GET /v1/images/{id...}", a.get)
	a.mux.HandleFunc("GET /openapi.yaml", ServeOpenAPI)
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok\n")
	})
}

// ServeOpenAPI answers with [OpenAPI].
func ServeOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Write(OpenAPI)
}

// post handles POST /v1/images.
func (a *API) post(w http.ResponseWriter, r *http.Request) {
	wait, err := waitOf(r, a.MaxWait)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	select {
	case a.inFlight <- struct{}{}:
	default:
		w.Header().Set("Retry-After", "1")
		a.fail(w, r, &Error{http.StatusTooManyRequests, fmt.Errorf(
			"%d uploads in flight, the most this replica takes; retry later",
			a.MaxInFlight)})
		return
	}
	rec, err := a.publish(w, r)
	<-a.inFlight
	if err != nil {
		a.fail(w, r, err)
		return
	}
	id := string(rec.Key)
	acc := &Accepted{ID: id, StatusURL: statusURL(id), Topic: rec.Topic,
		Partition: rec.Partition, Offset: rec.Offset}
	a.Logger.DebugContext(r.Context(), "image accepted", "image_id", id,
		"topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset)

	if wait > 0 && a.await(w, r, id, wait) {
		return
	}
	w.Header().Set("Location", acc.StatusURL)
	writeJSON(w, http.StatusAccepted, acc)
}

// publish reads, checks and publishes one upload, marking it pending
// before the record is sent: its output may arrive before the broker's
// acknowledgement does.
func (a *API) publish(w http.ResponseWriter, r *http.Request) (*pipeline.Record, error) {
	img, err := a.readImage(w, r)
	if err != nil {
		return nil, err
	}
	if img.ID == "" {
		img.ID = NewID()
	}
	rec, err := a.Publisher.record(img)
	if err != nil {
		return nil, err
	}
	a.Results.Accept(img.ID)
	if err := a.Publisher.send(r.Context(), rec); err != nil {
		a.Results.Drop(img.ID)
		return nil, err
	}
	return rec, nil
}

// await waits up to d for id's result and writes it; false when none came
// (or too many requests wait already) and the caller should answer 202.
func (a *API) await(w http.ResponseWriter, r *http.Request, id string, d time.Duration) bool {
	select {
	case a.waiters <- struct{}{}:
		defer func() { <-a.waiters }()
	default:
		return false
	}
	ctx, cancel := context.WithTimeout(r.Context(), d)
	defer cancel()
	res, ok := a.Results.Wait(ctx, id)
	if !ok {
		return false
	}
	writeResult(w, res)
	return true
}

// get handles GET /v1/images/{id}.
func (a *API) get(w http.ResponseWriter, r *http.Request) {
	id, err := pipeline.ParseID([]byte(r.PathValue("id")))
	if err != nil {
		a.fail(w, r, &Error{http.StatusBadRequest, err})
		return
	}
	wait, err := waitOf(r, a.MaxWait)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res, st := a.Results.Get(id)
	if st == results.Pending && wait > 0 && a.await(w, r, id, wait) {
		return
	}
	if st == results.Pending {
		// It may have come during the wait, or gone.
		res, st = a.Results.Get(id)
	}
	switch st {
	case results.Ready, results.Failed:
		writeResult(w, res)
	case results.Pending:
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusAccepted, Status{ID: id, Status: "pending",
			StatusURL: statusURL(id)})
	default:
		a.fail(w, r, &Error{http.StatusNotFound, fmt.Errorf(
			"image %s is unknown here: never accepted, or its result expired", id)})
	}
}

// readImage reads the image of a raw or multipart upload and its headers.
func (a *API) readImage(w http.ResponseWriter, r *http.Request) (Image, error) {
	max := a.Publisher.MaxBytes
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var body []byte
	switch {
	case err == nil && strings.HasPrefix(ct, "image/"):
		if r.ContentLength > int64(max) {
			return Image{}, tooLarge(r.ContentLength, max)
		}
		body, err = readLimited(r.Body, max)
	case err == nil && ct == "multipart/form-data":
		if r.ContentLength > int64(max+multipartSlack) {
			return Image{}, tooLarge(r.ContentLength, max)
		}
		r.Body = http.MaxBytesReader(w, r.Body, int64(max+multipartSlack))
		body, err = readFilePart(r, max)
	default:
		return Image{}, &Error{http.StatusUnsupportedMediaType, fmt.Errorf(
			"content type %q: send the raw image with Content-Type image/png, image/jpeg "+
				"or image/gif, or multipart/form-data with the image in field \"file\"",
			r.Header.Get("Content-Type"))}
	}
	if err != nil {
		return Image{}, err
	}
	if len(body) == 0 {
		return Image{}, &Error{http.StatusBadRequest,
			errors.New("empty body: send the image's bytes")}
	}

	img := Image{ID: r.Header.Get("X-Image-Id"), Data: body, Source: "http",
		Traceparent: r.Header.Get("traceparent"), Tracestate: r.Header.Get("tracestate")}
	if v := r.Header.Get("X-Noise-Sigma"); v != "" {
		if img.NoiseSigma, err = pipeline.ParseSigma([]byte(v)); err != nil {
			return Image{}, &Error{http.StatusBadRequest, err}
		}
	}
	if img.ID != "" {
		if _, err := pipeline.ParseID([]byte(img.ID)); err != nil {
			return Image{}, &Error{http.StatusBadRequest, err}
		}
	}
	return img, nil
}

// readFilePart returns the "file" part of a multipart body.
func readFilePart(r *http.Request, max int) ([]byte, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, &Error{http.StatusBadRequest, fmt.Errorf("multipart body: %w", err)}
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil, &Error{http.StatusBadRequest,
				errors.New(`multipart body has no "file" field: send the image in it`)}
		}
		if err != nil {
			return nil, bodyError(err, max)
		}
		if part.FormName() == "file" {
			return readLimited(part, max)
		}
	}
}

// readLimited reads at most max bytes of r, or fails with 413.
func readLimited(r io.Reader, max int) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, int64(max)+1))
	if err != nil {
		return nil, bodyError(err, max)
	}
	if len(body) > max {
		return nil, tooLarge(-1, max)
	}
	return body, nil
}

func bodyError(err error, max int) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge(-1, max)
	}
	return &Error{http.StatusBadRequest, fmt.Errorf("read body: %w", err)}
}

// waitOf returns the wait a request asks for, capped at max: ?wait=30s
// (a Go duration, or plain seconds) or "Prefer: wait=30" (RFC 7240,
// seconds). Zero means answer at once.
func waitOf(r *http.Request, max time.Duration) (time.Duration, error) {
	v := r.URL.Query().Get("wait")
	if v == "" {
		for _, pref := range strings.FieldsFunc(r.Header.Get("Prefer"), func(c rune) bool {
			return c == ',' || c == ';'
		}) {
			if k, s, ok := strings.Cut(strings.TrimSpace(pref), "="); ok &&
				strings.EqualFold(k, "wait") {
				v = strings.TrimSpace(s)
			}
		}
	}
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if n, nerr := strconv.Atoi(v); nerr == nil {
		d, err = time.Duration(n)*time.Second, nil
	}
	if err != nil || d < 0 {
		return 0, &Error{http.StatusBadRequest, fmt.Errorf(
			"wait %q: want a duration such as 30s, or seconds", v)}
	}
	return min(d, max), nil
}

// fail answers err as an [ErrorBody] and logs it.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{http.StatusInternalServerError, err}
	}
	level := slog.LevelInfo
	if e.Status >= 500 {
		level = slog.LevelError
	}
	a.Logger.Log(r.Context(), level, "request failed", "status", e.Status,
		"request_id", RequestID(r.Context()), "err", err)
	writeJSON(w, e.Status, ErrorBody{Error: err.Error(), Status: e.Status})
}

// statusURL is the path of id's result.
func statusURL(id string) string { return "/v1/images/" + id }

// Failure is the JSON body of 422: the image was accepted, then refused by
// the denoiser and sent to the dead-letter topic.
type Failure struct {
	Error  string `json:"error"`  // the denoiser's reason
	Status int    `json:"status"` // 422, as in every error body
	ID     string `json:"id"`
	Stage  string `json:"stage"` // the step that refused it: decode, denoise, encode, ...
}

// writeResult answers 200 with a result, or 422 with a failed one.
func writeResult(w http.ResponseWriter, res results.Result) {
	if res.Failed != "" {
		writeJSON(w, http.StatusUnprocessableEntity, Failure{Error: res.Failed,
			Status: http.StatusUnprocessableEntity, ID: res.ID, Stage: res.Stage})
		return
	}
	h := w.Header()
	h.Set("Content-Type", res.ContentType)
	h.Set("Content-Length", strconv.Itoa(len(res.Data)))
	h.Set("X-Image-Id", res.ID)
	if res.ModelVersion != "" {
		h.Set("X-Model-Version", res.ModelVersion)
	}
	w.WriteHeader(http.StatusOK)
	w.Write(res.Data)
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
