#!/usr/bin/env bash
# Benchmark of `trove backup` (issue 3). Run as root from the repository root:
#
#   sudo bench/backup.sh            # both parts
#   sudo PART=a bench/backup.sh     # only the no-change part
#
# (a) no-change backup of a library of $SMALL_FILES small files, against a
#     `find -printf '%s %T@ %p'` walk of it and a no-change `rsync -a` to a
#     copy of it; warm caches; alternating runs, median of $RUNS_A each
#     (elapsed time and peak RSS under /usr/bin/time -f '%M'); and the first
#     no-change run, which reads the catalog from SQLite and writes the
#     index cache the others read.
# (b) first backup of a photo-sized library ($PHOTO_FILES files of
#     $PHOTO_MIB MiB) against `rsync -a` + `sync`, both to a loop-mounted
#     ext4 (so fsync reaches a device); page cache dropped before every run;
#     alternating runs, median of $RUNS_B each.
# Peak RSS of trove is measured with /usr/bin/time.
#
# Everything lives under one temporary folder and loop mounts that are
# removed on exit, also on failure or Ctrl-C. Bounded: about 10 minutes with
# the defaults on a 2-core VM.
set -euo pipefail

SMALL_FILES=${SMALL_FILES:-100000}
SMALL_BYTES=${SMALL_BYTES:-2048}
PHOTO_FILES=${PHOTO_FILES:-60}
PHOTO_MIB=${PHOTO_MIB:-25}
RUNS_A=${RUNS_A:-7}
RUNS_B=${RUNS_B:-3}
PART=${PART:-ab}

[ "$(id -u)" = 0 ] || { echo "bench/backup.sh: run as root (loop mounts, drop_caches)" >&2; exit 2; }
for c in rsync find mkfs.ext4 losetup /usr/bin/time go; do
	command -v "$c" >/dev/null || { echo "bench/backup.sh: $c is missing" >&2; exit 2; }
done

REPO=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d /var/tmp/trove-bench-backup.XXXXXX)
MOUNTS=()
cleanup() {
	set +e
	for m in "${MOUNTS[@]}"; do umount -l "$m" 2>/dev/null; done
	for l in $(losetup -j "$W/lib.img" -O NAME -n 2>/dev/null) $(losetup -j "$W/tgt.img" -O NAME -n 2>/dev/null); do losetup -d "$l"; done
	rm -rf "$W"
}
trap cleanup EXIT INT TERM

TROVE=$W/trove
(cd "$REPO" && go build -o "$TROVE" ./cmd/trove)

# loopfs IMG SIZE DIR: a fresh ext4 on a loop device mounted at DIR.
loopfs() {
	truncate -s "$2" "$1"
	mkfs.ext4 -q -F "$1"
	mkdir -p "$3"
	mount -o loop "$1" "$3"
	MOUNTS+=("$3")
}

now_ns() { date +%s%N; }
# timed CMD...: run, print elapsed seconds.
timed() {
	local t0 t1
	t0=$(now_ns)
	"$@" >"$W/last.out" 2>&1 || { echo "bench/backup.sh: failed: $*" >&2; tail -5 "$W/last.out" >&2; return 1; }
	t1=$(now_ns)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) / 1e9 }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
peak_rss() { # peak RSS in KiB of CMD...
	/usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); print $2 }'
}

echo "machine: $(nproc) CPUs, $(awk '/model name/ { sub(/.*: /, ""); print; exit }' /proc/cpuinfo), $(free -g | awk '/Mem:/ { print $2 }') GiB RAM, kernel $(uname -r)"
echo "trove: $(cd "$REPO" && git rev-parse --short HEAD) + working tree; $(go version | cut -d' ' -f3)"

if [[ $PART == *a* ]]; then
	echo
	echo "== (a) no-change backup of $SMALL_FILES files of $SMALL_BYTES bytes =="
	loopfs "$W/lib.img" 4G "$W/a-lib"
	# The target only receives the initial copies here (a no-change run does
	# not touch it): tmpfs keeps the setup short.
	mkdir -p "$W/a-tgt"
	mount -t tmpfs -o size=2g tmpfs "$W/a-tgt"
	MOUNTS+=("$W/a-tgt")
	export TROVE_HOME=$W/a-home
	"$TROVE" init --library "$W/a-lib" >/dev/null
	# 100 shoots of 1000 files each, in the default layout.
	python3 - "$W/a-lib" "$SMALL_FILES" "$SMALL_BYTES" <<'EOF'
