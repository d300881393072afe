#!/usr/bin/env bash
# bench/ingest.sh — how much slower is `trove ingest` than the same I/O done
# with shell tools? See bench/README.md for what is measured and why.
#
# Usage (as root, from anywhere inside the repository):
#
#   sudo bench/ingest.sh
#
# Environment:
#   BENCH_PAIRS=5          timed pairs (trove run + shell baseline run)
#   BENCH_WARMUP=1         untimed pairs first (also fully checks trove's copies)
#   BENCH_SHOTS=50         shots on the card: a RAW, a JPEG and an XMP each
#   BENCH_RAW_SIZE=25MiB   BENCH_JPEG_SIZE=8MiB   BENCH_SEED=1
#   BENCH_VARIANTS=1       also one pair on a big-file card and one on a small-file card
#   BENCH_PROFILE=1        also profile trove: perf, JSON timeline, fsync latencies (strace)
#   BENCH_DIR=/var/tmp     where the card and the loop images go (needs ~12 GiB free, a real disk)
#   BENCH_RESULTS=DIR      where logs and the summary are kept (default BENCH_DIR/trove-bench-results.TIME)
#   BENCH_IMG_SIZE=4G      size of each destination's ext4 image
#
# Exit codes: 0 measured, 1 something failed, 2 cannot run here (not root, missing tools).
set -euo pipefail
export LC_ALL=C

PAIRS=${BENCH_PAIRS:-5}
WARMUP=${BENCH_WARMUP:-1}
SHOTS=${BENCH_SHOTS:-50}
RAW_SIZE=${BENCH_RAW_SIZE:-25MiB}
JPEG_SIZE=${BENCH_JPEG_SIZE:-8MiB}
SEED=${BENCH_SEED:-1}
VARIANTS=${BENCH_VARIANTS:-1}
PROFILE=${BENCH_PROFILE:-1}
WORK=${BENCH_DIR:-/var/tmp}
IMG_SIZE=${BENCH_IMG_SIZE:-4G}

die() { echo "ingest.sh: $*" >&2; exit 1; }
say() { echo "== $*" >&2; }

if [[ $EUID -ne 0 ]]; then
	echo "ingest.sh: needs root: it loop-mounts two ext4 images and writes /proc/sys/vm/drop_caches" >&2
	exit 2
fi
for t in losetup mkfs.ext4 mount umount findmnt sha256sum go; do
	command -v "$t" >/dev/null || { echo "ingest.sh: missing $t" >&2; exit 2; }
done
if [[ ! -x /usr/bin/time ]]; then
	say "installing GNU time (Debian package 'time') for peak RSS"
	apt-get install -y time >/dev/null 2>&1 || { echo "ingest.sh: /usr/bin/time missing and apt-get install time failed" >&2; exit 2; }
fi

REPO=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d "$WORK/trove-bench.XXXXXX")
RESULTS=${BENCH_RESULTS:-$WORK/trove-bench-results.$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RESULTS"
A=$tmp/A B=$tmp/B
LOOPS=()

cleanup() {
	set +e
	for m in "$A" "$B"; do mountpoint -q "$m" && umount "$m"; done
	for l in "${LOOPS[@]}"; do losetup -d "$l"; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- helpers

now() { echo "$EPOCHREALTIME"; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a-b}'; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# The block device holding BENCH_DIR: the card and both loop images live on it.
DISK=$(basename "$(readlink -f "$(findmnt -no SOURCE -T "$tmp")")")
grep -qw "$DISK" /proc/diskstats || DISK=""
# diskstat prints "sectors_read sectors_written io_ticks_ms" of DISK.
diskstat() {
	if [[ -n $DISK ]]; then awk -v d="$DISK" '$3==d {print $6, $10, $13}' /proc/diskstats; else echo "0 0 0"; fi
}
# diskdelta BEFORE AFTER WALL prints "readGiB writeGiB busy%".
diskdelta() {
	awk -v b="$1" -v a="$2" -v w="$3" 'BEGIN{split(b,x," "); split(a,y," ");
		printf "%.2f %.2f %.0f", (y[1]-x[1])*512/2^30, (y[2]-x[2])*512/2^30, (w>0 ? (y[3]-x[3])/(w*10) : 0)}'
}

# cpustat prints "busy_ticks steal_ticks" of the whole machine (/proc/stat).
cpustat() { awk '/^cpu /{print $2+$3+$4+$7+$8, $9}' /proc/stat; }
# otherCPU BEFORE AFTER OURS_S prints "other_s steal_s": CPU time used by
# everything but the measured commands (other processes, kernel threads —
# including the loop devices' I/O work) during a run, and time stolen by the hypervisor.
otherCPU() {
	awk -v b="$1" -v a="$2" -v o="$3" -v hz="$(getconf CLK_TCK)" 'BEGIN{split(b,x," "); split(a,y," ");
		v=(y[1]-x[1])/hz-o; if (v<0) v=0; printf "%.1f %.1f", v, (y[2]-x[2])/hz}'
}

