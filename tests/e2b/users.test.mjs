// SPDX-License-Identifier: Apache-2.0
// Users and API keys: a sandbox belongs to the key's user, users see only their own sandboxes,
// an admin key sees all; wrong, revoked or missing keys get AuthenticationError (§A.1).
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { AuthenticationError, SandboxNotFoundError, Sandbox } from 'e2b'
import { Sandbox as CodeSandbox } from '@e2b/code-interpreter'
import { ADMIN_KEY, API_URL, KEY_A, KEY_B, REVOKED_KEY, RUN_TAG, create, expectReject, kill, killAll, raw, skipReason } from './lib.mjs'

const T = { timeout: 90_000 }
const multiSkip = skipReason || (!KEY_B || !ADMIN_KEY ? 'E2B_API_KEY_B and E2B_ADMIN_KEY are not set' : false)

describe('two users', { skip: multiSkip }, () => {
  let a
  let b
  const tag = RUN_TAG + '-users'
  before(async () => {
    a = await create({ timeoutMs: 180_000, metadata: { suite: tag, who: 'alice' } })
    b = await create({ timeoutMs: 180_000, metadata: { suite: tag, who: 'bob' }, apiKey: KEY_B })
  })
  after(killAll)

  test('each user lists only its own sandboxes', T, async () => {
    const la = await Sandbox.list({ query: { metadata: { suite: tag } } }).nextItems()
    assert.deepEqual(la.map((s) => s.sandboxId), [a.sandboxId])
    const lb = await Sandbox.list({ query: { metadata: { suite: tag } }, apiKey: KEY_B }).nextItems()
    assert.deepEqual(lb.map((s) => s.sandboxId), [b.sandboxId])
    const allA = await Sandbox.list().nextItems()
    assert.ok(!allA.some((s) => s.sandboxId === b.sandboxId), "alice's unfiltered list does not show bob's sandbox")
  })

  test('the admin key sees both', T, async () => {
    const l = await Sandbox.list({ query: { metadata: { suite: tag } }, apiKey: ADMIN_KEY }).nextItems()
    assert.deepEqual(l.map((s) => s.sandboxId).sort(), [a.sandboxId, b.sandboxId].sort())
    assert.equal((await Sandbox.getInfo(b.sandboxId, { apiKey: ADMIN_KEY })).sandboxId, b.sandboxId)
    assert.equal((await Sandbox.getInfo(a.sandboxId, { apiKey: ADMIN_KEY })).metadata.who, 'alice')
  })

  test("another user's sandbox is not found: getInfo, connect, setTimeout, pause, metrics; kill is false", T, async () => {
    await expectReject(Sandbox.getInfo(b.sandboxId), SandboxNotFoundError, 'alice getInfo bob')
    await expectReject(Sandbox.getInfo(a.sandboxId, { apiKey: KEY_B }), SandboxNotFoundError, 'bob getInfo alice')
    await expectReject(Sandbox.connect(b.sandboxId), SandboxNotFoundError, 'alice connect bob')
    await expectReject(Sandbox.setTimeout(b.sandboxId, 5_000), SandboxNotFoundError, 'alice setTimeout bob')
    await expectReject(Sandbox.pause(b.sandboxId), SandboxNotFoundError, 'alice pause bob')
    await expectReject(Sandbox.getMetrics(b.sandboxId), SandboxNotFoundError, 'alice getMetrics bob')
    assert.equal(await Sandbox.kill(b.sandboxId), false, 'alice kill bob -> false')
    assert.equal(await Sandbox.kill(a.sandboxId, { apiKey: KEY_B }), false, 'bob kill alice -> false')
    // ... and both are untouched
    assert.equal((await b.getInfo()).state, 'running')
    assert.equal((await a.getInfo()).state, 'running')
    const ttl = (await b.getInfo()).endAt.getTime() - Date.now()
    assert.ok(ttl > 60_000, `bob's timeout was not changed by alice (ttl ${ttl} ms)`)
    assert.equal((await b.commands.run('echo bob-ok')).stdout, 'bob-ok\n')
  })

  test("envd traffic for another user's sandbox needs that sandbox's access token", T, async () => {
    await b.commands.run('echo secret > /tmp/bob-secret')
    // A client that knows only bob's sandbox id (no token, or alice's token) must not get in.
    for (const token of [undefined, a.envdAccessToken]) {
      const intruder = new Sandbox({ sandboxId: b.sandboxId, envdVersion: '0.6.13', envdAccessToken: token })
      await expectReject(intruder.commands.run('cat /tmp/bob-secret'), [AuthenticationError, SandboxNotFoundError],
        `commands.run on bob's sandbox with ${token ? "alice's" : 'no'} token`)
      await expectReject(intruder.files.read('/tmp/bob-secret'), Error, `files.read on bob's sandbox with ${token ? "alice's" : 'no'} token`)
    }
    assert.ok(b.envdAccessToken, 'create returned an envdAccessToken (B.2)')
  })

  test("code-interpreter traffic needs the sandbox's traffic token; /init is nexusd's alone", T, async () => {
    assert.ok(b.trafficAccessToken, 'create returned a trafficAccessToken')
    assert.notEqual(b.trafficAccessToken, b.envdAccessToken)
    const route = { 'E2b-Sandbox-Id': b.sandboxId, 'E2b-Sandbox-Port': '49999', 'Content-Type': 'application/json' }
    // Only the id (or alice's tokens): no listing, creating or deleting contexts.
    for (const extra of [{}, { 'E2B-Traffic-Access-Token': a.trafficAccessToken }, { 'X-Access-Token': a.envdAccessToken }]) {
      const list = await raw('/contexts', { headers: { ...route, ...extra } })
      assert.equal(list.status, 401, `GET /contexts with ${JSON.stringify(Object.keys(extra))}: ${list.text}`)
      const made = await raw('/contexts', { method: 'POST', headers: { ...route, ...extra }, body: '{"language":"python"}' })
      assert.equal(made.status, 401, `POST /contexts: ${made.text}`)
    }
    const ok = await raw('/contexts', { headers: { ...route, 'E2B-Traffic-Access-Token': b.trafficAccessToken } })
    assert.equal(ok.status, 200, ok.text)
    assert.ok(Array.isArray(ok.json))
    // /init (the agent's settings: access token, default user) cannot be reached from outside,
    // not even with the sandbox's own access token.
    for (const port of ['49983', '49999']) {
      const init = await raw('/init', {
        method: 'POST',
        headers: { ...route, 'E2b-Sandbox-Port': port, 'X-Access-Token': b.envdAccessToken },
        body: JSON.stringify({ accessToken: '', defaultUser: 'root' }),
      })
      assert.equal(init.status, 403, `/init on port ${port}: ${init.text}`)
    }
    const intruder = new Sandbox({ sandboxId: b.sandboxId, envdVersion: '0.6.13' })
    await expectReject(intruder.files.read('/tmp/bob-secret'), Error, 'still locked after the /init attempts')
    assert.equal((await b.commands.run('whoami')).stdout, 'user\n', 'the default user is unchanged')
  })

  test('admin can kill another user\'s sandbox', T, async () => {
    const c = await create({ timeoutMs: 60_000, apiKey: KEY_B })
    assert.equal(await Sandbox.kill(c.sandboxId, { apiKey: ADMIN_KEY }), true)
    await expectReject(Sandbox.getInfo(c.sandboxId, { apiKey: KEY_B }), SandboxNotFoundError)
    await kill(c)
  })
})

