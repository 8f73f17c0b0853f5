// SPDX-License-Identifier: Apache-2.0
// Benchmark (not a test: it prints figures, it asserts no timings) of the nexusd E2B endpoint
// through the unmodified `e2b` SDK, with peers measured in the same run for comparison:
//
//   commands.run('true') round trip     vs  the same Connect call straight to the agent's socket
//                                            (what nexusd's proxy adds)
//                                        vs  `bash -l -c true` timed inside the sandbox (process floor)
//                                        vs  `nexus sandbox exec SB -- true` (native API via CLI)
//                                        vs  an HTTP round trip to a trivial node server (floor)
//                                        vs  spawning /bin/true on the host (CLI spawn cost)
//   files.write / files.read throughput vs  the same octet-stream upload / download straight to the
//                                            agent's socket, and a trivial node server (floor)
//   Sandbox.create + first command       (sandbox start latency through the endpoint)
//
// Run it through run.sh, which starts nexusd and sets the variables:
//   NEXUS_BIN_DIR=build tests/e2b/run.sh --bench
// Knobs: BENCH_N (round trips, default 300), BENCH_MIB (transfer size, default 256),
//        BENCH_CLI_N (CLI execs, default 50), BENCH_CREATE_N (creates, default 10).
import { execFileSync, spawn } from 'node:child_process'
import http from 'node:http'
import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { appendFileSync, readFileSync } from 'node:fs'
import { Readable } from 'node:stream'
import { Sandbox } from 'e2b'

const N = Number(process.env.BENCH_N ?? 300)
const MIB = Number(process.env.BENCH_MIB ?? 256)
const CLI_N = Number(process.env.BENCH_CLI_N ?? 50)
const CREATE_N = Number(process.env.BENCH_CREATE_N ?? 10)
const NEXUS = process.env.NEXUS_BIN_DIR ? `${process.env.NEXUS_BIN_DIR}/cli/nexus` : 'nexus'
const RUN_DIR = process.env.NEXUS_RUN_DIR  // where nexusd keeps sandboxes/<id>/agent.sock

if (!process.env.E2B_API_URL || !process.env.E2B_SANDBOX_URL || !process.env.E2B_API_KEY) {
  console.error('E2B_API_URL, E2B_SANDBOX_URL and E2B_API_KEY must be set: run `tests/e2b/run.sh --bench`')
  process.exit(2)
}

const track = (id) => { if (process.env.E2B_TRACK_FILE) appendFileSync(process.env.E2B_TRACK_FILE, id + '\n') }
const now = () => Number(process.hrtime.bigint()) / 1e6
function stats(samples) {
  const s = [...samples].sort((a, b) => a - b)
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))]
  return { n: s.length, p50: q(0.5), p90: q(0.9), p99: q(0.99), mean: s.reduce((a, b) => a + b, 0) / s.length, min: s[0], max: s.at(-1) }
}
const ms = (v) => (v < 10 ? v.toFixed(3) : v.toFixed(1)).padStart(9)
function latencyRow(name, st) {
  console.log(`${name.padEnd(50)} ${String(st.n).padStart(5)} ${ms(st.p50)} ${ms(st.p90)} ${ms(st.p99)} ${ms(st.mean)} ${ms(st.max)}`)
}
const mbps = (bytes, t) => ((bytes / (1024 * 1024)) / (t / 1000)).toFixed(0).padStart(8) + ' MiB/s'
async function timeIt(fn) {
  const t0 = now()
  const r = await fn()
  return { t: now() - t0, r }
}

