package store

import (
	"context"
	"fmt"
	"io"

	"github.com/trove-backup/trove/internal/digest"
)

// Copy streams the object src/srcName into dst/dstName and commits it with
// a device read-back. The bytes read from src are hashed on the way: when
// they do not match want (the source changed or rotted), nothing is
// published and the error wraps ErrCorrupt, naming the source. buf (may be
// nil) is the copy buffer.
func Copy(ctx context.Context, src Store, srcName string, dst Store, dstName string, want digest.Sum, size int64, buf []byte) (Receipt, error) {
	rc, err := src.Open(ctx, srcName)
	if err != nil {
		return Receipt{}, fmt.Errorf("read source %s: %w", srcName, err)
	}
	defer rc.Close()
	return CopyFrom(ctx, rc, srcName, dst, dstName, want, size, buf)
}

// CopyFrom is Copy from an open reader (a version, a file outside any store).
func CopyFrom(ctx context.Context, r io.Reader, srcName string, dst Store, dstName string, want digest.Sum, size int64, buf []byte) (Receipt, error) {
	w, err := dst.Create(ctx, dstName, size)
	if err != nil {
		return Receipt{}, err
	}
	h := digest.New()
	if buf == nil {
		buf = make([]byte, 1<<20)
	}
	_, err = io.CopyBuffer(io.MultiWriter(w, h), r, buf)
	if err != nil {
		w.Abort()
		return Receipt{}, fmt.Errorf("copy %s: %w", srcName, err)
	}
	if got := h.Sum(); got != want {
		w.Abort()
		return Receipt{}, fmt.Errorf("source %s no longer matches the catalog (sha256 %s…, expected %s…): %w",
			srcName, got.String()[:12], want.String()[:12], ErrCorrupt)
	}
	rc, err := w.Commit(ctx, want)
	if err != nil {
		w.Abort()
		return Receipt{}, err
	}
	return rc, nil
}
