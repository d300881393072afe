package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/config"
	"github.com/trove-backup/trove/internal/progress"
	"github.com/trove-backup/trove/internal/store"
	"github.com/trove-backup/trove/internal/store/local"
	"github.com/trove-backup/trove/internal/store/rclone"
	"github.com/trove-backup/trove/internal/store/s3"
	"github.com/trove-backup/trove/internal/store/sftp"
	"github.com/trove-backup/trove/internal/store/vault"
)

var targetName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func newTargetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "target",
		Short: "Register, list and move the places that hold copies (drives, NAS, SFTP, cloud vaults)",
	}
	cmd.AddCommand(newTargetAddCmd(), newTargetListCmd(), newTargetMoveCmd())
	return cmd
}

func newTargetAddCmd() *cobra.Command {
	var medium, location string
	var ingest bool
	var ro remoteAddFlags
	cmd := &cobra.Command{
		Use:   "add NAME DIR|URL --medium hdd|ssd|nas|raid|cloud|optical|tape --location NAME [--ingest]",
		Short: "Register a target: a drive or NAS folder, an SFTP server, an S3 bucket or an rclone remote",
		Long: `Registers DIR as a target. Trove writes .trove/target.json there so it recognises the
drive wherever it is mounted next time, and refuses to write to a different drive or an
empty mount point found at that path. It also probes the filesystem: on exFAT/FAT drives,
names with : ? * " < > | are stored with look-alike characters (recorded in the catalog),
and FAT32's 4 GiB file limit is enforced with a clear error.

Off-site targets are given by URL (see docs/offsite.md):
  s3://BUCKET/PREFIX --endpoint https://HOST   an encrypted vault in an S3-compatible bucket
  sftp://USER@HOST[:PORT]/PATH                 a folder on a server over SFTP (plain layout;
                                               with --encrypt: an encrypted vault instead)
  rclone:REMOTE:PATH                           an encrypted vault on an rclone remote
The medium defaults to cloud (s3, rclone) or nas (sftp). S3 credentials come from
AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the AWS credentials files, never from the command
line. A vault's passphrase comes from TROVE_PASSPHRASE, --passphrase-file (mode 0600; its
path is remembered) or a prompt (asked twice when the vault is created).`,
		Example: `  trove target add drive-a /media/ann/T7 --medium ssd --location home --ingest
  trove target add nas /mnt/nas/photos --medium nas --location studio
  trove target add vault s3://my-bucket/trove --endpoint https://s3.eu-central-003.backblazeb2.com --location cloud
  trove target add friend sftp://ann@nas.example.net/volume1/trove --location friends-studio
  trove target add offsite sftp://ann@backup.example.net/trove --encrypt --location brother
  trove target add dropbox rclone:dropbox:Trove --location cloud`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, dir := args[0], args[1]
			if !targetName.MatchString(name) || name == catalog.LibraryName {
				return usageError("target name %q: use letters, digits, '.', '-' or '_' (not %q)", name, catalog.LibraryName)
			}
			if kind := ro.kindFor(dir); kind != catalog.KindFolder {
				return addRemoteTarget(cmd, name, kind, dir, medium, location, ingest, ro)
			}
			if ro.set(cmd) {
				return usageError("--endpoint, --region, --passphrase-file, --key-file ... are for URL targets (s3://, sftp://, rclone:), not a folder")
			}
			if medium == "" {
				return usageError("--medium is required: %s", strings.Join(config.Media, ", "))
			}
			if !config.ValidMedium(medium) {
				return usageError("--medium %q: choose one of %s", medium, strings.Join(config.Media, ", "))
			}
			if strings.TrimSpace(location) == "" {
				return usageError("--location is required: where the drive is kept (home, studio, bank, ...)")
			}
			a, err := openApp(cmd)
			if err != nil {
				return err
			}
			defer a.Close()
			abs, err := filepath.Abs(dir)
			if err != nil {
				return usageError("%s: %v", dir, err)
			}
			fi, err := os.Stat(abs)
			if err != nil || !fi.IsDir() {
				return usageError("%s is not a folder (is the drive mounted?)", dir)
			}
			if isWithin(abs, a.cfg.Library) || isWithin(a.cfg.Library, abs) {
				return usageError("%s overlaps the library %s: a target must be a separate folder", abs, a.cfg.Library)
			}
			if _, err := a.cat.TargetByName(name); err == nil {
				return usageError("a target named %q already exists", name)
			}
			others, err := a.cat.Targets()
			if err != nil {
				return err
			}
			for _, o := range others {
				if o.Path == abs {
					return usageError("%s is already registered as %q", abs, o.Name)
				}
			}
			libID, err := a.libraryID()
			if err != nil {
				return err
			}
			if id, err := local.ReadIdentity(abs); err == nil && id.LibraryID != libID {
				return withHint(fmt.Errorf("%s belongs to another Trove library (target %q)", abs, id.Name),
					"use another folder, or recover that drive's library with its own catalog")
			}
			t := catalog.Target{ID: newID(), Name: name, Kind: catalog.KindFolder, Path: abs, Medium: medium,
				Location: location, Ingest: ingest, CreatedAt: a.now(), LastSeenAt: a.now()}
			caps, err := local.Prepare(abs, local.Identity{Format: 1, TargetID: t.ID, Name: name, LibraryID: libID, CreatedAt: a.now()})
			if err != nil {
				return fmt.Errorf("prepare %s: %w", abs, err)
			}
			t.FSType = caps.FSType
			if b, err := json.Marshal(caps); err == nil {
				t.Caps = string(b)
			}
			if t.Device, err = local.DeviceOf(abs); err != nil {
				return err
			}
			if err := a.cat.AddTarget(t); err != nil {
				return err
			}
			out := a.stdout
			fmt.Fprintf(out, "Added target %s: %s (%s, at %s, filesystem %s)\n", name, abs, medium, location, orUnknown(caps.FSType))
			if caps.RestrictedNames {
				fmt.Fprintln(out, "  note: this filesystem cannot hold names with : ? * \" < > | or a trailing dot/space; such names are stored with look-alike characters and recorded")
			}
			if caps.CaseInsensitive {
				fmt.Fprintln(out, "  note: names are case-insensitive here; files whose names differ only in case get distinct names")
			}
			if caps.MaxFileSize > 0 {
				fmt.Fprintf(out, "  note: files larger than %s cannot be stored here (FAT32); Trove will say so per file\n", progress.FormatBytes(caps.MaxFileSize))
			}
			if dev, _ := local.DeviceOf(a.cfg.Library); dev == t.Device {
				warnf(a.stderr, "%s is on the same disk as the library: its copies will not count as a second device", name)
			}
			if ingest {
				fmt.Fprintln(out, "  ingest writes to it by default")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&medium, "medium", "", "kind of storage: "+strings.Join(config.Media, ", "))
	cmd.Flags().StringVar(&location, "location", "", "where the drive is kept: home, studio, bank, ...")
	cmd.Flags().BoolVar(&ingest, "ingest", false, "ingest writes to this target by default")
	ro.flags(cmd)
	cmd.MarkFlagRequired("location")
	return cmd
}

// targetView is one row of `trove target list`.
type targetView struct {
	Name       string    `json:"name"`
	Kind       string    `json:"kind"`
	Medium     string    `json:"medium"`
	Location   string    `json:"location"`
	Path       string    `json:"path"`
	URL        string    `json:"url,omitempty"`
	Mounted    bool      `json:"mounted"`
	State      string    `json:"state"` // attached, not attached, different drive
	FSType     string    `json:"filesystem,omitempty"`
	Ingest     bool      `json:"ingest"`
	FreeBytes  uint64    `json:"free_bytes,omitempty"`
	TotalBytes uint64    `json:"total_bytes,omitempty"`
	LastSeen   time.Time `json:"last_seen,omitzero"`
	LastWrite  time.Time `json:"last_write,omitzero"`
	LastVerify time.Time `json:"last_verify,omitzero"`
}

func newTargetListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list [--json]",
		Short:   "Show every target: medium, location, where it was last seen, mounted or not, free space",
		Example: "  trove target list\n  trove target list --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := openApp(cmd)
			if err != nil {
				return err
			}
			defer a.Close()
			ts, err := a.cat.Targets()
			if err != nil {
				return err
			}
			views := make([]targetView, 0, len(ts))
			for _, t := range ts {
				v := targetView{Name: t.Name, Kind: t.Kind, Medium: t.Medium, Location: t.Location, Path: t.Path,
					FSType: t.FSType, Ingest: t.Ingest, LastSeen: t.LastSeenAt, LastWrite: t.LastWriteAt, LastVerify: t.LastVerifyAt}
				if isRemote(t.Kind) {
					// Not contacted (a network round trip, maybe a passphrase):
					// `trove verify NAME` checks it for real.
					v.Path, v.URL, v.State = t.URL, t.URL, "remote, last reached "+when(t.LastSeenAt)
					views = append(views, v)
					continue
				}
				id, err := local.ReadIdentity(t.Path)
				switch {
				case err == nil && id.TargetID == t.ID:
					v.Mounted, v.State = true, "attached"
					v.FreeBytes, v.TotalBytes, _ = usage(t.Path)
				case err == nil:
					v.State = "different drive at path"
				case errors.Is(err, store.ErrNotAttached):
					v.State = "not attached"
				default:
					v.State = "unreadable: " + err.Error()
				}
				views = append(views, v)
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"targets": views})
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tMEDIUM\tLOCATION\tSTATE\tFREE\tLAST WRITE\tLAST VERIFY\tPATH")
			for _, v := range views {
				free := "-"
				if v.Mounted {
					free = progress.FormatBytes(int64(v.FreeBytes))
				}
				name := v.Name
				if v.Ingest {
					name += " (ingest)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, v.Medium, v.Location, v.State, free,
					when(v.LastWrite), when(v.LastVerify), v.Path)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func usage(dir string) (free, total uint64, err error) { return local.UsageOf(dir) }

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04")
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func isWithin(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// remoteAddFlags are the options of `trove target add` for URL targets.
type remoteAddFlags struct {
	endpoint, region, profile, passphraseFile, keyFile, knownHosts, rcloneConfig string
	allowHTTP, encrypt                                                           bool
}

// kindFor is the target kind of an address: an sftp:// address with
// --encrypt holds an encrypted vault instead of plain files.
func (r *remoteAddFlags) kindFor(u string) string {
	k := kindOfURL(u)
	if k == catalog.KindSFTP && r.encrypt {
		return catalog.KindSFTPVault
	}
	return k
}

func (r *remoteAddFlags) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&r.endpoint, "endpoint", "", "s3: the server, https://HOST[:PORT] (default AWS)")
	f.StringVar(&r.region, "region", "", "s3: the bucket's region")
	f.BoolVar(&r.allowHTTP, "allow-http", false, "s3: allow plain http to a non-loopback server (INSECURE: request metadata travels in the clear)")
	f.StringVar(&r.profile, "profile", "", "s3: the AWS credentials profile (default AWS_PROFILE, else default)")
	f.StringVar(&r.passphraseFile, "passphrase-file", "", "s3, rclone: a file (mode 0600) holding the vault's passphrase")
	f.StringVar(&r.keyFile, "key-file", "", "sftp: private key file (default: the SSH agent, then ~/.ssh/id_*)")
	f.StringVar(&r.knownHosts, "known-hosts", "", "sftp: known_hosts file (default ~/.ssh/known_hosts)")
	f.StringVar(&r.rcloneConfig, "rclone-config", "", "rclone: rclone's config file (default rclone's own)")
	f.BoolVar(&r.encrypt, "encrypt", false, "sftp: keep an encrypted vault on the server instead of plain files")
}