describe('API keys', { skip: skipReason }, () => {
  after(killAll)

  test('a wrong API key -> AuthenticationError on every control-plane call', T, async () => {
    const apiKey = 'e2b_wrong_' + RUN_TAG
    await expectReject(Sandbox.create({ apiKey, timeoutMs: 10_000 }), AuthenticationError, 'create')
    await expectReject(CodeSandbox.create({ apiKey, timeoutMs: 10_000 }), AuthenticationError, 'code-interpreter create')
    await expectReject(Sandbox.list({ apiKey }).nextItems(), AuthenticationError, 'list')
    await expectReject(Sandbox.getInfo('sb_whatever000000000000', { apiKey }), AuthenticationError, 'getInfo')
    await expectReject(Sandbox.kill('sb_whatever000000000000', { apiKey }), AuthenticationError, 'kill')
    await expectReject(Sandbox.connect('sb_whatever000000000000', { apiKey }), AuthenticationError, 'connect')
    await expectReject(Sandbox.setTimeout('sb_whatever000000000000', 1000, { apiKey }), AuthenticationError, 'setTimeout')
  })

  test('a revoked API key -> AuthenticationError', { ...T, skip: REVOKED_KEY ? false : 'E2B_REVOKED_KEY not set' }, async () => {
    await expectReject(Sandbox.create({ apiKey: REVOKED_KEY, timeoutMs: 10_000 }), AuthenticationError, 'create')
    await expectReject(Sandbox.list({ apiKey: REVOKED_KEY }).nextItems(), AuthenticationError, 'list')
  })

  test('a missing API key -> AuthenticationError (client side) and 401 from the server', T, async () => {
    const saved = process.env.E2B_API_KEY
    delete process.env.E2B_API_KEY
    try {
      await expectReject(Sandbox.create({ timeoutMs: 10_000 }), AuthenticationError, 'create without key')
    } finally {
      process.env.E2B_API_KEY = saved
    }
    for (const [method, path] of [['GET', '/v2/sandboxes'], ['POST', '/v2/sandboxes'], ['GET', '/sandboxes/sb_x'], ['DELETE', '/sandboxes/sb_x']]) {
      const r = await raw(path, {
        method,
        base: API_URL,
        headers: method === 'POST' ? { 'Content-Type': 'application/json' } : {},
        body: method === 'POST' ? '{"templateID":"base"}' : undefined,
      })
      assert.equal(r.status, 401, `${method} ${path} without X-API-KEY`)
      assert.equal(r.json?.code, 401, `${method} ${path}: JSON body {code: 401, message} (got ${r.text})`)
      assert.equal(typeof r.json?.message, 'string')
    }
    const r = await raw('/v2/sandboxes', { base: API_URL, headers: { 'X-API-KEY': 'nope' } })
    assert.equal(r.status, 401)
    assert.equal(r.json?.code, 401)
  })

  test('the right key works (control)', T, async () => {
    const s = await create({ timeoutMs: 30_000, apiKey: KEY_A })
    assert.equal(await kill(s), true)
  })
})
