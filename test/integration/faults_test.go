//go:build linux

// Process-level faults (issue 3): a denoiser killed with SIGKILL mid-batch and
// restarted, and the Kafka broker stopped and started while images flow. The
// services run as real child processes (binaries built from ./cmd/denoiser and
// ./cmd/ingest); the test talks to them through Kafka and HTTP on 127.0.0.1.
//
// Brokers:
//   - TestFaultDenoiserKilled runs against the embedded broker always, and against
//     KAFKA_BROKERS when it is set.
//   - TestFaultBrokerRestart needs a broker it owns and may stop: with
//     CF_KAFKA_CONTROL naming scripts/kafka-local (.ci/run sets it), it starts a
//     private single-node Apache Kafka on a free port of 127.0.0.1, so that no other
//     test's broker goes down under it. Without CF_KAFKA_CONTROL it is skipped,
//     except when CI is set, where that is a failure.
//
// Linux only: children get PR_SET_PDEATHSIG so that none outlives a test binary
// killed by its timeout.
package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cleanframe/cleanframe/pipeline"
)

// faultBroker is one broker a fault test runs against.
type faultBroker struct {
	name    string
	brokers []string
}

// faultBrokers returns the embedded broker, started for t, and the one
// KAFKA_BROKERS names if set. When CI is set, a missing KAFKA_BROKERS fails.
func faultBrokers(t *testing.T, ctx context.Context) []faultBroker {
	t.Helper()
	e, err := pipeline.StartEmbedded(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	bs := []faultBroker{{"embedded", e.Brokers()}}
	if v := os.Getenv("KAFKA_BROKERS"); v != "" {
		addrs := strings.Split(v, ",")
		for _, a := range addrs {
			if !strings.HasPrefix(a, "127.0.0.1:") {
				t.Fatalf("KAFKA_BROKERS=%s: the suite talks only to 127.0.0.1", v)
			}
		}
		bs = append(bs, faultBroker{"kafka", addrs})
	} else if os.Getenv("CI") != "" {
		t.Fatal("CI is set but KAFKA_BROKERS is not: the suite must run against Apache Kafka in CI")
	}
	return bs
}

func faultPrefix(kind string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return "fault-" + kind + "-" + hex.EncodeToString(b)
}

// faultImages returns n distinct PNG images: 128×128 tiles of the example
// photographs (grey and colour), each made unique by a small mark.
func faultImages(t *testing.T, n int) [][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "..", "examples", "images", "*.png"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no example images under examples/images: %v", err)
	}
	sort.Strings(paths)
	var srcs []image.Image
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		srcs = append(srcs, img)
	}
	const side = 128
	out := make([][]byte, n)
	for i := range out {
		src := srcs[i%len(srcs)]
		b := src.Bounds()
		k := i / len(srcs)
		x0 := b.Min.X + (k*37)%(b.Dx()-side)
		y0 := b.Min.Y + (k*53)%(b.Dy()-side)
		r := image.Rect(0, 0, side, side)
		var dst draw.Image
		if _, grey := src.(*image.Gray); grey {
			dst = image.NewGray(r)
		} else {
			dst = image.NewNRGBA(r)
		}
		draw.Draw(dst, r, src, image.Pt(x0, y0), draw.Src)
		// a few pixels encode i, so that no two inputs are equal
		for bit := 0; bit < 16; bit++ {
			v := uint8(0)
			if i>>bit&1 == 1 {
				v = 255
			}
			switch d := dst.(type) {
			case *image.Gray:
				d.Pix[bit] = v
			case *image.NRGBA:
				d.Pix[4*bit], d.Pix[4*bit+1], d.Pix[4*bit+2] = v, v, v
			}
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, dst); err != nil {
			t.Fatal(err)
		}
		out[i] = buf.Bytes()
	}
	return out
}

