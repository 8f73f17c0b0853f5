// SPDX-License-Identifier: Apache-2.0
// Control plane (e2b-protocol.md §A): create, connect, list, getInfo, kill, setTimeout, pause,
// getMetrics, isRunning — with the unmodified `e2b` SDK against nexusd.
import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import { Sandbox, SandboxError, SandboxNotFoundError } from 'e2b'
import { RUN_TAG, create, expectReject, kill, killAll, skipReason, waitFor } from './lib.mjs'

const T = { timeout: 120_000 }

describe('control plane', { skip: skipReason }, () => {
  after(killAll)

  test('create with template, timeoutMs, metadata and envs', T, async () => {
    const metadata = { suite: RUN_TAG, a: 'b c', 'k&y': 'v=1' }
    const before = Date.now()
    const sbx = await create({ template: 'base', timeoutMs: 60_000, metadata, envs: { FOO: 'bar', SPACED: 'x y' } })
    try {
      assert.equal(typeof sbx.sandboxId, 'string')
      assert.ok(sbx.sandboxId.length > 0)
      const r = await sbx.commands.run('echo "$FOO|$SPACED"; whoami; echo $HOME; pwd')
      assert.equal(r.exitCode, 0)
      assert.equal(r.stdout, 'bar|x y\nuser\n/home/user\n/home/user\n')

      const info = await sbx.getInfo()
      assert.equal(info.sandboxId, sbx.sandboxId)
      assert.deepEqual(info.metadata, metadata)
      assert.equal(info.state, 'running')
      assert.match(info.envdVersion, /^\d+\.\d+\.\d+/)
      assert.ok(info.startedAt instanceof Date && !isNaN(info.startedAt))
      assert.ok(info.startedAt.getTime() >= before - 5_000 && info.startedAt.getTime() <= Date.now() + 5_000,
        `startedAt ${info.startedAt.toISOString()} is not around now`)
      const ttl = info.endAt.getTime() - Date.now()
      assert.ok(ttl > 45_000 && ttl <= 65_000, `endAt should be ~60 s ahead, is ${ttl} ms`)
      assert.equal(typeof info.cpuCount, 'number')
      assert.equal(typeof info.memoryMB, 'number')
    } finally {
      await kill(sbx)
    }
  })

  test('create with template code-interpreter-v1 and the default template', T, async () => {
    const a = await create({ template: 'code-interpreter-v1', timeoutMs: 60_000 })
    const b = await create({ timeoutMs: 60_000 })
    try {
      for (const s of [a, b]) {
        const r = await s.commands.run('cat /etc/debian_version; command -v python3 node git curl bash')
        assert.equal(r.exitCode, 0)
        assert.match(r.stdout, /^12\./, 'Debian bookworm')
        assert.match(r.stdout, /python3/)
        assert.match(r.stdout, /node/)
      }
      assert.notEqual(a.sandboxId, b.sandboxId)
    } finally {
      await kill(a)
      await kill(b)
    }
  })

  test('create with an unknown template fails with an error, not a hang', T, async () => {
    const err = await expectReject(
      Sandbox.create('no-such-template-' + RUN_TAG, { timeoutMs: 30_000, requestTimeoutMs: 30_000 }),
      [SandboxError, Error])
    assert.doesNotMatch(String(err.message), /Unexpected token|JSON/, 'error body must be JSON {code,message}')
  })

  test('connect to a running sandbox gives the same sandbox', T, async () => {
    const sbx = await create({ timeoutMs: 60_000 })
    try {
      await sbx.files.write('/tmp/marker', 'same')
      const again = await Sandbox.connect(sbx.sandboxId)
      assert.equal(again.sandboxId, sbx.sandboxId)
      assert.equal(await again.files.read('/tmp/marker'), 'same')
      const self = await sbx.connect()
      assert.equal(self.sandboxId, sbx.sandboxId)
      // connect with a longer timeout extends the sandbox (A.4: only ever extended)
      await Sandbox.connect(sbx.sandboxId, { timeoutMs: 240_000 })
      const ttl = (await sbx.getInfo()).endAt.getTime() - Date.now()
      assert.ok(ttl > 200_000, `connect({timeoutMs: 240000}) should extend endAt, ttl is ${ttl} ms`)
      // ... and a shorter one does not shorten it
      await Sandbox.connect(sbx.sandboxId, { timeoutMs: 10_000 })
      const ttl2 = (await sbx.getInfo()).endAt.getTime() - Date.now()
      assert.ok(ttl2 > 200_000, `connect({timeoutMs: 10000}) must not shorten endAt, ttl is ${ttl2} ms`)
    } finally {
      await kill(sbx)
    }
  })

  test('pause: true, then false; file kept; connect resumes', T, async () => {
    const sbx = await create({ timeoutMs: 120_000, metadata: { suite: RUN_TAG, pause: '1' } })
    try {
      await sbx.files.write('/home/user/before-pause.txt', 'kept across pause')
      await sbx.commands.run('echo from-cmd > /tmp/cmd.txt')
      assert.equal(await sbx.pause(), true)
      assert.equal((await sbx.getInfo()).state, 'paused')
      assert.equal(await sbx.pause(), false, 'second pause answers 409 -> false')
      assert.equal(await Sandbox.pause(sbx.sandboxId), false, 'static pause of a paused sandbox -> false')
      assert.equal(await sbx.isRunning(), false, 'envd traffic to a paused sandbox gets 502')

      const resumed = await Sandbox.connect(sbx.sandboxId)
      assert.equal(resumed.sandboxId, sbx.sandboxId)
      assert.equal((await resumed.getInfo()).state, 'running')
      assert.equal(await resumed.isRunning(), true)
      assert.equal(await resumed.files.read('/home/user/before-pause.txt'), 'kept across pause')
      assert.equal((await resumed.commands.run('cat /tmp/cmd.txt')).stdout, 'from-cmd\n')

      // betaPause is the deprecated alias; resume by instance connect()
      assert.equal(await resumed.betaPause(), true)
      await resumed.connect()
      assert.equal((await resumed.commands.run('echo ok')).stdout, 'ok\n')
    } finally {
      await kill(sbx)
    }
  })

  test('kill: true, then false; a killed sandbox is gone', T, async () => {
    const sbx = await create({ timeoutMs: 60_000 })
    assert.equal(await sbx.kill(), true)
    assert.equal(await sbx.kill(), false)
    assert.equal(await Sandbox.kill(sbx.sandboxId), false)
    await expectReject(Sandbox.getInfo(sbx.sandboxId), SandboxNotFoundError, 'getInfo after kill')
    await expectReject(Sandbox.connect(sbx.sandboxId), SandboxNotFoundError, 'connect after kill')
    await expectReject(sbx.setTimeout(30_000), SandboxNotFoundError, 'setTimeout after kill')
    await expectReject(sbx.pause(), SandboxNotFoundError, 'pause after kill')
    assert.equal(await sbx.isRunning(), false)
    const listed = await Sandbox.list({ query: { metadata: { suite: RUN_TAG } } }).nextItems()
    assert.ok(!listed.some((s) => s.sandboxId === sbx.sandboxId), 'killed sandbox must leave the list')
  })

  test('kill a paused sandbox', T, async () => {
    const sbx = await create({ timeoutMs: 60_000 })
    assert.equal(await sbx.pause(), true)
    assert.equal(await sbx.kill(), true)
    await expectReject(Sandbox.getInfo(sbx.sandboxId), SandboxNotFoundError)
  })

  test('getInfo: endAt follows setTimeout (longer and shorter)', T, async () => {
    const sbx = await create({ timeoutMs: 60_000 })
    try {
      await sbx.setTimeout(200_000)
      let ttl = (await sbx.getInfo()).endAt.getTime() - Date.now()
      assert.ok(ttl > 190_000 && ttl <= 205_000, `after setTimeout(200s) endAt should be ~200 s ahead, is ${ttl} ms`)
      await Sandbox.setTimeout(sbx.sandboxId, 30_000)
      ttl = (await Sandbox.getInfo(sbx.sandboxId)).endAt.getTime() - Date.now()
      assert.ok(ttl > 20_000 && ttl <= 35_000, `after setTimeout(30s) endAt should be ~30 s ahead, is ${ttl} ms`)
      // getFullInfo is the deprecated alias of getInfo
      const full = await Sandbox.getFullInfo(sbx.sandboxId)
      assert.equal(full.sandboxId, sbx.sandboxId)
    } finally {
      await kill(sbx)
    }
  })

  test('setTimeout expiry really kills the sandbox', T, async () => {
    const sbx = await create({ timeoutMs: 60_000 })
    try {
      assert.equal(await sbx.isRunning(), true)
      await sbx.setTimeout(2_000)
      await waitFor(async () => !(await sbx.isRunning()), { timeoutMs: 30_000, intervalMs: 500, what: 'isRunning() false after a 2 s timeout' })
      await waitFor(() => Sandbox.getInfo(sbx.sandboxId).then(() => false, (e) => e instanceof SandboxNotFoundError),
        { timeoutMs: 15_000, intervalMs: 500, what: 'getInfo -> SandboxNotFoundError after expiry' })
      await expectReject(sbx.commands.run('true'), SandboxNotFoundError, 'commands.run after expiry')
      assert.equal(await sbx.kill(), false)
    } finally {
      await kill(sbx)
    }
  })

  test('create with a short timeoutMs expires on its own', T, async () => {
    const sbx = await create({ timeoutMs: 3_000 })
    try {
      assert.equal((await sbx.commands.run('echo up')).stdout, 'up\n')
      await waitFor(() => Sandbox.getInfo(sbx.sandboxId).then(() => false, (e) => e instanceof SandboxNotFoundError),
        { timeoutMs: 30_000, intervalMs: 500, what: 'sandbox created with timeoutMs 3000 to expire' })
    } finally {
      await kill(sbx)
    }
  })

  test('list: metadata filter (3-layer encoding), state filter, pagination', T, async () => {
    const tag = RUN_TAG + '-list'
    const s1 = await create({ timeoutMs: 120_000, metadata: { suite: tag, idx: '1', 'we ird&k=': 'v a%l=ue&' } })
    const s2 = await create({ timeoutMs: 120_000, metadata: { suite: tag, idx: '2' } })
    const s3 = await create({ timeoutMs: 120_000, metadata: { suite: tag, idx: '3' } })
    try {
      const ids = (arr) => arr.map((s) => s.sandboxId).sort()
      const all = await Sandbox.list({ query: { metadata: { suite: tag } } }).nextItems()
      assert.deepEqual(ids(all), ids([s1, s2, s3]))
      const one = all.find((s) => s.sandboxId === s1.sandboxId)
      assert.deepEqual(one.metadata, { suite: tag, idx: '1', 'we ird&k=': 'v a%l=ue&' })
      assert.equal(one.state, 'running')
      assert.ok(one.startedAt instanceof Date && one.endAt instanceof Date)
      assert.match(one.envdVersion, /^\d+\.\d+\.\d+/)
      assert.equal(typeof one.templateId, 'string')

      const byIdx = await Sandbox.list({ query: { metadata: { suite: tag, idx: '2' } } }).nextItems()
      assert.deepEqual(ids(byIdx), [s2.sandboxId])
      const weird = await Sandbox.list({ query: { metadata: { 'we ird&k=': 'v a%l=ue&' } } }).nextItems()
      assert.deepEqual(ids(weird), [s1.sandboxId], 'special characters survive the 3-layer encoding')
      const none = await Sandbox.list({ query: { metadata: { suite: tag, idx: 'nope' } } }).nextItems()
      assert.deepEqual(none, [])

      assert.equal(await s3.pause(), true)
      const paused = await Sandbox.list({ query: { metadata: { suite: tag }, state: ['paused'] } }).nextItems()
      assert.deepEqual(ids(paused), [s3.sandboxId])
      assert.equal(paused[0].state, 'paused')
      const running = await Sandbox.list({ query: { metadata: { suite: tag }, state: ['running'] } }).nextItems()
      assert.deepEqual(ids(running), ids([s1, s2]))
      const both = await Sandbox.list({ query: { metadata: { suite: tag }, state: ['running', 'paused'] } }).nextItems()
      assert.deepEqual(ids(both), ids([s1, s2, s3]))
      const dflt = await Sandbox.list({ query: { metadata: { suite: tag } } }).nextItems()
      assert.deepEqual(ids(dflt), ids([s1, s2, s3]), 'no state filter lists running and paused')

      // Pagination: limit 1, follow X-Next-Token until hasNext is false.
      const pager = Sandbox.list({ query: { metadata: { suite: tag } }, limit: 1 })
      assert.equal(pager.hasNext, true)
      const seen = []
      let pages = 0
      while (pager.hasNext && pages < 10) {
        const page = await pager.nextItems()
        pages++
        assert.ok(page.length <= 1, `limit 1 page has ${page.length} items`)
        seen.push(...page)
        if (page.length === 1 && seen.length < 3) assert.equal(pager.hasNext, true, 'more pages announced')
      }
      assert.equal(pager.hasNext, false, 'paginator ends')
      assert.deepEqual(ids(seen), ids([s1, s2, s3]), 'pages together hold every sandbox once')
      assert.ok(pages >= 3)

      // limit 2 + nextToken carried into a new paginator
      const p2 = Sandbox.list({ query: { metadata: { suite: tag } }, limit: 2 })
      const first = await p2.nextItems()
      assert.equal(first.length, 2)
      assert.equal(p2.hasNext, true)
      const p3 = Sandbox.list({ query: { metadata: { suite: tag } }, limit: 2, nextToken: p2.nextToken })
      const rest = await p3.nextItems()
      assert.deepEqual(ids([...first, ...rest]), ids([s1, s2, s3]))

      // order asc / desc by start time
      const asc = await Sandbox.list({ query: { metadata: { suite: tag } }, order: 'asc' }).nextItems()
      const desc = await Sandbox.list({ query: { metadata: { suite: tag } }, order: 'desc' }).nextItems()
      const times = (arr) => arr.map((s) => s.startedAt.getTime())
      assert.deepEqual(times(asc), [...times(asc)].sort((x, y) => x - y), 'order asc')
      assert.deepEqual(times(desc), [...times(desc)].sort((x, y) => y - x), 'order desc')
    } finally {
      await Promise.all([kill(s1), kill(s2), kill(s3)])
    }
  })

  test('getMetrics returns an array (static and instance)', T, async () => {
    const sbx = await create({ timeoutMs: 60_000 })
    try {
      const m = await sbx.getMetrics()
      assert.ok(Array.isArray(m), 'getMetrics() is an array')
      for (const x of m) {
        assert.ok(x.timestamp instanceof Date)
        assert.equal(typeof x.cpuUsedPct, 'number')
        assert.equal(typeof x.memTotal, 'number')
      }
      const m2 = await Sandbox.getMetrics(sbx.sandboxId, { start: new Date(Date.now() - 60_000), end: new Date() })
      assert.ok(Array.isArray(m2))
    } finally {
      await kill(sbx)
    }
    await expectReject(Sandbox.getMetrics('sb_nonexistent000000000'), SandboxNotFoundError, 'metrics of unknown sandbox')
  })

  test('isRunning: true while running, false after kill', T, async () => {
    const sbx = await create({ timeoutMs: 60_000 })
    assert.equal(await sbx.isRunning(), true)
    assert.equal(await sbx.kill(), true)
    assert.equal(await sbx.isRunning(), false)
  })

  test('unknown sandbox id: SandboxNotFoundError / false', T, async () => {
    const id = 'sb_doesnotexist00000000'
    await expectReject(Sandbox.getInfo(id), SandboxNotFoundError, 'getInfo')
    await expectReject(Sandbox.connect(id), SandboxNotFoundError, 'connect')
    await expectReject(Sandbox.setTimeout(id, 10_000), SandboxNotFoundError, 'setTimeout')
    await expectReject(Sandbox.pause(id), SandboxNotFoundError, 'pause')
    assert.equal(await Sandbox.kill(id), false)
    const ghost = new Sandbox({ sandboxId: id, envdVersion: '0.6.13' })
    assert.equal(await ghost.isRunning(), false, 'envd /health of an unknown id answers 502')
    await expectReject(ghost.commands.run('true'), SandboxNotFoundError, 'commands.run on unknown id')
  })

  test('fork and snapshots: a clear "not supported" error; not-found for unknown ids (updateNetwork too)', T, async () => {
    const sbx = await create({ timeoutMs: 60_000 })
    try {
      for (const [what, call] of [
        ['fork', () => sbx.fork({ count: 1 })],
        ['createSnapshot', () => sbx.createSnapshot({ name: 'snap' })],
      ]) {
        const err = await expectReject(call(), SandboxError, what)
        assert.ok(!(err instanceof SandboxNotFoundError), `${what} of a live sandbox is not "not found"`)
        assert.match(err.message, /^501: .*not supported/, `${what}: ${err.message}`)
      }
      assert.equal(await sbx.isRunning(), true, 'the sandbox is untouched')
      assert.equal((await sbx.commands.run('echo still here')).stdout, 'still here\n')
    } finally {
      await kill(sbx)
    }
    const id = 'sb_doesnotexist00000000'
    await expectReject(Sandbox.updateNetwork(id, { denyOut: ['0.0.0.0/0'] }), SandboxNotFoundError, 'updateNetwork')
    await expectReject(Sandbox.createSnapshot(id), SandboxNotFoundError, 'createSnapshot')
    await expectReject(Sandbox.fork(id), SandboxNotFoundError, 'fork')
    assert.deepEqual(await Sandbox.listSnapshots().nextItems(), [], 'listSnapshots: there are none')
    assert.equal(await Sandbox.deleteSnapshot('snap_nonexistent'), false, 'deleteSnapshot of an unknown id')
  })
})
