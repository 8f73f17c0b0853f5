// SPDX-License-Identifier: Apache-2.0
// The JavaScript kernel driver, run as `node --expose-internals -e <source> <events-fifo>`.
//
// Cells run in the kernel's own global context (as node's REPL does), so state persists
// and values from required modules are from the same realm. The script's completion value
// is the main result, formatted with util.inspect. Cells with top-level await are rewritten
// by node's own REPL transform (internal/repl/await). SIGINT breaks synchronous code
// (vm breakOnSigint) and rejects a pending top-level await.
#include "guest-agent/interpreter_drivers.hpp"

namespace nexus::agent {

namespace {

constexpr std::string_view kSource = R"NEXUS(
(() => {
  'use strict';
  const fs = require('fs');
  const net = require('net');
  const util = require('util');
  const vm = require('vm');

  // Read-write: opening never blocks, even if the agent is already gone.
  const evFd = fs.openSync(process.argv[1], fs.constants.O_RDWR);
  process.argv.splice(1, 1);
  // Requests arrive on fd 0: read them through a private descriptor and give user code
  // /dev/null as stdin.
  let ctlFd = 0;
  try {
    ctlFd = fs.openSync('/proc/self/fd/0', fs.constants.O_RDONLY);
    fs.closeSync(0);
    const nul = fs.openSync('/dev/null', fs.constants.O_RDONLY);
    if (nul !== 0) fs.closeSync(nul);
  } catch (e) {
    ctlFd = 0;
  }

  const clean = (s) => Buffer.from(String(s), 'utf8').toString('utf8');

  function send(obj) {
    const buf = Buffer.from(JSON.stringify(obj) + '\n', 'utf8');
    let off = 0;
    while (off < buf.length) {
      try {
        off += fs.writeSync(evFd, buf, off, buf.length - off);
      } catch (e) {
        if (e.code !== 'EAGAIN' && e.code !== 'EINTR') throw e;
      }
    }
  }

  let processTopLevelAwait = null;
  let boxed = false;
  try {
    ({ processTopLevelAwait } = require('internal/repl/await'));
    boxed = /value:/.test(processTopLevelAwait('await 0') || '');
  } catch (e) {
    processTopLevelAwait = null;
  }

  let onInterrupt = null;
  process.on('SIGINT', () => {
    if (onInterrupt) onInterrupt();
  });
  process.on('uncaughtException', (e) => {
    try {
      process.stderr.write('Uncaught ' + util.inspect(e) + '\n');
    } catch (ignored) {}
  });
  process.on('unhandledRejection', (e) => {
    try {
      process.stderr.write('Uncaught (in promise) ' + util.inspect(e) + '\n');
    } catch (ignored) {}
  });

  function cleanStack(stack) {
    const lines = String(stack).split('\n');
    const cut = lines.findIndex((l) => /^\s+at /.test(l) &&
        (l.includes('node:vm') || l.includes('[eval]') || l.includes('runInThisContext')));
    return (cut >= 0 ? lines.slice(0, cut) : lines).join('\n');
  }

  function errorEvent(id, e) {
    if (e !== null && typeof e === 'object' && 'stack' in e && typeof e.stack === 'string') {
      const name = e.name !== undefined ? String(e.name) : 'Error';
      const value = e.message !== undefined ? String(e.message) : '';
      return { type: 'error', id, name: clean(name), value: clean(value),
               traceback: clean(cleanStack(e.stack)) };
    }
    const text = util.inspect(e);
    return { type: 'error', id, name: 'Error', value: clean(text),
             traceback: clean('Uncaught ' + text) };
  }

  function interrupted() {
    const e = new Error('Script execution was interrupted by `SIGINT`');
    e.code = 'ERR_SCRIPT_EXECUTION_INTERRUPTED';
    return e;
  }

  async function execute(msg) {
    const id = msg.id;
    const code = typeof msg.code === 'string' ? msg.code : '';
    const env = msg.env !== null && typeof msg.env === 'object' ? msg.env : {};
    const saved = new Map();
    for (const [k, v] of Object.entries(env)) {
      saved.set(k, Object.prototype.hasOwnProperty.call(process.env, k) ? process.env[k] : undefined);
      process.env[k] = String(v);
    }
    let value;
    let error;
    let failed = false;
    try {
      let wrapped = null;
      if (processTopLevelAwait && code.includes('await')) {
        try {
          wrapped = processTopLevelAwait(code);
        } catch (e) {
          wrapped = null;
        }
      }
      const script = new vm.Script(wrapped === null ? code : wrapped,
                                   { filename: `<cell-${id}>` });
      value = script.runInThisContext({ breakOnSigint: true, displayErrors: false });
      if (wrapped !== null) {
        value = await new Promise((resolve, reject) => {
          onInterrupt = () => reject(interrupted());
          Promise.resolve(value).then(resolve, reject);
        });
        if (boxed) value = value !== null && typeof value === 'object' ? value.value : undefined;
      }
    } catch (e) {
      failed = true;
      error = e;
    } finally {
      onInterrupt = null;
      for (const [k, v] of saved) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    if (failed) {
      send(errorEvent(id, error));
    } else if (value !== undefined) {
      let text;
      try {
        text = util.inspect(value);
      } catch (e) {
        send(errorEvent(id, e));
        text = undefined;
      }
      if (text !== undefined)
        send({ type: 'result', id, is_main_result: true, text: clean(text) });
    }
    send({ type: 'done', id });
  }

  let chain = Promise.resolve();
  let pending = '';
  const ctl = new net.Socket({ fd: ctlFd, readable: true, writable: false });
  ctl.setEncoding('utf8');
  ctl.on('data', (chunk) => {
    pending += chunk;
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      let msg;
      try {
        msg = JSON.parse(line);
      } catch (e) {
        continue;
      }
      if (msg !== null && typeof msg === 'object' && msg.type === 'execute')
        chain = chain.then(() => execute(msg)).catch(() => {});
    }
  });
  ctl.on('end', () => process.exit(0));
  ctl.on('error', () => process.exit(1));
  send({ type: 'ready' });
})();
)NEXUS";

}  // namespace

std::string_view node_driver_source() { return kSource; }

}  // namespace nexus::agent
