package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cleanframe/cleanframe/pipeline"
)

// runID makes this run's topic prefixes unique on a shared broker.
var runID = func() string {
	var b [4]byte
	rand.Read(b[:])
	return time.Now().UTC().Format("150405") + "-" + hex.EncodeToString(b[:])
}()

var idSeq atomic.Int64

// uniqueID is runID with a sequence number, so that a test run again in the
// same process (go test -count=2) gets topics of its own too.
func uniqueID() string {
	return fmt.Sprintf("%s-%d", runID, idSeq.Add(1))
}

// broker is where a suite run sends its records.
type broker struct {
	name    string
	brokers []string
	// private starts a broker of the test's own that it may restart.
	private func(t *testing.T, ctx context.Context) private
}

// TestPipeline runs the suite against the embedded broker, then against the
// real broker of KAFKA_BROKERS.
func TestPipeline(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		e, err := pipeline.StartEmbedded(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		runSuite(t, broker{"embedded", e.Brokers(), privateEmbedded})
	})
	t.Run("kafka", func(t *testing.T) {
		addrs := os.Getenv("KAFKA_BROKERS")
		if addrs == "" {
			if os.Getenv("CI") != "" {
				t.Fatal("CI is set but KAFKA_BROKERS is not: the suite must run against " +
					"a real Kafka in CI (see .ci/run)")
			}
			t.Skip("KAFKA_BROKERS not set; run scripts/kafka-local start and set it")
		}
		b := broker{"kafka", strings.Split(addrs, ","), privateKafka}
		for _, a := range b.brokers {
			if !strings.HasPrefix(a, "127.0.0.1:") {
				t.Fatalf("KAFKA_BROKERS=%s: the suite talks only to 127.0.0.1", addrs)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := pipeline.Ping(ctx, &pipeline.Config{Brokers: b.brokers}); err != nil {
			t.Fatalf("KAFKA_BROKERS is set but the broker does not answer: %v", err)
		}
		if v := os.Getenv("CF_KAFKA_VERSION"); v != "" {
			t.Logf("Apache Kafka %s at %s", v, addrs)
		}
		runSuite(t, b)
	})
}

// runSuite runs every scenario against b, each on its own topics.
func runSuite(t *testing.T, b broker) {
	tests := []struct {
		name string
		fn   func(t *testing.T, ctx context.Context, env *env)
		time time.Duration
	}{
		{"TopicSettings", testTopicSettings, time.Minute},
		{"TwentyImages", testTwentyImages, 2 * time.Minute},
		{"DeadLetter", testDeadLetter, time.Minute},
		{"ModelChunks", testModelChunks, time.Minute},
		{"HotSwap", testHotSwap, 2 * time.Minute},
		{"TwoDenoisers", testTwoDenoisers, 2 * time.Minute},
		{"LargeImage", testLargeImage, 3 * time.Minute},
		{"KilledDenoiser", testKilledDenoiser, 2 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tt.time)
			defer cancel()
			env := newEnv(t, ctx, b, tt.name)
			tt.fn(t, ctx, env)
		})
	}
	t.Run("BrokerRestart", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		testBrokerRestart(t, ctx, b.private(t, ctx))
	})
}
