package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cleanframe/cleanframe/internal/imageio"
	"github.com/cleanframe/cleanframe/pipeline"
)

// fakeProducer acknowledges records at increasing offsets, or fails with err.
type fakeProducer struct {
	err  error
	mu   sync.Mutex
	recs []*pipeline.Record
}

func (p *fakeProducer) Produce(_ context.Context, recs ...*pipeline.Record) error {
	if p.err != nil {
		return p.err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range recs {
		r.Partition, r.Offset = 2, int64(len(p.recs))
		p.recs = append(p.recs, r)
	}
	return nil
}

func (p *fakeProducer) Close() error { return nil }

func testPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	b, err := imageio.EncodePNG(image.NewGray(image.Rect(0, 0, w, h)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHandler(t *testing.T) {
	png := testPNG(t, 8, 8)
	tests := []struct {
		name       string
		ct         string
		body       []byte
		headers    map[string]string
		produceErr error
		wantStatus int
		wantErr    string // in the error body
	}{
		{"png", "image/png", png, nil, nil, 202, ""},
		{"client id and sigma", "image/png", png,
			map[string]string{"X-Image-Id": "cam-1/0001", "X-Noise-Sigma": "25"}, nil, 202, ""},
		{"no content type", "", png, nil, nil, 415, "Content-Type image/png"},
		{"text", "text/plain", []byte("hi"), nil, nil, 415, "content type"},
		{"webp bytes", "image/webp", []byte("RIFF\x00\x00\x00\x00WEBPVP8 "), nil, nil, 415,
			"unsupported image format"},
		{"corrupt png", "image/png", png[:30], nil, nil, 400, "malformed png"},
		{"bad id", "image/png", png, map[string]string{"X-Image-Id": "a b"}, nil, 400,
			"parse id"},
		{"bad sigma", "image/png", png, map[string]string{"X-Noise-Sigma": "-3"}, nil, 400,
			"noise sigma"},
		{"over byte limit", "image/png", make([]byte, 4097), nil, nil, 413,
			"exceeds the record limit of 4096 bytes"},
		{"over pixel limit", "image/png", testPNG(t, 101, 100), nil, nil, 413,
			"exceeds the limit of 10000 pixels"},
		{"broker down", "image/png", png, nil, errors.New("connection refused"), 503,
			"retry later"},
		{"broker says too large", "image/png", png, nil,
			fmt.Errorf("produce: %w", pipeline.ErrRecordTooLarge), 413, "record too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fp := &fakeProducer{err: tt.produceErr}
			p := &Publisher{Producer: fp, Topics: pipeline.TopicsFor("x"), MaxBytes: 4096,
				MaxPixels: 10000}
			req := httptest.NewRequest("POST", "/v1/images", bytes.NewReader(tt.body))
			if tt.ct != "" {
				req.Header.Set("Content-Type", tt.ct)
			}
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			rr := httptest.NewRecorder()
			Handler(p, nil).ServeHTTP(rr, req)

			if rr.Code != tt.wantStatus {
				t.Fatalf("status %d (%s), want %d", rr.Code, rr.Body, tt.wantStatus)
			}
			if tt.wantStatus != 202 {
				var eb ErrorBody
				if err := json.Unmarshal(rr.Body.Bytes(), &eb); err != nil ||
					!strings.Contains(eb.Error, tt.wantErr) || eb.Status != tt.wantStatus {
					t.Errorf("error body %s, want status %d and error containing %q", rr.Body,
						tt.wantStatus, tt.wantErr)
				}
				return
			}
			var acc Accepted
			if err := json.Unmarshal(rr.Body.Bytes(), &acc); err != nil {
				t.Fatal(err)
			}
			rec := fp.recs[0]
			if acc.ID != string(rec.Key) || acc.Topic != "x.images.noisy" ||
				acc.Partition != 2 || acc.Offset != 0 {
				t.Errorf("accepted %+v, want id %s on x.images.noisy 2/0", acc, rec.Key)
			}
			if want := tt.headers["X-Image-Id"]; want != "" && acc.ID != want {
				t.Errorf("id %s, want the client's %s", acc.ID, want)
			}
			if !bytes.Equal(rec.Value, tt.body) ||
				rec.HeaderString(pipeline.HeaderContentType) != "image/png" ||
				rec.HeaderString(pipeline.HeaderID) != acc.ID ||
				rec.HeaderString(pipeline.HeaderNoiseSigma) != tt.headers["X-Noise-Sigma"] {
				t.Errorf("record headers %v, want id, content type and sigma", rec.Headers)
			}
			at := rec.HeaderString(pipeline.HeaderIngestedAt)
			if _, err := pipeline.ParseTime([]byte(at)); err != nil {
				t.Errorf("ingest time header: %v", err)
			}
		})
	}
}

func TestPublishFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.png", testPNG(t, 4, 4))
	write("b.PNG", testPNG(t, 5, 5))
	write("broken.png", []byte("\x89PNG\r\n\x1a\n"))
	write("notes.txt", []byte("not an image"))
	single := filepath.Join(t.TempDir(), "c.png")
	if err := os.WriteFile(single, testPNG(t, 3, 3), 0o644); err != nil {
		t.Fatal(err)
	}

	fp := &fakeProducer{}
	p := &Publisher{Producer: fp, Topics: pipeline.TopicsFor(""), MaxBytes: 1 << 20}
	var out bytes.Buffer
	err := PublishFiles(context.Background(), p, true,
		[]string{dir, filepath.Join(dir, "missing.png"), single}, &out)

	if err == nil || !strings.Contains(err.Error(), "broken.png") ||
		!strings.Contains(err.Error(), "missing.png") {
		t.Errorf("error %v, want failures for broken.png and missing.png", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || len(fp.recs) != 3 {
		t.Fatalf("printed %q and published %d, want 3 files", out.String(), len(fp.recs))
	}
	for i, want := range []string{"a.png", "b.PNG", "c.png"} {
		id, path, _ := strings.Cut(lines[i], "\t")
		rec := fp.recs[i]
		if filepath.Base(path) != want || id != string(rec.Key) ||
			rec.Topic != "images.clean" || rec.HeaderString(pipeline.HeaderSource) != "file:"+want {
			t.Errorf("line %q, record %s on %s from %s; want %s on images.clean", lines[i],
				rec.Key, rec.Topic, rec.HeaderString(pipeline.HeaderSource), want)
		}
	}
}
