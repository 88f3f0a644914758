package worker

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/cleanframe/cleanframe/ae"
	"github.com/cleanframe/cleanframe/internal/imageio"
	"github.com/cleanframe/cleanframe/internal/imageio/imagetest"
	"github.com/cleanframe/cleanframe/pipeline"
)

// panicky panics on images of width 13 and blurs the rest.
type panicky struct{ blur }

func (p panicky) DenoiseImage(img image.Image) (image.Image, error) {
	if img.Bounds().Dx() == 13 {
		var s []int
		_ = s[img.Bounds().Dx()] // index out of range, as a real bug would
	}
	return p.blur.DenoiseImage(img)
}

func record(partition int, offset int64, id string, value []byte) pipeline.Record {
	r := pipeline.Record{Topic: "images.noisy", Partition: partition, Offset: offset,
		Key: []byte(id), Value: value}
	r.SetHeader(pipeline.HeaderID, id)
	return r
}

func testTopics() pipeline.Topics { return pipeline.TopicsFor("") }

// TestPanicDeadLetters checks that a model panicking on one image sends that
// image to the deadletter topic with stage and reason, and that the images
// after it on the same partition still come out and are committed.
func TestPanicDeadLetters(t *testing.T) {
	p := newFakeProducer()
	recs := []pipeline.Record{
		record(0, 0, "before", imagetest.PNG(imagetest.Gradient(6, 4))),
		record(0, 1, "boom", imagetest.PNG(imagetest.Gradient(13, 7))),
		record(0, 2, "after", imagetest.PNG(imagetest.Gradient(6, 4))),
	}
	c := newFakeConsumer(p.acked, recs...)
	d, err := New(Config{Topics: testTopics(), Workers: 1}, c, p, panicky{blur{"v1"}})
	if err != nil {
		t.Fatal(err)
	}
	runUntil(t, d, c.committedTo(3))
	if c.committed[0] != 3 {
		t.Fatalf("committed %v, want offset 3 on partition 0", c.committed)
	}
	dl := p.out[testTopics().Deadletter]
	if len(dl) != 1 || string(dl[0].Key) != "boom" {
		t.Fatalf("dead letters %v, want the one record boom", dl)
	}
	stage, reason := dl[0].HeaderString(pipeline.HeaderDLStage),
		dl[0].HeaderString(pipeline.HeaderDLReason)
	if stage != "denoise" || !strings.Contains(reason, "panic") ||
		!strings.Contains(reason, "index out of range") {
		t.Errorf("dead letter stage %q reason %q", stage, reason)
	}
	var ids []string
	for _, r := range p.out[testTopics().Denoised] {
		ids = append(ids, string(r.Key))
	}
	if strings.Join(ids, ",") != "before,after" {
		t.Errorf("outputs %v, want before and after", ids)
	}
}

// TestPanicOutsideModel checks that a panic anywhere in processing (here in
// the image id check, by a nil model) is contained at stage "panic".
func TestPanicOutsideModel(t *testing.T) {
	d, err := New(Config{Topics: testTopics()}, nil, newFakeProducer(), blur{"v1"})
	if err != nil {
		t.Fatal(err)
	}
	out, stage, err := d.denoiseSafe(context.Background(),
		record(0, 0, "x", imagetest.PNG(imagetest.Gradient(4, 4))), nil)
	var pe *PanicError
	if out != nil || stage != "panic" || !errors.As(err, &pe) || len(pe.Stack) == 0 {
		t.Errorf("denoiseSafe = %v, %q, %v; want a PanicError at stage panic", out, stage, err)
	}
}

// TestModelDecoderPanic checks that a model record whose decoder panics is
// rejected and the current model kept.
func TestModelDecoderPanic(t *testing.T) {
	d, err := New(Config{Topics: testTopics()}, nil, newFakeProducer(), blur{"v1"})
	if err != nil {
		t.Fatal(err)
	}
	d.offerModel(pipeline.ModelManifest{Name: "dae", Version: "v2"}, []byte("junk"),
		func([]byte) (Model, error) { panic("bad shape") })
	if v := d.Model().Version(); v != "v1" {
		t.Errorf("model %s after a panicking decoder, want v1 kept", v)
	}
}

// TestDeadLetterTooLarge checks that a dead letter over the record limit is
// sent again without its value, and that the partition moves on.
func TestDeadLetterTooLarge(t *testing.T) {
	p := newFakeProducer()
	p.fail = func(r *pipeline.Record, _ int) error {
		if len(r.Value) > 100 {
			return fmt.Errorf("produce: %w", pipeline.ErrRecordTooLarge)
		}
		return nil
	}
	junk := append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 500)...)
	c := newFakeConsumer(p.acked, record(0, 0, "big", junk))
	d, err := New(Config{Topics: testTopics()}, c, p, blur{"v1"})
	if err != nil {
		t.Fatal(err)
	}
	runUntil(t, d, c.committedTo(1))
	dl := p.out[testTopics().Deadletter]
	if len(dl) != 1 || len(dl[0].Value) != 0 ||
		dl[0].HeaderString(HeaderDLValueDropped) != "508" ||
		dl[0].HeaderString(pipeline.HeaderDLStage) != "decode" {
		t.Fatalf("dead letters %+v", dl)
	}
}

