#!/bin/sh
# Runs inside the nested harness's L1 VM (busybox), cwd = the payload (run-daemon-test). nexusd
# with the real nexus-vmm: `auto` picks microvm on L1's /dev/kvm, and microVM sandboxes are
# used the way a user uses jail sandboxes: the CLI (create, exec, pause, resume, stop), the E2B
# endpoint (create, files, Connect RPC, kill), and a restarted nexusd adopting a running VM.
# Prints "ok N - ..." / "not ok N - ..." lines and exits non-zero on failure.
P=$(pwd)
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
bad() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check() { if [ "$1" = "$2" ]; then ok "$3"; else bad "$3 (got '$1', want '$2')"; fi; }
contains() { case "$1" in *"$2"*) ok "$3" ;; *) bad "$3 (got '$1')" ;; esac; }
now_ms() { read up _ < /proc/uptime; echo "${up%.*}${up#*.}0"; }

# L1's userland is busybox: the payload's dynamic binaries bring their own libraries.
mkdir -p /lib64 /lib/x86_64-linux-gnu /usr/bin /etc
cp "$P"/lib/* /lib/x86_64-linux-gnu/
ln -sf /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 /lib64/ld-linux-x86-64.so.2
cp -P "$P"/bin/* /usr/bin/
[ -f "$P/mke2fs.conf" ] && cp "$P/mke2fs.conf" /etc/
export PATH=/usr/bin:$PATH

ROOT=/var/lib/nexus
RUN=/run/nexus
E2B=http://127.0.0.1:49982
export NEXUS_SOCKET=$RUN/nexus.sock NEXUS_CONFIG_DIR=/root/.config/nexus
mkdir -p "$ROOT"
cp -a "$P/state/." "$ROOT/"
# The harness packs the payload with every owner as root; give the template's user its home.
chown -R 1000:1000 "$ROOT/templates/tiny/rootfs/home/user"
DLOG=/tmp/nexusd.log

start_nexusd() {
  nexusd --root "$ROOT" --run-dir "$RUN" --agent /usr/bin/nexus-agent --vmm "$P/nexus-vmm" \
    --guest-kernel "$P/vmlinux" --agent-initrd "$P/agent-initrd.cpio" --e2b-listen 127.0.0.1:49982 \
    --boot-timeout 240 --log-level debug >>"$DLOG" 2>&1 &
  NEXUSD=$!
  i=0
  while [ $i -lt 300 ]; do
    nexus version >/dev/null 2>&1 && return 0
    kill -0 $NEXUSD 2>/dev/null || break
    sleep 0.2
    i=$((i + 1))
  done
  return 1
}
show_logs() {
  echo "# nexusd log:"; tail -n 40 "$DLOG" | sed 's/^/#   /'
  for d in "$ROOT"/sandboxes/*/; do
    [ -d "$d" ] || continue
    echo "# $d console:"; tail -n 25 "$d/console.log" 2>/dev/null | sed 's/^/#   /'
    echo "# $d vmm.log:"; tail -n 15 "$d/vmm.log" 2>/dev/null | sed 's/^/#   /'
  done
}
finish() {
  [ $failed -eq 0 ] || show_logs
  for id in $(nexus sandbox list --json 2>/dev/null | jq -r '.[] | select(.status == "active" or .status == "paused") | .sandbox_id'); do
    nexus sandbox stop "$id" -q >/dev/null 2>&1
  done
  kill $NEXUSD 2>/dev/null
  wait $NEXUSD 2>/dev/null
  echo "# $n checks, $failed failed"
  [ $failed -eq 0 ]
  exit $?
}

if start_nexusd; then ok "nexusd starts (its probe of L1's /dev/kvm included)"; else bad "nexusd did not start"; finish; fi

doc=$(nexus doctor --json)
check "$(echo "$doc" | jq -r .host.isolation.auto)" "microvm" "doctor: auto picks microvm on nested KVM"
check "$(echo "$doc" | jq -r .host.microvm.available)" "true" "doctor: microVMs are available"
echo "# doctor: $(nexus doctor 2>&1 | grep -i 'isolation\|auto' | head -3 | tr '\n' ' ')"

