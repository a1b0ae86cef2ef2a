#!/bin/bash
# SPDX-License-Identifier: MIT
# The man page renders without warnings and documents every option.
. "$(dirname "$0")/lib.sh"

man="$top_srcdir/man/idrfs.1"
if command -v groff >/dev/null 2>&1; then
	warn=$(groff -man -ww -z "$man" 2>&1)
	check "groff renders idrfs.1 without warnings" test -z "$warn"
	[ -z "$warn" ] || echo "$warn"
fi
for o in $("$IDRFS" --help | sed -n 's/^ *-o \([a-z_]*\)=.*/\1/p'); do
	check "idrfs.1 documents -o $o" grep -q "^\\.BI\\? *\"\\?$o=" "$man"
done
for s in "SYNOPSIS" "OPTIONS" "EXAMPLES" "TROUBLESHOOTING" "FILES" "SEE ALSO"; do
	check "idrfs.1 has a $s section" grep -q "^\\.SH \"\\?$s" "$man"
done
finish
