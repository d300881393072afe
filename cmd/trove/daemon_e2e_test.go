//go:build linux

package main

// End-to-end tests of `trove daemon`: the real command as a separate
// process, with a poll of a fraction of a second (TROVE_DAEMON_POLL, a
// test-only setting), drives attached by mounting tmpfs filesystems, kill
// -9, two daemons at once, and a failure alert to a local webhook.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trove-backup/trove/internal/testenv"
)

// daemonBound bounds every wait of these tests.
const daemonBound = 30 * time.Second

// daemonProc is a running `trove daemon`.
type daemonProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	cancel context.CancelFunc
	mu     sync.Mutex
	lines  []string
	stderr strings.Builder
	done   chan struct{}
	code   int
}

// startDaemon starts `trove daemon` with a 200 ms poll; it is killed when
// the test ends (or after a minute, whichever comes first).
func (e *e2eEnv) startDaemon(args ...string) *daemonProc {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	c := e.command(ctx, append([]string{"daemon"}, args...)...)
	c.Env = append(c.Env, pollEnv+"=200ms")
	out, err := c.StdoutPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	d := &daemonProc{t: e.t, cmd: c, cancel: cancel, done: make(chan struct{})}
	c.Stderr = &lockedWriter{mu: &d.mu, w: &d.stderr}
	if err := c.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			d.mu.Lock()
			d.lines = append(d.lines, sc.Text())
			d.mu.Unlock()
		}
		io.Copy(io.Discard, out)
		c.Wait()
		d.code = c.ProcessState.ExitCode()
		close(d.done)
	}()
	e.t.Cleanup(func() {
		cancel()
		<-d.done
		e.t.Logf("daemon pid %d log:\n%s\nstderr:\n%s", c.Process.Pid, d.log(), d.errText())
	})
	return d
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (d *daemonProc) log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return strings.Join(d.lines, "\n")
}

func (d *daemonProc) errText() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stderr.String()
}

// waitLine waits until a log line (after the first skip lines) contains
// every part, and returns the number of lines seen up to it.
func (d *daemonProc) waitLine(skip int, parts ...string) int {
	d.t.Helper()
	deadline := time.Now().Add(daemonBound)
	for time.Now().Before(deadline) {
		d.mu.Lock()
		lines := append([]string(nil), d.lines...)
		d.mu.Unlock()
		for i := skip; i < len(lines); i++ {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(lines[i], p)
			}
			if ok {
				return i + 1
			}
		}
		select {
		case <-d.done:
			d.t.Fatalf("daemon exited (code %d) before logging %q:\n%s\n%s", d.code, parts, d.log(), d.errText())
		case <-time.After(50 * time.Millisecond):
		}
	}
	d.t.Fatalf("no log line with %q within %v:\n%s", parts, daemonBound, d.log())
	return 0
}

// stop sends SIGTERM and waits for a clean exit.
func (d *daemonProc) stop() {
	d.t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(daemonBound):
		d.t.Fatalf("daemon did not stop within %v after SIGTERM", daemonBound)
	}
	if d.code != 0 {
		d.t.Errorf("daemon exited %d after SIGTERM, want 0:\n%s", d.code, d.errText())
	}
}

// mountTmpfsAt mounts a fresh tmpfs at dir (which must exist), unmounted
// when the test ends.
func mountTmpfsAt(t *testing.T, dir string, size int64) {
	t.Helper()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0755", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		testenv.Skip(t, "mount tmpfs at %s: %v: %s", dir, err, out)
	}
	t.Cleanup(func() {
		if testenv.IsMountPoint(dir) {
			exec.Command("umount", "-l", dir).Run()
		}
	})
}

// plugIdentity writes a target's identity file into a freshly mounted drive.
func plugIdentity(t *testing.T, dir string, identity []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, ".trove"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".trove", "target.json"), identity, 0o644); err != nil {
		t.Fatal(err)
	}
}

