package ingest

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// LoadToken reads a bearer token from a file, trimming surrounding
// whitespace (a Kubernetes Secret file often ends in a newline). An empty
// file is an error: it would let anyone in.
func LoadToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("api token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("api token file %s is empty", path)
	}
	return tok, nil
}

// RequireToken returns h behind bearer-token authentication: a request
// must carry "Authorization: Bearer TOKEN" or it gets 401 with an
// [ErrorBody]. The comparison takes the same time whatever the token sent:
// both sides are hashed with SHA-256 first, so neither the content nor the
// length of the secret leaks through timing. An empty token returns h
// unchanged. Put only the API behind it, not health or metrics endpoints.
func RequireToken(h http.Handler, token string) http.Handler {
	if token == "" {
		return h
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := bearer(r.Header.Get("Authorization"))
		sum := sha256.Sum256([]byte(got))
		if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 || !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="cleanframe"`)
			err := errors.New("missing or wrong bearer token")
			writeJSON(w, http.StatusUnauthorized,
				ErrorBody{Error: err.Error(), Status: http.StatusUnauthorized})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// bearer returns the credentials of an Authorization header of the Bearer
// scheme, which is case-insensitive.
func bearer(v string) (string, bool) {
	scheme, cred, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	cred = strings.TrimSpace(cred)
	return cred, cred != ""
}
