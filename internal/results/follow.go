package results

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cleanframe/cleanframe/pipeline"
)

// FollowConfig says where a [Follower] starts.
type FollowConfig struct {
	// Lookback is how many records before the end of each partition the
	// readers start at, so that a restarted replica knows the recent
	// outputs and inputs. Default 0: from the end at start-up.
	Lookback int64
	// Logger gets read errors (Warn) and start-up (Info); nil is quiet.
	Logger *slog.Logger
}

// Follower feeds a store from the denoised and noisy topics, with one
// partition reader per partition of each and no consumer group.
type Follower struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// retryPause is how long a failed reader waits before it reopens.
const retryPause = 500 * time.Millisecond

// Follow positions a reader on every partition of pc's denoised and noisy
// topics (at the end, less the lookback) and returns once they are placed,
// so that every record written after Follow returns reaches s. Outputs
// become results; input keys become pending markers. The readers run until
// Close; a reader that fails reopens where it stopped. Partitions added
// after Follow returns are not read.
func Follow(ctx context.Context, pc *pipeline.Config, s *Store,
	cfg FollowConfig) (*Follower, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	topics := pc.Topics()
	starts := map[string]map[int]int64{}
	for _, topic := range []string{topics.Denoised, topics.Noisy} {
		end, err := pipeline.EndOffsets(ctx, pc, topic)
		if err != nil {
			return nil, fmt.Errorf("follow results: %w", err)
		}
		for p, o := range end {
			end[p] = max(o-cfg.Lookback, 0)
		}
		starts[topic] = end
	}

	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f := &Follower{cancel: cancel}
	for topic, parts := range starts {
		handle := s.output
		if topic == topics.Noisy {
			handle = s.input
		}
		for p, next := range parts {
			f.wg.Go(func() { follow(rctx, pc, topic, p, next, handle, log) })
		}
	}
	log.Info("following results", "topic", topics.Denoised,
		"partitions", len(starts[topics.Denoised]), "lookback", cfg.Lookback)
	return f, nil
}

// Close stops the readers and waits for them.
func (f *Follower) Close() {
	f.cancel()
	f.wg.Wait()
}

// follow reads one partition from next until ctx ends.
func follow(ctx context.Context, pc *pipeline.Config, topic string, part int, next int64,
	handle func(pipeline.Record), log *slog.Logger) {
	for ctx.Err() == nil {
		r, err := pipeline.NewPartitionReader(pc, topic, part, next)
		if err != nil {
			log.Warn("open results reader", "topic", topic, "partition", part, "err", err)
			pause(ctx)
			continue
		}
		for {
			rec, err := r.Read(ctx)
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("read results", "topic", topic, "partition", part,
						"offset", next, "err", err)
				}
				break
			}
			next = rec.Offset + 1
			handle(rec)
		}
		r.Close()
		pause(ctx)
	}
}

func pause(ctx context.Context) {
	t := time.NewTimer(retryPause)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// output stores an images.denoised record.
func (s *Store) output(rec pipeline.Record) {
	id, err := pipeline.ParseID(rec.Key)
	if err != nil || len(rec.Value) == 0 {
		return
	}
	ct := rec.HeaderString(pipeline.HeaderContentType)
	if ct == "" {
		ct = "image/png"
	}
	s.Put(Result{ID: id, Data: rec.Value, ContentType: ct,
		ModelVersion: rec.HeaderString(pipeline.HeaderModelVersion)})
}

// input marks the key of an images.noisy record pending.
func (s *Store) input(rec pipeline.Record) {
	if id, err := pipeline.ParseID(rec.Key); err == nil {
		s.Seen(id)
	}
}
