package local

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/trove-backup/trove/internal/store"
)

// classify wraps an OS error from op with the store sentinel it means:
// ErrFull for ENOSPC/EDQUOT, ErrTooLarge for EFBIG, ErrNotAttached for the
// errors a vanished device or share gives (EIO, ENODEV, ENXIO, ENOTCONN,
// ESTALE). Errors that already carry a store sentinel pass through.
func (l *Local) classify(op string, err error) error {
	for _, s := range []error{store.ErrFull, store.ErrTooLarge, store.ErrNotAttached, store.ErrDeviceChanged, store.ErrExist, store.ErrNotExist, store.ErrCorrupt, store.ErrBadName} {
		if errors.Is(err, s) {
			return err
		}
	}
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT), isFullOS(err):
		return fmt.Errorf("%s on %s: %w: %w", op, l.label(), store.ErrFull, err)
	case errors.Is(err, syscall.EFBIG):
		return fmt.Errorf("%s on %s: %w: %w", op, l.label(), store.ErrTooLarge, err)
	case errors.Is(err, syscall.EIO), errors.Is(err, syscall.ENODEV), errors.Is(err, syscall.ENXIO),
		errors.Is(err, syscall.ENOTCONN), errors.Is(err, syscall.ESTALE), isGoneOS(err):
		return fmt.Errorf("%s vanished mid-run: %s: %w: %w", l.label(), op, store.ErrNotAttached, err)
	}
	return fmt.Errorf("%s on %s: %w", op, l.label(), err)
}
