package pipeline

import (
	"flag"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"minimal", Config{Brokers: []string{"127.0.0.1:9092"}}, false},
		{"no brokers", Config{}, true},
		{"broker without port", Config{Brokers: []string{"localhost"}}, true},
		{"bad prefix", Config{Brokers: []string{"h:1"}, TopicPrefix: "a b"}, true},
		{"negative partitions", Config{Brokers: []string{"h:1"}, Partitions: -1}, true},
		{"tiny max bytes", Config{Brokers: []string{"h:1"}, MaxMessageBytes: 1000}, true},
		{"16 MiB", Config{Brokers: []string{"h:1"}, MaxMessageBytes: 16 << 20}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err != nil) != tt.wantErr {
				t.Errorf("Validate(%+v) = %v, want error %v", tt.cfg, err, tt.wantErr)
			}
		})
	}
}

func TestRegisterFlagsEnvFallback(t *testing.T) {
	t.Setenv("KAFKA_BROKERS", "127.0.0.1:1, 127.0.0.1:2")
	t.Setenv("CF_TOPIC_PREFIX", "env")
	t.Setenv("CF_PARTITIONS", "7")
	var c Config
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"--topic-prefix", "flag"}); err != nil {
		t.Fatal(err)
	}
	if len(c.Brokers) != 2 || c.Brokers[1] != "127.0.0.1:2" || c.TopicPrefix != "flag" ||
		c.Partitions != 7 {
		t.Errorf("config = %+v, want brokers from env, prefix from flag, 7 partitions", c)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}

	t.Setenv("CF_MAX_MESSAGE_BYTES", "lots")
	var bad Config
	bad.RegisterFlags(flag.NewFlagSet("y", flag.ContinueOnError))
	if err := bad.Validate(); err == nil {
		t.Error("Validate accepted CF_MAX_MESSAGE_BYTES=lots")
	}
}

func TestTopicsFor(t *testing.T) {
	tests := []struct{ prefix, noisy, models string }{
		{"", "images.noisy", "models"},
		{"run7", "run7.images.noisy", "run7.models"},
	}
	for _, tt := range tests {
		got := TopicsFor(tt.prefix)
		if got.Noisy != tt.noisy || got.Models != tt.models {
			t.Errorf("TopicsFor(%q) = %+v, want noisy %s models %s", tt.prefix, got, tt.noisy,
				tt.models)
		}
	}
}
