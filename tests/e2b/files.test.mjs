// SPDX-License-Identifier: Apache-2.0
// Files (e2b-protocol.md §B.4, B.5, C.6, C.7): GET/POST /files and the filesystem.Filesystem
// unary RPCs (Stat, ListDir, MakeDir, Move, Remove), through sbx.files of the unmodified SDK.
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import { FileNotFoundError, FileType, InvalidArgumentError, SandboxError } from 'e2b'
import { create, envdHeaders, expectReject, killAll, raw, sha256, sha256Stream, skipReason } from './lib.mjs'

const T = { timeout: 120_000 }
const MiB = 1024 * 1024

describe('files', { skip: skipReason }, () => {
  let sbx
  let hostDir
  before(async () => {
    sbx = await create({ timeoutMs: 600_000 })
    hostDir = mkdtempSync(join(tmpdir(), 'nexus-e2b-files-'))
  })
  after(async () => {
    rmSync(hostDir, { recursive: true, force: true })
    await killAll()
  })

  test('write / read text', T, async () => {
    const info = await sbx.files.write('/tmp/t/hello.txt', 'hi there\nsecond line')
    assert.equal(info.path, '/tmp/t/hello.txt')
    assert.equal(info.name, 'hello.txt')
    assert.equal(info.type, FileType.FILE)
    assert.equal(await sbx.files.read('/tmp/t/hello.txt'), 'hi there\nsecond line')
    assert.equal(await sbx.files.read('/tmp/t/hello.txt', { format: 'text' }), 'hi there\nsecond line')
    // overwrite truncates
    await sbx.files.write('/tmp/t/hello.txt', 'short')
    assert.equal(await sbx.files.read('/tmp/t/hello.txt'), 'short')
    // the content is really in the sandbox
    assert.equal((await sbx.commands.run('cat /tmp/t/hello.txt')).stdout, 'short')
  })

  test('write goes into the file in place: through symlinks, keeping inode, hard links and mode', T, async () => {
    await sbx.commands.run('mkdir -p /tmp/inplace && cd /tmp/inplace && echo old > target && ln -sf target link && ' +
      'ln -f target hard && chmod 640 target')
    const inode = (await sbx.commands.run('stat -c %i /tmp/inplace/target')).stdout
    await sbx.files.write('/tmp/inplace/link', 'via link')
    const r = await sbx.commands.run('cd /tmp/inplace && stat -c "%F %a %i" link target && cat target hard')
    assert.equal(r.stdout, `symbolic link 777 ${(await sbx.commands.run('stat -c %i /tmp/inplace/link')).stdout}` +
      `regular file 640 ${inode}via linkvia link`)
    // A file the user may write, in a directory the user may not: writable, as on E2B.
    await sbx.commands.run('mkdir -p /opt/shared && touch /opt/shared/open.txt && chmod 666 /opt/shared/open.txt && ' +
      'chmod 755 /opt/shared', { user: 'root' })
    await sbx.files.write('/opt/shared/open.txt', 'user wrote this')
    assert.equal(await sbx.files.read('/opt/shared/open.txt'), 'user wrote this')
    assert.equal((await sbx.commands.run('ls -A /opt/shared')).stdout, 'open.txt\n', 'no temporary files left')
    // A FIFO at the path is refused, not waited on.
    await sbx.commands.run('mkfifo /tmp/inplace/fifo')
    await expectReject(sbx.files.write('/tmp/inplace/fifo', 'x'), InvalidArgumentError, 'write onto a FIFO')
  })

  test('signed URLs: downloadUrl / uploadUrl work with a plain fetch; altered or expired ones get 401', T, async () => {
    await sbx.files.write('/tmp/signed/a.txt', 'signed content')
    const down = await sbx.downloadUrl('/tmp/signed/a.txt')
    assert.match(down, /[?&]signature=v1_/)
    let r = await fetch(down)  // no E2b-Sandbox-Id, no token: the signature alone
    assert.equal(r.status, 200)
    assert.equal(await r.text(), 'signed content')

    const up = await sbx.uploadUrl('/tmp/signed/b.txt')
    const form = new FormData()
    form.append('file', new Blob(['uploaded through a signed URL']), 'b.txt')
    r = await fetch(up, { method: 'POST', body: form })
    assert.equal(r.status, 200, await r.clone().text())
    assert.equal(await sbx.files.read('/tmp/signed/b.txt'), 'uploaded through a signed URL')

    const timed = await sbx.downloadUrl('/tmp/signed/a.txt', { useSignatureExpiration: 60 })
    assert.match(timed, /signature_expiration=\d+/)
    assert.equal((await fetch(timed)).status, 200)

    // The signature covers the path, the operation and the expiry.
    const other = new URL(down)
    other.searchParams.set('path', '/etc/passwd')
    assert.equal((await fetch(other)).status, 401, 'another path with the same signature')
    assert.equal((await fetch(down, { method: 'POST', body: form })).status, 401, 'a read signature used to write')
    const stretched = new URL(timed)
    stretched.searchParams.set('signature_expiration', String(Number(stretched.searchParams.get('signature_expiration')) + 3600))
    assert.equal((await fetch(stretched)).status, 401, 'a changed expiry')
    const past = Math.floor(Date.now() / 1000) - 10
    const sig = 'v1_' + createHash('sha256').update(`/tmp/signed/a.txt:read::${sbx.envdAccessToken}:${past}`).digest('base64').replace(/=+$/, '')
    const expired = new URL(down)
    expired.searchParams.set('signature', sig)
    expired.searchParams.set('signature_expiration', String(past))
    r = await fetch(expired)
    assert.equal(r.status, 401)
    assert.match((await r.json()).message, /expired/)
    assert.equal((await fetch(down.replace(/signature=[^&]+/, 'signature=v1_forged'))).status, 401, 'a forged signature')
  })

  test('downloads honour one byte Range (206, 416) and HEAD, as Go\'s ServeContent does', T, async () => {
    await sbx.files.write('/tmp/range.txt', '0123456789abcdefghij')
    const h = envdHeaders(sbx)
    let r = await raw('/files?path=/tmp/range.txt', { headers: { ...h, Range: 'bytes=10-14' } })
    assert.equal(r.status, 206)
    assert.equal(r.text, 'abcde')
    assert.equal(r.headers.get('content-range'), 'bytes 10-14/20')
    r = await raw('/files?path=/tmp/range.txt', { headers: { ...h, Range: 'bytes=-3' } })
    assert.equal(r.status, 206)
    assert.equal(r.text, 'hij')
    r = await raw('/files?path=/tmp/range.txt', { headers: { ...h, Range: 'bytes=50-' } })
    assert.equal(r.status, 416)
    assert.equal(r.headers.get('content-range'), 'bytes */20')
    r = await raw('/files?path=/tmp/range.txt', { headers: { ...h, Range: 'bytes=0-1,5-6' } })
    assert.equal(r.status, 200, 'several ranges: the whole file')
    assert.equal(r.text, '0123456789abcdefghij')
    assert.equal(r.headers.get('accept-ranges'), 'bytes')
    r = await raw('/files?path=/tmp/range.txt', { method: 'HEAD', headers: h })
    assert.equal(r.status, 200)
    assert.equal(r.headers.get('content-length'), '20')
    assert.equal(r.buf.length, 0)
    // The connection is still good after the HEAD.
    assert.equal(await sbx.files.read('/tmp/range.txt'), '0123456789abcdefghij')
  })

  test('write / read bytes, blob and stream', T, async () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i)
    await sbx.files.write('/tmp/t/bytes.bin', bytes.buffer)
    const back = await sbx.files.read('/tmp/t/bytes.bin', { format: 'bytes' })
    assert.ok(back instanceof Uint8Array)
    assert.deepEqual(Buffer.from(back), Buffer.from(bytes))
    const blob = await sbx.files.read('/tmp/t/bytes.bin', { format: 'blob' })
    assert.deepEqual(Buffer.from(await blob.arrayBuffer()), Buffer.from(bytes))
    const stream = await sbx.files.read('/tmp/t/bytes.bin', { format: 'stream' })
    const { hash, size } = await sha256Stream(stream)
    assert.equal(size, 256)
    assert.equal(hash, sha256(bytes))
    await sbx.files.write('/tmp/t/blob.bin', new Blob([bytes]))
    assert.equal((await sbx.commands.run('sha256sum < /tmp/t/blob.bin')).stdout.split(' ')[0], sha256(bytes))
  })

  test('empty file', T, async () => {
    await sbx.files.write('/tmp/t/empty', '')
    assert.equal(await sbx.files.read('/tmp/t/empty'), '')
    assert.equal((await sbx.files.read('/tmp/t/empty', { format: 'bytes' })).length, 0)
    assert.equal((await sbx.files.getInfo('/tmp/t/empty')).size, 0)
  })

  test('write multiple files (multipart, filename = full path)', T, async () => {
    const infos = await sbx.files.write([
      { path: '/tmp/multi/a.txt', data: 'A' },
      { path: '/tmp/multi/deep/b.txt', data: 'BB' },
      { path: 'rel-multi.txt', data: 'REL' },
    ])
    assert.ok(Array.isArray(infos))
    assert.deepEqual(infos.map((i) => i.path).sort(), ['/home/user/rel-multi.txt', '/tmp/multi/a.txt', '/tmp/multi/deep/b.txt'])
    assert.equal(await sbx.files.read('/tmp/multi/deep/b.txt'), 'BB')
    assert.equal(await sbx.files.read('/home/user/rel-multi.txt'), 'REL')
    const w2 = await sbx.files.writeFiles([{ path: '/tmp/multi/c.txt', data: 'C' }])
    assert.equal(w2.length, 1)
    assert.equal(w2[0].path, '/tmp/multi/c.txt')
  })

  test('relative and ~ paths resolve to the home of the user; ownership', T, async () => {
    const info = await sbx.files.write('rel/file.txt', 'r')
    assert.equal(info.path, '/home/user/rel/file.txt')
    assert.equal(await sbx.files.read('~/rel/file.txt'), 'r')
    const st = await sbx.files.getInfo('rel/file.txt')
    assert.equal(st.owner, 'user')
    const dirOwner = (await sbx.commands.run('stat -c %U /home/user/rel')).stdout.trim()
    assert.equal(dirOwner, 'user', 'created parent directories belong to the user')
    const rootInfo = await sbx.files.write('as-root.txt', 'x', { user: 'root' })
    assert.equal(rootInfo.path, '/root/as-root.txt')
    assert.equal((await sbx.files.getInfo('/root/as-root.txt', { user: 'root' })).owner, 'root')
    assert.equal(await sbx.files.read('/root/as-root.txt', { user: 'root' }), 'x')
  })

  test('the default user cannot write where it has no permission', T, async () => {
    await expectReject(sbx.files.write('/root/not-mine.txt', 'x'), SandboxError, 'write to /root as user')
    assert.equal(await sbx.files.exists('/root/not-mine.txt', { user: 'root' }), false)
  })

  test('list, exists, getInfo', T, async () => {
    await sbx.files.write('/tmp/ls/f1.txt', '12345')
    await sbx.files.makeDir('/tmp/ls/d1/d2')
    await sbx.files.write('/tmp/ls/d1/inner.txt', 'i')
    await sbx.commands.run('ln -s /tmp/ls/f1.txt /tmp/ls/link; chmod 600 /tmp/ls/f1.txt')

    const entries = await sbx.files.list('/tmp/ls')
    const byName = Object.fromEntries(entries.map((e) => [e.name, e]))
    assert.deepEqual(Object.keys(byName).sort(), ['d1', 'f1.txt', 'link'])
    assert.equal(byName['f1.txt'].type, FileType.FILE)
    assert.equal(byName['f1.txt'].path, '/tmp/ls/f1.txt')
    assert.equal(byName['f1.txt'].size, 5)
    assert.equal(byName['f1.txt'].mode & 0o777, 0o600)
    assert.equal(byName['f1.txt'].permissions, '-rw-------')
    assert.equal(byName.d1.type, FileType.DIR)
    assert.equal(byName.link.symlinkTarget, '/tmp/ls/f1.txt')

    const deep = await sbx.files.list('/tmp/ls', { depth: 2 })
    assert.deepEqual(deep.map((e) => e.path).sort(),
      ['/tmp/ls/d1', '/tmp/ls/d1/d2', '/tmp/ls/d1/inner.txt', '/tmp/ls/f1.txt', '/tmp/ls/link'])

    await sbx.files.makeDir('/tmp/ls-empty')
    assert.deepEqual(await sbx.files.list('/tmp/ls-empty'), [])

    assert.equal(await sbx.files.exists('/tmp/ls/f1.txt'), true)
    assert.equal(await sbx.files.exists('/tmp/ls/d1'), true)
    assert.equal(await sbx.files.exists('/tmp/ls/nope'), false)

    const st = await sbx.files.getInfo('/tmp/ls/f1.txt')
    assert.equal(st.name, 'f1.txt')
    assert.equal(st.path, '/tmp/ls/f1.txt')
    assert.equal(st.type, FileType.FILE)
    assert.equal(st.size, 5)
    assert.equal(st.owner, 'user')
    assert.equal(st.group, 'user')
    assert.ok(st.modifiedTime instanceof Date && Math.abs(st.modifiedTime.getTime() - Date.now()) < 120_000,
      `modifiedTime ${st.modifiedTime} is around now`)
    const dir = await sbx.files.getInfo('/tmp/ls/d1')
    assert.equal(dir.type, FileType.DIR)
    assert.match(dir.permissions, /^d/)
    assert.equal(await sbx.files.read('/tmp/ls/link'), '12345', 'reading through an in-sandbox symlink')
  })

  test('makeDir: true, then false; nested', T, async () => {
    assert.equal(await sbx.files.makeDir('/tmp/mk/a/b/c'), true)
    assert.equal(await sbx.files.makeDir('/tmp/mk/a/b/c'), false)
    assert.equal((await sbx.files.getInfo('/tmp/mk/a/b')).type, FileType.DIR)
    await sbx.files.write('/tmp/mk/file', 'f')
    await expectReject(sbx.files.makeDir('/tmp/mk/file'), [InvalidArgumentError, SandboxError], 'makeDir over a file')
  })

  test('rename (file and directory)', T, async () => {
    await sbx.files.write('/tmp/mv/src.txt', 'moving')
    const e = await sbx.files.rename('/tmp/mv/src.txt', '/tmp/mv/new/dst.txt')
    assert.equal(e.path, '/tmp/mv/new/dst.txt')
    assert.equal(e.name, 'dst.txt')
    assert.equal(e.type, FileType.FILE)
    assert.equal(await sbx.files.exists('/tmp/mv/src.txt'), false)
    assert.equal(await sbx.files.read('/tmp/mv/new/dst.txt'), 'moving')
    const d = await sbx.files.rename('/tmp/mv/new', '/tmp/mv/renamed')
    assert.equal(d.type, FileType.DIR)
    assert.equal(await sbx.files.read('/tmp/mv/renamed/dst.txt'), 'moving')
    await expectReject(sbx.files.rename('/tmp/mv/missing', '/tmp/mv/x'), FileNotFoundError, 'rename missing source')
  })

  test('remove (file, directory tree, missing path)', T, async () => {
    await sbx.files.write('/tmp/rm/a/b/c.txt', 'c')
    await sbx.files.write('/tmp/rm/f.txt', 'f')
    await sbx.files.remove('/tmp/rm/f.txt')
    assert.equal(await sbx.files.exists('/tmp/rm/f.txt'), false)
    await sbx.files.remove('/tmp/rm/a')
    assert.equal(await sbx.files.exists('/tmp/rm/a'), false)
    await sbx.files.remove('/tmp/rm/never-existed')
  })

  test('FileNotFoundError for missing paths', T, async () => {
    await expectReject(sbx.files.read('/tmp/no/such/file'), FileNotFoundError, 'read')
    await expectReject(sbx.files.read('/tmp/no/such/file', { format: 'stream' }), FileNotFoundError, 'read stream')
    await expectReject(sbx.files.getInfo('/tmp/no/such/file'), FileNotFoundError, 'getInfo')
    await expectReject(sbx.files.list('/tmp/no/such/dir'), FileNotFoundError, 'list')
  })

  test('wrong kinds: read a directory, list a file, write onto a directory', T, async () => {
    await sbx.files.makeDir('/tmp/kinds/dir')
    await sbx.files.write('/tmp/kinds/file', 'f')
    await expectReject(sbx.files.read('/tmp/kinds/dir'), InvalidArgumentError, 'read a directory')
    await expectReject(sbx.files.list('/tmp/kinds/file'), InvalidArgumentError, 'list a file')
    await expectReject(sbx.files.write('/tmp/kinds/dir', 'x'), InvalidArgumentError, 'write onto a directory')
  })

  test('gzip upload and download', T, async () => {
    const text = 'compressible '.repeat(100_000)
    const w = await sbx.files.write('/tmp/gz/big.txt', text, { gzip: true })
    assert.equal(w.path, '/tmp/gz/big.txt')
    assert.equal((await sbx.commands.run('wc -c < /tmp/gz/big.txt')).stdout.trim(), String(text.length))
    assert.equal(await sbx.files.read('/tmp/gz/big.txt', { gzip: true }), text)
    const bytes = await sbx.files.read('/tmp/gz/big.txt', { gzip: true, format: 'bytes' })
    assert.equal(bytes.length, text.length)
  })

  test('octet-stream upload (useOctetStream)', T, async () => {
    const data = randomBytes(1 * MiB)
    const w = await sbx.files.write('/tmp/oct/one.bin', new Blob([data]), { useOctetStream: true })
    assert.equal(w.path, '/tmp/oct/one.bin')
    const ws = await sbx.files.write([
      { path: '/tmp/oct/a.bin', data: new Blob([data.subarray(0, 1000)]) },
      { path: '/tmp/oct/b.bin', data: new Blob([data.subarray(1000, 3000)]) },
    ], { useOctetStream: true })
    assert.equal(ws.length, 2)
    assert.equal(sha256(await sbx.files.read('/tmp/oct/one.bin', { format: 'bytes' })), sha256(data))
    assert.equal((await sbx.files.getInfo('/tmp/oct/b.bin')).size, 2000)
  })

  test('metadata on write (X-Metadata-*), returned by getInfo and list', T, async () => {
    const w = await sbx.files.write('/tmp/meta/m.txt', 'm', { metadata: { Owner: 'alice', purpose: 'test run' } })
    // metadata in the upload answer is optional (B.5); when present it must be right
    if (w.metadata !== undefined) assert.deepEqual(w.metadata, { owner: 'alice', purpose: 'test run' })
    const st = await sbx.files.getInfo('/tmp/meta/m.txt')
    assert.deepEqual(st.metadata, { owner: 'alice', purpose: 'test run' })
    const ls = await sbx.files.list('/tmp/meta')
    assert.deepEqual(ls[0].metadata, { owner: 'alice', purpose: 'test run' })
    await sbx.files.write('/tmp/meta/m.txt', 'm2', { metadata: { other: '1' } })
    assert.deepEqual((await sbx.files.getInfo('/tmp/meta/m.txt')).metadata, { other: '1' }, 'metadata replaced')
    await sbx.files.write('/tmp/meta/plain.txt', 'p')
    assert.equal((await sbx.files.getInfo('/tmp/meta/plain.txt')).metadata, undefined)
  })

  test('100 MiB upload and download, compared by sha256 (Buffer/multipart and stream/octet-stream)', { timeout: 300_000 }, async () => {
    const data = randomBytes(100 * MiB)
    const want = sha256(data)

    // 1. Blob body (multipart/form-data), download as bytes.
    const w1 = await sbx.files.write('/tmp/big/blob.bin', new Blob([data]), { requestTimeoutMs: 120_000 })
    assert.equal(w1.path, '/tmp/big/blob.bin')
    assert.equal((await sbx.files.getInfo('/tmp/big/blob.bin')).size, 100 * MiB)
    const got1 = await sbx.files.read('/tmp/big/blob.bin', { format: 'bytes', requestTimeoutMs: 120_000 })
    assert.equal(got1.length, data.length)
    assert.equal(sha256(got1), want)

    // 2. ReadableStream body (octet-stream, streamed), download as a stream.
    const file = join(hostDir, 'big.bin')
    writeFileSync(file, data)
    const body = Readable.toWeb(createReadStream(file))
    const w2 = await sbx.files.write('/tmp/big/stream.bin', body, { requestTimeoutMs: 120_000 })
    assert.equal(w2.path, '/tmp/big/stream.bin')
    const { hash, size } = await sha256Stream(await sbx.files.read('/tmp/big/stream.bin', { format: 'stream' }))
    assert.equal(size, data.length)
    assert.equal(hash, want)
    const inside = await sbx.commands.run('sha256sum /tmp/big/stream.bin /tmp/big/blob.bin', { timeoutMs: 120_000 })
    for (const line of inside.stdout.trim().split('\n')) assert.equal(line.split(/\s+/)[0], want, line)
    await sbx.files.remove('/tmp/big')
  })
})
