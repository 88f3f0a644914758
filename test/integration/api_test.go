package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cleanframe/cleanframe/ae"
	"github.com/cleanframe/cleanframe/internal/imageio"
	"github.com/cleanframe/cleanframe/internal/ingest"
	"github.com/cleanframe/cleanframe/internal/results"
	"github.com/cleanframe/cleanframe/internal/worker"
	"github.com/cleanframe/cleanframe/pipeline"
)

// TestAPIReplicas is the API's acceptance test, on the embedded broker and
// on the real one of KAFKA_BROKERS: three ingest replicas, each with its
// own results follower and HTTP server on 127.0.0.1, and two denoisers
// that batch as `denoiser serve` does.
// CF_API_REQUESTS synchronous uploads (default 500, 60 with -short) from 16
// clients, spread round-robin over the replicas, must each get back the
// image an in-process denoise of the same input gives, byte for byte, and
// every other replica must answer GET with the same bytes. Then
// CF_API_LATENCY_N (default 8) 512×512 uploads one at a time give the
// latency at low load.
func TestAPIReplicas(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		e, err := pipeline.StartEmbedded(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		testAPIReplicas(t, ctx, broker{name: "embedded", brokers: e.Brokers()})
	})
	t.Run("kafka", func(t *testing.T) {
		addrs := os.Getenv("KAFKA_BROKERS")
		if addrs == "" {
			if os.Getenv("CI") != "" {
				t.Fatal("CI is set but KAFKA_BROKERS is not")
			}
			t.Skip("KAFKA_BROKERS not set; run scripts/kafka-local start and set it")
		}
		b := broker{name: "kafka", brokers: strings.Split(addrs, ",")}
		for _, a := range b.brokers {
			if !strings.HasPrefix(a, "127.0.0.1:") {
				t.Fatalf("KAFKA_BROKERS=%s: the suite talks only to 127.0.0.1", addrs)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		testAPIReplicas(t, ctx, b)
	})
}

func envCount(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// replica is one ingest replica: API, follower and server.
type replica struct {
	url string
}

// startReplica runs an ingest replica on e's topics until the test ends.
func (e *env) startReplica(t *testing.T, ctx context.Context) replica {
	t.Helper()
	store := results.NewStore(results.StoreConfig{MaxBytes: 64 << 20})
	f := results.Follow(ctx, e.cfg, store, results.FollowConfig{Logger: e.log})
	if err := f.WaitReady(ctx); err != nil {
		f.Close()
		t.Fatal(err)
	}
	api := &ingest.API{Publisher: e.publisher(t), Results: store, Logger: e.log,
		MaxWait: 60 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: ingest.WithRequestLog(api.Handler(), nil),
		ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		f.Close()
	})
	return replica{url: "http://" + ln.Addr().String()}
}

// startBatchDenoiser runs a denoiser as `denoiser serve` does, the model
// behind an ae.BatchDenoiser with the default settings (images that
// arrive together are denoised in one batch), until the test ends.
func (e *env) startBatchDenoiser(t *testing.T, ctx context.Context, group string) {
	t.Helper()
	batched := func(m *ae.Model) worker.Model { return ae.NewBatchDenoiser(m, 0, -1) }
	decode := func(data []byte) (worker.Model, error) {
		m, err := ae.Decode(data)
		if err != nil {
			return nil, err
		}
		return batched(m), nil
	}
	dctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	cfg := worker.Config{Workers: 2, Logger: e.log, DrainTimeout: 10 * time.Second}
	go func() { done <- worker.Serve(dctx, e.cfg, group, cfg, batched(model(t)), decode) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("denoiser stopped with %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("denoiser did not stop within 30 s")
		}
	})
}

// roundRobin spreads requests over replicas.
type roundRobin struct {
	next atomic.Uint64
	reps []replica
}

func (rr *roundRobin) pick() (int, replica) {
	i := int(rr.next.Add(1)-1) % len(rr.reps)
	return i, rr.reps[i]
}

// apiCase is one upload and the bytes it must get back.
type apiCase struct {
	id         string
	input, out []byte
	denoise    time.Duration // in process: decode, denoise, encode
}

