package main

// The one place that knows every kind of target: how a catalog.Target of
// each Kind is opened for a run (folder and library → internal/store/local;
// sftp → internal/store/sftp; s3 → S3 blobs + encrypted vault; rclone →
// rclone blobs + encrypted vault) and how a new one is prepared by
// `trove target add`. Nothing registers itself elsewhere.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/term"

	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/schedule"
	"github.com/trove-backup/trove/internal/store"
	"github.com/trove-backup/trove/internal/store/local"
	"github.com/trove-backup/trove/internal/store/rclone"
	"github.com/trove-backup/trove/internal/store/s3"
	"github.com/trove-backup/trove/internal/store/sftp"
	"github.com/trove-backup/trove/internal/store/vault"
)

// targetKinds registers every target kind: how to open one for a run.
var targetKinds = map[string]func(ctx context.Context, a *app, t catalog.Target) (*attached, error){
	catalog.KindLibrary:   openFolder,
	catalog.KindFolder:    openFolder,
	catalog.KindSFTP:      openSFTP,
	catalog.KindS3:        openVault,
	catalog.KindRclone:    openVault,
	catalog.KindSFTPVault: openVault,
}

// isRemote reports whether a kind is reached over the network (it has a URL
// instead of a folder path, and no drive to plug in).
func isRemote(kind string) bool {
	return kind == catalog.KindSFTP || isVault(kind)
}

// isVault reports whether a kind holds an encrypted vault.
func isVault(kind string) bool {
	return kind == catalog.KindS3 || kind == catalog.KindRclone || kind == catalog.KindSFTPVault
}

// kindOfURL tells the target kind from what the user typed: s3://…,
// sftp://…, rclone:REMOTE:PATH, else a folder path.
func kindOfURL(u string) string {
	switch {
	case strings.HasPrefix(u, "s3://"):
		return catalog.KindS3
	case strings.HasPrefix(u, "sftp://"):
		return catalog.KindSFTP
	case strings.HasPrefix(u, "rclone:"):
		return catalog.KindRclone
	}
	return catalog.KindFolder
}

// targetOptions are a remote target's connection options, kept as JSON in
// catalog.Target.Options. Never secrets: credentials come from the
// environment or files named here, the passphrase from TROVE_PASSPHRASE, a
// 0600 file or a prompt.
type targetOptions struct {
	Endpoint       string `json:"endpoint,omitempty"`        // s3: https://HOST[:PORT]
	Region         string `json:"region,omitempty"`          // s3
	AllowHTTP      bool   `json:"allow_http,omitempty"`      // s3: plain http to a non-loopback host
	Profile        string `json:"profile,omitempty"`         // s3: AWS shared credentials profile
	PassphraseFile string `json:"passphrase_file,omitempty"` // vaults: a 0600 file holding the passphrase
	KeyFile        string `json:"key_file,omitempty"`        // sftp: private key
	KnownHosts     string `json:"known_hosts,omitempty"`     // sftp: known_hosts file
	RcloneConfig   string `json:"rclone_config,omitempty"`   // rclone: config file (else rclone's default)
}

func parseTargetOptions(t catalog.Target) (targetOptions, error) {
	var o targetOptions
	if t.Options == "" {
		return o, nil
	}
	if err := json.Unmarshal([]byte(t.Options), &o); err != nil {
		return o, fmt.Errorf("target %s: its options in the catalog are unreadable: %w", t.Name, err)
	}
	return o, nil
}

func (o targetOptions) String() string {
	b, _ := json.Marshal(o)
	if string(b) == "{}" {
		return ""
	}
	return string(b)
}

// attached is a target opened for a run, of any kind.
type attached struct {
	Target catalog.Target
	Store  store.Store
	// Device is what the target is: a folder's filesystem identity, or a
	// remote target's URL identity (never equal to a disk's).
	Device string
	// Local is the folder store of folder and library targets (nil for
	// remote ones).
	Local *local.Local
	// Pace, when not nil, paces the bytes sent to the target (its
	// bandwidth limit) when applied to the source reader. Vaults are paced
	// inside (at their uploads) and leave it nil.
	Pace  func(ctx context.Context, r io.Reader) io.Reader
	close func() error
}

