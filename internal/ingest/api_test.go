package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/cleanframe/cleanframe/internal/results"
	"github.com/cleanframe/cleanframe/pipeline"
)

// echoProducer acknowledges records and, like a denoiser, puts an output
// for each into a store; with block set it waits on it first.
type echoProducer struct {
	store   *results.Store
	err     error
	block   chan struct{} // when not nil, Produce waits for it to close
	reject  bool          // the echoed result is a dead letter
	entered chan struct{} // when not nil, gets a value as Produce starts
}

func (p *echoProducer) Produce(ctx context.Context, recs ...*pipeline.Record) error {
	if p.entered != nil {
		p.entered <- struct{}{}
	}
	if p.block != nil {
		<-p.block
	}
	if p.err != nil {
		return p.err
	}
	for _, r := range recs {
		if p.store != nil {
			// The output may come before the acknowledgement.
			res := results.Result{ID: string(r.Key), Data: []byte("clean " +
				string(r.Key)), ContentType: "image/png", ModelVersion: "v9"}
			if p.reject {
				res = results.Result{ID: string(r.Key), Failed: "malformed png",
					Stage: "decode"}
			}
			p.store.Put(res)
		}
	}
	return nil
}

func (p *echoProducer) Close() error { return nil }

// apiCase is one request to the API and the status it must get.
type apiCase struct {
	name   string
	method string
	target string
	ct     string
	body   []byte
	header map[string]string
	// setup prepares the API (its producer and store) before the request.
	setup func(a *API, p *echoProducer)
	token bool // send the request through RequireToken without a token
	want  int
	check func(t *testing.T, rr *httptest.ResponseRecorder)
}

func multipartBody(t *testing.T, field string, data []byte) ([]byte, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, err := mw.CreateFormFile(field, "x.png")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	return b.Bytes(), mw.FormDataContentType()
}

