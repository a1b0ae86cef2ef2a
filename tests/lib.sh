# SPDX-License-Identifier: MIT
# Shared by the integration tests: start the fake IDR server, mount idrfs
# on it, count requests, and clean up everything they started, by PID.
# Every wait is bounded. Tests print TAP-style "ok"/"not ok" lines.

set -u

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${PYTHON3:=/usr/bin/python3}"
IDRFS="$top_builddir/src/idrfs"
FAKE="$top_srcdir/tests/fake-idr/fake_idr.py"

T_PASS=0
T_FAIL=0
T_N=0
FAKE_PID=
FAKE_URL=
MOUNTS=
IDRFS_PIDS=

need_fuse() {
	if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null 2>&1; then
		echo "SKIP: /dev/fuse or fusermount3 is missing"
		exit 77
	fi
}

WORK=$(mktemp -d "$top_builddir/tests/tmp.XXXXXX")

ok() {
	T_N=$((T_N + 1))
	T_PASS=$((T_PASS + 1))
	echo "ok $T_N - $*"
}

not_ok() {
	T_N=$((T_N + 1))
	T_FAIL=$((T_FAIL + 1))
	echo "not ok $T_N - $*"
}

# check "description" command...: ok if the command succeeds
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}

# start_fake [fake_idr.py options]: sets FAKE_PID and FAKE_URL
start_fake() {
	local out="$WORK/fake.out" i
	: >"$out"
	"$PYTHON3" "$FAKE" --port 0 "$@" >"$out" 2>"$WORK/fake.err" &
	FAKE_PID=$!
	for i in $(seq 1 200); do
		FAKE_URL=$(head -n 1 "$out")
		[ -n "$FAKE_URL" ] && return 0
		kill -0 "$FAKE_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "fake server did not start:" >&2
	cat "$WORK/fake.err" >&2
	return 1
}

stop_fake() {
	if [ -n "$FAKE_PID" ]; then
		kill -CONT "$FAKE_PID" 2>/dev/null
		kill "$FAKE_PID" 2>/dev/null
		wait "$FAKE_PID" 2>/dev/null
		FAKE_PID=
	fi
}

# fake_get PATH: body of a fake-server URL (no idrfs involved)
fake_get() {
	curl -sS --max-time 10 "${FAKE_URL%/}$1"
}

fake_reset() {
	fake_get /__fake/reset >/dev/null
}

# requests the fake server has answered since the last reset
fake_total() {
	fake_get /__fake/stats | "$PYTHON3" -c \
		'import json, sys; print(json.load(sys.stdin)["total"])'
}

# json_field FILE a.b.c: one value of a JSON file (stats.json)
json_field() {
	"$PYTHON3" -c 'import json, sys; d = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    d = d[k]
print(d)' "$1" "$2"
}

# mount_idrfs URL MOUNTPOINT [extra -o options]: waits for readiness
mount_idrfs() {
	local url=$1 mnt=$2 extra=${3:-} fifo="$WORK/notify.$$.$RANDOM" line=
	mkdir -p "$mnt"
	mkfifo "$fifo"
	exec 9<>"$fifo"
	"$IDRFS" -f -o "notify_pipe=$fifo,log_file=$WORK/idrfs.log,cache_dir=$WORK/cache${extra:+,$extra}" \
		"$url" "$mnt" 2>>"$WORK/idrfs.err" &
	IDRFS_PIDS="$IDRFS_PIDS $!"
	MOUNTS="$MOUNTS $mnt"
	read -r -t 15 line <&9
	exec 9<&-
	rm -f "$fifo"
	[ "$line" = ok ]
}

umount_idrfs() {
	local mnt=$1 i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		fusermount3 -u "$mnt" 2>/dev/null && return 0
		mountpoint -q "$mnt" || return 0
		sleep 0.3
	done
	fusermount3 -uz "$mnt" 2>/dev/null
}

cleanup() {
	local m p
	for m in $MOUNTS; do
		umount_idrfs "$m"
	done
	for p in $IDRFS_PIDS; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	stop_fake
	if [ "$T_FAIL" -ne 0 ] && [ -f "$WORK/idrfs.log" ]; then
		echo "--- idrfs log (last 40 lines)"
		tail -n 40 "$WORK/idrfs.log"
		echo "--- idrfs stderr"
		tail -n 20 "$WORK/idrfs.err" 2>/dev/null
		echo "--- fake server stderr"
		tail -n 20 "$WORK/fake.err" 2>/dev/null
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT

finish() {
	echo "1..$T_N"
	echo "$T_PASS passed, $T_FAIL failed"
	[ "$T_FAIL" -eq 0 ]
}
