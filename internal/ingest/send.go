package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cleanframe/cleanframe/internal/imageio"
)

// Sender uploads images to the API, waits for them and writes the results:
// the client side of `ingest send`. Its zero value, with Server and OutDir
// set, works.
type Sender struct {
	// Server is the API's base URL, e.g. http://127.0.0.1:8080.
	Server string
	// Token is the bearer token, if the server wants one.
	Token string
	// OutDir receives each result as NAME.png, NAME being the input's
	// file name without its extension (NAME-2.png and so on when two
	// inputs share one).
	OutDir string
	// Concurrency is how many uploads run at once. Default 4.
	Concurrency int
	// Wait bounds the time for one image, upload to result, retries
	// after 429 or 503 included. Default 30 s.
	Wait time.Duration
	// Client sends the requests; default one with no timeout of its own
	// (Wait bounds each image).
	Client *http.Client
	// Progress gets a progress bar redrawn in place when TTY is set, else
	// one line per image; nil is quiet.
	Progress io.Writer
	TTY      bool
}

// Sent is the outcome of one image.
type Sent struct {
	Path, Out, ID, ModelVersion string
	Elapsed                     time.Duration
	Err                         error
}

// Send uploads each file of paths, and the images directly inside each
// folder of paths, and writes their results to OutDir. A failing image
// does not stop the others; the returned error joins every failure.
func (s *Sender) Send(ctx context.Context, paths []string) ([]Sent, error) {
	files, errs := expand(paths)
	if err := os.MkdirAll(s.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	if s.Concurrency <= 0 {
		s.Concurrency = 4
	}
	if s.Wait <= 0 {
		s.Wait = 30 * time.Second
	}
	if s.Client == nil {
		s.Client = &http.Client{}
	}
	outs := outNames(files)
	sent := make([]Sent, len(files))
	bar := &progress{w: s.Progress, tty: s.TTY, total: len(files)}

	work := make(chan int)
	var wg sync.WaitGroup
	for range min(s.Concurrency, max(len(files), 1)) {
		wg.Go(func() {
			for i := range work {
				sent[i] = s.one(ctx, files[i], filepath.Join(s.OutDir, outs[i]))
				bar.done(sent[i])
			}
		})
	}
	for i := range files {
		work <- i
	}
	close(work)
	wg.Wait()
	bar.finish()

	for _, r := range sent {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.Path, r.Err))
		}
	}
	return sent, errors.Join(errs...)
}

// outNames gives each input a distinct output file name.
func outNames(files []string) []string {
	seen := map[string]int{}
	names := make([]string, len(files))
	for i, f := range files {
		base := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
		seen[base]++
		names[i] = base + ".png"
		if n := seen[base]; n > 1 {
			names[i] = base + "-" + strconv.Itoa(n) + ".png"
		}
	}
	return names
}

// one uploads one file and writes its result.
func (s *Sender) one(ctx context.Context, path, out string) Sent {
	start := time.Now()
	r := Sent{Path: path, Out: out}
	ctx, cancel := context.WithTimeout(ctx, s.Wait)
	defer cancel()
	data, err := os.ReadFile(path)
	if err != nil {
		r.Err = err
		return r
	}

	// Poll the status URL while pending. Behind a Service, a replica
	// other than the one that took the upload may not know the image for
	// a moment: a 404 then is retried too.
	resp, err := s.upload(ctx, data)
	status := ""
	for err == nil {
		if resp.code == http.StatusAccepted {
			r.ID, status = resp.id, resp.statusURL
		} else if resp.code != http.StatusNotFound || status == "" {
			break
		} else if !sleep(ctx, 200*time.Millisecond) {
			break
		}
		resp, err = s.request(ctx, "GET", status, nil, "")
	}
	r.Elapsed = time.Since(start)
	if err != nil {
		r.Err = err
		return r
	}
	if resp.code != http.StatusOK {
		r.Err = fmt.Errorf("server answered %d: %s", resp.code, resp.message)
		return r
	}
	r.ID, r.ModelVersion = resp.header.Get("X-Image-Id"), resp.header.Get("X-Model-Version")
	r.Err = os.WriteFile(out, resp.body, 0o644)
	return r
}

