package main

// What `trove status` adds about the life of a shoot: archived projects,
// drive rotation (off-site freshness, drives not seen) and how much of each
// target was verified lately. cmd_status.go calls statusExtras and
// printStatusExtras; the logic lives here.

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/trove-backup/trove/internal/catalog"
)

// statusExtra is the "extra" part of `trove status` (and of its JSON).
type statusExtra struct {
	Archived []archivedView `json:"archived"`
	Coverage []coverageView `json:"coverage"`
	Warnings []string       `json:"warnings"`
}

// archivedView is one archived project.
type archivedView struct {
	Project    string    `json:"project"`
	Targets    []string  `json:"targets"`
	ArchivedAt time.Time `json:"archived_at"`
	Files      int       `json:"files"`
	// Released is the number of its files the library no longer holds.
	Released   int       `json:"released_files"`
	ReleasedAt time.Time `json:"released_at,omitzero"`
}

// coverageView is the share of a target's copies verified lately.
type coverageView struct {
	Target    string `json:"target"`
	Copies    int    `json:"copies"`
	Percent30 int    `json:"verified_30_days_percent"`
	Percent90 int    `json:"verified_90_days_percent"`
}

// statusExtras gathers archives, coverage and rotation warnings at a.now().
func statusExtras(a *app) (statusExtra, error) {
	x := statusExtra{Archived: []archivedView{}, Coverage: []coverageView{}, Warnings: []string{}}
	now := a.now()
	targets, err := a.cat.Targets()
	if err != nil {
		return x, err
	}
	names := map[string]string{}
	libID := ""
	for _, t := range targets {
		names[t.ID] = t.Name
		if t.Kind == catalog.KindLibrary {
			libID = t.ID
		}
	}
	archives, err := a.cat.Archives()
	if err != nil {
		return x, err
	}
	releases, err := a.cat.ProjectReleases(libID)
	if err != nil {
		return x, err
	}
	byProject := map[string]*archivedView{}
	archiveTarget := map[string]bool{}
	var order []string
	for _, ar := range archives {
		archiveTarget[ar.TargetID] = true
		v := byProject[ar.Project]
		if v == nil {
			v = &archivedView{Project: ar.Project}
			byProject[ar.Project] = v
			order = append(order, ar.Project)
		}
		v.Targets = append(v.Targets, names[ar.TargetID])
		if ar.ArchivedAt.After(v.ArchivedAt) {
			v.ArchivedAt = ar.ArchivedAt
		}
	}
	for _, r := range releases {
		if v := byProject[r.Project]; v != nil {
			v.Files, v.Released, v.ReleasedAt = r.Files, r.Released, r.ReleasedAt
		}
	}
	for _, p := range order {
		v := byProject[p]
		slices.Sort(v.Targets)
		if v.Files == 0 {
			files, err := a.cat.FilesByProject(p)
			if err != nil {
				return x, err
			}
			for _, f := range files {
				if f.DeletedAt.IsZero() {
					v.Files++
				}
			}
		}
		x.Archived = append(x.Archived, *v)
	}

	for _, t := range targets {
		v30, total, err := a.cat.Coverage(t.ID, now.Add(-30*24*time.Hour))
		if err != nil {
			return x, err
		}
		v90, _, err := a.cat.Coverage(t.ID, now.Add(-90*24*time.Hour))
		if err != nil {
			return x, err
		}
		if total > 0 {
			x.Coverage = append(x.Coverage, coverageView{Target: t.Name, Copies: total,
				Percent30: percent(v30, total), Percent90: percent(v90, total)})
		}
		x.Warnings = append(x.Warnings, targetWarnings(a, t, archiveTarget[t.ID], total, now)...)
	}
	return x, nil
}

