// SPDX-License-Identifier: Apache-2.0
// Commands (e2b-protocol.md §C.3-C.5): process.Process/Start, Connect, List, SendInput,
// CloseStdin, SendSignal, through sbx.commands of the unmodified `e2b` SDK.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { CommandExitError, InvalidArgumentError, NotFoundError, SandboxError, TimeoutError } from 'e2b'
import { create, expectReject, killAll, skipReason, sleep, waitFor } from './lib.mjs'

const T = { timeout: 90_000 }

describe('commands', { skip: skipReason }, () => {
  let sbx
  before(async () => {
    sbx = await create({ timeoutMs: 300_000, envs: { SBX_VAR: 'from-create', OVERRIDE_ME: 'create' } })
  })
  after(killAll)

  test('run: stdout, stderr, exitCode', T, async () => {
    const r = await sbx.commands.run('echo hello; echo err >&2; printf "no newline"')
    assert.equal(r.exitCode, 0)
    assert.equal(r.stdout, 'hello\nno newline')
    assert.equal(r.stderr, 'err\n')
    assert.equal(r.error, undefined)
  })

  test('run: non-zero exit throws CommandExitError with the result', T, async () => {
    const err = await expectReject(sbx.commands.run('echo out; echo bad >&2; exit 3'), CommandExitError)
    assert.equal(err.exitCode, 3)
    assert.equal(err.stdout, 'out\n')
    assert.equal(err.stderr, 'bad\n')
    assert.match(String(err.error), /exit status 3/)
    assert.ok(err instanceof SandboxError)
  })

  test('run: envs (request, sandbox-level, request wins)', T, async () => {
    const r = await sbx.commands.run('echo "$FOO|$SBX_VAR|$OVERRIDE_ME"', { envs: { FOO: 'bar baz', OVERRIDE_ME: 'request' } })
    assert.equal(r.stdout, 'bar baz|from-create|request\n')
    const r2 = await sbx.commands.run('echo "$FOO|$OVERRIDE_ME"')
    assert.equal(r2.stdout, '|create\n', 'request envs do not stick')
    const r3 = await sbx.commands.run('echo "$HOME|$USER"; test -n "$PATH" && echo path')
    assert.equal(r3.stdout, '/home/user|user\npath\n')
  })

  test('run: cwd (absolute, relative to home, missing)', T, async () => {
    assert.equal((await sbx.commands.run('pwd', { cwd: '/tmp' })).stdout, '/tmp\n')
    assert.equal((await sbx.commands.run('pwd')).stdout, '/home/user\n')
    await sbx.commands.run('mkdir -p /home/user/sub/dir')
    assert.equal((await sbx.commands.run('pwd', { cwd: 'sub/dir' })).stdout, '/home/user/sub/dir\n')
    await expectReject(sbx.commands.run('pwd', { cwd: '/does/not/exist' }), InvalidArgumentError, 'missing cwd')
  })

  test('run: user root vs user', T, async () => {
    assert.equal((await sbx.commands.run('whoami')).stdout, 'user\n')
    assert.equal((await sbx.commands.run('whoami', { user: 'user' })).stdout, 'user\n')
    const root = await sbx.commands.run('whoami; echo $HOME; id -u', { user: 'root' })
    assert.equal(root.stdout, 'root\n/root\n0\n')
    // cwd unset: the default workdir if the sandbox has one, else the user's home (B.2)
    const pwd = (await sbx.commands.run('pwd', { user: 'root' })).stdout
    assert.ok(['/root\n', '/home/user\n'].includes(pwd), `root's default cwd is ${JSON.stringify(pwd)}`)
    const r = await sbx.commands.run('touch /tmp/owned-by-root && stat -c %U /tmp/owned-by-root', { user: 'root' })
    assert.equal(r.stdout, 'root\n')
  })

  test('run: stdin closed by default (cat ends at once)', T, async () => {
    const r = await sbx.commands.run('cat; echo done', { timeoutMs: 20_000 })
    assert.equal(r.stdout, 'done\n')
  })

  test('run: large output arrives complete', T, async () => {
    const r = await sbx.commands.run('head -c 3000000 /dev/zero | tr "\\0" a; echo; seq 1 20000 >&2')
    assert.equal(r.stdout.length, 3_000_001)
    assert.ok(/^a+\n$/.test(r.stdout))
    assert.equal(r.stderr.split('\n').length, 20_001)
  })

  test('run: onStdout / onStderr stream while the command runs', T, async () => {
    const out = []
    const errs = []
    const t0 = Date.now()
    const r = await sbx.commands.run('for i in 1 2 3; do echo line$i; echo e$i >&2; sleep 0.4; done', {
      onStdout: (d) => out.push({ d, t: Date.now() - t0 }),
      onStderr: (d) => errs.push(d),
    })
    const total = Date.now() - t0
    assert.equal(out.map((x) => x.d).join(''), 'line1\nline2\nline3\n')
    assert.equal(errs.join(''), 'e1\ne2\ne3\n')
    assert.equal(r.stdout, 'line1\nline2\nline3\n')
    assert.ok(out.length >= 2, `output should arrive in several chunks, got ${out.length}`)
    assert.ok(out[0].t < total - 500, `first chunk at ${out[0].t} ms should precede the end (${total} ms)`)
  })

  test('run: utf-8 split across chunks is decoded', T, async () => {
    const r = await sbx.commands.run(`printf '\\xc3'; sleep 0.2; printf '\\xa9t\\xc3\\xa9\\n'`)
    assert.equal(r.stdout, 'été\n')
  })

  test('background: list, sendStdin, closeStdin, wait', T, async () => {
    const chunks = []
    const h = await sbx.commands.run('cat', { background: true, stdin: true, onStdout: (d) => chunks.push(d), cwd: '/tmp', envs: { BG: '1' } })
    assert.ok(Number.isInteger(h.pid) && h.pid > 0)
    const procs = await sbx.commands.list()
    const me = procs.find((p) => p.pid === h.pid)
    assert.ok(me, `commands.list() should contain pid ${h.pid}: ${JSON.stringify(procs)}`)
    assert.equal(me.cmd, '/bin/bash')
    assert.deepEqual(me.args, ['-l', '-c', 'cat'])
    assert.equal(me.envs.BG, '1')
    assert.equal(me.cwd, '/tmp')

    await sbx.commands.sendStdin(h.pid, 'abc\n')
    await waitFor(() => chunks.join('').includes('abc\n'), { what: 'cat to echo stdin' })
    await h.sendStdin(new TextEncoder().encode('d\u00e9f\n'))
    await waitFor(() => chunks.join('').includes('déf\n'), { what: 'bytes stdin' })
    await sbx.commands.sendStdin(h.pid, '')
    await sbx.commands.closeStdin(h.pid)
    const res = await h.wait()
    assert.equal(res.exitCode, 0)
    assert.equal(res.stdout, 'abc\ndéf\n')
    assert.equal(h.exitCode, 0)
    await waitFor(async () => !(await sbx.commands.list()).some((p) => p.pid === h.pid), { what: 'exited pid to leave list' })
  })

  test('background: handle.closeStdin', T, async () => {
    const h = await sbx.commands.run('wc -c', { background: true, stdin: true })
    await h.sendStdin('12345')
    await h.closeStdin()
    const res = await h.wait()
    assert.equal(res.stdout.trim(), '5')
  })

  test('kill: true, then false; wait reports the kill', T, async () => {
    const h = await sbx.commands.run('sleep 100', { background: true })
    assert.equal(await sbx.commands.kill(h.pid), true)
    const err = await expectReject(h.wait(), CommandExitError, 'wait after kill')
    assert.notEqual(err.exitCode, 0)
    await waitFor(async () => (await sbx.commands.kill(h.pid)) === false, { what: 'second kill -> false' })
    const h2 = await sbx.commands.run('sleep 100', { background: true })
    assert.equal(await h2.kill(), true)
    await expectReject(h2.wait(), CommandExitError)
    assert.equal(await h2.kill(), false)
    assert.equal(await sbx.commands.kill(999_999), false, 'unknown pid -> false')
  })

  test('a command whose child keeps its output open stays listed and killable until its stream ends', T, async () => {
    const h = await sbx.commands.run('sleep 60 & echo started', { background: true })
    await waitFor(() => h.stdout.includes('started'), { what: 'the first output' })
    await sleep(300)  // the shell has exited by now; its child holds stdout
    const listed = await sbx.commands.list()
    assert.ok(listed.some((p) => p.pid === h.pid), `still listed: ${JSON.stringify(listed.map((p) => p.pid))}`)
    assert.equal(await sbx.commands.kill(h.pid), true, 'kill is true')
    const r = await h.wait()  // the stream ends with the shell's own status
    assert.equal(r.exitCode, 0)
    assert.equal(r.stdout, 'started\n')
    await waitFor(async () => !(await sbx.commands.list()).some((p) => p.pid === h.pid), { what: 'gone from list' })
    assert.equal(await sbx.commands.kill(h.pid), false, 'a second kill is false')
    const left = await sbx.commands.run('pgrep -x sleep || true')
    assert.equal(left.stdout, '', 'the child was killed with it')
  })

  test('connect re-attaches to a running command', T, async () => {
    const h = await sbx.commands.run('for i in $(seq 1 15); do echo n$i; sleep 0.2; done; exit 4', { background: true })
    await sleep(500)
    await h.disconnect()
    const got = []
    const h2 = await sbx.commands.connect(h.pid, { onStdout: (d) => got.push(d) })
    assert.equal(h2.pid, h.pid)
    const err = await expectReject(h2.wait(), CommandExitError)
    assert.equal(err.exitCode, 4)
    const text = got.join('')
    assert.match(text, /n15\n$/, 'connected stream delivers later output')
    assert.doesNotMatch(text, /^n1\n/, 'output from before the connect is not replayed')
    await expectReject(sbx.commands.connect(999_999), NotFoundError, 'connect to unknown pid')
  })

  test('a disconnected background command keeps running', T, async () => {
    const h = await sbx.commands.run('sleep 2; echo finished > /tmp/bg-done', { background: true })
    await h.disconnect()
    assert.ok((await sbx.commands.list()).some((p) => p.pid === h.pid), 'still listed after disconnect')
    await waitFor(async () => (await sbx.commands.run('cat /tmp/bg-done 2>/dev/null || true')).stdout === 'finished\n',
      { timeoutMs: 15_000, intervalMs: 300, what: 'disconnected command to finish its work' })
  })

  test('timeoutMs kills a long command', T, async () => {
    const t0 = Date.now()
    const err = await expectReject(
      sbx.commands.run('echo started; sleep 30; echo never', { timeoutMs: 2_000 }),
      [TimeoutError, CommandExitError], 'run with timeoutMs 2000')
    const ms = Date.now() - t0
    assert.ok(ms < 15_000, `returned after ${ms} ms`)
    if (err instanceof CommandExitError) assert.notEqual(err.exitCode, 0)
    await waitFor(async () => !(await sbx.commands.list()).some((p) => p.args.join(' ').includes('sleep 30')),
      { timeoutMs: 10_000, what: 'the timed-out process to be gone (Connect-Timeout-Ms is its lifetime)' })
    const ps = await sbx.commands.run('ps -eo args | grep -c "[s]leep 30" || true')
    assert.equal(ps.stdout.trim(), '0', 'no sleep 30 left in the sandbox')
  })

  test('timeoutMs 0 means no limit (header omitted)', T, async () => {
    const r = await sbx.commands.run('sleep 1; echo ok', { timeoutMs: 0 })
    assert.equal(r.stdout, 'ok\n')
  })

  test('sendStdin / closeStdin to unknown pid', T, async () => {
    await expectReject(sbx.commands.sendStdin(999_999, 'x'), NotFoundError, 'sendStdin unknown pid')
    await expectReject(sbx.commands.closeStdin(999_999), NotFoundError, 'closeStdin unknown pid')
  })

  test('many commands in parallel', T, async () => {
    const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => sbx.commands.run(`echo ${i}`)))
    rs.forEach((r, i) => assert.equal(r.stdout, `${i}\n`))
  })
})
