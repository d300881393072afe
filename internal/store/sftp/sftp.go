// Package sftp stores copies on a server reachable over SSH (a NAS at a
// second site, a rented box), in the same plain, browsable layout as a folder
// target: the library's own folder tree plus .trove/target.json, so the files
// can be read, listed and checked (sha256sum -c .trove/MANIFEST.sha256 in an
// ssh session) without Trove.
//
// # Connecting
//
// A target is named by sftp://USER@HOST[:PORT]/PATH (ParseURL). PATH is
// absolute on the server; "/~/photos" means "photos" in the login's home
// folder. Passwords in the URL are refused. Authentication uses the SSH agent
// ($SSH_AUTH_SOCK) and/or a private key file (an encrypted one asks
// Config.Passphrase, which is never logged or shown); with neither
// configured, the usual ~/.ssh/id_ed25519, id_ecdsa and id_rsa are tried.
//
// The server's host key is checked against known_hosts (~/.ssh/known_hosts
// by default). An unknown host fails with ErrUnknownHost (the user connects
// once with ssh, or adds the key); a host key different from the recorded one
// stops everything with ErrHostKeyChanged — that is what a man-in-the-middle
// looks like, and Trove never overrides it.
//
// A keepalive (Config.KeepAlive) closes a connection whose server stops
// answering, so a hung NAS turns into ErrNotAttached instead of a hang. Any
// lost connection (Wi-Fi gone, NAS rebooted, cut mid-write) makes every
// pending and later call fail with ErrNotAttached; the caller attaches again
// for the next run. A Store does not reconnect by itself.
//
// # Identity
//
// Prepare (trove target add) writes PATH/.trove/target.json, the same file a
// folder target has. Attach refuses a folder without it (ErrNotAttached: the
// NAS volume is not mounted on the server, or the path is wrong) or with
// another target's identity (ErrWrongTarget). Unlike a folder target there is
// no lock: SFTP has none. Two Trove processes writing to one target never
// overwrite each other (publishing never replaces), but see "Temporaries".
//
// # Writes and what is verified
//
// Create writes ".<base>.trove-tmp-<random>" in the final directory. Commit
// asks the server to fsync it (fsync@openssh.com, which OpenSSH offers; on a
// server without it the copy is still verified but its durability rests on
// the server: Caps.Fsync is false), closes it, opens it again, reads it back
// over the connection and hashes it. This read-back proves that the server
// holds the right bytes, but it is served from the server's page cache, not
// necessarily from its disks: SFTP gives no way to drop the server's cache.
// That is the honest limit of verification over SFTP; the NAS's own
// scrubbing, and periodic verify runs, cover the disks.
//
// Publishing never replaces. It relies on the plain SSH_FXP_RENAME request,
// which OpenSSH's sftp-server implements for regular files as link(2) then
// unlink(2): link fails with EEXIST when the final name is taken, so the
// check and the publish are one atomic step on the server. (On a filesystem
// without hard links, OpenSSH falls back to stat+rename, which is racy only
// against other programs writing the same name at the same moment.) When a
// rename fails, Commit looks at the final name: taken means ErrExist, and the
// temporary is removed. The posix-rename@openssh.com extension, which DOES
// replace, is used only for Trove's own metadata files (WriteMeta), whose
// contract is to replace. The directory entry itself cannot be fsynced over
// SFTP; it is as durable as the server's filesystem makes a rename.
//
// Before writing, Create asks the server for free space
// (statvfs@openssh.com, when offered) and refuses with ErrFull when the file
// cannot fit. SFTP version 3 reports a full disk mid-write only as a generic
// failure, which is returned as is.
//
// # Temporaries
//
// A temporary left behind (connection cut, crash) is never listed by Walk.
// It is removed by the first Create in its directory of a later Store when it
// has not been written to for Config.StaleAfter (default one hour): without a
// lock, a younger temporary may belong to another Trove process still
// writing. CleanTemporaries removes them everywhere.
//
// # Hashing on the server
//
// Store is a store.RemoteHasher: RemoteSum runs sha256sum (or shasum -a
// 256) on the server in an SSH exec session, so verify need not download
// the file. It needs a login with a POSIX shell; an sftp-only account gets
// errors.ErrUnsupported (see RemoteSum).
//
// # Names
//
// Names are stored as given: a POSIX server holds any name the library can
// have (no mapping as on FAT/exFAT drives), and Info.Stored equals Info.Name.
// Walk skips symlinks and other non-regular files; operations never follow a
// symlink on purpose, but SFTP cannot prevent the server from following a
// symlinked directory inside the target (as a folder target's os.Root does).
package sftp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	pkgsftp "github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/trove-backup/trove/internal/store"
	"github.com/trove-backup/trove/internal/store/local"
)

