// SPDX-License-Identifier: Apache-2.0
// WatchDir (e2b-protocol.md §C.7): filesystem.Filesystem/WatchDir stream through
// sbx.files.watchDir of the unmodified `e2b` SDK: create, write, rename, remove, recursive.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { FileNotFoundError, FilesystemEventType as E, FileType, InvalidArgumentError } from 'e2b'
import { create, expectReject, killAll, skipReason, sleep, waitFor } from './lib.mjs'

const T = { timeout: 90_000 }

/** Starts a watch that records events; `has(type, name)` and `wait(type, name)` query them. */
async function watcher(sbx, dir, opts = {}) {
  const events = []
  const w = { events, exited: undefined }
  w.handle = await sbx.files.watchDir(dir, (ev) => { events.push(ev) }, {
    ...opts,
    onExit: (err) => { w.exited = err ?? null },
  })
  w.has = (type, name) => events.some((e) => e.type === type && e.name === name)
  w.wait = (type, name) => waitFor(() => w.has(type, name), {
    timeoutMs: 10_000,
    what: `${type} event for '${name}' (got ${JSON.stringify(events.map((e) => [e.type, e.name]))})`,
  })
  return w
}

describe('watchDir', { skip: skipReason }, () => {
  let sbx
  before(async () => {
    sbx = await create({ timeoutMs: 300_000 })
  })
  after(killAll)

  test('create, write, rename, remove events with names relative to the directory', T, async () => {
    await sbx.files.makeDir('/tmp/w1/sub')
    const w = await watcher(sbx, '/tmp/w1')
    try {
      await sbx.files.write('/tmp/w1/a.txt', 'one')
      await w.wait(E.CREATE, 'a.txt')
      await sbx.commands.run('echo more >> /tmp/w1/a.txt')
      await w.wait(E.WRITE, 'a.txt')
      await sbx.files.rename('/tmp/w1/a.txt', '/tmp/w1/b.txt')
      await w.wait(E.RENAME, 'a.txt')
      await w.wait(E.CREATE, 'b.txt')
      await sbx.files.remove('/tmp/w1/b.txt')
      await w.wait(E.REMOVE, 'b.txt')
      await sbx.commands.run('chmod 600 /tmp/w1/sub')
      await w.wait(E.CHMOD, 'sub')
      await sbx.files.makeDir('/tmp/w1/newdir')
      await w.wait(E.CREATE, 'newdir')

      // Not recursive: a file inside a subdirectory gives no event.
      await sbx.commands.run('chmod 755 /tmp/w1/sub; echo x > /tmp/w1/sub/deep.txt')
      await sleep(1000)
      assert.ok(!w.events.some((e) => e.name.includes('deep.txt')),
        `non-recursive watch reported ${JSON.stringify(w.events.filter((e) => e.name.includes('deep')))}`)
      for (const e of w.events) assert.ok(Object.values(E).includes(e.type), `known event type ${e.type}`)
      assert.equal(w.exited, undefined, 'the watch is still running')
    } finally {
      await w.handle.stop()
    }
    // No more events after stop().
    const n = w.events.length
    await sbx.files.write('/tmp/w1/after-stop.txt', 'x')
    await sleep(700)
    assert.equal(w.events.length, n, 'no events after stop()')
  })

  test('an upload gives CREATE then WRITE on its own name, nothing else', T, async () => {
    await sbx.files.makeDir('/tmp/w-up')
    const w = await watcher(sbx, '/tmp/w-up')
    try {
      await sbx.files.write('/tmp/w-up/up.txt', 'uploaded')
      await w.wait(E.CREATE, 'up.txt')
      await w.wait(E.WRITE, 'up.txt')
      await sbx.files.write('/tmp/w-up/up.txt', 'again')  // an overwrite is a WRITE, not a new file
      await waitFor(() => w.events.filter((e) => e.type === E.WRITE && e.name === 'up.txt').length >= 2,
        { timeoutMs: 10_000, what: 'a second WRITE for the overwrite' })
      await sleep(300)
      assert.deepEqual([...new Set(w.events.map((e) => e.name))], ['up.txt'],
        `only the uploaded file's name appears: ${JSON.stringify(w.events.map((e) => [e.type, e.name]))}`)
      assert.ok(!w.events.some((e) => e.type === E.RENAME || e.type === E.REMOVE), 'no rename or remove')
    } finally {
      await w.handle.stop()
    }
  })

  test('recursive: events deep in the tree are named sub/deep', T, async () => {
    await sbx.files.makeDir('/tmp/w2/s1/s2')
    const w = await watcher(sbx, '/tmp/w2', { recursive: true })
    try {
      await sbx.files.write('/tmp/w2/s1/s2/deep.txt', 'deep')
      await w.wait(E.CREATE, 's1/s2/deep.txt')
      await sbx.commands.run('echo more >> /tmp/w2/s1/s2/deep.txt')
      await w.wait(E.WRITE, 's1/s2/deep.txt')
      await sbx.files.rename('/tmp/w2/s1/s2/deep.txt', '/tmp/w2/s1/moved.txt')
      await w.wait(E.RENAME, 's1/s2/deep.txt')
      await w.wait(E.CREATE, 's1/moved.txt')
      await sbx.files.remove('/tmp/w2/s1/moved.txt')
      await w.wait(E.REMOVE, 's1/moved.txt')
      await sbx.files.write('/tmp/w2/top.txt', 't')
      await w.wait(E.CREATE, 'top.txt')
    } finally {
      await w.handle.stop()
    }
  })

  test('recursive: a directory created after the watch started is watched too', T, async () => {
    await sbx.files.makeDir('/tmp/w3')
    const w = await watcher(sbx, '/tmp/w3', { recursive: true })
    try {
      await sbx.files.makeDir('/tmp/w3/later')
      await w.wait(E.CREATE, 'later')
      await sleep(300)
      await sbx.files.write('/tmp/w3/later/inside.txt', 'i')
      await w.wait(E.CREATE, 'later/inside.txt')
    } finally {
      await w.handle.stop()
    }
  })

  test('includeEntry carries EntryInfo on create/write', T, async () => {
    await sbx.files.makeDir('/tmp/w4')
    const w = await watcher(sbx, '/tmp/w4', { includeEntry: true })
    try {
      await sbx.files.write('/tmp/w4/e.txt', 'entry')
      await w.wait(E.CREATE, 'e.txt')
      await waitFor(() => w.events.some((e) => e.name === 'e.txt' && e.entry), { what: 'an event with entry' })
      const ev = w.events.find((e) => e.name === 'e.txt' && e.entry)
      assert.equal(ev.entry.name, 'e.txt')
      assert.equal(ev.entry.path, '/tmp/w4/e.txt')
      assert.equal(ev.entry.type, FileType.FILE)
    } finally {
      await w.handle.stop()
    }
  })

  test('watch as root of a root-only directory', T, async () => {
    await sbx.commands.run('mkdir -p /root/w5', { user: 'root' })
    const w = await watcher(sbx, '/root/w5', { user: 'root' })
    try {
      await sbx.files.write('/root/w5/r.txt', 'r', { user: 'root' })
      await w.wait(E.CREATE, 'r.txt')
    } finally {
      await w.handle.stop()
    }
  })

  test('timeoutMs ends the watch and calls onExit', T, async () => {
    await sbx.files.makeDir('/tmp/w6')
    const t0 = Date.now()
    const w = await watcher(sbx, '/tmp/w6', { timeoutMs: 1500 })
    await waitFor(() => w.exited !== undefined, { timeoutMs: 15_000, what: 'onExit after the watch timeout' })
    assert.ok(Date.now() - t0 >= 1000, 'not before the timeout')
  })

  test('missing directory -> FileNotFoundError; a file -> InvalidArgumentError', T, async () => {
    await expectReject(sbx.files.watchDir('/tmp/no-such-dir', () => {}), FileNotFoundError, 'watch missing dir')
    await sbx.files.write('/tmp/w7-file', 'f')
    await expectReject(sbx.files.watchDir('/tmp/w7-file', () => {}), InvalidArgumentError, 'watch a file')
  })
})
