'use strict';
// Loads Envoy's own SDS protos as shipped in the npm package
// @grpc/grpc-js-xds (deps/envoy-api etc.), for sds-client.js and
// sds-server.js.  NODE_PATH must reach the node_modules that hold
// @grpc/grpc-js, @grpc/proto-loader and @grpc/grpc-js-xds.
const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

const xdsRoot = path.dirname(require.resolve('@grpc/grpc-js-xds/package.json'));
const includeDirs = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate']
  .map((d) => path.join(xdsRoot, 'deps', d));

const SDS_PROTO = 'envoy/service/secret/v3/sds.proto';
const SECRET_PROTO = 'envoy/extensions/transport_sockets/tls/v3/secret.proto';
const SECRET_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';

function loadService() {
  const def = protoLoader.loadSync(SDS_PROTO, {
    includeDirs, keepCase: true, longs: String, enums: String, defaults: true, oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def);
  return pkg.envoy.service.secret.v3.SecretDiscoveryService;
}

// protobufjs root for encoding/decoding the Secret carried in an Any,
// resolving imports the way @grpc/proto-loader does.
function loadSecretType() {
  const root = new protobuf.Root();
  const orig = root.resolvePath;
  root.resolvePath = (origin, target) => {
    if (path.isAbsolute(target)) return target;
    for (const d of includeDirs) {
      const full = path.join(d, target);
      if (fs.existsSync(full)) return full;
    }
    return orig(origin, target);
  };
  root.loadSync(SECRET_PROTO, { keepCase: true });
  root.resolveAll();
  return root.lookupType('envoy.extensions.transport_sockets.tls.v3.Secret');
}

// DataSource -> string; reports which specifier was used.
function dsText(ds) {
  if (!ds) return null;
  if (ds.inline_bytes && ds.inline_bytes.length) return Buffer.from(ds.inline_bytes).toString();
  if (ds.inline_string) return ds.inline_string;
  if (ds.filename) return { filename: ds.filename };
  return null;
}

module.exports = { grpc, loadService, loadSecretType, dsText, SECRET_TYPE, includeDirs };
