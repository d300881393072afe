#!/usr/bin/env bash
# Off-site benchmark (issue 4): upload throughput of `trove backup` to an
# encrypted S3 vault against `rclone copy` of the same files to the same S3
# server, and a no-change `trove backup` to the vault against one to a
# folder target. Results and how to read them: bench/offsite.md.
#
#   bench/offsite.sh                      # defaults below
#   FILES=40 FILE_MIB=25 PAIRS=5 bench/offsite.sh
#   SMALL=20000 bench/offsite.sh          # the no-change part's library size
#
# The S3 server is Versity's gateway on 127.0.0.1, started by .ci/s3.sh
# (built once with `go install`, pinned there). Both tools talk plain HTTP to
# it, upload into fresh prefixes of the same bucket, and are run alternately
# so that both see the same machine; medians are reported. Everything lives
# under one temporary folder that is removed at the end. No root needed.
set -euo pipefail

FILES=${FILES:-40}        # photo-sized files for the upload part
FILE_MIB=${FILE_MIB:-25}  # MiB each
PAIRS=${PAIRS:-5}         # alternated (trove, rclone) pairs
SMALL=${SMALL:-20000}     # small files for the no-change part
NOCHANGE_PAIRS=${NOCHANGE_PAIRS:-7}

cd "$(dirname "$0")/.."
for c in rclone go /usr/bin/time python3; do
	command -v "$c" >/dev/null || { echo "bench/offsite.sh: needs $c" >&2; exit 2; }
done

W=$(mktemp -d /tmp/trove-offsite-bench.XXXXXX)
export TROVE_CI_DIR="$W/ci"
mkdir -p "$TROVE_CI_DIR"
cleanup() {
	[ -f "$TROVE_CI_DIR/s3.pid" ] && kill "$(cat "$TROVE_CI_DIR/s3.pid")" 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT

# shellcheck source=../.ci/s3.sh
source .ci/s3.sh >/dev/null
EP=$TROVE_TEST_S3_ENDPOINT
BUCKET=$TROVE_TEST_S3_BUCKET

go build -o "$W/trove" ./cmd/trove
T="$W/trove"

# rclone's S3 remote from the environment only: the credentials stay in
# AWS_* (env_auth), nothing secret on a command line or in a file.
export RCLONE_CONFIG_BENCHS3_TYPE=s3
export RCLONE_CONFIG_BENCHS3_PROVIDER=Other
export RCLONE_CONFIG_BENCHS3_ENV_AUTH=true
export RCLONE_CONFIG_BENCHS3_ENDPOINT=$EP
export RCLONE_CONFIG=$W/rclone.conf
# rclone 1.60's S3 backend cannot use AWS_CA_BUNDLE with its own transport
# (it is set on some machines); the server is plain HTTP on 127.0.0.1.
: >"$RCLONE_CONFIG"

export TROVE_HOME="$W/home"
export TROVE_PASSPHRASE="bench passphrase $(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
LIB="$W/lib"
mkdir -p "$LIB/2025/2025-06-01 Bench Wedding"
python3 - "$LIB/2025/2025-06-01 Bench Wedding" "$FILES" "$FILE_MIB" <<'EOF'
import os, sys
d, n, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    with open(os.path.join(d, "IMG_%04d.CR3" % (i + 1)), "wb") as f:
        for _ in range(mib):
            f.write(os.urandom(1 << 20))
EOF
"$T" init --library "$LIB" --location studio >/dev/null
mkdir -p "$W/drive"
"$T" target add drive "$W/drive" --medium hdd --location studio >/dev/null
"$T" backup drive >/dev/null 2>&1 # registers the library's files (hashes them once)

median() { sort -n | awk '{a[NR]=$1} END {m=int((NR+1)/2); if (NR%2) print a[m]; else printf "%.3f\n", (a[m]+a[m+1])/2}'; }
secs() { # secs OUT CMD...: run CMD, append elapsed seconds to OUT
	local out=$1
	shift
	/usr/bin/time -f '%e %M' -o "$W/time" "$@" >"$W/last.log" 2>&1 || {
		echo "bench/offsite.sh: failed: $*" >&2
		tail -20 "$W/last.log" >&2
		exit 1
	}
	read -r e rss <"$W/time"
	echo "$e" >>"$out"
	echo "$rss" >>"$out.rss"
}

BYTES=$((FILES * FILE_MIB * 1024 * 1024))
echo "== upload: $FILES files x $FILE_MIB MiB to S3 at $EP, $PAIRS alternated pairs =="
: >"$W/up.trove" && : >"$W/up.rclone"
for i in $(seq 1 "$PAIRS"); do
	"$T" target add "vault$i" "s3://$BUCKET/vault$i" --endpoint "$EP" --location cloud >/dev/null
	sync
	secs "$W/up.trove" "$T" backup "vault$i" --now
	sync
	secs "$W/up.rclone" env -u AWS_CA_BUNDLE rclone copy "$LIB" "benchs3:$BUCKET/rclone$i"
	echo "  pair $i: trove $(tail -1 "$W/up.trove") s, rclone $(tail -1 "$W/up.rclone") s"
done
tm=$(median <"$W/up.trove")
rm=$(median <"$W/up.rclone")
python3 - "$tm" "$rm" "$BYTES" "$(sort -n "$W/up.trove.rss" | tail -1)" <<'EOF'
import sys
t, r, b, rss = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
mib = b / 2**20
print(f"trove backup (encrypt, upload, read back every object): {t:.2f} s  {mib/t:.1f} MiB/s  peak RSS {rss/1024:.1f} MiB")
print(f"rclone copy (plain upload, MD5 checked by the server):  {r:.2f} s  {mib/r:.1f} MiB/s")
print(f"trove / rclone time: {t/r:.2f}x  (aim: at most 1.00x)")
EOF

echo "== no-change backup: vault vs folder target, $SMALL more small files, $NOCHANGE_PAIRS pairs =="
python3 - "$LIB" "$SMALL" <<'EOF'
import os, sys
lib, n = sys.argv[1], int(sys.argv[2])
per = 1000
for i in range(n):
    d = os.path.join(lib, "2025", "2025-07-%02d Small %03d" % (1 + (i // per) % 28, i // per))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "IMG_%05d.JPG" % i), "wb") as f:
        f.write(os.urandom(2048))
EOF
"$T" backup drive vault1 --now >/dev/null 2>&1
: >"$W/nc.vault" && : >"$W/nc.folder"
for i in $(seq 1 "$NOCHANGE_PAIRS"); do
	secs "$W/nc.vault" "$T" backup vault1 --now
	secs "$W/nc.folder" "$T" backup drive
done
vm=$(median <"$W/nc.vault")
fm=$(median <"$W/nc.folder")
python3 - "$vm" "$fm" "$((FILES + SMALL))" <<'EOF'
import sys
v, f, n = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
print(f"no-change backup of {n:,} files: vault {v:.3f} s, folder {f:.3f} s, vault / folder {v/f:.2f}x")
EOF

echo "== verify of the vault: server check of every copy, downloads capped at 1 MiB =="
"$T" verify vault1 --budget 1MiB >"$W/verify.log" 2>&1 || { tail -20 "$W/verify.log" >&2; exit 1; }
: >"$W/vf"
secs "$W/vf" "$T" verify vault1 --budget 1MiB
grep -E "server checksums|^Verified" "$W/last.log" | sed 's/^/  /'
echo "verify (server check of $((FILES + SMALL)) copies + 1 MiB of downloads): $(cat "$W/vf") s, peak RSS $(($(cat "$W/vf.rss") / 1024)) MiB"
