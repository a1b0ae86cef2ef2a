#!/bin/bash
# SPDX-License-Identifier: MIT
# The multi-resolution views through outside readers: every <image>.ome.tif
# is a tiled BigTIFF pyramid that tifffile reads level by level equal to the
# source, libtiff reads without a warning and whose OME-XML validates;
# every zarr/**/<image>.zarr opens in zarr-python equal to the source; a
# second process reading a view makes no request; headless ImageJ shows the
# channel names of a .tif. check_views.py is first tried on views written
# with tifffile and zarr, good and broken, so that its verdicts are known.
. "$(dirname "$0")/lib.sh"
need_fuse

CV="$top_srcdir/tests/check_views.py"
XSD=${IDRFS_OME_XSD:-$top_srcdir/../shared/schemas/ome-2016-06/ome.xsd}
XSDOPT=()
if [ -f "$XSD" ]; then
	XSDOPT=(--xsd "$XSD")
else
	echo "# skip: no OME 2016-06 schema at $XSD (set IDRFS_OME_XSD): OME-XML not validated"
fi
P=projects/idr0802-synth-pixels_experimentB
PYR="$P/zarr variants/v2 pyramid 2500x1800"

start_fake || exit 1

# ---- the checker on views made to the brief with tifffile and zarr
ids="2001 2004 2008 2101 2110 2113 2114 500001"
# shellcheck disable=SC2086
"$PYTHON3" "$CV" --make "$WORK/made" "$FAKE_URL" $ids >/dev/null 2>"$WORK/make.err"
# shellcheck disable=SC2086
out=$(timeout 300 "$PYTHON3" "$CV" "${XSDOPT[@]}" "$WORK/made" "$FAKE_URL" 2>&1)
rc=$?
check "check_views.py passes views written with tifffile/zarr ($(grep -c '^ok' <<<"$out") checks)" \
	test "$rc" -eq 0 -a "$(grep -c '^not ok' <<<"$out")" -eq 0
[ "$rc" -eq 0 ] || sed 's/^/# /' <<<"$out" | grep -v '^# ok' | head -n 20
"$PYTHON3" "$CV" --make --bad "$WORK/bad" "$FAKE_URL" 2113 2004 >/dev/null 2>>"$WORK/make.err"
# sampled as images over 256 MiB are (--sample-above 1: the corners of 3 planes)
out=$(timeout 300 "$PYTHON3" "$CV" "${XSDOPT[@]}" --sample-above 1 "$WORK/bad" "$FAKE_URL" 2>&1)
rc=$?
check "and fails broken ones, sampled: the .ome.tif's last level, the Zarr views' last levels" \
	test "$rc" -eq 1 -a "$(grep -c '^not ok' <<<"$out")" -eq 3 -a \
	"$(grep -c '^not ok .*2500x1800.ome.tif.*level 2 ' <<<"$out")" -eq 1
rm -rf "$WORK/made" "$WORK/bad"

# ---- the mount
M="$WORK/mnt"
check "mount the fake server" mount_idrfs "$FAKE_URL" "$M" s3_scheme=http
# the big dataset and the plate sampled (20 views a directory)
out=$(timeout 1200 "$PYTHON3" "$CV" "${XSDOPT[@]}" --max-per-dir 20 "$M" "$FAKE_URL" 2>&1)
tap "$out"

# ---- a second process: the views come from the cache, no request
fake_reset
out=$(timeout 300 "$PYTHON3" - "$M" "$PYR" <<'PY' 2>&1
import os, sys
import tifffile, zarr
m, rel = sys.argv[1], sys.argv[2]
g = zarr.open_group(os.path.join(m, "zarr", rel + ".zarr"), mode="r")
n = sum(int(g[k][...].size) for k in sorted(g.array_keys()))
with tifffile.TiffFile(os.path.join(m, rel + ".ome.tif")) as t:
    n += sum(int(lv.asarray().size) for lv in t.series[0].levels)
print(n)
PY
)
case $out in
*[!0-9]* | "") out="fails: $(tail -n 1 <<<"$out")" ;;
esac
check "a second process reads the pyramid's views again ($out pixels) with no request ($(fake_total))" \
	test "$(fake_total)" -eq 0 -a "${out%% *}" != fails:

# ---- images.tsv names the views
tsv="$M/$P/zarr variants/images.tsv"
got=$("$PYTHON3" - "$tsv" "$M" <<'PY' 2>&1
import csv, os, sys
rows = list(csv.reader(open(sys.argv[1], encoding="utf-8"), delimiter="\t"))
head = rows[0]
cols = [i for i, h in enumerate(head) if "ome" in h.lower() or "zarr" in h.lower()]
bad = [r[i] for r in rows[1:] for i in cols
       if r[i] and not os.path.exists(os.path.join(sys.argv[2], r[i]))]
print("%d view columns (%s), %d missing paths" % (len(cols), ",".join(head[i] for i in cols), len(bad)))
PY
)
check "images.tsv names both views, paths that exist: $got" grep -q '^2 view columns .*, 0 missing' <<<"$got"

# ---- headless ImageJ: the channel names of a multi-channel .tif
if [ ! -f /usr/share/java/ij.jar ] || ! command -v xvfb-run >/dev/null ||
	! command -v java >/dev/null; then
	echo "# skip: imagej, xvfb-run or java is missing: channel names not checked in ImageJ"
else
	cat >"$WORK/labels.ijm" <<'IJM'
open(getArgument());
getDimensions(w, h, c, z, t);
for (i = 1; i <= c; i++) {
	Stack.setPosition(i, 1, 1);
	print("label " + i + " " + getInfo("slice.label"));
}
IJM
	for id_rel in "2004:$P/pixel types/type-uint16" "2113:$PYR"; do
		id=${id_rel%%:*}
		rel=${id_rel#*:}
		out=$(timeout 120 xvfb-run -a java -Xmx1g -cp /usr/share/java/ij.jar \
			ij.ImageJ -batch "$WORK/labels.ijm" "$M/$rel.tif" 2>&1)
		want=$(fake_get "/webgateway/imgData/$id/" | "$PYTHON3" -c '
import json, sys
for i, ch in enumerate(json.load(sys.stdin)["channels"]):
    print("label %d %s" % (i + 1, ch["label"]))')
		check "ImageJ shows the channel names of ${rel##*/}.tif ($(tr '\n' ';' <<<"$want"))" \
			test "$(grep '^label ' <<<"$out")" = "$want"
		[ "$(grep '^label ' <<<"$out")" = "$want" ] || sed 's/^/#   /' <<<"$out" | tail -n 5
	done
fi
finish
