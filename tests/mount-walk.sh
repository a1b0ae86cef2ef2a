#!/bin/bash
# SPDX-License-Identifier: MIT
# The tools that walk a tree, over the 10 000-image dataset with 20 ms of
# latency per request: find, du, tar, rsync and Python's rglob each cost
# the listing pages and the images.tsv key/value batches, never a request
# per image (there is no per-image directory to enter). Then what a
# remount keeps: stat images.tsv makes no request, and rsync -a -i of a
# copied dataset transfers nothing. And a cold images.tsv that cannot be
# built within one operation's deadline: EAGAIN, a log line with its path,
# and the next try has it.
. "$(dirname "$0")/lib.sh"
need_fuse
for tool in rsync tar du find; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "SKIP: $tool is missing"
		exit 77
	fi
done

start_fake --latency-ms 20 || exit 1
P=projects/idr0801-synth-listing_experimentA
D="$P/big dataset"
LIST=/api/v0/m/datasets/{id}/images/
KV=/webclient/api/annotations/

endpoint_count() {
	fake_get /__fake/stats | "$PYTHON3" -c \
		'import json, sys; print(json.load(sys.stdin)["endpoints"].get(sys.argv[1], 0))' "$1"
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# walk NAME MAXKV COMMAND...: run COMMAND in the dataset on a fresh mount
# with an empty cache; its requests are the dataset's listing pages and
# (when it stats images.tsv) the key/value batches, nothing else
walk() {
	local name=$1 maxkv=$2 mnt="$WORK/m-$1" rc t0 t1 req pages kv
	shift 2
	if ! mount_idrfs "$FAKE_URL" "$mnt" "s3_scheme=http,cache_dir=$WORK/c-$name"; then
		not_ok "$name: mount"
		return
	fi
	ls "$mnt/$P" >/dev/null # the way there: not the walk's cost
	fake_reset
	t0=$(now_ms)
	(cd "$mnt/$D" && "$@") >"$WORK/out-$name" 2>"$WORK/err-$name"
	rc=$?
	t1=$(now_ms)
	req=$(fake_total)
	pages=$(endpoint_count "$LIST")
	kv=$(endpoint_count "$KV")
	check "$name: exit 0 in $((t1 - t0)) ms, $req requests: $pages listing pages + $kv key/value batches" \
		test "$rc" -eq 0 -a "$pages" -le 11 -a "$kv" -le "$maxkv" -a \
		"$req" -eq $((pages + kv))
	echo "# $name: $((t1 - t0)) ms, $req requests" >&2
	umount_idrfs "$mnt"
}

walk find 25 find . -printf '%s %p\n'
check "find saw 10 000 images, their .ome.tif, and images.tsv" \
	test "$(grep -v '\.ome\.tif$' "$WORK/out-find" | grep -c '\.tif$')" -eq 10000 -a \
	"$(grep -c '\.ome\.tif$' "$WORK/out-find")" -eq 10000 -a \
	"$(grep -c ' ./images.tsv$' "$WORK/out-find")" -eq 1
check "find gave every image its size" \
	test "$(grep -c '^23552 \./cell_[0-9]*\.tif$' "$WORK/out-find")" -eq 10000
walk du 25 du -s .
walk tar 25 tar cf /dev/null .
walk rsync 25 rsync -a --dry-run ./ "$WORK/rsync-dry/"
walk rglob 0 "$PYTHON3" -c 'import pathlib
print(len([p for p in pathlib.Path(".").rglob("*.tif")
           if not p.name.endswith(".ome.tif")]))'
check "rglob found the 10 000 images" test "$(cat "$WORK/out-rglob")" = 10000

# ---------------------------------------------------------------- remounts

M="$WORK/mnt"
C="cache_dir=$WORK/cache-r"
check "mount" mount_idrfs "$FAKE_URL" "$M" "s3_scheme=http,$C"
size=$(cat "$M/$D/images.tsv" | wc -c)
check "images.tsv of the big dataset: $size bytes" test "$size" -gt 100000
head -c 65536 "$M/$D/cell_00001.tif" >/dev/null
st=$(cat "$M/.idrfs/stats")
check "cat .idrfs/stats: as many bytes as stat says, no padding" \
	test "$(stat -c %s "$M/.idrfs/stats")" -eq "$(wc -c <<<"$st")" -a \
	"$(tr -cd ' ' <<<"$st" | wc -c)" -lt 400
check "a healthy server: 0 errors; the Zarr v2 image's zarr.json probe counted apart" \
	grep -qz "errors  *0 .*expected 404s  *[1-9]" <<<"$st"
# an image whose array leaves chunks out (they hold the fill value): the
# 404s are answers, not failures
exp0=$(sed -n 's/^expected 404s  *\([0-9]*\).*/\1/p' <<<"$st")
cat "$M/projects/idr0802-synth-pixels_experimentB/zarr variants/v2 missing chunks.tif" >/dev/null
st=$(cat "$M/.idrfs/stats")
exp1=$(sed -n 's/^expected 404s  *\([0-9]*\).*/\1/p' <<<"$st")
check "absent chunks of an image are counted apart: 0 errors, expected 404s $exp0 -> $exp1" \
	bash -c "grep -qz 'errors  *0 ' <<<\"\$1\" && [ '$exp1' -gt '$((exp0 + 1))' ]" _ "$st"
N="$M/$P/names"
rsync -a "$N/" "$WORK/copy/" 2>"$WORK/rsync.err"
check "rsync -a of a dataset (its images and images.tsv) exits 0" \
	test "$(ls "$WORK/copy" | wc -l)" -eq "$(ls "$N" | wc -l)"
check "the copies are writable: 0644 files, a 0755 directory" \
	test "$(stat -c %a "$WORK/copy/a_b.tif") $(stat -c %a "$WORK/copy")" = "644 755"
umount_idrfs "$M"

check "remount on the same cache" mount_idrfs "$FAKE_URL" "$M" "s3_scheme=http,$C"
fake_reset
t0=$(now_ms)
s2=$(stat -c %s "$M/$D/images.tsv")
t1=$(now_ms)
req=$(fake_total)
check "after a remount, stat images.tsv gives its size ($s2) with $req = 0 requests in $((t1 - t0)) ms" \
	test "$s2" -eq "$size" -a "$req" -eq 0
out=$(rsync -a -i "$N/" "$WORK/copy/" 2>&1)
check "after a remount, rsync -a -i of the copy transfers nothing${out:+: $(head -n 3 <<<"$out")}" \
	test -z "$out"
check "and the copy can be deleted" rm -r "$WORK/copy"
umount_idrfs "$M"

# ---------------------------------------------------------------- slow builds

# A short operation deadline and a slow server: the build of a cold
# images.tsv cannot finish within one operation, goes on in the
# background, and the next try finds it.
M2="$WORK/mnt2"
check "mount with -o timeout=2" \
	mount_idrfs "$FAKE_URL" "$M2" "s3_scheme=http,timeout=2,cache_dir=$WORK/cache-slow"
ls "$M2/$P" >/dev/null
fake_get "/__fake/config?latency_ms=700" >/dev/null
out=$(timeout 30 stat -c %s "$M2/$D/images.tsv" 2>&1)
check "a cold build past the deadline: EAGAIN (${out##*: })" \
	grep -q "Resource temporarily unavailable" <<<"$out"
check "the log names the file's path" \
	grep -q "'$D/images.tsv' is not built yet" "$WORK/idrfs.log"
got=
for _ in $(seq 1 30); do
	got=$(stat -c %s "$M2/$D/images.tsv" 2>/dev/null) && break
	sleep 1
done
check "a later try has it, with its true size ($got)" test "$got" = "$size"
fake_get "/__fake/config?latency_ms=20" >/dev/null
check "no log line names an inode number instead of a path" \
	bash -c "! grep -E '(inode|directory|file|of) [0-9]{12,}' '$WORK/idrfs.log'"
umount_idrfs "$M2"
finish
