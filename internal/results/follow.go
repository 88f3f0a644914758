package results

import (
	"context"
	"errors"
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
	placed chan struct{} // closed once every reader is positioned
	mu     sync.Mutex
	err    error // the last failure to position the readers
}

// retryPause is how long a failed reader waits before it reopens.
const retryPause = 500 * time.Millisecond

// Follow starts following pc's denoised and noisy topics into s: it looks
// up the end of every partition (retrying while the brokers or the topics
// are not there yet), then runs a reader per partition from the end less
// the lookback, so that every record written after [Follower.Ready] first
// returns nil reaches s. Outputs become results; input keys become pending
// markers. The readers run until Close; a reader that fails reopens where
// it stopped. Partitions added later are not read.
func Follow(ctx context.Context, pc *pipeline.Config, s *Store, cfg FollowConfig) *Follower {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f := &Follower{cancel: cancel, placed: make(chan struct{}),
		err: errors.New("results readers not positioned yet")}
	f.wg.Go(func() { f.run(rctx, pc, s, cfg.Lookback, log) })
	return f
}

// run positions the readers, then starts them.
func (f *Follower) run(ctx context.Context, pc *pipeline.Config, s *Store, lookback int64,
	log *slog.Logger) {
	topics := pc.Topics()
	var starts map[string]map[int]int64
	for {
		var err error
		if starts, err = startOffsets(ctx, pc, lookback); err == nil {
			break
		}
		f.mu.Lock()
		f.err = err
		f.mu.Unlock()
		log.Warn("follow results: retrying", "err", err)
		pause(ctx, 2*time.Second)
		if ctx.Err() != nil {
			return
		}
	}
	for topic, parts := range starts {
		handle := s.output
		switch topic {
		case topics.Noisy:
			handle = s.input
		case topics.Deadletter:
			handle = func(rec pipeline.Record) { s.deadLetter(rec, topics.Noisy) }
		}
		for p, next := range parts {
			f.wg.Go(func() { follow(ctx, pc, topic, p, next, handle, log) })
		}
	}
	f.mu.Lock()
	f.err = nil
	f.mu.Unlock()
	close(f.placed)
	log.Info("following results", "topic", topics.Denoised,
		"partitions", len(starts[topics.Denoised]), "lookback", lookback)
}

// startOffsets returns where each reader starts, by topic and partition.
func startOffsets(ctx context.Context, pc *pipeline.Config,
	lookback int64) (map[string]map[int]int64, error) {
	topics := pc.Topics()
	starts := map[string]map[int]int64{}
	for _, topic := range []string{topics.Denoised, topics.Noisy, topics.Deadletter} {
		end, err := pipeline.EndOffsets(ctx, pc, topic)
		if err != nil {
			return nil, fmt.Errorf("follow results: %w", err)
		}
		if len(end) == 0 {
			return nil, fmt.Errorf("follow results: topic %s has no partitions", topic)
		}
		for p, o := range end {
			end[p] = max(o-lookback, 0)
		}
		starts[topic] = end
	}
	return starts, nil
}

// Ready returns nil once the readers are positioned, else why not: a
// readiness check.
func (f *Follower) Ready() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// WaitReady blocks until the readers are positioned or ctx ends.
func (f *Follower) WaitReady(ctx context.Context) error {
	select {
	case <-f.placed:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("follow results: %w (%v)", ctx.Err(), f.Ready())
	}
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
			pause(ctx, retryPause)
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
		pause(ctx, retryPause)
	}
}

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
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

// deadLetter records, as failed, an image of the input topic noisy that a
// denoiser sent to the dead-letter topic, so that its status says so instead
// of staying pending.
func (s *Store) deadLetter(rec pipeline.Record, noisy string) {
	if rec.HeaderString(pipeline.HeaderDLTopic) != noisy {
		return
	}
	id, err := pipeline.ParseID(rec.Key)
	if err != nil {
		return
	}
	reason := rec.HeaderString(pipeline.HeaderDLReason)
	if reason == "" {
		reason = "rejected by the denoiser"
	}
	s.Put(Result{ID: id, Failed: reason, Stage: rec.HeaderString(pipeline.HeaderDLStage)})
}
