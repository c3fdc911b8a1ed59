#!/usr/bin/env node
'use strict';
// An app that ends first: on each connection it writes "BYE\n" and shuts
// down its sending side (FIN) at once, then keeps reading until the client's
// FIN, and prints what it got.  For half-close tests: the client must still
// be able to send after the app's end reached it.
//
//   node half-app.js --listen HOST:PORT [--reset]
//
// Prints "listening", then per connection "GOT bytes=N sha=H" (SHA-256).
// --reset: an app that resets instead: it writes nothing, and at the first
// bytes it receives it resets the connection (RST), printing "RESET".
const crypto = require('crypto');
const net = require('net');

let listen = '';
let reset = false;
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] === '--listen') listen = process.argv[++i];
  else if (process.argv[i] === '--reset') reset = true;
  else { console.error(`unknown argument ${process.argv[i]}`); process.exit(2); }
}
const m = /^(.*):(\d+)$/.exec(listen);
if (!m) { console.error('--listen HOST:PORT is required'); process.exit(2); }

const server = net.createServer({ allowHalfOpen: true }, (sock) => {
  const h = crypto.createHash('sha256');
  let n = 0;
  sock.on('error', (e) => console.log(`ERROR ${e.code || e.message} bytes=${n}`));
  if (reset) {
    sock.once('data', () => { console.log('RESET'); sock.resetAndDestroy(); });
    return;
  }
  sock.on('data', (d) => { n += d.length; h.update(d); });
  sock.on('end', () => { console.log(`GOT bytes=${n} sha=${h.digest('hex')}`); sock.destroy(); });
  sock.end('BYE\n');
});
server.listen(parseInt(m[2], 10), m[1], () => console.log('listening'));
const quit = () => { server.close(); process.exit(0); };
process.on('SIGTERM', quit);
process.on('SIGINT', quit);