// TestRecordRejectedBounded checks that the broker refusing an output for
// its content is retried a bounded number of times, then dead-lettered.
func TestRecordRejectedBounded(t *testing.T) {
	p := newFakeProducer()
	var tries atomic.Int32
	p.fail = func(r *pipeline.Record, _ int) error {
		if r.Topic == testTopics().Denoised {
			tries.Add(1)
			return kafka.WriteErrors{kafka.InvalidRecord}
		}
		return nil
	}
	c := newFakeConsumer(p.acked, record(0, 0, "x", imagetest.PNG(imagetest.Gradient(6, 4))))
	d, err := New(Config{Topics: testTopics()}, c, p, blur{"v1"})
	if err != nil {
		t.Fatal(err)
	}
	runUntil(t, d, c.committedTo(1))
	if n := tries.Load(); n != maxRecordAttempts {
		t.Errorf("%d tries, want %d", n, maxRecordAttempts)
	}
	dl := p.out[testTopics().Deadletter]
	if len(dl) != 1 || dl[0].HeaderString(pipeline.HeaderDLStage) != "produce" {
		t.Fatalf("dead letters %+v", dl)
	}
}

// TestEveryKindThroughTheModel sends every kind of input of imagetest
// through a denoiser running the shipped model; -v prints what each got.
func TestEveryKindThroughTheModel(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the shipped model on about 50 images")
	}
	m, err := ae.Default()
	if err != nil {
		t.Fatal(err)
	}
	kinds := imagetest.Kinds()
	p := newFakeProducer()
	var recs []pipeline.Record
	for i, k := range kinds {
		recs = append(recs, record(0, int64(i), fmt.Sprintf("kind-%d", i), k.Data))
	}
	c := newFakeConsumer(p.acked, recs...)
	d, err := New(Config{Topics: testTopics(), Workers: 2}, c, p, m)
	if err != nil {
		t.Fatal(err)
	}
	runUntil(t, d, c.committedTo(int64(len(kinds))))
	if c.committed[0] != int64(len(kinds)) {
		t.Fatalf("committed %v of %d", c.committed, len(kinds))
	}
	got := map[string]*pipeline.Record{}
	for _, topic := range []string{testTopics().Denoised, testTopics().Deadletter} {
		for _, r := range p.out[topic] {
			got[string(r.Key)] = r
		}
	}
	for i, k := range kinds {
		r := got[fmt.Sprintf("kind-%d", i)]
		if r == nil {
			t.Errorf("%s: no output and no dead letter", k.Name)
			continue
		}
		if r.Topic == testTopics().Deadletter {
			t.Logf("| %s | deadletter | stage %s: %s |", k.Name,
				r.HeaderString(pipeline.HeaderDLStage), r.HeaderString(pipeline.HeaderDLReason))
			if k.Want == imagetest.Decodes {
				t.Errorf("%s: dead-lettered, want an output", k.Name)
			}
			continue
		}
		in, _, _ := imageio.Decode(k.Data, 0)
		out, _, err := imageio.Decode(r.Value, 0)
		if err != nil || out.Bounds().Size() != in.Bounds().Size() {
			t.Errorf("%s: output %v, %v for input %v", k.Name, out.Bounds(), err, in.Bounds())
			continue
		}
		t.Logf("| %s | denoised | %T %dx%d in, %T out%s |", k.Name, in,
			in.Bounds().Dx(), in.Bounds().Dy(), out, constantNote(in, out))
		if k.Want != imagetest.Decodes {
			t.Errorf("%s: denoised, want %s", k.Name, k.Want)
		}
	}
}

// constantNote checks that a constant input stays constant.
func constantNote(in, out image.Image) string {
	b := in.Bounds()
	first := color.GrayModel.Convert(in.At(b.Min.X, b.Min.Y)).(color.Gray).Y
	lo, hi := uint8(255), uint8(0)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if color.GrayModel.Convert(in.At(x, y)).(color.Gray).Y != first {
				return ""
			}
		}
	}
	ob := out.Bounds()
	for y := ob.Min.Y; y < ob.Max.Y; y++ {
		for x := ob.Min.X; x < ob.Max.X; x++ {
			v := color.GrayModel.Convert(out.At(x, y)).(color.Gray).Y
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	return fmt.Sprintf("; constant %d in, %d..%d out", first, lo, hi)
}
