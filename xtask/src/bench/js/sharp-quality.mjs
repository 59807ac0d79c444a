// The peer of the quality-per-byte benchmark: libvips through sharp encodes
// the same resized pixels the worker encoded, at the quality the benchmark
// searches, and decodes AVIF for scoring (the harness has no AV1 decoder).
// One JSON command per line on stdin, one JSON answer per line on stdout:
//   {"op":"encode","input":"ref.png","format":"webp|jpeg|avif","quality":80,"output":"x"} -> {"bytes":N}
//   {"op":"decode","input":"x.avif","output":"x.png"} -> {"width":W,"height":H}
// JPEG is mozjpeg (sharp's `mozjpeg: true`); WebP and AVIF use sharp's
// default effort (4).
import { createInterface } from "node:readline";
import sharp from "sharp";

sharp.concurrency(1);
sharp.cache(false);
const encoders = {
  webp: (p, quality) => p.webp({ quality }),
  jpeg: (p, quality) => p.jpeg({ quality, mozjpeg: true }),
  avif: (p, quality) => p.avif({ quality }),
};
for await (const line of createInterface({ input: process.stdin })) {
  let answer;
  try {
    const command = JSON.parse(line);
    if (command.op === "encode") {
      const info = await encoders[command.format](sharp(command.input), command.quality).toFile(command.output);
      answer = { bytes: info.size };
    } else {
      const info = await sharp(command.input).png().toFile(command.output);
      answer = { width: info.width, height: info.height };
    }
  } catch (error) {
    answer = { error: String(error) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
}
