#!/usr/bin/env bash
# Trove's quickstart: build trove, make a sample memory card from the camera
# files in testdata/photos, and ingest it into a fresh library and a backup
# folder — all inside a throwaway TROVE_HOME, touching nothing of yours.
#
#   ./demo.sh            # keep the demo folder and print where it is
#   DEMO_DIR=/tmp/x ./demo.sh
set -euo pipefail
cd "$(dirname "$0")"
demo=${DEMO_DIR:-$(mktemp -d -t trove-demo.XXXXXX)}
mkdir -p "$demo/bin"
go build -o "$demo/bin/trove" ./cmd/trove
trove="$demo/bin/trove"
export TROVE_HOME="$demo/home"

# A card as cameras write it: DCIM/100CANON, DCIM/101NIKON, sidecars, clutter.
card="$demo/card"
mkdir -p "$card/DCIM/100CANON" "$card/DCIM/101NIKON" "$card/DCIM/102APPLE"
cp testdata/photos/exiftool_CanonRaw.cr3 "$card/DCIM/100CANON/IMG_0001.CR3"
cp testdata/photos/exiftool_XMP.xmp      "$card/DCIM/100CANON/IMG_0001.XMP"
cp testdata/photos/exiftool_Canon.jpg    "$card/DCIM/100CANON/IMG_0002.JPG"
cp testdata/photos/imagemeta_D7100.NEF   "$card/DCIM/101NIKON/DSC_0001.NEF"
cp testdata/photos/exiftool_Nikon.nef    "$card/DCIM/101NIKON/DSC_0002.NEF"
cp testdata/photos/goexif_My_Display_P3.heic "$card/DCIM/102APPLE/IMG_5195.HEIC"
cp testdata/photos/exiftool_QuickTime.mov    "$card/DCIM/102APPLE/IMG_5196.MOV"
touch "$card/.DS_Store"

echo "== trove init"
"$trove" init --library "$demo/library" --location home --medium ssd
mkdir -p "$demo/drive-a"
echo; echo "== trove target add drive-a"
"$trove" target add drive-a "$demo/drive-a" --medium hdd --location home --ingest
echo; echo "== trove ingest (the verdict is the last line)"
set +e
"$trove" ingest "$card" --project "Smith Wedding"
rc=$?
set -e
echo "(exit code $rc: 0 = SAFE TO FORMAT, 3 = not safe. Here the library and drive-a share one disk,"
echo " so their copies count once: a real second drive makes this SAFE.)"
echo; echo "== trove status"
"$trove" status || true
echo; echo "== trove where 'Smith Wedding' (first file)"
"$trove" where "Smith Wedding" > "$demo/where.txt"
awk 'NR > 1 && /^$/ { exit } { print }' "$demo/where.txt"
echo; echo "Demo folder: $demo  (TROVE_HOME=$TROVE_HOME; the library is $demo/library)"