// Identity is the same .trove/target.json a folder target has.
type Identity = local.Identity

const (
	metaDir      = ".trove"
	identityFile = metaDir + "/target.json"
	versionsDir  = metaDir + "/versions"
	tmpMarker    = ".trove-tmp-"
)

// Config says how to reach a target. Only the server part (User, Host, Port,
// Path) comes from the URL; the rest from the config file and environment.
type Config struct {
	User string
	Host string // name or address, without port
	Port int    // 0 means 22
	// Path is the target's folder on the server: absolute ("/volume1/trove"),
	// or relative to the login's home folder ("trove").
	Path string

	// KeyFile is a private key in OpenSSH/PEM format. "" with no agent
	// means the default ~/.ssh keys.
	KeyFile string
	// Passphrase is asked for an encrypted KeyFile only. Its result is never
	// logged or put into an error.
	Passphrase func() ([]byte, error)
	// AgentSocket is the SSH agent's socket; "" means $SSH_AUTH_SOCK.
	// NoAgent disables the agent altogether.
	AgentSocket string
	NoAgent     bool

	// KnownHosts are known_hosts files; nil means ~/.ssh/known_hosts.
	KnownHosts []string
	// HostKeyAlias is the name looked up in known_hosts instead of
	// "HOST" / "[HOST]:PORT" (as ssh's HostKeyAlias: for tunnels and
	// forwarded ports).
	HostKeyAlias string

	// Timeout bounds connecting and the SSH handshake (default 30s).
	Timeout time.Duration
	// KeepAlive is how often an idle connection is probed; a server that
	// does not answer within 2×KeepAlive is treated as gone (default 15s;
	// negative disables).
	KeepAlive time.Duration
	// StaleAfter is how long a temporary must have been untouched before a
	// later run removes it (default 1h; see the package doc).
	StaleAfter time.Duration
}

// ParseURL parses sftp://USER@HOST[:PORT]/PATH into the server part of a
// Config. "/~/x" gives the home-relative path "x". A password in the URL is
// refused without repeating it.
func ParseURL(raw string) (Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url's errors quote the input, which may hold a password.
		return Config{}, errors.New("sftp target: not a valid URL (want sftp://USER@HOST[:PORT]/PATH)")
	}
	if u.Scheme != "sftp" {
		return Config{}, fmt.Errorf("sftp target: scheme %q, want sftp://USER@HOST[:PORT]/PATH", u.Scheme)
	}
	if u.User == nil || u.User.Username() == "" {
		return Config{}, errors.New("sftp target: no user name (want sftp://USER@HOST[:PORT]/PATH)")
	}
	if _, has := u.User.Password(); has {
		return Config{}, errors.New("sftp target: a password in the URL is not accepted (use an SSH key or the SSH agent)")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return Config{}, errors.New("sftp target: unexpected ?query or #fragment in the URL")
	}
	c := Config{User: u.User.Username(), Host: u.Hostname()}
	if c.Host == "" {
		return Config{}, errors.New("sftp target: no host (want sftp://USER@HOST[:PORT]/PATH)")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Config{}, fmt.Errorf("sftp target: bad port %q", p)
		}
		c.Port = n
	}
	switch p := u.Path; {
	case p == "" || p == "/":
		return Config{}, errors.New("sftp target: no folder (want sftp://USER@HOST[:PORT]/PATH; /~/NAME for a folder in the home directory)")
	case p == "/~" || p == "/~/":
		c.Path = "."
	case strings.HasPrefix(p, "/~/"):
		c.Path = path.Clean(p[3:])
	default:
		c.Path = path.Clean(p)
	}
	return c, nil
}

// URL returns the sftp:// URL of c (no secrets: the URL never has any).
func (c Config) URL() string {
	host := c.Host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if c.Port != 0 && c.Port != 22 {
		host += ":" + strconv.Itoa(c.Port)
	}
	p := c.Path
	if !strings.HasPrefix(p, "/") {
		p = "/~/" + strings.TrimPrefix(p, "./")
		if c.Path == "." {
			p = "/~"
		}
	}
	return "sftp://" + url.PathEscape(c.User) + "@" + host + p
}

func (c Config) addr() string {
	port := c.Port
	if port == 0 {
		port = 22
	}
	return net.JoinHostPort(c.Host, strconv.Itoa(port))
}

func (c Config) withDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = 15 * time.Second
	}
	if c.StaleAfter <= 0 {
		c.StaleAfter = time.Hour
	}
	return c
}

// Caps are what the server offers, probed at connect.
type Caps struct {
	Fsync   bool // fsync@openssh.com: Commit makes files durable
	StatVFS bool // statvfs@openssh.com: free space is known
	// PosixRename: posix-rename@openssh.com, used to replace metadata files
	// atomically; without it WriteMeta removes the old file first.
	PosixRename bool
}

