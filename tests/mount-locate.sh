#!/bin/bash
# SPDX-License-Identifier: MIT
# Raw pixels where the archive sets no ExternalInfo (the public IDR, and
# the fake with --as-idr-today). Without options every image is rendered
# but those of converted filesets (their files are a Zarr, read on the
# download root), and user.idr.source_why and images.tsv say which option
# would help.
# With the options the man page recommends (zarr_url templates and the
# catalogue), every Zarr-backed image is a raw .tif with the archive's
# pixels; a template is probed once per container, never per image, and
# listing the 10 000-image dataset costs one request more than without.
. "$(dirname "$0")/lib.sh"
need_fuse

start_fake --as-idr-today || exit 1
P="projects/idr0802-synth-pixels_experimentB"
BIG="projects/idr0801-synth-listing_experimentA/big dataset"
Z="${FAKE_URL}idr/zarr/v0.4"
REC="zarr_url=$Z/{study}{letter}/{plate}.zarr/{row}/{column}/{field}|$Z/{study}{letter}/{id}.zarr"
# the fake's download root, where its converted filesets are
ORIG="originals_root=${FAKE_URL}pub/databases/IDR"
CONV="$P/converted filesets"
stat_of() { # PYTHON-EXPR over the stats s: print it
	fake_get /__fake/stats | "$PYTHON3" -c "import json, sys
s = json.load(sys.stdin)
e = s['endpoints']
print($1)"
}
paths_asked() { # original_file_paths requests
	stat_of "e.get('/webgateway/original_file_paths/{id}/', 0)"
}
probes_under() { # PREFIX: .zattrs and zarr.json requests below it
	stat_of "sum(n for p, n in s['paths'].items() if p.startswith('$1') and p.endswith(('/.zattrs', '/zarr.json')))"
}

# 1. No options: rendered, and told why.
M0="$WORK/m0"
check "mount without options" mount_idrfs "$FAKE_URL" "$M0" "cache_dir=$WORK/c0,$ORIG"
fake_reset
n=$(ls "$M0/$BIG" | grep -c '\.rendered\.tif$')
check "the 10 000 images are .rendered.tif ($n)" test "$n" -eq 10000
N0=$(fake_total)
FP0=$(paths_asked)
echo "# listing the 10 000-image dataset without options: $N0 requests ($FP0 filesets asked)"
check "3 images' filesets were asked, then none ($FP0)" test "$FP0" -eq 3
why0="no zarr: no zarr fileset in idr0802B; set -o zarr_url= or -o zarr_catalog="
x=$(getfattr --absolute-names --only-values -n user.idr.source_why \
	"$M0/$P/pixel types/type-uint16.rendered.tif")
check "user.idr.source_why names the options ($x)" test "$x" = "$why0"
check "user.idr.source stays rendered" test "$(getfattr --absolute-names \
	--only-values -n user.idr.source "$M0/$P/pixel types/type-uint16.rendered.tif")" = rendered
tsv=
for i in $(seq 1 100); do
	tsv=$(cat "$M0/$P/pixel types/images.tsv" 2>/dev/null) && break
	sleep 0.2
done
col=$(head -n 1 <<<"$tsv" | tr '\t' '\n' | grep -nx source_why | cut -d: -f1)
check "images.tsv has a source_why column (column $col)" test "${col:-0}" -eq 14
check "and it says which option would help" \
	test "$(grep -P '\t2004\t' <<<"$tsv" | cut -f "$col")" = "$why0"
check "README.txt says which options give raw pixels" \
	grep -q 'zarr_url= and -o zarr_catalog=' "$M0/README.txt"
# converted filesets are raw without options: one fileset asked and one
# probe of its group for the dataset, the rest when opened
fake_reset
n=$(ls "$M0/$CONV" | grep -v '\.ome\.tif$' | grep -c '\.tif$')
check "the converted filesets' 3 images are raw .tif ($n)" test "$n" -eq 3
check "no .rendered.tif among them" test "$(ls "$M0/$CONV" | grep -c rendered)" -eq 0
fp=$(paths_asked)
pr=$(probes_under /pub/databases/IDR/)
check "listing them asked one fileset ($fp) and probed one group ($pr)" \
	test "$fp" -eq 1 -a "$pr" -eq 1
x=$(getfattr --absolute-names --only-values -n user.idr.source_why "$M0/$CONV/run2.ome.tiff [series 1].tif")
check "source_why: the fileset ($x)" test "$x" = "fileset is a zarr (probed on idr0802B)"
check "and user.idr.source is zarr" test "$(getfattr --absolute-names \
	--only-values -n user.idr.source "$M0/$CONV/mkngff single.tif")" = zarr
