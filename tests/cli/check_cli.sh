#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Checks of the real `nexus` binary: check_cli.sh MODE NEXUS [VERSION]
set -u
mode=$1 nexus=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
case $mode in
  help)
    out=$("$nexus" --help) || fail "--help exited $?"
    echo "$out" | grep -q "Exit status" || fail "--help does not document exit statuses"
    echo "$out" | grep -q "sandbox" || fail "--help does not list 'sandbox'"
    "$nexus" sandbox run --help >/dev/null || fail "sandbox run --help exited $?" ;;
  version)
    out=$("$nexus" --version) || fail "--version exited $?"
    [ "$out" = "nexus $3" ] || fail "--version printed '$out', expected 'nexus $3'" ;;
  usage)
    "$nexus" sandbox frobnicate >/dev/null 2>&1; rc=$?
    [ $rc -eq 2 ] || fail "unknown command exited $rc, expected 2"
    "$nexus" sandbox run sb_x -l ruby -c 1 >/dev/null 2>&1; rc=$?
    [ $rc -eq 2 ] || fail "bad language exited $rc, expected 2" ;;
  unreachable)
    sock=${TMPDIR:-/tmp}/nexus-absent-$$.sock
    err=$("$nexus" --socket "$sock" sandbox list 2>&1 >/dev/null); rc=$?
    [ $rc -eq 3 ] || fail "absent daemon exited $rc, expected 3"
    case $err in "nexus: cannot connect to nexusd at $sock: "*"(is nexusd running?)") ;;
      *) fail "unexpected message: $err" ;; esac
    NEXUS_SOCKET=$sock "$nexus" sandbox exec sb_x -- true >/dev/null 2>&1; rc=$?
    [ $rc -eq 125 ] || fail "exec with absent daemon exited $rc, expected 125" ;;
  *) fail "unknown mode $mode" ;;
esac
exit 0
