package verify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/digest"
	"github.com/trove-backup/trove/internal/store"
)

// Finding is the outcome of reading one copy.
type Finding struct {
	State   string     // catalog.CopyOK, CopyMissing or CopyCorrupt
	Problem string     // empty when OK
	Size    int64      // bytes read
	Sum     digest.Sum // hash of what was read (zero when missing)
	ModTime time.Time  // as the target reports it (zero when missing)
}

// CheckCopy reads name from st (from the device) and compares it with want.
// wantSize is the expected length, or -1 when unknown. Problems with the
// copy itself are a Finding; the error is for failures of the target as a
// whole (not attached any more, device changed, cancelled).
func CheckCopy(ctx context.Context, st store.Store, name string, want digest.Sum, wantSize int64, buf []byte) (Finding, error) {
	info, err := st.Stat(ctx, name)
	if errors.Is(err, store.ErrNotExist) {
		return Finding{State: catalog.CopyMissing, Problem: "not found on the target"}, nil
	}
	if err != nil {
		return targetOr(ctx, err, "unreadable")
	}
	rc, err := st.Open(ctx, name)
	if errors.Is(err, store.ErrNotExist) {
		return Finding{State: catalog.CopyMissing, Problem: "not found on the target"}, nil
	}
	if err != nil {
		return targetOr(ctx, err, "unreadable")
	}
	sum, n, err := digest.Reader(rc, buf)
	rc.Close()
	if err != nil {
		return targetOr(ctx, err, fmt.Sprintf("unreadable after %s bytes", Commas(n)))
	}
	f := judge(sum, n, want, wantSize)
	f.ModTime = info.ModTime
	return f, nil
}

// judge compares what was read (sum, n bytes) with what the copy must hold.
func judge(sum digest.Sum, n int64, want digest.Sum, wantSize int64) Finding {
	f := Finding{State: catalog.CopyOK, Size: n, Sum: sum}
	switch {
	case sum == want:
	case wantSize >= 0 && n < wantSize:
		f.State, f.Problem = catalog.CopyCorrupt, fmt.Sprintf("truncated: %s of %s bytes", Commas(n), Commas(wantSize))
	case wantSize >= 0 && n > wantSize:
		f.State, f.Problem = catalog.CopyCorrupt, fmt.Sprintf("longer than it should be: %s bytes, expected %s", Commas(n), Commas(wantSize))
	default:
		f.State, f.Problem = catalog.CopyCorrupt, "content differs"
	}
	return f
}

// targetOr turns err into a Finding (corrupt, "what: err") unless it is a
// failure of the whole target or a cancellation.
func targetOr(ctx context.Context, err error, what string) (Finding, error) {
	if targetFailure(ctx, err) {
		return Finding{}, err
	}
	return Finding{State: catalog.CopyCorrupt, Problem: fmt.Sprintf("%s: %v", what, err)}, nil
}

// targetFailure reports whether err is a failure of the whole target (not
// attached any more, device changed) or a cancellation, rather than of one
// copy.
func targetFailure(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, store.ErrNotAttached) || errors.Is(err, store.ErrDeviceChanged) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
