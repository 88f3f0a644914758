package replay

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/cleanframe/cleanframe/internal/dataset"
	"github.com/cleanframe/cleanframe/internal/imageio"
	"github.com/cleanframe/cleanframe/pipeline"
)

// Pos says where an item came from so that it can be read again: Index is
// its place in the replay (and the noise index of synthetic corruption);
// Partition and Offset are set for Kafka records (Partition is -1 for a
// folder).
type Pos struct {
	Index     int
	Partition int
	Offset    int64
}

// Item is one image read from a source. Err is set, and Image nil, when
// the record could not be decoded; the replay records it and goes on.
type Item struct {
	Pos   Pos
	ID    string
	Image image.Image
	Sigma float64 // from cf-noise-sigma; negative when unknown
	Err   error
}

// Items is a stream of images to replay. Next returns io.EOF after the
// last item. At reads the item at a position Next returned before, for the
// second pass that cuts crops. Items are not safe for concurrent use.
type Items interface {
	Len() int // expected number of items; an upper bound for topics
	Next(ctx context.Context) (Item, error)
	At(ctx context.Context, p Pos) (Item, error)
	Close() error
}

// DirItems reads the image files of a folder in name order, decoding one
// at a time.
type DirItems struct {
	paths []string
	next  int
}

// NewDirItems lists the images of dir.
func NewDirItems(dir string) (*DirItems, error) {
	paths, err := dataset.List(dir)
	if err != nil {
		return nil, err
	}
	return &DirItems{paths: paths}, nil
}

// Len implements [Items].
func (d *DirItems) Len() int { return len(d.paths) }

// Next implements [Items].
func (d *DirItems) Next(ctx context.Context) (Item, error) {
	if err := ctx.Err(); err != nil {
		return Item{}, err
	}
	if d.next >= len(d.paths) {
		return Item{}, io.EOF
	}
	d.next++
	return d.At(ctx, Pos{Index: d.next - 1, Partition: -1})
}

// At implements [Items].
func (d *DirItems) At(_ context.Context, p Pos) (Item, error) {
	if p.Index < 0 || p.Index >= len(d.paths) {
		return Item{}, fmt.Errorf("replay: no image at index %d", p.Index)
	}
	img, err := dataset.Open(d.paths[p.Index])
	it := Item{Pos: p, ID: filepath.Base(d.paths[p.Index]), Image: img.Image, Sigma: -1}
	if err != nil {
		it.Image, it.Err = nil, err
	}
	return it, nil
}

// Close implements [Items].
func (d *DirItems) Close() error { return nil }

// KafkaItems reads offset ranges of a topic, partition by partition in
// ascending order, with plain partition readers: it joins no consumer group
// and commits nothing.
type KafkaItems struct {
	cfg    *pipeline.Config
	topic  string
	ranges []Range
	// Idle is how long a read may wait for the next record of a range
	// before the range is taken as ended early (compaction or transaction
	// markers can leave holes at its end). Default 10 s.
	Idle time.Duration

	cur   int
	r     *pipeline.PartitionReader
	index int
}

// NewKafkaItems reads ranges of topic; see [ResolveRanges].
func NewKafkaItems(cfg *pipeline.Config, topic string, ranges []Range) *KafkaItems {
	return &KafkaItems{cfg: cfg, topic: topic, ranges: ranges}
}

// Len implements [Items].
func (k *KafkaItems) Len() int {
	var n int64
	for _, r := range k.ranges {
		n += r.End - r.Start
	}
	return int(n)
}

func (k *KafkaItems) idle() time.Duration {
	if k.Idle <= 0 {
		return 10 * time.Second
	}
	return k.Idle
}

// Next implements [Items].
func (k *KafkaItems) Next(ctx context.Context) (Item, error) {
	rec, err := k.nextRecord(ctx)
	if err != nil {
		return Item{}, err
	}
	k.index++
	return k.item(rec, k.index-1), nil
}

func (k *KafkaItems) read(ctx context.Context) (pipeline.Record, error) {
	rctx, cancel := context.WithTimeout(ctx, k.idle())
	defer cancel()
	return k.r.Read(rctx)
}

