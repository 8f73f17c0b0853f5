// SPDX-License-Identifier: Apache-2.0
// Shared helpers for the E2B conformance tests: the unmodified `e2b` and `@e2b/code-interpreter`
// packages from npm, pointed at a real nexusd by tests/e2b/run.sh through these variables:
//
//   E2B_API_URL, E2B_SANDBOX_URL   the nexusd E2B endpoint (one URL for both)
//   E2B_API_KEY                    key of user "alice" (not admin): the SDK's default key
//   E2B_API_KEY_B                  key of user "bob" (not admin)
//   E2B_ADMIN_KEY                  an admin key (sees every user's sandboxes)
//   E2B_REVOKED_KEY                a key that was created and then revoked
//   E2B_TRACK_FILE                 every sandbox id a test creates is appended here, so run.sh
//                                  can check that none was left running
//
// Every test file skips itself (with the reason) when these are not set.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { appendFileSync } from 'node:fs'
import { Sandbox } from 'e2b'

export const API_URL = process.env.E2B_API_URL
export const SANDBOX_URL = process.env.E2B_SANDBOX_URL
export const KEY_A = process.env.E2B_API_KEY
export const KEY_B = process.env.E2B_API_KEY_B
export const ADMIN_KEY = process.env.E2B_ADMIN_KEY
export const REVOKED_KEY = process.env.E2B_REVOKED_KEY
export const TRACK_FILE = process.env.E2B_TRACK_FILE

/** false when the endpoint is configured, else the reason to skip (for describe's `skip`). */
export const skipReason =
  API_URL && SANDBOX_URL && KEY_A
    ? false
    : 'E2B_API_URL, E2B_SANDBOX_URL and E2B_API_KEY are not set: run tests/e2b/run.sh'

/** A tag unique to this test process, put in sandbox metadata so list filters see only ours. */
export const RUN_TAG = `e2b-${process.pid}-${Date.now().toString(36)}`

/** Sandboxes created and not yet killed: id -> api key that owns it. */
const live = new Map()

/** Remember a sandbox so `killAll` stops it even when a test fails half-way. */
export function track(sbx, apiKey = KEY_A) {
  live.set(sbx.sandboxId, apiKey)
  if (TRACK_FILE) appendFileSync(TRACK_FILE, `${sbx.sandboxId}\n`)
  return sbx
}

/**
 * Create a sandbox with the SDK (template 'base' unless given), tracked for cleanup.
 * `Cls` may be the code-interpreter Sandbox. The default timeout keeps a forgotten sandbox short-lived.
 */
export async function create(opts = {}, Cls = Sandbox) {
  const { template, ...rest } = opts
  const o = { timeoutMs: 180_000, ...rest }
  const sbx = template ? await Cls.create(template, o) : await Cls.create(o)
  return track(sbx, o.apiKey ?? KEY_A)
}

/** Kill one sandbox (tolerates it being gone already) and forget it. */
export async function kill(sbxOrId, apiKey) {
  const id = typeof sbxOrId === 'string' ? sbxOrId : sbxOrId.sandboxId
  const key = apiKey ?? live.get(id) ?? KEY_A
  live.delete(id)
  try {
    return await Sandbox.kill(id, { apiKey: key })
  } catch (err) {
    if (ADMIN_KEY) return Sandbox.kill(id, { apiKey: ADMIN_KEY }).catch(() => false)
    throw err
  }
}

