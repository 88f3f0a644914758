package main

import (
	"bytes"
	"context"
	"image"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cleanframe/cleanframe/internal/imageio"
	"github.com/cleanframe/cleanframe/pipeline"
)

// TestServeToken runs "ingest serve" with --api-token-file against an
// embedded broker: uploads need the bearer token, health checks do not.
func TestServeToken(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e, err := pipeline.StartEmbedded(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	tokFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokFile, []byte("tok-123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() {
		served <- run(sctx, []string{"serve", "--brokers", strings.Join(e.Brokers(), ","),
			"--topic-prefix", "tok", "--listen", addr, "--api-token-file", tokFile,
			"--log-level", "error"})
	}()
	png, _ := imageio.EncodePNG(image.NewGray(image.Rect(0, 0, 5, 5)))
	post := func(auth string) int {
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/v1/images",
			bytes.NewReader(png))
		req.Header.Set("Content-Type", "image/png")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return -1
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// serve creates its topics in the background and answers 503 until they
	// exist, so wait for /readyz (which needs no token) before uploading.
	ready := func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	deadline := time.Now().Add(30 * time.Second)
	for !ready() {
		if time.Now().After(deadline) {
			t.Fatal("ingest serve not ready after 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, tt := range []struct {
		auth string
		want int
	}{{"", 401}, {"Bearer wrong", 401}, {"Bearer tok-123", 202}} {
		if got := post(tt.auth); got != tt.want {
			t.Errorf("POST with %q: %d, want %d", tt.auth, got, tt.want)
		}
	}
	if resp, err := http.Get("http://" + addr + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("GET /healthz without a token: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	stop()
	if err := <-served; err != nil {
		t.Errorf("serve after cancel = %v, want nil", err)
	}
}
