// The one module the browser client imports for MLS: ts-mls as published on the npm registry, bundled by
// build.sh into ../client/vendor/ts-mls.js (an ES module with no imports of its own). Only what the client uses
// is exported, so the bundle carries suite 1 over WebCrypto and not the noble/post-quantum providers, except
// @noble/hashes' SHA-256 and HMAC: the client's ciphersuite hashes with them (group.js cipherSuite says why).
export {
  acceptAll,
  bytesToBase64,
  createApplicationMessage,
  createCommit,
  createGroup,
  createGroupInfoWithExternalPub,
  decodeGroupState,
  decodeMlsMessage,
  defaultCapabilities,
  defaultCryptoProvider,
  defaultLifetime,
  emptyPskIndex,
  encodeGroupState,
  encodeMlsMessage,
  generateKeyPackage,
  generateKeyPackageWithKey,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  joinGroup,
  makePskIndex,
  mlsExporter,
  processMessage,
  processPrivateMessage,
  processPublicMessage,
  zeroOutUint8Array,
} from "ts-mls";
export { sha256 } from "@noble/hashes/sha2.js";
export { hmac } from "@noble/hashes/hmac.js";
