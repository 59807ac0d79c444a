// Module compile + instantiate time of one .wasm file, in a fresh process
// (V8 caches compiled modules by their bytes within a process). Imports are
// stubbed: instantiation runs the start function only. Usage:
//   node [--no-wasm-lazy-compilation] cold-start.mjs <module.wasm>
// Prints the milliseconds.
import { readFileSync } from "node:fs";

const bytes = readFileSync(process.argv[2]);
const start = performance.now();
const module = new WebAssembly.Module(bytes);
const imports = {};
for (const { module: name, name: field, kind } of WebAssembly.Module.imports(module)) {
  imports[name] ??= {};
  if (kind === "function") imports[name][field] = () => {};
  else if (kind === "memory") imports[name][field] = new WebAssembly.Memory({ initial: 17 });
  else if (kind === "tag") imports[name][field] = WebAssembly.JSTag;
  else throw new Error(`cannot stub a ${kind} import (${name}.${field})`);
}
new WebAssembly.Instance(module, imports);
console.log((performance.now() - start).toFixed(3));
