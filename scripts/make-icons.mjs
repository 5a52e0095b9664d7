#!/usr/bin/env node
// Draws the app icons (public/icons/*.png and icon.svg) with no dependency: a few shapes rasterised with
// 4×4 supersampling and written as PNG through zlib. Run once after changing the design; the PNGs are committed.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

const out = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'public', 'icons');
fs.mkdirSync(out, { recursive: true });

const BG = [0x1f, 0x2a, 0x37]; // slate
const STONE = [0x6b, 0x7f, 0x96]; // whetstone grey-blue
const EDGE = [0xf2, 0xb8, 0x4b]; // amber spark / sharpened edge

// Shapes in unit coordinates (0..1 across the icon), `scale` shrinks them toward the centre (maskable).
function colourAt(x, y, { scale, rounded }) {
  const cx = 0.5 + (x - 0.5) / scale;
  const cy = 0.5 + (y - 0.5) / scale;
  if (rounded) {
    const r = 0.18;
    const dx = Math.max(r - x, 0, x - (1 - r));
    const dy = Math.max(r - y, 0, y - (1 - r));
    if (dx * dx + dy * dy > r * r) return null; // transparent corner
  }
  // The stone: a tilted bar.
  const t = 0.42; // the bar rises to the right
  const u = (cx - 0.47) * Math.cos(t) - (cy - 0.6) * Math.sin(t);
  const v = (cx - 0.47) * Math.sin(t) + (cy - 0.6) * Math.cos(t);
  if (Math.abs(u) < 0.34 && Math.abs(v) < 0.1) return v < -0.055 ? EDGE : STONE;
  // Sparks flying off the sharpened edge.
  for (const [sx, sy, s] of [[0.74, 0.27, 0.05], [0.84, 0.38, 0.032], [0.63, 0.2, 0.03]]) {
    if (Math.abs(cx - sx) + Math.abs(cy - sy) < s) return EDGE;
  }
  return BG;
}

function render(size, opts) {
  const px = Buffer.alloc(size * size * 4);
  const ss = 4;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let r = 0, g = 0, b = 0, a = 0;
      for (let j = 0; j < ss; j++) {
        for (let i = 0; i < ss; i++) {
          const c = colourAt((x + (i + 0.5) / ss) / size, (y + (j + 0.5) / ss) / size, opts);
          if (!c) continue;
          r += c[0]; g += c[1]; b += c[2]; a += 255;
        }
      }
      const n = ss * ss;
      const k = (y * size + x) * 4;
      const cover = a / 255;
      px[k] = cover ? Math.round(r / cover) : 0;
      px[k + 1] = cover ? Math.round(g / cover) : 0;
      px[k + 2] = cover ? Math.round(b / cover) : 0;
      px[k + 3] = Math.round(a / n);
    }
  }
  return png(size, px);
}

const CRC = new Int32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});
function crc32(buf) {
  let c = -1;
  for (const byte of buf) c = CRC[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
function png(size, rgba) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) rgba.copy(raw, y * (size * 4 + 1) + 1, y * size * 4, (y + 1) * size * 4);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

fs.writeFileSync(path.join(out, 'icon-192.png'), render(192, { scale: 1, rounded: true }));
fs.writeFileSync(path.join(out, 'icon-512.png'), render(512, { scale: 1, rounded: true }));
// Maskable: full-bleed background, the drawing inside the 80% safe zone.
fs.writeFileSync(path.join(out, 'maskable-512.png'), render(512, { scale: 0.72, rounded: false }));
fs.writeFileSync(path.join(out, 'apple-touch-icon.png'), render(180, { scale: 0.85, rounded: false }));
fs.writeFileSync(path.join(out, 'favicon-32.png'), render(32, { scale: 1, rounded: true }));
console.log(`icons written to ${out}`);