// apiCases makes n distinct w×h inputs and their in-process outputs, on
// the path the denoiser takes: imageio.Decode, the model, imageio.EncodePNG.
func apiCases(t *testing.T, n, w, h int, grey bool, seed uint64) []apiCase {
	t.Helper()
	m := model(t)
	cases := make([]apiCase, n)
	// Two at a time, but large images one at a time, so that their time
	// compares with the pipeline's at low load.
	workers := 2
	if w*h > 128*128 {
		workers = 1
	}
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			for i := g; i < n; i += workers {
				in, err := imageio.EncodePNG(photo(w, h, seed+uint64(i), grey))
				if err != nil {
					t.Error(err)
					return
				}
				start := time.Now()
				img, _, err := imageio.Decode(in, 0)
				if err != nil {
					t.Error(err)
					return
				}
				clean, err := m.DenoiseImage(img)
				if err != nil {
					t.Error(err)
					return
				}
				out, err := imageio.EncodePNG(clean)
				if err != nil {
					t.Error(err)
					return
				}
				cases[i] = apiCase{id: fmt.Sprintf("api-%d-%d-%s", seed, i, runID),
					input: in, out: out, denoise: time.Since(start)}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return cases
}

func testAPIReplicas(t *testing.T, ctx context.Context, b broker) {
	requests := envCount("CF_API_REQUESTS", 500)
	if testing.Short() {
		requests = min(requests, 60)
	}
	latencyN := envCount("CF_API_LATENCY_N", 8)
	e := newEnv(t, ctx, b, "api")
	e.startBatchDenoiser(t, ctx, "api")
	e.startBatchDenoiser(t, ctx, "api")
	rr := &roundRobin{}
	for range 3 {
		rr.reps = append(rr.reps, e.startReplica(t, ctx))
	}
	client := &http.Client{Timeout: 90 * time.Second}
	want := model(t).Version()

	// Unknown and malformed ids, before any upload.
	checkStatus(t, ctx, client, rr.reps[0].url+"/v1/images/never-sent", 404)
	checkStatus(t, ctx, client, rr.reps[1].url+"/v1/images/a%20b", 400)

	cases := apiCases(t, requests, 24, 24, false, 1)
	start := time.Now()
	var sync200, fallback atomic.Int64
	work := make(chan apiCase)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for c := range work {
				i, rep := rr.pick()
				code, body, hdr, err := upload(ctx, client, rep.url+"/v1/images?wait=60s", c)
				if err != nil {
					t.Errorf("%s on replica %d: %v", c.id, i, err)
					continue
				}
				if code == http.StatusAccepted {
					// The wait ran out: fetch it from another replica.
					fallback.Add(1)
					code, body, hdr = poll(t, ctx, client,
						rr.reps[(i+1)%3].url+"/v1/images/"+c.id)
				} else {
					sync200.Add(1)
				}
				checkImage(t, c, i, code, body, hdr, want)
				// Another replica has it too, once its follower has read
				// the output: a wait covers that lag.
				other := (i + 2) % 3
				code, body, hdr = poll(t, ctx, client,
					rr.reps[other].url+"/v1/images/"+c.id+"?wait=10s")
				checkImage(t, c, other, code, body, hdr, want)
			}
		})
	}
	for _, c := range cases {
		work <- c
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(start)
	t.Logf("%s: %d uploads from 16 clients over 3 replicas, 2 denoisers: %d answered 200 "+
		"within the wait, %d fetched after a 202; %v in all (%.0f/s)", b.name, requests,
		sync200.Load(), fallback.Load(), elapsed.Round(time.Millisecond),
		float64(requests)/elapsed.Seconds())
	if fallback.Load() > 0 {
		t.Errorf("%d of %d synchronous uploads got 202 instead of their image",
			fallback.Load(), requests)
	}

	// Latency of a 512×512 colour image, one at a time.
	big := apiCases(t, latencyN, 512, 512, false, 1000)
	var lat []time.Duration
	for _, c := range big {
		i, rep := rr.pick()
		s := time.Now()
		code, body, hdr, err := upload(ctx, client, rep.url+"/v1/images?wait=60s", c)
		if err != nil {
			t.Fatal(err)
		}
		lat = append(lat, time.Since(s))
		checkImage(t, c, i, code, body, hdr, want)
	}
	slices.Sort(lat)
	var local []time.Duration
	for _, c := range big {
		local = append(local, c.denoise)
	}
	slices.Sort(local)
	t.Logf("%s: 512×512 PNG (%d bytes in, %d out), %d uploads one at a time: "+
		"p50 %v, p99 %v (nearest rank), min %v; the in-process decode, denoise and "+
		"encode of the same images, one at a time, took p50 %v", b.name, len(big[0].input), len(big[0].out),
		len(lat), rank(lat, 0.50), rank(lat, 0.99), lat[0].Round(time.Millisecond),
		rank(local, 0.50))
}

// rank is the nearest-rank percentile of sorted durations.
func rank(sorted []time.Duration, p float64) time.Duration {
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))].Round(time.Millisecond)
}

func upload(ctx context.Context, client *http.Client, url string,
	c apiCase) (int, []byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(c.input))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "image/png")
	req.Header.Set("X-Image-Id", c.id)
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, resp.Header, err
}

func get(t *testing.T, ctx context.Context, client *http.Client,
	url string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
		return 0, nil, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body, resp.Header
}

// poll GETs url until it is no longer 202 (or 404, which another replica
// may answer within its follower's lag), for up to a minute.
func poll(t *testing.T, ctx context.Context, client *http.Client,
	url string) (int, []byte, http.Header) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		code, body, hdr := get(t, ctx, client, url)
		if code != http.StatusAccepted && code != http.StatusNotFound ||
			time.Now().After(deadline) {
			return code, body, hdr
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func checkStatus(t *testing.T, ctx context.Context, client *http.Client, url string, want int) {
	t.Helper()
	if code, body, _ := get(t, ctx, client, url); code != want {
		t.Errorf("GET %s = %d %s, want %d", url, code, body, want)
	}
}

func checkImage(t *testing.T, c apiCase, rep, code int, body []byte, hdr http.Header,
	version string) {
	t.Helper()
	switch {
	case code != http.StatusOK:
		t.Errorf("%s on replica %d: status %d %.200s, want 200", c.id, rep, code, body)
	case !bytes.Equal(body, c.out):
		t.Errorf("%s on replica %d: %d bytes differ from the in-process denoise's %d",
			c.id, rep, len(body), len(c.out))
	case hdr.Get("X-Model-Version") != version:
		t.Errorf("%s on replica %d: X-Model-Version %q, want %q", c.id, rep,
			hdr.Get("X-Model-Version"), version)
	case hdr.Get("X-Image-Id") != c.id:
		t.Errorf("%s on replica %d: X-Image-Id %q", c.id, rep, hdr.Get("X-Image-Id"))
	}
}
