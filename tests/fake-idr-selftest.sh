#!/bin/bash
# SPDX-License-Identifier: MIT
# The fake IDR server checks itself against idr-api.md's shapes.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${PYTHON3:=/usr/bin/python3}"
exec timeout 300 "$PYTHON3" "$top_srcdir/tests/fake-idr/selftest.py"
