#!/bin/bash
# SPDX-License-Identifier: MIT
# The by-* ontology directories, over the fake IDR's search engine and,
# with --mapr, over mapr: terms against the server's own annotations
# (/__fake/archive), symlinks to the canonical images, lookups on demand,
# images.tsv, study.txt, extended attributes, request counts, and EIO (not
# a crash or a hang) when the search backend fails.
. "$(dirname "$0")/lib.sh"
need_fuse
if ! command -v getfattr >/dev/null 2>&1; then
	echo "SKIP: getfattr (package attr) is missing"
	exit 77
fi

# What the archive says: expect.py <archive.json> <query> [args]
cat >"$WORK/expect.py" <<'EOF'
import json, re, sys

a = json.load(open(sys.argv[1]))
anns = {int(k): v for k, v in a["map_annotations"].items()}
links = {}
for kind, objs in a["annotation_links"].items():
    for oid, aids in objs.items():
        links[(kind, int(oid))] = aids
m = re.findall(r"\d+", a["big_dataset_annotation_rule"])
org, gene0, first, ngenes = int(m[1]), int(m[2]), int(m[3]), int(m[4])
big = [d for p in a["projects"] for d in p["datasets"] if "count" in d][0]
lo, hi = big["image_ids"]
for i in range(lo, hi + 1):
    links[("image", i)] = [org, gene0 + (i - first) % ngenes]

MENUS = {"by-antibody": ("Antibody Identifier", "Antibody Name"),
         "by-cell-line": ("Cell Line", None), "by-compound": ("Compound Name", None),
         "by-gene": ("Gene Symbol", None), "by-organism": ("Organism", None),
         "by-phenotype": ("Phenotype Term Accession", "Phenotype Term Name"),
         "by-protein": ("Protein", None), "by-sirna": ("siRNA Identifier", None)}


def safe(s):
    return "".join("_" if c == "/" or ord(c) < 32 or ord(c) == 127 else c for c in s)


def image_kvs(iid):
    return [kv for aid in links.get(("image", iid), []) for kv in anns[aid]["values"]]


def images():
    for p in a["projects"]:
        for d in p["datasets"]:
            if "count" in d:
                for i in range(lo, hi + 1):
                    yield i
            else:
                for im in d["images"]:
                    yield im["id"]
    for s in a["screens"]:
        for pl in s["plates"]:
            for w in pl["wells"]:
                for f in w["fields"]:
                    yield f


q = sys.argv[2]
if q == "menu":
    key, label = MENUS[sys.argv[3]]
    names = set()
    for iid in images():
        for aid in links.get(("image", iid), []):
            vals = dict(anns[aid]["values"])
            if key in vals:
                names.add(safe(vals[label]) + " (" + safe(vals[key]) + ")"
                          if label and vals.get(label) else safe(vals[key]))
    print("\n".join(sorted(names)))
elif q == "ids":   # ids key value [exact]: images with key = value
    key, value = sys.argv[3], sys.argv[4]
    exact = len(sys.argv) > 5
    ids = [i for i in images() if any(k == key and (v == value if exact else
                                      v.lower() == value.lower())
                                      for k, v in image_kvs(i))]
    print("\n".join(str(i) for i in sorted(ids)))
elif q == "kv":    # kv id key: the values of key on image id, "; " joined
    print("; ".join(v for k, v in image_kvs(int(sys.argv[3])) if k == sys.argv[4]))
elif q == "study":  # study kind id key
    aid = links[(sys.argv[3], int(sys.argv[4]))][0]
    print(dict(anns[aid]["values"])[sys.argv[5]])
elif q == "image":  # image id field
    for p in a["projects"]:
        for d in p["datasets"]:
            for im in d.get("images", []):
                if im["id"] == int(sys.argv[3]):
                    print(im[sys.argv[4]])
EOF
expect() { "$PYTHON3" "$WORK/expect.py" "$ARCHIVE" "$@"; }