// faultProduce publishes images with ids prefix-000… and returns the ids the
// broker acknowledged.
func faultProduce(ctx context.Context, t *testing.T, p pipeline.Producer, topic, idPrefix string,
	imgs [][]byte, first int) []string {
	t.Helper()
	recs := make([]*pipeline.Record, len(imgs))
	ids := make([]string, len(imgs))
	for i, v := range imgs {
		ids[i] = fmt.Sprintf("%s-%04d", idPrefix, first+i)
		recs[i] = faultRecord(topic, ids[i], v)
	}
	if err := p.Produce(ctx, recs...); err != nil {
		t.Fatalf("produce %d images: %v", len(recs), err)
	}
	return ids
}

func faultRecord(topic, id string, v []byte) *pipeline.Record {
	return &pipeline.Record{
		Topic: topic,
		Key:   []byte(id),
		Value: v,
		Headers: []pipeline.Header{
			{Key: pipeline.HeaderID, Value: []byte(id)},
			{Key: pipeline.HeaderContentType, Value: []byte("image/png")},
			{Key: pipeline.HeaderSource, Value: []byte("faults_test")},
			{Key: pipeline.HeaderIngestedAt, Value: []byte(pipeline.FormatTime(time.Now()))},
		},
	}
}

// faultCollector reads every partition of a topic from the start, without a
// consumer group, and counts records by key. Read errors (a broker away) are
// retried: kafka-go's reader reconnects by itself.
type faultCollector struct {
	t      *testing.T
	mu     sync.Mutex
	count  map[string]int
	bad    []string // records whose headers break the contract
	total  int
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newFaultCollector(ctx context.Context, t *testing.T, cfg *pipeline.Config, topic string,
	partitions int, check func(pipeline.Record) error) *faultCollector {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	c := &faultCollector{t: t, count: map[string]int{}, cancel: cancel}
	for p := 0; p < partitions; p++ {
		r, err := pipeline.NewPartitionReader(cfg, topic, p, pipeline.FirstOffset)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			defer r.Close()
			var failingSince time.Time
			for {
				rec, err := r.Read(ctx)
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					if failingSince.IsZero() {
						failingSince = time.Now()
						t.Logf("collector %s/%d: %v (retrying)", topic, p, err)
					}
					time.Sleep(200 * time.Millisecond)
					continue
				}
				if !failingSince.IsZero() {
					t.Logf("collector %s/%d: reading again after %.1fs", topic, p,
						time.Since(failingSince).Seconds())
					failingSince = time.Time{}
				}
				c.mu.Lock()
				c.count[string(rec.Key)]++
				c.total++
				if check != nil {
					if err := check(rec); err != nil {
						c.bad = append(c.bad, fmt.Sprintf("%s/%d@%d key %q: %v",
							rec.Topic, rec.Partition, rec.Offset, rec.Key, err))
					}
				}
				c.mu.Unlock()
			}
		}()
	}
	t.Cleanup(c.stop)
	return c
}

func (c *faultCollector) stop() {
	c.cancel()
	c.wg.Wait()
}

// distinct returns how many distinct keys were seen and how many records.
func (c *faultCollector) distinct() (keys, records int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.count), c.total
}

// missing returns the ids not seen yet.
func (c *faultCollector) missing(ids []string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var m []string
	for _, id := range ids {
		if c.count[id] == 0 {
			m = append(m, id)
		}
	}
	return m
}

// duplicates returns the ids seen more than once, with their counts.
func (c *faultCollector) duplicates() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := map[string]int{}
	for k, n := range c.count {
		if n > 1 {
			d[k] = n
		}
	}
	return d
}

func (c *faultCollector) badRecords() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.bad...)
}

