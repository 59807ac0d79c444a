//! Reading a request or response body into the buffer reserved for it, with
//! as few crossings between JavaScript and Wasm as the stream allows.
//!
//! A default reader hands over the chunks the network delivers (tens of
//! kilobytes each), and every chunk costs a promise, its microtasks and a
//! copy. workerd's bodies are byte streams, so a BYOB reader with workerd's
//! `readAtLeast` fills one JavaScript buffer of up to [`CHUNK_BYTES`] per
//! crossing instead; a stream that is not a byte stream (one a worker built
//! itself) is read chunk by chunk as before. Each buffer is copied once, into
//! spare capacity of the reserved `Vec`, which never grows.

use wasm_bindgen::prelude::wasm_bindgen;
use worker::js_sys::{self, futures::JsFuture};
use worker::web_sys;

use crate::Error;

/// The JavaScript buffer a byte stream is read into, per crossing: large
/// enough that a photo arrives in a few reads, small enough to be no burden
/// beside the Wasm memory it is copied into.
const CHUNK_BYTES: u32 = 1 << 20;

#[wasm_bindgen(inline_js = "
export class BodyReader {
  constructor(stream, size) {
    try {
      this.reader = stream.getReader({ mode: 'byob' });
      this.buffer = new ArrayBuffer(size);
    } catch {
      this.reader = stream.getReader();
      this.buffer = null;
    }
  }
  // The next bytes, or undefined at the end of the body.
  async next() {
    if (this.buffer === null) {
      const { done, value } = await this.reader.read();
      return done ? undefined : value;
    }
    const view = new Uint8Array(this.buffer);
    const { done, value } = typeof this.reader.readAtLeast === 'function'
      ? await this.reader.readAtLeast(view.byteLength, view)
      : await this.reader.read(view);
    if (value === undefined) return undefined;
    this.buffer = value.buffer;
    return value.byteLength > 0 ? value : done ? undefined : this.next();
  }
  cancel() {
    this.reader.cancel().catch(() => {});
  }
}
")]
extern "C" {
    type BodyReader;

    #[wasm_bindgen(constructor)]
    fn new(stream: &web_sys::ReadableStream, size: u32) -> BodyReader;

    #[wasm_bindgen(method)]
    fn next(this: &BodyReader) -> js_sys::Promise;

    #[wasm_bindgen(method)]
    fn cancel(this: &BodyReader);
}

/// A body being read; cancelled with [`Body::cancel`] when the caller gives up.
pub struct Body {
    reader: BodyReader,
}

impl Body {
    /// Locks `stream` for reading into a buffer of `capacity` bytes.
    pub fn new(stream: &web_sys::ReadableStream, capacity: usize) -> Body {
        let size = CHUNK_BYTES.min(capacity.max(1).try_into().unwrap_or(CHUNK_BYTES));
        Body { reader: BodyReader::new(stream, size) }
    }

    /// Stops the stream (its source is told no one will read the rest).
    pub fn cancel(&self) {
        self.reader.cancel();
    }

    /// Appends every byte of the body to `bytes`, refusing to grow it: past
    /// its capacity the stream is cancelled and `too_long` is the error.
    pub async fn read_into(&self, bytes: &mut Vec<u8>, what: &str, too_long: impl Fn() -> Error) -> Result<(), Error> {
        let failed = |e: wasm_bindgen::JsValue| {
            Error::Origin(format!("reading the {what} failed: {}", js_sys::Error::from(e).message()))
        };
        loop {
            let next = JsFuture::from(self.reader.next()).await.map_err(failed)?;
            if next.is_undefined() {
                return Ok(());
            }
            let value = js_sys::Uint8Array::from(next);
            let (start, len) = (bytes.len(), value.length() as usize);
            if len > bytes.capacity() - start {
                self.cancel();
                return Err(too_long());
            }
            let copied = value.copy_to_uninit(&mut bytes.spare_capacity_mut()[..len]).len();
            // SAFETY: `copy_to_uninit` initialised the `copied` (= `len`) bytes after `start`.
            unsafe { bytes.set_len(start + copied) };
        }
    }
}
