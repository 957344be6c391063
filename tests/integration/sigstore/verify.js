// Verifies a Sigstore bundle with Sigstore's own library (@sigstore/verify),
// independently of Drydock's code: a DSSE envelope signed by the given
// public key, with no transparency log entry or timestamp expected (a
// self-hosted registry has neither). Prints the signed statement's
// predicate type and subject digests; exits non-zero when it does not verify.
// Usage: node verify.js BUNDLE.json PUBLIC-KEY.pem
const fs = require('fs');
const crypto = require('crypto');
const { bundleFromJSON } = require('@sigstore/bundle');
const { Verifier, toSignedEntity, toTrustMaterial } = require('@sigstore/verify');

const [bundlePath, keyPath] = process.argv.slice(2);
const bundle = bundleFromJSON(JSON.parse(fs.readFileSync(bundlePath, 'utf8')));
const publicKey = crypto.createPublicKey(fs.readFileSync(keyPath));
const noAuthorities = {
  mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [],
};
const trust = toTrustMaterial(noAuthorities, () => ({ publicKey, validFor: () => true }));
const verifier = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
verifier.verify(toSignedEntity(bundle));  // throws when the signature does not verify
if (bundle.content.$case !== 'dsseEnvelope') throw new Error('not a DSSE bundle');
const envelope = bundle.content.dsseEnvelope;
if (envelope.payloadType !== 'application/vnd.in-toto+json') throw new Error('payload type ' + envelope.payloadType);
const statement = JSON.parse(envelope.payload.toString('utf8'));
console.log(statement.predicateType, statement.subject.map((s) => s.digest.sha256).join(','));
