package cli

import (
	"testing"
	"time"
)

func TestEnvFallbacks(t *testing.T) {
	t.Setenv("CF_T_INT", " 42 ")
	t.Setenv("CF_T_BAD", "forty")
	t.Setenv("CF_T_DUR", "7ms")
	t.Setenv("CF_T_STR", "  ")
	cases := []struct {
		name string
		got  any
		want any
	}{
		{"int", EnvInt("CF_T_INT", 1), int64(42)},
		{"bad int falls back", EnvInt("CF_T_BAD", 3), int64(3)},
		{"unset int", EnvInt("CF_T_UNSET", 5), int64(5)},
		{"duration", EnvDuration("CF_T_DUR", time.Second), 7 * time.Millisecond},
		{"bad duration falls back", EnvDuration("CF_T_BAD", time.Second), time.Second},
		{"blank string", Env("CF_T_STR", "def"), "def"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}
