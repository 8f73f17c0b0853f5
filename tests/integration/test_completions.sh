#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Shell completion against a real nexusd, in real bash, zsh and fish: sandbox IDs and template
# names come from nexusd (with --socket on the command line too), a stopped sandbox is no
# longer offered, and commands and flags complete as without it (tests/cli checks those in
# full). A shell that is not installed makes the test skipped (77) once the others pass.
. "$(dirname "$0")/lib.sh"
require_env
: "${COMPLETION_BASH:=$NEXUS_BIN_DIR/completions/nexus}"
: "${COMPLETION_ZSH:=$NEXUS_BIN_DIR/completions/_nexus}"
: "${COMPLETION_FISH:=$NEXUS_BIN_DIR/completions/nexus.fish}"
export COMPLETION_BASH COMPLETION_ZSH COMPLETION_FISH
. "$(dirname "$0")/../cli/test_completion_drivers.sh"
for f in "$COMPLETION_BASH" "$COMPLETION_ZSH" "$COMPLETION_FISH"; do
  [ -r "$f" ] || skip "completion script $f not built"
done
export PATH="$NEXUS_BIN_DIR/cli:$PATH"

shells=() skipped=()
for sh in bash zsh fish; do
  why=$(shell_missing "$sh")
  if [ -z "$why" ]; then shells+=("$sh"); else skipped+=("$sh: $why"); fi
done
[ "${#shells[@]}" -gt 0 ] || skip "no shell to test: ${skipped[*]}"

trap finish EXIT
start_daemon || exit 1

on_finish() {
  if [ "$FAILURES" -eq 0 ] && [ "${#skipped[@]}" -gt 0 ]; then
    echo "SKIP: not tested in ${skipped[*]}"
    exit 77
  fi
}

SB=$(new_sandbox demo --ttl 5) || { fail "cannot create a sandbox"; exit 1; }
OTHER=$(new_sandbox --ttl 5) || { fail "cannot create a second sandbox"; exit 1; }
check "the second sandbox stops" "$NEXUS" sandbox stop -q "$OTHER"
expect_contains "nexusd lists the sandbox" "$SB" "$("$NEXUS" sandbox list -q)"

# matches SHELL LINE: the matches, one per line, sorted.
matches() { complete_in "$1" "$2" | LC_ALL=C sort -u; }
offered() { printf '%s\n' "$2" | grep -qx -- "$1" && echo yes || echo no; }  # ID LIST

for sh in "${shells[@]}"; do
  note "$sh"
  out=$(matches "$sh" "nexus sandbox st")
  expect_eq "$sh: 'nexus sandbox st' offers status and stop" "$(printf 'status\nstop')" "$out"

  # Other tests share the state root, so their running sandboxes may be offered too.
  out=$(matches "$sh" "nexus sandbox run ")
  expect_eq "$sh: 'nexus sandbox run ' offers the running sandbox, not the stopped one" "yes no" \
    "$(offered "$SB" "$out") $(offered "$OTHER" "$out")"
  out=$(matches "$sh" "nexus sandbox status ${SB:0:6}")
  expect_eq "$sh: an ID's prefix completes to the ID" "$SB" "$out"
  out=$(matches "$sh" "nexus sandbox exec --cwd /tmp ")
  expect_eq "$sh: exec's ID after an option and its value" yes "$(offered "$SB" "$out")"

  out=$(matches "$sh" "nexus sandbox create --template ")
  expect_contains "$sh: --template offers the templates" "ai-agent-default" "$out"
  out=$(matches "$sh" "nexus sandbox create -t ai-agent-d")
  expect_eq "$sh: -t completes a template name" "ai-agent-default" "$out"
  out=$(matches "$sh" "nexus template show ")
  expect_contains "$sh: template show offers the templates" "ai-agent-default" "$out"
  expect_eq "$sh: the templates are nexusd's" "$("$NEXUS" template list -q | LC_ALL=C sort -u)" "$out"

  # --socket on the command line is the nexusd asked.
  out=$(NEXUS_SOCKET=$RUN/elsewhere.sock matches "$sh" "nexus --socket $SOCK sandbox pause ")
  expect_eq "$sh: IDs from the nexusd of --socket" yes "$(offered "$SB" "$out")"
  out=$(NEXUS_SOCKET=$RUN/elsewhere.sock matches "$sh" "nexus sandbox pause ")
  expect_eq "$sh: no IDs from a socket where no nexusd is" "" "$out"

  out=$(matches "$sh" "nexus sandbox create --te")
  expect_eq "$sh: flags complete" "--template" "$out"
done