// Close detaches the target.
func (at *attached) Close() error {
	if at == nil || at.close == nil {
		return nil
	}
	return at.close()
}

// open attaches a target of any kind for a run and records that it was
// seen. Errors wrap store.ErrNotAttached when the target is absent (an
// unplugged drive, an unreachable server) and carry a hint.
func (a *app) open(ctx context.Context, t catalog.Target) (*attached, error) {
	fn, ok := targetKinds[t.Kind]
	if !ok {
		return nil, fmt.Errorf("target %s is of kind %q, which this Trove does not know: upgrade Trove", t.Name, t.Kind)
	}
	at, err := fn(ctx, a, t)
	if err != nil {
		return nil, err
	}
	if isRemote(t.Kind) {
		cur := at.Target
		cur.Device = at.Device
		cur.LastSeenAt = a.now()
		if err := a.cat.UpdateTarget(cur); err != nil {
			at.Close()
			return nil, err
		}
		at.Target = cur
	}
	return at, nil
}

func openFolder(_ context.Context, a *app, t catalog.Target) (*attached, error) {
	l, err := a.attach(t)
	if err != nil {
		return nil, err
	}
	t.Device = l.Device()
	at := &attached{Target: t, Store: l, Device: l.Device(), Local: l, close: l.Close}
	at.Pace = a.pacer(t.Name)
	return at, nil
}

func openSFTP(ctx context.Context, a *app, t catalog.Target) (*attached, error) {
	o, err := parseTargetOptions(t)
	if err != nil {
		return nil, err
	}
	cfg, err := sftpConfig(t.URL, o)
	if err != nil {
		return nil, err
	}
	s, err := sftp.Attach(ctx, cfg, t.ID)
	if err != nil {
		return nil, remoteError(t, err)
	}
	at := &attached{Target: t, Store: s, Device: cfg.URL(), close: s.Close}
	at.Pace = a.pacer(t.Name)
	return at, nil
}

func openVault(ctx context.Context, a *app, t catalog.Target) (*attached, error) {
	o, err := parseTargetOptions(t)
	if err != nil {
		return nil, err
	}
	lim := a.limiter(t.Name)
	// For runs, large uploads resume where an interruption left them: the
	// vault keeps their ciphertext in a spool under TROVE_HOME and owns the
	// cleanup of unfinished uploads (KeepUploads).
	b, dev, err := vaultBlobs(ctx, t.Kind, t.URL, o, a.stderr, blobsRun{lim: lim, resumable: true})
	if err != nil {
		return nil, remoteError(t, err)
	}
	closeBlobs := func() error { return nil }
	if c, ok := b.(io.Closer); ok {
		closeBlobs = c.Close // an SFTP connection
	}
	if _, isS3 := b.(*s3.Blobs); lim != nil && !isS3 {
		b = pace(b, lim) // S3 paces on the wire (Config.Pace)
	}
	pass, err := vaultPassphrase(o, false, a.stderr)
	if err != nil {
		return nil, err
	}
	vo := vaultOptions()
	vo.SpoolDir = filepath.Join(filepath.Dir(a.paths.Catalog), "spool")
	vo.Logf = func(f string, args ...any) { warnf(a.stderr, f, args...) }
	v, err := vault.Attach(ctx, b, pass, vo)
	if err != nil {
		return nil, remoteError(t, err)
	}
	if id, err := readVaultIdentity(ctx, v); err == nil && id.TargetID != t.ID {
		return nil, withHint(fmt.Errorf("%s: the vault at %s belongs to target %q: %w", t.Name, t.URL, id.Name, store.ErrWrongTarget),
			"check the URL and prefix of the target")
	}
	return &attached{Target: t, Store: v, Device: dev, close: closeBlobs}, nil
}

