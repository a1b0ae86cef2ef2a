#!/bin/bash
# SPDX-License-Identifier: MIT
# For admins: systemd readiness (a Type=notify unit: READY=1 once the
# mount answers, STOPPING=1 on unmount, on the socket in NOTIFY_SOCKET)
# and `idrfs status MOUNTPOINT` (one line; exit 1 with a clear message
# when the directory is not an idrfs mount or its daemon is gone).
. "$(dirname "$0")/lib.sh"
need_fuse

start_fake || exit 1
M="$WORK/m"
mkdir -p "$M"

# Readiness: a listener on an AF_UNIX datagram socket, as systemd's; at
# READY=1 it checks, at that very moment, that the mount answers.
cat >"$WORK/listen.py" <<'EOF'
import os, socket, sys
path, mnt, out = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(60)
with open(out + ".tmp", "w") as f:
    open(path + ".up", "w").close()
    while True:
        try:
            msg = s.recv(4096).decode()
        except socket.timeout:
            f.write("timeout\n")
            break
        f.write("msg %s\n" % msg.replace("\n", " "))
        words = msg.split("\n")
        if "READY=1" in words:
            try:
                names = os.listdir(mnt)
                with open(os.path.join(mnt, "README.txt")) as r:
                    head = r.read(200)
                f.write("usable %s %d %s\n" % (os.path.ismount(mnt), len(names),
                                               "mounted read-only" in head))
            except OSError as e:
                f.write("unusable %s\n" % e)
        f.flush()
        if "STOPPING=1" in words:
            break
os.rename(out + ".tmp", out)
EOF
if ldd "$IDRFS" 2>/dev/null | grep -q libsystemd; then
	SOCK="$WORK/notify.sock"
	timeout 90 "$PYTHON3" "$WORK/listen.py" "$SOCK" "$M" "$WORK/notify.out" &
	LPID=$!
	for _ in $(seq 1 100); do
		[ -e "$SOCK.up" ] && break
		sleep 0.1
	done
	NOTIFY_SOCKET=$SOCK "$IDRFS" -f -o "log_file=$WORK/idrfs.log,cache_dir=$WORK/cache,s3_scheme=http" \
		"$FAKE_URL" "$M" 2>>"$WORK/idrfs.err" &
	DPID=$!
	IDRFS_PIDS="$IDRFS_PIDS $DPID"
	MOUNTS="$MOUNTS $M"
	for _ in $(seq 1 300); do
		grep -q "^usable\|^unusable" "$WORK/notify.out.tmp" 2>/dev/null && break
		sleep 0.1
	done
	check "READY=1 arrives on NOTIFY_SOCKET" grep -q "^msg READY=1" "$WORK/notify.out.tmp"
	check "and at that moment the mount answers (a listing, README.txt)" \
		grep -q "^usable True [1-9][0-9]* True" "$WORK/notify.out.tmp"
else
	echo "# built without libsystemd: no readiness notification to test"
	check "mount" mount_idrfs "$FAKE_URL" "$M" "s3_scheme=http"
	DPID=${IDRFS_PIDS##* }
fi

# idrfs status: one line from .idrfs/stats.json.
cat "$M/projects/idr0802-synth-pixels_experimentB/pixel types/type-uint8.tif" >/dev/null
out=$("$IDRFS" status "$M" 2>&1)
rc=$?
check "idrfs status exits 0 on a mount" test $rc -eq 0
check "and prints one line: $out" test "$(wc -l <<<"$out")" -eq 1
for w in "${FAKE_URL}:" " requests, 0 errors" "cache " " hits, " "memory " \
	"of 128.0M held (peak " "; online"; do
	check "the line has '$w'" grep -qF -- "$w" <<<"$out"
done
req=$(sed -n 's/^[^ ]*: \([0-9]*\) requests.*/\1/p' <<<"$out")
check "its request count is the daemon's ($req > 0)" test "${req:-0}" -gt 0

if [ -n "${LPID:-}" ]; then
	fusermount3 -u "$M"
	wait "$LPID"
	check "STOPPING=1 arrives on unmount" grep -q "^msg STOPPING=1" "$WORK/notify.out"
	wait "$DPID"
	check "and the daemon exits 0" test $? -eq 0
else
	umount_idrfs "$M"
fi

out=$("$IDRFS" status "$M" 2>&1)
check "status of a directory that is no mount exits 1" test $? -eq 1
check "and says so: $out" grep -q "is not an idrfs mount" <<<"$out"

# A daemon killed: the mount is left without one.
check "mount again" mount_idrfs "$FAKE_URL" "$M" "s3_scheme=http"
kill -9 "${IDRFS_PIDS##* }"
wait "${IDRFS_PIDS##* }" 2>/dev/null
out=$("$IDRFS" status "$M" 2>&1)
check "status of a mount whose daemon is gone exits 1" test $? -eq 1
check "and says so: $out" grep -q "daemon is gone" <<<"$out"
fusermount3 -uz "$M" 2>/dev/null
finish
