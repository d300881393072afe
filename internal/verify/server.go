package verify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/progress"
	"github.com/trove-backup/trove/internal/store"
)

// ServerCounts counts the outcomes of a server check (store.ServerChecker):
// copies whose object the service reports unchanged, changed, missing, or
// cannot vouch for (unknown: only a download checks those).
type ServerCounts struct {
	OK      int `json:"ok"`
	Changed int `json:"changed"`
	Missing int `json:"missing"`
	Unknown int `json:"unknown"`
}

func (c *ServerCounts) add(o ServerCounts) {
	c.OK += o.OK
	c.Changed += o.Changed
	c.Missing += o.Missing
	c.Unknown += o.Unknown
}

// ServerCheck is what the server check of one target found. A server check
// compares every copy's object with the checksum the service keeps for it
// (no download): unchanged means the object is there, whole and not
// replaced since its verified upload, as far as the service tells; it does
// not re-read the bytes.
type ServerCheck struct {
	ServerCounts
	// CheckedToday of Total copies on the target are good and were found
	// unchanged by a server check today (since local midnight), this run
	// included.
	CheckedToday int `json:"checked_today"`
	Total        int `json:"total"`
	// Skipped says why no server check was made (the service keeps no
	// checksums); the counts are then zero.
	Skipped string `json:"skipped,omitempty"`
	// Error: the check failed part-way (the counts cover what it reported).
	Error string `json:"error,omitempty"`
}

// goneError marks a target found detached during the server check.
type goneError struct{ err error }

func (e goneError) Error() string { return e.err.Error() }

// serverCheck compares every copy in list with the service's checksums and
// records what it finds: unchanged copies get their server check time,
// missing and changed ones their state (they are returned in bad, so the
// download stage leaves them out). stopped reports that the target was
// found detached (recorded as a Problem); err is for catalog failures and
// cancellation.
func (v *targetRun) serverCheck(ctx context.Context, sc store.ServerChecker, list []catalog.TargetCopy) (bad map[int64]bool, stopped bool, err error) {
	t := v.t.Target
	res := &ServerCheck{}
	v.res.Server = res
	bad = map[int64]bool{}
	byName := make(map[string][]catalog.TargetCopy, len(list))
	names := make([]string, 0, len(list))
	for _, tc := range list {
		if _, ok := byName[tc.File.Path]; !ok {
			names = append(names, tc.File.Path)
		}
		byName[tc.File.Path] = append(byName[tc.File.Path], tc)
	}
	seen := make(map[string]bool, len(names))
	var okIDs []int64
	var missing []catalog.TargetCopy
	now := v.o.Now()
	checkErr := sc.ServerCheck(ctx, names, func(f store.ServerFinding) error {
		tcs, ok := byName[f.Name]
		if !ok || seen[f.Name] {
			return nil // not asked for, or reported twice: the first answer stands
		}
		seen[f.Name] = true
		state := f.State
		if len(tcs) > 1 {
			// Two catalog copies under one name (an old and a new file at the
			// same path): the service's one checksum cannot tell which it
			// vouches for. Downloads decide.
			state = store.ServerUnknown
		}
		for _, tc := range tcs {
			switch state {
			case store.ServerOK:
				res.OK++
				okIDs = append(okIDs, tc.FileID)
			case store.ServerMissing:
				missing = append(missing, tc) // recorded once the check is complete
			case store.ServerChanged:
				msg := "changed on the server"
				if f.Detail != "" {
					msg += ": " + f.Detail
				}
				if err := v.o.Catalog.SetCopyState(tc.FileID, tc.TargetID, catalog.CopyCorrupt, now, msg); err != nil {
					return catalogError{err}
				}
				res.Changed++
				v.res.Corrupt++
				bad[tc.FileID] = true
				v.problem(tc.File.Path, catalog.CopyCorrupt, msg)
			default: // ServerUnknown, or a state this version does not know
				res.Unknown++
			}
		}
		return nil
	})
	if checkErr == nil {
		// A name the store did not report is one it could not vouch for.
		for name, tcs := range byName {
			if !seen[name] {
				res.Unknown += len(tcs)
			}
		}
		checkErr = v.recordMissing(missing, len(list), bad, now)
	} else {
		// After a failed check, "missing" may only mean "not listed yet":
		// the downloads decide.
		res.Unknown += len(missing)
	}
	if len(okIDs) > 0 && ctx.Err() == nil {
		// Even after a failure part-way, what was reported unchanged was.
		if err := v.o.Catalog.MarkServerChecked(ctx, t.ID, okIDs, now); err != nil {
			return nil, false, err
		}
	}
	var fatal catalogError
	var gone goneError
	switch {
	case checkErr == nil:
		v.o.Sink.Emit(progress.Event{Kind: progress.Message, Dest: t.Name, Message: fmt.Sprintf(
			"checked %s against the service's checksums: %s unchanged, %s changed, %s missing, %s unknown",
			count(res.OK+res.Changed+res.Missing+res.Unknown, "copy", "copies"), Commas(int64(res.OK)),
			Commas(int64(res.Changed)), Commas(int64(res.Missing)), Commas(int64(res.Unknown)))})
	case ctx.Err() != nil:
		return nil, false, ctx.Err()
	case errors.As(checkErr, &fatal):
		return nil, false, fatal.err
	case errors.As(checkErr, &gone):
		v.stop(gone.err)
		return bad, true, nil
	case errors.Is(checkErr, errors.ErrUnsupported):
		res.Skipped = fmt.Sprintf("the service reports no checksums (%v)", checkErr)
		v.notes = append(v.notes, fmt.Sprintf("%s: the service reports no checksums to compare with: only downloads check its copies", t.Name))
	default:
		res.Error = checkErr.Error()
		v.problem("", "", fmt.Sprintf("the check against the service's checksums failed: %v", checkErr))
	}
	return bad, false, nil
}

