// The worker's entry, written by the build (`cargo edge build`). It exposes the Rust
// handlers as a WorkerEntrypoint and the Durable Object classes, and recovers
// from traps: a panic under `panic = "abort"` traps and leaves the Wasm
// instance unusable, so the next call re-instantiates it (wasm-bindgen's
// reset-state function) instead of failing forever.
import { DurableObject, WorkerEntrypoint } from "cloudflare:workers";
import * as wasm from "./index.js";

// Shared with the `worker` crate, whose panic hook sets `criticalError`.
const state = wasm.__worker_init_state();

// Counts re-instantiations: a Durable Object made on an older instance is
// made again before its next call.
let generation = 0;

function recoverIfPoisoned() {
  if (state.criticalError) {
    console.error("re-instantiating the Wasm module after a trap");
    wasm.__wbg_reset_state();
    state.criticalError = false;
    generation++;
  }
}

// Calls running on the current instance, each with a way to abandon it.
const running = new Set();

// A trap poisons the instance for every call on it: async Rust code is
// polled from microtasks, so a trap in one request's task can leave the
// others' tasks never polled again. Each call running then is abandoned
// (and retried where it can be), and the instance is reset before the next.
function trapped() {
  state.criticalError = true;
  const abandoned = [...running];
  running.clear();
  for (const abandon of abandoned) abandon();
}

// A trap that escapes a handler, or happens in a task the handler left
// running, poisons the instance. The panic hook marks it too, but `--snip`
// removes the hook.
function markIfTrap(error) {
  if (error instanceof WebAssembly.RuntimeError) trapped();
}
addEventListener("error", (event) => markIfTrap(event.error));
addEventListener("unhandledrejection", (event) => markIfTrap(event.reason));

class Trap extends Error {}

// Runs `run` on the current instance; rejects with `Trap` when any call
// traps meanwhile.
function guard(run) {
  recoverIfPoisoned();
  return new Promise((resolve, reject) => {
    const abandon = () => reject(new Trap("the Wasm instance trapped"));
    running.add(abandon);
    new Promise((started) => started(run())).then(resolve, (error) => {
      markIfTrap(error);
      reject(error);
    }).finally(() => running.delete(abandon));
  });
}

// Runs a handler of the default export.
function attempt(handler, self, arg) {
  return guard(() => handler.call(self, arg, self.env, self.ctx));
}

// Calls abandoned by a trap run again one at a time, alone on a fresh
// instance, so that the one that trapped cannot take the others down twice;
// new calls wait for them.
let retries = Promise.resolve();
let retrying = 0;

function retryAlone(handler, self, request) {
  retrying++;
  // Settles once the retry is over, answered or not, so the calls queued
  // behind it go on.
  const outcome = retries.then(async () => {
    const body = request.body;
    if (body !== null && (request.bodyUsed || body.locked)) {
      return unanswered(503, "restarted", "the worker restarted while reading this request's body; send it again");
    }
    try {
      return await attempt(handler, self, request);
    } catch (error) {
      if (!(error instanceof Trap)) throw error;
      return unanswered(500, "internal_error", "the worker failed on this request; it has been restarted");
    }
  });
  retries = outcome.catch(() => {}).finally(() => retrying--);
  return outcome.then((response) => (response === UNANSWERED ? new Promise(() => {}) : response));
}

// What a request answers when it trapped again alone, or cannot be retried
// (its body was read): "runtime" (the default) leaves it unanswered, as a
// trap does under worker-build, so the runtime fails it itself (workerd
// cancels a request whose code will never respond: a 500); "json" (the
// crate's `trap_response = "json"` in [package.metadata.edge]) answers a
// JSON error.
const TRAP_RESPONSE = "/*TRAP_RESPONSE*/";
const UNANSWERED = Symbol("unanswered");

function unanswered(status, code, message) {
  return TRAP_RESPONSE === "json" ? failure(status, code, message) : UNANSWERED;
}

function failure(status, code, message) {
  const headers = { "content-type": "application/json", "cache-control": "no-store" };
  if (status === 503) headers["retry-after"] = "1";
  return new Response(JSON.stringify({ error: { code, message } }), { status, headers });
}

async function call(handler, self, arg) {
  while (retrying > 0) await retries;
  try {
    return await attempt(handler, self, arg);
  } catch (error) {
    if (error instanceof Trap && arg instanceof Request) return retryAlone(handler, self, arg);
    throw error;
  }
}

// Reads what no one read of the request body, so that the HTTP connection
// stays usable: workerd's local proxy reports "Network connection lost" when
// the body of a finished request is still unread. A body the client has sent
// is read within DRAIN_WAIT_MS; one it holds back (or one over DRAIN_LIMIT)
// is cancelled then, so it never holds the answer.
const DRAIN_LIMIT = 1 << 20;
const DRAIN_WAIT_MS = 100;
async function drainUnread(request) {
  if (request.body === null || request.bodyUsed || request.body.locked) return;
  const reader = request.body.getReader();
  const deadline = new Promise((done) => setTimeout(() => done({ late: true }), DRAIN_WAIT_MS));
  for (let left = DRAIN_LIMIT; left > 0; ) {
    const chunk = await Promise.race([reader.read(), deadline]);
    if (chunk.done) return;
    if (chunk.late) break;
    left -= chunk.value.byteLength;
  }
  reader.cancel().catch(() => {});
}

// Drains the request body only where no one reads it: not when the handler
// read or locked it, and otherwise only once the response body has ended,
// since the response may be made from the request's body (a stream passed
// through unread), which draining it earlier would steal from.
async function settle(request, response) {
  const body = request.body;
  if (body === null || request.bodyUsed || body.locked) return response;
  if (response.body === null || response.webSocket) {
    await drainUnread(request).catch(() => {});
    return response;
  }
  const { readable, writable } = new TransformStream({ flush: () => drainUnread(request).catch(() => {}) });
  response.body.pipeTo(writable).catch(() => {});
  return new Response(readable, response);
}

async function serveFetch(self, request) {
  let response;
  try {
    response = await call(wasm.fetch, self, request);
  } catch (error) {
    await drainUnread(request).catch(() => {});
    throw error;
  }
  return settle(request, response);
}

export default class Worker extends WorkerEntrypoint {
/*HANDLERS*/
}

/*DURABLE OBJECTS*/
// The handlers the runtime calls on a Durable Object, as workers-rs names
// them (`#[durable_object]`).
const OBJECT_HANDLERS = ["fetch", "alarm", "webSocketMessage", "webSocketClose", "webSocketError", "connect"];

// A Durable Object class of the module, with the default export's trap
// recovery: each call runs guarded, and an object made on an instance that
// has since been reset is made again (its state lives in storage, not in
// the Wasm memory that was lost).
function durableObject(Inner) {
  class Wrapped extends DurableObject {
    constructor(ctx, env) {
      super(ctx, env);
      this.make();
    }

    make() {
      recoverIfPoisoned();
      try {
        this.inner = new Inner(this.ctx, this.env);
      } catch (error) {
        markIfTrap(error);
        throw error;
      }
      this.generation = generation;
    }
  }
  for (const name of OBJECT_HANDLERS) {
    if (typeof Inner.prototype[name] !== "function") continue;
    Wrapped.prototype[name] = function (...args) {
      return guard(() => {
        if (this.generation !== generation) this.make();
        return this.inner[name](...args);
      });
    };
  }
  Object.defineProperty(Wrapped, "name", { value: Inner.name });
  return Wrapped;
}

/*CLASSES*/
