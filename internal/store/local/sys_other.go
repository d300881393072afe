//go:build !linux && !darwin

package local

import "os"

// renameNoReplace: no atomic primitive here; publish falls back to link or
// check-then-rename.
func renameNoReplace(*os.Root, string, string) error { return errUnsupported }

// dropCache: no portable way; reads may come from the cache.
func dropCache(*os.File) {}

func fsType(string, uint64) string { return "" }