func (k *KafkaItems) endRange() {
	k.r.Close()
	k.r = nil
	k.cur++
}

// item decodes a record; the id is the cf-id header, else the key.
func (k *KafkaItems) item(rec pipeline.Record, index int) Item {
	it := Item{Pos: Pos{Index: index, Partition: rec.Partition, Offset: rec.Offset}, Sigma: -1}
	it.ID = rec.HeaderString(pipeline.HeaderID)
	if it.ID == "" {
		it.ID = string(rec.Key)
	}
	if v, ok := rec.Header(pipeline.HeaderNoiseSigma); ok {
		s, err := pipeline.ParseSigma(v)
		if err != nil {
			it.Err = err
			return it
		}
		it.Sigma = s
	}
	img, _, err := imageio.Decode(rec.Value, 0)
	if err != nil {
		it.Err = fmt.Errorf("decode record %s/%d/%d: %w", rec.Topic, rec.Partition,
			rec.Offset, err)
		return it
	}
	it.Image = img
	return it
}

// At implements [Items] by reading the one record at p.
func (k *KafkaItems) At(ctx context.Context, p Pos) (Item, error) {
	rec, err := readOne(ctx, k.cfg, k.topic, p.Partition, p.Offset, k.idle())
	if err != nil {
		return Item{}, err
	}
	return k.item(rec, p.Index), nil
}

// Close implements [Items].
func (k *KafkaItems) Close() error {
	if k.r != nil {
		return k.r.Close()
	}
	return nil
}

// readOne reads the record at offset of topic/partition.
func readOne(ctx context.Context, cfg *pipeline.Config, topic string, partition int,
	offset int64, idle time.Duration) (pipeline.Record, error) {
	r, err := pipeline.NewPartitionReader(cfg, topic, partition, offset)
	if err != nil {
		return pipeline.Record{}, err
	}
	defer r.Close()
	rctx, cancel := context.WithTimeout(ctx, idle)
	defer cancel()
	rec, err := r.Read(rctx)
	if err != nil {
		return rec, err
	}
	if rec.Offset != offset {
		return rec, fmt.Errorf("read %s/%d/%d: record is gone (next is %d)", topic,
			partition, offset, rec.Offset)
	}
	return rec, nil
}

// A Reference finds the clean image of an id.
type Reference interface {
	// Clean returns the clean image of id, or an error naming why not.
	Clean(ctx context.Context, id string) (image.Image, error)
	// String names the reference in reports, e.g. "dir:refs".
	String() string
}

// DirReference finds clean images in a folder by file name: an id matches
// a file of the same name, or of the same name without its extension
// ("img7" and "img7.png" both match "img7.png" or "img7.jpg").
type DirReference struct {
	dir    string
	byName map[string]string
}

// NewDirReference indexes the images of dir.
func NewDirReference(dir string) (*DirReference, error) {
	paths, err := dataset.List(dir)
	if err != nil {
		return nil, err
	}
	d := &DirReference{dir: dir, byName: make(map[string]string)}
	for _, p := range paths {
		base := filepath.Base(p)
		d.byName[base] = p
		stem := strings.TrimSuffix(base, filepath.Ext(base))
		if _, ok := d.byName[stem]; !ok {
			d.byName[stem] = p
		}
	}
	return d, nil
}

// Clean implements [Reference].
func (d *DirReference) Clean(_ context.Context, id string) (image.Image, error) {
	p, ok := d.byName[filepath.Base(id)]
	if !ok {
		p, ok = d.byName[strings.TrimSuffix(filepath.Base(id), filepath.Ext(id))]
	}
	if !ok {
		return nil, fmt.Errorf("no reference for id %q in %s", id, d.dir)
	}
	img, err := dataset.Open(p)
	return img.Image, err
}

func (d *DirReference) String() string { return "dir:" + d.dir }

// TopicReference joins a clean topic by id. NewTopicReference reads the
// whole topic once to index where each id's latest record is (a few dozen
// bytes per id, not the images); Clean then reads the record it needs,
// reading forward on one open reader per partition while the wanted
// offsets come in order (as they do when both topics were written in the
// same order), and seeking otherwise. It is not safe for concurrent use;
// Close releases the readers.
type TopicReference struct {
	cfg     *pipeline.Config
	topic   string
	where   map[string]Pos
	cursors map[int]*cursor
}

