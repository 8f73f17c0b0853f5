#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# nexus template build -f Nexusfile through a real nexusd: FROM an image pulled from the
# registry fixture (tests/oci/registry_fixture.py; a busybox image pushed by
# push_busybox.py), RUN/COPY/ENV/WORKDIR/USER/CMD, the build events, defaults, a sandbox
# from the template, failures, PATCH/DELETE and a restart. A private state root.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root (nexusd, jail build sandboxes)"
[ -x "$NEXUS" ] && [ -x "$NEXUSD" ] && [ -x "$AGENT" ] || skip "binaries not built in $NEXUS_BIN_DIR"
for tool in docker-registry openssl python3 jq curl; do
  command -v "$tool" >/dev/null || skip "needs $tool (apt-get install docker-registry openssl python3 jq curl)"
done
[ -x /bin/busybox ] && file -L /bin/busybox 2>/dev/null | grep -q static || skip "needs a static /bin/busybox (apt-get install busybox-static)"
HERE="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$NEXUS_TEST_ROOT" && : >"$DAEMON_LOG"

WORK=$(mktemp -d /var/tmp/nexus-tplbuild.XXXXXX)
ROOT="$WORK/root"
mkdir -p "$WORK/registries" "$ROOT"
mkfifo "$WORK/fixture.in"
python3 "$HERE/../oci/registry_fixture.py" "$WORK/registries" <"$WORK/fixture.in" >"$WORK/fixture.out" 2>"$WORK/fixture.err" &
FIXTURE_PID=$!
exec 9>"$WORK/fixture.in"
on_finish() {
  exec 9>&-
  wait "$FIXTURE_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap finish EXIT
[ -n "${KEEP_WORK:-}" ] && on_finish() { exec 9>&-; }
for _ in $(seq 1 600); do
  [ -s "$WORK/fixture.out" ] && break
  kill -0 "$FIXTURE_PID" 2>/dev/null || break
  sleep 0.1
done
INFO=$(head -1 "$WORK/fixture.out")
REG=$(echo "$INFO" | jq -r .registry 2>/dev/null)
[ -n "$REG" ] && [ "$REG" != null ] || { fail "registry fixture did not start: $(tail -5 "$WORK/fixture.err")"; exit 1; }
python3 "$HERE/push_busybox.py" "$REG" test/busybox:v1 >"$WORK/push.out" 2>&1 || { fail "push: $(cat "$WORK/push.out")"; exit 1; }
IMAGE="$REG/test/busybox:v1"
start_daemon || exit 1

# --- the build context and the Nexusfile
CTX="$WORK/ctx"
mkdir -p "$CTX/app/lib" "$CTX/skipped"
echo "copied content" >"$CTX/app/hello.txt"
echo "lib" >"$CTX/app/lib/x.py"
echo "secret" >"$CTX/skipped/secret"
ln -s /etc/shadow "$CTX/app/escape"   # copied as a link, never followed
echo "skipped" >"$CTX/.nexusignore"
cat >"$CTX/Nexusfile" <<NF
FROM $IMAGE
ENV GREETING=hello MODE=build
RUN echo "step output \$GREETING" && echo built > /built.txt && rm -rf /old/gone.txt
WORKDIR /srv/app
COPY --chown=app:app app/ ./
RUN id -un > /srv/app/run_user.txt
USER app
RUN id -un > /home/app/as_user.txt && pwd > /home/app/cwd.txt
CMD ["/bin/sleep", "3600"]
NF

"$NEXUS" template build tpl -f "$CTX/Nexusfile" --memory 256 --env EXTRA=1 --restart always --json >"$WORK/build.jsonl"; rc=$?
expect_eq "template build -f exits 0" 0 "$rc"
expect_eq "the first event is build with the steps" "build 9 FROM $IMAGE" \
  "$(head -1 "$WORK/build.jsonl" | jq -r '"\(.type) \(.steps | length) \(.steps[0].text)"')"
expect_eq "the build event names the template and an id" "tpl bld_" \
  "$(head -1 "$WORK/build.jsonl" | jq -r '"\(.template) \(.build_id[0:4])"')"
expect_eq "every step runs and is done" "1 2 3 4 5 6 7 8 9" \
  "$(jq -r 'select(.type == "step" and .state == "done") | .index' "$WORK/build.jsonl" | tr '\n' ' ' | sed 's/ $//')"
expect_eq "done steps carry elapsed_ms" true \
  "$(jq -s '[.[] | select(.type == "step" and .state == "done")] | all(has("elapsed_ms"))' "$WORK/build.jsonl")"
expect_eq "the pull's events pass through" true "$(jq -s 'any(.[]; .type == "resolved")' "$WORK/build.jsonl")"
expect_eq "RUN output is a log event of its step" 3 \
  "$(jq -r 'select(.type == "log" and .line == "step output hello") | .step' "$WORK/build.jsonl")"
expect_eq "the last event is done with the template" "done ready" \
  "$(tail -1 "$WORK/build.jsonl" | jq -r '"\(.type) \(.template.status)"')"
BUILD_ID=$(head -1 "$WORK/build.jsonl" | jq -r .build_id)
out=$(api GET "/v1/builds/$BUILD_ID")
expect_eq "GET /v1/builds/{id}: done, all steps done" "done true" \
  "$(echo "$out" | head -1 | jq -r '"\(.state) \([.steps[].state] | all(. == "done"))"')"
expect_eq "events replay after the end (follow=0)" "$(grep -vc '"type":"\(progress\|unpack\)"' "$WORK/build.jsonl")" \
  "$(curl -s --unix-socket "$SOCK" "http://nexus/v1/builds/$BUILD_ID/events?follow=0" | grep -vc '"type":"\(progress\|unpack\)"')"

# --- template show: base and defaults
show=$("$NEXUS" template show tpl --json)
expect_eq "base is the image with its digest" "image $(cat "$WORK/push.out")" "$(echo "$show" | jq -r '"\(.base.type) \(.base.manifest_digest)"')"
expect_eq "defaults: user, workdir, start command, memory" 'app /srv/app ["/bin/sleep","3600"] 256' \
  "$(echo "$show" | jq -c -r '"\(.defaults.user) \(.defaults.workdir) \(.defaults.start_command | tojson) \(.defaults.memory_mib)"')"
expect_eq "defaults: env from the image, the file and the CLI" "yes hello 1" \
  "$(echo "$show" | jq -r '"\(.defaults.env.FROM_IMAGE) \(.defaults.env.GREETING) \(.defaults.env.EXTRA)"')"
expect_contains "plain show lists the user" "app" "$("$NEXUS" template show tpl)"
expect_eq "defaults: --restart" always "$(echo "$show" | jq -r .defaults.restart.policy)"
out=$("$NEXUS" template build tpl2 -f "$CTX/Nexusfile" --restart sometimes 2>&1); rc=$?
expect_eq "a bad --restart is refused (exit 1)" 1 "$rc"
expect_contains "... naming the policy" "invalid restart policy 'sometimes'" "$out"

# --- a sandbox from the template
SB=$(new_sandbox -t tpl --isolation jail)
check "sandbox created from the built template" test -n "$SB"
ex() { "$NEXUS" sandbox exec "$SB" -- "$@"; }
expect_eq "the COPY'd file" "copied content" "$(ex cat /srv/app/hello.txt)"
expect_eq "COPY --chown" "app app" "$(ex stat -c '%U %G' /srv/app/hello.txt)"
expect_eq "the COPY'd symlink is a link" "/etc/shadow" "$(ex busybox readlink /srv/app/escape)"
expect_eq ".nexusignore kept the context's secret out" "" "$(ex ls /srv/app | grep secret)"
expect_eq "the RUN's output file" "built" "$(ex cat /built.txt)"
expect_eq "the whiteout of a RUN's rm applies" "missing x" "$(ex sh -c 'test -e /old/gone.txt && echo there || echo missing; ls /old/sub' | tr '\n' ' ' | sed 's/ $//')"
expect_eq "RUN before USER ran as root" "root" "$(ex cat /srv/app/run_user.txt)"
expect_eq "RUN after USER ran as the user, in the WORKDIR" "app /srv/app" "$(ex sh -c 'echo $(cat /home/app/as_user.txt) $(cat /home/app/cwd.txt)')"
expect_eq "exec sees ENV" "hello 1 yes" "$(ex sh -c 'echo $GREETING $EXTRA $FROM_IMAGE')"
expect_eq "exec runs in the WORKDIR" "/srv/app" "$(ex pwd)"
expect_eq "exec runs as the USER" "app" "$(ex id -un)"
expect_contains "the start command is running" "sleep 3600" "$(ex ps -o args)"
expect_eq "memory default applies" 256 "$("$NEXUS" sandbox status "$SB" --json | jq -r .memory_mib)"
SB2=$(new_sandbox -t tpl --isolation jail --memory 300 --env GREETING=override)
expect_eq "request overrides win over defaults" "300 override" \
  "$("$NEXUS" sandbox status "$SB2" --json | jq -r .memory_mib) $("$NEXUS" sandbox exec "$SB2" -- sh -c 'echo $GREETING')"

# --- DELETE is refused while sandboxes use it; a rebuild too
out=$(api DELETE /v1/templates/tpl)
expect_eq "DELETE while in use is 409" 409 "$(echo "$out" | tail -1)"
"$NEXUS" sandbox stop "$SB" >/dev/null; "$NEXUS" sandbox stop "$SB2" >/dev/null

# --- a failing RUN names the step and its line, and leaves the old template
cat >"$WORK/Bad" <<NF
FROM $IMAGE
RUN echo first
RUN echo about to fail && false
NF
"$NEXUS" template build tpl -f "$WORK/Bad" >"$WORK/bad.out" 2>"$WORK/bad.err"; rc=$?
expect_eq "failing build exits 1" 1 "$rc"
expect_contains "the error names the step and line" "step 3/3 (line 3: RUN echo about to fail && false)" "$(cat "$WORK/bad.err")"
expect_contains "plain output has the step lines" "[3/3] running RUN echo about to fail" "$(cat "$WORK/bad.out")"
expect_contains "plain output has the log indented" "    about to fail" "$(cat "$WORK/bad.out")"
expect_eq "the old template is intact" "ready app" "$("$NEXUS" template show tpl --json | jq -r '"\(.status) \(.defaults.user)"')"
check "the old tree is intact" test -f "$ROOT/templates/tpl/rootfs/built.txt"

# --- syntax error: 400 with the line
out=$(api POST /v1/templates "$(jq -n --arg nf "$(printf 'FROM %s\nRUN true\nBOGUS x\n' "$IMAGE")" '{name: "bad", nexusfile: $nf}')")
expect_eq "syntax error is 400" 400 "$(echo "$out" | tail -1)"
expect_eq "the error has the line" 3 "$(echo "$out" | head -1 | jq -r .error.line)"
out=$(api POST /v1/templates "$(jq -n --arg nf "FROM $IMAGE" '{name: "bad", nexusfile: $nf, context: "not base64!"}')")
expect_eq "a context that is not base64 is 400" "400 field 'context' must be a base64 string (a tar)" \
  "$(echo "$out" | tail -1) $(echo "$out" | head -1 | jq -r .error.message)"
out=$(api POST /v1/templates "$(jq -n --arg nf "FROM $IMAGE" '{name: "bad", nexusfile: $nf, context: 42}')")
expect_eq "a context that is not a string is 400" 400 "$(echo "$out" | tail -1)"
out=$(api POST /v1/templates '[1, 2]')
expect_eq "a body that is not an object is 400" 400 "$(echo "$out" | tail -1)"

# --- PATCH defaults
out=$(api PATCH /v1/templates/tpl '{"defaults": {"cpus": 2, "env": {"EXTRA": null, "NEW": "v"}}}')
expect_eq "PATCH is 200" 200 "$(echo "$out" | tail -1)"
expect_eq "PATCH merged" "2 v null hello" "$(echo "$out" | head -1 | jq -r '"\(.defaults.cpus) \(.defaults.env.NEW) \(.defaults.env.EXTRA) \(.defaults.env.GREETING)"')"
out=$(api PATCH /v1/templates/tpl '{"defaults": {"cpus": 1000}}')
expect_eq "PATCH validates" 400 "$(echo "$out" | tail -1)"

# --- the start command and its restart policy (runs counted in a file it appends to)
runs() { "$NEXUS" sandbox exec "$1" -- sh -c 'cat /home/app/runs 2>/dev/null | wc -l' | tr -d ' '; }
wait_runs() {  # SB N: up to 20 s for at least N runs
  for _ in $(seq 1 100); do [ "$(runs "$1")" -ge "$2" ] && return 0; sleep 0.2; done
  return 1
}
restart_case() {  # POLICY COMMAND
  api PATCH /v1/templates/tpl "$(jq -n --arg p "$1" --arg c "$2" '{defaults: {restart: $p, start_command: $c}}')" | tail -1
}
expect_eq "PATCH restart on-failure:2" 200 "$(restart_case on-failure:2 'echo run >> /home/app/runs; exit 3')"
SB3=$(new_sandbox -t tpl --isolation jail)
wait_runs "$SB3" 3
sleep 1.5  # a 4th run would come 400 ms after the 3rd: none may
expect_eq "on-failure:2: a failing start command runs 3 times (2 restarts), then stays down" 3 "$(runs "$SB3")"
"$NEXUS" sandbox stop "$SB3" >/dev/null
expect_eq "PATCH restart always" 200 "$(restart_case always 'echo run >> /home/app/runs')"
SB3=$(new_sandbox -t tpl --isolation jail)
check "always: a start command that exits 0 is restarted again and again (5 runs)" wait_runs "$SB3" 5
"$NEXUS" sandbox stop "$SB3" >/dev/null
expect_eq "PATCH restart never" 200 "$(restart_case never 'echo run >> /home/app/runs; exit 1')"
SB3=$(new_sandbox -t tpl --isolation jail)
wait_runs "$SB3" 1
sleep 1.5
expect_eq "never: the start command runs once" 1 "$(runs "$SB3")"
"$NEXUS" sandbox stop "$SB3" >/dev/null
expect_eq "a bad restart policy is 400" 400 "$(restart_case sometimes 'true')"

# --- restart keeps templates
stop_daemon; start_daemon || exit 1
expect_eq "after a restart the template and its defaults are there" "ready 2" \
  "$("$NEXUS" template show tpl --json | jq -r '"\(.status) \(.defaults.cpus)"')"

# --- FROM debian:bookworm, only when its mmdebstrap base is cached
plan=$(api POST /v1/templates "$(jq -n '{name: "deb", nexusfile: "FROM debian:bookworm\nRUN echo hi > /hi\n", dry_run: true}')")
if [ "$(echo "$plan" | head -1 | jq -r .base.cached)" = true ]; then
  "$NEXUS" template build deb -f <(printf 'FROM debian:bookworm\nRUN echo hi > /hi\n') >/dev/null 2>"$WORK/deb.err"; rc=$?
  expect_eq "FROM debian:bookworm builds from the cached base" 0 "$rc"
else
  note "SKIP part: FROM debian:bookworm (no cached base at $(echo "$plan" | head -1 | jq -r .base.cache_path); bootstrapping needs ~35 s and the mirror)"
fi

# --- a seeded template's build is a job like a Nexusfile's (its base is cached by tools/test)
BID=$("$NEXUS" template build ai-agent-default --detach)
expect_eq "seeded build: --detach prints the build id" bld_ "${BID:0:4}"
out=$(api POST /v1/templates/ai-agent-default/build '{}')
expect_eq "a second build request attaches to the running build" "202 $BID true" \
  "$(echo "$out" | tail -1) $(echo "$out" | head -1 | jq -r '"\(.build_id) \(.attached)"')"
"$NEXUS" template build-watch "$BID" --json >"$WORK/seeded.jsonl"; rc=$?
expect_eq "seeded build: build-watch exits 0" 0 "$rc"
expect_eq "seeded build: two steps, the first the Debian base" "2 FROM debian:bookworm with" \
  "$(head -1 "$WORK/seeded.jsonl" | jq -r '"\(.steps | length) \(.steps[0].text | split(" ")[0:3] | join(" "))"')"
expect_eq "seeded build: both steps done" "1 2" \
  "$(jq -r 'select(.type == "step" and .state == "done") | .index' "$WORK/seeded.jsonl" | tr '\n' ' ' | sed 's/ $//')"
expect_eq "seeded build: its log lines name their step" true \
  "$(jq -s '[.[] | select(.type == "log")] | length > 0 and all(.step == 1 or .step == 2)' "$WORK/seeded.jsonl")"
expect_eq "seeded build: the last event is done, ready" "done ready" \
  "$(tail -1 "$WORK/seeded.jsonl" | jq -r '"\(.type) \(.template.status)"')"
expect_eq "GET /v1/builds lists it as done" done "$(api GET /v1/builds | head -1 | jq -r --arg id "$BID" '.builds[] | select(.build_id == $id) | .state')"
SB4=$(new_sandbox -t ai-agent-default --isolation jail)
expect_eq "a sandbox runs from the seeded template built here" 4 "$("$NEXUS" sandbox run "$SB4" -c 'print(2 + 2)')"
"$NEXUS" sandbox stop "$SB4" >/dev/null
out=$("$NEXUS" template build nosuch 2>&1); rc=$?
expect_eq "building an unknown name without -f: not found (exit 4)" 4 "$rc"
expect_contains "... and says to use -f" "-f FILE" "$out"

# --- DELETE
"$NEXUS" template rm tpl >/dev/null; rc=$?
expect_eq "template rm exits 0" 0 "$rc"
check "the template is gone" test ! -e "$ROOT/templates/tpl"
