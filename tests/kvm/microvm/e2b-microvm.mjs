// SPDX-License-Identifier: Apache-2.0
// The unmodified E2B SDK (tests/e2b's pinned `e2b` package) on a microVM sandbox, run by
// daemon-test.sh inside the nested harness. E2B_API_URL, E2B_SANDBOX_URL and E2B_API_KEY
// point it at nexusd. Prints "E2B-SDK ok <what>" or "E2B-SDK fail <what>: <why>" per check.
import { Sandbox, CommandExitError } from 'e2b'

const template = process.argv[2] ?? 'tiny'
let failed = 0
const ok = (what) => console.log(`E2B-SDK ok ${what}`)
const fail = (what, why) => { failed++; console.log(`E2B-SDK fail ${what}: ${why}`) }
const expect = (what, got, want) => (got === want ? ok(what) : fail(what, `got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`))

const opts = { timeoutMs: 300_000, requestTimeoutMs: 300_000 }
let sbx
try {
  const t0 = Date.now()
  sbx = await Sandbox.create(template, opts)
  ok(`Sandbox.create('${template}') in ${Date.now() - t0} ms (emulated)`)
} catch (e) {
  fail('Sandbox.create', e.message)
  process.exit(1)
}
try {
  const r = await sbx.commands.run('echo "hello from $(hostname)"; echo warn >&2')
  expect('commands.run: stdout', r.stdout, `hello from ${sbx.sandboxId}\n`)
  expect('commands.run: stderr', r.stderr, 'warn\n')
  expect('commands.run: exit code 0', r.exitCode, 0)
  try {
    await sbx.commands.run('exit 5')
    fail('commands.run: a failing command throws', 'it did not')
  } catch (e) {
    if (e instanceof CommandExitError) expect('commands.run: CommandExitError with the exit code', e.exitCode, 5)
    else fail('commands.run: CommandExitError', e.message)
  }
  const streamed = []
  await sbx.commands.run('for i in 1 2 3; do echo line$i; done', { onStdout: (d) => streamed.push(d) })
  expect('commands.run: onStdout streams the output', streamed.join(''), 'line1\nline2\nline3\n')

  await sbx.files.write('/home/user/sdk.txt', 'written by the SDK\n')
  expect('files.write then files.read', await sbx.files.read('/home/user/sdk.txt'), 'written by the SDK\n')
  const seen = await sbx.commands.run('cat /home/user/sdk.txt')
  expect('files.write: the guest sees the file', seen.stdout, 'written by the SDK\n')
  const entries = (await sbx.files.list('/home/user')).map((e) => e.name)
  expect('files.list', entries.includes('sdk.txt'), true)
  expect('files.exists on a missing path', await sbx.files.exists('/home/user/nope'), false)

  const info = await Sandbox.getInfo(sbx.sandboxId)
  expect('Sandbox.getInfo: template', info.templateId, template)
} catch (e) {
  fail('the SDK session', e.stack ?? e.message)
} finally {
  try {
    await sbx.kill()
    ok('sandbox.kill')
  } catch (e) {
    fail('sandbox.kill', e.message)
  }
}
process.exit(failed ? 1 : 0)