// cursor is an open reader of one partition and the offset it reads next.
type cursor struct {
	r    *pipeline.PartitionReader
	next int64
}

// maxSkip is how many records Clean reads past rather than seek over.
const maxSkip = 64

// NewTopicReference indexes topic up to its current end.
func NewTopicReference(ctx context.Context, cfg *pipeline.Config,
	topic string) (*TopicReference, error) {
	ranges, err := ResolveRanges(ctx, cfg, topic, Selection{Partition: -1})
	if err != nil {
		return nil, err
	}
	t := &TopicReference{cfg: cfg, topic: topic, where: make(map[string]Pos),
		cursors: make(map[int]*cursor)}
	items := NewKafkaItems(cfg, topic, ranges)
	defer items.Close()
	for {
		rec, err := items.nextRecord(ctx)
		if err == io.EOF {
			return t, nil
		}
		if err != nil {
			return nil, fmt.Errorf("index reference topic %s: %w", topic, err)
		}
		id := rec.HeaderString(pipeline.HeaderID)
		if id == "" {
			id = string(rec.Key)
		}
		t.where[id] = Pos{Partition: rec.Partition, Offset: rec.Offset}
	}
}

// Clean implements [Reference].
func (t *TopicReference) Clean(ctx context.Context, id string) (image.Image, error) {
	p, ok := t.where[id]
	if !ok {
		return nil, fmt.Errorf("no reference for id %q on %s", id, t.topic)
	}
	rec, err := t.read(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("reference of %q: %w", id, err)
	}
	img, _, err := imageio.Decode(rec.Value, 0)
	return img, err
}

// read returns the record at p, reading forward from the partition's
// cursor when p is a little ahead of it and seeking otherwise.
func (t *TopicReference) read(ctx context.Context, p Pos) (pipeline.Record, error) {
	c := t.cursors[p.Partition]
	if c != nil && (p.Offset < c.next || p.Offset-c.next > maxSkip) {
		c.r.Close()
		c = nil
	}
	if c == nil {
		r, err := pipeline.NewPartitionReader(t.cfg, t.topic, p.Partition, p.Offset)
		if err != nil {
			return pipeline.Record{}, err
		}
		c = &cursor{r: r, next: p.Offset}
		t.cursors[p.Partition] = c
	}
	for {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		rec, err := c.r.Read(rctx)
		cancel()
		if err != nil {
			c.r.Close()
			delete(t.cursors, p.Partition)
			return rec, err
		}
		c.next = rec.Offset + 1
		switch {
		case rec.Offset == p.Offset:
			return rec, nil
		case rec.Offset > p.Offset:
			return rec, fmt.Errorf("read %s/%d/%d: record is gone (next is %d)", t.topic,
				p.Partition, p.Offset, rec.Offset)
		}
	}
}

// Close releases the open readers.
func (t *TopicReference) Close() error {
	for p, c := range t.cursors {
		c.r.Close()
		delete(t.cursors, p)
	}
	return nil
}

func (t *TopicReference) String() string { return "topic:" + t.topic }

// nextRecord returns the next record inside the ranges, io.EOF after the
// last one.
func (k *KafkaItems) nextRecord(ctx context.Context) (pipeline.Record, error) {
	for k.cur < len(k.ranges) {
		rg := k.ranges[k.cur]
		if rg.Start >= rg.End {
			k.cur++
			continue
		}
		if k.r == nil {
			r, err := pipeline.NewPartitionReader(k.cfg, k.topic, rg.Partition, rg.Start)
			if err != nil {
				return pipeline.Record{}, err
			}
			k.r = r
		}
		rec, err := k.read(ctx)
		if err == nil && rec.Offset < rg.End {
			if rec.Offset == rg.End-1 {
				k.endRange()
			}
			return rec, nil
		}
		if ctx.Err() != nil {
			return pipeline.Record{}, ctx.Err()
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return pipeline.Record{}, err
		}
		k.endRange()
	}
	return pipeline.Record{}, io.EOF
}