/** Kill every sandbox this test file created and did not kill yet (for `after`). */
export async function killAll() {
  const ids = [...live.keys()]
  await Promise.all(ids.map((id) => kill(id).catch(() => false)))
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Poll `fn` until it returns a truthy value (returned) or throw after `timeoutMs`. */
export async function waitFor(fn, { timeoutMs = 15_000, intervalMs = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs
  let last
  for (;;) {
    try {
      const v = await fn()
      if (v) return v
      last = v
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) {
      throw new assert.AssertionError({
        message: `timed out after ${timeoutMs} ms waiting for ${what}; last value: ${
          last instanceof Error ? `${last.name}: ${last.message}` : JSON.stringify(last)
        }`,
      })
    }
    await sleep(intervalMs)
  }
}

/**
 * Await a promise that must reject with an instance of one of `classes`; returns the error.
 * On a mismatch the assertion message names what was expected and what came instead.
 */
export async function expectReject(promise, classes, what = '') {
  const list = Array.isArray(classes) ? classes : [classes]
  let value
  try {
    value = await promise
  } catch (err) {
    if (list.some((C) => err instanceof C)) return err
    throw new assert.AssertionError({
      message: `${what ? what + ': ' : ''}expected ${list.map((C) => C.name).join(' or ')}, got ${
        err?.constructor?.name ?? typeof err
      }: ${err?.message}`,
    })
  }
  throw new assert.AssertionError({
    message: `${what ? what + ': ' : ''}expected ${list.map((C) => C.name).join(' or ')}, but it resolved with ${
      safeJson(value)
    }`,
  })
}

function safeJson(v) {
  try {
    return JSON.stringify(v)?.slice(0, 300)
  } catch {
    return String(v)
  }
}

export const sha256 = (data) => createHash('sha256').update(data).digest('hex')

/** Hash a web ReadableStream of bytes; returns {hash, size}. */
export async function sha256Stream(stream) {
  const h = createHash('sha256')
  let size = 0
  for await (const chunk of stream) {
    h.update(chunk)
    size += chunk.length
  }
  return { hash: h.digest('hex'), size }
}

/**
 * Plain fetch to the endpoint (no SDK), bounded by AbortSignal.timeout so a server that never
 * answers fails the test instead of hanging it. Returns {status, headers, text, json, ms}.
 */
export async function raw(path, { method = 'GET', headers = {}, body, timeoutMs = 10_000, base = SANDBOX_URL } = {}) {
  const t0 = Date.now()
  const res = await fetch(base + path, {
    method,
    headers,
    body,
    signal: AbortSignal.timeout(timeoutMs),
  })
  const buf = Buffer.from(await res.arrayBuffer())
  const text = buf.toString('utf8')
  let json
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.status, headers: res.headers, buf, text, json, ms: Date.now() - t0 }
}

/** Headers that route a raw request to a sandbox's envd (port 49983) or code interpreter (49999). */
export function envdHeaders(sbx, extra = {}, port = 49983) {
  const h = { 'E2b-Sandbox-Id': sbx.sandboxId, 'E2b-Sandbox-Port': String(port), ...extra }
  if (sbx.envdAccessToken) h['X-Access-Token'] = sbx.envdAccessToken
  return h
}

/** A Connect envelope: flags byte, 4-byte big-endian length, payload. */
export function envelope(obj, flags = 0) {
  const payload = Buffer.from(typeof obj === 'string' ? obj : JSON.stringify(obj))
  const head = Buffer.alloc(5)
  head[0] = flags
  head.writeUInt32BE(payload.length, 1)
  return Buffer.concat([head, payload])
}

/** Split a Connect streaming response body into [{flags, json}] (throws on a torn envelope). */
export function parseEnvelopes(buf) {
  const out = []
  let i = 0
  while (i < buf.length) {
    assert.ok(i + 5 <= buf.length, `torn envelope header at byte ${i} of ${buf.length}`)
    const flags = buf[i]
    const len = buf.readUInt32BE(i + 1)
    assert.ok(i + 5 + len <= buf.length, `torn envelope payload at byte ${i} (len ${len}) of ${buf.length}`)
    const payload = buf.subarray(i + 5, i + 5 + len).toString('utf8')
    out.push({ flags, json: JSON.parse(payload) })
    i += 5 + len
  }
  return out
}

export const enc = (s) => new TextEncoder().encode(s)
