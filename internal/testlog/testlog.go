// Package testlog helps tests that read what goroutines or child processes
// log.
package testlog

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer that several goroutines may write to while a
// test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
