// Package rclone is a blob backend for the encrypted vault that reaches
// the consumer clouds (Dropbox, Google Drive, OneDrive, Box, pCloud,
// Backblaze B2's native API, and every other rclone backend) through the
// user's own installed rclone binary and its configuration.
//
// A Remote runs one rclone process per call:
//
//	Put     rclone rcat --size N REMOTE:PATH/TMPKEY   (bytes on stdin),
//	        rclone moveto TMPKEY KEY, rclone lsjson --stat KEY
//	Get     rclone lsjson --stat …, then rclone cat REMOTE:PATH/KEY
//	Stat    rclone lsjson --stat REMOTE:PATH/KEY
//	List    rclone lsjson -R --files-only REMOTE:PATH/DIR
//	Delete  rclone deletefile REMOTE:PATH/KEY
//	Fingerprint       rclone lsjson --stat --hash-type T REMOTE:PATH/KEY
//	ListFingerprints  rclone lsjson -R --files-only --hash-type T REMOTE:PATH/DIR
//	                  (T from `rclone backend features REMOTE:PATH`, asked once)
//
// # Secrets
//
// rclone reads its credentials from its own config file (rclone config,
// or the file RCLONE_CONFIG / Options.Config names). Nothing secret is ever
// put on rclone's command line: a connection-string remote
// (":s3,secret_access_key=…:bucket") is refused, and Options.Flags must not
// carry secrets either. The child's environment is the caller's minus every
// TROVE_* variable (the vault passphrase never reaches rclone). rclone is
// run with --ask-password=false, so an encrypted rclone config fails with an
// error instead of waiting for a password on a terminal: supply it the
// rclone way (RCLONE_CONFIG_PASS or --password-command in the user's setup).
//
// # Semantics the vault relies on
//
//   - Keys are slash-separated relative paths (no "", ".", ".." segments, no
//     leading or trailing slash, no control characters or backslash).
//   - Put replaces an existing object, and the object appears whole or not
//     at all. It streams exactly size bytes (a reader yielding more or fewer
//     fails the call, and rclone is killed before it finishes the upload)
//     and checks with Stat that the remote holds size bytes. Backends whose
//     uploads become visible only when complete (rclone types s3, b2, gcs,
//     azureblob, drive, dropbox, onedrive, box: found with `rclone
//     listremotes --long`, which prints no credentials) get the upload
//     directly; all others (local, sftp, webdav, pcloud, …) get it under a
//     temporary key ".trove-tmp-<random>-<base>" in the same folder, moved
//     into place after the upload and deleted on any failure. Only a killed
//     Trove process can leave such a temporary; List never shows them.
//   - Get returns exactly the bytes of the object; a stream that ends short
//     of the size Stat reported is an error, never a silent truncation.
//   - Stat, Get and Delete of a missing key fail with store.ErrNotExist.
//   - List of a folder that does not exist yields nothing (rclone cannot
//     tell "empty" from "absent" on bucket-less backends). The vault must
//     find its own marker object before it trusts an empty listing.
//     List yields keys in byte order; it holds the listing of the prefix's
//     folder in memory (about 100 bytes per object) to sort it.
//
// Every call is bounded by its context: cancelling it kills rclone (and
// its pipes are closed within a few seconds).
package rclone

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/trove-backup/trove/internal/store"
)

// Blobs is the object storage the encrypted vault writes to.
type Blobs interface {
	// Put stores size bytes from r under key, replacing any old object.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Get reads an object; ErrNotExist when missing.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Stat returns an object's size; ErrNotExist when missing.
	Stat(ctx context.Context, key string) (size int64, err error)
	// List calls fn for every object whose key starts with prefix.
	List(ctx context.Context, prefix string, fn func(key string, size int64) error) error
	// Delete removes an object; ErrNotExist when missing.
	Delete(ctx context.Context, key string) error
}

// Options configure how rclone is run.
type Options struct {
	// Binary is the rclone executable; "" finds "rclone" in PATH.
	Binary string
	// Config is rclone's config file, passed as RCLONE_CONFIG; "" keeps
	// rclone's own default (or the caller's RCLONE_CONFIG).
	Config string
	// Flags are extra rclone flags for every call ("--bwlimit", "1M",
	// "--transfers", …). Never secrets: they are visible in the process
	// list.
	Flags []string
	// AtomicUploads skips the temporary key even when the backend type is
	// not known to publish uploads atomically (see Put).
	AtomicUploads bool
}

