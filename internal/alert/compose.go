package alert

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// maxListed is how many problems or reasons a body lists before "… and N more"
// (a phone screen, not a log; `trove log` has the rest).
const maxListed = 8

// RunFailure describes a run that failed, for RunFailed.
type RunFailure struct {
	// Job is what ran: "backup", "verify", "repair", "ingest", "archive" ….
	Job string
	// Target is the target it ran against ("drive-b"); may be empty.
	Target string
	// Cause is a few words for the subject ("disk full"); when empty the
	// first problem is used, shortened.
	Cause string
	// Problems lists what went wrong, one line each, most important first.
	Problems []string
	// Hint, when set, replaces the suggested next step derived from the
	// problems.
	Hint string
}

// RunFailed composes the alert for a failed run at time now, e.g. subject
// "Trove: backup to drive-b failed (disk full)" and a body listing the
// problems and what to do.
func RunFailed(r RunFailure, now time.Time) Alert {
	job := cleanLine(r.Job, 40)
	if job == "" {
		job = "run"
	}
	target := cleanLine(r.Target, 60)
	cause := shortCause(r.Cause)
	if cause == "" && len(r.Problems) > 0 {
		cause = shortCause(r.Problems[0])
	}
	what := job
	if target != "" {
		what = fmt.Sprintf("%s %s %s", job, jobPreposition(job), target)
	}
	subject := "Trove: " + what + " failed"
	if cause != "" {
		subject += " (" + cause + ")"
	}

	var b strings.Builder
	fmt.Fprintf(&b, "The %s failed at %s.\n", what, stamp(now))
	if len(r.Problems) > 0 {
		b.WriteString("\nWhat went wrong:\n")
		writeList(&b, r.Problems)
	}
	b.WriteString("\nWhat to do:\n")
	hint := strings.TrimSpace(r.Hint)
	if hint == "" {
		hint = runHint(job, target, append([]string{r.Cause}, r.Problems...))
	}
	fmt.Fprintf(&b, "- %s\n", hint)
	b.WriteString("- See every run and its problems with: trove log\n")
	b.WriteString("- Check what is protected right now with: trove status\n")

	problems := r.Problems
	if problems == nil {
		problems = []string{}
	}
	return Alert{
		Kind: KindRunFailed, Subject: subject, Body: b.String(), Time: now,
		Fields: map[string]any{
			"job": job, "target": target, "cause": cause, "problems": problems,
		},
	}
}

// shortCause shortens a reason for a subject's parentheses: one line, no
// nested parenthesis ("no off-site copy (bank-drive 47 days old)" becomes
// "no off-site copy"), at most 60 runes.
func shortCause(s string) string {
	s = cleanLine(s, 200)
	if i := strings.Index(s, " ("); i >= 3 {
		s = s[:i]
	}
	return cleanLine(s, 60)
}

// jobPreposition reads naturally: "backup to drive-b", "verify of drive-b".
func jobPreposition(job string) string {
	switch job {
	case "backup", "archive", "ingest", "copy":
		return "to"
	case "restore":
		return "from"
	default:
		return "of"
	}
}

// runHint suggests the next step for a failed run from the words of its
// problems: the common causes (full disk, absent drive, permissions, network,
// corrupt copies) get their own advice.
func runHint(job, target string, problems []string) string {
	text := strings.ToLower(strings.Join(problems, "\n"))
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(text, w) {
				return true
			}
		}
		return false
	}
	again := "run it again"
	if cmd := rerun(job, target); cmd != "" {
		again = "run: " + cmd
	}
	where := "the target"
	if target != "" {
		where = target
	}
	switch {
	case has("no space", "disk full", "enospc", "quota", "not enough space", "device full"):
		return fmt.Sprintf("Free up space on %s (or move to a larger drive), then %s", where, again)
	case has("not attached", "not mounted", "unplugged", "no such device", "not connected", "not found", "absent", "disconnected"):
		return fmt.Sprintf("Check that %s is plugged in or mounted, then %s", where, again)
	case has("permission denied", "access denied", "forbidden", "authentication", "unauthorized", "eacces"):
		return fmt.Sprintf("Check that Trove may write to %s (permissions, password or keys), then %s", where, again)
	case has("timeout", "timed out", "connection refused", "network", "unreachable", "no route", "dns"):
		return fmt.Sprintf("Check the network connection to %s, then %s", where, again)
	case has("corrupt", "mismatch", "checksum", "content differs", "truncated"):
		cmd := "trove repair"
		if target != "" {
			cmd += " " + shellArg(target)
		}
		return fmt.Sprintf("Some copies are damaged: run %s to heal them from good copies", cmd)
	default:
		return "Fix the problems listed above, then " + again
	}
}

