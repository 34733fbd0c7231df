// Preloaded into the Capgo CLI by the interop tests (NODE_OPTIONS=--require)
// so that `go test` never reaches the network: `key create` and
// `bundle decrypt` ask registry.npmjs.org for the latest CLI version, and the
// CLI can send telemetry. data: URLs (the CLI loads a wasm module that way)
// still work.
"use strict";
const realFetch = globalThis.fetch;
globalThis.fetch = async (input, init) => {
  const url = String((input && input.url) || input);
  if (url.startsWith("data:")) return realFetch(input, init);
  throw new TypeError("network disabled by the capstatic tests: " + url);
};
