#!/usr/bin/env node
// Runs a model with ONNX Runtime (bench/node_modules/onnxruntime-node) on the
// input_K.npy files of a folder and writes output_K.npy beside nothing else:
// how the optimize tests check that a saved learner's model.onnx computes,
// in another runtime, what the learner computes.
//
// usage: node ort_run.js MODEL.onnx IN_DIR OUT_DIR
// Exits 77 when onnxruntime-node is not installed.
'use strict';
const fs = require('fs');
const path = require('path');
let ort;
try {
  ort = require(path.join(__dirname, '..', '..', 'bench', 'node_modules', 'onnxruntime-node'));
} catch (e) {
  console.error('onnxruntime-node is not installed');
  process.exit(77);
}

// .npy version 1/2, little-endian, C order
const NPY = { '<f4': ['float32', Float32Array], '<i8': ['int64', BigInt64Array], '<i4': ['int32', Int32Array],
  '|u1': ['uint8', Uint8Array], '|i1': ['int8', Int8Array], '<f8': ['float64', Float64Array] };

function readNpy(file) {
  const buf = fs.readFileSync(file);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const hoff = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', hoff, hoff + hlen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${file}: Fortran order`);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',').map((s) => s.trim()).filter((s) => s).map(Number);
  const t = NPY[descr];
  if (!t) throw new Error(`${file}: dtype ${descr}`);
  const body = buf.subarray(hoff + hlen);
  const copy = new Uint8Array(body.length);
  copy.set(body);
  return new ort.Tensor(t[0], new t[1](copy.buffer, 0, body.length / t[1].BYTES_PER_ELEMENT), shape);
}

function writeNpy(file, tensor) {
  const descr = Object.keys(NPY).find((k) => NPY[k][0] === tensor.type);
  if (!descr) throw new Error(`output type ${tensor.type}`);
  const shape = tensor.dims.length === 1 ? `(${tensor.dims[0]},)` : `(${tensor.dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const pre = Buffer.alloc(10);
  Buffer.from('\x93NUMPY', 'latin1').copy(pre, 0);
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const d = tensor.data;
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.from(d.buffer, d.byteOffset, d.byteLength)]));
}

async function main() {
  const [model, inDir, outDir] = process.argv.slice(2);
  if (!outDir) {
    console.error('usage: node ort_run.js MODEL.onnx IN_DIR OUT_DIR');
    process.exit(2);
  }
  const sess = await ort.InferenceSession.create(model, { intraOpNumThreads: 2, interOpNumThreads: 1 });
  const feeds = {};
  sess.inputNames.forEach((name, k) => { feeds[name] = readNpy(path.join(inDir, `input_${k}.npy`)); });
  const res = await sess.run(feeds);
  fs.mkdirSync(outDir, { recursive: true });
  sess.outputNames.forEach((name, k) => writeNpy(path.join(outDir, `output_${k}.npy`), res[name]));
}
main().catch((e) => { console.error(String(e && e.message ? e.message : e)); process.exit(1); });
