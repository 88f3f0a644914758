// Package health serves the operations endpoints every cleanframe service
// has on its listen address: /healthz (the process is alive), /readyz (it
// can do its work: brokers reachable, model loaded, partitions assigned)
// and /metrics (Prometheus), and the readiness checks the services share.
package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cleanframe/cleanframe/pipeline"
)

// Check is one readiness condition. Fn returns nil when it holds; it is
// given at most CheckTimeout.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// CheckTimeout bounds each readiness check.
const CheckTimeout = 3 * time.Second

// Handler returns a mux with GET /healthz (always 200 "ok"), GET /readyz
// (200 "ok" when every check passes, else 503 naming each failed check and
// its error) and, when metrics is not nil, GET /metrics. Mount a service's
// own API on the returned mux.
func Handler(metrics http.Handler, checks ...Check) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		var failed []string
		for _, c := range checks {
			ctx, cancel := context.WithTimeout(r.Context(), CheckTimeout)
			err := c.Fn(ctx)
			cancel()
			if err != nil {
				failed = append(failed, c.Name+": "+err.Error())
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if len(failed) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, strings.Join(failed, "\n")+"\n")
			return
		}
		io.WriteString(w, "ok\n")
	})
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	return mux
}

// Brokers checks that pc's brokers answer a metadata request.
func Brokers(pc *pipeline.Config) Check {
	return Check{Name: "kafka", Fn: func(ctx context.Context) error {
		return pipeline.Ping(ctx, pc)
	}}
}

// Flag is a condition a service sets once, such as a loaded model.
type Flag struct {
	name string
	ok   atomic.Bool
}

// NewFlag returns an unset flag named name.
func NewFlag(name string) *Flag { return &Flag{name: name} }

// Set marks the condition as met.
func (f *Flag) Set() { f.ok.Store(true) }

// Check returns a check that passes once f is set.
func (f *Flag) Check() Check {
	return Check{Name: f.name, Fn: func(context.Context) error {
		if !f.ok.Load() {
			return errors.New("not yet")
		}
		return nil
	}}
}

// Assigned checks that the consumer group has settled and given this
// process its share of topic: the group is Stable and the member whose id
// starts with pc.ClientID (brokers name members "client.id-uuid") holds at
// least one partition, or every partition is held by other members (more
// consumers than partitions: this one is a ready standby). pc.ClientID must
// be unique to the process.
func Assigned(pc *pipeline.Config, group, topic string) Check {
	return Check{Name: "partitions", Fn: func(ctx context.Context) error {
		gs, err := pipeline.DescribeGroup(ctx, pc, group, topic)
		if err != nil {
			return err
		}
		if gs.State != "Stable" {
			return fmt.Errorf("group %s is %s", group, gs.State)
		}
		held := 0
		for id, parts := range gs.Assigned {
			if strings.HasPrefix(id, pc.ClientID+"-") && len(parts) > 0 {
				return nil
			}
			held += len(parts)
		}
		end, err := pipeline.EndOffsets(ctx, pc, topic)
		if err != nil {
			return err
		}
		if held > 0 && held >= len(end) {
			return nil
		}
		return fmt.Errorf("no partition of %s assigned to %s", topic, pc.ClientID)
	}}
}