// rerun is the command that runs job again, or "" when there is no single one.
func rerun(job, target string) string {
	switch job {
	case "backup", "verify", "repair":
		if target == "" {
			return "trove " + job
		}
		return "trove " + job + " " + shellArg(target)
	}
	return ""
}

// shellArg quotes s for a shell command line when it needs it.
func shellArg(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// AtRisk describes a project that no longer meets the policy, for
// ProjectAtRisk.
type AtRisk struct {
	// Project is the project (shoot) name or folder, e.g.
	// "2024-06-01 Smith Wedding".
	Project string
	// Reasons are the policy's reasons, one line each, e.g. "only 2 copies
	// (policy: 3)", "no off-site copy".
	Reasons []string
	// Files is how many of the project's files are at risk (0 = unknown).
	Files int
}

// ProjectAtRisk composes the alert for a project that turned at risk at time
// now, e.g. subject `Trove: "2024-06-01 Smith Wedding" is at risk (no
// off-site copy)`.
func ProjectAtRisk(p AtRisk, now time.Time) Alert {
	name := cleanLine(p.Project, 80)
	subject := fmt.Sprintf("Trove: %q is at risk", name)
	if len(p.Reasons) > 0 {
		subject += " (" + shortCause(p.Reasons[0]) + ")"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "The project %q no longer meets your backup policy", name)
	if p.Files > 0 {
		fmt.Fprintf(&b, " (%s at risk)", plural(p.Files, "file"))
	}
	fmt.Fprintf(&b, " since %s.\n", stamp(now))
	if len(p.Reasons) > 0 {
		b.WriteString("\nWhy:\n")
		writeList(&b, p.Reasons)
	}
	b.WriteString("\nWhat to do:\n")
	fmt.Fprintf(&b, "- See which files and copies are missing with: trove where %s\n", shellArg(name))
	b.WriteString("- Attach your backup drives and run: trove backup\n")
	b.WriteString("- Do not format the memory cards of this shoot until it is protected again.\n")

	reasons := p.Reasons
	if reasons == nil {
		reasons = []string{}
	}
	return Alert{
		Kind: KindAtRisk, Subject: subject, Body: b.String(), Time: now,
		Fields: map[string]any{"project": name, "reasons": reasons, "files": p.Files},
	}
}

// ProjectCount is one project's line in the digest.
type ProjectCount struct {
	Project   string
	Protected int // files that meet the policy
	AtRisk    int // files that do not
}

// TargetState is one target's line in the digest. Zero times mean never.
type TargetState struct {
	Target     string
	LastWrite  time.Time // last successful backup/ingest onto the target
	LastVerify time.Time // last successful verification of the target
}

// DigestData is what the daily digest reports.
type DigestData struct {
	Projects []ProjectCount
	Targets  []TargetState
}

// Digest composes the daily summary at time now: at-risk projects first (by
// most files at risk), a count of protected ones, then every target with when
// it was last written and verified. Subject: "Trove daily: all 12 projects
// protected" or "Trove daily: 2 of 12 projects at risk".
func Digest(d DigestData, now time.Time) Alert {
	var risky []ProjectCount
	protectedProjects, protectedFiles, riskyFiles := 0, 0, 0
	for _, p := range d.Projects {
		protectedFiles += p.Protected
		riskyFiles += p.AtRisk
		if p.AtRisk > 0 {
			risky = append(risky, p)
		} else {
			protectedProjects++
		}
	}
	sort.SliceStable(risky, func(i, j int) bool { return risky[i].AtRisk > risky[j].AtRisk })
	total := len(d.Projects)

	var subject string
	switch {
	case total == 0:
		subject = "Trove daily: no projects yet"
	case len(risky) == 0:
		subject = fmt.Sprintf("Trove daily: all %s protected", plural(total, "project"))
	default:
		subject = fmt.Sprintf("Trove daily: %d of %s at risk", len(risky), plural(total, "project"))
	}

	var b strings.Builder
	fmt.Fprintf(&b, "Trove summary for %s.\n", stamp(now))
	if len(risky) > 0 {
		fmt.Fprintf(&b, "\nAt risk (%s):\n", plural(riskyFiles, "file"))
		lines := make([]string, len(risky))
		for i, p := range risky {
			lines[i] = fmt.Sprintf("%s: %d of %s at risk", cleanLine(p.Project, 80), p.AtRisk, plural(p.AtRisk+p.Protected, "file"))
		}
		writeList(&b, lines)
		b.WriteString("Run `trove status` to see why, and `trove backup` with your drives attached to fix it.\n")
	}
	if total > 0 {
		fmt.Fprintf(&b, "\nProtected: %d of %s, %d of %s.\n", protectedProjects, plural(total, "project"),
			protectedFiles, plural(protectedFiles+riskyFiles, "file"))
	}
	if len(d.Targets) > 0 {
		b.WriteString("\nTargets:\n")
		for _, t := range d.Targets { // every target: the digest is the place to see them all
			fmt.Fprintf(&b, "- %s: written %s, verified %s\n", cleanLine(t.Target, 60), ago(t.LastWrite, now), ago(t.LastVerify, now))
		}
	}

	projects := make([]map[string]any, len(d.Projects))
	for i, p := range d.Projects {
		projects[i] = map[string]any{"project": p.Project, "protected": p.Protected, "at_risk": p.AtRisk}
	}
	targets := make([]map[string]any, len(d.Targets))
	for i, t := range d.Targets {
		targets[i] = map[string]any{"target": t.Target, "last_write": optTime(t.LastWrite), "last_verify": optTime(t.LastVerify)}
	}
	return Alert{
		Kind: KindDigest, Subject: subject, Body: b.String(), Time: now,
		Fields: map[string]any{
			"projects_total": total, "projects_at_risk": len(risky),
			"files_protected": protectedFiles, "files_at_risk": riskyFiles,
			"projects": projects, "targets": targets,
		},
	}
}

// TestMessage composes the message `trove alert test` sends; host names the
// computer it comes from (may be empty).
func TestMessage(host string, now time.Time) Alert {
	from := "Trove"
	if h := cleanLine(host, 60); h != "" {
		from = "Trove on " + h
	}
	body := fmt.Sprintf("This is a test message from %s, sent at %s.\n\n"+
		"If you can read it, alerts reach you: you will hear here when a backup fails "+
		"or a project is at risk. Nothing needs to be done.\n", from, stamp(now))
	return Alert{
		Kind: KindTest, Subject: "Trove: test message — alerts work", Body: body, Time: now,
		Fields: map[string]any{"host": cleanLine(host, 60)},
	}
}

// writeList writes items as "- item" lines, at most maxListed of them.
func writeList(b *strings.Builder, items []string) {
	for i, it := range items {
		if i == maxListed {
			fmt.Fprintf(b, "- … and %d more\n", len(items)-maxListed)
			return
		}
		fmt.Fprintf(b, "- %s\n", cleanLine(it, 300))
	}
}

// stamp renders a time for a body: "Tue 3 Jun 2025 02:14 (+02:00)" in t's zone.
func stamp(t time.Time) string {
	return t.Format("Mon 2 Jan 2006 15:04 (-07:00)")
}

// optTime is t in RFC 3339 for JSON, or nil for the zero time.
func optTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}
