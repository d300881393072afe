package vault

import (
	"bufio"
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"runtime/debug"
	"strings"

	"filippo.io/age"

	"github.com/trove-backup/trove/internal/digest"
	"github.com/trove-backup/trove/internal/store"
)

// Every object but vault.json and the key file is "sealed": age-encrypted to
// the vault's X25519 identity, and its plaintext is
//
//	content || zero padding || trailer
//
// where the trailer is 48 bytes: the 8-byte magic "trove-v1", the content
// length as a big-endian uint64 and the SHA-256 of the content. The whole
// plaintext is padded to paddedLen(len(content)), so the object's size
// reveals only a coarse size bucket.
const (
	trailerMagic = "trove-v1"
	trailerLen   = 8 + 8 + digest.Size
	// minPadded is the smallest sealed plaintext: tiny sidecars and index
	// objects all look alike.
	minPadded = 4096
)

// paddedLen is the plaintext length of a sealed object holding n content
// bytes: n+trailerLen rounded up to one of 8 evenly spaced sizes per power
// of two (a multiple of 2^(floor(log2 l)-3)), at least minPadded. The
// overhead is at most 12.5% (about 6% on average); an object's size tells
// only its power of two and which eighth of it, about 8 bits in all. This
// is coarser than Padmé (which keeps O(log log n) mantissa bits, 32 buckets
// per power of two for a 3 MB photo) at a storage cost photographers can
// afford.
func paddedLen(n int64) int64 {
	l := max(n+trailerLen, minPadded)
	e := bits.Len64(uint64(l)) - 1 // floor(log2 l) >= 12
	step := int64(1) << (e - 3)
	return (l + step - 1) &^ (step - 1)
}

// keys is what the passphrase unlocks.
type keys struct {
	identity  *age.X25519Identity
	recipient *age.X25519Recipient
	contentID []byte // HMAC key naming content objects
	metaID    []byte // HMAC key naming meta objects
}

func deriveKeys(id *age.X25519Identity) (*keys, error) {
	ikm := []byte(id.String())
	c, err := hkdf.Key(sha256.New, ikm, nil, "trove-vault-v1 content-id", 32)
	if err != nil {
		return nil, err
	}
	m, err := hkdf.Key(sha256.New, ikm, nil, "trove-vault-v1 meta-name", 32)
	if err != nil {
		return nil, err
	}
	return &keys{identity: id, recipient: id.Recipient(), contentID: c, metaID: m}, nil
}

// contentKey is the blob key of the content whose SHA-256 is sum:
// "data/" + first two hex digits + "/" + hex(HMAC-SHA256(contentID, sum)).
func (k *keys) contentKey(sum digest.Sum) string {
	m := hmac.New(sha256.New, k.contentID)
	m.Write(sum[:])
	h := hex.EncodeToString(m.Sum(nil))
	return dataPrefix + h[:2] + "/" + h
}

// metaKey is the blob key of a meta file: "meta/" + hex(HMAC(metaID, name)).
func (k *keys) metaKey(name string) string {
	m := hmac.New(sha256.New, k.metaID)
	m.Write([]byte(name))
	return metaPrefix + hex.EncodeToString(m.Sum(nil))
}

const keyFileHeader = "# Trove vault key: an age X25519 identity. Decrypt any object with\n# age -d -i THIS_FILE OBJECT (see docs/vault.md). Keep it secret.\n"

// sealKeyFile encrypts the identity with the passphrase (age scrypt).
func sealKeyFile(w io.Writer, id *age.X25519Identity, passphrase string, logN int) error {
	r, err := age.NewScryptRecipient(passphrase)
	if err != nil {
		return err
	}
	if logN > 0 {
		r.SetWorkFactor(logN)
	}
	aw, err := age.Encrypt(w, r)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(aw, keyFileHeader+id.String()+"\n"); err != nil {
		return err
	}
	return aw.Close()
}

// openKeyFile decrypts the key file with the passphrase.
func openKeyFile(r io.Reader, passphrase string) (*age.X25519Identity, error) {
	id, err := age.NewScryptIdentity(passphrase)
	if err != nil {
		return nil, err
	}
	dec, err := age.Decrypt(r, id)
	// Unwrapping ran scrypt, which needs 128 x r x N bytes (256 MiB at
	// age's default work factor). Hand that back now: left to the
	// collector, the heap goal set while it was live would let the rest of
	// the run grow to twice as much before the next collection.
	debug.FreeOSMemory()
	if err != nil {
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) {
			return nil, ErrWrongPassphrase
		}
		return nil, fmt.Errorf("decrypt the vault key: %w: %w", store.ErrCorrupt, err)
	}
	b, err := io.ReadAll(io.LimitReader(dec, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("decrypt the vault key: %w: %w", store.ErrCorrupt, err)
	}
	ids, err := age.ParseIdentities(bytes.NewReader(b))
	if err != nil || len(ids) != 1 {
		return nil, fmt.Errorf("vault key file holds no single identity: %w", store.ErrCorrupt)
	}
	x, ok := ids[0].(*age.X25519Identity)
	if !ok {
		return nil, fmt.Errorf("vault key file holds a %T, want an X25519 identity: %w", ids[0], store.ErrCorrupt)
	}
	return x, nil
}

// sealer encrypts content as a sealed object; Close pads and adds the
// trailer.
type sealer struct {
	aw io.WriteCloser
	bw *bufio.Writer
	h  *digest.Hasher
}

