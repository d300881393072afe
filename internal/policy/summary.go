package policy

import (
	"cmp"
	"fmt"
	"slices"
)

// FileResult is the verdict for one file of a project.
type FileResult struct {
	Path   string
	Size   int64
	Result Result
}

// ProjectStatus aggregates the verdicts of a project's (shoot's) files.
type ProjectStatus struct {
	Name  string
	Files int
	Bytes int64
	// Protected is true only when the project has at least one file and every
	// file is OK. An empty project is not called protected: there is nothing
	// to vouch for, and it usually means the catalog has no files for it.
	Protected bool
	// Reasons are the files' reasons, deduplicated by exact text. A reason
	// shared by every file is given as is; otherwise it is prefixed with a
	// count: "12 of 40 files: 2 copies, policy wants 3". Ordered by how many
	// files it concerns (most first), then alphabetically.
	Reasons []string
	// AtRisk is the number of files that are not OK.
	AtRisk int
}

// Summarise aggregates per-file results into a project status. It uses only
// Result.OK and Result.Reasons (Notes are per-file detail and are not
// aggregated).
func Summarise(name string, files []FileResult) ProjectStatus {
	ps := ProjectStatus{Name: name, Files: len(files)}
	counts := map[string]int{}
	for _, f := range files {
		ps.Bytes += f.Size
		if !f.Result.OK {
			ps.AtRisk++
		}
		// A reason repeated within one file counts once for that file.
		seen := map[string]bool{}
		for _, r := range f.Result.Reasons {
			if !seen[r] {
				seen[r] = true
				counts[r]++
			}
		}
	}
	ps.Protected = ps.Files > 0 && ps.AtRisk == 0
	if ps.Files == 0 {
		ps.Reasons = []string{"no files in this project"}
		return ps
	}

	type rc struct {
		text string
		n    int
	}
	list := make([]rc, 0, len(counts))
	for t, n := range counts {
		list = append(list, rc{t, n})
	}
	slices.SortFunc(list, func(a, b rc) int {
		if c := cmp.Compare(b.n, a.n); c != 0 {
			return c
		}
		return cmp.Compare(a.text, b.text)
	})
	for _, r := range list {
		if r.n == ps.Files {
			ps.Reasons = append(ps.Reasons, r.text)
		} else {
			ps.Reasons = append(ps.Reasons, fmt.Sprintf("%d of %d files: %s", r.n, ps.Files, r.text))
		}
	}
	// A file that is not OK always carries at least one reason from Evaluate;
	// a hand-made Result might not. Never report "at risk" without a word.
	if ps.AtRisk > 0 && len(ps.Reasons) == 0 {
		ps.Reasons = []string{fmt.Sprintf("%d of %d files do not meet the policy", ps.AtRisk, ps.Files)}
	}
	return ps
}
