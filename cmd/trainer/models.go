package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cleanframe/cleanframe/internal/retrain"
	"github.com/cleanframe/cleanframe/pipeline"
)

const modelsUsage = `usage: trainer models COMMAND [flags] ARGS

commands:
  list                      versions on the models topic: parent, creation
                            time, size, metrics, which is current and pinned
  pin NAME VERSION          hold every denoiser following NAME at VERSION
                            (a pin record on the models topic); VERSION is
                            published again if it is not current
  unpin NAME                lift the pin: denoisers follow new versions again
  rollback NAME [VERSION]   publish VERSION again as current; default: the
                            current version's parent

Flags (before the arguments) are the pipeline's: -brokers, -topic-prefix, …`

// runModels runs the registry commands against the models topic.
func runModels(ctx context.Context, log *slog.Logger, args []string) error {
	return modelsCommand(ctx, log, os.Stdout, args)
}

func modelsCommand(ctx context.Context, log *slog.Logger, out io.Writer, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("models: no command given\n%s", modelsUsage)
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(out, modelsUsage)
		return nil
	}
	cmd := args[0]
	fs := flag.NewFlagSet("models "+cmd, flag.ContinueOnError)
	var pc pipeline.Config
	pc.RegisterFlags(fs)
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after this long")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	pc.Logger = log
	if err := pc.Validate(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	rest := fs.Args()
	need := func(lo, hi int) error {
		if len(rest) < lo || len(rest) > hi {
			return fmt.Errorf("models %s: wrong arguments %q\n%s", cmd, rest, modelsUsage)
		}
		return nil
	}

	switch cmd {
	case "list":
		if err := need(0, 0); err != nil {
			return err
		}
		reg, err := retrain.ReadRegistry(ctx, &pc)
		if err != nil {
			return err
		}
		return printRegistry(out, reg)
	case "pin":
		if err := need(2, 2); err != nil {
			return err
		}
		if err := retrain.Pin(ctx, &pc, rest[0], rest[1]); err != nil {
			return err
		}
		fmt.Fprintf(out, "pinned %s to %s\n", rest[0], rest[1])
		return nil
	case "unpin":
		if err := need(1, 1); err != nil {
			return err
		}
		if err := retrain.Pin(ctx, &pc, rest[0], ""); err != nil {
			return err
		}
		fmt.Fprintf(out, "unpinned %s\n", rest[0])
		return nil
	case "rollback":
		if err := need(1, 2); err != nil {
			return err
		}
		version := ""
		if len(rest) == 2 {
			version = rest[1]
		}
		v, err := retrain.Rollback(ctx, &pc, rest[0], version)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "rolled %s back to %s\n", rest[0], v)
		return nil
	}
	return errors.New("models: unknown command " + cmd + "\n" + modelsUsage)
}

// printRegistry writes one line per version, oldest first.
func printRegistry(w io.Writer, reg *retrain.Registry) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tPARENT\tCREATED\tSIZE\tSTATE\tMETRICS")
	for _, e := range reg.Entries {
		var state []string
		if e.Current {
			state = append(state, "current")
		}
		if e.Pinned {
			state = append(state, "pinned")
		}
		switch {
		case e.Have != e.Chunks:
			state = append(state, fmt.Sprintf("incomplete %d/%d", e.Have, e.Chunks))
		case e.Invalid != "":
			state = append(state, "refused")
			e.HeaderErr = e.Invalid
		}
		if len(state) == 0 {
			state = append(state, "-")
		}
		created := "-"
		if !e.Created.IsZero() {
			created = e.Created.UTC().Format(time.RFC3339)
		}
		var ms []string
		for _, k := range slices.Sorted(maps.Keys(e.Metrics)) {
			ms = append(ms, fmt.Sprintf("%s=%.4g", k, e.Metrics[k]))
		}
		if e.HeaderErr != "" {
			ms = []string{e.HeaderErr}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1f MB\t%s\t%s\n", e.Name, e.Version,
			dash(e.Parent), created, float64(e.Length)/1e6, strings.Join(state, ","),
			dash(strings.Join(ms, " ")))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