// remoteError adds the user's next step to a remote target's failure. A
// refused secret (a wrong vault passphrase, credentials the storage service
// refused) is noted for the exit code (4, see main.go) and returned as an
// exitError with that code; the message names the target and where it is,
// never the secret.
func remoteError(t catalog.Target, err error) error {
	refused := func(err error, hint string) error {
		noteRefused(t.Name, hint)
		return &exitError{code: exitRefused, err: withHint(fmt.Errorf("%s: %w", t.Name, err), hint)}
	}
	switch {
	case errors.Is(err, vault.ErrWrongPassphrase):
		if t.URL != "" && !strings.Contains(err.Error(), t.URL) {
			err = fmt.Errorf("%w for the vault at %s", err, t.URL)
		}
		return refused(err, "give the vault's passphrase in "+passphraseEnv+", the target's passphrase file, or at the prompt")
	case errors.Is(err, s3.ErrAccessDenied):
		return refused(err, "check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or your AWS credentials file (and AWS_PROFILE)")
	case errors.Is(err, sftp.ErrAuth):
		return refused(err, "check the target's SSH key (--key-file, or the key your SSH agent holds) and the server's authorized_keys")
	case errors.Is(err, sftp.ErrHostKeyChanged), errors.Is(err, sftp.ErrUnknownHost):
		return withHint(fmt.Errorf("%s: %w", t.Name, err), "see docs/sftp.md: Host key")
	case errors.Is(err, store.ErrNotAttached):
		return withHint(fmt.Errorf("%s is not reachable: %w", t.Name, err),
			fmt.Sprintf("check the network and that %s is there; `trove target list` shows when it was last seen", t.URL))
	case errors.Is(err, rclone.ErrNoRclone):
		return withHint(fmt.Errorf("%s: %w", t.Name, err), "install rclone, then run the command again")
	}
	return fmt.Errorf("%s (%s): %w", t.Name, t.URL, err)
}

// sftpConfig builds the connection settings of an sftp:// target.
func sftpConfig(u string, o targetOptions) (sftp.Config, error) {
	cfg, err := sftp.ParseURL(u)
	if err != nil {
		return cfg, err
	}
	cfg.KeyFile = o.KeyFile
	if o.KnownHosts != "" {
		cfg.KnownHosts = []string{o.KnownHosts}
	}
	if cfg.KeyFile != "" {
		cfg.Passphrase = func() ([]byte, error) { return promptSecret("passphrase of the SSH key "+cfg.KeyFile, os.Stderr) }
	}
	return cfg, nil
}

// parseS3URL splits s3://BUCKET/PREFIX.
func parseS3URL(u string) (bucket, prefix string, err error) {
	p, err := url.Parse(u)
	if err != nil || p.Scheme != "s3" || p.Host == "" || p.User != nil || p.RawQuery != "" {
		return "", "", errors.New("S3 target: want s3://BUCKET/PREFIX")
	}
	return p.Host, strings.Trim(p.Path, "/"), nil
}

// vaultBlobs connects to a vault's object storage and returns it with the
// target's URL identity.
// blobsRun are the run-time settings of a vault's object storage: its
// bandwidth limiter and whether unfinished uploads are left for the vault
// to resume (true only when the vault gets a spool directory).
type blobsRun struct {
	lim       *schedule.Limiter
	resumable bool
}

func vaultBlobs(ctx context.Context, kind, u string, o targetOptions, logw io.Writer, run blobsRun) (vault.Blobs, string, error) {
	switch kind {
	case catalog.KindS3:
		bucket, prefix, err := parseS3URL(u)
		if err != nil {
			return nil, "", err
		}
		ep := o.Endpoint
		if ep == "" {
			ep = "https://s3.amazonaws.com"
		}
		host, _, _, err := s3.ParseEndpoint(ep, o.AllowHTTP)
		if err != nil {
			return nil, "", err
		}
		cfg := s3.Config{Endpoint: ep, Bucket: bucket, Prefix: prefix, Region: o.Region,
			AllowHTTP: o.AllowHTTP, Profile: o.Profile, KeepUploads: run.resumable,
			Logf: func(f string, args ...any) { fmt.Fprintf(logw, "warning: "+f+"\n", args...) }}
		if run.lim != nil {
			cfg.Pace = run.lim.Reader
		}
		b, err := s3.New(ctx, cfg)
		if err != nil {
			return nil, "", err
		}
		return b, "s3://" + host + "/" + bucket + "/" + prefix, nil
	case catalog.KindSFTPVault:
		cfg, err := sftpConfig(u, o)
		if err != nil {
			return nil, "", err
		}
		b, err := sftp.OpenBlobs(ctx, cfg)
		if err != nil {
			return nil, "", err
		}
		return b, "sftp-vault:" + cfg.URL(), nil
	case catalog.KindRclone:
		remote, err := rclone.ParseURL(u)
		if err != nil {
			return nil, "", err
		}
		r, err := rclone.New(remote, rclone.Options{Config: o.RcloneConfig})
		if err != nil {
			return nil, "", err
		}
		if err := r.Check(ctx); err != nil {
			return nil, "", err
		}
		return r, "rclone:" + remote, nil
	}
	return nil, "", fmt.Errorf("%s is not a vault kind", kind)
}

