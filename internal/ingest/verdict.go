package ingest

import (
	"fmt"
	"sort"
	"strings"

	"github.com/trove-backup/trove/internal/catalog"
	"github.com/trove-backup/trove/internal/digest"
)

// finish fills in every file's verified copies from the catalog and writes
// the verdict. A file is safe when its content has verified copies on at
// least two distinct devices; copies on targets that share a filesystem
// count once.
func (r *runner) finish() {
	targets, err := r.o.Catalog.Targets()
	if err != nil {
		r.problem(Problem{Err: fmt.Sprintf("read targets from the catalog: %v", err)})
	}
	byID := map[string]catalog.Target{}
	for _, t := range targets {
		byID[t.ID] = t
	}
	device := map[string]string{} // target ID -> device now (attached) or when last seen
	for _, t := range targets {
		device[t.ID] = t.Device
	}
	for _, d := range r.dests {
		if d.Device != "" {
			device[d.Target.ID] = d.Device
		}
	}
	sameDisk := map[string]bool{}
	seenDev := map[string]string{}
	for _, d := range r.dests {
		if other, ok := seenDev[device[d.Target.ID]]; ok && device[d.Target.ID] != "" {
			sameDisk[fmt.Sprintf("%s and %s are on the same disk: their copies count once", other, d.Target.Name)] = true
		} else {
			seenDev[device[d.Target.ID]] = d.Target.Name
		}
	}
	r.res.Notes = append(r.res.Notes, sortedKeys(sameDisk)...)

	var unsafe []string
	files := make([]FileResult, 0, len(r.items))
	for _, it := range r.items {
		fr := r.results[it]
		if fr.Sum != "" {
			r.fillCopies(fr, byID, device)
		}
		if fr.Status == "failed" {
			r.res.Failed++
		}
		if fr.Devices < 2 {
			unsafe = append(unsafe, fr.Source)
		}
		files = append(files, *fr)
	}
	r.res.Files = files
	r.res.Verdict, r.res.Safe = r.verdict(unsafe)
}

func (r *runner) fillCopies(fr *FileResult, byID map[string]catalog.Target, device map[string]string) {
	sum, err := digest.Parse(fr.Sum)
	if err != nil {
		return
	}
	found, err := r.o.Catalog.FilesBySum(sum)
	if err != nil {
		r.problem(Problem{File: fr.Source, Err: fmt.Sprintf("read copies from the catalog: %v", err)})
		return
	}
	devs := map[string]bool{}
	names := map[string]bool{}
	for _, f := range found {
		cps, err := r.o.Catalog.Copies(f.ID)
		if err != nil {
			r.problem(Problem{File: fr.Source, Err: fmt.Sprintf("read copies from the catalog: %v", err)})
			return
		}
		for _, cp := range cps {
			if !cp.Counts(f) {
				continue
			}
			t := byID[cp.TargetID]
			names[t.Name] = true
			dev := device[cp.TargetID]
			if dev == "" {
				dev = "target:" + cp.TargetID // unknown device: its own
			}
			devs[dev] = true
		}
	}
	fr.Copies = sortedKeys(names)
	fr.Devices = len(devs)
}

func (r *runner) verdict(unsafe []string) (string, bool) {
	n := len(r.items)
	src := strings.Join(r.o.Sources, ", ")
	var scanProblems int
	for _, p := range r.res.Problems {
		if p.Dest == "" && !r.isItemProblem(p.File) {
			scanProblems++
		}
	}
	switch {
	case r.fatal != nil:
		return fmt.Sprintf("NOT SAFE TO FORMAT: the run stopped (%v); run the same command again to finish it", r.fatal), false
	case r.interrupted:
		return "NOT SAFE TO FORMAT: the run was interrupted before every file was copied and verified; run the same command again to finish it", false
	case n == 0 && scanProblems == 0:
		return fmt.Sprintf("NOT SAFE TO FORMAT: no files were found on %s; check that the card is mounted and the path is right", src), false
	case scanProblems > 0:
		return fmt.Sprintf("NOT SAFE TO FORMAT: parts of %s could not be read (see the problems above), so files may be missing", src), false
	case len(unsafe) > 0:
		list := unsafe
		more := ""
		if len(list) > 5 {
			more = fmt.Sprintf(" (+%d more, listed above)", len(list)-5)
			list = list[:5]
		}
		away := ""
		if len(r.o.Away) > 0 {
			var names []string
			for _, t := range r.o.Away {
				names = append(names, t.Name)
			}
			away = fmt.Sprintf(" (not attached: %s)", strings.Join(names, ", "))
		}
		return fmt.Sprintf("NOT SAFE TO FORMAT: %d of %d files lack verified copies on 2 separate devices%s: %s%s",
			len(unsafe), n, away, strings.Join(list, ", "), more), false
	}
	var names []string
	for _, d := range r.dests {
		if !r.isDead(d.Target.Name) {
			names = append(names, d.Target.Name)
		}
	}
	return fmt.Sprintf("SAFE TO FORMAT: all %d files from %s have verified copies on at least 2 separate devices (%s)",
		n, src, strings.Join(names, ", ")), true
}

func (r *runner) isItemProblem(display string) bool {
	for _, it := range r.items {
		if it.display == display {
			return true
		}
	}
	return false
}

var _ = sort.Strings
