#!/usr/bin/env node
'use strict';
// An HBONE client nobody here wrote the HTTP/2 of: Node's own http2 module
// opens one mutual-TLS connection (ALPN h2, a client certificate) and sends
// HTTP CONNECT streams on it, as Istio's ztunnel does.
//
//   node hbone-client.js --connect HOST:PORT --cert F --key F --ca F
//        --stream AUTHORITY[,BYTES[,ACTION]] [--stream ...]
//        [--then AUTHORITY[,BYTES]] [--timeout MS] [--save DIR]
//
// Every --stream is opened at once on the one connection; each is a CONNECT
// with that :authority.  Once its answer is 200 it sends BYTES random bytes
// (default 0), ends its side (END_STREAM) and reads until the far side ends.
// ACTION:
//   reset      after the first echoed bytes, RST_STREAM (CANCEL) the stream
//   late=N     (for an app that ends first) wait for the far side's end,
//              then send N more random bytes and end
//   http=PATH  send "GET PATH HTTP/1.1" (Host: app, Connection: close)
//              instead of random bytes
//   pause=FILE stop reading after the first received bytes (HTTP/2 flow
//              control then holds the sender back), print "PAUSED n=I", and
//              read on once FILE exists
// --save DIR: what each stream received goes to DIR/stream-N.bin.
// --then streams are opened on the same connection after every --stream is
// finished (to show the connection still carries new streams).
//
// Prints, one line each:
//   SESSION alpn=h2 peer=<URI SAN> serial=<hex, lower case, no leading 0s>
//   STREAM n=I authority=A status=S sent=N recv=N sha_sent=H sha_recv=H [late=N sha_late=H]
//   STREAM n=I authority=A error=CODE            (no answer, or a reset)
//   RESET n=I                                    (after sending RST_STREAM)
//   GOAWAY code=C          SESSION_ERROR msg     SESSION_CLOSED
//   DONE streams=N ok=N
// and exits 0 (the test decides what the lines mean), 2 on usage errors.
const crypto = require('crypto');
const fs = require('fs');
const http2 = require('http2');

const a = { streams: [], then: [], timeout: 20000 };
for (let i = 2; i < process.argv.length; i++) {
  const k = process.argv[i];
  const v = process.argv[++i];
  if (k === '--connect') a.connect = v;
  else if (k === '--cert') a.cert = v;
  else if (k === '--key') a.key = v;
  else if (k === '--ca') a.ca = v;
  else if (k === '--stream') a.streams.push(v);
  else if (k === '--then') a.then.push(v);
  else if (k === '--timeout') a.timeout = parseInt(v, 10);
  else if (k === '--save') a.save = v;
  else { console.error(`unknown argument ${k}`); process.exit(2); }
}
if (!a.connect || !a.ca || a.streams.length === 0) {
  console.error('--connect, --ca and at least one --stream are required');
  process.exit(2);
}

const sha = (b) => crypto.createHash('sha256').update(b).digest('hex');
const opts = {
  ca: fs.readFileSync(a.ca),
  ALPNProtocols: ['h2'],
  // mesh certificates carry a SPIFFE URI, not the host name: print it instead
  checkServerIdentity: () => undefined,
};
if (a.cert) { opts.cert = fs.readFileSync(a.cert); opts.key = fs.readFileSync(a.key); }

let finished = 0;
let ok = 0;
const total = a.streams.length + a.then.length;
const session = http2.connect(`https://${a.connect}`, opts);
session.on('error', (e) => console.log(`SESSION_ERROR ${e.code || ''} ${e.message}`));
session.on('goaway', (code) => console.log(`GOAWAY code=${code}`));
session.on('close', () => { console.log('SESSION_CLOSED'); done(); });
session.on('connect', (s, sock) => {
  const c = sock.getPeerCertificate();
  const san = (c && c.subjectaltname) || '';
  const uri = (san.match(/URI:([^,]+)/) || [])[1] || '-';
  const serial = ((c && c.serialNumber) || '-').toLowerCase().replace(/^0+/, '');
  console.log(`SESSION alpn=${sock.alpnProtocol} peer=${uri} serial=${serial}`);
});

