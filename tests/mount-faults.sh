#!/bin/bash
# SPDX-License-Identifier: MIT
# The fault matrix (tests/fault_matrix.py): every fault the fake server can
# inject, and the server gone, against ls, stat, reads, tifffile,
# images.tsv, study.txt and by-gene (also as the first thing a fresh mount
# does), each on a fresh mount with timeout=3.
# Every cell must answer within the deadline, keep the daemon alive and
# serve the right data once the fault is gone, also after a remount.
. "$(dirname "$0")/lib.sh"
need_fuse

# An ASan daemon parses about 3x slower: a healthy `ls by-gene` (21 pages
# of 1000 search hits, 14 MB of JSON) takes ~1.3 s alone, and 8.4 s was
# measured while the rest of the suite ran beside the matrix's 20 mounts.
t=3
ldd "$IDRFS" 2>/dev/null | grep -q libasan && t=8
timeout 900 "$PYTHON3" "$top_srcdir/tests/fault_matrix.py" \
	--idrfs "$IDRFS" --work "$WORK" --timeout "${FAULTS_TIMEOUT:-$t}" \
	--lanes "${FAULTS_LANES:-2}" ${FAULTS_ONLY:+--only "$FAULTS_ONLY"}
rc=$?
# a matrix killed by its bound may leave mounts under $WORK: never rm into them
while read -r _ m _; do
	case $m in "$WORK"/*) fusermount3 -uz "$m" 2>/dev/null ;; esac
done </proc/mounts
exit $rc