func apiCases(t *testing.T) []apiCase {
	png := testPNG(t, 8, 8)
	mp, mpCT := multipartBody(t, "file", png)
	noFile, noFileCT := multipartBody(t, "other", png)
	bigMP, bigCT := multipartBody(t, "file", make([]byte, 5000))
	echo := func(a *API, p *echoProducer) { p.store = a.Results }
	bodyIs := func(want string) func(*testing.T, *httptest.ResponseRecorder) {
		return func(t *testing.T, rr *httptest.ResponseRecorder) {
			if rr.Body.String() != want || rr.Header().Get("X-Model-Version") != "v9" {
				t.Errorf("body %q, model %q; want %q from v9", rr.Body,
					rr.Header().Get("X-Model-Version"), want)
			}
		}
	}
	accepted := func(t *testing.T, rr *httptest.ResponseRecorder) {
		var acc Accepted
		if err := json.Unmarshal(rr.Body.Bytes(), &acc); err != nil || acc.ID == "" ||
			acc.StatusURL != "/v1/images/"+acc.ID || rr.Header().Get("Location") != acc.StatusURL {
			t.Errorf("body %s, Location %q; want id and status_url", rr.Body,
				rr.Header().Get("Location"))
		}
	}
	return []apiCase{
		{name: "raw", method: "POST", target: "/v1/images", ct: "image/png", body: png,
			want: 202, check: accepted},
		{name: "multipart", method: "POST", target: "/v1/images", ct: mpCT, body: mp,
			want: 202, check: accepted},
		{name: "wait ready", method: "POST", target: "/v1/images?wait=5s", ct: "image/png",
			body: png, header: map[string]string{"X-Image-Id": "w1"}, setup: echo, want: 200,
			check: bodyIs("clean w1")},
		{name: "prefer wait ready", method: "POST", target: "/v1/images", ct: mpCT, body: mp,
			header: map[string]string{"X-Image-Id": "w2", "Prefer": "respond-async, wait=5"},
			setup:  echo, want: 200, check: bodyIs("clean w2")},
		{name: "wait dead-lettered", method: "POST", target: "/v1/images?wait=5s",
			ct: "image/png", body: png, setup: func(a *API, p *echoProducer) {
				p.store, p.reject = a.Results, true
			}, want: 422},
		{name: "wait runs out", method: "POST", target: "/v1/images?wait=20ms",
			ct: "image/png", body: png, want: 202, check: accepted},
		{name: "bad wait", method: "POST", target: "/v1/images?wait=soon", ct: "image/png",
			body: png, want: 400},
		{name: "multipart without file", method: "POST", target: "/v1/images", ct: noFileCT,
			body: noFile, want: 400},
		{name: "multipart too large", method: "POST", target: "/v1/images", ct: bigCT,
			body: bigMP, want: 413},
		{name: "text", method: "POST", target: "/v1/images", ct: "text/plain",
			body: []byte("hi"), want: 415},
		{name: "saturated", method: "POST", target: "/v1/images", ct: "image/png", body: png,
			setup: func(a *API, _ *echoProducer) {
				for range cap(a.inFlight) {
					a.inFlight <- struct{}{}
				}
			}, want: 429},
		{name: "broker down", method: "POST", target: "/v1/images", ct: "image/png", body: png,
			setup: func(_ *API, p *echoProducer) { p.err = errors.New("connection refused") },
			want:  503},
		{name: "no token", method: "POST", target: "/v1/images", ct: "image/png", body: png,
			token: true, want: 401},
		{name: "ready", method: "GET", target: "/v1/images/cam-1/7",
			setup: func(a *API, _ *echoProducer) {
				a.Results.Put(results.Result{ID: "cam-1/7", Data: []byte("clean"),
					ContentType: "image/png", ModelVersion: "v9"})
			}, want: 200, check: bodyIs("clean")},
		{name: "pending", method: "GET", target: "/v1/images/p1",
			setup: func(a *API, _ *echoProducer) { a.Results.Seen("p1") }, want: 202},
		{name: "pending wait runs out", method: "GET", target: "/v1/images/p1?wait=20ms",
			setup: func(a *API, _ *echoProducer) { a.Results.Seen("p1") }, want: 202},
		{name: "bad id", method: "GET", target: "/v1/images/a%20b", want: 400},
		{name: "unknown", method: "GET", target: "/v1/images/nope", want: 404},
		{name: "dead-lettered", method: "GET", target: "/v1/images/bad1",
			setup: func(a *API, _ *echoProducer) {
				a.Results.Seen("bad1")
				a.Results.Put(results.Result{ID: "bad1", Failed: "malformed png", Stage: "decode"})
			}, want: 422, check: func(t *testing.T, rr *httptest.ResponseRecorder) {
				want := `{"error":"malformed png","status":422,"id":"bad1","stage":"decode"}`
				if got := strings.TrimSpace(rr.Body.String()); got != want {
					t.Errorf("body %s, want %s", got, want)
				}
			}},
		{name: "get no token", method: "GET", target: "/v1/images/nope", token: true, want: 401},
		{name: "openapi", method: "GET", target: "/openapi.yaml", want: 200},
		{name: "healthz", method: "GET", target: "/healthz", want: 200},
	}
}

