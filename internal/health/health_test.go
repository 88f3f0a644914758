package health

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEndpoints(t *testing.T) {
	model := NewFlag("model")
	broken := Check{Name: "kafka", Fn: func(context.Context) error { return errors.New("down") }}
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "m 1\n")
	})
	srv, err := Listen("127.0.0.1:0", Handler(metrics, model.Check(), broken))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	base := "http://" + srv.Addr()

	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q, want 200 ok", code, body)
	}
	code, body := get(t, base+"/readyz")
	if code != 503 || !strings.Contains(body, "model: not yet") ||
		!strings.Contains(body, "kafka: down") {
		t.Errorf("/readyz = %d %q, want 503 naming model and kafka", code, body)
	}
	if code, body := get(t, base+"/metrics"); code != 200 || body != "m 1\n" {
		t.Errorf("/metrics = %d %q", code, body)
	}

	model.Set()
	srv2, err := Listen("127.0.0.1:0", Handler(nil, model.Check()))
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Shutdown(context.Background())
	if code, body := get(t, "http://"+srv2.Addr()+"/readyz"); code != 200 || body != "ok\n" {
		t.Errorf("/readyz with every check passing = %d %q, want 200 ok", code, body)
	}
}