// vaultIdentityName is where a vault keeps its target identity (encrypted,
// like every meta file): the same JSON a folder's .trove/target.json holds.
const vaultIdentityName = ".trove/target.json"

func readVaultIdentity(ctx context.Context, v *vault.Vault) (local.Identity, error) {
	rc, err := v.ReadMeta(ctx, vaultIdentityName)
	if err != nil {
		return local.Identity{}, err
	}
	defer rc.Close()
	var id local.Identity
	if err := json.NewDecoder(io.LimitReader(rc, 1<<16)).Decode(&id); err != nil {
		return id, fmt.Errorf("read the vault's identity: %w", err)
	}
	return id, nil
}

func writeVaultIdentity(ctx context.Context, v *vault.Vault, id local.Identity) error {
	b, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return err
	}
	return v.WriteMeta(ctx, vaultIdentityName, bytes.NewReader(append(b, '\n')))
}

// passphraseEnv is where scripts put a vault's passphrase (never argv).
const passphraseEnv = "TROVE_PASSPHRASE"

// scryptEnv lowers the passphrase work factor of NEW vaults in the test
// suite only: it is ignored unless this binary is a Go test binary
// (testing.Testing), so a user cannot weaken a real vault with it.
const scryptEnv = "TROVE_INSECURE_TEST_SCRYPT_LOGN"

func vaultOptions() vault.Options {
	var o vault.Options
	if !testing.Testing() {
		return o
	}
	if v, err := strconv.Atoi(os.Getenv(scryptEnv)); err == nil && v >= 10 && v <= 22 {
		o.ScryptLogN = v
	}
	return o
}

// vaultPassphrase finds a vault's passphrase: TROVE_PASSPHRASE, else the
// target's passphrase file (which must not be readable by others), else a
// prompt when stdin is a terminal (twice when confirm, for a new vault).
func vaultPassphrase(o targetOptions, confirm bool, w io.Writer) (string, error) {
	if p := os.Getenv(passphraseEnv); p != "" {
		return p, nil
	}
	if o.PassphraseFile != "" {
		return readPassphraseFile(o.PassphraseFile)
	}
	if !term.IsTerminal(int(os.Stdin.Fd())) {
		return "", &exitError{code: exitUsage, err: withHint(errors.New("the vault's passphrase is needed"),
			"set "+passphraseEnv+", or give --passphrase-file FILE (mode 0600), or run Trove in a terminal to be asked")}
	}
	p, err := promptSecret("vault passphrase", w)
	if err != nil {
		return "", err
	}
	if p == nil {
		return "", usageError("empty passphrase")
	}
	if confirm {
		if len(p) < 8 {
			return "", usageError("the passphrase is too short: use at least 8 characters (a few random words are best)")
		}
		again, err := promptSecret("same passphrase again", w)
		if err != nil {
			return "", err
		}
		if !bytes.Equal(p, again) {
			return "", usageError("the two passphrases differ: nothing was created")
		}
	}
	return string(p), nil
}

// readPassphraseFile reads a passphrase file, refusing one that others can
// read.
func readPassphraseFile(p string) (string, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return "", &exitError{code: exitUsage, err: fmt.Errorf("passphrase file: %w", err)}
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", &exitError{code: exitUsage, err: withHint(fmt.Errorf("passphrase file %s can be read by others (mode %04o)", p, fi.Mode().Perm()),
			"chmod 600 "+p)}
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("passphrase file: %w", err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", &exitError{code: exitUsage, err: fmt.Errorf("passphrase file %s is empty", p)}
	}
	return s, nil
}

// promptSecret asks for a secret on the terminal without echo. It returns
// nil for an empty answer.
func promptSecret(what string, w io.Writer) ([]byte, error) {
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return nil, fmt.Errorf("%s is needed, and stdin is not a terminal to ask for it", what)
	}
	fmt.Fprintf(w, "Enter %s: ", what)
	b, err := term.ReadPassword(fd)
	fmt.Fprintln(w)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	if len(b) == 0 {
		return nil, nil
	}
	return b, nil
}

