#!/bin/bash
# SPDX-License-Identifier: MIT
# Mount the fake IDR server and browse: the tree, names, sizes, inode
# stability, request counts, and EROFS on every kind of write.
. "$(dirname "$0")/lib.sh"
need_fuse

start_fake || exit 1
M="$WORK/mnt"
check "mount the fake server" mount_idrfs "$FAKE_URL" "$M" s3_scheme=http

check "root has README.txt, originals, projects, screens, zarr (and by-* menus)" \
	test "$(ls "$M" | grep -v '^by-' | tr '\n' ' ')" = "README.txt originals projects screens zarr "
check "README.txt names the remote" grep -qF "$FAKE_URL" "$M/README.txt"
check "README.txt explains the image files" \
	grep -q "ImageJ hyperstack" "$M/README.txt" && grep -q "ome.tif" "$M/README.txt"

check "projects are listed with '/' made safe" \
	test "$(ls "$M/projects" | tr '\n' '|')" = \
	"idr0801-synth-listing_experimentA|idr0802-synth-pixels_experimentB|"
check "screens are listed" \
	test "$(ls "$M/screens")" = "idr0803-synth-screen_screenA"

# Listing 10 000 images costs one request per page of 1000, not one each;
# ls -l also stats images.tsv, whose key/values come in batches of ~500.
# No per-image directory: 10 001 entries (the images and images.tsv).
P="$M/projects/idr0801-synth-listing_experimentA"
ls "$P" >/dev/null
fake_reset
all=$(ls -l "$P/big dataset")
n=$(grep -v '\.ome\.tif$' <<<"$all" | grep -c '^-rw-r--r--.*\.tif$')
nome=$(grep -c '^-rw-r--r--.*\.ome\.tif$' <<<"$all")
entries=$(tail -n +2 <<<"$all" | wc -l)
stats=$(fake_get /__fake/stats)
req=$("$PYTHON3" -c 'import json, sys; print(json.load(sys.stdin)["endpoints"].get("/api/v0/m/datasets/{id}/images/", 0))' <<<"$stats")
kvreq=$("$PYTHON3" -c 'import json, sys; print(json.load(sys.stdin)["endpoints"].get("/webclient/api/annotations/", 0))' <<<"$stats")
check "ls -l of the big dataset shows 10 000 files, 0644, and their .ome.tif ($nome)" \
	test "$n" -eq 10000 -a "$nome" -eq 10000
check "and $entries = 20 001 entries (.tif, .ome.tif; no per-image directory)" \
	test "$entries" -eq 20001
check "ls -l of 10 000 images made $req <= 12 listing requests" test "$req" -le 12
check "and $kvreq <= 25 key/value requests for images.tsv" test "$kvreq" -le 25
fake_reset
ls -l "$P/big dataset" >/dev/null
stat "$P/big dataset/cell_05000.tif" >/dev/null
check "a second ls -l within the TTL makes no request" test "$(fake_total)" -eq 0
check "names of the big dataset are cell_NNNNN.tif" \
	test -f "$P/big dataset/cell_10000.tif"

# Hostile names are made safe and unique.
N="$P/names"
for f in "a_b.tif" "with space.tif" "ünïcødé 🧫.tif" "_.tif" "__.tif" \
	"Case.tif" "case.tif"; do
	check "names: '$f' exists" test -f "$N/$f"
done
check "names: no hidden entry (images named '.' and '..' are visible)" \
	test "$(ls -A "$N" | grep -c '^\.')" -eq 0
check "names: three 'dup' images get distinct (id) suffixes" \
	test "$(ls "$N" | grep -c '^dup ([0-9]*)\.tif$')" -eq 3
check "names: the suffix is no glob: 'dup (1204).tif' matches itself" \
	bash -c "cd '$N' && ls dup\ \(1204\).tif && test \"\$(find . -name 'dup (1204).tif')\" = './dup (1204).tif'"
check "names: control characters became '_'" \
	test "$(ls "$N" | grep -v '\.ome\.tif$' | grep -c '^ctl__char.*\.tif$')" -eq 1
check "names: no two entries are alike" \
	test -z "$(ls -a "$N" | LC_ALL=C sort | uniq -d)"
check "names: no entry is '/', '.' or '..' made from a name" \
	test "$(ls -a "$N" | grep -cx '\.\|\.\.')" -eq 2
check "names: no entry has a control character" \
	test "$(ls "$N" | LC_ALL=C grep -c '[[:cntrl:]]')" -eq 0
