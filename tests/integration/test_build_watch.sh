#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# `nexus template build-watch` and `template watch` on real builds: the live full-screen view
# is run in tmux and read back with capture-pane (steps with their state, the header, a
# redraw after the window is resized, the end of the view with the build), then plain and
# JSON output. The builds start FROM the fixture registry's tools/shell:v1 image.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root (nexusd runs the build sandboxes)"
[ -x "$NEXUS" ] && [ -x "$NEXUSD" ] && [ -x "$AGENT" ] || skip "binaries not built in $NEXUS_BIN_DIR"
for tool in tmux docker-registry openssl python3 jq curl busybox; do
  command -v "$tool" >/dev/null || skip "needs $tool (tools/deps.sh lists its package)"
done
. "$(dirname "$0")/registry.sh"
mkdir -p "$NEXUS_TEST_ROOT"

WORK=$(mktemp -d /var/tmp/nexus-build-watch.XXXXXX)
ROOT="$WORK/root"
mkdir -p "$ROOT"
TMUX_SOCKET="nexus-build-watch-$$"
tm() { tmux -L "$TMUX_SOCKET" "$@"; }
on_finish() {
  tm kill-server 2>/dev/null
  stop_registry_fixture
  rm -rf "$WORK"
}
trap finish EXIT
start_registry_fixture || exit 1
SHELL_IMAGE="$REG/tools/shell:v1"
[ "$(echo "$INFO" | jq -r '.images["tools/shell:v1"] != null')" = true ] ||
  { fail "the registry fixture has no tools/shell:v1 (no busybox?)"; exit 1; }
start_daemon || exit 1

# start_build NAME NEXUSFILE -> prints the build id
start_build() {
  local body out
  body=$(jq -n --arg name "$1" --arg nf "$2" '{name: $name, nexusfile: $nf}')
  out=$(api POST /v1/templates "$body")
  echo "$out" | head -1 | jq -r '.build_id // empty'
}
screen() { tm capture-pane -p -t w; }
# wait_screen TEXT [SECONDS]: until the pane shows TEXT
wait_screen() {
  local i
  for i in $(seq 1 $((${2:-60} * 5))); do
    screen | grep -qF -- "$1" && return 0
    sleep 0.2
  done
  return 1
}

NF="FROM $SHELL_IMAGE
RUN echo first step; sleep 3
RUN echo second step; sleep 3
ENV GREETING=hi
CMD [\"sleep\", \"600\"]"
BID=$(start_build watched "$NF")
case "$BID" in bld_*) ok "a build starts (build $BID)" ;; *) fail "POST /v1/templates gave no build id"; exit 1 ;; esac

# ---- the live view, in a terminal of 100x30 ----
tm new-session -d -s w -x 100 -y 30 \
  "NEXUS_SOCKET='$SOCK' '$NEXUS' template build-watch $BID; echo EXIT=\$?; sleep 120"
check "the view shows a running step" wait_screen "[>]" 90
s=$(screen)
expect_contains "the header names the template" "nexus: template watched  [building]" "$s"
expect_contains "the header names the build" "$BID" "$(echo "$s" | head -1)"
expect_contains "the checklist lists the RUN steps" "3. RUN echo second step; sleep 3" "$s"
expect_contains "the checklist lists FROM first" "1. FROM $SHELL_IMAGE" "$s"
check "the log tail shows the build's output" wait_screen " first step" 60

tm resize-window -t w -x 50 -y 16
sleep 1
s=$(screen)
widest=$(echo "$s" | awk '{ if (length($0) > w) w = length($0) } END { print w + 0 }')
check "after a resize every line fits 50 columns (widest: $widest)" test "$widest" -le 50
expect_contains "after a resize the header is still on top" "nexus: template watched" "$(echo "$s" | head -1)"
expect_eq "after a resize the view fills the 16 rows, no more" 16 "$(tm display -p -t w '#{pane_height}')"

check "the view ends with the build" wait_screen "EXIT=" 180
s=$(screen)
expect_contains "build-watch exits 0 when the build succeeds" "EXIT=0" "$s"
expect_contains "what stays on the terminal: the outcome" "[built]" "$s"
expect_contains "what stays on the terminal: the steps, done" "[x]  3. RUN echo second step" "$s"
tm kill-session -t w

# ---- plain lines and JSON (a finished build replays its events) ----
out=$("$NEXUS" template build-watch "$BID"); rc=$?
expect_eq "plain build-watch of a finished build exits 0" 0 "$rc"
expect_contains "plain lines: the step checklist" "[3/5] done RUN echo second step; sleep 3" "$out"
expect_contains "plain lines: the log" "    second step" "$out"
expect_contains "plain lines: the outcome" "Built template watched" "$out"
"$NEXUS" template build-watch "$BID" --json >"$WORK/events.jsonl"
expect_eq "--json: every line is an event" true "$(jq -s 'all(.[]; type == "object" and has("type"))' "$WORK/events.jsonl")"
expect_eq "--json: the first event is the build" build "$(head -1 "$WORK/events.jsonl" | jq -r .type)"
expect_eq "--json: the last event is done" done "$(tail -1 "$WORK/events.jsonl" | jq -r .type)"

# ---- watch NAME ----
err=$("$NEXUS" template watch watched 2>&1); rc=$?
expect_eq "watch with no build running exits 4" 4 "$rc"
expect_contains "watch with no build running says so" "has no build running" "$err"
BID2=$(start_build watched "$NF")
first=$("$NEXUS" template watch watched --json | head -1)
expect_eq "watch NAME follows the template's running build" "$BID2" "$(echo "$first" | jq -r .build_id)"
"$NEXUS" template build-watch "$BID2" -q; rc=$?
expect_eq "build-watch -q waits for the build and exits 0" 0 "$rc"

# ---- a failing build ----
BAD=$(start_build broken "FROM $SHELL_IMAGE
RUN echo about to fail; exit 3")
tm new-session -d -s w -x 100 -y 30 \
  "NEXUS_SOCKET='$SOCK' '$NEXUS' template build-watch $BAD; echo EXIT=\$?; sleep 120"
check "the failing build's view ends" wait_screen "EXIT=" 180
s=$(screen)
expect_contains "build-watch exits 1 when the build fails" "EXIT=1" "$s"
expect_contains "the failure is on the terminal" "nexus: build failed:" "$s"
expect_contains "the failed step is marked" "[!]  2. RUN echo about to fail; exit 3" "$s"
tm kill-session -t w
