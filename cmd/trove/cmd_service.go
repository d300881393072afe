package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/trove-backup/trove/internal/config"
	"github.com/trove-backup/trove/internal/daemon"
)

// Service names.
const (
	systemdUnit  = "trove.service"
	launchdLabel = "com.trove.daemon"
)

// Seams for tests: the platform, and how service manager commands run.
var (
	serviceGOOS = runtime.GOOS
	serviceRun  = func(name string, args ...string) (string, error) {
		out, err := exec.Command(name, args...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	serviceLookPath = exec.LookPath
)

// serviceSpec is what the service file says.
type serviceSpec struct {
	exe       string // absolute path of trove
	troveHome string // TROVE_HOME to pass on ("" = not set)
	envFile   string // optional file of secrets (systemd EnvironmentFile)
	logFile   string // launchd: where stdout and stderr go
}

func newServiceCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "service",
		Short: "Install, remove or check the background service (systemd on Linux, launchd on macOS)",
		Long: `Sets up ` + "`trove daemon`" + ` to run in the background from login on:

  Linux    a systemd user service: ~/.config/systemd/user/trove.service
  macOS    a launchd agent: ~/Library/LaunchAgents/com.trove.daemon.plist
  Windows  prints the Task Scheduler command to run it at logon

The service runs the trove binary you run this command with (its absolute path) and
passes TROVE_HOME on when it is set.`,
	}
	cmd.AddCommand(newServiceInstallCmd(), newServiceUninstallCmd(), newServiceStatusCmd())
	return cmd
}

func newServiceInstallCmd() *cobra.Command {
	var printOnly bool
	cmd := &cobra.Command{
		Use:   "install [--print]",
		Short: "Install and start the background service",
		Long: `Writes the service file and starts the service (systemctl --user enable --now on
Linux, launchctl bootstrap on macOS). When the service manager cannot be reached (no
systemctl, no user session bus) the file is still written and the exact commands to run
are printed. --print shows the file without installing anything.`,
		Example: `  trove service install
  trove service install --print`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := currentSpec()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			switch serviceGOOS {
			case "linux":
				return installSystemd(w, spec, printOnly)
			case "darwin":
				return installLaunchd(w, spec, printOnly)
			case "windows":
				printWindows(w, spec)
				return nil
			}
			return fmt.Errorf("no service manager support on %s: run `trove daemon` from your startup scripts", serviceGOOS)
		},
	}
	cmd.Flags().BoolVar(&printOnly, "print", false, "print the service file instead of installing it")
	return cmd
}

func newServiceUninstallCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "uninstall",
		Short: "Stop and remove the background service",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			switch serviceGOOS {
			case "linux":
				path, err := unitPath()
				if err != nil {
					return err
				}
				if _, err := serviceLookPath("systemctl"); err == nil {
					if out, err := serviceRun("systemctl", "--user", "disable", "--now", systemdUnit); err != nil {
						warnf(cmd.ErrOrStderr(), "systemctl --user disable --now %s: %v: %s", systemdUnit, err, out)
					}
				}
				if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
					return fmt.Errorf("remove %s: %w", path, err)
				}
				if _, err := serviceLookPath("systemctl"); err == nil {
					serviceRun("systemctl", "--user", "daemon-reload")
				}
				fmt.Fprintf(w, "Removed %s; the service is stopped.\n", path)
				return nil
			case "darwin":
				path, err := plistPath()
				if err != nil {
					return err
				}
				if out, err := serviceRun("launchctl", "bootout", launchdTarget()); err != nil {
					warnf(cmd.ErrOrStderr(), "launchctl bootout %s: %v: %s", launchdTarget(), err, out)
				}
				if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
					return fmt.Errorf("remove %s: %w", path, err)
				}
				fmt.Fprintf(w, "Removed %s; the service is stopped.\n", path)
				return nil
			case "windows":
				fmt.Fprintln(w, `Remove the scheduled task with:  schtasks /Delete /TN "Trove" /F`)
				return nil
			}
			return fmt.Errorf("no service manager support on %s", serviceGOOS)
		},
	}
}

func newServiceStatusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Say whether the service is installed and running",
		Long: `Shows the service file (installed or not), what the service manager says (enabled,
active), and whether a trove daemon holds this setup's daemon lock. Exit code 0 when a
daemon is running for this setup, 1 when none is.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			switch serviceGOOS {
			case "linux":
				path, err := unitPath()
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "Service file: %s (%s)\n", path, installedWord(path))
				if _, err := serviceLookPath("systemctl"); err != nil {
					fmt.Fprintln(w, "systemd: systemctl not found")
				} else {
					enabled := systemctlWord(serviceRun("systemctl", "--user", "is-enabled", systemdUnit))
					active := systemctlWord(serviceRun("systemctl", "--user", "is-active", systemdUnit))
					fmt.Fprintf(w, "systemd: enabled: %s; active: %s\n", enabled, active)
				}
			case "darwin":
				path, err := plistPath()
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "Agent file: %s (%s)\n", path, installedWord(path))
				out, err := serviceRun("launchctl", "print", launchdTarget())
				state := "not loaded"
				if err == nil {
					state = "loaded"
					for _, l := range strings.Split(out, "\n") {
						if s, ok := strings.CutPrefix(strings.TrimSpace(l), "state = "); ok {
							state = "loaded, " + s
							break
						}
					}
				}
				fmt.Fprintf(w, "launchd: %s\n", state)
			case "windows":
				fmt.Fprintln(w, `Task Scheduler: see  schtasks /Query /TN "Trove"`)
			}
			running, detail := daemonRunning()
			fmt.Fprintf(w, "Daemon: %s\n", detail)
			if !running {
				return &exitError{code: exitFailure, silent: true}
			}
			return nil
		},
	}
}

// daemonRunning reports whether a daemon holds this setup's lock.
func daemonRunning() (bool, string) {
	paths, err := config.Locate()
	if err != nil {
		return false, "unknown: " + err.Error()
	}
	lockPath := filepath.Join(filepath.Dir(paths.Catalog), "daemon.lock")
	if _, err := os.Stat(filepath.Dir(lockPath)); err != nil {
		return false, "not running (no setup at " + filepath.Dir(lockPath) + ")"
	}
	l, err := daemon.AcquireLock(lockPath)
	if errors.Is(err, daemon.ErrRunning) {
		return true, "running " + strings.TrimPrefix(err.Error(), daemon.ErrRunning.Error()+" ")
	}
	if err != nil {
		return false, "unknown: " + err.Error()
	}
	l.Release()
	return false, "not running for " + filepath.Dir(paths.Catalog)
}

func installedWord(path string) string {
	if _, err := os.Stat(path); err == nil {
		return "installed"
	}
	return "not installed"
}

// systemctlWord is the one-word answer of systemctl is-enabled/is-active
// ("enabled", "active", "inactive" …), or "unknown (why)" when systemctl
// could not answer (no user bus, no unit).
func systemctlWord(out string, err error) string {
	if out != "" && !strings.ContainsAny(out, " \n") {
		return out
	}
	if err == nil {
		return "unknown"
	}
	return "unknown (" + firstLine(out, err) + ")"
}

// currentSpec describes the service for the running trove binary.
func currentSpec() (serviceSpec, error) {
	exe, err := os.Executable()
	if err != nil {
		return serviceSpec{}, fmt.Errorf("find the trove binary: %w", err)
	}
	if p, err := filepath.EvalSymlinks(exe); err == nil {
		exe = p
	}
	spec := serviceSpec{exe: exe}
	if h := os.Getenv("TROVE_HOME"); h != "" {
		if abs, err := filepath.Abs(h); err == nil {
			spec.troveHome = abs
		}
	}
	if paths, err := config.Locate(); err == nil {
		spec.envFile = filepath.Join(filepath.Dir(paths.Config), "service.env")
	}
	if home, err := os.UserHomeDir(); err == nil {
		spec.logFile = filepath.Join(home, "Library", "Logs", "Trove", "daemon.log")
	}
	return spec, nil
}

// unitPath is the systemd user unit's path.
func unitPath() (string, error) {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find the home folder: %w", err)
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "systemd", "user", systemdUnit), nil
}

// systemdQuote quotes a value for a unit file line when it needs it.
func systemdQuote(s string) string {
	if !strings.ContainsAny(s, " \t\"'\\%$") {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `%`, `%%`, `$`, `$$`)
	return `"` + r.Replace(s) + `"`
}

// systemdUnitText is the unit file.
func systemdUnitText(s serviceSpec) string {
	var b strings.Builder
	b.WriteString(`# Written by ` + "`trove service install`" + `; remove with ` + "`trove service uninstall`" + `.