// A trivial HTTP server in its own process: GET /tiny -> "ok", GET /blob?n= -> n bytes,
// POST /sink -> reads and discards the body. The floor for "HTTP on loopback from this client".
const PEER_SERVER = `
const http = require('http')
const chunk = Buffer.alloc(1 << 20, 120)
http.createServer((req, res) => {
  const u = new URL(req.url, 'http://x')
  if (u.pathname === '/tiny') { res.end('ok'); return }
  if (u.pathname === '/sink') { let n = 0; req.on('data', (d) => { n += d.length }); req.on('end', () => res.end(String(n))); return }
  if (u.pathname === '/blob') {
    let left = Number(u.searchParams.get('n'))
    res.writeHead(200, { 'content-length': left, 'content-type': 'application/octet-stream' })
    const pump = () => { while (left > 0) { const c = left >= chunk.length ? chunk : chunk.subarray(0, left); left -= c.length; if (!res.write(c)) { res.once('drain', pump); return } } res.end() }
    pump(); return
  }
  res.statusCode = 404; res.end()
}).listen(0, '127.0.0.1', function () { process.send(this.address().port) })
`

async function startPeerServer() {
  const child = spawn(process.execPath, ['-e', PEER_SERVER], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const [port] = await once(child, 'message')
  return { child, url: `http://127.0.0.1:${port}` }
}

// Requests straight to a sandbox agent's Unix socket with node's own http client (keep-alive),
// bypassing nexusd: the difference to the same call through the endpoint is the proxy's cost.
function agentClient(sandboxId, token) {
  const socketPath = `${RUN_DIR}/sandboxes/${sandboxId}/agent.sock`
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 })
  const request = (method, path, headers, body) =>
    new Promise((resolve, reject) => {
      const req = http.request({ socketPath, agent, method, path, headers: { 'X-Access-Token': token, ...headers } }, resolve)
      req.on('error', reject)
      if (body instanceof Readable) body.pipe(req)
      else req.end(body)
    })
  const drain = async (res) => { let n = 0; for await (const c of res) n += c.length; return n }
  return {
    socketPath,
    close: () => agent.destroy(),
    async runTrue() {
      const msg = Buffer.from(JSON.stringify({ process: { cmd: '/bin/bash', args: ['-l', '-c', 'true'] }, stdin: false }))
      const env = Buffer.alloc(5 + msg.length)
      env.writeUInt32BE(msg.length, 1)
      msg.copy(env, 5)
      const res = await request('POST', '/process.Process/Start',
        { 'Content-Type': 'application/connect+json', 'Connect-Protocol-Version': '1', 'Content-Length': env.length }, env)
      const n = await drain(res)
      if (res.statusCode !== 200 || n === 0) throw new Error(`direct Start: HTTP ${res.statusCode}`)
    },
    async upload(path, data) {
      const res = await request('POST', `/files?path=${encodeURIComponent(path)}`,
        { 'Content-Type': 'application/octet-stream', 'Content-Length': data.length }, data)
      await drain(res)
      if (res.statusCode !== 200) throw new Error(`direct upload: HTTP ${res.statusCode}`)
    },
    async download(path) {
      const res = await request('GET', `/files?path=${encodeURIComponent(path)}`, {})
      const n = await drain(res)
      if (res.statusCode !== 200) throw new Error(`direct download: HTTP ${res.statusCode}`)
      return n
    },
  }
}

