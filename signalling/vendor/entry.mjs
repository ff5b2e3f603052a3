// The one module the browser client imports for MLS: ts-mls as published on the npm registry, bundled by
// build.sh into ../client/vendor/ts-mls.js (an ES module with no imports of its own). Only what the client uses
// is exported, so the bundle carries suite 1 over WebCrypto and not the noble/post-quantum providers.
export {
  acceptAll,
  bytesToBase64,
  createApplicationMessage,
  createCommit,
  createGroup,
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
