package daemon

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ErrRunning is returned by Lock when another daemon holds the lock.
var ErrRunning = errors.New("another trove daemon is already running")

// Lock is the daemon's single-instance lock: a file under TROVE_HOME held
// with an OS lock (flock on Unix), so that a daemon that died (kill -9,
// crash, power cut) never leaves a stale lock: the kernel releases it with
// the process. The file holds the owner's pid, for the message only.
type Lock struct {
	f *os.File
}

// AcquireLock takes the lock at path without waiting. When another daemon
// holds it, the error wraps ErrRunning and names that daemon's pid.
func AcquireLock(path string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("daemon lock %s: %w", path, err)
	}
	if err := lockNB(f); err != nil {
		defer f.Close()
		if errors.Is(err, errWouldBlock) {
			b, _ := os.ReadFile(path)
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 0 {
				return nil, fmt.Errorf("%w (pid %d, lock %s)", ErrRunning, pid, path)
			}
			return nil, fmt.Errorf("%w (lock %s)", ErrRunning, path)
		}
		return nil, fmt.Errorf("daemon lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// Release gives the lock up.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the descriptor releases the lock
	l.f = nil
	return err
}

var errWouldBlock = errors.New("lock held")
