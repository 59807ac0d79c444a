// The worker's entry, written by `cargo xtask build`. It exposes the Rust
// handlers as a WorkerEntrypoint and recovers from traps: a panic under
// `panic = "abort"` traps and leaves the Wasm instance unusable, so the next
// request re-instantiates it (wasm-bindgen's reset-state function) instead of
// failing forever.
import { WorkerEntrypoint } from "cloudflare:workers";
import * as wasm from "./index.js";

// Shared with the `worker` crate, whose panic hook sets `criticalError`.
const state = wasm.__worker_init_state();

function recoverIfPoisoned() {
  if (state.criticalError) {
    console.error("edge-fn: re-instantiating the Wasm module after a trap");
    wasm.__wbg_reset_state();
    state.criticalError = false;
  }
}

// A trap that escapes a handler, or happens in a task the handler left
// running (async Rust code is polled from microtasks), marks the instance as
// poisoned. The panic hook marks it too, but `--snip` removes the hook.
function markIfTrap(error) {
  if (error instanceof WebAssembly.RuntimeError) {
    state.criticalError = true;
  }
}
addEventListener("error", (event) => markIfTrap(event.error));
addEventListener("unhandledrejection", (event) => markIfTrap(event.reason));

async function call(handler, self, arg) {
  recoverIfPoisoned();
  try {
    return await handler.call(self, arg, self.env, self.ctx);
  } catch (error) {
    markIfTrap(error);
    throw error;
  }
}

// Reads what a handler left of the request body (up to a bound), so that the
// HTTP connection stays usable: workerd's local proxy reports "Network
// connection lost" when a response is sent while the body is still unread.
const DRAIN_LIMIT = 1 << 20;
async function drainUnread(request) {
  if (request.body === null || request.bodyUsed) return;
  const reader = request.body.getReader();
  for (let left = DRAIN_LIMIT; left > 0; ) {
    const { done, value } = await reader.read();
    if (done) return;
    left -= value.byteLength;
  }
  await reader.cancel();
}

export default class Worker extends WorkerEntrypoint {
  async fetch(request) {
    try {
      return await call(wasm.fetch, this, request);
    } finally {
      await drainUnread(request);
    }
  }
/*HANDLERS*/
}
