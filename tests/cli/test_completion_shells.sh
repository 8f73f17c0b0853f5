#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# test_completion_shells.sh SHELL NEXUS BASH_SCRIPT ZSH_SCRIPT FISH_SCRIPT: nexus's completion
# in a real SHELL (bash, zsh or fish), with no nexusd: every group's commands and every
# command's options against what `nexus ... --help` lists, option and positional values, and
# nothing (quickly) where only nexusd could answer. Skipped (77) when SHELL is not installed.
# tests/integration/test_completions.sh checks the values that come from a running nexusd.
set -u
shell=$1 nexus=$2
COMPLETION_BASH=$(realpath "$3") COMPLETION_ZSH=$(realpath "$4") COMPLETION_FISH=$(realpath "$5")
export COMPLETION_BASH COMPLETION_ZSH COMPLETION_FISH
. "$(dirname "$0")/test_completion_drivers.sh"
why=$(shell_missing "$shell")
[ -z "$why" ] || { echo "SKIP: $why"; exit 77; }
PATH="$(cd "$(dirname "$nexus")" && pwd):$PATH"
export PATH
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export NEXUS_SOCKET=$WORK/absent/nexus.sock  # no nexusd here
FAILURES=0 CHECKS=0
ok() { CHECKS=$((CHECKS + 1)); echo "ok - $shell: $*"; }
fail() { FAILURES=$((FAILURES + 1)); echo "FAIL: $shell: $*"; }

# matches LINE: what the shell offers, sorted, without a directory's trailing '/'.
matches() { complete_in "$shell" "$1" | sed 's#/$##' | LC_ALL=C sort -u; }

# expect_matches LINE WORD...: the shell offers exactly the WORDs.
expect_matches() {
  local line=$1 got want
  shift
  got=$(matches "$line")
  want=$(sorted_words "$@")
  if [ "$got" = "$want" ]; then ok "'$line' offers: $(echo $want)"
  else fail "'$line' offers [$(echo $got)], expected [$(echo $want)]"; fi
}

# expect_includes LINE WORD...: the shell offers at least the WORDs.
expect_includes() {
  local line=$1 got w missing=''
  shift
  got=$(matches "$line")
  for w in "$@"; do grep -qxF -- "$w" <<<"$got" || missing+=" $w"; done
  if [ -z "$missing" ]; then ok "'$line' offers $*"
  else fail "'$line' does not offer$missing (it offers: $(echo $got))"; fi
}

# The installed script is the one `nexus completion SHELL` prints.
case $shell in bash) file=$COMPLETION_BASH ;; zsh) file=$COMPLETION_ZSH ;; fish) file=$COMPLETION_FISH ;; esac
if cmp -s "$file" <("$nexus" completion "$shell"); then ok "the built script is nexus completion $shell"
else fail "$file differs from nexus completion $shell"; fi

# The issue's own example.
expect_matches "nexus sandbox st" status stop

# Every group's commands and every command's options, as the parser's help lists them.
help_subcommands() { "$nexus" $1 --help | awk '/^Subcommands:/ { s = 1; next } /^$/ { s = 0 } s { print $1 }'; }
help_options() {
  "$nexus" $1 --help | awk '/^Options:/ { s = 1; next } /^[^ ]/ { s = 0 } s && $1 ~ /^-/ { print $1 }' | tr ',' '\n'
}
groups=('') commands=0
while [ "${#groups[@]}" -gt 0 ]; do
  path=${groups[0]}
  groups=("${groups[@]:1}")
  subs=$(help_subcommands "$path")
  if [ -z "$path" ]; then
    # `completion` is not in the table (nor in --help) but completes like a command.
    expect_matches "nexus " $subs completion
  else
    expect_matches "nexus $path " $subs
  fi
  for s in $subs; do
    child=${path:+$path }$s
    if [ -n "$(help_subcommands "$child")" ]; then
      groups+=("$child")
    else
      commands=$((commands + 1))
      expect_includes "nexus $child -" $(help_options "$child") --socket
    fi
  done
done
[ "$commands" -ge 20 ] && ok "$commands commands checked" || fail "only $commands commands found in --help"

expect_matches "nexus sandbox create --te" --template
expect_matches "nexus sandbox run sb_x --t" --timeout
expect_matches "nexus sandbox create --isolation " auto microvm jail
expect_matches "nexus sandbox create --isolation mi" microvm
expect_matches "nexus sandbox run sb_x -l " python javascript bash
expect_matches "nexus sandbox run sb_x --language j" javascript
expect_matches "nexus completion " bash zsh fish
if [ "$shell" != fish ]; then
  # fish offers "--isolation=auto"...: checked below.
  expect_matches "nexus sandbox create --isolation=" auto microvm jail
else
  expect_matches "nexus sandbox create --isolation=" --isolation=auto --isolation=microvm --isolation=jail
fi

# Paths on this host: -f takes a file, --context a directory.
mkdir -p "$WORK/ctx/subdir" "$WORK/ctx/subway" && touch "$WORK/ctx/Nexusfile" "$WORK/ctx/subfile"
cd "$WORK/ctx" || exit 1
expect_matches "nexus template build py -f Nexus" Nexusfile
expect_matches "nexus sandbox run sb_x --file Nex" Nexusfile
expect_matches "nexus template build py --context sub" subdir subway
cd - >/dev/null || exit 1

# Values only nexusd knows: none without it, and promptly.
for line in "nexus sandbox run " "nexus sandbox create --template " "nexus image rm " \
            "nexus --socket $WORK/absent.sock template show "; do
  start=$(date +%s%N)
  expect_matches "$line"
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  [ "$ms" -lt 5000 ] && ok "'$line' answered in ${ms} ms" || fail "'$line' took ${ms} ms without nexusd"
done
# After --, exec's command: nothing from nexus.
expect_matches "nexus sandbox exec sb_x -- "

echo "# $CHECKS checks passed, $FAILURES failed"
[ "$FAILURES" -eq 0 ]