// set reports whether any remote-only flag was given.
func (r *remoteAddFlags) set(cmd *cobra.Command) bool {
	for _, n := range []string{"endpoint", "region", "allow-http", "profile", "passphrase-file", "key-file", "known-hosts", "rclone-config"} {
		if cmd.Flags().Changed(n) {
			return true
		}
	}
	return false
}

// options turns the flags into the target's stored options, checking that
// they suit the kind.
func (r *remoteAddFlags) options(kind string) (targetOptions, error) {
	var o targetOptions
	var err error
	bad := func(flag string) error { return usageError("%s does not apply to a %s target", flag, kind) }
	switch kind {
	case catalog.KindS3:
		if r.keyFile != "" || r.knownHosts != "" || r.rcloneConfig != "" {
			return o, bad("--key-file/--known-hosts/--rclone-config")
		}
		o.Endpoint, o.Region, o.AllowHTTP, o.Profile = r.endpoint, r.region, r.allowHTTP, r.profile
		if o.Endpoint != "" {
			if _, _, _, err := s3.ParseEndpoint(o.Endpoint, o.AllowHTTP); err != nil {
				return o, &exitError{code: exitUsage, err: err}
			}
		}
	case catalog.KindSFTP, catalog.KindSFTPVault:
		if r.endpoint != "" || r.region != "" || r.allowHTTP || r.profile != "" || r.rcloneConfig != "" {
			return o, bad("--endpoint/--region/--allow-http/--profile/--rclone-config")
		}
		if kind == catalog.KindSFTP && r.passphraseFile != "" {
			return o, usageError("--passphrase-file is for encrypted targets: add --encrypt to keep a vault on the server")
		}
		if o.KeyFile, err = absPath(r.keyFile); err != nil {
			return o, err
		}
		if o.KnownHosts, err = absPath(r.knownHosts); err != nil {
			return o, err
		}
	case catalog.KindRclone:
		if r.encrypt {
			return o, bad("--encrypt (rclone and s3 targets are always encrypted)")
		}
		if r.endpoint != "" || r.region != "" || r.allowHTTP || r.profile != "" || r.keyFile != "" || r.knownHosts != "" {
			return o, bad("--endpoint/--region/--allow-http/--profile/--key-file/--known-hosts")
		}
		if o.RcloneConfig, err = absPath(r.rcloneConfig); err != nil {
			return o, err
		}
	}
	if isVault(kind) {
		if o.PassphraseFile, err = absPath(r.passphraseFile); err != nil {
			return o, err
		}
		if o.PassphraseFile != "" {
			if _, err := readPassphraseFile(o.PassphraseFile); err != nil {
				return o, err
			}
		}
	}
	return o, nil
}

