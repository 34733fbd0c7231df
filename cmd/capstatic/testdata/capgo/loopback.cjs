// Preloaded into the Capgo CLI by the interop tests (NODE_OPTIONS=--require)
// so that it reaches only loopback addresses: probe talks to our resolver on
// 127.0.0.1, and every other request (update checks, telemetry) fails.
// data: URLs still work (the CLI loads a wasm module that way).
"use strict";
const realFetch = globalThis.fetch;
globalThis.fetch = async (input, init) => {
  const url = String((input && input.url) || input);
  if (url.startsWith("data:") || /^https?:\/\/(127\.0\.0\.1|localhost|\[::1\])[:/]/.test(url)) {
    return realFetch(input, init);
  }
  throw new TypeError("network disabled by the capstatic tests: " + url);
};