// recordMissing records the copies the server check found missing, after
// the target's Attached check (a goneError when it fails). Absent is not
// missing: when the service lists none of the target's copies (two or
// more), that says more about the listing (a wrong prefix, a service
// fault) than about the copies, so nothing is recorded; it is a problem of
// the target and the downloads check those copies.
func (v *targetRun) recordMissing(missing []catalog.TargetCopy, total int, bad map[int64]bool, now time.Time) error {
	t := v.t.Target
	sc := v.res.Server
	if len(missing) == 0 {
		return nil
	}
	if len(missing) == total && total > 1 {
		sc.Unknown += len(missing)
		v.problem("", "", fmt.Sprintf("the service lists none of the %s on %s: not recorded as missing (check the bucket and prefix); downloads check them",
			count(total, "copy", "copies"), t.Name))
		return nil
	}
	if v.t.Attached != nil {
		if err := v.t.Attached(); err != nil {
			return goneError{fmt.Errorf("%s is no longer attached: %w", t.Name, err)}
		}
	}
	const msg = "not found on the service (server check)"
	for _, tc := range missing {
		if err := v.o.Catalog.SetCopyState(tc.FileID, tc.TargetID, catalog.CopyMissing, now, msg); err != nil {
			return catalogError{err}
		}
		sc.Missing++
		v.res.Missing++
		bad[tc.FileID] = true
		v.problem(tc.File.Path, catalog.CopyMissing, msg)
	}
	return nil
}

// remoteSum has the server hash one copy (store.RemoteHasher) and judges
// the result like a download. A Finding with an empty State means the
// server could not hash this one copy (the caller downloads it instead); an
// error wrapping errors.ErrUnsupported means it cannot hash at all; another
// error is a failure of the whole target or a cancellation.
func (v *targetRun) remoteSum(ctx context.Context, h store.RemoteHasher, tc catalog.TargetCopy) (Finding, error) {
	sum, n, err := h.RemoteSum(ctx, tc.File.Path)
	switch {
	case err == nil:
		return judge(sum, n, tc.Sum, wantSize(tc)), nil
	case errors.Is(err, errors.ErrUnsupported), targetFailure(ctx, err):
		return Finding{}, err
	case errors.Is(err, store.ErrNotExist):
		return Finding{State: catalog.CopyMissing, Problem: "not found on the target"}, nil
	default:
		return Finding{}, nil
	}
}
