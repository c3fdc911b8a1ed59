#!/usr/bin/env node
'use strict';
// An HBONE server nobody here wrote the HTTP/2 of: Node's own http2 module
// behind mutual TLS (ALPN h2, client certificate required and verified
// against --ca), relaying each CONNECT stream to its :authority over plain
// TCP, as Istio's ztunnel does for the pod behind it.  Session tickets are
// off, so every connection is a full handshake that shows the client's
// certificate.
//
//   node hbone-peer.js --listen HOST:PORT --cert F --key F --ca F [--drop-first N]
//
// --drop-first N: the first N connections that send a CONNECT are cut (the
// TCP connection destroyed, no answer) at their first CONNECT: a tunnel that
// fails before 200.
//
// Prints "listening" once bound, then one line each:
//   SESSION id=N alpn=h2 peer=<client URI SAN> serial=<hex, lower case>
//   CONNECT session=N stream=S authority=A
//   STATUS session=N stream=S status=200|503|400
//   END session=N stream=S up=BYTES down=BYTES   (bytes to / from the target)
//   DROP session=N stream=S                      (--drop-first)
//   SESSION_CLOSED id=N
const crypto = require('crypto');
const fs = require('fs');
const http2 = require('http2');
const net = require('net');

const a = { dropFirst: 0 };
for (let i = 2; i < process.argv.length; i++) {
  const k = process.argv[i];
  const v = process.argv[++i];
  if (k === '--listen') a.listen = v;
  else if (k === '--cert') a.cert = v;
  else if (k === '--key') a.key = v;
  else if (k === '--ca') a.ca = v;
  else if (k === '--drop-first') a.dropFirst = parseInt(v, 10);
  else { console.error(`unknown argument ${k}`); process.exit(2); }
}
if (!a.listen || !a.cert || !a.key || !a.ca) {
  console.error('--listen, --cert, --key and --ca are required');
  process.exit(2);
}

const server = http2.createSecureServer({
  cert: fs.readFileSync(a.cert),
  key: fs.readFileSync(a.key),
  ca: fs.readFileSync(a.ca),
  requestCert: true,
  rejectUnauthorized: true,
  ALPNProtocols: ['h2'],
  secureOptions: crypto.constants.SSL_OP_NO_TICKET,
  settings: { enableConnectProtocol: false },
});

let sessions = 0;
server.on('session', (session) => {
  const id = ++sessions;
  session.hbId = id;
  const sock = session.socket;
  const c = sock.getPeerCertificate();
  const san = (c && c.subjectaltname) || '';
  const uri = (san.match(/URI:([^,]+)/) || [])[1] || '-';
  const serial = ((c && c.serialNumber) || '-').toLowerCase().replace(/^0+/, '');
  console.log(`SESSION id=${id} alpn=${sock.alpnProtocol} peer=${uri} serial=${serial}`);
  session.on('error', () => {});
  session.on('close', () => console.log(`SESSION_CLOSED id=${id}`));
});

server.on('stream', (stream, headers) => {
  const sid = stream.session.hbId;
  const authority = headers[':authority'];
  const tag = `session=${sid} stream=${stream.id}`;
  console.log(`CONNECT ${tag} method=${headers[':method']} authority=${authority}`);
  stream.on('error', () => {});
  if (sid <= a.dropFirst) {
    console.log(`DROP ${tag}`);
    stream.session.destroy();   // (its socket may not be touched directly)
    return;
  }
  const m = /^(.*):(\d+)$/.exec(authority || '');
  if (headers[':method'] !== 'CONNECT' || !m) {
    console.log(`STATUS ${tag} status=400`);
    stream.respond({ ':status': 400 }, { endStream: true });
    return;
  }
  let up = 0;
  let down = 0;
  let answered = false;
  const target = net.connect({ host: m[1].replace(/^\[|\]$/g, ''), port: parseInt(m[2], 10) });
  target.on('connect', () => {
    answered = true;
    console.log(`STATUS ${tag} status=200`);
    stream.respond({ ':status': 200 });
    stream.on('data', (d) => { up += d.length; });
    target.on('data', (d) => { down += d.length; });
    stream.pipe(target);
    target.pipe(stream);
  });
  target.on('error', () => {
    if (!answered) {
      answered = true;
      console.log(`STATUS ${tag} status=503`);
      stream.respond({ ':status': 503 }, { endStream: true });
    } else {
      stream.close(http2.constants.NGHTTP2_CONNECT_ERROR);
    }
  });
  stream.on('close', () => {
    if (answered) console.log(`END ${tag} up=${up} down=${down}`);
    target.destroy();
  });
});

const m = /^(.*):(\d+)$/.exec(a.listen);
server.listen(parseInt(m[2], 10), m[1], () => console.log('listening'));
const quit = () => { server.close(); process.exit(0); };
process.on('SIGTERM', quit);
process.on('SIGINT', quit);
