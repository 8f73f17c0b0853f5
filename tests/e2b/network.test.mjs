// SPDX-License-Identifier: Apache-2.0
// Network options (e2b-protocol.md A.3 `network`, `allow_internet_access`, updateNetwork) with
// the unmodified `e2b` SDK. What nexusd made of them is read back through the native API
// (`nexus netpolicy list --json`), and a denied destination is shown to be dropped by the
// counter of the rule the SDK's option became.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import http from 'node:http'
import { after, describe, test } from 'node:test'
import { Sandbox } from 'e2b'
import { create, expectReject, kill, killAll, skipReason } from './lib.mjs'

const T = { timeout: 120_000 }
const policy = (id) => JSON.parse(execFileSync(process.env.NEXUS_CLI, ['netpolicy', 'list', id, '--json']))
const stats = (id) => JSON.parse(execFileSync(process.env.NEXUS_CLI, ['netpolicy', 'stats', id, '--json']))
const packets = (id, rule) => stats(id).rules.filter((r) => r.id === rule).reduce((n, r) => n + r.packets, 0)
const connectTo = (addr, port) =>
  `python3 -c "import socket
try:
    socket.create_connection(('${addr}', ${port}), timeout=2).close(); print('open')
except Exception as e:
    print(type(e).__name__)"`

describe('network', { skip: skipReason || (!process.env.NEXUS_CLI && 'NEXUS_CLI is not set') }, () => {
  after(killAll)

  test('allowOut and denyOut become rules and domain lists; a denied address is dropped', T, async () => {
    const sbx = await create({
      timeoutMs: 60_000,
      network: { denyOut: ['0.0.0.0/0'], allowOut: ['198.51.100.7/32', 'pypi.org', '*.pythonhosted.org'] },
    })
    try {
      const p = policy(sbx.sandboxId)
      const rules = p.rules.map((r) => `${r.action} ${r.cidr} ${r.priority}`)
      assert.deepEqual(rules.sort(), ['allow 198.51.100.7/32 900', 'deny 0.0.0.0/0 1000'])
      assert.deepEqual(p.allow_domains, ['pypi.org', '*.pythonhosted.org'])
      const denyId = p.rules.find((r) => r.action === 'deny').id
      const before = packets(sbx.sandboxId, denyId)
      const r = await sbx.commands.run(connectTo('203.0.113.9', 9))
      assert.equal(r.stdout.trim(), 'TimeoutError')
      assert.ok(packets(sbx.sandboxId, denyId) > before, 'the denyOut rule counted the dropped packets')
      const info = await sbx.getInfo()
      assert.equal(info.allowInternetAccess, true)
    } finally {
      await kill(sbx)
    }
  })

  test('updateNetwork replaces the rules at once', T, async () => {
    const sbx = await create({ timeoutMs: 60_000 })
    try {
      assert.deepEqual(policy(sbx.sandboxId).rules, [])
      await sbx.updateNetwork({ denyOut: ['203.0.113.0/24'] })
      const p = policy(sbx.sandboxId)
      assert.deepEqual(p.rules.map((x) => `${x.action} ${x.cidr}`), ['deny 203.0.113.0/24'])
      const denyId = p.rules[0].id
      const r = await sbx.commands.run(connectTo('203.0.113.9', 9))
      assert.equal(r.stdout.trim(), 'TimeoutError')
      assert.ok(packets(sbx.sandboxId, denyId) > 0)
      await Sandbox.updateNetwork(sbx.sandboxId, { allowOut: ['pypi.org'] })
      assert.deepEqual(policy(sbx.sandboxId).rules, [])
      assert.deepEqual(policy(sbx.sandboxId).allow_domains, ['pypi.org'])
    } finally {
      await kill(sbx)
    }
  })

  test('allowInternetAccess: false closes everything out', T, async () => {
    const sbx = await create({ timeoutMs: 60_000, allowInternetAccess: false })
    try {
      const ids = policy(sbx.sandboxId).rules.map((x) => `${x.id} ${x.action} ${x.cidr}`)
      assert.deepEqual(ids, ['no-internet deny 0.0.0.0/0', 'no-internet-v6 deny ::/0'])
    } finally {
      await kill(sbx)
    }
  })

  test('getHost(port) routes to that port of the sandbox, with the traffic token', T, async () => {
    const port = new URL(process.env.E2B_SANDBOX_URL).port
    const sbx = await create({ timeoutMs: 60_000, network: { allowPublicTraffic: false } })
    try {
      assert.equal(sbx.getHost(8000), `8000-${sbx.sandboxId}.localhost:${port}`)
      await sbx.commands.run('mkdir -p /tmp/www && echo served >/tmp/www/index.html')
      await sbx.commands.run('python3 -m http.server 8000 --directory /tmp/www', { background: true })
      // *.localhost is loopback for browsers and curl, not for every resolver (glibc without
      // nss-myhostname): connect to the endpoint and send that Host, as they would.
      const get = (headers) =>
        new Promise((ok, bad) =>
          http
            .get({ host: '127.0.0.1', port, path: '/', headers: { Host: sbx.getHost(8000), ...headers } }, (res) => {
              let body = ''
              res.on('data', (d) => (body += d))
              res.on('end', () => ok({ status: res.statusCode, body }))
            })
            .on('error', bad),
        )
      let r
      for (let i = 0; i < 50; i++) {  // until the server listens
        r = await get({ 'e2b-traffic-access-token': sbx.trafficAccessToken })
        if (r.status !== 502) break
        await new Promise((ok) => setTimeout(ok, 100))
      }
      assert.equal(r.status, 200)
      assert.equal(r.body.trim(), 'served')
      assert.equal((await get({})).status, 403, 'public traffic is off: no token, no answer')
    } finally {
      await kill(sbx)
    }
  })

  test('bad network options are refused with the reason, not ignored', T, async () => {
    await expectReject(create({ timeoutMs: 60_000, network: { denyOut: ['300.1.2.3/8'] } }), [Error], 'a bad CIDR')
    await expectReject(
      create({ timeoutMs: 60_000, network: { egressProxy: { address: 'http://127.0.0.1:3128' } } }),
      [Error],
      'egressProxy, which Nexus does not support',
    )
  })
})
