#!/usr/bin/env bash
# Benchmark of a cold `trove verify` (issue 3) against `sha256sum -c` of the
# same files. Run as root from the repository root:
#
#   sudo bench/verify.sh
#
# A photo-sized target ($FILES files of $MIB MiB, random bytes) sits on a
# loop-mounted ext4 in direct-I/O mode, so reads reach the disk. Each run
# starts with the page cache dropped; trove re-reads every copy from the
# device and hashes it, sha256sum -c reads the same files through the
# target's manifest. Runs alternate; the median of $RUNS each is reported,
# with trove's peak RSS. Bounded: a few minutes on a 2-core VM.
set -euo pipefail

FILES=${FILES:-60}
MIB=${MIB:-25}
RUNS=${RUNS:-5}

[ "$(id -u)" = 0 ] || { echo "bench/verify.sh: run as root (loop mounts, drop_caches)" >&2; exit 2; }
for c in sha256sum mkfs.ext4 losetup /usr/bin/time go; do
	command -v "$c" >/dev/null || { echo "bench/verify.sh: $c is missing" >&2; exit 2; }
done

REPO=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d /var/tmp/trove-bench-verify.XXXXXX)
LOOP=""
cleanup() {
	set +e
	umount -l "$W/t" 2>/dev/null
	[ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT INT TERM

TROVE=$W/trove
(cd "$REPO" && go build -o "$TROVE" ./cmd/trove)
export TROVE_HOME=$W/home

truncate -s $((FILES * MIB * 2 + 512))M "$W/t.img"
mkfs.ext4 -q -F "$W/t.img"
LOOP=$(losetup --find --show --direct-io=on "$W/t.img")
mkdir -p "$W/t" "$W/lib" "$W/card"
mount "$LOOP" "$W/t"

for i in $(seq -w 1 "$FILES"); do head -c $((MIB << 20)) /dev/urandom > "$W/card/IMG_$i.CR3"; done
"$TROVE" init --library "$W/lib" >/dev/null
"$TROVE" target add t "$W/t" --medium hdd --location home >/dev/null
"$TROVE" ingest "$W/card" --project Bench --to t >/dev/null 2>&1
rm -rf "$W/card"

cold() { sync; echo 3 > /proc/sys/vm/drop_caches; }
secs() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null 2>&1; t1=$(date +%s%N); echo "scale=3; ($t1-$t0)/1000000000" | bc; }

declare -a TV SV
for r in $(seq 1 "$RUNS"); do
	if (( r % 2 )); then
		cold; TV+=("$(secs "$TROVE" verify t)")
		cold; SV+=("$(secs sh -c "cd '$W/t' && sha256sum -c --quiet .trove/MANIFEST.sha256")")
	else
		cold; SV+=("$(secs sh -c "cd '$W/t' && sha256sum -c --quiet .trove/MANIFEST.sha256")")
		cold; TV+=("$(secs "$TROVE" verify t)")
	fi
	echo "run $r: trove verify ${TV[-1]} s, sha256sum -c ${SV[-1]} s"
done
cold
RSS=$(/usr/bin/time -f %M "$TROVE" verify t 2>&1 >/dev/null | tail -1)
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
MT=$(median "${TV[@]}"); MS=$(median "${SV[@]}")
echo "files: $FILES x $MIB MiB on a direct-I/O loop ext4; $(nproc) cores; $(uname -r)"
echo "median trove verify: $MT s; median sha256sum -c: $MS s; ratio $(echo "scale=2; $MT/$MS" | bc)"
echo "trove verify peak RSS: $((RSS / 1024)) MiB"