// Store is an attached SFTP target. Its methods are safe for concurrent use.
type Store struct {
	cfg  Config
	root string // the target's folder on the server, as configured
	id   Identity
	caps Caps

	ssh  *ssh.Client
	c    *pkgsftp.Client
	gone chan struct{} // closed when the connection ends
	stop chan struct{} // closed by Close

	mu      sync.Mutex
	cleaned map[string]bool     // directories whose stale temporaries were looked at
	live    map[string]struct{} // temporaries of our open writers
	closed  bool
	free    uint64 // free bytes on the server, as of freeAt
	freeAt  time.Time
	// hashTool and hashWhy: what RemoteSum runs, or why it cannot.
	hashTool hashTool
	hashWhy  string
	hashSem  chan struct{} // bounds RemoteSum's exec sessions
}

var (
	_ store.Store     = (*Store)(nil)
	_ store.Preserver = (*Store)(nil)
	_ store.MetaStore = (*Store)(nil)
)

// Prepare makes cfg.Path a Trove target (trove target add): it creates the
// folder if missing and writes .trove/target.json, idempotently for the same
// TargetID; a different identity already there is refused with
// ErrWrongTarget.
func Prepare(ctx context.Context, cfg Config, id Identity) (Caps, error) {
	if id.TargetID == "" {
		return Caps{}, fmt.Errorf("prepare %s: empty target id", cfg.URL())
	}
	s, err := connect(ctx, cfg)
	if err != nil {
		return Caps{}, err
	}
	defer s.Close()
	old, err := s.readIdentity()
	switch {
	case err == nil && old.TargetID != id.TargetID:
		return Caps{}, fmt.Errorf("prepare %s: it already belongs to target %q (%s), not %q: %w", cfg.URL(), old.Name, old.TargetID, id.TargetID, store.ErrWrongTarget)
	case err == nil:
		return s.caps, nil
	case !errors.Is(err, store.ErrNotAttached):
		return Caps{}, err
	}
	if err := s.c.MkdirAll(s.abs(metaDir)); err != nil {
		return Caps{}, s.classify("prepare: create "+metaDir, err)
	}
	if id.Format == 0 {
		id.Format = local.IdentityFormat
	}
	if id.CreatedAt.IsZero() {
		id.CreatedAt = time.Now().UTC().Truncate(time.Second)
	}
	b, err := marshalIdentity(id)
	if err != nil {
		return Caps{}, fmt.Errorf("prepare %s: %w", cfg.URL(), err)
	}
	// Publish without replacing: a concurrent Prepare of another target
	// must not be overwritten.
	if err := s.writeDurable(ctx, identityFile, strings.NewReader(string(b)), false); err != nil {
		return Caps{}, fmt.Errorf("prepare %s: write identity: %w", cfg.URL(), err)
	}
	return s.caps, nil
}

// ReadIdentity connects and reads the target's identity (for trove recover
// and target listing). No identity yields ErrNotAttached.
func ReadIdentity(ctx context.Context, cfg Config) (Identity, error) {
	s, err := connect(ctx, cfg)
	if err != nil {
		return Identity{}, err
	}
	defer s.Close()
	return s.readIdentity()
}

// Attach connects for a run and checks the identity: missing → ErrNotAttached,
// another target's → ErrWrongTarget. Close the Store when done.
func Attach(ctx context.Context, cfg Config, targetID string) (*Store, error) {
	s, err := connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	id, err := s.readIdentity()
	if err != nil {
		s.Close()
		return nil, err
	}
	if id.TargetID != targetID {
		s.Close()
		return nil, fmt.Errorf("attach %s: found target %q (%s) there, expected %s: %w", cfg.URL(), id.Name, id.TargetID, targetID, store.ErrWrongTarget)
	}
	s.id = id
	return s, nil
}

// connect dials, checks the host key, authenticates and starts SFTP.
func connect(ctx context.Context, cfg Config) (*Store, error) {
	cfg = cfg.withDefaults()
	if cfg.Path == "" {
		return nil, fmt.Errorf("connect %s: no folder given", cfg.URL())
	}
	client, err := dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	c, err := pkgsftp.NewClient(client,
		pkgsftp.UseConcurrentWrites(true),
		pkgsftp.MaxConcurrentRequestsPerFile(64))
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("connect %s: start SFTP (is the sftp subsystem enabled on the server?): %w", cfg.URL(), err)
	}
	s := &Store{
		cfg: cfg, root: cfg.Path, ssh: client, c: c,
		gone: make(chan struct{}), stop: make(chan struct{}),
		cleaned: map[string]bool{}, live: map[string]struct{}{},
		hashSem: make(chan struct{}, maxHashSessions),
	}
	s.caps.Fsync = hasExt(c, "fsync@openssh.com")
	s.caps.StatVFS = hasExt(c, "statvfs@openssh.com")
	s.caps.PosixRename = hasExt(c, "posix-rename@openssh.com")
	go func() {
		client.Wait()
		close(s.gone)
	}()
	if cfg.KeepAlive > 0 {
		go s.keepAlive(cfg.KeepAlive)
	}
	return s, nil
}

