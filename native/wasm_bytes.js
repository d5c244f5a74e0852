// Reading a WebAssembly binary, shared by check_and_embed.js and relax.js.
"use strict";

/** The unsigned LEB128 number at `at` in `bytes`: [value, offset after it]. */
function leb(bytes, at) {
  let value = 0, shift = 0, b;
  do {
    b = bytes[at++];
    value |= (b & 0x7f) << shift;
    shift += 7;
  } while (b & 0x80);
  return [value >>> 0, at];
}

/** The module's sections in order: { id, start (of the payload), size }. */
function sections(bytes) {
  const out = [];
  let at = 8;
  while (at < bytes.length) {
    const id = bytes[at++];
    let size;
    [size, at] = leb(bytes, at);
    out.push({ id, start: at, size });
    at += size;
  }
  return out;
}

module.exports = { leb, sections };