longest=$(ls "$N" | LC_ALL=C awk '{ if (length($0) > m) m = length($0) } END { print m }')
check "names: the 300-byte name is cut to $longest <= 255 bytes" \
	test "$longest" -le 255 -a "$longest" -ge 200

# Sizes are computed from metadata and follow the layout in FORMATS.md.
D="$M/projects/idr0802-synth-pixels_experimentB"
archive=$(fake_get /__fake/archive)
bad=$("$PYTHON3" "$top_srcdir/tests/expect_sizes.py" "$D" <<<"$archive")
check "every image of project 102 has the layout's size${bad:+: $bad}" test -z "$bad"
check "rendered-only images are named .rendered.tif" \
	test "$(ls "$D/rendered only" | grep -c '\.rendered\.tif$')" -ge 1
check "zarr images are plain .tif" \
	test "$(ls "$D/pixel types" | grep -c '\.rendered\.tif$')" -eq 0

# Screens: plate, wells named A01..H12, fields.
S="$M/screens/idr0803-synth-screen_screenA/plate1"
check "plate1 has 96 wells (and images.tsv)" \
	test "$(ls "$S" | grep -vc '^images.tsv$')" -eq 96
check "wells are A01 .. H12" \
	test "$(ls "$S" | head -n 1)$(ls "$S" | grep -v images.tsv | tail -n 1)" = "A01H12"
check "well A01 has field-1.tif and field-2.tif (and .ome.tif), no per-image directory" \
	test "$(ls "$S/A01" | grep -v '\.ome\.tif$' | tr '\n' ' ')" = "field-1.tif field-2.tif "

# Attributes: writable modes (copies can be deleted), stable times.
check "directories are 0755" test "$(stat -c %a "$P/big dataset")" = 755
check "files are 0644" test "$(stat -c %a "$P/big dataset/cell_00042.tif")" = 644
acq=$("$PYTHON3" -c "import sys; sys.path.insert(0, '$top_srcdir/tests/fake-idr'); import archive; print(archive.build(1).images[1000042].acq_ms // 1000)")
check "an image's mtime is its acquisition date, not the mount time" \
	test "$(stat -c %Y "$P/big dataset/cell_00042.tif")" = "$acq"
check "an image without one has the study's release date" \
	test "$(date -u -d @"$(stat -c %Y "$N/a_b.tif")" +%F)" = 2024-01-15
check "so do the directories of the study" \
	test "$(date -u -d @"$(stat -c %Y "$N")" +%F)" = 2024-01-15
t1=$(stat -c %Y "$N/a_b.tif" "$N" "$N/images.tsv" "$P" "$M/projects" | tr '\n' ' ')

# Inode numbers survive a remount.
ino1=$(stat -c %i "$P/big dataset/cell_00042.tif")
dino1=$(stat -c %i "$S/B07")
umount_idrfs "$M"
check "remount" mount_idrfs "$FAKE_URL" "$M" s3_scheme=http
ino2=$(stat -c %i "$P/big dataset/cell_00042.tif")
dino2=$(stat -c %i "$S/B07")
t2=$(stat -c %Y "$N/a_b.tif" "$N" "$N/images.tsv" "$P" "$M/projects" | tr '\n' ' ')
check "times are the same after a remount ($t1)" test "$t1" = "$t2"
check "an image keeps its inode across remounts" test "$ino1" = "$ino2"
check "a well keeps its inode across remounts" test "$dino1" = "$dino2"

# Read-only: every write is EROFS.
erofs() {
	local out
	out=$("$@" 2>&1) && return 1
	grep -q "Read-only file system" <<<"$out"
}
F="$P/big dataset/cell_00001.tif"
check "touch a new file: EROFS" erofs touch "$P/new"
check "mkdir: EROFS" erofs mkdir "$P/newdir"
check "rm: EROFS" erofs rm -f "$F"
check "mv: EROFS" erofs mv "$F" "$P/moved.tif"
check "write into a file: EROFS" erofs bash -c "echo x >> '$F'"
check "truncate: EROFS" erofs truncate -s 0 "$F"
check "chmod: EROFS" erofs chmod 644 "$F"
check "setfattr: EROFS" erofs setfattr -n user.x -v 1 "$F"
check "an image file reads whole, as many bytes as stat says" \
	test "$(cat "$F" | wc -c)" -eq "$(stat -c %s "$F")"
check "df works on the mount" df "$M"
finish
