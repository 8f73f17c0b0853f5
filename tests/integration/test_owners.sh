#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Owners on the native API: the Unix peer's uid is the user (root is the admin), each user
# sees and manages only their own sandboxes and keys, and keys act for their user on the E2B
# endpoint. The other user is `nobody` (uid 65534), given the socket's group like a member
# of group nexus would be.
. "$(dirname "$0")/lib.sh"
require_env
command -v setpriv >/dev/null || skip "setpriv not found (util-linux)"
getent passwd 65534 >/dev/null || skip "no user with uid 65534 on this host"
trap finish EXIT
getent group nexus >/dev/null || groupadd --system nexus || skip "cannot create group nexus"
NEXUS_GID=$(getent group nexus | cut -d: -f3)
PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
E2B_LISTEN="127.0.0.1:$PORT" start_daemon || exit 1
chmod 755 "$RUN"
NOBODY=$(getent passwd 65534 | cut -d: -f1)
# as_nobody CMD...: run as uid 65534 with the nexus group, the CLI pointed at this daemon.
as_nobody() {
  setpriv --reuid=65534 --regid=65534 --groups="$NEXUS_GID" --inh-caps=-all \
    env -i PATH=/usr/bin:/bin HOME=/nonexistent NEXUS_SOCKET="$SOCK" NEXUS_CONFIG_DIR=/nonexistent "$@"
}

ROOTS=$(new_sandbox --ttl 120)
expect_eq "the socket is group nexus, mode 0660" "root:nexus 660" "$(stat -c '%U:%G %a' "$SOCK")"
expect_eq "root's sandbox belongs to root" root "$("$NEXUS" sandbox status "$ROOTS" --json | jq -r .owner)"

out=$(as_nobody "$NEXUS" sandbox create --ttl 120 --json)
THEIRS=$(echo "$out" | jq -r .sandbox_id)
[ -n "$THEIRS" ] && [ "$THEIRS" != null ] && track "$THEIRS"
expect_eq "a sandbox made by $NOBODY belongs to $NOBODY" "$NOBODY" "$(echo "$out" | jq -r .owner)"
listed=$(as_nobody "$NEXUS" sandbox list --json | jq -r '.[].sandbox_id' | sort | tr '\n' ' ')
expect_eq "$NOBODY lists only its own sandbox" "$THEIRS " "$listed"
as_nobody "$NEXUS" sandbox status "$ROOTS" >/dev/null 2>&1; rc=$?
expect_eq "$NOBODY gets 'not found' (exit 4) for root's sandbox" 4 "$rc"
as_nobody "$NEXUS" sandbox exec "$ROOTS" -- true >/dev/null 2>&1; rc=$?
expect_eq "$NOBODY cannot exec in root's sandbox (125: the command never ran)" 125 "$rc"
as_nobody "$NEXUS" sandbox stop "$ROOTS" >/dev/null 2>&1; rc=$?
expect_eq "$NOBODY cannot stop root's sandbox" 4 "$rc"
expect_eq "root's sandbox is still active" active "$("$NEXUS" sandbox status "$ROOTS" --json | jq -r .status)"
out=$(as_nobody "$NEXUS" sandbox exec "$THEIRS" -- id -un)
expect_eq "$NOBODY runs commands in its own sandbox" user "$out"
both=$("$NEXUS" sandbox list --json | jq -r '.[].sandbox_id' | grep -c -e "$ROOTS" -e "$THEIRS")
expect_eq "root (the admin) sees both" 2 "$both"

# Keys: a user makes keys only for itself, never admin ones.
out=$(as_nobody "$NEXUS" auth key create --user alice 2>&1); rc=$?
check "$NOBODY cannot make a key for another user (exit $rc)" test "$rc" -ne 0
expect_contains "and is told why" "may only create non-admin keys for itself" "$out"
as_nobody "$NEXUS" auth key create --admin >/dev/null 2>&1; rc=$?
check "$NOBODY cannot make an admin key" test "$rc" -ne 0
KEY=$(as_nobody "$NEXUS" auth key create --name mine --json | jq -r .key)
check "$NOBODY makes a key for itself" test -n "$KEY"
expect_eq "$NOBODY's key list shows only its keys" "$NOBODY" \
  "$(as_nobody "$NEXUS" auth key list --json | jq -r '[.keys[].user] | unique | join(",")')"
listed=$(curl -s -H "X-API-Key: $KEY" "$URL/v2/sandboxes" | jq -r '.[].sandboxID' | tr '\n' ' ')
expect_eq "the key lists $NOBODY's sandboxes on the E2B endpoint, not root's" "$THEIRS " "$listed"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $KEY" "$URL/sandboxes/$ROOTS")
expect_eq "and root's sandbox is not found with it" 404 "$code"
