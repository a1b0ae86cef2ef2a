#!/bin/bash
# SPDX-License-Identifier: MIT
# The command line: help, version, and a clear error for each mistake.
. "$(dirname "$0")/lib.sh"

help=$("$IDRFS" --help 2>&1)
check "--help exits 0" test $? -eq 0
for o in cache_dir= timeout= max_conns= ttl= log_file= trace= notify_pipe= proxy= \
	mem= "default 128M" "status MOUNTPOINT" \
	"default 30" "default 8" "default 86400" "FUSE options"; do
	check "--help mentions '$o'" grep -q -- "$o" <<<"$help"
done
ver=$("$IDRFS" -V 2>&1)
check "-V prints our version and FUSE's" \
	bash -c '[[ "$1" == *"idrfs version"* && "$1" == *"FUSE library version"* ]]' _ "$ver"
ver2=$("$IDRFS" --version 2>&1)
check "--version exits 0 and prints the same" test $? -eq 0 -a "$ver2" = "$ver"

expect_fail() {
	local what=$1 pattern=$2
	shift 2
	local out rc
	out=$(timeout 10 "$IDRFS" "$@" 2>&1)
	rc=$?
	if [ $rc -eq 1 ] && grep -q -- "$pattern" <<<"$out"; then
		ok "$what"
	else
		not_ok "$what (rc $rc: $out)"
	fi
}

mkdir -p "$WORK/m"
expect_fail "no mountpoint" "no mountpoint" -f
expect_fail "unknown option" "unknown option" -f -o bogus=1 http://127.0.0.1:9/ "$WORK/m"
expect_fail "bad URL" "is not an http" -f ftp://x/ "$WORK/m"
expect_fail "timeout=0" "timeout=0 is out of range" -f -o timeout=0 "$WORK/m"
expect_fail "max_conns too big" "max_conns=999 is out of range" -f -o max_conns=999 "$WORK/m"
expect_fail "bad trace word" "unknown trace component 'nope'" -f -o trace=nope "$WORK/m"
expect_fail "bad trace word in a list" "unknown option(s): \`-o nope'" -f -o trace=http,nope "$WORK/m"
expect_fail "a trace list keeps its commas, later options still count" \
	"unknown option(s): \`-o bogus'" -f -o trace=http,api,-fuse,bogus "$WORK/m"
expect_fail "a bad proxy entry is named" "proxy entry 'head:3128' is not DIRECT" \
	-f -o "proxy=http://a:3128;head:3128" "$WORK/m"
expect_fail "startup_jitter not below timeout" "startup_jitter=30 must be below timeout=30" \
	-f -o startup_jitter=30 "$WORK/m"
expect_fail "proxy_https takes tunnel or forward" "proxy_https=plain is not 'tunnel' or 'forward'" \
	-f -o proxy_https=plain "$WORK/m"
expect_fail "three positionals" "unexpected argument" -f http://a/ "$WORK/m" extra
expect_fail "unwritable log file" "cannot open log file" -f -o log_file=/nonexistent/x/log "$WORK/m"
expect_fail "mem= not a size" "mem=lots is not a size" -f -o mem=lots "$WORK/m"
expect_fail "mem= too small" "mem=8M is out of range (16M..1T)" -f -o mem=8M "$WORK/m"
expect_fail "status of a directory that is no mount" "'$WORK/m' is not an idrfs mount" status "$WORK/m"
expect_fail "status of nothing" "No such file or directory" status "$WORK/nothing"
finish
