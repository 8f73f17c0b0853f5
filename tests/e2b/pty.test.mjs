// SPDX-License-Identifier: Apache-2.0
// PTY (e2b-protocol.md §C.3, C.5): Start with `pty`, SendInput pty, Update (resize), SendSignal,
// Connect, through sbx.pty of the unmodified `e2b` SDK.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { CommandExitError, NotFoundError } from 'e2b'
import { create, enc, expectReject, killAll, skipReason, waitFor } from './lib.mjs'

const T = { timeout: 90_000 }

/** Collects PTY output as text (a terminal: \r\n line ends, echo of the input). */
function terminal() {
  const dec = new TextDecoder()
  const t = { text: '', onData: (d) => { t.text += dec.decode(d, { stream: true }) } }
  return t
}

/** Wait until the terminal text matches `re`; on timeout the error shows the text's tail. */
async function until(term, re, what, timeoutMs = 15_000) {
  try {
    await waitFor(() => re.test(term.text), { what, timeoutMs })
  } catch (err) {
    throw new assert.AssertionError({ message: `${err.message}\n  terminal tail: ${JSON.stringify(term.text.slice(-400))}` })
  }
}

describe('pty', { skip: skipReason }, () => {
  let sbx
  before(async () => {
    sbx = await create({ timeoutMs: 300_000, envs: { SBX_PTY: 'sandbox-env' } })
  })
  after(killAll)

  test('create an interactive bash, sendInput, resize, kill', T, async () => {
    const term = terminal()
    const h = await sbx.pty.create({ cols: 80, rows: 24, onData: term.onData, timeoutMs: 60_000 })
    assert.ok(Number.isInteger(h.pid) && h.pid > 0)

    await sbx.pty.sendInput(h.pid, enc('echo "pty-$((40+2))-$SBX_PTY-$TERM"; tty\n'))
    await until(term, /pty-42-sandbox-env-xterm-256color\r?\n/, 'echo through the pty', 20_000)
    await until(term, /\/dev\/pts\/\d+/, 'tty to name a pts device')

    await sbx.pty.sendInput(h.pid, enc('stty size\n'))
    await until(term, /(^|[\r\n])24 80\r?\n/, 'stty size = 24 80')

    await sbx.pty.resize(h.pid, { cols: 100, rows: 30 })
    await sbx.pty.sendInput(h.pid, enc('stty size\n'))
    await until(term, /(^|[\r\n])30 100\r?\n/, 'stty size = 30 100 after resize')

    const procs = await sbx.commands.list()
    const me = procs.find((p) => p.pid === h.pid)
    assert.ok(me, 'the PTY is in commands.list()')
    assert.equal(me.cmd, '/bin/bash')
    assert.deepEqual(me.args, ['-i', '-l'])

    assert.equal(await sbx.pty.kill(h.pid), true)
    const err = await expectReject(h.wait(), CommandExitError, 'wait after pty kill')
    assert.notEqual(err.exitCode, 0)
    await waitFor(async () => (await sbx.pty.kill(h.pid)) === false, { what: 'second pty.kill -> false' })
  })

  test('exit ends the PTY with exit code 0; whoami, cwd and envs', T, async () => {
    const term = terminal()
    const h = await sbx.pty.create({ cols: 120, rows: 40, onData: term.onData, user: 'root', cwd: '/tmp', envs: { MY_PTY: 'v1' } })
    await sbx.pty.sendInput(h.pid, enc('echo "who=$(whoami) cwd=$(pwd) my=$MY_PTY"\n'))
    await until(term, /who=root cwd=\/tmp my=v1/, 'root pty in /tmp with envs')
    await sbx.pty.sendInput(h.pid, enc('exit\n'))
    const res = await h.wait()
    assert.equal(res.exitCode, 0)
  })

  test('a control character (Ctrl-C) reaches the foreground process', T, async () => {
    const term = terminal()
    const h = await sbx.pty.create({ cols: 80, rows: 24, onData: term.onData })
    try {
      await sbx.pty.sendInput(h.pid, enc('sleep 50\n'))
      await new Promise((r) => setTimeout(r, 500))
      await sbx.pty.sendInput(h.pid, Uint8Array.of(3))
      await sbx.pty.sendInput(h.pid, enc('echo "status-$?"\n'))
      await until(term, /status-130/, 'Ctrl-C to interrupt sleep (status 130)', 10_000)
    } finally {
      await sbx.pty.kill(h.pid)
    }
  })

  test('pty.connect re-attaches to a running PTY', T, async () => {
    const first = terminal()
    const h = await sbx.pty.create({ cols: 80, rows: 24, onData: first.onData })
    try {
      await sbx.pty.sendInput(h.pid, enc('echo first-attach\n'))
      await until(first, /first-attach\r?\n/, 'first attach output')
      await h.disconnect()
      const second = terminal()
      const h2 = await sbx.pty.connect(h.pid, { onData: second.onData })
      assert.equal(h2.pid, h.pid)
      await sbx.pty.sendInput(h.pid, enc('echo second-$((1+1))\n'))
      await until(second, /second-2\r?\n/, 'output on the re-attached handle')
      assert.ok(!first.text.includes('second-2'), 'the disconnected handle receives nothing more')
      await sbx.pty.sendInput(h.pid, enc('exit 7\n'))
      const err = await expectReject(h2.wait(), CommandExitError)
      assert.equal(err.exitCode, 7)
    } finally {
      await sbx.pty.kill(h.pid)
    }
  })

  test('unknown PTY pid: resize / sendInput / connect fail, kill is false', T, async () => {
    assert.equal(await sbx.pty.kill(999_999), false)
    await expectReject(sbx.pty.resize(999_999, { cols: 10, rows: 10 }), NotFoundError, 'resize unknown pid')
    await expectReject(sbx.pty.sendInput(999_999, enc('x')), NotFoundError, 'sendInput unknown pid')
    await expectReject(sbx.pty.connect(999_999, { onData: () => {} }), NotFoundError, 'connect unknown pid')
  })

  test('binary-safe output (full byte range through the pty)', T, async () => {
    const chunks = []
    const h = await sbx.pty.create({ cols: 80, rows: 24, onData: (d) => chunks.push(Buffer.from(d)) })
    try {
      await sbx.pty.sendInput(h.pid, enc("stty raw -echo; printf 'BEG''IN'; head -c 65536 /dev/zero | tr '\\0' 'z'; printf 'E''ND'\n"))
      await waitFor(() => Buffer.concat(chunks).includes('END'), { what: '64 KiB through the pty', timeoutMs: 20_000 })
      const all = Buffer.concat(chunks).toString('latin1')
      const body = all.slice(all.lastIndexOf('BEGIN') + 5, all.lastIndexOf('END'))
      assert.equal(body.length, 65536)
      assert.ok(/^z+$/.test(body))
    } finally {
      await sbx.pty.kill(h.pid)
    }
  })
})