# ---- the CLI ----
t0=$(now_ms)
SB=$(nexus sandbox create -t tiny --memory 256 --json | jq -r .sandbox_id)
t1=$(now_ms)
case "$SB" in sb_*) ok "create: a microVM sandbox in $((t1 - t0)) ms (emulated: nested KVM under TCG)" ;;
  *) bad "create failed: '$SB'"; finish ;; esac
st=$(nexus sandbox status "$SB" --json)
check "$(echo "$st" | jq -r .isolation)" "microvm" "status: isolation microvm (auto)"
check "$(echo "$st" | jq -r .status)" "active" "status: active"
vmm_pids() {  # the nexus-vmm processes of sandbox $1
  for p in /proc/[0-9]*; do
    tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q "nexus-vmm --config $ROOT/sandboxes/$1/vmm.json" && basename "$p"
  done
}
check "$(vmm_pids "$SB" | wc -l)" "1" "one nexus-vmm runs for the sandbox"

kernel=$(nexus sandbox exec "$SB" -- uname -r)
[ -n "$kernel" ] && [ "$kernel" != "$(uname -r)" ] && ok "exec: the sandbox has its own kernel ($kernel; L1 runs $(uname -r))" \
  || bad "exec: uname -r in the sandbox gave '$kernel' (L1: $(uname -r))"
check "$(nexus sandbox exec "$SB" -- hostname)" "$SB" "exec: the hostname is the sandbox id"
out=$(nexus sandbox exec "$SB" -- sh -c 'echo out; echo err >&2; exit 7' 2>/tmp/err)
check "$?" "7" "exec: the exit status comes back"
check "$out" "out" "exec: stdout comes back"
check "$(cat /tmp/err)" "err" "exec: stderr comes back"
check "$(nexus sandbox exec "$SB" -- id -u)" "1000" "exec: runs as user by default"
check "$(nexus sandbox exec "$SB" -u root -- id -u)" "0" "exec -u root"
check "$(nexus sandbox exec "$SB" --cwd /tmp -e GREETING=hi -- sh -c 'echo $GREETING $(pwd)')" "hi /tmp" "exec: env and cwd"
check "$(nexus sandbox run "$SB" -l bash -c 'echo $((6 * 7))')" "42" "run: a bash snippet (the code interpreter)"
nexus sandbox exec "$SB" --timeout 2 -- sleep 30 >/dev/null 2>&1
check "$?" "124" "exec --timeout kills a long command (exit 124)"
nexus sandbox exec "$SB" -- sh -c 'echo kept > /home/user/note; sync'
check "$(nexus sandbox exec "$SB" -- cat /home/user/note)" "kept" "a file written in the sandbox reads back"
contains "$(nexus sandbox exec "$SB" -- cat /proc/mounts)" "overlay / overlay" "the root is the overlay of the template image and the sandbox disk"

nexus sandbox pause "$SB" -q
check "$(nexus sandbox status "$SB" --json | jq -r .status)" "paused" "pause: status paused"
nexus sandbox resume "$SB" -q
check "$(nexus sandbox status "$SB" --json | jq -r .status)" "active" "resume: status active"
check "$(nexus sandbox exec "$SB" -- cat /home/user/note)" "kept" "resume: the sandbox carries on"

pid=$(vmm_pids "$SB" | head -1)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null)
echo "# nexus-vmm pid $pid RSS ${rss:-?} KiB (256 MiB guest, emulated)"

# A killed nexusd leaves the VM running; the next one adopts it.
kill -9 $NEXUSD
wait $NEXUSD 2>/dev/null
kill -0 "$pid" 2>/dev/null && ok "the VM outlives a killed nexusd" || bad "the VM died with nexusd"
if start_nexusd; then ok "nexusd restarts"; else bad "nexusd did not restart"; finish; fi
check "$(nexus sandbox status "$SB" --json | jq -r .status)" "active" "restart: the microVM sandbox is adopted"
check "$(nexus sandbox exec "$SB" -- cat /home/user/note)" "kept" "restart: exec in the adopted VM"

# ---- the E2B endpoint (the requests the SDK sends; see docs/e2b-protocol.md) ----
KEY=$(nexus auth key create --user alice --json | jq -r .key)
created=$(curl -s -m 300 -X POST -H "X-API-Key: $KEY" -H 'Content-Type: application/json' \
  --data-binary '{"templateID":"tiny","timeout":300}' -w '\n%{http_code}' "$E2B/v2/sandboxes")
