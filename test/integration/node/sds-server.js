#!/usr/bin/env node
'use strict';
// An SDS v3 server built only from @grpc/grpc-js, @grpc/proto-loader and
// Envoy's own protos (from @grpc/grpc-js-xds), to feed a sidecar from an
// implementation nobody here wrote.  Serves `default` (chain + key as
// TlsCertificate) and `ROOTCA` (trusted_ca) from PEM files on a Unix socket.
//
//   node sds-server.js --socket PATH --chain FILE --key FILE --ca FILE
//        [--crl FILE] [--datasource bytes|string|filename]
//
// --crl: ROOTCA's validation_context also carries the file as its crl
// (Envoy's CertificateValidationContext.crl), re-read with the others.
//
// Prints "listening" once bound.  SIGHUP re-reads the files and pushes a new
// version to every open stream (whatever the files hold, garbage included:
// that is how tests push invalid secrets).  Every request is printed as a
// line: "REQ stream=N node=ID names=a,b version=V nonce=N ACK|NACK|INITIAL
// [error=...]", every response as "PUSH stream=N version=V nonce=N names=..".
// SIGTERM/SIGINT exit.
const fs = require('fs');
const path = require('path');
const { grpc, loadService, loadSecretType, SECRET_TYPE } = require('./sds-proto');

function parseArgs(argv) {
  const a = { datasource: 'bytes' };
  for (let i = 2; i < argv.length; i++) {
    const k = argv[i];
    const v = () => { if (i + 1 >= argv.length) throw new Error(`${k} needs a value`); return argv[++i]; };
    if (k === '--socket') a.socket = v();
    else if (k === '--chain') a.chain = v();
    else if (k === '--key') a.key = v();
    else if (k === '--ca') a.ca = v();
    else if (k === '--crl') a.crl = v();
    else if (k === '--datasource') a.datasource = v();
    else throw new Error(`unknown argument ${k}`);
  }
  for (const k of ['socket', 'chain', 'key', 'ca']) if (!a[k]) throw new Error(`--${k} is required`);
  if (!['bytes', 'string', 'filename'].includes(a.datasource)) throw new Error('--datasource: bytes, string or filename');
  return a;
}

const args = parseArgs(process.argv);
const Secret = loadSecretType();
let version = 0;
let material = null;
const streams = new Set();
let nextStream = 1;

function ds(file, text) {
  if (args.datasource === 'filename') return { filename: path.resolve(file) };
  if (args.datasource === 'string') return { inline_string: text };
  return { inline_bytes: Buffer.from(text) };
}

function load() {
  const rd = (f) => fs.readFileSync(f, 'utf8');
  material = { chain: rd(args.chain), key: rd(args.key), ca: rd(args.ca),
               crl: args.crl ? rd(args.crl) : null };
  version++;
}

function secretAny(name) {
  let obj;
  if (name === 'default') {
    obj = { name, tls_certificate: { certificate_chain: ds(args.chain, material.chain), private_key: ds(args.key, material.key) } };
  } else if (name === 'ROOTCA') {
    obj = { name, validation_context: { trusted_ca: ds(args.ca, material.ca) } };
    if (material.crl !== null) obj.validation_context.crl = ds(args.crl, material.crl);
  } else {
    return null;
  }
  const err = Secret.verify(obj);
  if (err) throw new Error(err);
  return { type_url: SECRET_TYPE, value: Buffer.from(Secret.encode(Secret.fromObject(obj)).finish()) };
}

function push(st) {
  const names = st.names.length ? st.names : ['default', 'ROOTCA'];
  const resources = names.map(secretAny).filter((x) => x);
  st.nonce++;
  const resp = { version_info: `v${version}`, resources, type_url: SECRET_TYPE, nonce: `${st.id}-${st.nonce}` };
  st.sent = version;
  st.call.write(resp);
  console.log(`PUSH stream=${st.id} version=v${version} nonce=${resp.nonce} names=${names.join(',')}`);
}

function streamSecrets(call) {
  const st = { id: nextStream++, call, names: [], nonce: 0, sent: 0 };
  streams.add(st);
  call.on('data', (req) => {
    let kind = 'INITIAL';
    if (req.response_nonce) kind = req.error_detail ? 'NACK' : 'ACK';
    const err = req.error_detail ? ` error=${JSON.stringify(req.error_detail.message)}` : '';
    console.log(`REQ stream=${st.id} node=${req.node ? req.node.id : ''} names=${req.resource_names.join(',')} ` +
                `version=${req.version_info} nonce=${req.response_nonce} ${kind}${err}`);
    const changed = req.resource_names.join(',') !== st.names.join(',');
    st.names = req.resource_names.slice();
    if (kind === 'INITIAL' || changed) push(st);
  });
  const gone = () => { streams.delete(st); };
  call.on('end', () => { gone(); call.end(); });
  call.on('error', gone);
  call.on('cancelled', gone);
}

load();
const Service = loadService();
const server = new grpc.Server();
server.addService(Service.service, {
  StreamSecrets: streamSecrets,
  DeltaSecrets: (call) => call.emit('error', { code: grpc.status.UNIMPLEMENTED }),
  FetchSecrets: (call, cb) => cb({ code: grpc.status.UNIMPLEMENTED }),
});
try { fs.unlinkSync(args.socket); } catch (e) { /* not there */ }
server.bindAsync(`unix://${path.resolve(args.socket)}`, grpc.ServerCredentials.createInsecure(), (e) => {
  if (e) {
    console.error(`sds-server: bind: ${e.message}`);
    process.exit(1);
  }
  console.log('listening');
});
process.on('SIGHUP', () => {
  try {
    load();
  } catch (e) {
    console.error(`sds-server: reload: ${e.message}`);
    return;
  }
  console.log(`RELOAD version=v${version} streams=${streams.size}`);
  for (const st of streams) push(st);
});
const quit = () => { server.forceShutdown(); process.exit(0); };
process.on('SIGTERM', quit);
process.on('SIGINT', quit);