// Remote is a folder on an rclone remote. Safe for concurrent use.
type Remote struct {
	bin    string
	remote string // "REMOTE:PATH", as given
	env    []string
	flags  []string

	atomicOnce sync.Once
	atomic     bool // the backend publishes an upload only when complete

	hash hashState // the hash type fingerprints use
}

// tmpMarker marks the temporary keys of uploads in progress (see Put).
const tmpMarker = ".trove-tmp-"

// atomicTypes are rclone backend types whose uploads become visible only
// once complete (object stores and the big consumer clouds' upload
// sessions). Uploads to other types go through a temporary key.
var atomicTypes = map[string]bool{
	"s3": true, "b2": true, "gcs": true, "azureblob": true,
	"drive": true, "dropbox": true, "onedrive": true, "box": true,
}

var _ Blobs = (*Remote)(nil)

// ErrNoRclone: the rclone binary is not installed.
var ErrNoRclone = errors.New("rclone is not installed (https://rclone.org/install/, or apt install rclone)")

// ParseURL turns a target URL "rclone:REMOTE:PATH" into "REMOTE:PATH".
func ParseURL(u string) (string, error) {
	rest, ok := strings.CutPrefix(u, "rclone:")
	if !ok {
		return "", fmt.Errorf("rclone target %q: want rclone:REMOTE:PATH", u)
	}
	if err := checkRemote(rest); err != nil {
		return "", err
	}
	return rest, nil
}

// checkRemote accepts "NAME:PATH" with a configured remote name; it refuses
// connection strings and on-the-fly backends, which put credentials into
// argv.
func checkRemote(remote string) error {
	name, _, ok := strings.Cut(remote, ":")
	switch {
	case !ok:
		return fmt.Errorf("rclone remote %q: want REMOTE:PATH, a remote from `rclone config`", remote)
	case name == "" || strings.ContainsAny(name, ",=\"' ") || strings.HasPrefix(name, "-"):
		// Never echo the string: it may hold a key.
		return errors.New("rclone remote: connection strings (:backend,key=value:) are not accepted, since they would put credentials on the command line; define the remote with `rclone config` and use REMOTE:PATH")
	case strings.ContainsAny(remote, "\x00\n\r"):
		return errors.New("rclone remote: control characters in the remote")
	}
	return nil
}

// New returns the rclone remote "REMOTE:PATH". It does not run rclone;
// call Check to test the binary and the remote.
func New(remote string, opt Options) (*Remote, error) {
	if err := checkRemote(remote); err != nil {
		return nil, err
	}
	bin := opt.Binary
	if bin == "" {
		p, err := exec.LookPath("rclone")
		if err != nil {
			return nil, ErrNoRclone
		}
		bin = p
	}
	env := make([]string, 0, len(os.Environ())+1)
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "TROVE_") || (opt.Config != "" && k == "RCLONE_CONFIG") {
			continue
		}
		env = append(env, kv)
	}
	if opt.Config != "" {
		env = append(env, "RCLONE_CONFIG="+opt.Config)
	}
	return &Remote{bin: bin, remote: remote, env: env, flags: append([]string(nil), opt.Flags...), atomic: opt.AtomicUploads}, nil
}

// String returns "REMOTE:PATH".
func (r *Remote) String() string { return r.remote }

// Check runs rclone against the remote's folder: a missing binary, an
// unknown remote or refused credentials fail here, before a backup starts.
// A folder that does not exist yet is fine.
func (r *Remote) Check(ctx context.Context) error {
	_, err := r.run(ctx, nil, "lsjson", "--max-depth", "1", "--no-mimetype", "--no-modtime", r.remote)
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("check rclone remote %s: %w", r.remote, err)
	}
	return nil
}

// validKey checks a blob key (see the package doc).
func validKey(key string) error {
	bad := func(why string) error { return fmt.Errorf("blob key %q: %s: %w", key, why, store.ErrBadName) }
	if key == "" {
		return bad("empty")
	}
	if strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") {
		return bad("leading or trailing slash")
	}
	for _, c := range key {
		if c < 0x20 || c == 0x7f || c == '\\' {
			return bad("control character or backslash")
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return bad("empty or dot segment")
		}
	}
	if strings.Contains(key, tmpMarker) {
		return bad("looks like a temporary upload")
	}
	return nil
}

// backendAtomic reports whether the remote's backend type is in
// atomicTypes, asking `rclone listremotes --long` once (it prints names
// and types, never credentials). Unknown means no.
func (r *Remote) backendAtomic(ctx context.Context) bool {
	r.atomicOnce.Do(func() {
		if r.atomic {
			return
		}
		out, err := r.run(ctx, nil, "listremotes", "--long")
		if err != nil {
			return
		}
		name, _, _ := strings.Cut(r.remote, ":")
		for line := range strings.SplitSeq(string(out), "\n") {
			n, typ, ok := strings.Cut(line, ":")
			if ok && n == name {
				r.atomic = atomicTypes[strings.TrimSpace(typ)]
			}
		}
	})
	return r.atomic
}

