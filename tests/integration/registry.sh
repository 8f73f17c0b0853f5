# SPDX-License-Identifier: Apache-2.0
# The real registries of tests/oci/registry_fixture.py for an integration test. Source it after
# lib.sh; WORK must be the test's own temporary directory.
#   start_registry_fixture   starts it (under $WORK/registries), waits for its description
#                            and sets INFO (its JSON line) and REG (the open registry)
#   stop_registry_fixture    closes its stdin, so it stops, and waits for it
REGISTRY_FIXTURE="$(cd "$(dirname "${BASH_SOURCE[0]}")/../oci" && pwd)/registry_fixture.py"
FIXTURE_PID=""

start_registry_fixture() {
  mkdir -p "$WORK/registries"
  mkfifo "$WORK/fixture.in"
  python3 "$REGISTRY_FIXTURE" "$WORK/registries" <"$WORK/fixture.in" >"$WORK/fixture.out" 2>"$WORK/fixture.err" &
  FIXTURE_PID=$!
  exec 9>"$WORK/fixture.in"  # the fixture runs until its stdin closes
  local _
  for _ in $(seq 1 600); do
    [ -s "$WORK/fixture.out" ] && break
    kill -0 "$FIXTURE_PID" 2>/dev/null || break
    sleep 0.1
  done
  INFO=$(head -1 "$WORK/fixture.out")
  if [ -z "$INFO" ] || [ "$(echo "$INFO" | jq -r 'has("error")')" != false ]; then
    fail "registry fixture did not start: $INFO $(tail -5 "$WORK/fixture.err")"
    return 1
  fi
  REG=$(echo "$INFO" | jq -r .registry)
}

stop_registry_fixture() {
  [ -n "$FIXTURE_PID" ] || return 0
  exec 9>&-
  wait "$FIXTURE_PID" 2>/dev/null
  FIXTURE_PID=""
}