// addRemoteTarget registers an SFTP server, an S3 vault or an rclone vault:
// it connects, writes the target's identity (creating the vault, or
// checking the passphrase of an existing one) and records it.
func addRemoteTarget(cmd *cobra.Command, name, kind, rawURL, medium, location string, ingest bool, ro remoteAddFlags) error {
	if ingest {
		return usageError("--ingest is for drives: ingest writes to folder targets only; `trove backup` uploads to %s", rawURL)
	}
	if medium == "" {
		medium = "cloud"
		if kind == catalog.KindSFTP || kind == catalog.KindSFTPVault {
			medium = "nas"
		}
	}
	if !config.ValidMedium(medium) {
		return usageError("--medium %q: choose one of %s", medium, strings.Join(config.Media, ", "))
	}
	if strings.TrimSpace(location) == "" {
		return usageError("--location is required: where the copies are (cloud, studio, ...)")
	}
	opts, err := ro.options(kind)
	if err != nil {
		return err
	}
	// The address is checked before anything is contacted; its errors
	// never repeat it (it might hold a secret).
	switch kind {
	case catalog.KindS3:
		_, _, err = parseS3URL(rawURL)
	case catalog.KindRclone:
		_, err = rclone.ParseURL(rawURL)
	case catalog.KindSFTP, catalog.KindSFTPVault:
		_, err = sftp.ParseURL(rawURL)
	}
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	a, err := openApp(cmd)
	if err != nil {
		return err
	}
	defer a.Close()
	ctx := cmd.Context()
	if _, err := a.cat.TargetByName(name); err == nil {
		return usageError("a target named %q already exists", name)
	}
	libID, err := a.libraryID()
	if err != nil {
		return err
	}
	now := a.now()
	t := catalog.Target{ID: newID(), Name: name, Kind: kind, Medium: medium, Location: location, Ingest: ingest,
		CreatedAt: now, LastSeenAt: now, Options: opts.String()}
	id := local.Identity{Format: local.IdentityFormat, TargetID: t.ID, Name: name, LibraryID: libID, CreatedAt: now.UTC().Truncate(time.Second)}
	var notes []string
	switch kind {
	case catalog.KindSFTP:
		cfg, err := sftpConfig(rawURL, opts)
		if err != nil {
			return &exitError{code: exitUsage, err: err}
		}
		t.URL, t.Device = cfg.URL(), cfg.URL()
		if err := checkURLUnused(a, t.URL); err != nil {
			return err
		}
		if old, err := sftp.ReadIdentity(ctx, cfg); err == nil {
			return withHint(fmt.Errorf("%s already holds Trove target %q (of %s library)", t.URL, old.Name, sameOr(old.LibraryID == libID, "this", "another")),
				"use another folder on the server")
		} else if !errors.Is(err, store.ErrNotAttached) || errors.Is(err, sftp.ErrUnknownHost) {
			return remoteError(t, err)
		}
		caps, err := sftp.Prepare(ctx, cfg, id)
		if err != nil {
			return remoteError(t, err)
		}
		if b, err := json.Marshal(caps); err == nil {
			t.Caps = string(b)
		}
		if !caps.Fsync {
			notes = append(notes, "the server does not offer fsync@openssh.com: copies are verified, but their durability rests on the server")
		}
	default:
		if kind == catalog.KindSFTPVault {
			cfg, err := sftpConfig(rawURL, opts)
			if err != nil {
				return &exitError{code: exitUsage, err: err}
			}
			if _, err := sftp.PrepareBlobs(ctx, cfg); err != nil { // the folder on the server
				return remoteError(catalog.Target{Name: name, URL: rawURL}, err)
			}
		}
		b, dev, err := vaultBlobs(ctx, kind, rawURL, opts, a.stderr, blobsRun{})
		if err != nil {
			return remoteError(catalog.Target{Name: name, URL: rawURL}, err)
		}
		t.URL, t.Device = canonicalVaultURL(kind, rawURL), dev
		if err := checkURLUnused(a, t.URL); err != nil {
			return err
		}
		_, statErr := b.Stat(ctx, "vault.json")
		fresh := errors.Is(statErr, store.ErrNotExist)
		if statErr != nil && !fresh {
			return remoteError(t, statErr)
		}
		pass, err := vaultPassphrase(opts, fresh, a.stderr)
		if err != nil {
			return err
		}
		if fresh {
			if err := vault.Init(ctx, b, pass, vaultOptions()); err != nil {
				return remoteError(t, err)
			}
			notes = append(notes, "created a new encrypted vault: keep the passphrase safe — without it nobody, not even Trove, can read the vault")
		}
		v, err := vault.Attach(ctx, b, pass, vault.Options{})
		if err != nil {
			return remoteError(t, err)
		}
		if old, err := readVaultIdentity(ctx, v); err == nil {
			return withHint(fmt.Errorf("the vault at %s already belongs to Trove target %q (of %s library)", t.URL, old.Name, sameOr(old.LibraryID == libID, "this", "another")),
				"use another bucket prefix or remote folder; to rebuild a lost setup from it, use `trove recover`")
		}
		if err := writeVaultIdentity(ctx, v, id); err != nil {
			return remoteError(t, err)
		}
	}
	if err := a.cat.AddTarget(t); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "Added target %s: %s (%s, at %s, %s)\n", name, t.URL, medium, location, kindWords(kind))
	for _, n := range notes {
		fmt.Fprintf(a.stdout, "  note: %s\n", n)
	}
	if a.cfg.Location == location {
		warnf(a.stderr, "%s is at %s, the same location as the library: its copies will not count as off-site", name, location)
	}
	return nil
}

func checkURLUnused(a *app, u string) error {
	others, err := a.cat.Targets()
	if err != nil {
		return err
	}
	for _, o := range others {
		if o.URL == u {
			return usageError("%s is already registered as %q", u, o.Name)
		}
	}
	return nil
}

// canonicalVaultURL is the URL kept for a vault target.
func canonicalVaultURL(kind, raw string) string {
	if kind == catalog.KindS3 {
		if bucket, prefix, err := parseS3URL(raw); err == nil {
			return strings.TrimSuffix("s3://"+bucket+"/"+prefix, "/")
		}
	}
	return raw
}

func kindWords(kind string) string {
	switch kind {
	case catalog.KindS3:
		return "encrypted vault on S3"
	case catalog.KindRclone:
		return "encrypted vault through rclone"
	case catalog.KindSFTPVault:
		return "encrypted vault over SFTP"
	case catalog.KindSFTP:
		return "SFTP, plain files"
	}
	return kind
}

func sameOr(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}
