#!/bin/bash
# SPDX-License-Identifier: MIT
# The shared cache tier for real: Debian's squid, run with the caching
# rules of contrib/squid/squid.conf, in front of the fake archive. Three
# mounts with their own cache directories read one image at once through
# it; the archive serves each chunk and each listing page once. Then squid
# stops and a mount goes on DIRECT.
. "$(dirname "$0")/lib.sh"
need_fuse

if ! command -v squid >/dev/null && [ ! -x /usr/sbin/squid ]; then
	echo "ok 1 # skip squid is not installed"
	echo "1..1"
	exit 77
fi

start_fake || exit 1

NGINX_PID=
stop_nginx() {
	if [ -n "$NGINX_PID" ]; then
		kill "$NGINX_PID" 2>/dev/null
		wait "$NGINX_PID" 2>/dev/null
		NGINX_PID=
	fi
}
trap 'stop_nginx; cleanup' EXIT

# An https archive for proxy_https=forward: nginx with a certificate of
# our own in front of the fake server; squid trusts that certificate.
TLS="$WORK/tls"
mkdir -p "$TLS"
TLSPORT=$("$PYTHON3" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
HAVE_TLS=0
if command -v nginx >/dev/null && command -v openssl >/dev/null &&
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
		-addext "subjectAltName=IP:127.0.0.1" -keyout "$TLS/key.pem" \
		-out "$TLS/cert.pem" >/dev/null 2>&1; then
	cat >"$TLS/nginx.conf" <<EOF
daemon off;
master_process off;
pid $TLS/nginx.pid;
error_log $TLS/error.log;
events {}
http {
	access_log $TLS/access.log;
	client_body_temp_path $TLS/body;
	proxy_temp_path $TLS/proxy;
	fastcgi_temp_path $TLS/fastcgi;
	uwsgi_temp_path $TLS/uwsgi;
	scgi_temp_path $TLS/scgi;
	server {
		listen 127.0.0.1:$TLSPORT ssl;
		ssl_certificate $TLS/cert.pem;
		ssl_certificate_key $TLS/key.pem;
		location / { proxy_pass $FAKE_URL; }
	}
}
EOF
	nginx -c "$TLS/nginx.conf" >"$TLS/nginx.out" 2>&1 &
	NGINX_PID=$!
	for _ in $(seq 1 50); do
		curl -sf --cacert "$TLS/cert.pem" -o /dev/null "https://127.0.0.1:$TLSPORT/api/v0/" && HAVE_TLS=1 && break
		kill -0 "$NGINX_PID" 2>/dev/null || break
		sleep 0.1
	done
fi

SQ="$WORK/squid"
# squid trusts our certificate for the https archive
echo "tls_outgoing_options cafile=$TLS/cert.pem" >"$WORK/squid-extra.conf"
check "squid accepts the recipe and runs" start_squid "$SQ" "$WORK/squid-extra.conf"
if [ -z "$SQUID_PID" ]; then
	finish
	exit 1
fi
echo "# squid on 127.0.0.1:$SQPORT"

P="projects/idr0802-synth-pixels_experimentB"
T="$P/large/large 1 GiB.tif"
# 16 MiB of it: 2 MiB chunks (1024 x 1024 uint16), several of them
LEN=$((16 << 20))
BASE="s3_scheme=http,prefetch=0"

# The reference: a direct mount, no proxy. It ends before the counting
# starts (the kernel's read-ahead would go on past the 16 MiB).
U="$P/pixel types/type-uint16.tif"
check "direct mount" mount_idrfs "$FAKE_URL" "$WORK/d" "$BASE,cache_dir=$WORK/cd"
head -c $LEN "$WORK/d/$T" >"$WORK/ref.bin"
cp "$WORK/d/$U" "$WORK/ref-u.tif"
check "direct read of $LEN bytes" test "$(stat -c %s "$WORK/ref.bin")" -eq $LEN
umount_idrfs "$WORK/d"
DPID=${IDRFS_PIDS# }
DPID=${DPID%% *}
wait "$DPID" 2>/dev/null

fake_reset
PROXY="proxy=http://127.0.0.1:$SQPORT;DIRECT"
for n in 1 2 3; do
	check "mount $n through squid" mount_idrfs "$FAKE_URL" "$WORK/m$n" \
		"$BASE,$PROXY,cache_dir=$WORK/c$n,log_file=$WORK/idrfs$n.log"
done
# the three read at once, from the top (listings included)
pids=
for n in 1 2 3; do
	head -c $LEN "$WORK/m$n/$T" >"$WORK/copy$n.bin" &
	pids="$pids $!"
done
for p in $pids; do
	wait "$p"
done
for n in 1 2 3; do
	check "copy $n is the direct read, byte for byte" cmp -s "$WORK/copy$n.bin" "$WORK/ref.bin"
done

# What the archive served: each chunk once, each listing page and
# metadata object once (squid kept them, collapsed the concurrent misses).
counts=$(fake_get /__fake/stats | "$PYTHON3" -c '
import json, re, sys
paths = json.load(sys.stdin)["paths"]
meta = re.compile(r"(\.zattrs|\.zarray|\.zgroup|zarr\.json)$")
chunks = {p: n for p, n in paths.items() if p.startswith("/idr/zarr/") and not meta.search(p)}
pages = {p: n for p, n in paths.items() if p not in chunks}
sys.stderr.write("# pages and metadata: %s\n" % " ".join(sorted(pages)))
for p, n in sorted(chunks.items()):
    if n > 1:
        sys.stderr.write("# chunk served %d times: %s\n" % (n, p))
print(len(chunks), sum(chunks.values()), len(pages), sum(pages.values()),
      " ".join("%s=%d" % (p, n) for p, n in sorted(pages.items()) if n > 1) or "-")')
read -r nchunks chunk_reqs npages page_reqs repeated <<<"$counts"
echo "# origin: $chunk_reqs requests for $nchunks distinct chunks, $page_reqs for $npages listing pages and metadata objects"
check "several chunks were read ($nchunks)" test "$nchunks" -ge 4
check "the archive served each chunk once ($chunk_reqs requests <= 1.05 x $nchunks)" \
	test $((chunk_reqs * 100)) -le $((nchunks * 105))
check "and each listing page and metadata object once ($page_reqs for $npages; repeated: $repeated)" \
	test "$page_reqs" -eq "$npages"
for p in $(fake_get /__fake/stats | "$PYTHON3" -c '
import json, sys
print(" ".join(p for p, n in json.load(sys.stdin)["paths"].items() if n > 1))'); do
	grep -F "$p " "$SQ/access.log" | sed 's/^/#   /'
done
echo "# squid's answers:" $(awk '{ sub("/.*", "", $4); print $4 }' "$SQ/access.log" | sort | uniq -c)

check ".idrfs/stats names the proxy, no failover" \
	grep -q "^proxy  *http://127.0.0.1:$SQPORT (0 failovers)" "$WORK/m1/.idrfs/stats"
check ".idrfs/stats.json too" "$PYTHON3" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["proxy"] == sys.argv[2] and d["proxy_failovers"] == 0, d' \
	"$WORK/m1/.idrfs/stats.json" "http://127.0.0.1:$SQPORT"

# https through squid (proxy_https=forward): two mounts of the https
# archive, the second served by squid alone.
if [ $HAVE_TLS = 1 ]; then
	FWD="$BASE,proxy=http://127.0.0.1:$SQPORT,proxy_https=forward"
	HURL="https://127.0.0.1:$TLSPORT/"
	check "https mount 1 through squid (forward)" mount_idrfs "$HURL" "$WORK/h1" \
		"$FWD,cache_dir=$WORK/hc1,log_file=$WORK/idrfs-h1.log"
	check "https mount 1 reads the image right" cmp -s "$WORK/h1/$U" "$WORK/ref-u.tif"
	ls "$WORK/h1/$P/pixel types" >/dev/null
	umount_idrfs "$WORK/h1"
	before=$(fake_total)
	check "https mount 2, another cache" mount_idrfs "$HURL" "$WORK/h2" \
		"$FWD,cache_dir=$WORK/hc2,log_file=$WORK/idrfs-h2.log"
	check "https mount 2 reads the image right" cmp -s "$WORK/h2/$U" "$WORK/ref-u.tif"
	ls "$WORK/h2/$P/pixel types" >/dev/null
	after=$(fake_total)
	check "squid answered mount 2 alone ($((after - before)) requests reached the archive)" \
		test "$after" -eq "$before"
	check "squid got the https:// URLs in plain HTTP, and kept them" \
		grep -q "_HIT/200 .* GET https://127.0.0.1:$TLSPORT/api/v0/" "$SQ/access.log"
	umount_idrfs "$WORK/h2"
else
	echo "ok # skip https forward: nginx or openssl missing, or nginx did not start"
	tail -n 3 "$TLS/nginx.out" "$TLS/error.log" 2>/dev/null | sed 's/^/# /'
fi

# The head node goes away: the mount goes on DIRECT, at once.
stop_squid
check "with squid stopped, a new image reads right (DIRECT)" cmp -s "$WORK/m1/$U" "$WORK/ref-u.tif"
check ".idrfs/stats shows DIRECT and the failover" \
	grep -q "^proxy  *DIRECT ([1-9][0-9]* failovers)" "$WORK/m1/.idrfs/stats"
finish
