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

# idrfs-warmup(1): renders, documents each of its options
wman="$top_srcdir/man/idrfs-warmup.1"
if command -v groff >/dev/null 2>&1; then
	warn=$(groff -man -ww -z "$wman" 2>&1)
	check "groff renders idrfs-warmup.1 without warnings" test -z "$warn"
	[ -z "$warn" ] || echo "$warn"
fi
for o in $("$top_builddir/src/idrfs-warmup" --help |
	sed -n 's/^ *\(-[a-zA-Z] *\)\{0,1\}\(--[a-z-]*\).*/\2/p'); do
	check "idrfs-warmup.1 documents $o" grep -qF -- "${o//-/\\-}" "$wman"
done
for s in "SYNOPSIS" "OPTIONS" "EXIT STATUS" "EXAMPLES" "SEE ALSO"; do
	check "idrfs-warmup.1 has a $s section" grep -q "^\.SH \"\?$s" "$wman"
done
check "idrfs.1 refers to idrfs-warmup(1)" grep -qF -- ".BR idrfs\\-warmup (1)" "$man"
finish