import os, sys
root, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    d = os.path.join(root, "2024", "2024-06-%02d Shoot %03d" % (i // 1000 % 28 + 1, i // 1000))
    if i % 1000 == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "IMG_%06d.JPG" % i), "wb") as f:
        f.write(os.urandom(size))
EOF
	mkdir -p "$W/a-tgt/trove" "$W/a-tgt/rsync"
	"$TROVE" target add drive "$W/a-tgt/trove" --medium hdd --location bank >/dev/null 2>&1
	t0=$(now_ns)
	"$TROVE" backup >/dev/null 2>&1
	echo "setup: first backup of $SMALL_FILES small files took $(awk -v a="$t0" -v b="$(now_ns)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }') s"
	rsync -a --exclude=/.trove --exclude=/README.txt "$W/a-lib/" "$W/a-tgt/rsync/"
	walk() { find "$W/a-lib" -printf '%s %T@ %p\n' >/dev/null; }
	backup() { "$TROVE" backup; }
	sync_() { rsync -a --exclude=/.trove --exclude=/README.txt "$W/a-lib/" "$W/a-tgt/rsync/"; }
	# tr_ OUT CMD...: appends to OUT the elapsed seconds (ms resolution; the
	# same /usr/bin/time wrapper for every command) and peak RSS (KiB) of CMD.
	tr_() {
		local out=$1 t0 t1; shift
		t0=$(now_ns)
		/usr/bin/time -f '%M' -o "$W/rss" "$@" >/dev/null 2>"$W/last.out" || { echo "bench/backup.sh: failed: $*" >&2; tail -5 "$W/last.out" >&2; return 1; }
		t1=$(now_ns)
		awk -v a="$t0" -v b="$t1" -v k="$(tail -1 "$W/rss")" 'BEGIN { printf "%.3f %d\n", (b - a) / 1e9, k }' >>"$out"
	}
	# The first no-change run after the first backup reads the catalog from
	# SQLite and writes the index cache (the first backup changed copies).
	walk; sync_ # warm up
	: >"$W/a.first"; tr_ "$W/a.first" "$TROVE" backup
	backup >/dev/null 2>&1 # warm up, from the cache
	: >"$W/a.walk"; : >"$W/a.trove"; : >"$W/a.rsync"
	for _ in $(seq "$RUNS_A"); do
		tr_ "$W/a.walk" find "$W/a-lib" -printf '%s %T@ %p\n'
		tr_ "$W/a.trove" "$TROVE" backup
		timed sync_ >>"$W/a.rsync"
	done
	w=$(cut -d' ' -f1 "$W/a.walk" | median); b=$(cut -d' ' -f1 "$W/a.trove" | median); r=$(median <"$W/a.rsync")
	echo "find walk:          median ${w}s   runs: $(cut -d' ' -f1 "$W/a.walk" | tr '\n' ' ')"
	echo "trove backup:       median ${b}s   runs: $(cut -d' ' -f1 "$W/a.trove" | tr '\n' ' ')"
	echo "rsync -a no-change: median ${r}s   runs: $(tr '\n' ' ' <"$W/a.rsync")"
	echo "pair ratios trove/walk: $(paste -d' ' "$W/a.trove" "$W/a.walk" | awk '{ printf "%.2f ", $1 / $3 }')"
	awk -v w="$w" -v b="$b" -v r="$r" 'BEGIN { printf "ratios: trove/walk %.2fx (aim <= 1.5x), rsync/walk %.2fx, trove/rsync %.2fx (aim < 1)\n", b / w, r / w, b / r }'
	awk -v n="$SMALL_FILES" '{ if ($2 > m) m = $2 } END { printf "peak RSS of a no-change backup: %.1f MiB at most (aim <= 32 MiB + 300 B x %d files = %.1f MiB)\n", m / 1024, n, 32 + 300 * n / 1048576 }' "$W/a.trove"
	awk '{ printf "first no-change run (reads SQLite, writes the index cache): %.2f s, %.1f MiB\n", $1, $2 / 1024 }' "$W/a.first"
	ls -l "$TROVE_HOME"/catalog.db.backup-index | awk '{ printf "index cache: %.1f MiB\n", $5 / 1048576 }'
	umount "$W/a-lib" "$W/a-tgt"
	MOUNTS=()
	for l in $(losetup -j "$W/lib.img" -O NAME -n); do losetup -d "$l"; done
	rm -f "$W/lib.img"