// faultWait polls cond every 100 ms until it holds or ctx ends.
func faultWait(ctx context.Context, cond func() bool) bool {
	for {
		if cond() {
			return true
		}
		select {
		case <-ctx.Done():
			return cond()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// faultCheckDenoised checks an output record: key, cf-id and a model version.
func faultCheckDenoised(r pipeline.Record) error {
	if id := r.HeaderString(pipeline.HeaderID); id != string(r.Key) {
		return fmt.Errorf("header %s = %q, want the key", pipeline.HeaderID, id)
	}
	if r.HeaderString(pipeline.HeaderModelVersion) == "" {
		return fmt.Errorf("no %s header", pipeline.HeaderModelVersion)
	}
	if _, err := png.DecodeConfig(bytes.NewReader(r.Value)); err != nil {
		return fmt.Errorf("value is not a PNG: %v", err)
	}
	return nil
}

// faultBuild builds the named commands of ./cmd into a temporary folder of t
// and returns their paths by name.
func faultBuild(t *testing.T, ctx context.Context, names ...string) map[string]string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	dir := t.TempDir()
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	bins := map[string]string{}
	for _, n := range names {
		args = append(args, "github.com/cleanframe/cleanframe/cmd/"+n)
		bins[n] = filepath.Join(dir, n)
	}
	start := time.Now()
	if b, err := exec.CommandContext(ctx, goBin, args...).CombinedOutput(); err != nil {
		t.Fatalf("go build %v: %v\n%s", names, err, b)
	}
	t.Logf("built %v in %.1fs", names, time.Since(start).Seconds())
	return bins
}

// faultChild is a service running as a child process, its output in a file.
type faultChild struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error // of Wait, once done is closed
}

func faultStartChild(t *testing.T, name, bin string, env []string, args ...string) *faultChild {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	f.Close()
	c := &faultChild{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	t.Logf("started %s (pid %d): %s %s", name, cmd.Process.Pid, filepath.Base(bin),
		strings.Join(args, " "))
	t.Cleanup(func() {
		if c.running() {
			c.stop(t, 10*time.Second)
		}
		if t.Failed() {
			c.dumpLog(t, 40)
		}
	})
	return c
}

func (c *faultChild) running() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits; it fails t unless the process died of it.
func (c *faultChild) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill %s: %v", c.name, err)
	}
	<-c.done
	ws, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("%s ended with %v, want death by SIGKILL", c.name, c.cmd.ProcessState)
	}
	t.Logf("killed %s (pid %d) with SIGKILL", c.name, c.cmd.Process.Pid)
}

// stop sends SIGTERM, waits up to grace, then SIGKILL.
func (c *faultChild) stop(t *testing.T, grace time.Duration) {
	t.Helper()
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(grace):
		t.Errorf("%s did not stop within %v of SIGTERM; killing it", c.name, grace)
		c.cmd.Process.Kill()
		<-c.done
	}
}

func (c *faultChild) dumpLog(t *testing.T, lines int) {
	t.Helper()
	b, err := os.ReadFile(c.log)
	if err != nil {
		return
	}
	var ls []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		ls = append(ls, sc.Text())
	}
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	t.Logf("last lines of %s's log:\n%s", c.name, strings.Join(ls, "\n"))
}

// faultServeArgs are the arguments of `denoiser serve` for cfg and group.
func faultServeArgs(cfg *pipeline.Config, group string) []string {
	return []string{"serve",
		"--brokers", strings.Join(cfg.Brokers, ","),
		"--topic-prefix", cfg.TopicPrefix,
		"--partitions", strconv.Itoa(cfg.Partitions),
		"--group", group,
		"--listen", "127.0.0.1:0", // any free port for /healthz, /readyz, /metrics
	}
}

// faultCommittedAll reports whether group has committed every record of topic.
func faultCommittedAll(ctx context.Context, cfg *pipeline.Config, group, topic string) (bool, string) {
	end, err := pipeline.EndOffsets(ctx, cfg, topic)
	if err != nil {
		return false, err.Error()
	}
	com, err := pipeline.CommittedOffsets(ctx, cfg, group, topic)
	if err != nil {
		return false, err.Error()
	}
	ok := true
	for p, e := range end {
		c, has := com[p]
		if e > 0 && (!has || c < e) {
			ok = false
		}
	}
	return ok, fmt.Sprintf("committed %v, end %v", com, end)
}