// path returns REMOTE:PATH/key.
func (r *Remote) path(key string) string {
	if key == "" {
		return r.remote
	}
	if strings.HasSuffix(r.remote, ":") || strings.HasSuffix(r.remote, "/") {
		return r.remote + key
	}
	return r.remote + "/" + key
}

// runError is a failed rclone call.
type runError struct {
	args   string
	code   int // exit code, -1 if it did not exit normally
	stderr string
	err    error
}

func (e *runError) Error() string {
	msg := lastLines(e.stderr, 3)
	if msg == "" {
		msg = e.err.Error()
	}
	return fmt.Sprintf("rclone %s: %s", e.args, msg)
}

func (e *runError) Unwrap() error { return e.err }

// isNotFound: rclone's exit codes 3 (directory not found) and 4 (file not
// found).
func isNotFound(err error) bool {
	var re *runError
	return errors.As(err, &re) && (re.code == 3 || re.code == 4)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		// Drop rclone's "2024/06/01 12:00:00 " timestamps.
		if len(l) > 20 && l[4] == '/' && l[13] == ':' {
			lines[i] = l[20:]
		}
	}
	return strings.Join(lines, "; ")
}

// command builds an rclone command bound to ctx.
func (r *Remote) command(ctx context.Context, args ...string) *exec.Cmd {
	all := append([]string{"--ask-password=false", "--use-json-log=false"}, r.flags...)
	all = append(all, args...)
	cmd := exec.CommandContext(ctx, r.bin, all...)
	cmd.Env = r.env
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// run runs rclone to completion and returns its stdout.
func (r *Remote) run(ctx context.Context, stdin io.Reader, args ...string) ([]byte, error) {
	cmd := r.command(ctx, args...)
	var out, errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &out, &limitedBuffer{max: 64 << 10, b: &errb}
	err := cmd.Run()
	if err != nil {
		return nil, r.wrap(ctx, cmd, args, errb.String(), err)
	}
	return out.Bytes(), nil
}

// wrap turns a failed run into a runError (or the context's error).
func (r *Remote) wrap(ctx context.Context, cmd *exec.Cmd, args []string, stderr string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("rclone %s: %w", args[0], ctx.Err())
	}
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) && cmd.ProcessState == nil {
		return fmt.Errorf("%w: %w", ErrNoRclone, err)
	}
	code := -1
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	}
	return &runError{args: args[0] + " " + args[len(args)-1], code: code, stderr: stderr, err: err}
}

// limitedBuffer keeps the first max bytes written (stderr can be chatty).
type limitedBuffer struct {
	mu  sync.Mutex
	max int
	b   *bytes.Buffer
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.max - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

type lsEntry struct {
	Path   string
	Size   int64
	IsDir  bool
	Hashes map[string]string
}

// Stat returns the object's size, or ErrNotExist.
func (r *Remote) Stat(ctx context.Context, key string) (int64, error) {
	e, err := r.stat(ctx, key, "")
	return e.Size, err
}

// stat describes one object, with the hash of type hash when it is not "".
func (r *Remote) stat(ctx context.Context, key, hash string) (lsEntry, error) {
	if err := validKey(key); err != nil {
		return lsEntry{}, err
	}
	args := []string{"lsjson", "--stat", "--no-mimetype", "--no-modtime"}
	if hash != "" {
		args = append(args, "--hash-type", hash)
	}
	out, err := r.run(ctx, nil, append(args, r.path(key))...)
	if isNotFound(err) {
		return lsEntry{}, fmt.Errorf("%s on %s: %w", key, r.remote, store.ErrNotExist)
	}
	if err != nil {
		return lsEntry{}, fmt.Errorf("stat %s: %w", key, err)
	}
	var e lsEntry
	if err := json.Unmarshal(out, &e); err != nil {
		return lsEntry{}, fmt.Errorf("stat %s: unexpected rclone output: %w", key, err)
	}
	if e.IsDir {
		return lsEntry{}, fmt.Errorf("%s on %s is a folder: %w", key, r.remote, store.ErrNotExist)
	}
	return e, nil
}

// Put uploads exactly size bytes from body under key, replacing an old
// object (see the package doc). size must be known (≥ 0). On a backend not
// known to publish uploads atomically it uploads to a temporary key in the
// same folder and moves it into place (a rename on local, SFTP and most
// clouds; a server-side copy on a few), deleting the temporary on failure.
func (r *Remote) Put(ctx context.Context, key string, body io.Reader, size int64) error {
	if err := validKey(key); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("put %s: size must be known", key)
	}
	if r.backendAtomic(ctx) {
		return r.upload(ctx, key, key, body, size)
	}
	tmp := tmpKey(key)
	err := r.upload(ctx, key, tmp, body, size)
	if err == nil {
		_, err = r.run(ctx, nil, "moveto", r.path(tmp), r.path(key))
		if err != nil {
			err = fmt.Errorf("put %s: move into place: %w", key, err)
		} else if got, serr := r.Stat(ctx, key); serr != nil {
			err = fmt.Errorf("put %s: check after upload: %w", key, serr)
		} else if got != size {
			err = fmt.Errorf("put %s: the remote holds %d bytes after the upload, expected %d: %w", key, got, size, store.ErrCorrupt)
		}
	}
	if err != nil {
		// Best effort, also when ctx is done: no orphan left behind.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		r.run(cctx, nil, "deletefile", "--retries", "1", r.path(tmp))
		cancel()
	}
	return err
}