// limiter returns the bandwidth limiter of a target's [targets.NAME]
// bwlimit, or nil when unlimited.
func (a *app) limiter(name string) *schedule.Limiter {
	ts, ok := a.cfg.Targets[name]
	if !ok || ts.BWLimit == "" {
		return nil
	}
	plan, err := schedule.ParseBandwidthPlan(ts.BWLimit) // validated when the config was loaded
	if err != nil || plan.Unlimited() {
		return nil
	}
	return schedule.NewLimiter(plan, time.Now, schedule.Sleep)
}

// pacer returns a function pacing readers by the target's bandwidth limit
// (nil when unlimited). All transfers of the run share one limiter.
func (a *app) pacer(name string) func(context.Context, io.Reader) io.Reader {
	lim := a.limiter(name)
	if lim == nil {
		return nil
	}
	return lim.Reader
}

// pacedBlobs applies a bandwidth limit to a vault's uploads (the bytes
// that leave for the target).
type pacedBlobs struct {
	vault.Blobs
	lim *schedule.Limiter
}

func (p pacedBlobs) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	return p.Blobs.Put(ctx, key, p.lim.Reader(ctx, r), size)
}

// pace wraps b in a pacedBlobs that keeps b's optional abilities (resumable
// uploads on SFTP, the service's checksums on rclone): a wrapper that hid
// them would quietly turn off resuming and server checks.
func pace(b vault.Blobs, lim *schedule.Limiter) vault.Blobs {
	p := pacedBlobs{Blobs: b, lim: lim}
	r, resumable := b.(vault.Resumable)
	f, fingerprints := b.(vault.Fingerprinter)
	switch {
	case resumable && fingerprints:
		return struct {
			pacedResumable
			fingerprintsOf
		}{pacedResumable{p, r}, fingerprintsOf{f}}
	case resumable:
		return pacedResumable{p, r}
	case fingerprints:
		return struct {
			pacedBlobs
			fingerprintsOf
		}{p, fingerprintsOf{f}}
	}
	return p
}

// fingerprintsOf lends a Fingerprinter's two listing methods to a wrapper.
type fingerprintsOf struct{ f vault.Fingerprinter }

func (w fingerprintsOf) Fingerprint(ctx context.Context, key string) (int64, string, error) {
	return w.f.Fingerprint(ctx, key)
}

func (w fingerprintsOf) ListFingerprints(ctx context.Context, prefix string, fn func(key string, size int64, fp string) error) error {
	return w.f.ListFingerprints(ctx, prefix, fn)
}

// pacedResumable is a paced Blobs whose resumable uploads are paced too.
type pacedResumable struct {
	pacedBlobs
	r vault.Resumable
}

func (p pacedResumable) ResumeMin() int64 { return p.r.ResumeMin() }

func (p pacedResumable) PutResumable(ctx context.Context, key string, r io.ReaderAt, size int64, up vault.Upload, save func(vault.Upload) error) error {
	return p.r.PutResumable(ctx, key, pacedReaderAt{ctx: ctx, r: r, lim: p.lim}, size, up, save)
}

func (p pacedResumable) Uploads(ctx context.Context) ([]vault.Upload, error) { return p.r.Uploads(ctx) }

func (p pacedResumable) AbortUpload(ctx context.Context, up vault.Upload) error {
	return p.r.AbortUpload(ctx, up)
}

// pacedReaderAt reads through the bandwidth limiter.
type pacedReaderAt struct {
	ctx context.Context
	r   io.ReaderAt
	lim *schedule.Limiter
}

func (p pacedReaderAt) ReadAt(b []byte, off int64) (int, error) {
	n, err := io.ReadFull(p.lim.Reader(p.ctx, io.NewSectionReader(p.r, off, int64(len(b)))), b)
	if err == io.ErrUnexpectedEOF {
		err = io.EOF // ReaderAt: fewer bytes than asked only at the end
	}
	return n, err
}

// absPath makes a user-given file path absolute (for options kept in the
// catalog and used from any working directory).
func absPath(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	return filepath.Abs(p)
}
