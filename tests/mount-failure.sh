#!/bin/bash
# SPDX-License-Identifier: MIT
# A dead, hanging, flaky or lying server: operations fail with EIO within
# the deadline, transient failures are retried, and the daemon keeps
# serving everything else.
. "$(dirname "$0")/lib.sh"
need_fuse

elapsed_ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# 1. Nothing listens: EIO at once, not a hang.
port=$("$PYTHON3" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
M1="$WORK/dead"
check "mount a dead server" mount_idrfs "http://127.0.0.1:$port/" "$M1" timeout=5
t0=$(date +%s%N)
out=$(timeout 20 ls "$M1/projects" 2>&1)
ms=$(elapsed_ms "$t0")
check "dead server: ls gives EIO" grep -q "Input/output error" <<<"$out"
check "dead server: EIO in ${ms} ms, well within the 5 s deadline" test "$ms" -lt 5000
check "dead server: README.txt still reads" grep -q idrfs "$M1/README.txt"
check "the failure is logged with its URL" \
	grep -q "127.0.0.1:$port/api/v0/m/projects/" "$WORK/idrfs.log"
umount_idrfs "$M1"

# 2. The server accepts but never answers: EIO at the deadline.
start_fake || exit 1
M2="$WORK/hang"
check "mount the fake server with timeout=3" mount_idrfs "$FAKE_URL" "$M2" timeout=3
ls "$M2/projects" >/dev/null
kill -STOP "$FAKE_PID"
t0=$(date +%s%N)
out=$(timeout 30 ls "$M2/screens" 2>&1)
ms=$(elapsed_ms "$t0")
kill -CONT "$FAKE_PID"
check "hanging server: ls gives EIO" grep -q "Input/output error" <<<"$out"
check "hanging server: EIO after ${ms} ms (deadline 3 s, allowed < 5 s)" \
	test "$ms" -ge 2500 -a "$ms" -lt 5000
check "after the server recovers, the same directory lists" \
	test "$(ls "$M2/screens")" = "idr0803-synth-screen_screenA"
check "a listing made before the hang is still served" \
	test "$(ls "$M2/projects" | wc -l)" -eq 2
umount_idrfs "$M2"
stop_fake

# 3. A flaky server (503s): retries make every listing succeed. (At 20%,
# a request fails all of its 5 attempts once in 3 000; the listing's ~12
# requests, sent in parallel, meet the seeded failures in any order. At
# 30% that was 1 in 400 per request, and a suite in 30 saw it.)
start_fake --fail-rate 0.2 --seed 7 || exit 1
M3="$WORK/flaky"
check "mount a server failing 20% of requests" mount_idrfs "$FAKE_URL" "$M3"
n=$(ls "$M3/projects/idr0801-synth-listing_experimentA/big dataset" 2>&1 | grep -v "\.ome\.tif$" | grep -c "\.tif$")
check "flaky server: all 10 000 images listed ($n)" test "$n" -eq 10000
check "flaky server: retries are logged at debug level only" \
	bash -c "! grep -q 'HTTP 503' '$WORK/idrfs.log'"
umount_idrfs "$M3"
stop_fake

# 4. Every body cut short: EIO for that listing, daemon alive.
start_fake --truncate-rate 1.0 || exit 1
M4="$WORK/trunc"
check "mount a server that truncates every body" mount_idrfs "$FAKE_URL" "$M4" timeout=10
out=$(timeout 30 ls "$M4/projects" 2>&1)
check "truncated bodies: ls gives EIO" grep -q "Input/output error" <<<"$out"
check "truncated bodies: the daemon still serves README.txt" \
	grep -q idrfs "$M4/README.txt"
check "truncated bodies: nothing was listed" \
	bash -c "! ls '$M4/projects/idr0801-synth-listing_experimentA' 2>/dev/null"
umount_idrfs "$M4"
finish