// TestFaultDenoiserKilled: a denoiser is killed with SIGKILL while it has
// images in flight, then started again; every accepted image still comes out
// of images.denoised, duplicates allowed and recognisable by id.
func TestFaultDenoiserKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the denoiser binary; skipped in -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	bin := faultBuild(t, ctx, "denoiser")["denoiser"]
	for _, b := range faultBrokers(t, ctx) {
		t.Run(b.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(ctx, 150*time.Second)
			defer cancel()
			faultDenoiserKilled(ctx, t, bin, b.brokers)
		})
	}
}

func faultDenoiserKilled(ctx context.Context, t *testing.T, bin string, brokers []string) {
	cfg := &pipeline.Config{Brokers: brokers, TopicPrefix: faultPrefix("kill"), Partitions: 2}
	if err := pipeline.EnsureTopics(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	topics := cfg.Topics()
	group := cfg.TopicPrefix + "-denoiser"

	prod, err := pipeline.NewProducer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	const first, second = 40, 8
	imgs := faultImages(t, first+second)
	accepted := faultProduce(ctx, t, prod, topics.Noisy, "kill", imgs[:first], 0)

	out := newFaultCollector(ctx, t, cfg, topics.Denoised, cfg.Partitions, faultCheckDenoised)
	dead := newFaultCollector(ctx, t, cfg, topics.Deadletter, cfg.Partitions, nil)

	d1 := faultStartChild(t, "denoiser-1", bin, nil, faultServeArgs(cfg, group)...)
	// kill once a quarter of the images came out: some offsets are committed,
	// and the denoiser holds more images in flight
	if !faultWait(ctx, func() bool { n, _ := out.distinct(); return n >= first/4 || !d1.running() }) {
		t.Fatalf("no output from denoiser-1 before the deadline")
	}
	if !d1.running() {
		t.Fatalf("denoiser-1 exited by itself: %v", d1.err)
	}
	d1.kill(t)
	keys, recs := out.distinct()
	full, offs := faultCommittedAll(ctx, cfg, group, topics.Noisy)
	t.Logf("at the kill: %d of %d images out (%d records); %s", keys, len(accepted), recs, offs)
	if full {
		t.Errorf("denoiser-1 had committed everything before the kill: the test did not kill it mid-batch")
	}

	// more images arrive while no denoiser runs
	accepted = append(accepted, faultProduce(ctx, t, prod, topics.Noisy, "kill", imgs[first:], first)...)

	d2 := faultStartChild(t, "denoiser-2", bin, nil, faultServeArgs(cfg, group)...)
	if !faultWait(ctx, func() bool { return len(out.missing(accepted)) == 0 || !d2.running() }) ||
		!d2.running() {
		m := out.missing(accepted)
		t.Fatalf("%d of %d accepted images never came out (denoiser-2 running: %v): %v",
			len(m), len(accepted), d2.running(), m)
	}
	if !faultWait(ctx, func() bool { ok, _ := faultCommittedAll(ctx, cfg, group, topics.Noisy); return ok }) {
		_, offs := faultCommittedAll(ctx, cfg, group, topics.Noisy)
		t.Errorf("denoiser-2 did not commit all input: %s", offs)
	}
	keys, recs = out.distinct()
	dups := out.duplicates()
	t.Logf("all %d accepted images came out: %d records, %d ids duplicated by the replay",
		len(accepted), recs, len(dups))
	if keys != len(accepted) {
		t.Errorf("%d distinct output ids, want %d", keys, len(accepted))
	}
	for _, b := range out.badRecords() {
		t.Errorf("bad output: %s", b)
	}
	if n, _ := dead.distinct(); n != 0 {
		t.Errorf("%d valid images went to deadletter", n)
	}
	d2.stop(t, 30*time.Second)
}

// faultKafka runs scripts/kafka-local for a private broker.
type faultKafka struct {
	script string
	port   int
	env    []string
}

func (k *faultKafka) run(ctx context.Context, t *testing.T, args ...string) {
	t.Helper()
	args = append(args, "--port", strconv.Itoa(k.port))
	cmd := exec.CommandContext(ctx, k.script, args...)
	cmd.Env = append(os.Environ(), k.env...)
	start := time.Now()
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(k.script), strings.Join(args, " "), err, b)
	}
	t.Logf("%s %s: %.1fs", filepath.Base(k.script), strings.Join(args, " "),
		time.Since(start).Seconds())
}

