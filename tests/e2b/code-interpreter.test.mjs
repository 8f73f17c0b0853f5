// SPDX-License-Identifier: Apache-2.0
// Code interpreter (e2b-protocol.md §D): POST /execute (NDJSON) and /contexts, through the
// unmodified `@e2b/code-interpreter` SDK.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { Sandbox } from '@e2b/code-interpreter'
import { NotFoundError, SandboxError, TimeoutError } from 'e2b'
import { create, expectReject, killAll, skipReason } from './lib.mjs'

const T = { timeout: 120_000 }

describe('code interpreter', { skip: skipReason }, () => {
  let sbx
  before(async () => {
    sbx = await create({ timeoutMs: 300_000, envs: { SBX_CI: 'sandbox-level' } }, Sandbox)
  })
  after(killAll)

  test('default template is code-interpreter-v1 and commands work too', T, async () => {
    assert.equal((await sbx.commands.run('echo ci')).stdout, 'ci\n')
    const info = await sbx.getInfo()
    assert.equal(info.sandboxId, sbx.sandboxId)
  })

  test('runCode: main result text and state across calls', T, async () => {
    const e1 = await sbx.runCode('x = 41')
    assert.equal(e1.error, undefined)
    assert.equal(e1.text, undefined, 'an assignment has no main result')
    const e2 = await sbx.runCode('x + 1')
    assert.equal(e2.text, '42')
    assert.equal(e2.results.length, 1)
    assert.equal(e2.results[0].isMainResult, true)
    const e3 = await sbx.runCode('def f(a):\n    return a * 2\n\nimport math\nf(x) + math.floor(0.5)')
    assert.equal(e3.text, '82')
    const e4 = await sbx.runCode('"abc"')
    assert.equal(e4.text, 'abc', 'one pair of surrounding quotes is stripped')
    if (e2.executionCount !== undefined) assert.ok(e4.executionCount > e2.executionCount, 'executionCount increases')
  })

  test('runCode: stdout / stderr logs and callbacks', T, async () => {
    const out = []
    const err = []
    const ex = await sbx.runCode('import sys\nprint("hello")\nprint("oops", file=sys.stderr)\nprint("again")', {
      onStdout: (m) => out.push(m),
      onStderr: (m) => err.push(m),
    })
    assert.equal(ex.logs.stdout.join(''), 'hello\nagain\n')
    assert.equal(ex.logs.stderr.join(''), 'oops\n')
    assert.equal(out.map((m) => m.line).join(''), 'hello\nagain\n')
    assert.equal(err.map((m) => m.line).join(''), 'oops\n')
    assert.equal(out[0].error, false)
    assert.equal(err[0].error, true)
    assert.equal(ex.error, undefined)
  })

  test('runCode: error name / value / traceback, onError, and no HTTP error', T, async () => {
    const seen = []
    const ex = await sbx.runCode('print("before")\n1 / 0', { onError: (e) => seen.push(e) })
    assert.ok(ex.error, 'execution.error is set')
    assert.equal(ex.error.name, 'ZeroDivisionError')
    assert.match(ex.error.value, /division by zero/)
    assert.equal(typeof ex.error.traceback, 'string')
    assert.match(ex.error.traceback, /ZeroDivisionError/)
    assert.equal(ex.logs.stdout.join(''), 'before\n')
    assert.equal(seen.length, 1)
    const nameErr = await sbx.runCode('undefined_variable_xyz')
    assert.equal(nameErr.error.name, 'NameError')
    const syntax = await sbx.runCode('def (:')
    assert.equal(syntax.error.name, 'SyntaxError')
    // The context still works after errors.
    assert.equal((await sbx.runCode('x')).text, '41')
  })

  test('runCode: onResult gets the main result', T, async () => {
    const results = []
    const ex = await sbx.runCode('7 * 6', { onResult: (r) => results.push(r) })
    assert.equal(ex.text, '42')
    assert.equal(results.length, 1)
    assert.equal(results[0].isMainResult, true)
    assert.equal(results[0].text, '42')
  })

  test('runCode: display() results are not the main result; rich mime types', T, async () => {
    const ex = await sbx.runCode('from IPython.display import display, HTML\ndisplay(5)\ndisplay(HTML("<b>x</b>"))\n7')
    assert.equal(ex.error, undefined, JSON.stringify(ex.error))
    assert.equal(ex.text, '7')
    assert.ok(ex.results.some((r) => !r.isMainResult && r.text === '5'), JSON.stringify(ex.results))
    const html = ex.results.find((r) => r.html)
    assert.ok(html && !html.isMainResult && html.html === '<b>x</b>', JSON.stringify(ex.results))
    assert.deepEqual(html.formats(), ['html'], 'no unknown keys land in extra')
    const png = await sbx.runCode('class P:\n    def _repr_png_(self): return b"\\x89PNG"\nP()')
    assert.equal(png.results[0].png, 'iVBORw==')
    assert.ok(png.results[0].isMainResult)
  })

  test('envs per execution; sandbox-level envs', T, async () => {
    const a = await sbx.runCode('import os\nos.environ.get("MY_VAR")', { envs: { MY_VAR: 'v1' } })
    assert.equal(a.text, 'v1')
    const b = await sbx.runCode('import os\nstr(os.environ.get("MY_VAR"))')
    assert.equal(b.text, 'None', 'execution envs do not stick')
    const c = await sbx.runCode('import os\nos.environ.get("SBX_CI")')
    assert.equal(c.text, 'sandbox-level')
  })

  test('javascript: result, console.log, state across calls', T, async () => {
    const a = await sbx.runCode('var jsv = 21; console.log("from js"); jsv * 2', { language: 'javascript' })
    assert.equal(a.error, undefined, JSON.stringify(a.error))
    assert.equal(a.text, '42')
    assert.equal(a.logs.stdout.join(''), 'from js\n')
    const b = await sbx.runCode('jsv + 1', { language: 'javascript' })
    assert.equal(b.text, '22')
    const c = await sbx.runCode('throw new Error("js boom")', { language: 'javascript' })
    assert.ok(c.error, 'a thrown error is execution.error')
    assert.match(c.error.value + c.error.traceback, /js boom/)
    const d = await sbx.runCode('process.env.JS_ENV', { language: 'javascript', envs: { JS_ENV: 'jsenv' } })
    assert.equal(d.text, 'jsenv')
  })

  test('bash: stdout and exit status', T, async () => {
    const a = await sbx.runCode('echo hello from bash; whoami', { language: 'bash' })
    assert.equal(a.logs.stdout.join(''), 'hello from bash\nuser\n')
    const b = await sbx.runCode('echo "$BASH_ENV_X"', { language: 'bash', envs: { BASH_ENV_X: 'bx' } })
    assert.equal(b.logs.stdout.join(''), 'bx\n')
  })

  test('a fresh sandbox lists its default python and javascript contexts', T, async () => {
    const fresh = await create({ timeoutMs: 60_000 }, Sandbox)
    const listed = await fresh.listCodeContexts()
    assert.deepEqual(listed.map((c) => c.language), ['python', 'javascript'])
    for (const c of listed) assert.equal(c.cwd, '/home/user')
    // The listed python context is the default one runCode uses.
    await fresh.runCode('shared = 41')
    assert.equal((await fresh.runCode('shared + 1', { context: listed[0] })).text, '42')
    await fresh.kill()
  })

  test('a language without a kernel here: NotFoundError that says which languages there are', T, async () => {
    for (const language of ['r', 'java', 'typescript']) {
      const err = await expectReject(sbx.runCode('1', { language }), NotFoundError, `runCode in ${language}`)
      assert.match(err.message, /not supported.*python, javascript/)
    }
    const err = await expectReject(sbx.createCodeContext({ language: 'cobol' }), NotFoundError, 'createCodeContext cobol')
    assert.match(err.message, /Unknown language 'cobol'/)
  })

  test('contexts: create (cwd, language), run in it, list, restart, remove', T, async () => {
    const ctx = await sbx.createCodeContext({ cwd: '/tmp', language: 'python' })
    assert.equal(typeof ctx.id, 'string')
    assert.equal(ctx.language, 'python')
    assert.equal(ctx.cwd, '/tmp')
    assert.equal((await sbx.runCode('import os\nos.getcwd()', { context: ctx })).text, '/tmp')
    const isolated = await sbx.runCode('x', { context: ctx })
    assert.equal(isolated.error?.name, 'NameError', 'the default context variable x is not visible')
    await sbx.runCode('y = 5', { context: ctx })
    assert.equal((await sbx.runCode('y * 3', { context: ctx })).text, '15')

    const listed = await sbx.listCodeContexts()
    assert.ok(Array.isArray(listed))
    assert.ok(listed.some((c) => c.id === ctx.id), 'listCodeContexts contains the new context')

    await sbx.restartCodeContext(ctx)
    const afterRestart = await sbx.runCode('y', { context: ctx })
    assert.equal(afterRestart.error?.name, 'NameError', 'restart clears the state')
    await sbx.runCode('z = 1', { context: ctx.id })
    await sbx.restartCodeContext(ctx.id)

    await sbx.removeCodeContext(ctx)
    assert.ok(!(await sbx.listCodeContexts()).some((c) => c.id === ctx.id), 'removed context is gone')
    await expectReject(sbx.runCode('1', { context: ctx }), [NotFoundError, SandboxError], 'runCode in a removed context')
    await expectReject(sbx.removeCodeContext('no-such-context'), NotFoundError, 'remove unknown context')
    await expectReject(sbx.restartCodeContext('no-such-context'), NotFoundError, 'restart unknown context')

    const js = await sbx.createCodeContext({ language: 'javascript' })
    assert.equal(js.language, 'javascript')
    assert.equal((await sbx.runCode('1 + 2', { context: js })).text, '3')
    await sbx.removeCodeContext(js.id)
    const dflt = await sbx.createCodeContext()
    assert.equal(dflt.language, 'python')
    assert.equal(dflt.cwd, '/home/user')
    await sbx.removeCodeContext(dflt)
  })

  test('timeoutMs ends a long execution with TimeoutError; the kernel keeps working', T, async () => {
    const t0 = Date.now()
    await expectReject(sbx.runCode('import time\ntime.sleep(30)\n"never"', { timeoutMs: 2_000 }), TimeoutError, 'runCode timeoutMs')
    assert.ok(Date.now() - t0 < 15_000)
    const ok = await sbx.runCode('1 + 1', { timeoutMs: 40_000 })
    assert.equal(ok.text, '2')
    assert.equal((await sbx.runCode('x')).text, '41', 'state survives the interrupted execution')
  })

  test('streaming: stdout arrives while the cell runs', T, async () => {
    const times = []
    const t0 = Date.now()
    await sbx.runCode('import time\nfor i in range(3):\n    print(i, flush=True)\n    time.sleep(0.5)', {
      onStdout: () => times.push(Date.now() - t0),
    })
    const total = Date.now() - t0
    assert.ok(times.length >= 2, `several stdout messages, got ${times.length}`)
    assert.ok(times[0] < total - 500, `first output at ${times[0]} ms, end at ${total} ms`)
  })
})
