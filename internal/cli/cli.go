// Package cli holds what the cleanframe binaries share for their command
// lines: environment fallbacks for flags and the deferred shutdown of servers.
package cli

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Env is the trimmed value of the environment variable name, or def when it
// is unset or blank.
func Env(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}

// EnvInt is the integer in name, or def when it is unset. A value that is not
// an integer is reported on standard error and def is used, so that a typo
// shows instead of passing silently.
func EnvInt(name string, def int64) int64 {
	v := Env(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ignoring %s=%q: not an integer; using %d\n", name, v, def)
		return def
	}
	return n
}

// EnvDuration is the duration in name (such as "5ms"), or def when it is
// unset; a malformed value is reported as EnvInt does.
func EnvDuration(name string, def time.Duration) time.Duration {
	v := Env(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ignoring %s=%q: not a duration such as 5ms; using %v\n",
			name, v, def)
		return def
	}
	return d
}

// Shutdown runs stop with 10 s to finish, for a deferred call at the end of a
// process: what stop returns is lost, as the process is ending.
func Shutdown(stop func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = stop(ctx)
}
