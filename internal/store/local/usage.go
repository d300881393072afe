package local

import "fmt"

// UsageOf reports free and total bytes of the filesystem holding dir,
// without attaching (no lock, no probe files): for listings.
func UsageOf(dir string) (free, total uint64, err error) {
	free, total, err = usage(dir)
	if err != nil {
		return 0, 0, fmt.Errorf("usage of %s: %w", dir, err)
	}
	return free, total, nil
}