# bit-exact, every view: the series' group of a two-series fileset too
out=$(timeout 300 "$PYTHON3" "$top_srcdir/tests/check_pixels.py" "$M0" "$FAKE_URL" 2501 2502 2503 2>&1)
tap "$out"
fp=$(paths_asked)
check "each image opened asked its own fileset once ($fp)" test "$fp" -eq 3
x=$(timeout 60 "$PYTHON3" - "$M0/$CONV" <<'PY'
import sys, numpy as np, tifffile, zarr
d = sys.argv[1]


def tczyx(path):
    with tifffile.TiffFile(path) as t:
        s = t.series[0]
        arr, ax = s.asarray(), s.axes
    for c in "TCZYX":
        if c not in ax:
            arr, ax = arr[np.newaxis], c + ax
    return arr.transpose([ax.index(c) for c in "TCZYX"])


for stem in ("mkngff single", "run2.ome.tiff [series 0]", "run2.ome.tiff [series 1]"):
    a = tczyx("%s/%s.tif" % (d, stem))
    b = tczyx("%s/%s.ome.tif" % (d, stem))
    z = zarr.open(d.replace("/projects/", "/zarr/projects/", 1) + "/" + stem + ".zarr", mode="r")["0"][...]
    if not (np.array_equal(a, z) and np.array_equal(b, z)):
        print("differ", stem, a.shape, b.shape, z.shape)
        sys.exit(0)
print("same")
PY
)
check "its .tif, .ome.tif and zarr/ view agree ($x)" test "$x" = same
umount_idrfs "$M0"

# a download root that is down fails no listing: rendered for now, said
M5="$WORK/m5"
check "mount with a download root that refuses" mount_idrfs "$FAKE_URL" "$M5" \
	"cache_dir=$WORK/c5,originals_root=http://127.0.0.1:1/pub"
n=$(ls "$M5/$CONV" | grep -c '\.rendered\.tif$')
check "the converted filesets list, rendered ($n)" test "$n" -eq 3
x=$(getfattr --absolute-names --only-values -n user.idr.source_why "$M5/$CONV/mkngff single.rendered.tif")
check "source_why says the fileset was not asked ($x)" grep -q 'fileset not asked' <<<"$x"
umount_idrfs "$M5"
M6="$WORK/m6"
check "mount with no_zarr_fileset" mount_idrfs "$FAKE_URL" "$M6" "cache_dir=$WORK/c6,$ORIG,no_zarr_fileset"
fake_reset
n=$(ls "$M6/$CONV" | grep -c '\.rendered\.tif$')
check "no_zarr_fileset: rendered, and no fileset asked ($n)" test "$n" -eq 3 -a "$(paths_asked)" -eq 0
umount_idrfs "$M6"

# 2. The recommended options, the catalogue a URL.
M="$WORK/m1"
check "mount with zarr_url templates and zarr_catalog" mount_idrfs "$FAKE_URL" "$M" \
	"cache_dir=$WORK/c1,$ORIG,$REC,zarr_catalog=${FAKE_URL}catalogue/table.csv"
fake_reset
n=$(ls "$M/$BIG" | grep -c '[0-9]\.tif$')
check "the 10 000 images are raw .tif ($n)" test "$n" -eq 10000
N1=$(fake_total)
pr=$(probes_under /idr/zarr/v0.4/idr0801A/)
cat=$(stat_of "s['paths'].get('/catalogue/table.csv', 0)")
echo "# listing it with the options: $N1 requests ($pr probe, $cat catalogue)"
check "one probe for the 10 000 images ($pr)" test "$pr" -eq 1
check "the catalogue fetched once ($cat)" test "$cat" -eq 1
check "listing costs the probe and the catalogue more than without, and no fileset ($N1 vs $N0 - $FP0)" \
	test "$N1" -eq $((N0 - FP0 + 2))
x=$(getfattr --absolute-names --only-values -n user.idr.source_why "$M/$BIG/cell_00001.tif")
check "source_why: the template ($x)" test "$x" = "zarr_url template (probed on idr0801A)"

