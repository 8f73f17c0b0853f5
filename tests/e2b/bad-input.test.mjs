// SPDX-License-Identifier: Apache-2.0
// Bad and hostile input: malformed JSON and Connect envelopes sent with plain fetch, dead and
// unknown sandboxes (§B.1), clients that disconnect mid-stream, paths that try to leave the
// sandbox. Every raw request is bounded by AbortSignal.timeout: a hang is a failure.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { CommandExitError, FileNotFoundError, Sandbox, SandboxError, SandboxNotFoundError, TimeoutError } from 'e2b'
import { API_URL, KEY_A, create, envdHeaders, envelope, expectReject, kill, killAll, parseEnvelopes, raw, skipReason, sleep, waitFor } from './lib.mjs'

const T = { timeout: 90_000 }

describe('bad input', { skip: skipReason }, () => {
  let sbx
  before(async () => {
    sbx = await create({ timeoutMs: 300_000 })
  })
  after(killAll)

  const cp = (path, opts = {}) => raw(path, { base: API_URL, ...opts, headers: { 'X-API-KEY': KEY_A, ...(opts.headers ?? {}) } })

  test('control plane: malformed JSON bodies get a 400 JSON error', T, async () => {
    for (const body of ['{not json', '[]', '"base"', '{"templateID": 5}', '{"templateID":"base","timeout":"ten"}', '{"templateID":"base","metadata":[1,2]}', '{"templateID":"base","envVars":{"A":1}}', '\u0000\u0001']) {
      const r = await cp('/v2/sandboxes', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body })
      if (r.json?.sandboxID) await kill(r.json.sandboxID)
      assert.ok(r.status >= 400 && r.status < 500, `POST /v2/sandboxes ${JSON.stringify(body)} -> ${r.status} ${r.text}`)
      assert.equal(r.json?.code, r.status, `error body {code: ${r.status}, message} for ${JSON.stringify(body)}, got ${r.text}`)
    }
    const t = await cp(`/sandboxes/${sbx.sandboxId}/timeout`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"timeout":' })
    assert.equal(t.status, 400, `timeout with a torn body -> ${t.status} ${t.text}`)
    assert.equal(t.json?.code, 400)
    const neg = await cp(`/sandboxes/${sbx.sandboxId}/timeout`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"timeout":-5}' })
    assert.ok(neg.status >= 400 && neg.status < 500, `negative timeout -> ${neg.status}`)
    assert.equal(await sbx.isRunning(), true, 'a rejected timeout does not kill the sandbox')
    const huge = await cp('/v2/sandboxes', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ templateID: 'base', metadata: { k: 'v'.repeat(2 * 1024 * 1024) } }), timeoutMs: 20_000 })
    if (huge.json?.sandboxID) await kill(huge.json.sandboxID)
    assert.ok(huge.status >= 400, `a 2 MiB metadata value is refused (got ${huge.status})`)
  })

  test('control plane: unknown paths and methods, JSON errors', T, async () => {
    const r = await cp('/v2/nothing-here')
    assert.equal(r.status, 404)
    assert.equal(r.json?.code, 404)
    const m = await cp(`/sandboxes/${sbx.sandboxId}`, { method: 'PATCH' })
    assert.ok(m.status === 404 || m.status === 405, `PATCH -> ${m.status}`)
    const k = await cp('/sandboxes/sb_not_a_real_sandbox00', { method: 'DELETE' })
    assert.equal(k.status, 404)
    assert.equal(k.json?.code, 404, 'kill of unknown id: body.code 404 (the SDK checks the body, A.1)')
    const g = await cp('/sandboxes/..%2F..%2Fetc')
    assert.equal(g.status, 404)
  })

  test('unary RPC: malformed JSON and unknown method get Connect JSON errors', T, async () => {
    const h = envdHeaders(sbx, { 'Content-Type': 'application/json', 'Connect-Protocol-Version': '1' })
    const bad = await raw('/filesystem.Filesystem/Stat', { method: 'POST', headers: h, body: '{"path":' })
    assert.ok(bad.status >= 400, `Stat with torn JSON -> ${bad.status}`)
    assert.match(bad.headers.get('content-type') ?? '', /application\/json/)
    assert.equal(typeof bad.json?.code, 'string', `Connect error body {code, message}, got ${bad.text}`)
    assert.ok(['invalid_argument', 'internal'].includes(bad.json.code), bad.json.code)

    const wrongType = await raw('/filesystem.Filesystem/Stat', { method: 'POST', headers: h, body: '{"path":42}' })
    assert.ok(wrongType.status >= 400, `Stat {"path":42} -> ${wrongType.status}`)

    const unknown = await raw('/filesystem.Filesystem/NoSuchMethod', { method: 'POST', headers: h, body: '{}' })
    assert.ok(unknown.status === 404 || unknown.status === 501, `unknown method -> ${unknown.status}`)

    const empty = await raw('/process.Process/List', { method: 'POST', headers: h, body: '' })
    assert.ok(empty.status === 200 || empty.status === 400, `List with empty body -> ${empty.status} ${empty.text}`)

    const ok = await raw('/process.Process/List', { method: 'POST', headers: h, body: '{}' })
    assert.equal(ok.status, 200)
    assert.ok(Array.isArray(ok.json?.processes ?? []))
  })

  test('server stream: malformed envelopes end with an error, not a hang', T, async () => {
    const h = envdHeaders(sbx, { 'Content-Type': 'application/connect+json', 'Connect-Protocol-Version': '1', 'Connect-Timeout-Ms': '10000' })
    const cases = {
      'length beyond the body': Buffer.concat([Buffer.from([0, 0, 0, 0, 100]), Buffer.from('{"pr')]),
      'torn header': Buffer.from([0, 0, 0]),
      'empty body': Buffer.alloc(0),
      'compressed flag': envelope({ process: { cmd: '/bin/true' } }, 1),
      'bad JSON in envelope': envelope('{"process":{"cmd":'),
      'huge declared length': Buffer.concat([Buffer.from([0, 0x7f, 0xff, 0xff, 0xff]), Buffer.from('{}')]),
    }
    for (const [name, body] of Object.entries(cases)) {
      const r = await raw('/process.Process/Start', { method: 'POST', headers: h, body, timeoutMs: 10_000 })
      if (r.status === 200) {
        assert.match(r.headers.get('content-type') ?? '', /application\/connect\+json/, name)
        const env = parseEnvelopes(r.buf)
        const last = env.at(-1)
        assert.equal(last?.flags, 2, `${name}: ends with an end-of-stream envelope`)
        assert.ok(last.json.error?.code, `${name}: end-of-stream carries an error, got ${JSON.stringify(last.json)}`)
        assert.ok(!env.some((e) => e.json.event?.start), `${name}: no process was started`)
      } else {
        assert.ok(r.status >= 400 && r.status < 500, `${name}: status ${r.status}`)
      }
    }
    // A correct envelope still works on the same endpoint.
    const good = await raw('/process.Process/Start', {
      method: 'POST', headers: h, body: envelope({ process: { cmd: '/bin/bash', args: ['-l', '-c', 'echo raw-ok'] }, stdin: false }),
    })
    assert.equal(good.status, 200)
    const env = parseEnvelopes(good.buf)
    assert.ok(env[0].json.event.start.pid > 0, 'first message is the start event')
    const out = env.filter((e) => e.json.event?.data?.stdout).map((e) => Buffer.from(e.json.event.data.stdout, 'base64').toString()).join('')
    assert.equal(out, 'raw-ok\n')
    assert.ok(env.some((e) => e.json.event?.end), 'an end event')
    assert.deepEqual(env.at(-1), { flags: 2, json: {} }, 'clean end-of-stream')
  })

  test('envd request without / with a bogus E2b-Sandbox-Id', T, async () => {
    const none = await raw('/process.Process/List', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' })
    assert.ok(none.status >= 400, `no sandbox id -> ${none.status}`)
    const bogus = await raw('/process.Process/List', { method: 'POST', headers: { 'Content-Type': 'application/json', 'E2b-Sandbox-Id': 'sb_nope00000000000000', 'E2b-Sandbox-Port': '49983' }, body: '{}' })
    assert.equal(bogus.status, 502, 'unknown sandbox id -> 502 (B.1)')
    assert.equal(bogus.json?.code, 502)
    assert.equal(bogus.json?.sandboxId, 'sb_nope00000000000000')
    const health = await raw('/health', { headers: { 'E2b-Sandbox-Id': 'sb_nope00000000000000', 'E2b-Sandbox-Port': '49983' } })
    assert.equal(health.status, 502)
    const ci = await raw('/contexts', { headers: { 'E2b-Sandbox-Id': 'sb_nope00000000000000', 'E2b-Sandbox-Port': '49999' } })
    assert.equal(ci.status, 502)
    const live = await raw('/health', { headers: envdHeaders(sbx) })
    assert.equal(live.status, 204, 'GET /health of a live sandbox -> 204')
    const weirdPort = await raw('/health', { headers: envdHeaders(sbx, {}, 1234) })
    assert.ok(weirdPort.status >= 400, `a port nothing listens on -> ${weirdPort.status}`)
  })

  test('a killed sandbox answers as the SDK expects (B.1)', T, async () => {
    const dead = await create({ timeoutMs: 60_000 })
    await dead.files.write('/tmp/x', 'x')
    assert.equal(await dead.kill(), true)
    await kill(dead)
    assert.equal(await dead.kill(), false)
    await expectReject(Sandbox.connect(dead.sandboxId), SandboxNotFoundError, 'connect')
    await expectReject(Sandbox.getInfo(dead.sandboxId), SandboxNotFoundError, 'getInfo')
    assert.equal(await dead.isRunning(), false)
    await expectReject(dead.commands.run('echo hi'), SandboxNotFoundError, 'commands.run (stream start -> unavailable)')
    await expectReject(dead.commands.run('sleep 1', { background: true }), SandboxNotFoundError, 'background run')
    await expectReject(dead.pty.create({ cols: 80, rows: 24, onData: () => {} }), SandboxNotFoundError, 'pty.create')
    await expectReject(dead.files.watchDir('/tmp', () => {}), SandboxNotFoundError, 'watchDir')
    await expectReject(dead.files.list('/tmp'), TimeoutError, 'files.list (unary -> unavailable)')
    await expectReject(dead.files.exists('/tmp/x'), TimeoutError, 'files.exists')
    await expectReject(dead.commands.list(), TimeoutError, 'commands.list')
    await expectReject(dead.files.read('/tmp/x'), TimeoutError, 'files.read (/files 502)')
    await expectReject(dead.files.write('/tmp/y', 'y'), TimeoutError, 'files.write (/files 502)')
  })

  test('killing a sandbox while a command streams ends the stream promptly', T, async () => {
    const s = await create({ timeoutMs: 60_000 })
    const h = await s.commands.run('sleep 60', { background: true })
    const waited = h.wait().then(() => 'resolved', (e) => e)
    await sleep(300)
    assert.equal(await s.kill(), true)
    const t0 = Date.now()
    const res = await Promise.race([waited, sleep(20_000).then(() => 'hang')])
    assert.notEqual(res, 'hang', 'the command stream must end when its sandbox is killed')
    assert.ok(res instanceof SandboxError, `wait() rejects with a SandboxError, got ${res?.name}: ${res?.message}`)
    assert.ok(Date.now() - t0 < 20_000)
    await kill(s)
  })

  test('a client that disconnects mid-stream leaves the process running', T, async () => {
    // 1. The SDK way: a background command whose handle disconnects.
    const h = await sbx.commands.run('sleep 3; echo done > /tmp/disc-1', { background: true })
    await h.disconnect()
    await sleep(200)
    assert.ok((await sbx.commands.list()).some((p) => p.pid === h.pid), 'still listed after disconnect')
    // 2. Raw: abort the HTTP response of Process/Start after the start event.
    const ac = new AbortController()
    const res = await fetch(process.env.E2B_SANDBOX_URL + '/process.Process/Start', {
      method: 'POST',
      headers: envdHeaders(sbx, { 'Content-Type': 'application/connect+json', 'Connect-Protocol-Version': '1' }),
      body: envelope({ process: { cmd: '/bin/bash', args: ['-l', '-c', 'for i in $(seq 1 30); do echo tick; sleep 0.1; done; echo done > /tmp/disc-2'] } }),
      signal: ac.signal,
    })
    const reader = res.body.getReader()
    const { value } = await reader.read()
    const first = parseEnvelopes(Buffer.from(value).subarray(0, 5 + Buffer.from(value).readUInt32BE(1)))[0]
    const pid = first.json.event.start.pid
    ac.abort()
    await sleep(300)
    assert.ok((await sbx.commands.list()).some((p) => p.pid === pid), `raw-started pid ${pid} still running after the client went away`)
    await waitFor(async () => (await sbx.files.exists('/tmp/disc-1')) && (await sbx.files.exists('/tmp/disc-2')),
      { timeoutMs: 15_000, intervalMs: 300, what: 'both disconnected commands to finish their work' })
    assert.equal(await sbx.isRunning(), true)
  })

  test('a client that stops reading a big download does not wedge the sandbox', T, async () => {
    await sbx.commands.run('head -c 64000000 /dev/zero > /tmp/big-zero')
    const ac = new AbortController()
    const stream = await sbx.files.read('/tmp/big-zero', { format: 'stream', signal: ac.signal })
    const reader = stream.getReader()
    await reader.read()
    ac.abort()
    await reader.cancel().catch(() => {})
    assert.equal((await sbx.commands.run('echo alive')).stdout, 'alive\n')
    assert.equal(await sbx.files.read('/tmp/x-nonexistent').catch((e) => e.constructor.name), 'FileNotFoundError')
  })

  test('paths that try to leave the sandbox stay inside it', T, async () => {
    // A marker on the host, outside every sandbox root.
    const hostDir = join(process.env.NEXUS_TEST_ROOT ?? '/var/tmp/nexus-test', `e2b-host-marker-${process.pid}`)
    mkdirSync(hostDir, { recursive: true })
    const marker = join(hostDir, 'marker.txt')
    writeFileSync(marker, 'HOST-ONLY')
    const victim = join(hostDir, 'written-from-sandbox.txt')
    try {
      const inside = (await sbx.commands.run(`cat ${marker} 2>&1 || true`)).stdout
      assert.doesNotMatch(inside, /HOST-ONLY/, 'the host marker is not visible to sandbox commands (test premise)')

      // .. beyond / in absolute and relative paths resolves inside the sandbox.
      await expectReject(sbx.files.read('/../../../../..' + marker), FileNotFoundError, 'read /../..<host marker>')
      await expectReject(sbx.files.read('../../../../../../..' + marker), FileNotFoundError, 'read ../..<host marker>')
      assert.equal(await sbx.files.exists('/../../../../..' + marker), false)
      await sbx.files.write('/tmp/inside-marker', 'SANDBOX')
      assert.equal(await sbx.files.read('/../../../../tmp/inside-marker'), 'SANDBOX', '/../../tmp/x is the sandbox /tmp/x')
      assert.equal(await sbx.files.read('../../../../../tmp/inside-marker'), 'SANDBOX', '../../tmp/x from home is the sandbox /tmp/x')
      assert.equal(await sbx.files.read('/tmp/../tmp/./inside-marker'), 'SANDBOX')

      // Symlinks made inside the sandbox point into the sandbox, not the host.
      await sbx.commands.run(`ln -sfn ${hostDir} /tmp/esc-dir; ln -sfn ${marker} /tmp/esc-file; ln -sfn / /tmp/esc-root; ln -sfn ${victim} /tmp/esc-write`)
      await expectReject(sbx.files.read('/tmp/esc-file'), FileNotFoundError, 'read through a symlink to a host path')
      await expectReject(sbx.files.read('/tmp/esc-dir/marker.txt'), FileNotFoundError, 'read through a symlinked dir')
      await expectReject(sbx.files.read('/tmp/esc-root/../..' + marker), FileNotFoundError, 'read via symlink to /')
      await expectReject(sbx.files.list('/tmp/esc-dir'), FileNotFoundError, 'list through a symlink to a host dir')
      await sbx.files.write('/tmp/esc-write', 'pwned').catch(() => {})
      await sbx.files.write('/tmp/esc-dir/new.txt', 'pwned').catch(() => {})
      await sbx.files.rename('/tmp/esc-file', '/tmp/esc-dir/moved').catch(() => {})
      await sbx.files.makeDir('/tmp/esc-dir/newdir').catch(() => {})
      await sbx.files.remove('/tmp/esc-dir/marker.txt').catch(() => {})
      assert.equal(existsSync(victim), false, 'write through a symlink created nothing on the host')
      assert.equal(existsSync(join(hostDir, 'new.txt')), false, 'write through a symlinked dir created nothing on the host')
      assert.equal(existsSync(join(hostDir, 'moved')), false)
      assert.equal(existsSync(join(hostDir, 'newdir')), false)
      assert.equal(existsSync(marker), true, 'remove through a symlinked dir removed nothing on the host')

      // NUL bytes and overlong paths are refused cleanly.
      await expectReject(sbx.files.read('/tmp/a\u0000b'), SandboxError, 'NUL in path')
      await expectReject(sbx.files.write('/tmp/a\u0000b', 'x'), SandboxError, 'NUL in upload path')
      await expectReject(sbx.files.read('/tmp/' + 'a'.repeat(5000)), SandboxError, 'overlong path')
      await expectReject(sbx.commands.run('pwd', { cwd: '/tmp/a\u0000b' }), SandboxError, 'NUL in cwd')
      assert.equal(await sbx.isRunning(), true)
    } finally {
      rmSync(hostDir, { recursive: true, force: true })
    }
  })

  test('weird commands and arguments do not break the endpoint', T, async () => {
    const r = await sbx.commands.run("printf '%s' \"$X\"", { envs: { X: 'quote\' dq" nl\n uni ✓ nul-free' } })
    assert.equal(r.stdout, 'quote\' dq" nl\n uni ✓ nul-free')
    const long = 'a'.repeat(100_000)
    assert.equal((await sbx.commands.run(`echo ${long} | wc -c`)).stdout.trim(), String(long.length + 1))
    const err = await expectReject(sbx.commands.run('kill -9 $$'), CommandExitError, 'a command killed by a signal')
    assert.notEqual(err.exitCode, 0, 'a killed process reports a non-zero exit code (-1)')
    const bin = randomBytes(4096)
    await sbx.files.write('/tmp/bin.dat', bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.length))
    const cat = await sbx.commands.run('base64 -w0 /tmp/bin.dat')
    assert.equal(Buffer.from(cat.stdout, 'base64').equals(bin), true)
  })

  test('the daemon still serves new sandboxes after all of this', T, async () => {
    const s = await create({ timeoutMs: 30_000 })
    try {
      assert.equal((await s.commands.run('echo still-fine')).stdout, 'still-fine\n')
    } finally {
      await kill(s)
    }
  })
})