// TestAPI drives every route to every status it answers, and checks that
// the set of (method, path, status) served equals the one openapi.yaml
// describes.
func TestAPI(t *testing.T) {
	served := map[string]bool{}
	for _, tt := range apiCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			p := &echoProducer{}
			a := &API{Publisher: &Publisher{Producer: p, Topics: pipeline.TopicsFor("x"),
				MaxBytes: 4096, MaxPixels: 10000}}
			h := a.Handler()
			if tt.setup != nil {
				tt.setup(a, p)
			}
			if tt.token {
				h = RequireToken(h, "secret")
			}
			req := httptest.NewRequest(tt.method, tt.target, bytes.NewReader(tt.body))
			if tt.ct != "" {
				req.Header.Set("Content-Type", tt.ct)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rr := httptest.NewRecorder()
			WithRequestLog(h, nil).ServeHTTP(rr, req)

			if rr.Code != tt.want {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.target, rr.Code, rr.Body,
					tt.want)
			}
			if rr.Code >= 400 {
				var eb ErrorBody
				if err := json.Unmarshal(rr.Body.Bytes(), &eb); err != nil ||
					eb.Status != rr.Code || eb.Error == "" {
					t.Errorf("error body %s, want JSON naming the problem", rr.Body)
				}
			}
			if tt.check != nil {
				tt.check(t, rr)
			}
			_, pattern := a.mux.Handler(req)
			served[fmt.Sprintf("%s %d", strings.TrimSuffix(pattern, "...}")+
				strings.Repeat("}", strings.Count(pattern, "...}")), rr.Code)] = true
		})
	}

	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]any `json:"responses"`
		} `json:"paths"`
	}
	if err := yaml.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	described := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			for code := range op.Responses {
				described[fmt.Sprintf("%s %s %s", strings.ToUpper(method), path, code)] = true
			}
		}
	}
	for k := range served {
		if !described[k] {
			t.Errorf("served but not in openapi.yaml: %s", k)
		}
	}
	for k := range described {
		if !served[k] {
			t.Errorf("in openapi.yaml but no test case serves it: %s", k)
		}
	}
	if t.Failed() {
		t.Logf("served: %v", slices.Sorted(func(yield func(string) bool) {
			for k := range served {
				if !yield(k) {
					return
				}
			}
		}))
	}
}

// TestAPISaturated fills the in-flight uploads and checks that one more
// gets 429 with Retry-After at once, not a queue.
func TestAPISaturated(t *testing.T) {
	p := &echoProducer{block: make(chan struct{}), entered: make(chan struct{}, 1)}
	a := &API{Publisher: &Publisher{Producer: p, Topics: pipeline.TopicsFor("x"),
		MaxBytes: 4096}, MaxInFlight: 1}
	h := a.Handler()
	png := testPNG(t, 4, 4)
	post := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/v1/images", bytes.NewReader(png))
		req.Header.Set("Content-Type", "image/png")
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, req)
		return rr
	}
	var wg sync.WaitGroup
	var first *httptest.ResponseRecorder
	wg.Go(func() { first = post() })
	<-p.entered

	rr := post()
	if rr.Code != http.StatusTooManyRequests || rr.Header().Get("Retry-After") == "" {
		t.Errorf("second upload = %d, Retry-After %q; want 429 with Retry-After", rr.Code,
			rr.Header().Get("Retry-After"))
	}
	close(p.block)
	wg.Wait()
	if first.Code != http.StatusAccepted {
		t.Errorf("first upload = %d, want 202", first.Code)
	}
	if rr := post(); rr.Code != http.StatusAccepted {
		t.Errorf("upload after the first ended = %d, want 202", rr.Code)
	}
}

// TestAPIClientDeadline checks that a waiting upload ends with its
// client's context, long before the wait asked for.
func TestAPIClientDeadline(t *testing.T) {
	a := &API{Publisher: &Publisher{Producer: &echoProducer{}, Topics: pipeline.TopicsFor("x"),
		MaxBytes: 4096}}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, "POST", "/v1/images?wait=30s",
		bytes.NewReader(testPNG(t, 4, 4)))
	req.Header.Set("Content-Type", "image/png")
	start := time.Now()
	a.Handler().ServeHTTP(httptest.NewRecorder(), req)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("upload waited %v after its client's deadline of 50 ms", d)
	}
}

func TestRequestID(t *testing.T) {
	h := WithRequestLog(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, RequestID(r.Context()))
	}), nil)
	for _, tt := range []struct{ name, in string }{
		{"client's", "req-42"}, {"none", ""}, {"malformed", "a b\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/", nil)
			if tt.in != "" {
				req.Header.Set("X-Request-Id", tt.in)
			}
			rr := httptest.NewRecorder()
			h.ServeHTTP(rr, req)
			got := rr.Header().Get("X-Request-Id")
			if got != rr.Body.String() || got == "" || validRequestID(tt.in) && got != tt.in ||
				!validRequestID(got) {
				t.Errorf("X-Request-Id in %q: out %q, context %q", tt.in, got, rr.Body)
			}
		})
	}
}