# endpoint_count PATTERN: requests to that endpoint since the last reset
endpoint_count() {
	fake_get /__fake/stats | "$PYTHON3" -c \
		'import json, sys; print(json.load(sys.stdin)["endpoints"].get(sys.argv[1], 0))' "$1"
}

# ids_of_term DIR: the image ids its symlinks lead to (user.idr.id of
# each target, read through the link), sorted
ids_of_term() {
	local l
	for l in "$1"/*/*; do
		getfattr --absolute-names --only-values -n user.idr.id "$l" 2>/dev/null
		echo
	done | grep . | sort -n
}

# links_ok DIR: every symlink is relative, into projects/ or screens/,
# and leads to the same inode as its target path does
links_ok() {
	local l t dir
	for l in "$1"/*/*; do
		[ -L "$l" ] || return 1
		t=$(readlink "$l")
		case "$t" in
		../../../projects/* | ../../../screens/*) ;;
		*) return 1 ;;
		esac
		dir=$(dirname "$l")
		[ "$(stat -L -c %i "$l")" = "$(stat -c %i "$dir/$t")" ] || return 1
	done
}

# tsv_ids FILE: the id column of an images.tsv
tsv_ids() {
	tail -n +2 "$1" | cut -f 2 | sort -n
}

# ---------------------------------------------------------------- search engine

start_fake || exit 1
ARCHIVE="$WORK/archive.json"
fake_get /__fake/archive >"$ARCHIVE"
M="$WORK/mnt"
check "mount the fake server (search engine)" mount_idrfs "$FAKE_URL" "$M" s3_scheme=http

MENUS="by-antibody by-cell-line by-compound by-gene by-organism by-phenotype by-protein by-sirna"
check "the root has the 8 by-* menus the annotations have" \
	test "$(ls "$M" | grep '^by-' | tr '\n' ' ')" = "$(echo $MENUS) "
for menu in $MENUS; do
	got=$(ls "$M/$menu" | LC_ALL=C sort)
	want=$(expect menu "$menu" | LC_ALL=C sort)
	check "$menu lists the archive's terms, spelled as annotated ($(echo "$want" | wc -l))" \
		test "$got" = "$want"
done
check "phenotypes are '<label> (<accession>)'" \
	test -d "$M/by-phenotype/increased actin localised to the nucleus (CMPO_0000294)"
check "what idrfs adds to a name is no glob: *CMPO_0000294*/*/*.tif matches" \
	test "$(ls "$M"/by-phenotype/*CMPO_0000294*/*/*.tif | wc -l)" -gt 0
check "a '/' in a term became '_' (NIH/3T3)" test -d "$M/by-cell-line/NIH_3T3"

# A term: its studies, symlinks to the canonical images.
T="$M/by-gene/CDK5"
fake_reset
ls "$T" >/dev/null
req=$(fake_total)
check "ls of a term with 18 images made $req <= 4 requests" test "$req" -le 4
check "by-gene/CDK5 has its screen and images.tsv" \
	test "$(ls "$T" | tr '\n' ' ')" = "idr0803-synth-screen_screenA images.tsv "
fake_reset
ls "$T/idr0803-synth-screen_screenA" >/dev/null
req=$(fake_total)
wells=$(ls "$T/idr0803-synth-screen_screenA" | sed 's/.*Well \([A-H][0-9]*\),.*/\1/' | sort -u | wc -l)
# the screen (plates and study annotation), the plate, and each well with
# a hit: a well's own answer is the only one that says what its images
# are (the plate's well listing has stubs), and so what the tree names
check "ls of its study made $req <= 3 + $wells requests (one per well, none per image)" \
	test "$req" -le $((3 + wells))
check "by-gene/CDK5 leads to exactly the archive's CDK5 images" \
	test "$(ids_of_term "$T")" = "$(expect ids 'Gene Symbol' CDK5)"
check "its symlinks are relative and lead to the canonical files" links_ok "$T"
l="$T/idr0803-synth-screen_screenA/plate1 [Well A1, Field 1].tif"
check "a screen image's link: ../../../screens/<screen>/<plate>/<well>/field-<n>.tif" \
	test "$(readlink "$l")" = "../../../screens/idr0803-synth-screen_screenA/plate1/A01/field-1.tif"
check "the link and the canonical file are one inode" \
	test "$(stat -L -c %i "$l")" = "$(stat -c %i "$M/screens/idr0803-synth-screen_screenA/plate1/A01/field-1.tif")"
P="$M/by-phenotype/increased actin localised to the nucleus (CMPO_0000294)"
check "a phenotype leads to the archive's images with that accession" \
	test "$(ids_of_term "$P")" = "$(expect ids 'Phenotype Term Accession' CMPO_0000294)"
check "project images: by-organism/Mus musculus" \
	test "$(ids_of_term "$M/by-organism/Mus musculus")" = "$(expect ids Organism 'Mus musculus')"
check "and their links are relative and right" links_ok "$M/by-organism/Mus musculus"

# A term of 1 250 images in the 10 000-image dataset: per page, not per image.
fake_reset
n=$(ls "$M/by-gene/ADE8/idr0801-synth-listing_experimentA" | wc -l)
search=$(endpoint_count /searchengine/api/v1/resources/image/search/)
total=$(fake_total)
check "by-gene/ADE8 has 1 250 links" test "$n" -eq 1250
check "made from $search <= 2 search pages, $total <= 16 requests in all" \
	test "$search" -le 2 -a "$total" -le 16
check "cell_00001.tif leads to the big dataset" \
	test "$(readlink "$M/by-gene/ADE8/idr0801-synth-listing_experimentA/cell_00001.tif")" = \
	"../../../projects/idr0801-synth-listing_experimentA/big dataset/cell_00001.tif"
fake_reset
ls -l "$M/by-gene/ADE8/idr0801-synth-listing_experimentA" >/dev/null
check "within the TTL, listing it again makes no request" test "$(fake_total)" -eq 0

# Lookups on demand: any term, in any case, even when not listed.
check "by-gene/cdk5 (not listed: the menu says CDK5) answers a lookup" \
	test "$(ls "$M/by-gene/cdk5" | tr '\n' ' ')" = "idr0803-synth-screen_screenA images.tsv "
check "and leads to the same images" \
	test "$(ids_of_term "$M/by-gene/cdk5")" = "$(expect ids 'Gene Symbol' CDK5)"
check "looked-up names do not appear in the listing" \
	bash -c "! ls '$M/by-gene' | grep -qx cdk5"
check "by-phenotype/CMPO_0000128 (an accession alone) answers" \
	test -d "$M/by-phenotype/CMPO_0000128"
check "a term nothing has is ENOENT" \
	bash -c "ls '$M/by-gene/NOSUCHGENE' 2>&1 | grep -q 'No such file'"

# images.tsv: in every container and term, sized at stat.
h=$(head -n 1 "$T/images.tsv" | cut -f 1-13 | tr '\t' ' ')
check "images.tsv columns: path id name SizeX..T PixelType PhysicalSize* source" \
	test "$h" = "path id name SizeX SizeY SizeZ SizeC SizeT PixelType PhysicalSizeX PhysicalSizeY PhysicalSizeZ source"
check "then its key/value columns" \
	bash -c "head -n 1 '$T/images.tsv' | tr '\t' '\n' | grep -qx 'Gene Symbol'"
check "a term's images.tsv lists its images" \
	test "$(tsv_ids "$T/images.tsv")" = "$(expect ids 'Gene Symbol' CDK5)"
check "stat gives images.tsv's true size" \
	test "$(stat -c %s "$T/images.tsv")" -eq "$(cat "$T/images.tsv" | wc -c)"
D="$M/projects/idr0802-synth-pixels_experimentB/pixel types"
check "a dataset's images.tsv has one row per image" \
	test "$(tsv_ids "$D/images.tsv" | tr '\n' ' ')" = "2001 2002 2003 2004 2005 2006 2007 2008 "
row=$(grep -P '\t2004\t' "$D/images.tsv")
check "its rows: path, id, name, sizes, type, physical size, source" \
	test "$(cut -f 1-9,13 <<<"$row" | tr '\t' '|')" = \
	"projects/idr0802-synth-pixels_experimentB/pixel types/type-uint16.tif|2004|type-uint16|70|50|3|2|1|uint16|zarr"
check "physical sizes as the archive has them" \
	test "$(cut -f 10 <<<"$row")" = "$(expect image 2004 physicalSizeX)"
col=$(head -n 1 "$D/images.tsv" | tr '\t' '\n' | grep -nx 'Cell Line' | cut -d: -f1)
check "and key/values in their columns (Cell Line)" \
	test "$(cut -f "$col" <<<"$row")" = "$(expect kv 2004 'Cell Line')"
check "a rendered image says so" \
	bash -c "grep -P '\t2201\t' '$M/projects/idr0802-synth-pixels_experimentB/rendered only/images.tsv' | cut -f 13 | grep -qx rendered"
S="$M/screens/idr0803-synth-screen_screenA"
check "a plate's images.tsv: 192 fields" test "$(tsv_ids "$S/plate1/images.tsv" | wc -l)" -eq 192
check "a screen's and a project's too" \
	test "$(tsv_ids "$S/images.tsv" | wc -l)" -eq 192 -a \
	"$(tsv_ids "$M/projects/idr0802-synth-pixels_experimentB/images.tsv" | wc -l)" -ge 20
fake_reset
ls -l "$M/projects/idr0801-synth-listing_experimentA/names" >/dev/null
check "ls -l of a dataset builds its images.tsv with one key/value request" \
	test "$(endpoint_count /webclient/api/annotations/)" -eq 1

# study.txt
st="$M/projects/idr0801-synth-listing_experimentA/study.txt"
check "study.txt names the study as the archive does" \
	grep -qx "Study:       idr0801-synth-listing/experimentA" "$st"
check "study.txt has the title" grep -qF "Title:       $(expect study project 101 'Study Title')" "$st"
check "the publication and DOI" \
	bash -c "grep -qF 'Publication: $(expect study project 101 'Publication Title')' '$st' && grep -qF 'DOI:         10.5555/idrfs.0801' '$st'"
check "the licence" grep -qF "Licence:     CC BY 4.0" "$st"
check "and how to cite" grep -q "doi:10.5555/idrfs.0801" "$st"
check "screens have one too" grep -qF "$(expect study screen 201 'Study Title')" "$S/study.txt"

# Extended attributes
F="$S/plate1/A01/field-1.tif"
x=$(getfattr --absolute-names -d "$F" 2>/dev/null)
check "getfattr -d: user.idr.id" grep -qx 'user.idr.id="500001"' <<<"$x"
check "user.idr.url" grep -q "^user.idr.url=\"${FAKE_URL}webclient/?show=image-500001\"" <<<"$x"
check "user.idr.source" grep -qx 'user.idr.source="zarr"' <<<"$x"
check "user.idr.dims" grep -qx 'user.idr.dims="X=64 Y=64 Z=1 C=2 T=1"' <<<"$x"
check "user.idr.pixel_type" grep -qx 'user.idr.pixel_type="uint16"' <<<"$x"
check "user.idr.kv.Gene_Symbol is the archive's" \
	grep -qx "user.idr.kv.Gene_Symbol=\"$(expect kv 500001 'Gene Symbol')\"" <<<"$x"
check "several values of one key are joined" \
	grep -qx "user.idr.kv.Phenotype_Term_Accession=\"$(expect kv 500001 'Phenotype Term Accession')\"" <<<"$x"
check "an unknown attribute is ENODATA" \
	bash -c "getfattr -n user.idr.nope '$F' 2>&1 | grep -q 'No such attribute'"
check "getfattr through a by-* symlink reads the image's" \
	test "$(getfattr --absolute-names --only-values -n user.idr.id "$l")" = 500001
check "a rendered image: user.idr.source=rendered" \
	test "$(getfattr --absolute-names --only-values -n user.idr.source "$M/projects/idr0802-synth-pixels_experimentB/rendered only/rendered-1.rendered.tif")" = rendered

# Names and inodes survive a remount.
i1=$(stat -c %i "$P")
i2=$(stat -c %i "$l")
i3=$(stat -c %i "$T/images.tsv")
umount_idrfs "$M"
check "remount" mount_idrfs "$FAKE_URL" "$M" s3_scheme=http
check "a term keeps its inode" test "$(stat -c %i "$P")" = "$i1"
check "a symlink keeps its inode" test "$(stat -c %i "$l")" = "$i2"
check "an images.tsv keeps its inode" test "$(stat -c %i "$T/images.tsv")" = "$i3"

# Failures: EIO for that directory, a log line, the daemon lives on.
fake_get "/__fake/config?fail_rate=1" >/dev/null
out=$(timeout 60 ls "$M/by-gene/PLK1" 2>&1)
check "search engine failing (503): ls of a term gives EIO" grep -q "Input/output error" <<<"$out"
check "the daemon still serves the README" grep -q idrfs "$M/README.txt"
fake_get "/__fake/config?fail_rate=0&truncate_rate=1" >/dev/null
out=$(timeout 60 ls "$M/by-gene/AURKB" 2>&1)
check "bodies cut short: EIO" grep -q "Input/output error" <<<"$out"
fake_get "/__fake/config?truncate_rate=0" >/dev/null
check "when the server recovers, the term lists" test -d "$M/by-gene/AURKB/idr0803-synth-screen_screenA"
check "a listing made before is still served" test -d "$P"
check "failures are logged with their URL" \
	grep -q "searchengine/api/v1/resources/image/search/?key=Gene%20Symbol&value=PLK1" "$WORK/idrfs.log"

# Every link of every view leads to a file the tree has (find -L reports
# a dangling link as a link: it cannot follow it).
all=$(find "$M"/by-* -type l | wc -l)
dangling=$(find -L "$M"/by-* -type l | head -n 5)
check "all $all links under every by-* view resolve, screens included${dangling:+: $dangling}" \
	test "$all" -gt 1000 -a -z "$dangling"
umount_idrfs "$M"

# The backend is detected on first use, never at mount. A failed
# detection decides nothing: meanwhile a by-* directory is EIO (never
# ENOENT, which the kernel would keep for a minute), and the next use
# after a short backoff (1 s, doubling) tries again.
fake_get "/__fake/config?fail_rate=1" >/dev/null
M2="$WORK/mnt2"
check "mount while the server fails" mount_idrfs "$FAKE_URL" "$M2" "s3_scheme=http,cache_dir=$WORK/cache2"
check "the root lists without by-* menus" \
	test "$(timeout 60 ls "$M2" | tr '\n' ' ')" = "README.txt originals projects screens zarr "
out=$(timeout 60 ls "$M2/by-gene" 2>&1)
check "ls by-gene while detection fails: EIO, not ENOENT" \
	grep -q "Input/output error" <<<"$out"
fake_get "/__fake/config?fail_rate=0" >/dev/null
t0=$(date +%s%N)
for i in $(seq 1 40); do
	[ -d "$M2/by-gene" ] && break
	sleep 0.25
done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "once the server is healthy, by-gene is back within ${ms} ms (< 5 s)" \
	test -d "$M2/by-gene" -a "$ms" -lt 5000
check "and lists its terms" test -n "$(ls "$M2/by-gene" 2>/dev/null)"
check "and the root has its 8 menus" test "$(ls "$M2" | grep -c '^by-')" -eq 8
umount_idrfs "$M2"

M3="$WORK/mnt3"
check "mount with -o ontology=none" mount_idrfs "$FAKE_URL" "$M3" "s3_scheme=http,ontology=none"
check "ontology=none: no by-* directories" \
	test "$(ls "$M3" | tr '\n' ' ')" = "README.txt originals projects screens zarr "
umount_idrfs "$M3"
check "mount with -o ontology=mapr on a server without mapr" \
	mount_idrfs "$FAKE_URL" "$M3" "s3_scheme=http,ontology=mapr,cache_dir=$WORK/cache3"
check "mapr redirects to HTML: no by-* directories, the daemon is fine" \
	test "$(ls "$M3" | tr '\n' ' ')" = "README.txt originals projects screens zarr "
check "and the redirect is logged" grep -q "mapr/api/.*HTTP 302" "$WORK/idrfs.log"
umount_idrfs "$M3"
stop_fake

# ---------------------------------------------------------------- mapr

start_fake --mapr || exit 1
M4="$WORK/mapr"
check "mount the fake server with -o ontology=mapr" \
	mount_idrfs "$FAKE_URL" "$M4" "s3_scheme=http,ontology=mapr,cache_dir=$WORK/cache4"
check "mapr: the root has the 8 menus" test "$(ls "$M4" | grep -c '^by-')" -eq 8
for menu in by-phenotype by-organism by-cell-line; do
	check "mapr: $menu lists the archive's terms" \
		test "$(ls "$M4/$menu" | LC_ALL=C sort)" = "$(expect menu "$menu" | LC_ALL=C sort)"
done
check "mapr: genes are not listed (mapr lists only wildcard menus)" \
	test -z "$(ls "$M4/by-gene")"
check "mapr: but by-gene/CDK5 answers a lookup" test -d "$M4/by-gene/CDK5"
check "mapr: and leads to the archive's CDK5 images" \
	test "$(ids_of_term "$M4/by-gene/CDK5")" = "$(expect ids 'Gene Symbol' CDK5 exact)"
check "mapr: relative links to the canonical files" links_ok "$M4/by-gene/CDK5"
check "mapr: is case-sensitive (by-gene/cdk5 is ENOENT)" \
	bash -c "ls '$M4/by-gene/cdk5' 2>&1 | grep -q 'No such file'"
MP="$M4/by-phenotype/increased actin localised to the nucleus (CMPO_0000294)"
check "mapr: a phenotype's images" \
	test "$(ids_of_term "$MP")" = "$(expect ids 'Phenotype Term Accession' CMPO_0000294 exact)"
check "mapr: its images.tsv, key/values from the annotations" \
	test "$(tsv_ids "$MP/images.tsv")" = "$(expect ids 'Phenotype Term Accession' CMPO_0000294 exact)"
check "mapr: Gene Symbol column filled" \
	bash -c "head -n 1 '$MP/images.tsv' | tr '\t' '\n' | grep -qx 'Gene Symbol'"
check "mapr: project images (by-organism/Mus musculus)" \
	test "$(ids_of_term "$M4/by-organism/Mus musculus")" = "$(expect ids Organism 'Mus musculus' exact)"
fake_reset
ls "$M4/by-cell-line/NIH_3T3/" >/dev/null
req=$(fake_total)
check "mapr: a term costs $req <= 4 requests (studies, datasets, images, projects)" \
	test "$req" -ge 3 -a "$req" -le 4
fake_get "/__fake/config?fail_rate=1" >/dev/null
out=$(timeout 60 ls "$M4/by-gene/PLK1" 2>&1)
check "mapr failing: EIO" grep -q "Input/output error" <<<"$out"
fake_get "/__fake/config?fail_rate=0" >/dev/null
check "mapr: the daemon lives on" test -d "$M4/by-gene/PLK1"
all=$(find "$M4"/by-* -type l | wc -l)
dangling=$(find -L "$M4"/by-* -type l | head -n 5)
check "mapr: all $all links resolve${dangling:+: $dangling}" \
	test "$all" -gt 100 -a -z "$dangling"
umount_idrfs "$M4"
finish