// appendConfig adds TOML to the setup's config.toml.
func (e *e2eEnv) appendConfig(text string) {
	e.t.Helper()
	f, err := os.OpenFile(filepath.Join(e.home, "config.toml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("\n" + text + "\n"); err != nil {
		e.t.Fatal(err)
	}
}

// Prepare a target on a tmpfs, unplug it, start the daemon, then mount a NEW
// tmpfs at the same path holding only the identity: the daemon backs up to
// it. Then the drive comes back at another mount point: the daemon finds it
// there (mountinfo), records the new path and backs up again.
func TestDaemonBacksUpAttachedDrive(t *testing.T) {
	testenv.RequireRoot(t)
	e, shoot := bkSetup(t, 6, 64<<10)
	drive := testenv.MountTmpfs(t, 64<<20)
	e.bkAdd("drive-b", drive, "hdd", "home")
	e.appendConfig("[targets.drive-b]\nverify = \"manual\"\n[targets.library]\nverify = \"manual\"")
	identity, err := os.ReadFile(filepath.Join(drive, ".trove", "target.json"))
	if err != nil {
		t.Fatal(err)
	}
	testenv.Unplug(t, drive)

	d := e.startDaemon()
	n := d.waitLine(0, "trove daemon started")
	time.Sleep(500 * time.Millisecond) // a few passes with the drive away
	if strings.Contains(d.log(), "backup started") {
		t.Fatalf("backup started without the drive:\n%s", d.log())
	}

	mountTmpfsAt(t, drive, 64<<20)
	plugIdentity(t, drive, identity)
	n = d.waitLine(n, "drive-b: drive attached at "+drive)
	n = d.waitLine(n, "drive-b: backup done")
	sums := sourceSums(t, shoot)
	if got := len(scanTree(t, drive).files); got != len(sums) {
		t.Fatalf("drive holds %d files, want %d", got, len(sums))
	}
	onlyComplete(t, drive, sums)
	exactlyCatalog(t, e.home, "drive-b", drive)
	manifestChecks(t, drive)

	// A new photo lands in the library; the drive is unplugged and comes
	// back mounted somewhere else (the same filesystem, bind-mounted at a
	// new mount point, then the old one is gone).
	writeFile(t, filepath.Join(shoot, "IMG_0100.JPG"), randomBytes(4242, 64<<10))
	other := t.TempDir()
	if out, err := exec.Command("mount", "--bind", drive, other).CombinedOutput(); err != nil {
		testenv.Skip(t, "bind mount: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", other).Run() })
	testenv.Unplug(t, drive)
	n = d.waitLine(n, "drive-b: found at "+other)
	d.waitLine(n, "drive-b: backup done", "1 file copied")
	sums = sourceSums(t, shoot)
	if got := len(scanTree(t, other).files); got != len(sums) {
		t.Fatalf("drive at its new place holds %d files, want %d", got, len(sums))
	}
	exactlyCatalog(t, e.home, "drive-b", other)
	var list []struct {
		Name, Path string
	}
	r := e.must(0, "target", "list", "--json")
	if err := json.Unmarshal([]byte(r.last()), &list); err == nil {
		for _, tg := range list {
			if tg.Name == "drive-b" && tg.Path != other {
				t.Errorf("catalog path of drive-b is %s, want %s", tg.Path, other)
			}
		}
	}
	d.stop()

	r = e.must(0, "log", "-n", "10")
	wantLine(t, r, r.stdout, "backup", "OK", "drive-b (daemon: drive attached)")
}

// kill -9 of the daemon mid-backup, then a restart: the backup converges,
// nothing half-written keeps a final name, and the log shows both runs.
func TestDaemonKill9MidBackupConverges(t *testing.T) {
	testenv.RequireRoot(t)
	e, shoot := bkSetup(t, 40, 1<<20)
	drive := testenv.MountTmpfs(t, 128<<20)
	e.bkAdd("drive-b", drive, "hdd", "home")
	e.appendConfig("[targets.drive-b]\nverify = \"manual\"\n[targets.library]\nverify = \"manual\"")

	d := e.startDaemon()
	d.waitLine(0, "drive-b: backup started")
	// Kill as soon as the first copy has a final name on the drive.
	deadline := time.Now().Add(daemonBound)
	for len(scanTree(t, drive).files) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	d.cmd.Process.Kill()
	<-d.done
	copiedAtKill := len(scanTree(t, drive).files)
	sums := sourceSums(t, shoot)
	if copiedAtKill == 0 || copiedAtKill >= len(sums) {
		t.Logf("killed with %d of %d files on the drive (not strictly mid-run)", copiedAtKill, len(sums))
	}
	onlyComplete(t, drive, sums)

	d2 := e.startDaemon()
	d2.waitLine(0, "drive-b: backup done")
	d2.stop()
	if got := len(scanTree(t, drive).files); got != len(sums) {
		t.Fatalf("after restart the drive holds %d files, want %d", got, len(sums))
	}
	onlyComplete(t, drive, sums)
	noTemps(t, drive)
	exactlyCatalog(t, e.home, "drive-b", drive)
	manifestChecks(t, drive)
	if n := checkCatalog(t, e.home)["drive-b"]; n != len(sums) {
		t.Errorf("catalog has %d good copies on drive-b, want %d", n, len(sums))
	}
	r := e.must(0, "log", "--json")
	var lg struct {
		Runs []struct {
			Kind, Status, Args string
		}
	}
	if err := json.Unmarshal([]byte(r.last()), &lg); err != nil {
		t.Fatal(err)
	}
	var statuses []string
	for _, run := range lg.Runs {
		if run.Kind == "backup" {
			statuses = append(statuses, run.Status)
		}
	}
	if len(statuses) < 2 || statuses[0] != "ok" || statuses[len(statuses)-1] != "running" {
		t.Errorf("backup runs newest first: %v, want ok … running (the killed one)", statuses)
	}
	r = e.must(0, "log")
	wantLine(t, r, r.stdout, "backup", "UNFINISHED")
}