check "$(echo "$created" | tail -1)" "201" "E2B: create"
ESB=$(echo "$created" | head -1 | jq -r .sandboxID)
TOKEN=$(echo "$created" | head -1 | jq -r .envdAccessToken)
check "$(nexus sandbox status "$ESB" --json | jq -r .isolation)" "microvm" "E2B: the sandbox is a microVM"
uid_of() { awk '/^Uid:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
epid=$(vmm_pids "$ESB" | head -1)
u1=$(uid_of "$pid"); u2=$(uid_of "$epid")
[ -n "$u1" ] && [ -n "$u2" ] && [ "$u1" != "$u2" ] && [ "$u1" -ge 300000 ] && [ "$u2" -ge 300000 ] &&
  ok "each nexus-vmm runs as its own unprivileged uid ($u1, $u2; the adopted VM's is kept)" ||
  bad "nexus-vmm uids: '$u1' and '$u2' (want distinct, >= 300000)"
envd() { curl -s -m 60 -H "E2b-Sandbox-Id: $ESB" -H 'E2b-Sandbox-Port: 49983' -H "X-Access-Token: $TOKEN" "$@"; }
echo "uploaded through E2B" >/tmp/up.txt
code=$(envd -o /dev/null -w '%{http_code}' -F file=@/tmp/up.txt "$E2B/files?path=/home/user/up.txt&username=user")
check "$code" "200" "E2B: upload a file (POST /files)"
check "$(nexus sandbox exec "$ESB" -- cat /home/user/up.txt)" "uploaded through E2B" "E2B: the upload is in the microVM"
nexus sandbox exec "$ESB" -- sh -c 'echo from the guest > /home/user/down.txt'
check "$(envd "$E2B/files?path=/home/user/down.txt&username=user")" "from the guest" "E2B: download a file (GET /files)"
listed=$(envd -X POST -H 'Content-Type: application/json' --data-binary '{}' -w '\n%{http_code}' "$E2B/process.Process/List")
check "$(echo "$listed" | tail -1)" "200" "E2B: Connect RPC process.Process/List"
code=$(curl -s -m 60 -o /dev/null -w '%{http_code}' -X DELETE -H "X-API-Key: $KEY" "$E2B/sandboxes/$ESB")
check "$code" "204" "E2B: kill"
check "$(nexus sandbox status "$ESB" --json | jq -r .status)" "stopped" "E2B: the killed sandbox is stopped"

# The unmodified E2B SDK from npm on a microVM sandbox.
out=$(cd "$P/e2b" && E2B_API_URL=$E2B E2B_SANDBOX_URL=$E2B E2B_API_KEY=$KEY node e2b-microvm.mjs tiny 2>&1)
rc=$?
echo "$out" | grep -v '^E2B-SDK ' | sed 's/^/#   /'
sdk_checks=0
while IFS= read -r line; do
  case "$line" in
    "E2B-SDK ok "*) ok "E2B SDK: ${line#E2B-SDK ok }"; sdk_checks=$((sdk_checks + 1)) ;;
    "E2B-SDK fail "*) bad "E2B SDK: ${line#E2B-SDK fail }" ;;
  esac
done <<EOF
$out
EOF
[ $rc -eq 0 ] && [ $sdk_checks -ge 10 ] && ok "E2B SDK: the script passed ($sdk_checks checks)" || bad "E2B SDK: exit $rc after $sdk_checks checks"

# ---- stop ----
nexus sandbox stop "$SB" -q
check "$(nexus sandbox status "$SB" --json | jq -r .status)" "stopped" "stop: status stopped"
sleep 0.5
kill -0 "$pid" 2>/dev/null && bad "stop: nexus-vmm $pid still runs" || ok "stop: nexus-vmm exited"
[ -e "$ROOT/sandboxes/$SB" ] && bad "stop: the sandbox dir is left" || ok "stop: the sandbox dir is removed"
check "$(ls /sys/fs/cgroup/nexus 2>/dev/null | grep -c "^sb_")" "0" "stop: no sandbox cgroups are left"

finish
