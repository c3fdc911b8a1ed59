#!/usr/bin/env node
'use strict';
// A raw HTTP/2 "gRPC" server (Node's own http2 module, no gRPC library) for
// pushing bytes no real gRPC server would send: each request stream gets
// :status 200, content-type application/grpc, then the bytes of --body
// exactly as they are (a truncated frame, a compressed flag, an oversize
// length prefix, garbage), then, with --end, trailers grpc-status 0 (or
// --status N).  Without --end the stream stays open.
//
//   node h2-raw-server.js --socket PATH --body FILE [--end] [--status N]
//
// Prints "listening" once bound, "STREAM path=..." per request, and
// "MSG len=N text=..." per gRPC message the client sends on it (text: the
// message's printable runs, enough to see a NACK's error_detail).
const fs = require('fs');
const http2 = require('http2');

const a = { end: false, status: 0 };
for (let i = 2; i < process.argv.length; i++) {
  const k = process.argv[i];
  if (k === '--socket') a.socket = process.argv[++i];
  else if (k === '--body') a.body = process.argv[++i];
  else if (k === '--end') a.end = true;
  else if (k === '--status') a.status = parseInt(process.argv[++i], 10);
  else { console.error(`unknown argument ${k}`); process.exit(2); }
}
if (!a.socket || !a.body) { console.error('--socket and --body are required'); process.exit(2); }

const server = http2.createServer();
server.on('stream', (stream, headers) => {
  console.log(`STREAM path=${headers[':path']}`);
  stream.on('error', () => {});
  let buf = Buffer.alloc(0);
  stream.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 5 && buf.length >= 5 + buf.readUInt32BE(1)) {
      const msg = buf.subarray(5, 5 + buf.readUInt32BE(1));
      buf = buf.subarray(5 + msg.length);
      const text = msg.toString('latin1').replace(/[^\x20-\x7e]+/g, ' ').trim();
      console.log(`MSG len=${msg.length} text=${text}`);
    }
  });
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: a.end });
  if (a.end) {
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': String(a.status) }));
    stream.end(fs.readFileSync(a.body));
  } else {
    stream.write(fs.readFileSync(a.body));
  }
});
try { fs.unlinkSync(a.socket); } catch (e) { /* not there */ }
server.listen(a.socket, () => console.log('listening'));
const quit = () => { server.close(); process.exit(0); };
process.on('SIGTERM', quit);
process.on('SIGINT', quit);
