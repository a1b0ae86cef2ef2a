#!/bin/bash
# SPDX-License-Identifier: MIT
# Install dependencies, build idrfs and mount an archive at ./idr-demo:
#   ./demo.sh            the bundled fake IDR server (started on 127.0.0.1)
#   ./demo.sh URL        any IDR-style server, e.g. https://idr.openmicroscopy.org
#   ./demo.sh stop       unmount and stop the fake server
set -eu
cd "$(dirname "$0")"
top=$PWD
mnt="$top/idr-demo"
state="$top/build/demo"

stop() {
	fusermount3 -u "$mnt" 2>/dev/null || true
	if [ -f "$state/fake.pid" ]; then
		kill "$(cat "$state/fake.pid")" 2>/dev/null || true
		rm -f "$state/fake.pid"
	fi
}

if [ "${1:-}" = stop ]; then
	stop
	echo "idrfs demo stopped"
	exit 0
fi

sh contrib/deps.sh
[ -x configure ] || autoreconf -fi
mkdir -p build
(cd build && { [ -f Makefile ] || ../configure -q; } && make -s -j"$(nproc)")
mkdir -p "$state" "$mnt"
stop

url=${1:-}
opts="log_file=$state/idrfs.log"
if [ -z "$url" ]; then
	# the fake server's Zarr and its download root of original files
	# live on itself, over plain http
	: >"$state/fake.out"
	/usr/bin/python3 tests/fake-idr/fake_idr.py --port 0 --latency-ms 20 \
		>"$state/fake.out" 2>"$state/fake.err" &
	echo $! >"$state/fake.pid"
	for _ in $(seq 1 100); do
		url=$(head -n 1 "$state/fake.out")
		[ -n "$url" ] && break
		sleep 0.1
	done
	[ -n "$url" ] || { cat "$state/fake.err"; exit 1; }
	echo "fake IDR server at $url (20 ms latency)"
	opts="$opts,s3_scheme=http,originals_root=${url}pub/databases/IDR"
fi
build/src/idrfs -o "$opts" "$url" "$mnt"
echo "mounted $url at $mnt"
ls "$mnt"
echo "log: $state/idrfs.log"
echo "unmount with: ./demo.sh stop   (or: fusermount3 -u $mnt)"
