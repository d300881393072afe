// Command hashspeed prints how fast this machine's Go crypto/sha256 (the
// hash trove uses) runs on one core, hashing an in-memory buffer, so the
// ingest benchmark can tell a CPU-bound run from an I/O-bound one.
//
// Usage:
//
//	hashspeed [-mib 1024]
//
// It prints one line: "<MiB/s>".
package main

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"time"
)

func main() {
	mib := flag.Int("mib", 1024, "MiB to hash")
	flag.Parse()
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	h := sha256.New()
	h.Write(buf) // warm up
	start := time.Now()
	for i := 0; i < *mib; i++ {
		h.Write(buf)
	}
	h.Sum(nil)
	fmt.Printf("%.0f\n", float64(*mib)/time.Since(start).Seconds())
}
