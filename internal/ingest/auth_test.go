package ingest

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

func TestRequireToken(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	})
	h := RequireToken(ok, "s3cret-token")
	tests := []struct {
		name, auth string
		want       int
	}{
		{"right", "Bearer s3cret-token", http.StatusAccepted},
		{"scheme in lower case", "bearer s3cret-token", http.StatusAccepted},
		{"missing", "", http.StatusUnauthorized},
		{"wrong", "Bearer s3cret-tokeN", http.StatusUnauthorized},
		{"prefix of the token", "Bearer s3cret", http.StatusUnauthorized},
		{"token plus more", "Bearer s3cret-token2", http.StatusUnauthorized},
		{"basic scheme", "Basic s3cret-token", http.StatusUnauthorized},
		{"scheme only", "Bearer", http.StatusUnauthorized},
		{"empty credentials", "Bearer  ", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "/v1/images", nil)
		if tt.auth != "" {
			r.Header.Set("Authorization", tt.auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, w.Code, tt.want)
		}
		if w.Code == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", tt.name)
		}
	}
	if RequireToken(ok, "") == nil {
		t.Error("an empty token must leave the handler open, not nil")
	}
}

func TestLoadToken(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "token")
	os.WriteFile(f, []byte("  abc\n"), 0o600)
	if tok, err := LoadToken(f); err != nil || tok != "abc" {
		t.Errorf("LoadToken = %q, %v", tok, err)
	}
	os.WriteFile(f, []byte("\n"), 0o600)
	if _, err := LoadToken(f); err == nil {
		t.Error("an empty token file must be an error")
	}
	if _, err := LoadToken(filepath.Join(dir, "none")); err == nil {
		t.Error("a missing token file must be an error")
	}
}