func hasExt(c *pkgsftp.Client, name string) bool {
	_, ok := c.HasExtension(name)
	return ok
}

// keepAlive probes the server every interval and closes the connection
// when a probe is not answered within 2×interval.
func (s *Store) keepAlive(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-s.gone:
			return
		case <-t.C:
		}
		answered := make(chan struct{})
		go func() {
			s.ssh.SendRequest("keepalive@openssh.com", true, nil)
			close(answered)
		}()
		select {
		case <-answered:
		case <-s.stop:
			return
		case <-time.After(2 * interval):
			s.ssh.Close() // unblocks everything waiting on the server
			return
		}
	}
}

// Close ends the connection. Safe to call twice.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.stop)
	s.mu.Unlock()
	err := s.c.Close()
	if cerr := s.ssh.Close(); err == nil && cerr != nil && !errors.Is(cerr, net.ErrClosed) {
		err = cerr
	}
	if err != nil && !s.isGone() {
		return fmt.Errorf("close %s: %w", s.label(), err)
	}
	return nil
}

// Identity returns the identity read at Attach.
func (s *Store) Identity() Identity { return s.id }

// Caps returns what the server offers.
func (s *Store) Caps() Caps { return s.caps }

// URL returns the target's URL.
func (s *Store) URL() string { return s.cfg.URL() }

// Usage reports free and total bytes of the server's filesystem
// (statvfs@openssh.com); an error when the server does not offer it.
func (s *Store) Usage() (free, total uint64, err error) {
	if !s.caps.StatVFS {
		return 0, 0, fmt.Errorf("usage of %s: the server does not report free space", s.label())
	}
	v, err := s.c.StatVFS(s.abs("."))
	if err != nil {
		return 0, 0, s.classify("usage", err)
	}
	return v.Frsize * v.Bavail, v.Frsize * v.Blocks, nil
}

// label names the target in messages (never with secrets: there are none
// in a Config's URL).
func (s *Store) label() string {
	if s.id.Name != "" {
		return s.id.Name + " (" + s.cfg.URL() + ")"
	}
	return s.cfg.URL()
}

// abs returns the server path of a stored name ("." for the root).
func (s *Store) abs(name string) string {
	if name == "." || name == "" {
		return s.root
	}
	return path.Join(s.root, name)
}

func (s *Store) isGone() bool {
	select {
	case <-s.gone:
		return true
	default:
		return false
	}
}

// alive returns ErrNotAttached once the connection is gone or closed.
func (s *Store) alive() error {
	if s.isGone() {
		return fmt.Errorf("%s: connection lost: %w", s.label(), store.ErrNotAttached)
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return fmt.Errorf("%s: store closed: %w", s.label(), store.ErrNotAttached)
	}
	return nil
}

// classify wraps an error of op with the store sentinel it means: a lost
// connection is ErrNotAttached; a missing file ErrNotExist. Errors already
// carrying a store sentinel pass through.
func (s *Store) classify(op string, err error) error {
	for _, e := range []error{store.ErrFull, store.ErrTooLarge, store.ErrNotAttached, store.ErrExist, store.ErrNotExist, store.ErrCorrupt, store.ErrBadName, context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, e) {
			return err
		}
	}
	if connLost(err) || s.isGone() {
		return fmt.Errorf("%s on %s: connection lost: %w: %w", op, s.label(), store.ErrNotAttached, err)
	}
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s on %s: %w", op, s.label(), store.ErrNotExist)
	}
	return fmt.Errorf("%s on %s: %w", op, s.label(), err)
}

// connLost recognises the errors pkg/sftp and x/crypto/ssh give when the
// connection ends.
func connLost(err error) bool {
	var st *pkgsftp.StatusError
	if errors.As(err, &st) {
		c := st.FxCode()
		return c == pkgsftp.ErrSSHFxConnectionLost || c == pkgsftp.ErrSSHFxNoConnection
	}
	return errors.Is(err, pkgsftp.ErrSSHFxConnectionLost) || errors.Is(err, pkgsftp.ErrSSHFxNoConnection) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) ||
		errors.Is(err, errUnexpectedEOF) || errors.Is(err, errEOF)
}

// homeDir returns the local user's home for default key and known_hosts
// paths.
func homeDir() string {
	h, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return h
}

func defaultKnownHosts() []string {
	h := homeDir()
	if h == "" {
		return nil
	}
	return []string{filepath.Join(h, ".ssh", "known_hosts")}
}