async function main() {
  const sdk = JSON.parse(readFileSync(new URL('./node_modules/e2b/package.json', import.meta.url), 'utf8')).version
  console.log(`# nexusd E2B endpoint benchmark: e2b SDK ${sdk}, node ${process.version}`)
  console.log(`# endpoint ${process.env.E2B_SANDBOX_URL}; N=${N}, transfer ${MIB} MiB, CLI N=${CLI_N}, creates ${CREATE_N}`)
  const peer = await startPeerServer()
  const sbx = await Sandbox.create({ timeoutMs: 900_000 })
  track(sbx.sandboxId)
  let cliSandbox = sbx.sandboxId
  let cliCreated = false
  try {
    // ---------------------------------------------------------------- latency
    for (let i = 0; i < 20; i++) await sbx.commands.run('true')
    const e2b = []
    for (let i = 0; i < N; i++) {
      const t0 = now()
      await sbx.commands.run('true')
      e2b.push(now() - t0)
    }

    // Peer: the same Connect call straight to the agent, and the process alone inside the sandbox.
    const direct = RUN_DIR ? agentClient(sbx.sandboxId, sbx.envdAccessToken ?? '') : null
    const directRun = []
    if (direct) {
      for (let i = 0; i < 20; i++) await direct.runTrue()
      for (let i = 0; i < N; i++) {
        const t0 = now()
        await direct.runTrue()
        directRun.push(now() - t0)
      }
    }
    const loop = await sbx.commands.run(
      's=$(date +%s%N); for i in $(seq 100); do bash -l -c true; done; e=$(date +%s%N); echo $(( (e - s) / 100 ))')
    const bashNs = Number(loop.stdout.trim())

    for (let i = 0; i < 20; i++) await (await fetch(peer.url + '/tiny')).text()
    const tiny = []
    for (let i = 0; i < N; i++) {
      const t0 = now()
      await (await fetch(peer.url + '/tiny')).text()
      tiny.push(now() - t0)
    }

    // Peer: the same command through the native API with the CLI (a process per call, so also
    // measure what spawning a trivial process costs here).
    const cli = []
    let cliNote = ''
    try {
      execFileSync(NEXUS, ['sandbox', 'exec', cliSandbox, '--', 'true'], { stdio: 'pipe' })
    } catch {
      // The E2B sandbox is not reachable with the CLI: make a native one for the peer run.
      const out = execFileSync(NEXUS, ['sandbox', 'create', '--ttl', '15', '--json'], { encoding: 'utf8' })
      cliSandbox = JSON.parse(out).sandbox_id
      cliCreated = true
      cliNote = ' (separate native sandbox)'
    }
    for (let i = 0; i < CLI_N; i++) {
      const t0 = now()
      execFileSync(NEXUS, ['sandbox', 'exec', cliSandbox, '--', 'true'], { stdio: 'pipe' })
      cli.push(now() - t0)
    }
    const spawnTrue = []
    for (let i = 0; i < CLI_N; i++) {
      const t0 = now()
      execFileSync('/bin/true')
      spawnTrue.push(now() - t0)
    }

    console.log('\n## round trip latency, ms')
    console.log(`${"what".padEnd(50)} ${'n'.padStart(5)} ${'p50'.padStart(9)} ${'p90'.padStart(9)} ${'p99'.padStart(9)} ${'mean'.padStart(9)} ${'max'.padStart(9)}`)
    latencyRow("E2B SDK commands.run('true')", stats(e2b))
    if (direct) latencyRow("  same Start RPC straight to the agent's socket", stats(directRun))
    console.log(`${'  bash -l -c true inside the sandbox (mean of 100)'.padEnd(50)} ${'100'.padStart(5)} ${ms(bashNs / 1e6)}`)
    latencyRow(`nexus sandbox exec SB -- true (CLI)${cliNote}`, stats(cli))
    latencyRow('  host spawn of /bin/true (CLI process floor)', stats(spawnTrue))
    latencyRow('  fetch GET to a trivial node server (HTTP floor)', stats(tiny))

    // ---------------------------------------------------------------- throughput
    const bytes = MIB * 1024 * 1024
    const data = randomBytes(bytes)
    const want = createHash('sha256').update(data).digest('hex')
    const blob = new Blob([data])
    const opts = { requestTimeoutMs: 600_000 }

    const upMultipart = await timeIt(() => sbx.files.write('/tmp/bench-multipart.bin', blob, opts))
    const upStream = await timeIt(() => sbx.files.write('/tmp/bench-stream.bin', blob.stream(), opts))
    const upOctet = await timeIt(() => sbx.files.write('/tmp/bench-octet.bin', blob, { ...opts, useOctetStream: true }))
    const downStream = await timeIt(async () => {
      const h = createHash('sha256')
      let n = 0
      for await (const c of await sbx.files.read('/tmp/bench-stream.bin', { format: 'stream', ...opts })) { h.update(c); n += c.length }
      return { hash: h.digest('hex'), n }
    })
    const downBytes = await timeIt(() => sbx.files.read('/tmp/bench-multipart.bin', { format: 'bytes', ...opts }))
    const okStream = downStream.r.hash === want && downStream.r.n === bytes
    const okBytes = createHash('sha256').update(downBytes.r).digest('hex') === want
    const inside = (await sbx.commands.run('sha256sum /tmp/bench-octet.bin', { timeoutMs: 300_000 })).stdout.split(' ')[0]
    let directUp = null
    let directDown = null
    if (direct) {
      directUp = await timeIt(() => direct.upload('/tmp/bench-direct.bin', data))
      directDown = await timeIt(() => direct.download('/tmp/bench-direct.bin'))
      direct.close()
    }
    await sbx.commands.run('rm -f /tmp/bench-*.bin')

    const rawUp = await timeIt(async () => {
      const r = await fetch(peer.url + '/sink', { method: 'POST', body: Readable.toWeb(Readable.from([data])), duplex: 'half' })
      return Number(await r.text())
    })
    const rawDown = await timeIt(async () => {
      const r = await fetch(`${peer.url}/blob?n=${bytes}`)
      let n = 0
      for await (const c of r.body) n += c.length
      return n
    })

    console.log(`\n## transfer of ${MIB} MiB`)
    console.log(`E2B files.write Blob (multipart/form-data)     ${mbps(bytes, upMultipart.t)}  (${upMultipart.t.toFixed(0)} ms)`)
    console.log(`E2B files.write ReadableStream (octet-stream)  ${mbps(bytes, upStream.t)}  (${upStream.t.toFixed(0)} ms)`)
    console.log(`E2B files.write Blob, useOctetStream            ${mbps(bytes, upOctet.t)}  (${upOctet.t.toFixed(0)} ms)  sha256 inside ${inside === want ? 'ok' : 'MISMATCH'}`)
    console.log(`E2B files.read format stream                    ${mbps(bytes, downStream.t)}  (${downStream.t.toFixed(0)} ms)  sha256 ${okStream ? 'ok' : 'MISMATCH'}`)
    console.log(`E2B files.read format bytes                     ${mbps(bytes, downBytes.t)}  (${downBytes.t.toFixed(0)} ms)  sha256 ${okBytes ? 'ok' : 'MISMATCH'}`)
    if (directUp) {
      console.log(`  octet-stream upload straight to the agent     ${mbps(bytes, directUp.t)}  (${directUp.t.toFixed(0)} ms; node http, no nexusd)`)
      console.log(`  download straight from the agent              ${mbps(bytes, directDown.t)}  (${directDown.t.toFixed(0)} ms, ${directDown.r === bytes ? 'all bytes' : 'SHORT'})`)
    }
    console.log(`  raw fetch upload to a trivial node server     ${mbps(bytes, rawUp.t)}  (${rawUp.t.toFixed(0)} ms, ${rawUp.r === bytes ? 'all bytes' : 'SHORT'})`)
    console.log(`  raw fetch download from a trivial node server ${mbps(bytes, rawDown.t)}  (${rawDown.t.toFixed(0)} ms, ${rawDown.r === bytes ? 'all bytes' : 'SHORT'})`)

    // ---------------------------------------------------------------- create
    if (CREATE_N > 0) {
      const created = []
      const firstCmd = []
      for (let i = 0; i < CREATE_N; i++) {
        const t0 = now()
        const s = await Sandbox.create({ timeoutMs: 60_000 })
        track(s.sandboxId)
        const t1 = now()
        await s.commands.run('true')
        const t2 = now()
        created.push(t1 - t0)
        firstCmd.push(t2 - t0)
        await s.kill()
      }
      console.log('\n## sandbox start through the endpoint, ms')
      latencyRow('Sandbox.create()', stats(created))
      latencyRow('Sandbox.create() + first commands.run(true)', stats(firstCmd))
    }
  } finally {
    await sbx.kill().catch(() => {})
    if (cliCreated) { try { execFileSync(NEXUS, ['sandbox', 'stop', cliSandbox], { stdio: 'pipe' }) } catch {} }
    peer.child.kill()
  }
}

main().catch((err) => {
  console.error('benchmark failed:', err)
  process.exit(1)
})