# every Zarr-backed image of the archive is a raw .tif
out=$(timeout 120 "$PYTHON3" - "$M" "$FAKE_URL" "$top_srcdir/tests" <<'PY'
import json, os, sys, urllib.request
sys.path.insert(0, sys.argv[3])
sys.path.insert(0, os.path.join(sys.argv[3], "fake-idr"))
import archive, check_pixels
m, base = sys.argv[1], sys.argv[2]
arch = archive.build(1, today=True)
desc = json.load(urllib.request.urlopen(base + "__fake/archive"))
bad = []
# dataset by dataset, from the listings (names with " (id)" suffixes are
# the naming's business): as many raw .tif as Zarr images
for p in desc["projects"]:
    for d in p["datasets"]:
        if d.get("image_ids"):
            continue  # the 10 000, counted above
        dd = os.path.join(m, "projects", check_pixels.safe(p["name"]),
                          check_pixels.safe(d["name"]))
        names = os.listdir(dd)
        raw = [n for n in names if n.endswith(".tif") and not n.endswith(".rendered.tif")
               and not n.endswith(".ome.tif")]
        want = [im["id"] for im in d["images"] if im["source"] == "zarr"]
        if len(raw) != len(want):
            bad.append("%s: %d raw, %d Zarr" % (d["name"], len(raw), len(want)))
# plates: by path
for iid in arch.zarr_images:
    if arch.images[iid].well_id is not None:
        if not os.path.isfile(check_pixels.image_path(m, arch, desc, iid)):
            bad.append(iid)
print(len(arch.zarr_images) - archive.BIG_COUNT, len(bad), bad[:5])
PY
)
read -r total nbad rest <<<"$out"
check "every other Zarr-backed image is a raw .tif ($total images, $nbad not: $rest)" \
	test "${nbad:-1}" -eq 0
check "rendered-only images stay .rendered.tif" \
	test -f "$M/$P/rendered only/rendered-1.rendered.tif"
check "an image probed without a Zarr stays without one" \
	test -f "$M/$P/originals/run1.companion.ome [series 0].rendered.tif"
x=$(getfattr --absolute-names --only-values -n user.idr.source_why \
	"$M/$P/zarr variants/v3 zstd little-endian.tif")
check "source_why: the catalogue for a v0.5 name ($x)" test "$x" = "catalogue table.csv"
x=$(getfattr --absolute-names --only-values -n user.idr.source_why "$M/screens/idr0803-synth-screen_screenA/plate1/A01/field-1.tif")
check "source_why: the plate template ($x)" test "$x" = "zarr_url template (probed on idr0803A)"

# probes: one per container of a converted study, never one per image
pr=$(probes_under /idr/zarr/v0.4/idr0803A/)
check "one probe for the plate's 192 images ($pr)" test "$pr" -eq 1
fake_reset
# bit-exact pixels of each kind of Zarr (v2, v3, sharded, big-endian,
# every type, a plate field, the catalogue's v0.1 and v0.5 images)
ids="2001 2002 2003 2004 2005 2006 2007 2008 2101 2102 2105 2107 2109 2110
2111 2112 2301 1000001 1007777 1201 1209 500001 500192 2501 2503"
# shellcheck disable=SC2086
out=$(timeout 600 "$PYTHON3" "$top_srcdir/tests/check_pixels.py" "$M" "$FAKE_URL" $ids 2>&1)
tap "$out"
check "reading images fetches the catalogue no more" \
	test "$(stat_of "s['paths'].get('/catalogue/table.csv', 0)")" -eq 0
umount_idrfs "$M"

# 3. A remount within the TTL: answers come from the cache, no probe.
M2="$WORK/m2"
check "remount with the same cache" mount_idrfs "$FAKE_URL" "$M2" \
	"cache_dir=$WORK/c1,$ORIG,$REC,zarr_catalog=${FAKE_URL}catalogue/table.csv"
fake_reset
n=$(ls "$M2/$BIG" | grep -c '[0-9]\.tif$')
check "the 10 000 images are raw .tif again ($n)" test "$n" -eq 10000
check "no probe and no catalogue request" test "$(fake_total)" -eq 0
umount_idrfs "$M2"

# 4. The catalogue a file: listing costs the probe only.
fake_get /catalogue/table.csv >"$WORK/table.csv"
M3="$WORK/m3"
check "mount with zarr_catalog=FILE" mount_idrfs "$FAKE_URL" "$M3" \
	"cache_dir=$WORK/c3,$ORIG,$REC,zarr_catalog=$WORK/table.csv"
fake_reset
n=$(ls "$M3/$BIG" | grep -c '[0-9]\.tif$')
N3=$(fake_total)
check "10 000 raw .tif for one request more than without options ($N3 vs $N0 - $FP0)" \
	test "$n" -eq 10000 -a "$N3" -eq $((N0 - FP0 + 1))
umount_idrfs "$M3"

# 5. Bad options: one clear line, exit 1.
err=$("$IDRFS" -f -o "zarr_url=$Z/{nope}.zarr" "$FAKE_URL" "$WORK/m4" 2>&1)
check "an unknown placeholder is refused ($err)" grep -q 'unknown {placeholder}' <<<"$err"
err=$("$IDRFS" -f -o "zarr_catalog=$WORK/nothing.csv" "$FAKE_URL" "$WORK/m4" 2>&1)
check "a catalogue file that is not there is refused ($err)" grep -q 'no readable file' <<<"$err"
finish
