//go:build unix

package main

import (
	"fmt"
	"os"
	"syscall"
)

// lockRun takes an exclusive lock on path.lock, so that two runs do not
// write the same checkpoint; the system drops it when the process ends,
// however it ends. unlock removes the file.
func lockRun(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("train: lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("train: another run is writing %s (it holds %s.lock); wait "+
			"for it to end, or choose another -o", path, path)
	}
	return func() {
		os.Remove(f.Name())
		f.Close()
	}, nil
}
