package ingest

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cleanframe/cleanframe/pipeline"
)

func TestSend(t *testing.T) {
	p := &echoProducer{}
	a := &API{Publisher: &Publisher{Producer: p, Topics: pipeline.TopicsFor("x"),
		MaxBytes: 4096}}
	srv := httptest.NewServer(RequireToken(a.Handler(), "tok"))
	defer srv.Close()
	p.store = a.Results

	in := t.TempDir()
	for _, name := range []string{"a.png", "b.png", "notes.txt"} {
		data := testPNG(t, 4, 4)
		if name == "notes.txt" {
			data = []byte("text")
		}
		if err := os.WriteFile(filepath.Join(in, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	other := filepath.Join(t.TempDir(), "a.png")
	os.WriteFile(other, testPNG(t, 5, 5), 0o644)
	bad := filepath.Join(t.TempDir(), "bad.png")
	os.WriteFile(bad, []byte("not a png"), 0o644)

	out := t.TempDir()
	var log bytes.Buffer
	s := &Sender{Server: srv.URL, Token: "tok", OutDir: out, Concurrency: 2,
		Wait: 10 * time.Second, Progress: &log}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sent, err := s.Send(ctx, []string{in, other, bad})

	if err == nil || !strings.Contains(err.Error(), "bad.png") ||
		!strings.Contains(err.Error(), "415") {
		t.Errorf("error %v, want bad.png's 415 named", err)
	}
	if len(sent) != 4 {
		t.Fatalf("%d images sent, want 4 (a, b, the other a, bad)", len(sent))
	}
	for _, name := range []string{"a.png", "b.png", "a-2.png"} {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil || !strings.HasPrefix(string(b), "clean ") {
			t.Errorf("%s: %q, %v; want the result", name, b, err)
		}
	}
	if n := strings.Count("\n"+log.String(), "\nok "); n != 3 ||
		!strings.Contains(log.String(), "failed "+bad) {
		t.Errorf("log %q, want 3 ok lines and bad.png failed", log.String())
	}
}
