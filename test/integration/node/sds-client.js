#!/usr/bin/env node
'use strict';
// An SDS v3 client built only from @grpc/grpc-js, @grpc/proto-loader and
// Envoy's own protos (from @grpc/grpc-js-xds): subscribes to secrets on a
// Unix socket, ACKs every response, and prints one JSON line per response:
//   {"version":..,"nonce":..,"type_url":..,"resources":[{"name":..,
//    "cert_chain":PEM,"private_key":PEM|null,"trusted_ca":PEM|null}]}
// With --out DIR each response's PEMs are also written as
// DIR/<name>.chain.pem, <name>.key.pem, <name>.ca.pem (overwritten).
//
//   node sds-client.js --socket PATH [--names default,ROOTCA] [--count N]
//        [--timeout SECONDS] [--out DIR] [--node-id ID] [--nack-first]
//
// Exits 0 after N responses (default 1), 1 on a stream error or timeout.
const fs = require('fs');
const path = require('path');
const { grpc, loadService, loadSecretType, dsText, SECRET_TYPE } = require('./sds-proto');

function parseArgs(argv) {
  const a = { names: ['default', 'ROOTCA'], count: 1, timeout: 20, nodeId: 'node-sds-client' };
  for (let i = 2; i < argv.length; i++) {
    const k = argv[i];
    const v = () => { if (i + 1 >= argv.length) throw new Error(`${k} needs a value`); return argv[++i]; };
    if (k === '--socket') a.socket = v();
    else if (k === '--names') a.names = v() === '' ? [] : argv[i].split(',');
    else if (k === '--count') a.count = parseInt(v(), 10);
    else if (k === '--timeout') a.timeout = parseFloat(v());
    else if (k === '--out') a.out = v();
    else if (k === '--node-id') a.nodeId = v();
    else if (k === '--nack-first') a.nackFirst = true;
    else throw new Error(`unknown argument ${k}`);
  }
  if (!a.socket) throw new Error('--socket is required');
  return a;
}

function main() {
  const args = parseArgs(process.argv);
  const Service = loadService();
  const Secret = loadSecretType();
  const client = new Service(`unix://${path.resolve(args.socket)}`, grpc.credentials.createInsecure());
  const call = client.StreamSecrets();
  let got = 0;
  let done = false;
  const timer = setTimeout(() => {
    console.error(`sds-client: timed out after ${args.timeout}s with ${got} of ${args.count} responses`);
    process.exit(1);
  }, args.timeout * 1000);

  const finish = (code) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    // let the last ACK reach the server before going away
    setTimeout(() => {
      call.cancel();
      client.close();
      process.exit(code);
    }, code === 0 ? 200 : 0);
  };

  call.on('data', (resp) => {
    const out = { version: resp.version_info, nonce: resp.nonce, type_url: resp.type_url, resources: [] };
    for (const any of resp.resources) {
      if (any.type_url !== SECRET_TYPE) {
        console.error(`sds-client: unexpected resource type ${any.type_url}`);
        finish(1);
        return;
      }
      const s = Secret.toObject(Secret.decode(any.value), { defaults: false, oneofs: true });
      const r = { name: s.name, cert_chain: null, private_key: null, trusted_ca: null };
      if (s.tls_certificate) {
        r.cert_chain = dsText(s.tls_certificate.certificate_chain);
        r.private_key = dsText(s.tls_certificate.private_key);
      }
      if (s.validation_context) r.trusted_ca = dsText(s.validation_context.trusted_ca);
      out.resources.push(r);
      if (args.out) {
        fs.mkdirSync(args.out, { recursive: true });
        for (const [k, suffix] of [['cert_chain', 'chain'], ['private_key', 'key'], ['trusted_ca', 'ca']]) {
          if (typeof r[k] === 'string') {
            fs.writeFileSync(path.join(args.out, `${r.name}.${suffix}.pem`), r[k], { mode: 0o600 });
          }
        }
      }
    }
    console.log(JSON.stringify(out));
    got++;
    const req = {
      version_info: resp.version_info, response_nonce: resp.nonce, type_url: SECRET_TYPE,
      resource_names: args.names, node: { id: args.nodeId },
    };
    if (args.nackFirst && got === 1) {
      req.version_info = '';
      req.error_detail = { code: 3, message: 'sds-client: NACK on request (--nack-first)' };
    }
    call.write(req);
    if (got >= args.count) finish(0);
  });
  call.on('error', (e) => {
    if (done) return;
    console.error(`sds-client: stream error: code=${e.code} ${e.details || e.message}`);
    finish(1);
  });
  call.on('end', () => {
    if (done) return;
    console.error('sds-client: server ended the stream');
    finish(1);
  });
  call.write({ node: { id: args.nodeId }, resource_names: args.names, type_url: SECRET_TYPE });
}

try {
  main();
} catch (e) {
  console.error(`sds-client: ${e.message}`);
  process.exit(2);
}