[Unit]
Description=Trove photo backups (schedules, drive-attach backups, nightly verification, alerts)
Documentation=https://github.com/trove-backup/trove

[Service]
Type=simple
`)
	fmt.Fprintf(&b, "ExecStart=%s daemon\n", systemdQuote(s.exe))
	b.WriteString("Restart=on-failure\nRestartSec=30\n")
	if s.troveHome != "" {
		fmt.Fprintf(&b, "Environment=%s\n", systemdQuote("TROVE_HOME="+s.troveHome))
	}
	if s.envFile != "" {
		b.WriteString("# Secrets for alerts (SMTP password, webhook URL), one NAME=value per line, chmod 600.\n")
		b.WriteString("# The leading '-' makes the file optional.\n")
		fmt.Fprintf(&b, "EnvironmentFile=-%s\n", s.envFile) // the rest of the line is the path: no quoting
	}
	b.WriteString(`# A stopping daemon finishes or abandons its current file and records the run.
TimeoutStopSec=90
# Backups yield to your work.
Nice=10
IOSchedulingClass=idle

[Install]
WantedBy=default.target
`)
	return b.String()
}

func installSystemd(w io.Writer, s serviceSpec, printOnly bool) error {
	text := systemdUnitText(s)
	path, err := unitPath()
	if err != nil {
		return err
	}
	if printOnly {
		fmt.Fprintf(w, "# %s\n%s", path, text)
		return nil
	}
	if err := writeServiceFile(path, text); err != nil {
		return err
	}
	fmt.Fprintf(w, "Wrote %s\n", path)
	steps := [][]string{{"systemctl", "--user", "daemon-reload"}, {"systemctl", "--user", "enable", "--now", systemdUnit}}
	if _, err := serviceLookPath("systemctl"); err != nil {
		fmt.Fprintln(w, "systemctl was not found: start the service with your init system, or run these where systemd is available:")
		printSteps(w, steps)
		return nil
	}
	for i, st := range steps {
		if out, err := serviceRun(st[0], st[1:]...); err != nil {
			fmt.Fprintf(w, "%s failed: %v\n", strings.Join(st, " "), firstLine(out, err))
			fmt.Fprintln(w, "The user service manager could not be reached (no user session bus?). Log in to a desktop or SSH session and run:")
			printSteps(w, steps[i:])
			fmt.Fprintln(w, "To keep the service running while you are logged out:  loginctl enable-linger $USER")
			return nil
		}
	}
	fmt.Fprintln(w, "Service installed and started: trove daemon runs now and at every login.")
	fmt.Fprintln(w, "Follow it with:  journalctl --user -u trove -f    History of runs:  trove log")
	return nil
}

func printSteps(w io.Writer, steps [][]string) {
	for _, st := range steps {
		fmt.Fprintf(w, "  %s\n", strings.Join(st, " "))
	}
}

func firstLine(out string, err error) string {
	if out == "" {
		return err.Error()
	}
	l, _, _ := strings.Cut(out, "\n")
	return l
}

// writeServiceFile writes text to path (creating its folder) durably.
func writeServiceFile(path, text string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = f.WriteString(text)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// plistPath is the launchd agent's path.
func plistPath() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the home folder: %w", err)
	}
	return filepath.Join(home, "Library", "LaunchAgents", launchdLabel+".plist"), nil
}

func launchdTarget() string { return "gui/" + strconv.Itoa(os.Getuid()) + "/" + launchdLabel }

func xmlText(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// launchdPlistText is the agent file.
func launchdPlistText(s serviceSpec) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- Written by trove service install; remove with trove service uninstall. -->
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>` + launchdLabel + `</string>
	<key>ProgramArguments</key>
	<array>
		<string>` + xmlText(s.exe) + `</string>
		<string>daemon</string>
	</array>
	<key>RunAtLoad</key>
	<true/>
	<key>KeepAlive</key>
	<true/>
	<key>ThrottleInterval</key>
	<integer>30</integer>
	<key>ProcessType</key>
	<string>Background</string>
	<key>LowPriorityIO</key>
	<true/>
`)
	if s.troveHome != "" {
		b.WriteString("\t<key>EnvironmentVariables</key>\n\t<dict>\n\t\t<key>TROVE_HOME</key>\n\t\t<string>" +
			xmlText(s.troveHome) + "</string>\n\t</dict>\n")
	}
	if s.logFile != "" {
		fmt.Fprintf(&b, "\t<key>StandardOutPath</key>\n\t<string>%s</string>\n\t<key>StandardErrorPath</key>\n\t<string>%s</string>\n",
			xmlText(s.logFile), xmlText(s.logFile))
	}
	b.WriteString("</dict>\n</plist>\n")
	return b.String()
}

