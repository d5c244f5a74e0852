// Rewrites clang 14's prototype relaxed-SIMD f32x4.fma (0xfd 0xaf 0x01) into the standard
// f32x4.relaxed_madd (0xfd 0x85 0x02) at exactly the instructions llvm-objdump lists, checking the bytes
// there first, so no other byte of the module can be touched. Usage: node relax.js OBJDUMP module.wasm
"use strict";
const fs = require("fs");
const { execFileSync } = require("child_process");
const { sections } = require("./wasm_bytes");

const [objdump, file] = process.argv.slice(2);
const bytes = Buffer.from(fs.readFileSync(file));

// The code section's payload: llvm-objdump's offsets count from there.
const code = (sections(bytes).find((s) => s.id === 10) || { start: -1 }).start;
if (code < 0) throw new Error(`${file}: no code section`);

const listing = execFileSync(objdump, ["-d", file], { encoding: "utf8", maxBuffer: 64 << 20 });
const sites = [...listing.matchAll(/^\s*([0-9a-f]+):\s+fd af 01\s+f32x4\.fma\b/gm)].map((m) => code + parseInt(m[1], 16));
if (sites.length === 0) throw new Error(`${file}: no f32x4.fma found (was it built with -DLEPTON_RELAXED -mrelaxed-simd?)`);
for (const s of sites) {
  if (bytes[s] !== 0xfd || bytes[s + 1] !== 0xaf || bytes[s + 2] !== 0x01) throw new Error(`${file}: offset ${s} is not f32x4.fma`);
  bytes[s + 1] = 0x85;
  bytes[s + 2] = 0x02;
}
fs.writeFileSync(file, bytes);
const left = (execFileSync(objdump, ["-d", file], { encoding: "utf8", maxBuffer: 64 << 20 }).match(/f32x4\.fma\b/g) || []).length;
if (left !== 0) throw new Error(`${file}: ${left} f32x4.fma left after the rewrite`);
console.log(`${file}: ${sites.length} f32x4.fma rewritten to f32x4.relaxed_madd`);