// targetWarnings are the rotation and verification warnings for one target.
func targetWarnings(a *app, t catalog.Target, archive bool, copies int, now time.Time) []string {
	var out []string
	if t.Kind == catalog.KindLibrary {
		return nil
	}
	fr := a.cfg.Freshness
	kind := "drive"
	if t.Kind == catalog.KindS3 || t.Kind == catalog.KindRclone || t.Kind == catalog.KindSFTP {
		kind = "remote"
	}
	// An off-site drive that is not an archive is a rotation drive: it
	// should come home, be synced and go back regularly.
	if fr.OffsiteMaxDays > 0 && !archive && isOffsite(a.cfg.Location, t.Location) {
		last := t.LastWriteAt
		switch {
		case last.IsZero():
			out = append(out, fmt.Sprintf("%s %s %s has never been synced", t.Location, kind, t.Name))
		case now.Sub(last) > days(fr.OffsiteMaxDays):
			msg := fmt.Sprintf("%s %s %s last synced %s ago", t.Location, kind, t.Name, daysAgo(now.Sub(last)))
			if kind == "drive" {
				msg += ": bring it home and swap"
			} else {
				msg += ": check its schedule (`trove log`)"
			}
			out = append(out, msg)
		}
	}
	if fr.UnseenMaxDays > 0 && kind == "drive" {
		seen := t.LastSeenAt
		if seen.IsZero() {
			seen = t.CreatedAt
		}
		if !seen.IsZero() && now.Sub(seen) > days(fr.UnseenMaxDays) {
			out = append(out, fmt.Sprintf("%s (kept at %s) not seen for %s: attach it so Trove can verify it", t.Name,
				t.Location, daysAgo(now.Sub(seen))))
		}
	}
	if vd := a.cfg.Policy.VerifyWithinDays; vd > 0 && copies > 0 {
		_, total, err := a.cat.Coverage(t.ID, now.Add(-days(vd)))
		stale, serr := a.cat.StaleCopies(t.ID, now.Add(-days(vd)))
		if err == nil && serr == nil && stale > 0 {
			out = append(out, fmt.Sprintf("%s: %s of %s not verified within %d days (run `trove verify %s`)", t.Name,
				commas(stale), plural(total, "copy", "copies"), vd, t.Name))
		}
	}
	return out
}

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

// daysAgo renders an age in whole days ("47 days", "1 day").
func daysAgo(d time.Duration) string { return plural(int(d/(24*time.Hour)), "day", "days") }

// archivedLine is one project's archive in plain words:
// "Smith Wedding: archived to archive-2024-a, archive-2024-b on 2025-01-10; released from the library".
func archivedLine(v archivedView) string {
	s := fmt.Sprintf("%s: archived to %s on %s", v.Project, strings.Join(v.Targets, ", "), v.ArchivedAt.Local().Format("2006-01-02"))
	switch {
	case v.Released > 0 && v.Released >= v.Files:
		s += "; released from the library"
	case v.Released > 0:
		s += fmt.Sprintf("; %d of %d files released from the library", v.Released, v.Files)
	default:
		s += "; still in the library"
	}
	return s
}

// printStatusExtras prints the extra sections after the projects.
func printStatusExtras(w io.Writer, x statusExtra) {
	if len(x.Archived) > 0 {
		fmt.Fprintln(w, "\nArchived:")
		for _, v := range x.Archived {
			fmt.Fprintf(w, "  %s\n", archivedLine(v))
		}
	}
	if len(x.Coverage) > 0 {
		fmt.Fprintln(w, "\nVerified in the last 30 / 90 days:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, c := range x.Coverage {
			fmt.Fprintf(tw, "  %s\t%d%% / %d%%\t(%s)\n", c.Target, c.Percent30, c.Percent90, plural(c.Copies, "copy", "copies"))
		}
		tw.Flush()
	}
	if len(x.Warnings) > 0 {
		fmt.Fprintln(w)
		for _, s := range x.Warnings {
			fmt.Fprintf(w, "warning: %s\n", s)
		}
	}
}