// Two daemons started at once: exactly one runs, the other refuses.
func TestDaemonTwoAtOnce(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, filepath.Join(dir, "home"), filepath.Join(dir, "lib"))
	e.initLib()
	a, b := e.startDaemon(), e.startDaemon()
	var refused, running *daemonProc
	select {
	case <-a.done:
		refused, running = a, b
	case <-b.done:
		refused, running = b, a
	case <-time.After(daemonBound):
		t.Fatal("neither daemon refused to start")
	}
	if refused.code != 1 || !strings.Contains(refused.errText(), "another trove daemon is already running (pid ") {
		t.Fatalf("second daemon: exit %d, stderr %q", refused.code, refused.errText())
	}
	running.waitLine(0, "trove daemon started")
	r := e.run("service", "status")
	wantLine(t, r, r.stdout, "Daemon: running")
	running.stop()
	r = e.run("service", "status")
	wantLine(t, r, r.stdout, "Daemon: not running")
	if r.code != 1 {
		t.Errorf("service status with no daemon: exit %d, want 1", r.code)
	}
}

// A failed run (the drive is full) is recorded and sent to the webhook;
// `trove daemon --once` exits 1.
func TestDaemonFailureAlertsWebhook(t *testing.T) {
	testenv.RequireRoot(t)
	var mu sync.Mutex
	var got []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err == nil {
			mu.Lock()
			got = append(got, m)
			mu.Unlock()
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	e, _ := bkSetup(t, 4, 400<<10)
	drive := testenv.MountTmpfs(t, 600<<10) // room for one file, not four
	e.bkAdd("drive-b", drive, "hdd", "home")
	e.appendConfig(fmt.Sprintf("[targets.drive-b]\nverify = \"manual\"\n[targets.library]\nverify = \"manual\"\n"+
		"[[alerts.webhook]]\nurl = %q\n", srv.URL))

	r := e.run("alert", "test")
	if r.code != 0 || !strings.Contains(r.stdout, "webhook 1 (http://127.0.0.1") {
		t.Fatalf("alert test: %s", r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), daemonBound)
	defer cancel()
	c := e.command(ctx, "daemon", "--once")
	out, err := c.CombinedOutput()
	t.Logf("trove daemon --once:\n%s", out)
	if ctx.Err() != nil {
		t.Fatal("daemon --once did not finish in time")
	}
	if code := c.ProcessState.ExitCode(); code != 1 || err == nil {
		t.Fatalf("daemon --once with a failed backup: exit %d, want 1", code)
	}
	if !strings.Contains(string(out), "drive-b: backup FAILED") || !strings.Contains(string(out), "alert sent: Trove: backup to drive-b failed") {
		t.Errorf("log does not show the failure and the alert:\n%s", out)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 {
		t.Fatalf("webhook got %d posts, want 2 (test, failure): %v", len(got), got)
	}
	if got[0]["kind"] != "test" || got[1]["kind"] != "run-failed" ||
		!strings.Contains(fmt.Sprint(got[1]["subject"]), "backup to drive-b failed") {
		t.Errorf("webhook posts: %v", got)
	}
	r = e.must(0, "log")
	wantLine(t, r, r.stdout, "backup", "FAILED")
	wantLine(t, r, r.stdout, "problem:")
}

// `trove service install` writes the systemd user unit and enables it; with
// the user bus unavailable it still writes the file and prints the commands.
func TestServiceInstallSystemd(t *testing.T) {
	cfgHome := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfgHome)
	t.Setenv("TROVE_HOME", filepath.Join(t.TempDir(), "my home"))
	oldGOOS, oldRun, oldLook := serviceGOOS, serviceRun, serviceLookPath
	t.Cleanup(func() { serviceGOOS, serviceRun, serviceLookPath = oldGOOS, oldRun, oldLook })
	serviceGOOS = "linux"
	serviceLookPath = func(string) (string, error) { return "/usr/bin/systemctl", nil }
	var calls []string
	busDown := false
	serviceRun = func(name string, args ...string) (string, error) {
		calls = append(calls, name+" "+strings.Join(args, " "))
		if busDown {
			return "Failed to connect to bus: No medium found", fmt.Errorf("exit status 1")
		}
		return "", nil
	}
	run := func(args ...string) string {
		var out strings.Builder
		cmd := newRootCmd()
		cmd.SetArgs(args)
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		if err := cmd.ExecuteContext(context.Background()); err != nil {
			t.Fatalf("trove %v: %v\n%s", args, err, out.String())
		}
		return out.String()
	}
	printed := run("service", "install", "--print")
	unit := filepath.Join(cfgHome, "systemd", "user", "trove.service")
	if _, err := os.Stat(unit); err == nil || len(calls) != 0 {
		t.Fatalf("--print installed something: %v", calls)
	}
	exe, _ := os.Executable()
	exe, _ = filepath.EvalSymlinks(exe)
	for _, want := range []string{"ExecStart=" + exe + " daemon", "Restart=on-failure",
		`Environment="TROVE_HOME=` + os.Getenv("TROVE_HOME") + `"`, "EnvironmentFile=-", "WantedBy=default.target"} {
		if !strings.Contains(printed, want) {
			t.Errorf("unit lacks %q:\n%s", want, printed)
		}
	}
	out := run("service", "install")
	b, err := os.ReadFile(unit)
	if err != nil || !strings.HasSuffix(printed, string(b)) {
		t.Fatalf("installed unit differs from --print (%v):\n%s", err, b)
	}
	if strings.Join(calls, "; ") != "systemctl --user daemon-reload; systemctl --user enable --now trove.service" {
		t.Errorf("systemctl calls: %q", calls)
	}
	if !strings.Contains(out, "Service installed and started") {
		t.Errorf("install said: %s", out)
	}
	busDown = true
	calls = nil
	out = run("service", "install")
	if !strings.Contains(out, "  systemctl --user daemon-reload\n  systemctl --user enable --now trove.service") {
		t.Errorf("without a user bus, install must print the commands: %s", out)
	}
	busDown = false
	run("service", "uninstall")
	if _, err := os.Stat(unit); err == nil {
		t.Error("uninstall left the unit")
	}
}

// A drive unplugged while the daemon backs up to it: the run fails with a
// clear line and is retried later, nothing lands on the mount point that the
// unplug exposes, and the daemon keeps running.
func TestDaemonDriveUnpluggedMidBackup(t *testing.T) {
	testenv.RequireRoot(t)
	e, shoot := bkSetup(t, 40, 1<<20)
	drive := testenv.MountTmpfs(t, 128<<20)
	e.bkAdd("drive-b", drive, "hdd", "home")
	e.appendConfig("[targets.drive-b]\nverify = \"manual\"\n[targets.library]\nverify = \"manual\"")

	d := e.startDaemon()
	d.waitLine(0, "drive-b: backup started")
	deadline := time.Now().Add(daemonBound)
	for len(scanTree(t, drive).files) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	testenv.Unplug(t, drive)
	n := d.waitLine(0, "drive-b: backup FAILED")
	// The exposed, empty mount point got nothing: no final names, no temporaries.
	if files := scanTree(t, drive).files; len(files) != 0 {
		t.Fatalf("files landed on the empty mount point after the unplug: %v", files)
	}
	noTemps(t, drive)
	select {
	case <-d.done:
		t.Fatalf("daemon exited after a failed backup (code %d)", d.code)
	default:
	}
	d.stop()
	_ = n
	// Every copy the catalog counts on drive-b was verified before the unplug;
	// none of them is claimed for a file that is not on the (detached) drive's
	// content — the catalog never lists more copies than the shoot has files.
	if got := checkCatalog(t, e.home)["drive-b"]; got > len(sourceSums(t, shoot)) {
		t.Fatalf("catalog counts %d copies on drive-b", got)
	}
	r := e.must(0, "log")
	wantLine(t, r, r.stdout, "backup", "FAILED")
}
