#!/usr/bin/env node
'use strict';
// Many concurrent plain TCP connections to an echo service (usually through
// a sidecar pair), every byte checked.
//
//   node tcp-conns.js --connect HOST:PORT --conns N --bytes N
//        [--hold FILE] [--timeout MS]
//
// Opens N connections at once; each sends its own BYTES random bytes and
// reads until it has BYTES back.  With --hold, once every connection has
// its echo it prints "HOLDING n=N" and waits (connections open) until FILE
// exists.  Then every connection half-closes and reads to the far side's
// end; the SHA-256 of what each sent must equal that of what came back (the
// payloads differ per connection, so a stream mixed up with another fails).
//
// Prints "HOLDING n=N" (with --hold), one "BAD i=I why=..." per failed
// connection, and "DONE conns=N ok=N bad=N"; exits 0 when all are ok, 1
// otherwise, 2 on usage errors.
const crypto = require('crypto');
const fs = require('fs');
const net = require('net');

const a = { conns: 1, bytes: 1024, timeout: 120000 };
for (let i = 2; i < process.argv.length; i++) {
  const k = process.argv[i];
  const v = process.argv[++i];
  if (k === '--connect') a.connect = v;
  else if (k === '--conns') a.conns = parseInt(v, 10);
  else if (k === '--bytes') a.bytes = parseInt(v, 10);
  else if (k === '--hold') a.hold = v;
  else if (k === '--timeout') a.timeout = parseInt(v, 10);
  else { console.error(`unknown argument ${k}`); process.exit(2); }
}
const m = /^(.*):(\d+)$/.exec(a.connect || '');
if (!m) { console.error('--connect HOST:PORT is required'); process.exit(2); }

const sha = (b) => crypto.createHash('sha256').update(b).digest('hex');
let echoed = 0;
let closed = 0;
let ok = 0;
let bad = 0;
const conns = [];

const timer = setTimeout(() => {
  console.log(`TIMEOUT echoed=${echoed} closed=${closed}`);
  finish();
}, a.timeout);

function finish() {
  clearTimeout(timer);
  console.log(`DONE conns=${a.conns} ok=${ok} bad=${a.conns - ok}`);
  process.exit(ok === a.conns ? 0 : 1);
}

function release() {
  for (const c of conns) if (!c.failed) c.sock.end();
}

function allEchoed() {
  if (!a.hold) { release(); return; }
  console.log(`HOLDING n=${a.conns}`);
  let tries = 0;
  const poll = setInterval(() => {
    if (fs.existsSync(a.hold) || ++tries > 6000) {
      clearInterval(poll);
      release();
    }
  }, 50);
}

for (let i = 0; i < a.conns; i++) {
  const c = { out: crypto.randomBytes(a.bytes), got: [], n: 0, failed: false, counted: false };
  c.sock = net.connect({ host: m[1], port: parseInt(m[2], 10) });
  c.sock.setNoDelay(true);
  c.sock.on('connect', () => c.sock.write(c.out));
  c.sock.on('data', (d) => {
    c.got.push(d);
    c.n += d.length;
    if (!c.counted && c.n >= a.bytes) {
      c.counted = true;
      if (++echoed === a.conns) allEchoed();
    }
  });
  c.sock.on('error', (e) => {
    if (!c.failed) console.log(`BAD i=${i} why=${e.code || e.message} recv=${c.n}`);
    c.failed = true;
  });
  c.sock.on('close', () => {
    if (!c.failed) {
      const got = Buffer.concat(c.got);
      if (got.length === c.out.length && sha(got) === sha(c.out)) ok++;
      else console.log(`BAD i=${i} why=mismatch sent=${c.out.length} recv=${got.length}`);
    }
    if (!c.counted) {
      // closed before its echo was complete: do not hold the others forever
      c.counted = true;
      if (++echoed === a.conns) allEchoed();
    }
    if (++closed === a.conns) finish();
  });
  conns.push(c);
}
