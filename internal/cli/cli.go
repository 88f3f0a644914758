// Package cli holds what the cleanframe binaries share for their command
// lines: the main function, environment fallbacks for flags and the deferred
// shutdown of servers.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
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

// Main runs a command's run function with a context that ends on SIGINT or
// SIGTERM, and exits in one place: 0 on success or after -h printed the
// usage, 1 with "name: error" on standard error otherwise.
func Main(name string, run func(ctx context.Context, args []string) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}