const timer = setTimeout(() => { console.log('TIMEOUT'); done(); }, a.timeout);

function done() {
  if (done.once) return;
  done.once = true;
  clearTimeout(timer);
  console.log(`DONE streams=${total} ok=${ok}`);
  session.destroy();
  setImmediate(() => process.exit(0));
}

function streamFinished() {
  if (done.once) return;
  finished++;
  if (finished === a.streams.length) {
    if (a.then.length === 0) { done(); return; }
    a.then.forEach((spec, j) => open(spec, a.streams.length + j, streamFinished));
  } else if (finished === total) {
    done();
  }
}

function open(spec, n, onEnd) {
  const [authority, bytesS, action] = spec.split(',');
  const bytes = parseInt(bytesS || '0', 10);
  const late = action && action.startsWith('late=') ? parseInt(action.slice(5), 10) : -1;
  const out = action && action.startsWith('http=')
    ? Buffer.from(`GET ${action.slice(5)} HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n`)
    : crypto.randomBytes(bytes);
  const lateOut = late >= 0 ? crypto.randomBytes(late) : null;
  const chunks = [];
  let status = 0;
  let ended = false;
  let reported = false;
  const report = () => {
    if (reported) return;
    reported = true;
    onEnd();
  };
  let req;
  try {
    req = session.request({ ':method': 'CONNECT', ':authority': authority }, { endStream: false });
  } catch (e) {
    // the connection is gone (GOAWAY, closed): no stream
    console.log(`STREAM n=${n} authority=${authority} status=0 error=${e.code || e.message}`);
    setImmediate(report);
    return;
  }
  req.on('response', (h) => {
    status = h[':status'];
    if (status !== 200) {
      // a refusal: reported at once, whether or not the stream ends after it
      console.log(`STREAM n=${n} authority=${authority} status=${status} sent=0 recv=0`);
      report();
      req.close(http2.constants.NGHTTP2_CANCEL);
      return;
    }
    req.write(out);
    if (late < 0) req.end();
  });
  let paused = false;
  req.on('data', (d) => {
    chunks.push(d);
    if (action && action.startsWith('pause=') && !paused) {
      paused = true;
      req.pause();
      console.log(`PAUSED n=${n}`);
      let tries = 0;
      const poll = setInterval(() => {
        if (fs.existsSync(action.slice(6)) || ++tries > 2400) {
          clearInterval(poll);
          req.resume();
        }
      }, 50);
    }
    if (action === 'reset' && !req.destroyed && !reported) {
      req.close(http2.constants.NGHTTP2_CANCEL);
      console.log(`RESET n=${n}`);
      report();
    }
  });
  req.on('end', () => {
    ended = true;
    if (late >= 0 && status === 200) {
      req.end(lateOut);
    }
  });
  req.on('error', (e) => {
    if (reported) return;
    console.log(`STREAM n=${n} authority=${authority} status=${status} error=${e.code || e.message}`);
    report();
  });
  req.on('close', () => {
    if (reported) return;
    const recv = Buffer.concat(chunks);
    if (a.save) fs.writeFileSync(`${a.save}/stream-${n}.bin`, recv);
    let line = `STREAM n=${n} authority=${authority} status=${status} sent=${out.length} recv=${recv.length}` +
      ` sha_sent=${sha(out)} sha_recv=${sha(recv)}`;
    if (lateOut) line += ` late=${lateOut.length} sha_late=${sha(lateOut)}`;
    if (req.rstCode && req.rstCode !== 0) line += ` rst=${req.rstCode}`;
    if (!ended) line += ' end=no';
    console.log(line);
    if (status === 200 && ended) ok++;
    report();
  });
}

a.streams.forEach((spec, n) => open(spec, n, streamFinished));
