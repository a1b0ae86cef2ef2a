#!/bin/sh
# SPDX-License-Identifier: MIT
# Install what idrfs needs to build, run and test on Debian 12.
# (make fuzz: clang-14 with its libFuzzer runtime, which Debian ships in
# libclang-rt-14-dev; libfuzzer-14-dev is only the standalone libFuzzer.a)
set -e
PKGS="build-essential autoconf automake pkg-config fuse3 libfuse3-dev
libcurl4-openssl-dev libjansson-dev libcmocka-dev liblmdb-dev libtiff-dev
libzstd-dev libblosc-dev zlib1g-dev python3 python3-numpy python3-zarr
python3-numcodecs python3-tifffile curl attr groff-base ca-certificates
imagej xvfb xauth httpdirfs rclone nginx clang-14 libclang-rt-14-dev rsync
squid libsystemd-dev libtiff-tools libxml2-utils"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
missing=
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	$SUDO apt-get update -qq
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
fi
