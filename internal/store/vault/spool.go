package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"filippo.io/age"

	"github.com/trove-backup/trove/internal/digest"
	"github.com/trove-backup/trove/internal/store"
)

// putSealed encrypts r into a temporary file (ciphertext only touches the
// local disk) and uploads it under key.
func (v *Vault) putSealed(ctx context.Context, key string, r io.Reader) error {
	f, err := v.tempFile()
	if err != nil {
		return err
	}
	defer v.dropTemp(f)
	s, err := newSealer(f, v.k.recipient)
	if err != nil {
		return err
	}
	if _, err := io.Copy(s, ctxReader{ctx, r}); err != nil {
		return fmt.Errorf("encrypt %s: %w", key, err)
	}
	if _, _, err := s.Close(); err != nil {
		return fmt.Errorf("encrypt %s: %w", key, err)
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		return fmt.Errorf("encrypt %s: %w", key, err)
	}
	if err := v.b.Put(ctx, key, f, size); err != nil {
		return fmt.Errorf("upload %s: %w", key, err)
	}
	return nil
}

// getSealed downloads a sealed object of unknown length into a temporary
// file and returns a reader of its content that verifies the trailer's
// digest at the end (store.ErrCorrupt on any mismatch). Closing it removes
// the temporary file.
func (v *Vault) getSealed(ctx context.Context, key string) (io.ReadCloser, error) {
	body, err := v.b.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	f, err := v.tempFile()
	if err != nil {
		return nil, err
	}
	size, err := io.Copy(f, ctxReader{ctx, body})
	if err != nil {
		v.dropTemp(f)
		return nil, fmt.Errorf("download %s: %w", key, err)
	}
	ra, plen, err := age.DecryptReaderAt(f, size, v.k.identity)
	if err != nil {
		v.dropTemp(f)
		return nil, corrupt(key, err)
	}
	var t [trailerLen]byte
	if plen < trailerLen {
		v.dropTemp(f)
		return nil, corrupt(key, errors.New("too short"))
	}
	if _, err := ra.ReadAt(t[:], plen-trailerLen); err != nil && err != io.EOF {
		v.dropTemp(f)
		return nil, corrupt(key, err)
	}
	n, sum, ok := readTrailer(t[:])
	if !ok || n < 0 || n > plen-trailerLen {
		v.dropTemp(f)
		return nil, corrupt(key, errors.New("bad trailer"))
	}
	return &spooled{v: v, f: f, key: key, r: io.NewSectionReader(ra, 0, n), want: sum, h: digest.New()}, nil
}

type spooled struct {
	v    *Vault
	f    *os.File
	key  string
	r    io.Reader
	want digest.Sum
	h    *digest.Hasher
	err  error
}

func (s *spooled) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.r.Read(p)
	s.h.Write(p[:n])
	if err == io.EOF {
		if s.h.Sum() != s.want {
			err = fmt.Errorf("read %s: content does not match its recorded sha256: %w", s.key, store.ErrCorrupt)
		}
	} else if err != nil {
		err = corrupt(s.key, err)
	}
	s.err = err
	return n, err
}

func (s *spooled) Close() error {
	s.v.dropTemp(s.f)
	return nil
}

// tempFile makes an anonymous temporary file: it is unlinked at once where
// the platform allows, so a crash leaves nothing behind.
func (v *Vault) tempFile() (*os.File, error) {
	f, err := os.CreateTemp(v.opt.TempDir, "trove-vault-*")
	if err != nil {
		return nil, fmt.Errorf("temporary file for encryption: %w", err)
	}
	os.Remove(f.Name()) // fails harmlessly where open files cannot be unlinked
	return f, nil
}

func (v *Vault) dropTemp(f *os.File) {
	f.Close()
	os.Remove(f.Name())
}