# Two destinations on distinct filesystems: ext4 images on loop devices in
# direct-I/O mode, so a read that misses the ext4 page cache goes to the disk
# rather than to a cached copy of the image file.
setup_loops() {
	local x img l
	for x in A B; do
		img=$tmp/$x.img
		fallocate -l "$IMG_SIZE" "$img"
		l=$(losetup --find --show --direct-io=on "$img")
		LOOPS+=("$l")
		[[ $(cat "/sys/block/${l#/dev/}/loop/dio" 2>/dev/null) == 1 ]] ||
			say "warning: $l is not in direct-I/O mode: read-backs may be served from the image file's cache"
		mkdir -p "$tmp/$x"
	done
}

# fresh_dests makes both destinations new, empty ext4 filesystems.
fresh_dests() {
	local i=0 m
	for m in "$A" "$B"; do
		mountpoint -q "$m" && umount "$m"
		mkfs.ext4 -q -F -m 0 -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 "${LOOPS[$i]}"
		mount "${LOOPS[$i]}" "$m"
		i=$((i + 1))
	done
}

# sums DIR prints "sha256  ./path" for every file below DIR, sorted by path.
sums() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }

# make_card DIR ARGS... generates a card and its reference sums (DIR.sums).
make_card() {
	local dir=$1
	shift
	"$tmp/gencard" -out "$dir" -seed "$SEED" -samples "$REPO/testdata/photos" "$@" >"$dir.info"
	sums "$dir" >"$dir.sums"
	NFILES=$(wc -l <"$dir.sums")
	say "card $(basename "$dir"): $(cat "$dir.info")"
}

# trove_setup HOME: a fresh catalog, library on A, target b on B.
trove_setup() {
	rm -rf "$1"
	mkdir -p "$B/t"
	TROVE_HOME=$1 "$tmp/trove" init --library "$A/lib" --medium ssd --location home >/dev/null
	TROVE_HOME=$1 "$tmp/trove" target add b "$B/t" --medium hdd --location studio >/dev/null 2>&1
}

# run_trove TAG CARD [wrapper...]: one timed ingest; sets T_WALL T_CPU T_RSS T_DISK.
run_trove() {
	local tag=$1 card=$2
	shift 2
	local home=$tmp/home.$tag
	fresh_dests
	trove_setup "$home"
	drop_caches
	cat /proc/loadavg >"$RESULTS/$tag.trove.loadavg"
	local d0 d1 c0 c1 t0 t1 rc=0
	d0=$(diskstat)
	c0=$(cpustat)
	t0=$(now)
	TROVE_HOME=$home /usr/bin/time -f '%e %U %S %M' -o "$RESULTS/$tag.trove.time" "$@" \
		"$tmp/trove" ingest "$card" --project Bench --to b >"$RESULTS/$tag.trove.out" 2>"$RESULTS/$tag.trove.err" || rc=$?
	t1=$(now)
	c1=$(cpustat)
	d1=$(diskstat)
	[[ $rc -eq 0 ]] || { tail -5 "$RESULTS/$tag.trove.out" >&2; die "$tag: trove ingest exited $rc (want 0, SAFE TO FORMAT)"; }
	local n
	for d in "$A/lib" "$B/t"; do
		n=$(photos "$d" | wc -l)
		[[ $n -eq $NFILES ]] || die "$tag: $d holds $n files, want $NFILES"
	done
	[[ ${FULLCHECK:-0} == 1 ]] && check_trove_copies "$card"
	T_WALL=$(sub "$t1" "$t0")
	read -r _ u s rss <"$RESULTS/$tag.trove.time"
	T_CPU=$(awk -v u="$u" -v s="$s" 'BEGIN{printf "%.2f", u+s}')
	T_RSS=$(awk -v k="$rss" 'BEGIN{printf "%.1f", k/1024}')
	T_DISK=$(diskdelta "$d0" "$d1" "$T_WALL")
	T_OTHER=$(otherCPU "$c0" "$c1" "$T_CPU")
}

