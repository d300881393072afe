package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/config"
	"github.com/trove-backup/trove/internal/digest"
	"github.com/trove-backup/trove/internal/progress"
	"github.com/trove-backup/trove/internal/restore"
	"github.com/trove-backup/trove/internal/store"
	"github.com/trove-backup/trove/internal/store/local"
	"github.com/trove-backup/trove/internal/store/sftp"
	"github.com/trove-backup/trove/internal/store/vault"
	"github.com/trove-backup/trove/internal/targetmeta"
)

func newRecoverCmd() *cobra.Command {
	var from, to string
	var ro remoteAddFlags
	cmd := &cobra.Command{
		Use:   "recover --from DIR|URL --to DIR [--endpoint URL] [--passphrase-file F] [--key-file F]",
		Short: "The fire drill: rebuild the library and a catalog from one target alone",
		Long: `Rebuilds everything from a single target when the computer, the library and the other
drives are gone: a backup drive (DIR), an SFTP server (sftp://USER@HOST/PATH), or an
encrypted vault (s3://BUCKET/PREFIX with --endpoint, rclone:REMOTE:PATH) and its passphrase.

Trove reads the catalog snapshot the target carries (.trove/catalog/catalog.db; inside a
vault it is encrypted), restores every current file the target holds into DIR, checking
every byte against its SHA-256, and writes a fresh setup (config.toml and catalog.db in
TROVE_HOME, or the platform's usual place) whose library is DIR. The other targets stay
known with their copies, so ` + "`trove status`" + ` shows at once what the fire cost.

If the snapshot is missing or unreadable, Trove walks the target instead: a vault's own
encrypted index (trusted: it is authenticated), or a folder's files checked against its
manifest. The manifest is not trusted blindly: a file whose content differs from its
manifest line is restored anyway but reported UNVERIFIED.

The settings come back too: every target carries the config (.trove/config.toml, without
secrets), so the new config.toml has the old policy, schedules, upload windows, bandwidth
limits, naming template and alert settings, with the library moved to DIR. Files it names
that are not on this computer (passphrase files, SSH keys, known_hosts) are listed to check.
A target written by an older Trove carries no config: the defaults are used, and recover
says so.

TROVE_HOME must not hold a setup yet. Credentials and the passphrase are found as for
` + "`trove target add`" + ` (AWS_* variables or files, TROVE_PASSPHRASE, --passphrase-file, a prompt).
Exit code 0 when every file came back verified; 1 otherwise; 4 when the vault's passphrase
or the storage service's credentials were refused.`,
		Example: `  TROVE_HOME=~/trove-new trove recover --from /media/ann/T7 --to ~/Pictures/Trove
  trove recover --from s3://my-bucket/trove --endpoint https://s3.eu-central-003.backblazeb2.com --to ~/Pictures/Trove
  trove recover --from sftp://ann@nas.example.net/volume1/trove --to ~/Pictures/Trove`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if from == "" || to == "" {
				return usageError("--from and --to are required: the target to recover from, and the folder for the library")
			}
			return runRecover(cmd, from, to, ro)
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the target: a folder, sftp://…, s3://… or rclone:…")
	cmd.Flags().StringVar(&to, "to", "", "folder for the rebuilt library (created when missing)")
	ro.flags(cmd)
	return cmd
}

// recoverSource is the opened target recover reads from.
type recoverSource struct {
	kind   string
	url    string // remote targets
	path   string // folder targets
	opts   targetOptions
	st     store.Store
	meta   store.MetaStore
	id     local.Identity // zero when the target carries none (an old vault)
	hasID  bool
	device string
	close  func() error
}

func runRecover(cmd *cobra.Command, from, to string, ro remoteAddFlags) error {
	ctx := cmd.Context()
	out, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
	paths, err := config.Locate()
	if err != nil {
		return err
	}
	for _, p := range []string{paths.Config, paths.Catalog} {
		if _, err := os.Stat(p); err == nil {
			return &exitError{code: exitUsage, err: withHint(fmt.Errorf("%s exists: recover writes a fresh setup and never replaces one", p),
				"point TROVE_HOME at an empty folder (TROVE_HOME=~/trove-recovered trove recover ...)")}
		}
	}
	dir, err := filepath.Abs(to)
	if err != nil {
		return usageError("--to %s: %v", to, err)
	}
	src, err := openRecoverSource(ctx, from, ro, ro.set(cmd), errw)
	if err != nil {
		return err
	}
	defer src.close()
	if src.kind == catalog.KindFolder && (isWithin(dir, src.path) || isWithin(src.path, dir)) {
		return usageError("--to %s overlaps the target %s: restore into a separate folder", dir, src.path)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if err := os.MkdirAll(filepath.Dir(paths.Catalog), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(paths.Catalog), err)
	}
	now := nowFunc()
	cat, snapErr := loadSnapshot(ctx, src, paths.Catalog)
	rec := &recovery{ctx: ctx, src: src, dir: dir, now: now, out: out, errw: errw}
	if snapErr == nil {
		rec.cat = cat
		err = rec.fromSnapshot()
	} else {
		fmt.Fprintf(out, "No usable catalog snapshot on the target (%v): rebuilding the catalog by walking the target.\n", snapErr)
		removeCatalogFiles(paths.Catalog)
		if rec.cat, err = catalog.Open(paths.Catalog); err != nil {
			return err
		}
		err = rec.fromWalk()
	}
	defer rec.cat.Close()
	if err != nil {
		return err
	}
	cfg, err := rec.setupConfig()
	if err != nil {
		return err
	}
	if err := config.Save(paths.Config, cfg); err != nil {
		return err
	}
	if err := targetmeta.CarryConfig(rec.cat, cfg); err != nil {
		warnf(errw, "the config will not travel with the targets: %v", err)
	}
	rec.checkPaths(cfg)
	return rec.report(paths)
}

// openRecoverSource opens the target named by --from, trusting its
// identity (whatever it is: there is no catalog to compare with yet).
func openRecoverSource(ctx context.Context, from string, ro remoteAddFlags, flagsSet bool, errw io.Writer) (*recoverSource, error) {
	kind := ro.kindFor(from)
	src := &recoverSource{kind: kind}
	var err error
	if kind != catalog.KindFolder {
		if src.opts, err = ro.options(kind); err != nil {
			return nil, err
		}
	} else if flagsSet {
		return nil, usageError("--endpoint, --passphrase-file, --key-file ... are for URL targets")
	}
	t := catalog.Target{Name: "the target", URL: from, Kind: kind}
	switch kind {
	case catalog.KindFolder:
		if src.path, err = filepath.Abs(from); err != nil {
			return nil, usageError("--from %s: %v", from, err)
		}
		id, err := local.ReadIdentity(src.path)
		if err != nil {
			return nil, withHint(fmt.Errorf("%s is not a Trove target: %w", src.path, err),
				"give the top folder of the backup drive (the one holding README.txt and .trove)")
		}
		l, err := local.Attach(src.path, id.TargetID)
		if err != nil {
			return nil, fmt.Errorf("attach %s: %w", src.path, err)
		}
		src.st, src.meta, src.id, src.hasID, src.device, src.close = l, l, id, true, l.Device(), l.Close
	case catalog.KindSFTP:
		cfg, err := sftpConfig(from, src.opts)
		if err != nil {
			return nil, &exitError{code: exitUsage, err: err}
		}
		id, err := sftp.ReadIdentity(ctx, cfg)
		if errors.Is(err, store.ErrNotAttached) && !errors.Is(err, sftp.ErrUnknownHost) {
			return nil, withHint(fmt.Errorf("%s holds no plain Trove target: %w", cfg.URL(), err),
				"if it holds an encrypted vault (target added with --encrypt), add --encrypt")
		}
		if err != nil {
			return nil, remoteError(t, err)
		}
		s, err := sftp.Attach(ctx, cfg, id.TargetID)
		if err != nil {
			return nil, remoteError(t, err)
		}
		src.url = cfg.URL()
		src.st, src.meta, src.id, src.hasID, src.device, src.close = s, s, id, true, cfg.URL(), s.Close
	default:
		b, dev, err := vaultBlobs(ctx, kind, from, src.opts, errw, blobsRun{})
		if err != nil {
			return nil, remoteError(t, err)
		}
		pass, err := vaultPassphrase(src.opts, false, errw)
		if err != nil {
			return nil, err
		}
		v, err := vault.Attach(ctx, b, pass, vault.Options{})
		if err != nil {
			return nil, remoteError(t, err)
		}
		src.url = canonicalVaultURL(kind, from)
		src.st, src.meta, src.device, src.close = v, v, dev, func() error { return nil }
		if id, err := readVaultIdentity(ctx, v); err == nil {
			src.id, src.hasID = id, true
		}
	}
	return src, nil
}

// loadSnapshot copies the target's catalog snapshot to path and opens it,
// checking that it is a usable catalog.
func loadSnapshot(ctx context.Context, src *recoverSource, path string) (*catalog.Catalog, error) {
	rc, err := src.meta.ReadMeta(ctx, targetmeta.CatalogName)
	if err != nil {
		return nil, err
	}
	err = writeFileSync(path, rc)
	rc.Close()
	if err != nil {
		return nil, err
	}
	cat, err := catalog.Open(path)
	if err != nil {
		return nil, err
	}
	check := func() error {
		if _, err := cat.Meta("library_id"); err != nil {
			return fmt.Errorf("no library id: %w", err)
		}
		if _, err := cat.Library(); err != nil {
			return err
		}
		if _, err := cat.AllFiles(); err != nil {
			return err
		}
		_, err := cat.AllCopies()
		return err
	}
	if err := check(); err != nil {
		cat.Close()
		return nil, fmt.Errorf("the snapshot is damaged: %w", err)
	}
	return cat, nil
}

func writeFileSync(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func removeCatalogFiles(p string) {
	for _, s := range []string{"", "-wal", "-shm", "-journal"} {
		os.Remove(p + s)
	}
}

// recovery is one recover run.
type recovery struct {
	ctx  context.Context
	src  *recoverSource
	cat  *catalog.Catalog
	dir  string
	now  time.Time
	out  io.Writer
	errw io.Writer

	lib, tgt   catalog.Target
	notHere    []catalog.File // current files the target holds no counting copy of
	unverified []string       // restored, but their content could not be proven
	res        *restore.Result
	fromSnap   bool

	// The new setup's config: from the target (cfgNote says what came
	// back) or the defaults (cfgNote says why).
	cfgNote    string
	notCarried []string // settings the carried config left out (secrets)
	checkHere  []string // paths it names that do not exist on this computer
}

// fromSnapshot uses the catalog the target carried: the library moves to
// the new folder, the target is found by its identity, and every current
// file with a counting copy on it is restored.
func (r *recovery) fromSnapshot() error {
	r.fromSnap = true
	lib, err := r.cat.Library()
	if err != nil {
		return err
	}
	ts, err := r.cat.Targets()
	if err != nil {
		return err
	}
	found := false
	for _, t := range ts {
		if (r.src.hasID && t.ID == r.src.id.TargetID) || (!r.src.hasID && r.src.url != "" && t.URL == r.src.url) {
			r.tgt, found = t, true
		}
	}
	if !found {
		return withHint(errors.New("the target's catalog snapshot does not list the target itself"),
			"the snapshot may belong to another target; recover from another one, or remove .trove/catalog to walk the target")
	}
	// The target as reached now.
	if r.src.kind == catalog.KindFolder {
		r.tgt.Path = r.src.path
	} else {
		r.tgt.URL = r.src.url
		old, _ := parseTargetOptions(r.tgt)
		r.tgt.Options = mergeOptions(old, r.src.opts).String()
	}
	r.tgt.Device, r.tgt.LastSeenAt = r.src.device, r.now
	if err := r.cat.UpdateTarget(r.tgt); err != nil {
		return err
	}
	if r.lib, err = r.prepareLibrary(lib); err != nil {
		return err
	}
	files, err := r.cat.AllFiles()
	if err != nil {
		return err
	}
	all, err := r.cat.AllCopies()
	if err != nil {
		return err
	}
	var todo []catalog.File
	for _, f := range files {
		if !f.DeletedAt.IsZero() {
			continue
		}
		counts := false
		for _, cp := range all[f.ID] {
			if cp.TargetID == r.tgt.ID && cp.Counts(f) {
				counts = true
			}
		}
		if counts {
			todo = append(todo, f)
		} else {
			r.notHere = append(r.notHere, f)
		}
	}
	fmt.Fprintf(r.out, "Recovering from %s (%s): its catalog snapshot lists %s; %s on this target.\n", r.tgt.Name,
		r.where(), plural(len(todo)+len(r.notHere), "current file", "current files"), commas(len(todo)))
	return r.restore(todo)
}

// mergeOptions keeps the stored options and lets the ones given now win.
func mergeOptions(old, now targetOptions) targetOptions {
	var a, b map[string]any
	ja, _ := json.Marshal(old)
	jb, _ := json.Marshal(now)
	json.Unmarshal(ja, &a)
	json.Unmarshal(jb, &b)
	for k, v := range b {
		a[k] = v
	}
	j, _ := json.Marshal(a)
	var out targetOptions
	json.Unmarshal(j, &out)
	return out
}

func (r *recovery) where() string {
	if r.src.kind == catalog.KindFolder {
		return r.src.path
	}
	return r.src.url
}

// prepareLibrary points the library row at the new folder and writes the
// library's identity there.
func (r *recovery) prepareLibrary(lib catalog.Target) (catalog.Target, error) {
	libID, err := r.cat.Meta("library_id")
	if err != nil {
		return lib, err
	}
	if _, err := local.Prepare(r.dir, local.Identity{Format: local.IdentityFormat, TargetID: lib.ID, Name: lib.Name,
		LibraryID: libID, CreatedAt: r.now}); err != nil {
		return lib, fmt.Errorf("prepare the library folder %s: %w", r.dir, err)
	}
	lib.Path, lib.LastSeenAt = r.dir, r.now
	if dev, err := local.DeviceOf(r.dir); err == nil {
		lib.Device = dev
	}
	return lib, r.cat.UpdateTarget(lib)
}

// restore brings files from the target into the library folder and records
// the library's copies of those that arrived intact.
func (r *recovery) restore(files []catalog.File) error {
	sink := progress.Discard()
	if progress.IsTerminal(r.errw) {
		sink = progress.NewTerminal(r.errw)
	}
	res, err := restore.Run(r.ctx, restore.Options{Catalog: r.cat, Files: files, Dir: r.dir,
		Sources: []restore.Source{{Target: r.tgt, Store: r.src.st}}, Sink: sink, Now: nowFunc})
	sink.Close()
	if res == nil {
		return err
	}
	r.res = res
	bad := map[string]bool{}
	for _, it := range append(append([]restore.Item{}, res.Failed...), res.Skipped...) {
		bad[it.File] = true
	}
	for _, f := range files {
		if bad[f.Path] {
			r.cat.SetCopyState(f.ID, r.lib.ID, catalog.CopyMissing, time.Time{}, "not recovered")
			continue
		}
		fi, serr := os.Stat(filepath.Join(r.dir, filepath.FromSlash(f.Path)))
		if serr != nil {
			continue
		}
		at := nowFunc()
		if perr := r.cat.PutCopy(r.ctx, catalog.Copy{FileID: f.ID, TargetID: r.lib.ID, Path: f.Path, Sum: f.Sum,
			State: catalog.CopyOK, VerifiedAt: at, WrittenAt: at}); perr != nil {
			return perr
		}
		if perr := r.cat.SetLibraryStat(f.ID, fi.Size(), fi.ModTime().UnixNano()); perr != nil {
			return perr
		}
	}
	// Files the target does not hold are not in the new library.
	for _, f := range r.notHere {
		if cp, err := r.cat.CopyOf(f.ID, r.lib.ID); err == nil && cp.State == catalog.CopyOK {
			r.cat.SetCopyState(f.ID, r.lib.ID, catalog.CopyMissing, time.Time{}, "not on the target recovered from")
		}
	}
	return err
}

// fromWalk builds a catalog from the target's own listing: a vault's index
// (authenticated, so trusted) or a folder's files, each hashed and compared
// with the manifest.
func (r *recovery) fromWalk() error {
	libID := r.src.id.LibraryID
	if libID == "" {
		libID = newID()
	}
	if err := r.cat.SetMeta("library_id", libID); err != nil {
		return err
	}
	lib := catalog.Target{ID: newID(), Name: catalog.LibraryName, Kind: catalog.KindLibrary, Path: r.dir, Medium: "ssd",
		Location: "home", CreatedAt: r.now, LastSeenAt: r.now}
	if err := r.cat.AddTarget(lib); err != nil {
		return err
	}
	var err error
	if r.lib, err = r.prepareLibrary(lib); err != nil {
		return err
	}
	t := catalog.Target{ID: r.src.id.TargetID, Name: r.src.id.Name, Kind: r.src.kind, Path: r.src.path, URL: r.src.url,
		Options: r.src.opts.String(), Device: r.src.device, Medium: "hdd", Location: "offsite", CreatedAt: r.now, LastSeenAt: r.now}
	if t.ID == "" {
		t.ID = newID()
	}
	if t.Name == "" || t.Name == catalog.LibraryName {
		t.Name = "recovered"
	}
	switch r.src.kind {
	case catalog.KindSFTP:
		t.Medium = "nas"
	case catalog.KindS3, catalog.KindRclone:
		t.Medium, t.Location = "cloud", "cloud"
	}
	if err := r.cat.AddTarget(t); err != nil {
		return err
	}
	r.tgt = t
	manifest := map[string]digest.Sum{}
	if _, isVault := r.src.st.(*vault.Vault); !isVault {
		if manifest, err = readManifest(r.ctx, r.src.meta); err != nil {
			fmt.Fprintf(r.out, "note: the target's manifest is unreadable (%v): every file is restored UNVERIFIED\n", err)
		}
	}
	var files []catalog.File
	buf := make([]byte, 1<<20)
	err = r.src.st.Walk(r.ctx, "", func(i store.Info) error {
		if i.Name == targetmeta.ReadmeName || strings.HasPrefix(i.Name, "INDEX.") {
			return nil
		}
		var sum digest.Sum
		verified := true
		problem := ""
		if v, ok := r.src.st.(*vault.Vault); ok {
			s, err := v.Sum(i.Name)
			if err != nil {
				return err
			}
			sum = s
		} else {
			rc, err := r.src.st.Open(r.ctx, i.Name)
			if err != nil {
				return fmt.Errorf("read %s: %w", i.Name, err)
			}
			s, _, err := digest.Reader(rc, buf)
			rc.Close()
			if err != nil {
				return fmt.Errorf("read %s: %w", i.Name, err)
			}
			sum = s
			want, listed := manifest[i.Name]
			switch {
			case !listed:
				verified, problem = false, "not in the target's manifest: unverified"
			case want != sum:
				verified, problem = false, "differs from the target's manifest: unverified"
			}
		}
		f := catalog.File{Path: i.Name, Project: projectOfPath(i.Name), Sum: sum, Size: i.Size, AddedAt: r.now, LibSize: -1}
		cp := catalog.Copy{TargetID: t.ID, Path: i.Stored, Sum: sum, State: catalog.CopyOK, WrittenAt: i.ModTime, Problem: problem}
		if verified {
			cp.VerifiedAt = r.now
		} else {
			r.unverified = append(r.unverified, i.Name+": "+problem)
		}
		id, err := r.cat.RecordFile(r.ctx, f, []catalog.Copy{cp})
		if err != nil {
			return err
		}
		f.ID = id
		files = append(files, f)
		return nil
	})
	if err != nil {
		return fmt.Errorf("walk %s: %w", r.where(), err)
	}
	fmt.Fprintf(r.out, "Recovering from %s (%s): %s found on the target.\n", t.Name, r.where(), plural(len(files), "file", "files"))
	// Unverified copies do not count, so restore would refuse them: they
	// are restored from what the target holds, hash-checked against that.
	var doubt []catalog.Copy
	for _, f := range files {
		cp, err := r.cat.CopyOf(f.ID, t.ID)
		if err == nil && cp.VerifiedAt.IsZero() {
			doubt = append(doubt, cp)
			if err := r.cat.SetCopyState(f.ID, t.ID, catalog.CopyOK, r.now, ""); err != nil {
				return err
			}
		}
	}
	err = r.restore(files)
	// Back to unverified: they do not count until `trove verify` and the
	// photographer have looked at them.
	for _, cp := range doubt {
		cp.VerifiedAt = time.Time{}
		if perr := r.cat.PutCopy(r.ctx, cp); perr != nil && err == nil {
			err = perr
		}
	}
	return err
}

// readManifest parses "<sha256>  <path>" lines (GNU escapes: a leading
// backslash, \\ and \n in the path).
func readManifest(ctx context.Context, ms store.MetaStore) (map[string]digest.Sum, error) {
	rc, err := ms.ReadMeta(ctx, targetmeta.ManifestName)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	out := map[string]digest.Sum{}
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		esc := strings.HasPrefix(line, `\`)
		line = strings.TrimPrefix(line, `\`)
		h, p, ok := strings.Cut(line, "  ")
		if !ok {
			continue
		}
		sum, err := digest.Parse(h)
		if err != nil {
			continue
		}
		if esc {
			p = strings.NewReplacer(`\\`, `\`, `\n`, "\n", `\r`, "\r").Replace(p)
		}
		out[p] = sum
	}
	return out, sc.Err()
}

var datedFolder = regexp.MustCompile(`^\d{4}-\d{2}-\d{2} (.+)$`)

// projectOfPath is the project a library path belongs to ("2024/2024-06-01
// Smith Wedding/…" → "Smith Wedding"), as backup names them.
func projectOfPath(p string) string {
	parts := strings.Split(p, "/")
	if len(parts) >= 3 && len(parts[0]) == 4 {
		if m := datedFolder.FindStringSubmatch(parts[1]); m != nil && strings.HasPrefix(parts[1], parts[0]) {
			return strings.TrimSpace(m[1])
		}
	}
	if len(parts) >= 2 {
		return parts[0]
	}
	return "Unsorted"
}

// setupConfig is the new setup's config: the one the target carries
// (policy, schedules, windows, limits, template, alerts, retention) with
// the library moved to the recovered folder, or the defaults when the
// target carries none (an older Trove wrote it) or one that does not pass
// the checks config.Load applies: a carried config never fails a recover.
// The library's row in the catalog takes the config's location and medium.
func (r *recovery) setupConfig() (config.Config, error) {
	lib, err := r.cat.Library()
	if err != nil {
		return config.Config{}, err
	}
	def := config.Default(filepath.Dir(r.dir))
	def.Library, def.Location, def.Medium = r.dir, lib.Location, lib.Medium
	carried, err := targetmeta.ReadConfig(r.ctx, r.src.meta)
	switch {
	case errors.Is(err, store.ErrNotExist):
		r.cfgNote = "The target carries no config (an older Trove wrote it): the new config.toml has the default policy and schedules; review it."
		return def, nil
	case err != nil:
		warnf(r.errw, "the config the target carries is not usable (%v): the new setup starts from the defaults", err)
		r.cfgNote = "The target's config was not usable: the new config.toml has the default policy and schedules; review it."
		return def, nil
	}
	cfg := carried.Config
	cfg.Library = r.dir
	if err := cfg.Validate(); err != nil {
		warnf(r.errw, "the config the target carries is not usable here (%v): the new setup starts from the defaults", err)
		r.cfgNote = "The target's config was not usable: the new config.toml has the default policy and schedules; review it."
		return def, nil
	}
	if lib.Location != cfg.Location || lib.Medium != cfg.Medium {
		lib.Location, lib.Medium = cfg.Location, cfg.Medium
		if err := r.cat.UpdateTarget(lib); err != nil {
			return cfg, err
		}
	}
	p := cfg.Policy
	r.cfgNote = fmt.Sprintf("Settings restored from the config the target carries: policy %d copies, %d media, %d off-site; %s.",
		p.Copies, p.Media, p.Offsite, plural(len(cfg.Targets), "target with its own settings", "targets with their own settings"))
	r.notCarried = carried.NotCarried
	return cfg, nil
}

// checkPaths notes the files the new setup names (in the config and in the
// targets' options: passphrase files, SSH keys, known_hosts, rclone
// configs) that do not exist on this computer: they were the old one's.
func (r *recovery) checkPaths(cfg config.Config) {
	check := func(what, p string) {
		if p == "" {
			return
		}
		if _, err := os.Stat(p); err != nil {
			r.checkHere = append(r.checkHere, what+" "+p)
		}
	}
	for _, ps := range cfg.FilePaths() {
		check(ps.Setting, ps.Path)
	}
	ts, err := r.cat.Targets()
	if err != nil {
		return
	}
	for _, t := range ts {
		o, err := parseTargetOptions(t)
		if err != nil {
			continue
		}
		check(t.Name+" passphrase_file", o.PassphraseFile)
		check(t.Name+" key_file", o.KeyFile)
		check(t.Name+" known_hosts", o.KnownHosts)
		check(t.Name+" rclone_config", o.RcloneConfig)
	}
}

// report prints what came back and what did not.
func (r *recovery) report(paths config.Paths) error {
	res := r.res
	w := r.out
	if res == nil {
		res = &restore.Result{}
	}
	for _, it := range res.Failed {
		fmt.Fprintf(w, "NOT RECOVERED: %s: %s\n", it.File, it.Message)
	}
	for _, it := range res.Skipped {
		fmt.Fprintf(w, "left alone: %s: a different file is already in %s\n", it.File, r.dir)
	}
	for _, u := range r.unverified {
		fmt.Fprintf(w, "UNVERIFIED: %s\n", u)
	}
	if n := len(r.notHere); n > 0 {
		fmt.Fprintf(w, "%s of the catalog had no copy on %s (e.g. %s): see `trove status` for where their copies are.\n",
			plural(n, "file", "files"), r.tgt.Name, r.notHere[0].Path)
	}
	fmt.Fprintf(w, "Restored %s (%s) to %s, every one hash-checked", plural(res.Restored, "file", "files"), progress.FormatBytes(res.Bytes), r.dir)
	if n := len(res.Unchanged); n > 0 {
		fmt.Fprintf(w, "; %s already there", commas(n))
	}
	fmt.Fprintln(w, ".")
	fmt.Fprintf(w, "New setup: %s and %s (library %s).\n", paths.Config, paths.Catalog, r.dir)
	fmt.Fprintln(w, r.cfgNote)
	if len(r.notCarried) > 0 {
		fmt.Fprintf(w, "Not carried, set again in config.toml: %s.\n", strings.Join(r.notCarried, "; "))
	}
	if len(r.checkHere) > 0 {
		fmt.Fprintf(w, "Check these paths on this computer (they do not exist here): %s.\n", strings.Join(r.checkHere, "; "))
	}
	if !r.fromSnap {
		fmt.Fprintf(w, "hint: the target was registered as %q at location %q: set where it really is with `trove target move`, and review config.toml\n",
			r.tgt.Name, r.tgt.Location)
	}
	fmt.Fprintln(w, "Next: `trove status` shows what is protected now; `trove backup` rebuilds the missing copies.")
	if len(res.Failed)+len(res.Skipped)+len(r.unverified) > 0 {
		return &exitError{code: exitFailure, silent: true}
	}
	return nil
}
