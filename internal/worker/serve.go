package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/cleanframe/cleanframe/pipeline"
)

// Serve runs one denoiser against Kafka until ctx ends: it joins group on
// pc's noisy topic, publishes to its denoised and deadletter topics, and,
// when decode is not nil, follows the models topic to swap models. It closes
// what it opens before returning; the error is nil after a clean stop.
func Serve(ctx context.Context, pc *pipeline.Config, group string, cfg Config, m Model,
	decode Decoder) error {
	cfg.Topics = pc.Topics()
	cfg.Group = group
	if cfg.MaxValueBytes == 0 {
		cfg.MaxValueBytes = pc.MaxValueBytes()
	}
	if cfg.Logger == nil {
		cfg.Logger = pc.Logger
	}
	in, err := pipeline.NewGroupConsumer(pc, group, cfg.Topics.Noisy)
	if err != nil {
		return fmt.Errorf("denoiser: %w", err)
	}
	out, err := pipeline.NewProducer(pc)
	if err != nil {
		in.Close()
		return fmt.Errorf("denoiser: %w", err)
	}
	d, err := New(cfg, in, out, m)
	if err != nil {
		in.Close()
		out.Close()
		return err
	}

	defer d.observe(pc, group)()
	var wg sync.WaitGroup
	if decode != nil {
		wg.Go(func() {
			if err := d.FollowModels(ctx, pc, decode); err != nil {
				d.log.Error("follow models topic", "topic", cfg.Topics.Models, "err", err)
			}
		})
	}
	d.log.Info("denoiser running", "topic", cfg.Topics.Noisy, "group", group,
		"model_version", m.Version(), "workers", d.cfg.Workers)
	runErr := d.Run(ctx)
	wg.Wait()
	err = errors.Join(runErr, in.Close(), out.Close())
	d.log.Info("denoiser stopped", "topic", cfg.Topics.Noisy, "group", group)
	return err
}