// answer is what one request got.
type answer struct {
	code          int
	body          []byte
	header        http.Header
	id, statusURL string // of a 202
	message       string // of an error body
	retryAfter    time.Duration
}

// upload posts data, retrying after 429 and 503 within ctx.
func (s *Sender) upload(ctx context.Context, data []byte) (*answer, error) {
	ct := imageio.Sniff(data)
	if !strings.HasPrefix(ct, "image/") {
		ct = "application/octet-stream"
	}
	for {
		a, err := s.request(ctx, "POST", "/v1/images", data, ct)
		if err != nil || a.code != http.StatusTooManyRequests &&
			a.code != http.StatusServiceUnavailable {
			return a, err
		}
		if !sleep(ctx, a.retryAfter) {
			return a, nil
		}
	}
}

// sleep waits d, or less when ctx ends first: then it returns false.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// request sends one request asking to wait for what is left of ctx.
func (s *Sender) request(ctx context.Context, method, path string, body []byte,
	ct string) (*answer, error) {
	u := strings.TrimSuffix(s.Server, "/") + path
	if dl, ok := ctx.Deadline(); ok {
		u += "?wait=" + url.QueryEscape(time.Until(dl).Truncate(time.Millisecond).String())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if s.Token != "" {
		req.Header.Set("Authorization", "Bearer "+s.Token)
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	a := &answer{code: resp.StatusCode, body: b, header: resp.Header,
		retryAfter: time.Second}
	if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && n > 0 {
		a.retryAfter = time.Duration(n) * time.Second
	}
	switch {
	case a.code == http.StatusAccepted:
		var acc Accepted
		if err := json.Unmarshal(b, &acc); err != nil || acc.StatusURL == "" {
			return nil, fmt.Errorf("202 without a status_url: %.200s", b)
		}
		a.id, a.statusURL = acc.ID, acc.StatusURL
		if ctx.Err() != nil {
			return nil, fmt.Errorf("image %s not ready within the wait", acc.ID)
		}
	case a.code >= 400:
		var eb ErrorBody
		if json.Unmarshal(b, &eb) == nil && eb.Error != "" {
			a.message = eb.Error
		} else {
			a.message = strings.TrimSpace(string(b))
		}
	}
	return a, nil
}

// progress reports images done: a bar redrawn in place on a terminal,
// else a line each.
type progress struct {
	w          io.Writer
	tty        bool
	total      int
	mu         sync.Mutex
	ok, failed int
}

func (p *progress) done(r Sent) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if r.Err != nil {
		p.failed++
	} else {
		p.ok++
	}
	if !p.tty {
		if r.Err != nil {
			fmt.Fprintf(p.w, "failed %s: %v\n", r.Path, r.Err)
		} else {
			fmt.Fprintf(p.w, "ok %s -> %s id=%s model=%s %v\n", r.Path, r.Out, r.ID,
				r.ModelVersion, r.Elapsed.Round(time.Millisecond))
		}
		return
	}
	if r.Err != nil {
		fmt.Fprintf(p.w, "\r\033[Kfailed %s: %v\n", r.Path, r.Err)
	}
	const width = 30
	n := p.ok + p.failed
	fill := width * n / max(p.total, 1)
	fmt.Fprintf(p.w, "\r\033[K[%s%s] %d/%d", strings.Repeat("#", fill),
		strings.Repeat(".", width-fill), n, p.total)
	if p.failed > 0 {
		fmt.Fprintf(p.w, ", %d failed", p.failed)
	}
}

func (p *progress) finish() {
	if p.w != nil && p.tty {
		fmt.Fprintln(p.w)
	}
}