fi

if [[ $PART == *b* ]]; then
	echo
	echo "== (b) first backup of $PHOTO_FILES files of $PHOTO_MIB MiB, to a loop ext4, caches dropped =="
	loopfs "$W/lib.img" 3G "$W/b-lib"
	loopfs "$W/tgt.img" 4G "$W/b-tgt"
	export TROVE_HOME=$W/b-home
	"$TROVE" init --library "$W/b-lib" >/dev/null
	mkdir -p "$W/b-lib/2024/2024-06-01 Wedding"
	for i in $(seq -w 1 "$PHOTO_FILES"); do
		head -c $((PHOTO_MIB << 20)) /dev/urandom >"$W/b-lib/2024/2024-06-01 Wedding/IMG_00$i.CR3"
	done
	"$TROVE" backup >/dev/null 2>&1 # registers the library files (no targets yet)
	mkdir -p "$W/b-tgt/trove" "$W/b-tgt/rsync"
	"$TROVE" target add drive "$W/b-tgt/trove" --medium hdd --location bank >/dev/null 2>&1
	cp "$TROVE_HOME/catalog.db" "$W/catalog.fresh"
	fresh_trove() { # the target as just added: no copies anywhere
		rm -rf "$W/b-tgt/rsync"; mkdir "$W/b-tgt/rsync"
		find "$W/b-tgt/trove" -mindepth 1 -maxdepth 1 ! -name .trove -exec rm -rf {} +
		rm -rf "$W/b-tgt/trove/.trove/versions" "$W/b-tgt/trove/.trove/MANIFEST.sha256" "$W/b-tgt/trove/.trove/catalog"
		rm -f "$TROVE_HOME"/catalog.db*
		cp "$W/catalog.fresh" "$TROVE_HOME/catalog.db"
		fstrim "$W/b-tgt" 2>/dev/null || true
		drop
	}
	fresh_rsync() {
		rm -rf "$W/b-tgt/rsync"; mkdir "$W/b-tgt/rsync"
		find "$W/b-tgt/trove" -mindepth 1 -maxdepth 1 ! -name .trove -exec rm -rf {} +
		fstrim "$W/b-tgt" 2>/dev/null || true; drop
	}
	backup() { "$TROVE" backup drive; }
	rsync_sync() { rsync -a --exclude=/.trove --exclude=/README.txt "$W/b-lib/" "$W/b-tgt/rsync/" && sync; }
	: >"$W/b.trove"; : >"$W/b.rsync"
	for _ in $(seq "$RUNS_B"); do
		fresh_rsync; timed rsync_sync >>"$W/b.rsync"
		fresh_trove; timed backup >>"$W/b.trove"
	done
	b=$(median <"$W/b.trove"); r=$(median <"$W/b.rsync")
	echo "rsync -a + sync:    median ${r}s   runs: $(tr '\n' ' ' <"$W/b.rsync")"
	echo "trove backup:       median ${b}s   runs: $(tr '\n' ' ' <"$W/b.trove")"
	awk -v b="$b" -v r="$r" -v mib=$((PHOTO_FILES * PHOTO_MIB)) 'BEGIN { printf "ratio: trove/(rsync+sync) %.2fx (aim <= 1.1x); trove %.0f MiB/s, rsync+sync %.0f MiB/s\n", b / r, mib / b, mib / r }'
	fresh_trove
	rss=$(peak_rss "$TROVE" backup drive)
	awk -v k="$rss" 'BEGIN { printf "peak RSS of the first backup: %.1f MiB\n", k / 1024 }'
	(cd "$W/b-tgt/trove" && sha256sum --quiet -c .trove/MANIFEST.sha256) && echo "sha256sum -c .trove/MANIFEST.sha256: all OK"
fi
