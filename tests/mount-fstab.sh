#!/bin/bash
# SPDX-License-Identifier: MIT
# `mount -t fuse.idrfs URL MNT -o ...` and an /etc/fstab line, as util-linux
# runs them: mount(8) runs mount.fuse3, which runs `idrfs URL MNT -o ...`
# through /bin/sh with the fstab words it was given (rw, noauto, user,
# _netdev, ...) and the standard PATH (mount clears the caller's). So the
# test runs in a mount namespace of its own, where /usr/local/sbin shows
# only a link to the idrfs under test; nothing outside it changes.
. "$(dirname "$0")/lib.sh"
need_fuse
for c in mount.fuse3 unshare; do
	if ! command -v "$c" >/dev/null 2>&1; then
		echo "SKIP: $c is missing"
		exit 77
	fi
done
if ! unshare --mount --propagation private true 2>/dev/null; then
	echo "SKIP: cannot make a mount namespace"
	exit 77
fi

start_fake || exit 1
mkdir -p "$WORK/bin" "$WORK/m1" "$WORK/m2" "$WORK/out"
ln -s "$IDRFS" "$WORK/bin/idrfs"
cat >"$WORK/fstab" <<EOF
# a line as in contrib/fstab.example
$FAKE_URL $WORK/m2 fuse.idrfs _netdev,noauto,user,nofail,ttl=600,timeout=30,cache_dir=$WORK/cache2,s3_scheme=http 0 0
EOF

# In the namespace: mount each way, read, list, note the daemon's PID,
# unmount. Results go to $WORK/out, checked below.
cat >"$WORK/ns.sh" <<'EOF'
set -u
W=$1 URL=$2
mount --bind "$W/bin" /usr/local/sbin || exit 1
# the daemon of a mount on $1, found by its own mountpoint argument
daemon_of() {
	local p
	for p in /proc/[0-9]*; do
		tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q "^idrfs .* $1 " &&
			echo "${p#/proc/}"
	done
}
attempt() { # name mountpoint mount-args...
	local name=$1 mnt=$2 i
	shift 2
	mount "$@" >"$W/out/$name.mount" 2>&1
	echo $? >"$W/out/$name.rc"
	daemon_of "$mnt" >"$W/out/$name.pid"
	for i in $(seq 1 50); do
		mountpoint -q "$mnt" && break
		sleep 0.1
	done
	grep " $mnt " /proc/self/mountinfo >"$W/out/$name.mountinfo"
	timeout 30 cat "$mnt/README.txt" >"$W/out/$name.readme" 2>&1
	timeout 30 ls "$mnt/projects" >"$W/out/$name.ls" 2>&1
	umount "$mnt" 2>"$W/out/$name.umount" || umount -l "$mnt"
	echo $? >"$W/out/$name.urc"
}
attempt t "$W/m1" -t fuse.idrfs "$URL" "$W/m1" \
	-o "cache_dir=$W/cache1,s3_scheme=http"
attempt fstab "$W/m2" -T "$W/fstab" "$W/m2"
EOF
timeout 120 unshare --mount --propagation private \
	bash "$WORK/ns.sh" "$WORK" "$FAKE_URL" >"$WORK/ns.out" 2>&1
check "the namespace script ran" test $? -eq 0
# the daemons end with their unmount; stop any left over, by PID
for name in t fstab; do
	for p in $(cat "$WORK/out/$name.pid" 2>/dev/null); do
		IDRFS_PIDS="$IDRFS_PIDS $p"
	done
done
for name in t fstab; do
	case $name in
	t) what="mount -t fuse.idrfs" ;;
	*) what="an fstab line (mount -T)" ;;
	esac
	check "$what: mount exits 0 ($(cat "$WORK/out/$name.mount" 2>/dev/null))" \
		test "$(cat "$WORK/out/$name.rc" 2>/dev/null)" = 0
	check "$what: a daemon serves it" test -s "$WORK/out/$name.pid"
	check "$what: the mount is fuse.idrfs, read-only" \
		grep -q " ro,.* - fuse.idrfs " "$WORK/out/$name.mountinfo"
	check "$what: README.txt reads" grep -q "mounted read-only" "$WORK/out/$name.readme"
	check "$what: a listing" grep -q "idr0802-synth-pixels_experimentB" "$WORK/out/$name.ls"
	check "$what: umount works" test "$(cat "$WORK/out/$name.urc" 2>/dev/null)" = 0
done
# a daemon ends when its mount goes
for name in t fstab; do
	p=$(cat "$WORK/out/$name.pid" 2>/dev/null)
	for _ in $(seq 1 50); do
		[ -n "$p" ] && kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	check "the daemon of $name has exited after the unmount" \
		bash -c "[ -n '$p' ] && ! kill -0 '$p' 2>/dev/null"
done
[ "$T_FAIL" -ne 0 ] && cat "$WORK/ns.out"
finish