// faultFreePorts returns a port p of 127.0.0.1 with p and p+1 free just now.
func faultFreePorts(t *testing.T) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+1))
		l.Close()
		if err == nil {
			l2.Close()
			return p
		}
	}
	t.Fatal("no free pair of ports on 127.0.0.1")
	return 0
}

// faultPrivateKafka starts an Apache Kafka that only this test uses, through
// CF_KAFKA_CONTROL, and stops it when the test ends.
func faultPrivateKafka(ctx context.Context, t *testing.T) *faultKafka {
	t.Helper()
	script := os.Getenv("CF_KAFKA_CONTROL")
	if script == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set but CF_KAFKA_CONTROL is not (it names scripts/kafka-local; .ci/run sets it)")
		}
		t.Skip("CF_KAFKA_CONTROL is not set: set it to scripts/kafka-local to stop and start a broker")
	}
	if abs, err := filepath.Abs(script); err == nil {
		script = abs
	}
	// state under CF_KAFKA_SCRATCH when set, so that .ci/run can stop a broker
	// left behind by a test binary killed on timeout
	root := os.Getenv("CF_KAFKA_SCRATCH")
	if root == "" {
		root = t.TempDir()
	}
	state, err := os.MkdirTemp(root, "restart-kafka-")
	if err != nil {
		t.Fatal(err)
	}
	k := &faultKafka{script: script, port: faultFreePorts(t), env: []string{
		"KAFKA_STATE_DIR=" + state,
		"KAFKA_HEAP_OPTS=-Xms128m -Xmx512m",
		"KAFKA_CONTROLLER_PORT=",
	}}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(state, "kafka.log")); err == nil {
				lines := strings.Split(strings.TrimSpace(string(b)), "\n")
				if len(lines) > 30 {
					lines = lines[len(lines)-30:]
				}
				t.Logf("last lines of the private broker's log:\n%s", strings.Join(lines, "\n"))
			}
		}
		k.run(cctx, t, "stop")
		os.RemoveAll(state)
	})
	k.run(ctx, t, "start", "--fresh")
	return k
}

