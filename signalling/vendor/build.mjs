// esbuild step of build.sh: ts-mls into one stand-alone ES module for the browser client.
import { build } from "esbuild";

// Optional providers and other ciphersuites (the noble provider, X448, ML-KEM, X-Wing, ChaCha20): the client uses
// suite 1 over WebCrypto only, hashing with @noble/hashes (entry.mjs), which is therefore bundled. They stay external, and are marked free of side effects so that esbuild drops the
// imports the client never reaches (ts-mls does not declare "sideEffects": false itself).
const optional = /^@noble\/(ciphers|curves|post-quantum)(\/|$)|^@hpke\/(chacha20poly1305|dhkem-x448|ml-kem|hybridkem-x-wing)$/;

await build({
  entryPoints: ["entry.mjs"],
  outfile: process.argv[2],
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  legalComments: "inline",
  charset: "utf8",
  logLevel: "warning",
  plugins: [{
    name: "optional-providers",
    setup(b) {
      b.onResolve({ filter: optional }, (args) => ({ path: args.path, external: true, sideEffects: false }));
    },
  }],
});
