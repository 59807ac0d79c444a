// The native reference of the resize benchmark: libvips through sharp, on the
// host, one thread (workerd runs a request on one). Usage:
//   node sharp.mjs <image> <width> <jpeg|webp> <quality> <runs>
// Prints one JSON line: the wall time of each run in milliseconds.
import { readFileSync } from "node:fs";
import sharp from "sharp";

const [file, width, format, quality, runs] = process.argv.slice(2);
sharp.concurrency(1);
sharp.cache(false);
const input = readFileSync(file);
const once = () => {
  const pipeline = sharp(input).resize({ width: Number(width) });
  return (format === "webp"
    ? pipeline.webp({ quality: Number(quality) })
    : pipeline.jpeg({ quality: Number(quality) })
  ).toBuffer();
};
for (let i = 0; i < 3; i++) await once();
const ms = [];
for (let i = 0; i < Number(runs); i++) {
  const start = performance.now();
  await once();
  ms.push(performance.now() - start);
}
console.log(JSON.stringify(ms));