// TestFaultBrokerRestart: the broker is stopped and started again while
// images flow through ingest (HTTP) and the denoiser, both child processes;
// every image ingest accepted (202) comes out of images.denoised, and both
// services reconnect on their own.
func TestFaultBrokerRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts its own Apache Kafka; skipped in -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	k := faultPrivateKafka(ctx, t)
	bins := faultBuild(t, ctx, "denoiser", "ingest")

	cfg := &pipeline.Config{Brokers: []string{"127.0.0.1:" + strconv.Itoa(k.port)},
		TopicPrefix: faultPrefix("restart"), Partitions: 2}
	if err := pipeline.EnsureTopics(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	topics := cfg.Topics()
	group := cfg.TopicPrefix + "-denoiser"
	out := newFaultCollector(ctx, t, cfg, topics.Denoised, cfg.Partitions, faultCheckDenoised)
	d := faultStartChild(t, "denoiser", bins["denoiser"], nil, faultServeArgs(cfg, group)...)
	ing := faultStartIngest(ctx, t, bins["ingest"], cfg)
	imgs := faultImages(t, 24)

	// one upload every 100 ms; an image is accepted when ingest answers 202
	var (
		mu       sync.Mutex
		accepted []string
		refused  = map[int]int{} // by HTTP status, 0 for a transport error
	)
	pctx, stopUploading := context.WithCancel(ctx)
	var pwg sync.WaitGroup
	pwg.Add(1)
	go func() {
		defer pwg.Done()
		for i := 0; pctx.Err() == nil; i++ {
			id := fmt.Sprintf("restart-%04d", i)
			status := ing.post(pctx, id, imgs[i%len(imgs)])
			mu.Lock()
			if status == http.StatusAccepted {
				accepted = append(accepted, id)
			} else if pctx.Err() == nil {
				refused[status]++
			}
			mu.Unlock()
			select {
			case <-pctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	nAccepted := func() int { mu.Lock(); defer mu.Unlock(); return len(accepted) }

	// images flow and come out before the fault
	if !faultWait(ctx, func() bool { n, _ := out.distinct(); return n >= 5 && nAccepted() >= 10 }) {
		stopUploading()
		n, _ := out.distinct()
		t.Fatalf("before the restart: %d images accepted, %d came out", nAccepted(), n)
	}
	before := nAccepted()
	k.run(ctx, t, "stop")
	time.Sleep(8 * time.Second) // ingest and the denoiser meet a dead broker
	k.run(ctx, t, "start")
	restarted := nAccepted()
	// keep images flowing until ingest has had some accepted by the restarted broker
	if !faultWait(ctx, func() bool { return nAccepted() >= restarted+10 || !ing.running() }) ||
		!ing.running() {
		stopUploading()
		t.Fatalf("ingest did not recover after the restart: %d accepted, running %v",
			nAccepted(), ing.running())
	}
	stopUploading()
	pwg.Wait()
	mu.Lock()
	ids := append([]string(nil), accepted...)
	t.Logf("ingest accepted %d images (%d before the stop, %d after the restart); refused by status: %v",
		len(ids), before, len(ids)-restarted, refused)
	mu.Unlock()

	if !faultWait(ctx, func() bool { return len(out.missing(ids)) == 0 || !d.running() }) ||
		!d.running() {
		m := out.missing(ids)
		t.Fatalf("%d of %d accepted images never came out (denoiser running: %v, exit %v): %v",
			len(m), len(ids), d.running(), d.err, m)
	}
	if !faultWait(ctx, func() bool { ok, _ := faultCommittedAll(ctx, cfg, group, topics.Noisy); return ok }) {
		_, offs := faultCommittedAll(ctx, cfg, group, topics.Noisy)
		t.Errorf("the denoiser did not commit all input after the restart: %s", offs)
	}
	_, recs := out.distinct()
	t.Logf("every accepted image came out: %d records for %d ids, %d duplicated",
		recs, len(ids), len(out.duplicates()))
	for _, b := range out.badRecords() {
		t.Errorf("bad output: %s", b)
	}
	d.stop(t, 30*time.Second)
	ing.stop(t, 30*time.Second)
}

// faultIngest is `ingest serve` running as a child process.
type faultIngest struct {
	*faultChild
	url    string
	client *http.Client
}

// faultStartIngest starts `ingest serve` on a free port of 127.0.0.1 and
// waits until it answers /healthz.
func faultStartIngest(ctx context.Context, t *testing.T, bin string,
	cfg *pipeline.Config) *faultIngest {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := faultStartChild(t, "ingest", bin, nil, "serve",
		"--brokers", strings.Join(cfg.Brokers, ","),
		"--topic-prefix", cfg.TopicPrefix,
		"--partitions", strconv.Itoa(cfg.Partitions),
		"--listen", addr)
	ing := &faultIngest{faultChild: c, url: "http://" + addr,
		client: &http.Client{Timeout: 60 * time.Second}}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if !faultWait(wctx, func() bool {
		if !c.running() {
			return true
		}
		resp, err := ing.client.Get(ing.url + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}) || !c.running() {
		t.Fatalf("ingest did not come up on %s (running %v, exit %v)", addr, c.running(), c.err)
	}
	return ing
}

// post uploads one image with the given id and returns the HTTP status, or
// 0 when there was no answer.
func (i *faultIngest) post(ctx context.Context, id string, data []byte) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, i.url+"/v1/images",
		bytes.NewReader(data))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "image/png")
	req.Header.Set("X-Image-Id", id)
	resp, err := i.client.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
