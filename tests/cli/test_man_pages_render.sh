#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# test_man_pages_render.sh PAGE...: each page built by scdoc renders with man -l, without a
# groff warning, and has its NAME, SYNOPSIS and SEE ALSO sections. No pages (scdoc is not
# installed, so none were built): skipped.
set -u
[ "$#" -gt 0 ] || { echo "SKIP: scdoc is not installed (Debian package scdoc): no man pages were built"; exit 77; }
command -v man >/dev/null || { echo "SKIP: man is not installed (Debian package man-db)"; exit 77; }
failed=0
for page in "$@"; do
  name=$(basename "$page")
  out=$(MANWIDTH=80 MANPAGER=cat man --warnings -l "$page" 2>"$page.warnings") || {
    echo "FAIL: man -l $name exited $?"; failed=1; continue; }
  if [ -s "$page.warnings" ]; then
    echo "FAIL: man -l $name warns:"; sed 's/^/  /' "$page.warnings"; failed=1
  fi
  for section in NAME SYNOPSIS "SEE ALSO"; do
    printf '%s\n' "$out" | grep -qx "$section" || { echo "FAIL: $name has no $section section"; failed=1; }
  done
  title=${name%.*}
  printf '%s\n' "$out" | head -1 | grep -q "^$title(" || { echo "FAIL: $name's header is not $title(...)"; failed=1; }
  rm -f "$page.warnings"
  [ "$failed" = 0 ] && echo "ok - $name renders"
done
exit "$failed"
