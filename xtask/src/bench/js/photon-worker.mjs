// The peer of the resize benchmark: photon (@cf-wasm/photon) behind the same
// URL shape as edge-fn's POST form (`?w=…&f=jpeg|webp&q=…`), with the same
// Server-Timing phases and Wasm memory figure. Written by `cargo xtask bench`.
import { PhotonImage, SamplingFilter, initPhoton, resize } from "@cf-wasm/photon";

export default {
  async fetch(request) {
    const url = new URL(request.url);
    const width = Number(url.searchParams.get("w"));
    const format = url.searchParams.get("f") ?? "jpeg";
    const quality = Number(url.searchParams.get("q") ?? 85);
    const input = new Uint8Array(await request.arrayBuffer());
    const wasm = await initPhoton.promise;
    let image, resized;
    try {
      const t0 = performance.now();
      image = PhotonImage.new_from_byteslice(input);
      const t1 = performance.now();
      const height = Math.max(1, Math.round((image.get_height() * width) / image.get_width()));
      resized = resize(image, width, height, SamplingFilter.CatmullRom);
      const t2 = performance.now();
      const bytes = format === "webp" ? resized.get_bytes_webp() : resized.get_bytes_jpeg(quality);
      const t3 = performance.now();
      const timing =
        `decode;dur=${(t1 - t0).toFixed(1)}, resize;dur=${(t2 - t1).toFixed(1)}, ` +
        `encode;dur=${(t3 - t2).toFixed(1)}, wasm-memory;desc="${wasm.memory.buffer.byteLength}"`;
      return new Response(bytes, {
        headers: { "content-type": `image/${format}`, "server-timing": timing },
      });
    } catch (error) {
      const memory = wasm.memory.buffer.byteLength;
      return new Response(JSON.stringify({ error: String(error), wasm_memory: memory }), {
        status: 500,
        headers: { "content-type": "application/json", "server-timing": `wasm-memory;desc="${memory}"` },
      });
    } finally {
      try {
        image?.free();
        resized?.free();
      } catch {}
    }
  },
};
