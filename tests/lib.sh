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

# tap OUTPUT: a checker's "ok - ..." / "not ok - ..." lines as this test's
# (other lines become comments)
tap() {
	local line
	while IFS= read -r line; do
		case $line in
		"ok - "*) ok "${line#ok - }" ;;
		"not ok - "*) not_ok "${line#not ok - }" ;;
		*) echo "# $line" ;;
		esac
	done <<<"$1"
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

# start_squid DIR [EXTRA_CONF]: Debian's squid on 127.0.0.1:$SQPORT with
# the caching rules of contrib/squid/squid.conf (its site section replaced
# by one under DIR, plus the lines of EXTRA_CONF), in the foreground under
# SQUID_PID. Its own service name, so no other squid is touched; never
# /var/spool/squid or port 3128. 1 if squid is missing or did not start.
SQUID_PID=
SQPORT=
SQNAME=
start_squid() {
	local sq=$1 extra=${2:-} squid code up=0
	squid=$(command -v squid || echo /usr/sbin/squid)
	[ -x "$squid" ] || return 1
	SQNAME="idrfstest$$"
	mkdir -p "$sq"
	SQPORT=$("$PYTHON3" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	{
		cat <<EOF
http_port 127.0.0.1:$SQPORT
acl localnet src 127.0.0.1/32
acl idr_archive dst 127.0.0.1
cache_mem 64 MB
cache_dir ufs $sq/cache 4096 4 16
visible_hostname idrfs-test
pid_filename $sq/squid.pid
cache_log $sq/cache.log
access_log stdio:$sq/access.log squid
cache_store_log none
coredump_dir $sq
shutdown_lifetime 0 seconds
EOF
		[ -n "$extra" ] && cat "$extra"
		sed '/^# ---- site begins/,/^# ---- site ends/d' "$top_srcdir/contrib/squid/squid.conf"
	} >"$sq/squid.conf"
	# run as root, squid drops to its user (Debian: proxy), who needs its
	# files and a way through $WORK
	if [ "$(id -u)" = 0 ]; then
		chown -R proxy: "$sq" 2>/dev/null
		chmod o+x "$WORK"
	fi
	"$squid" -k parse -n "$SQNAME" -f "$sq/squid.conf" 2>"$sq/parse.out" || return 1
	timeout 60 "$squid" -N -z -n "$SQNAME" -f "$sq/squid.conf" >"$sq/z.out" 2>&1
	"$squid" -N -n "$SQNAME" -f "$sq/squid.conf" >"$sq/squid.out" 2>&1 &
	SQUID_PID=$!
	for _ in $(seq 1 100); do
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$SQPORT/")
		[ "$code" != 000 ] && up=1 && break
		kill -0 "$SQUID_PID" 2>/dev/null || break
		sleep 0.1
	done
	if [ $up != 1 ]; then
		tail -n 20 "$sq/cache.log" 2>/dev/null | sed 's/^/# /'
		stop_squid
		return 1
	fi
}

stop_squid() {
	if [ -n "$SQUID_PID" ]; then
		kill "$SQUID_PID" 2>/dev/null
		wait "$SQUID_PID" 2>/dev/null
		SQUID_PID=
	fi
	[ -n "$SQNAME" ] && rm -f /dev/shm/"$SQNAME"-*
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
	stop_squid
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