func installLaunchd(w io.Writer, s serviceSpec, printOnly bool) error {
	text := launchdPlistText(s)
	path, err := plistPath()
	if err != nil {
		return err
	}
	if printOnly {
		fmt.Fprintf(w, "<!-- %s -->\n%s", path, text)
		return nil
	}
	if s.logFile != "" {
		if err := os.MkdirAll(filepath.Dir(s.logFile), 0o755); err != nil {
			return fmt.Errorf("create %s: %w", filepath.Dir(s.logFile), err)
		}
	}
	if err := writeServiceFile(path, text); err != nil {
		return err
	}
	fmt.Fprintf(w, "Wrote %s\n", path)
	domain := "gui/" + strconv.Itoa(os.Getuid())
	serviceRun("launchctl", "bootout", launchdTarget()) // an older version may be loaded; not loaded is fine
	if out, err := serviceRun("launchctl", "bootstrap", domain, path); err != nil {
		fmt.Fprintf(w, "launchctl bootstrap failed: %v\nRun it from a session logged in to the desktop:\n  launchctl bootstrap %s %s\n",
			firstLine(out, err), domain, shellQuote(path))
		return nil
	}
	fmt.Fprintln(w, "Agent installed and started: trove daemon runs now and at every login.")
	fmt.Fprintf(w, "Its log: %s    History of runs: trove log\n", s.logFile)
	return nil
}

func shellQuote(s string) string {
	if !strings.ContainsAny(s, " '\"\\$`") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// printWindows says how to run the daemon at logon with Task Scheduler.
func printWindows(w io.Writer, s serviceSpec) {
	fmt.Fprintln(w, "Windows has no user service that Trove installs itself. Run the daemon at logon with Task Scheduler:")
	fmt.Fprintf(w, "  schtasks /Create /TN \"Trove\" /SC ONLOGON /RL LIMITED /TR \"\\\"%s\\\" daemon\"\n", s.exe)
	if s.troveHome != "" {
		fmt.Fprintf(w, "and set TROVE_HOME for your user first:\n  setx TROVE_HOME \"%s\"\n", s.troveHome)
	}
	fmt.Fprintln(w, "Start it now with:  schtasks /Run /TN \"Trove\"      Remove it with:  schtasks /Delete /TN \"Trove\" /F")
}