// tmpKey returns a temporary key beside key.
func tmpKey(key string) string {
	var b [6]byte
	rand.Read(b[:])
	dir, base := "", key
	if i := strings.LastIndex(key, "/"); i >= 0 {
		dir, base = key[:i+1], key[i+1:]
	}
	return dir + tmpMarker + hex.EncodeToString(b[:]) + "-" + base
}

// upload streams body to dest with rclone rcat and checks its size.
func (r *Remote) upload(ctx context.Context, key, dest string, body io.Reader, size int64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	args := []string{"rcat", "--size", fmt.Sprint(size), r.path(dest)}
	cmd := r.command(ctx, args...)
	var errb bytes.Buffer
	cmd.Stderr = &limitedBuffer{max: 64 << 10, b: &errb}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("put %s: %w", key, r.wrap(ctx, cmd, args, "", err))
	}
	src := &errReader{r: io.LimitReader(body, size+1)}
	n, cerr := io.Copy(stdin, src)
	if cerr != nil && src.err == nil {
		// Writing to rclone failed: it exited early; say why.
		stdin.Close()
		if werr := cmd.Wait(); werr != nil {
			return fmt.Errorf("put %s: %w", key, r.wrap(ctx, cmd, args, errb.String(), werr))
		}
		return fmt.Errorf("put %s: %w", key, cerr)
	}
	if cerr == nil && n != size {
		cerr = fmt.Errorf("the data was %d bytes, expected %d", n, size)
	}
	if cerr != nil {
		cancel() // kill rclone before it finishes a wrong upload
		stdin.Close()
		cmd.Wait()
		return fmt.Errorf("put %s: upload stopped: %w", key, cerr)
	}
	if err := stdin.Close(); err != nil {
		cancel()
		cmd.Wait()
		return fmt.Errorf("put %s: %w", key, err)
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("put %s: %w", key, r.wrap(ctx, cmd, args, errb.String(), err))
	}
	if dest != key {
		return nil // checked after the move
	}
	got, err := r.Stat(ctx, key)
	if err != nil {
		return fmt.Errorf("put %s: check after upload: %w", key, err)
	}
	if got != size {
		return fmt.Errorf("put %s: the remote holds %d bytes after the upload, expected %d: %w", key, got, size, store.ErrCorrupt)
	}
	return nil
}

// errReader remembers the error of the reader it wraps.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// Get streams an object. The reader fails (instead of ending early) when
// rclone stops before the object's full size.
func (r *Remote) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	size, err := r.Stat(ctx, key)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	args := []string{"cat", r.path(key)}
	cmd := r.command(ctx, args...)
	errb := &bytes.Buffer{}
	cmd.Stderr = &limitedBuffer{max: 64 << 10, b: errb}
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("get %s: %w", key, r.wrap(ctx, cmd, args, "", err))
	}
	return &getReader{r: r, key: key, ctx: ctx, cancel: cancel, cmd: cmd, args: args, out: bufio.NewReaderSize(out, 256<<10), stderr: errb, want: size}, nil
}

type getReader struct {
	r      *Remote
	key    string
	ctx    context.Context
	cancel context.CancelFunc
	cmd    *exec.Cmd
	args   []string
	out    *bufio.Reader
	stderr *bytes.Buffer
	want   int64
	n      int64
	err    error
	waited bool
}

