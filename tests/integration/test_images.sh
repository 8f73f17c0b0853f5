#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# nexus image pull/ls/inspect/rm through a real nexusd, against the real docker-registry
# instances of tests/oci/registry_fixture.py (open, token-auth, and a tampering proxy).
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root (nexusd; the unpacked trees get shifted owners)"
[ -x "$NEXUS" ] && [ -x "$NEXUSD" ] && [ -x "$AGENT" ] || skip "binaries not built in $NEXUS_BIN_DIR"
for tool in docker-registry openssl python3 jq curl; do
  command -v "$tool" >/dev/null || skip "needs $tool (apt-get install docker-registry openssl python3 jq curl)"
done
. "$(dirname "$0")/registry.sh"
mkdir -p "$NEXUS_TEST_ROOT" && : >"$DAEMON_LOG"  # this run's log only (the checks grep it)

WORK=$(mktemp -d /var/tmp/nexus-images.XXXXXX)
ROOT="$WORK/root"  # a state root of its own: gc must see only this test's images
mkdir -p "$ROOT"
on_finish() {
  stop_registry_fixture
  rm -rf "$WORK"
}
trap finish EXIT
start_registry_fixture || exit 1
AUTH=$(echo "$INFO" | jq -r .auth_registry)
PROXY=$(echo "$INFO" | jq -r .proxy)
img() { echo "$INFO" | jq -r ".images[\"$1\"]$2"; }
blob_count() { find "$ROOT/blobs/sha256" -type f | wc -l; }
tree_of() { echo "$ROOT/images/${1#sha256:}"; }

echo '{"registries": {}}' >"$WORK/none.json"
printf '{"registries": {"%s": {"username": %s, "password": %s}}}\n' "$AUTH" \
  "$(echo "$INFO" | jq .username)" "$(echo "$INFO" | jq .password)" >"$WORK/creds.json"
start_daemon --registry-credentials "$WORK/none.json" || exit 1

# --- pull with --json: the event stream
MULTI="$REG/test/multi:v1"
MULTI_MANIFEST=$(img test/multi:v1 .manifest)
"$NEXUS" image pull "$MULTI" --json >"$WORK/pull.jsonl"; rc=$?
expect_eq "pull --json exits 0" 0 "$rc"
expect_eq "every line is a JSON object with a type" true \
  "$(jq -s 'all(.[]; type == "object" and has("type"))' "$WORK/pull.jsonl")"
expect_eq "resolved names the manifest" "$MULTI_MANIFEST" \
  "$(jq -r 'select(.type == "resolved") | .manifest' "$WORK/pull.jsonl")"
expect_eq "resolved lists the layers" "$(img test/multi:v1 '.layers | join(",")')" \
  "$(jq -r 'select(.type == "resolved") | [.layers[].digest] | join(",")' "$WORK/pull.jsonl")"
expect_eq "per-blob progress ends done for each layer" 3 \
  "$(jq -s '[.[] | select(.type == "progress" and .kind == "layer" and .state == "done" and .done == .total)] | length' "$WORK/pull.jsonl")"
expect_eq "unpack progress reaches the end of each layer" 3 \
  "$(jq -s '[.[] | select(.type == "unpack" and .done == .total)] | length' "$WORK/pull.jsonl")"
expect_eq "the last event is done with the image" "done $MULTI_MANIFEST" \
  "$(tail -1 "$WORK/pull.jsonl" | jq -r '"\(.type) \(.image.manifest_digest)"')"

# --- the unpacked tree: the image's files, owners shifted like the templates' (100000)
TREE="$(tree_of "$MULTI_MANIFEST")/rootfs"
check "the tree has the image's files" test -f "$TREE/a/one" -a -f "$TREE/b/two" -a -f "$TREE/c/three"
expect_eq "file content" "$(printf '1%.0s' $(seq 1 1000))" "$(cat "$TREE/a/one")"
expect_eq "owners are shifted (image root -> 100000)" "100000:100000" "$(stat -c %u:%g "$TREE/b/two")"
expect_eq "no temporaries left" "" "$(ls -A "$ROOT/images" | grep '^\.tmp-')"