func newSealer(dst io.Writer, r age.Recipient) (*sealer, error) {
	bw := bufio.NewWriterSize(dst, 256<<10)
	aw, err := age.Encrypt(bw, r)
	if err != nil {
		return nil, fmt.Errorf("start encryption: %w", err)
	}
	return &sealer{aw: aw, bw: bw, h: digest.New()}, nil
}

func (s *sealer) Write(p []byte) (int, error) {
	n, err := s.aw.Write(p)
	s.h.Write(p[:n])
	return n, err
}

// Close finishes the object and returns the content's digest and length.
func (s *sealer) Close() (digest.Sum, int64, error) {
	n, sum := s.h.Len(), s.h.Sum()
	pad := paddedLen(n) - n - trailerLen
	zero := make([]byte, 32<<10)
	for pad > 0 {
		k := min(pad, int64(len(zero)))
		if _, err := s.aw.Write(zero[:k]); err != nil {
			return sum, n, fmt.Errorf("pad: %w", err)
		}
		pad -= k
	}
	var t [trailerLen]byte
	copy(t[:], trailerMagic)
	binary.BigEndian.PutUint64(t[8:], uint64(n))
	copy(t[16:], sum[:])
	if _, err := s.aw.Write(t[:]); err != nil {
		return sum, n, fmt.Errorf("write trailer: %w", err)
	}
	if err := s.aw.Close(); err != nil {
		return sum, n, fmt.Errorf("finish encryption: %w", err)
	}
	if err := s.bw.Flush(); err != nil {
		return sum, n, fmt.Errorf("finish encryption: %w", err)
	}
	return sum, n, nil
}

// unsealer streams a sealed object's content when its length n and digest
// are known (from the index), checking on the way: at the end it reads the
// padding and trailer and returns io.EOF only when the age authentication,
// the padding, the trailer's length and digest and the expected digest all
// agree; otherwise an error wrapping store.ErrCorrupt.
type unsealer struct {
	what string // for errors: the object's key
	dec  io.Reader
	body io.Closer
	left int64
	n    int64
	want digest.Sum
	h    *digest.Hasher
	err  error // sticky result once the content is consumed
}

func newUnsealer(what string, body io.ReadCloser, id age.Identity, n int64, want digest.Sum) (*unsealer, error) {
	dec, err := age.Decrypt(bufio.NewReaderSize(body, 256<<10), id)
	if err != nil {
		body.Close()
		return nil, corrupt(what, err)
	}
	return &unsealer{what: what, dec: dec, body: body, left: n, n: n, want: want, h: digest.New()}, nil
}

func corrupt(what string, err error) error {
	if errors.Is(err, store.ErrCorrupt) {
		return err
	}
	return fmt.Errorf("decrypt %s (tampered, truncated or not made with this vault's key): %w: %v", what, store.ErrCorrupt, err)
}

func (u *unsealer) Read(p []byte) (int, error) {
	if u.err != nil {
		return 0, u.err
	}
	if u.left == 0 {
		u.err = u.finish()
		return 0, u.err
	}
	if int64(len(p)) > u.left {
		p = p[:u.left]
	}
	n, err := u.dec.Read(p)
	u.h.Write(p[:n])
	u.left -= int64(n)
	if err == io.EOF {
		if u.left > 0 {
			u.err = corrupt(u.what, fmt.Errorf("content ends after %d of %d bytes", u.n-u.left, u.n))
			return n, u.err
		}
		err = nil
	}
	if err != nil {
		u.err = corrupt(u.what, err)
		return n, u.err
	}
	return n, nil
}

// finish checks padding and trailer.
func (u *unsealer) finish() error {
	buf := make([]byte, 32<<10)
	tail := make([]byte, 0, trailerLen+len(buf))
	for {
		k, err := u.dec.Read(buf)
		tail = append(tail, buf[:k]...)
		if len(tail) > trailerLen {
			cut := len(tail) - trailerLen
			for _, c := range tail[:cut] {
				if c != 0 {
					return corrupt(u.what, errors.New("content longer than recorded"))
				}
			}
			tail = append(tail[:0], tail[cut:]...)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return corrupt(u.what, err)
		}
	}
	if len(tail) != trailerLen || string(tail[:8]) != trailerMagic {
		return corrupt(u.what, errors.New("no trailer"))
	}
	if got := int64(binary.BigEndian.Uint64(tail[8:16])); got != u.n {
		return corrupt(u.what, fmt.Errorf("trailer says %d bytes, index %d", got, u.n))
	}
	sum := u.h.Sum()
	if !bytes.Equal(tail[16:], sum[:]) || sum != u.want {
		return fmt.Errorf("read %s: content sha256 %s… does not match the expected %s…: %w",
			u.what, sum.String()[:12], u.want.String()[:12], store.ErrCorrupt)
	}
	return io.EOF
}

func (u *unsealer) Close() error { return u.body.Close() }

// readTrailer parses a sealed plaintext's trailer.
func readTrailer(t []byte) (n int64, sum digest.Sum, ok bool) {
	if len(t) != trailerLen || !strings.HasPrefix(string(t), trailerMagic) {
		return 0, sum, false
	}
	copy(sum[:], t[16:])
	return int64(binary.BigEndian.Uint64(t[8:16])), sum, true
}