func (g *getReader) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	n, err := g.out.Read(p)
	g.n += int64(n)
	if g.n > g.want {
		g.err = fmt.Errorf("get %s: more than the %d bytes the remote reported (object changed during the read?): %w", g.key, g.want, store.ErrCorrupt)
		return n, g.err
	}
	if err == io.EOF {
		werr := g.wait()
		switch {
		case werr != nil:
			g.err = fmt.Errorf("get %s: %w", g.key, werr)
		case g.n != g.want:
			g.err = fmt.Errorf("get %s: rclone delivered %d of %d bytes: %w", g.key, g.n, g.want, io.ErrUnexpectedEOF)
		default:
			g.err = io.EOF
		}
		return n, g.err
	}
	if err != nil {
		g.err = fmt.Errorf("get %s: %w", g.key, err)
	}
	return n, g.err
}

func (g *getReader) wait() error {
	if g.waited {
		return nil
	}
	g.waited = true
	err := g.cmd.Wait()
	if err != nil {
		return g.r.wrap(g.ctx, g.cmd, g.args, g.stderr.String(), err)
	}
	return nil
}

// Close stops rclone if the object was not read to the end.
func (g *getReader) Close() error {
	g.cancel()
	g.wait()
	return nil
}

// List calls fn for every object whose key starts with prefix, in byte
// order of keys, from rclone's recursive listing of the prefix's folder.
func (r *Remote) List(ctx context.Context, prefix string, fn func(key string, size int64) error) error {
	return r.list(ctx, prefix, "", func(key string, e lsEntry) error { return fn(key, e.Size) })
}

// list lists the objects below prefix in byte order of keys, with the
// hash of type hash when it is not "".
func (r *Remote) list(ctx context.Context, prefix, hash string, fn func(key string, e lsEntry) error) error {
	dir := ""
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		dir = prefix[:i]
		if err := validKey(dir); err != nil {
			return fmt.Errorf("list prefix %q: %w", prefix, store.ErrBadName)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	args := []string{"lsjson", "-R", "--files-only", "--no-mimetype", "--no-modtime"}
	if hash != "" {
		args = append(args, "--hash-type", hash)
	}
	args = append(args, r.path(dir))
	cmd := r.command(ctx, args...)
	errb := &bytes.Buffer{}
	cmd.Stderr = &limitedBuffer{max: 64 << 10, b: errb}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("list %s: %w", prefix, r.wrap(ctx, cmd, args, "", err))
	}
	type obj struct {
		key string
		e   lsEntry
	}
	var objs []obj
	derr := decodeList(out, func(e lsEntry) error {
		key := e.Path
		if dir != "" {
			key = dir + "/" + e.Path
		}
		if !e.IsDir && strings.HasPrefix(key, prefix) && !strings.Contains(key, tmpMarker) {
			objs = append(objs, obj{key, e})
		}
		return nil
	})
	if derr != nil {
		io.Copy(io.Discard, out) // let rclone finish and report why
	}
	if err := cmd.Wait(); err != nil {
		err = r.wrap(ctx, cmd, args, errb.String(), err)
		if isNotFound(err) {
			return nil
		}
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	if derr != nil {
		return fmt.Errorf("list %s: %w", prefix, derr)
	}
	slices.SortFunc(objs, func(a, b obj) int { return strings.Compare(a.key, b.key) })
	for _, o := range objs {
		if err := fn(o.key, o.e); err != nil {
			return err
		}
	}
	return nil
}

// decodeList reads a JSON array of entries one at a time. A stream that
// ends before the array starts (rclone failed) yields no entries.
func decodeList(rd io.Reader, fn func(lsEntry) error) error {
	dec := json.NewDecoder(rd)
	tok, err := dec.Token()
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read rclone listing: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return fmt.Errorf("read rclone listing: unexpected %v", tok)
	}
	for dec.More() {
		var e lsEntry
		if err := dec.Decode(&e); err != nil {
			return fmt.Errorf("read rclone listing: %w", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("read rclone listing: truncated: %w", err)
	}
	return nil
}

// Delete removes one object, or returns ErrNotExist.
func (r *Remote) Delete(ctx context.Context, key string) error {
	if err := validKey(key); err != nil {
		return err
	}
	_, err := r.run(ctx, nil, "deletefile", "--retries", "1", r.path(key))
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	// rclone says "is a directory or doesn't exist" with exit code 1:
	// look.
	if _, serr := r.Stat(ctx, key); errors.Is(serr, store.ErrNotExist) {
		return fmt.Errorf("%s on %s: %w", key, r.remote, store.ErrNotExist)
	}
	return fmt.Errorf("delete %s: %w", key, err)
}
