// An S3-compatible server for the tests: @20minutes/s3rver (a lightweight S3 server storing objects as files under
// --directory; not MinIO), on --address and a port the kernel picks, printed as one JSON line once listening.
//
// What this launcher adds to the package, and why:
// - the access key pair comes from --credentials (a file: access key id on line 1, secret on line 2); s3rver's
//   built-in S3RVER/S3RVER pair is revoked, so a client needs this run's secret for its SigV4 signature to verify;
// - an unsigned request is refused (AccessDenied), as a private bucket on AWS S3, MinIO or Ceph RGW refuses it
//   (s3rver alone serves anonymous requests);
// - an object appears whole or not at all, as on AWS S3, MinIO and Ceph RGW: written aside and renamed into
//   place (s3rver writes the object's file in place, so a concurrent GET could read it half written);
// - a PUT with `If-None-Match: *` is refused (PreconditionFailed, 412) when the key exists or another such PUT of
//   it is under way: the conditional write AWS S3, MinIO and Ceph RGW honour, which s3rver ignores. The check runs
//   inside the store's put, i.e. after s3rver has verified the request's signature.
'use strict';

const { AsyncLocalStorage } = require('async_hooks');
const crypto = require('crypto');
const fs = require('fs');
const fsp = require('fs/promises');
const path = require('path');
const { Readable, Transform } = require('stream');
const { pipeline } = require('stream/promises');
const S3rver = require('@20minutes/s3rver');
const AWSAccount = require('@20minutes/s3rver/lib/models/account');
const S3Error = require('@20minutes/s3rver/lib/models/error');
const FilesystemStore = require('@20minutes/s3rver/lib/stores/filesystem');

function args(argv) {
  const out = { buckets: [] };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--bucket') out.buckets.push(value);
    else if (['--directory', '--credentials', '--address'].includes(flag)) out[flag.slice(2)] = value;
    else throw new Error(`unknown option ${flag}`);
  }
  for (const need of ['directory', 'credentials', 'address']) {
    if (!out[need]) throw new Error(`--${need} is required`);
  }
  return out;
}

const opts = args(process.argv.slice(2));
const [accessKey, secret] = fs.readFileSync(opts.credentials, 'utf8').split('\n').map((s) => s.trim());
if (!accessKey || !secret) throw new Error(`${opts.credentials}: access key id and secret, one a line`);
AWSAccount.DUMMY_ACCOUNT.revokeAccessKey('S3RVER');
AWSAccount.DUMMY_ACCOUNT.createKeyPair(accessKey, secret);

async function putWhole(store, object) {
  const objectPath = store.getResourcePath(object.bucket, object.key, 'object');
  await fsp.mkdir(path.dirname(objectPath), { recursive: true });
  const tmp = `${objectPath}.${crypto.randomBytes(6).toString('hex')}.partial`;
  const md5 = crypto.createHash('md5');
  let size = 0;
  const count = new Transform({
    transform(chunk, _encoding, callback) {
      md5.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
  });
  const content = Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content;
  try {
    await pipeline(content, count, fs.createWriteStream(tmp));
    const digest = md5.digest('hex');
    await store.putMetadata(object.bucket, object.key, object.metadata, digest);
    await fsp.rename(tmp, objectPath); // last: the object's file is what makes it exist (getMetadata stats it)
    return { size, md5: digest };
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
}

const request = new AsyncLocalStorage();
const creating = new Set();
const putObject = (store, object) => putWhole(store, object);
FilesystemStore.prototype.putObject = async function conditionalPut(object) {
  const ctx = request.getStore();
  if (!ctx || ctx.get('If-None-Match') !== '*') return putObject(this, object);
  const id = `${object.bucket}/${object.key}`;
  // the set is checked and filled synchronously: of two concurrent conditional PUTs of a key, one proceeds
  if (creating.has(id)) throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
  creating.add(id);
  try {
    if (await this.existsObject(object.bucket, object.key)) {
      throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
    }
    return await putObject(this, object);
  } finally {
    creating.delete(id);
  }
};

const server = new S3rver({
  address: opts.address,
  port: 0,
  directory: opts.directory,
  silent: true,
  vhostBuckets: false,
  configureBuckets: opts.buckets.map((name) => ({ name, configs: [] })),
});
server.middleware.unshift(async (ctx, next) => {
  const signed = 'authorization' in ctx.headers || 'X-Amz-Algorithm' in ctx.query || 'Signature' in ctx.query;
  if (!signed) {
    ctx.status = 403;
    ctx.type = 'application/xml';
    ctx.body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>';
    return;
  }
  return request.run(ctx, next);
});
server.run().then(({ address, port }) => {
  process.stdout.write(`${JSON.stringify({ address, port })}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close().then(() => process.exit(0)));