# photos DIR lists the photo files trove placed below DIR (its dated folders;
# not .trove/ nor the README at the top).
photos() { find "$1" -mindepth 2 -type f -not -path '*/.trove/*'; }

# check_trove_copies CARD: every copy trove made has the card's content (by hash multiset).
check_trove_copies() {
	local want
	want=$(cut -d' ' -f1 "$1.sums" | sort)
	for d in "$A/lib" "$B/t"; do
		[[ $(photos "$d" | tr '\n' '\0' | xargs -0 sha256sum | cut -d' ' -f1 | sort) == "$want" ]] ||
			die "trove's copies on $d differ from the card"
	done
}

# The shell baseline, run under /usr/bin/time in its own bash. Args: card a b sumsprefix phasefile.
baseline_body() {
	local t0 t1 t2 t3
	t0=$EPOCHREALTIME
	cp -r "$1" "$2/x"
	cp -r "$1" "$3/x"
	t1=$EPOCHREALTIME
	sync
	t2=$EPOCHREALTIME
	echo 3 >/proc/sys/vm/drop_caches
	(cd "$2/x" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$4.a"
	(cd "$3/x" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$4.b"
	t3=$EPOCHREALTIME
	echo "$t0 $t1 $t2 $t3" >"$5"
}

# run_base TAG CARD: one timed baseline; sets B_WALL B_CPU B_COPY B_SYNC B_READ B_DISK B_OTHER,
# and the read-back alone done two other ways after the timed run: B_CAT (no hash), B_SSL (openssl sha256).
run_base() {
	local tag=$1 card=$2
	fresh_dests
	drop_caches
	cat /proc/loadavg >"$RESULTS/$tag.base.loadavg"
	local d0 d1 c0 c1 t0 t1
	d0=$(diskstat)
	c0=$(cpustat)
	t0=$(now)
	/usr/bin/time -f '%e %U %S %M' -o "$RESULTS/$tag.base.time" \
		bash -c "$(declare -f baseline_body); baseline_body \"\$@\"" _ "$card" "$A" "$B" "$tmp/base.sums" "$tmp/base.phases"
	t1=$(now)
	c1=$(cpustat)
	d1=$(diskstat)
	cmp -s "$card.sums" "$tmp/base.sums.a" && cmp -s "$card.sums" "$tmp/base.sums.b" ||
		die "$tag: the shell copies differ from the card"
	B_WALL=$(sub "$t1" "$t0")
	read -r _ u s _ <"$RESULTS/$tag.base.time"
	B_CPU=$(awk -v u="$u" -v s="$s" 'BEGIN{printf "%.2f", u+s}')
	read -r p0 p1 p2 p3 <"$tmp/base.phases"
	B_COPY=$(sub "$p1" "$p0") B_SYNC=$(sub "$p2" "$p1") B_READ=$(sub "$p3" "$p2")
	B_DISK=$(diskdelta "$d0" "$d1" "$B_WALL")
	B_OTHER=$(otherCPU "$c0" "$c1" "$B_CPU")
	# The same read-back without hashing, and hashed with OpenSSL's SHA-256
	# (SHA-NI, as fast as Go's): not part of the main ratio.
	drop_caches
	local r0 r1
	r0=$(now)
	find "$A/x" "$B/x" -type f -print0 | sort -z | xargs -0 cat >/dev/null
	r1=$(now)
	B_CAT=$(sub "$r1" "$r0")
	B_SSL=NA
	if command -v openssl >/dev/null; then
		drop_caches
		r0=$(now)
		find "$A/x" "$B/x" -type f -print0 | sort -z | xargs -0 openssl dgst -sha256 >/dev/null
		r1=$(now)
		B_SSL=$(sub "$r1" "$r0")
	fi
}

# pair TAG CARD TROVE_FIRST: one trove run and one baseline run, printed as a row.
pair() {
	local tag=$1 card=$2 first=$3 order
	if [[ $first == 1 ]]; then
		run_trove "$tag" "$card"
		run_base "$tag" "$card"
		order=T,B
	else
		run_base "$tag" "$card"
		run_trove "$tag" "$card"
		order=B,T
	fi
	local catwall sslwall
	catwall=$(awk -v w="$B_WALL" -v r="$B_READ" -v c="$B_CAT" 'BEGIN{printf "%.2f", w-r+c}')
	sslwall=NA
	[[ $B_SSL == NA ]] || sslwall=$(awk -v w="$B_WALL" -v r="$B_READ" -v c="$B_SSL" 'BEGIN{printf "%.2f", w-r+c}')
	printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
		"$tag" "$order" "$T_WALL" "$B_WALL" "$(ratio "$T_WALL" "$B_WALL")" "$sslwall" "$(ratio "$T_WALL" "$sslwall")" \
		"$catwall" "$(ratio "$T_WALL" "$catwall")" "$T_RSS" "$T_CPU" "$B_CPU" \
		"$B_COPY/$B_SYNC/$B_READ" "$B_SSL/$B_CAT" "$T_DISK" "$B_DISK" "$T_OTHER" "$B_OTHER"
}

ratio() { awk -v t="$1" -v b="$2" 'BEGIN{if (b == "NA" || b <= 0) print "NA"; else printf "%.2f", t/b}'; }

# Columns (see README): shell = cp, cp, sync, drop caches, sha256sum of both copies;
# shell(openssl)/shell(cat) = the same with the read-back done by openssl dgst / cat.
HEADER='| run | order | trove s | shell s | **ratio** | shell(openssl) s | ratio | shell(cat) s | ratio | trove peak RSS MiB | trove CPU s | shell CPU s | shell copy/sync/sha256sum s | openssl/cat read-back s | trove disk rd GiB, wr GiB, busy % | shell disk rd GiB, wr GiB, busy % | others CPU, steal s (trove run) | others CPU, steal s (shell run) |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|'

# median COLUMN FILE prints the median of a table column (1-based, pipes as separators).
median() {
	awk -F'|' -v c="$(($1 + 1))" '/^\| (pair|warm|big|small)/ && $2 ~ /pair/ {gsub(/ /,"",$c); print $c}' "$2" |
		sort -g | awk '{v[NR]=$1} END{if (NR%2) printf "%.2f", v[(NR+1)/2]; else printf "%.2f", (v[NR/2]+v[NR/2+1])/2}'
}

# fsync_table STRACE_LOG sums fsync time by what was synced (threads split a
# call into "unfinished" and "resumed" lines: match them by thread id).
fsync_table() {
	awk '
	function kind(p) {
		if (p ~ /catalog\.db-wal/) return "catalog WAL (TROVE_HOME)"
		if (p ~ /home\./ || p ~ /trove-snapshot/ || p ~ /\.trove\//) return "catalog db, snapshots, .trove"
		if (p ~ /\/A\//) return (p ~ /\.(CR3|xmp|JPG)/ ? "dest A: file" : "dest A: directory")
		if (p ~ /\/B\//) return (p ~ /\.(CR3|xmp|JPG)/ ? "dest B: file" : "dest B: directory")
		return "other"
	}
	function add(p, line) { match(line, /<[0-9.]+>$/); t = substr(line, RSTART + 1, RLENGTH - 2); k = kind(p); n[k]++; s[k] += t }
	/(fsync|fdatasync)\(/ {
		match($0, /<[^>]*>/); p = substr($0, RSTART + 1, RLENGTH - 2)
		if ($0 ~ /unfinished/) pend[$1] = p; else add(p, $0)
		next
	}
	/(fsync|fdatasync) resumed/ { add(pend[$1], $0) }
	END { for (k in n) printf "%-32s n=%5d  total=%7.2f s  mean=%6.2f ms\n", k, n[k], s[k], 1000 * s[k] / n[k] }
	' "$1" | sort
}

# ---------------------------------------------------------------- machine

# sha256sum_speed / openssl_speed: MiB/s hashing a 256 MiB file from the page cache.
sha256sum_speed() {
	head -c 256M /dev/zero >"$tmp/hs.bin"
	local t0 t1
	t0=$(now); sha256sum "$tmp/hs.bin" >/dev/null; t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.0f", 256/(b-a)}'
}
openssl_speed() {
	command -v openssl >/dev/null || { echo NA; return; }
	local t0 t1
	t0=$(now); openssl dgst -sha256 "$tmp/hs.bin" >/dev/null; t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.0f", 256/(b-a)}'
	rm -f "$tmp/hs.bin"
}

machine() {
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	local dirty
	dirty=$(git -C "$REPO" status --porcelain -- cmd/trove internal 2>/dev/null | awk '{p=$2; sub(/\/$/,"",p); n=split(p,x,"/"); print (n>2 ? x[1]"/"x[2] : p)}' | sort -u | tr '\n' ' ')
	echo "- trove: commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)${dirty:+ + uncommitted changes in $dirty}(sources of internal/ingest and internal/store/local: sha256 $(cat "$REPO"/internal/ingest/*.go "$REPO"/internal/store/local/*.go | sha256sum | cut -c1-12)), $(go version | cut -d' ' -f3-)"
	echo "- cpu: $(nproc) × $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)$(grep -qw sha_ni /proc/cpuinfo && echo ', SHA-NI')"
	echo "- sha256 on one core: Go crypto/sha256 $("$tmp/hashspeed") MiB/s; coreutils sha256sum $(sha256sum_speed) MiB/s; openssl $(openssl_speed) MiB/s"
	echo "- memory: $(awk '/MemTotal/{printf "%.1f GiB", $2/2^20}' /proc/meminfo)"
	echo "- kernel: $(uname -sr)"
	local model
	model=$(lsblk -dno MODEL "/dev/$DISK" 2>/dev/null | xargs)
	[[ -n $model ]] || model=$(cat "/sys/block/$DISK/device/model" 2>/dev/null | xargs || true)
	[[ -n $model ]] || model="model not reported (vendor $(cat "/sys/block/$DISK/device/vendor" 2>/dev/null || echo '?'))"
	echo "- disk: /dev/$DISK, $model, $(findmnt -no FSTYPE -T "$tmp"), scheduler $(grep -o '\[.*\]' "/sys/block/$DISK/queue/scheduler" 2>/dev/null || echo '?')"
	echo "- destinations: two ${IMG_SIZE} ext4 images in $WORK on loop devices (direct I/O), re-made with mkfs before every run"
	echo "- load before start: $(cat /proc/loadavg)"
}

# ---------------------------------------------------------------- run

say "building trove and gencard"
(cd "$REPO" && go build -o "$tmp/trove" ./cmd/trove && go build -o "$tmp/gencard" ./bench/cmd/gencard &&
	go build -o "$tmp/hashspeed" ./bench/cmd/hashspeed)
setup_loops
CARD=$tmp/card
make_card "$CARD" -shots "$SHOTS" -raw-size "$RAW_SIZE" -jpeg-size "$JPEG_SIZE"

SUMMARY=$RESULTS/summary.md
{
	echo "# trove ingest benchmark"
	echo
	machine
	echo "- card: $(cat "$CARD.info") ($SHOTS shots: RAW $RAW_SIZE, JPEG $JPEG_SIZE, XMP ~4.4 KiB; seed $SEED), on $WORK; read cold (page cache dropped before every run)"
	echo
	echo "$HEADER"
} >"$SUMMARY"

for ((i = 1; i <= WARMUP; i++)); do
	say "warm-up $i (untimed)"
	FULLCHECK=1 pair "warm$i" "$CARD" 1 >>"$SUMMARY"
done
for ((i = 1; i <= PAIRS; i++)); do
	say "pair $i of $PAIRS"
	pair "pair$i" "$CARD" $((i % 2)) | tee -a "$SUMMARY" >&2
done

MED=$(median 5 "$SUMMARY")
MED_SSL=$(median 7 "$SUMMARY")
MED_CAT=$(median 9 "$SUMMARY")
MED_T=$(median 3 "$SUMMARY")
MED_B=$(median 4 "$SUMMARY")
PEAK=$(awk -F'|' '/^\| (pair|warm|big|small)/ {gsub(/ /,"",$11); if ($11+0 > m) m = $11+0} END{print m}' "$SUMMARY")
{
	echo
	echo "Median of $PAIRS pairs: trove ${MED_T} s, shell ${MED_B} s, **ratio trove/shell(sha256sum) = ${MED}** (target ≤ 1.30); ratio trove/shell(openssl) = ${MED_SSL}; ratio trove/shell(cat) = ${MED_CAT}."
	echo "Peak RSS of trove over all runs: **${PEAK} MiB** (target ≤ 64)."
} >>"$SUMMARY"

if [[ $VARIANTS == 1 ]]; then
	say "variant: big files (2 × 512 MiB)"
	make_card "$tmp/big" -shots 2 -raw-size 512MiB -jpeg-size 0 -xmp=false
	{
		echo
		echo "Variants (one pair each, trove first):"
		echo
		echo "$HEADER"
		pair big "$tmp/big" 1
	} >>"$SUMMARY"
	rm -rf "$tmp/big"
	say "variant: small files (1000 × 256 KiB RAW + XMP)"
	make_card "$tmp/small" -shots 1000 -raw-size 256KiB -jpeg-size 0
	pair small "$tmp/small" 1 >>"$SUMMARY"
	rm -rf "$tmp/small"
	NFILES=$(wc -l <"$CARD.sums")
fi

if [[ $PROFILE == 1 ]]; then
	say "profile: JSON timeline + perf record of one trove run"
	tag=prof
	fresh_dests
	trove_setup "$tmp/home.$tag"
	drop_caches
	perf_cmd=()
	if command -v perf >/dev/null; then
		perf_cmd=(perf record -F 499 -g -o "$tmp/perf.data" --)
	fi
	TROVE_HOME=$tmp/home.$tag /usr/bin/time -f '%e %U %S %M' -o "$RESULTS/$tag.time" "${perf_cmd[@]}" \
		"$tmp/trove" ingest "$CARD" --project Bench --to b --json >"$RESULTS/$tag.json" 2>"$RESULTS/$tag.err" || true
	if [[ ${#perf_cmd[@]} -gt 0 ]]; then
		perf report -i "$tmp/perf.data" --stdio --no-children --sort dso,sym --percent-limit 1 2>/dev/null |
			grep -v '^$' | grep -E '^ +[0-9]' >"$RESULTS/$tag.perf.txt" || true
		perf report -i "$tmp/perf.data" --stdio --no-children --sort comm,dso --percent-limit 1 2>/dev/null |
			grep -E '^ +[0-9]' >"$RESULTS/$tag.perf-dso.txt" || true
	fi
	if command -v jq >/dev/null; then
		# Per second: MiB written (both destinations) and files verified.
		jq -r 'select(.event=="written" or .event=="verified" or .event=="plan") | [.event, .time, (.bytes // 0)] | @tsv' \
			"$RESULTS/$tag.json" >"$tmp/events.tsv" || true
		python3 - "$tmp/events.tsv" >"$RESULTS/$tag.timeline.txt" 2>/dev/null <<'EOF' || true
import sys, datetime
rows = []
for line in open(sys.argv[1]):
    ev, t, b = line.rstrip("\n").split("\t")
    t = datetime.datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()
    rows.append((ev, t, int(b)))
t0 = min(t for _, t, _ in rows)
plan = min(t for e, t, _ in rows if e == "plan") - t0
buckets = {}
for e, t, b in rows:
    s = int(t - t0)
    w, v = buckets.get(s, (0, 0))
    if e == "written": w += b
    if e == "verified": v += 1
    buckets[s] = (w, v)
first_w = min(t for e, t, _ in rows if e == "written") - t0
last_w = max(t for e, t, _ in rows if e == "written") - t0
last_v = max(t for e, t, _ in rows if e == "verified") - t0
print(f"plan event at {plan:.2f}s, first write {first_w:.2f}s, last write {last_w:.2f}s, last verified {last_v:.2f}s (from the first event)")
print("second  MiB-written(both dests)  files-verified")
for s in sorted(buckets):
    w, v = buckets[s]
    print(f"{s:6d}  {w/2**20:10.0f}  {v:5d}")
EOF
	fi
	# fsync latencies by kind; seccomp-bpf keeps strace off every other syscall.
	if command -v strace >/dev/null && strace --seccomp-bpf -e trace=fsync true >/dev/null 2>&1; then
		for c in card small; do
			say "profile: fsync latencies (strace) on the $c card"
			card=$CARD
			if [[ $c == small ]]; then
				make_card "$tmp/small" -shots 1000 -raw-size 256KiB -jpeg-size 0
				card=$tmp/small
			fi
			fresh_dests
			trove_setup "$tmp/home.fs$c"
			drop_caches
			t0=$(now)
			TROVE_HOME=$tmp/home.fs$c strace -f --seccomp-bpf -y -T -e trace=fsync,fdatasync -o "$tmp/fsync.$c" \
				"$tmp/trove" ingest "$card" --project Bench --to b >/dev/null 2>&1 || true
			t1=$(now)
			{
				echo "$c card: $(cat "$card.info"), trove wall $(sub "$t1" "$t0") s under strace"
				fsync_table "$tmp/fsync.$c"
			} >"$RESULTS/fsync.$c.txt"
		done
		rm -rf "$tmp/small"
		NFILES=$(wc -l <"$CARD.sums")
	fi
fi

cat "$SUMMARY"
echo
echo "results kept in $RESULTS"