# --- plain output when stdout is not a terminal
DOCKER="$REG/test/docker:v1"
out=$("$NEXUS" image pull "$DOCKER"); rc=$?
expect_eq "plain pull exits 0" 0 "$rc"
expect_contains "plain pull says what it pulled" "Pulled $DOCKER ($(img test/docker:v1 .manifest)" "$out"
expect_contains "plain pull has a line per layer state" "Downloaded" "$out"
expect_not_contains "no terminal escapes in plain output" $'\x1b' "$out"
out=$("$NEXUS" image pull -q "$DOCKER")
expect_eq "pull -q prints only the reference" "$DOCKER" "$out"

# --- ls and inspect
ls_json=$("$NEXUS" image ls --json)
expect_eq "ls --json lists both images" "$DOCKER,$MULTI" "$(echo "$ls_json" | jq -r '[.[].reference] | sort | join(",")')"
out=$("$NEXUS" image ls)
expect_contains "ls table" "REFERENCE" "$out"
expect_contains "ls shows the short digest" "$(echo "${MULTI_MANIFEST#sha256:}" | cut -c1-12)" "$out"
ins=$("$NEXUS" image inspect "$MULTI" --json)
expect_eq "inspect: layers" "$(img test/multi:v1 '.layers | join(",")')" "$(echo "$ins" | jq -r '[.layers[].digest] | join(",")')"
expect_eq "inspect: config digest" "$(img test/multi:v1 .config)" "$(echo "$ins" | jq -r .config_digest)"
expect_eq "inspect: env" "PATH=/usr/bin IMAGE=test/multi" "$(echo "$ins" | jq -r '.config.env | join(" ")')"
expect_eq "inspect: cmd, workdir, user" "/bin/sh /work 1000" \
  "$(echo "$ins" | jq -r '"\(.config.cmd | join(" ")) \(.config.working_dir) \(.config.user)"')"
expect_eq "inspect: rootfs" "$TREE" "$(echo "$ins" | jq -r .rootfs)"
out=$("$NEXUS" image inspect "${MULTI_MANIFEST:0:19}")
expect_contains "inspect by digest prefix, human form" "IMAGE=test/multi" "$out"
expect_contains "inspect shows the working dir" "WorkingDir:  /work" "$out"

# --- pulling again is fast and fetches nothing
before=$(blob_count)
start=$(date +%s%N)
"$NEXUS" image pull "$MULTI" --json >"$WORK/again.jsonl"; rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
expect_eq "second pull exits 0" 0 "$rc"
expect_eq "second pull finds every layer cached" 3 \
  "$(jq -s '[.[] | select(.type == "progress" and .kind == "layer" and .state == "cached")] | length' "$WORK/again.jsonl")"
expect_eq "second pull starts no download" 0 \
  "$(jq -s '[.[] | select(.type == "progress" and .state == "started")] | length' "$WORK/again.jsonl")"
expect_eq "second pull adds no blob" "$before" "$(blob_count)"
check "second pull is fast (${ms} ms)" test "$ms" -lt 3000

# --- errors: unknown tag (exit 4), bad reference (400), private repository (401)
out=$("$NEXUS" image pull "$REG/test/multi:nope" 2>&1); rc=$?
expect_eq "unknown tag exits 4" 4 "$rc"
expect_contains "unknown tag: clear message" "not found" "$out"
expect_contains "unknown tag: names the tag" "nope" "$out"
resp=$(api POST /v1/images/pull '{"reference": "Not A Reference"}')
expect_eq "bad reference is HTTP 400" 400 "$(echo "$resp" | tail -1)"
expect_eq "bad reference: error body" invalid_argument "$(echo "$resp" | head -1 | jq -r .error.code)"
resp=$(api GET "/v1/images/$REG%2Fno%2Fsuch:v1")
expect_eq "inspect of an unknown image is 404" 404 "$(echo "$resp" | tail -1)"
"$NEXUS" image inspect "$REG/no/such:v1" >/dev/null 2>&1
expect_eq "inspect unknown exits 4" 4 "$?"
PRIVATE="$AUTH/private/img:v1"
out=$("$NEXUS" image pull "$PRIVATE" --json 2>"$WORK/err"); rc=$?
expect_eq "private without credentials fails" 1 "$rc"
expect_contains "private without credentials: says why" "not authorized" "$(cat "$WORK/err")"
expect_eq "private without credentials: unauthenticated" unauthenticated "$(echo "$out" | tail -1 | jq -r .code)"

# --- a blob that does not match its digest: failure, and no image
TAMPER="$PROXY/tamper/img:v1"
out=$("$NEXUS" image pull "$TAMPER" 2>&1); rc=$?
expect_eq "tampered blob fails" 1 "$rc"
expect_contains "tampered blob: digest mismatch reported" "digest" "$out"
expect_not_contains "tampered image is not listed" "tamper" "$("$NEXUS" image ls -q)"
check "tampered image has no tree" test ! -e "$(tree_of "$(img tamper/img:v1 .manifest)")"

# --- a second pull of the same reference watches the first (busy/ makes the first one slow)
BUSY="$PROXY/busy/img:v1"
"$NEXUS" image pull "$BUSY" --json >"$WORK/busy1.jsonl" 2>&1 &
first=$!
for _ in $(seq 1 100); do grep -q "pulling '$BUSY'" "$DAEMON_LOG" && break; sleep 0.05; done
"$NEXUS" image pull "$BUSY" --json >"$WORK/busy2.jsonl" 2>&1; rc2=$?
wait "$first"; rc1=$?
expect_eq "both pulls of one reference succeed" "0 0" "$rc1 $rc2"
expect_eq "the second one attached to the first" attached "$(head -1 "$WORK/busy2.jsonl" | jq -r .type)"
expect_eq "both end with the same image" "$(tail -1 "$WORK/busy1.jsonl" | jq -r .image.manifest_digest)" \
  "$(tail -1 "$WORK/busy2.jsonl" | jq -r .image.manifest_digest)"
expect_eq "one pull ran in nexusd" 1 "$(grep -c "pulling '$BUSY'" "$DAEMON_LOG")"

# --- credentials file: nexusd restarted with it; images survive the restart
listed=$("$NEXUS" image ls --json)
stop_daemon
start_daemon --registry-credentials "$WORK/creds.json" || exit 1
expect_eq "images survive a restart" "$listed" "$("$NEXUS" image ls --json)"
out=$("$NEXUS" image pull "$PRIVATE" 2>&1); rc=$?
expect_eq "private with credentials works" 0 "$rc"
expect_not_contains "no secret in the output" "$(echo "$INFO" | jq -r .password)" "$out"
expect_not_contains "no secret in the daemon log" "$(echo "$INFO" | jq -r .password)" "$(cat "$DAEMON_LOG")"
check "private image unpacked" test -f "$(tree_of "$(img private/img:v1 .manifest)")/rootfs/etc/hello"

# --- rm: record, tree and the blobs only it used
DOCKER_MANIFEST=$(img test/docker:v1 .manifest)
out=$("$NEXUS" image rm "$DOCKER"); rc=$?
expect_eq "rm exits 0" 0 "$rc"
expect_contains "rm says what it removed" "Removed image: $DOCKER" "$out"
expect_not_contains "rm: gone from ls" "$DOCKER" "$("$NEXUS" image ls -q)"
check "rm: tree removed" test ! -e "$(tree_of "$DOCKER_MANIFEST")"
for d in $(img test/docker:v1 '.layers[]') "$DOCKER_MANIFEST" "$(img test/docker:v1 .config)"; do
  check "rm: blob ${d:7:12} collected" test ! -e "$ROOT/blobs/sha256/${d#sha256:}"
done
for d in $(img test/multi:v1 '.layers[]') "$MULTI_MANIFEST"; do
  check "rm: blob ${d:7:12} of another image kept" test -f "$ROOT/blobs/sha256/${d#sha256:}"
done
"$NEXUS" image rm "$DOCKER" >/dev/null 2>&1
expect_eq "rm of a removed image exits 4" 4 "$?"
check "the other image still inspects" sh -c '"$0" image inspect "$1" >/dev/null' "$NEXUS" "$MULTI"
