#!/usr/bin/env node
// Time one model with ONNX Runtime (onnxruntime-node) on the inputs of an ONNX
// test case, and optionally compare ORT's outputs with the case's expected ones.
//
// usage: node bench_ort.js CASE_DIR [--threads N] [--warmup N] [--warmup-ms MS] [--runs N] [--check]
//                          [--profile PREFIX]
//   (the warm-up lasts N calls and at least MS milliseconds; --profile writes ORT's
//   per-node profile of every call to PREFIX_<date>.json: bench/ort_profile.py sums it)
//   CASE_DIR holds model.onnx and test_data_set_0/input_K.pb (output_K.pb for --check).
// Prints one JSON line: {"model","threads","runs","warmup","median_ms","p90_ms",
//   "min_ms","max_ms","mean_ms","load_ms"} plus, with --check, "max_abs","max_rel"
//   and "allclose" (rtol 1e-4, atol 1e-5) against output_K.pb; with --times,
//   "times_ms": every run in order.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.join(__dirname, 'node_modules', 'onnxruntime-node'));

// ---- a small onnx.TensorProto reader (protobuf wire format) -----------------

function readVarint(buf, pos) {
  // BigInt: int64 payloads (int64_data, dims) may use all 64 bits.
  let v = 0n, shift = 0n;
  for (;;) {
    if (pos.i >= buf.length) throw new Error('truncated varint');
    const b = buf[pos.i++];
    v |= BigInt(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
    shift += 7n;
    if (shift > 63n) throw new Error('varint too long');
  }
}

const toInt64 = (v) => BigInt.asIntN(64, v);

// ONNX data_type -> [ort type name, typed array constructor, element bytes]
const DTYPES = {
  1: ['float32', Float32Array, 4], 2: ['uint8', Uint8Array, 1], 3: ['int8', Int8Array, 1],
  4: ['uint16', Uint16Array, 2], 5: ['int16', Int16Array, 2], 6: ['int32', Int32Array, 4],
  7: ['int64', BigInt64Array, 8], 9: ['bool', Uint8Array, 1], 10: ['float16', Uint16Array, 2],
  11: ['float64', Float64Array, 8], 12: ['uint32', Uint32Array, 4], 13: ['uint64', BigUint64Array, 8],
};

function readTensorProto(file) {
  const buf = fs.readFileSync(file);
  const pos = { i: 0 };
  const dims = [];
  let dataType = 0, raw = null, name = '';
  const floats = [], ints32 = [], ints64 = [], doubles = [];
  while (pos.i < buf.length) {
    const key = Number(readVarint(buf, pos));
    const field = key >>> 3, wire = key & 7;
    if (wire === 0) {
      const v = readVarint(buf, pos);
      if (field === 1) dims.push(Number(toInt64(v)));
      else if (field === 2) dataType = Number(v);
      else if (field === 5) ints32.push(Number(BigInt.asIntN(32, v)));
      else if (field === 7) ints64.push(toInt64(v));
    } else if (wire === 2) {
      const len = Number(readVarint(buf, pos));
      const end = pos.i + len;
      if (end > buf.length) throw new Error(`${file}: field ${field} runs past the end`);
      const body = buf.subarray(pos.i, end);
      if (field === 9) raw = body;
      else if (field === 8) name = body.toString('utf8');
      else if (field === 4) for (let j = 0; j + 4 <= len; j += 4) floats.push(body.readFloatLE(j));
      else if (field === 10) for (let j = 0; j + 8 <= len; j += 8) doubles.push(body.readDoubleLE(j));
      else if (field === 1 || field === 5 || field === 7) {
        const p2 = { i: 0 };
        while (p2.i < body.length) {
          const v = readVarint(body, p2);
          if (field === 1) dims.push(Number(toInt64(v)));
          else if (field === 5) ints32.push(Number(BigInt.asIntN(32, v)));
          else ints64.push(toInt64(v));
        }
      }
      pos.i = end;
    } else if (wire === 5) {
      if (field === 4) floats.push(buf.readFloatLE(pos.i));
      pos.i += 4;
    } else if (wire === 1) {
      if (field === 10) doubles.push(buf.readDoubleLE(pos.i));
      pos.i += 8;
    } else {
      throw new Error(`${file}: unsupported wire type ${wire}`);
    }
  }
  const dt = DTYPES[dataType];
  if (!dt) throw new Error(`${file}: unsupported data_type ${dataType}`);
  const [type, Ctor, size] = dt;
  const count = dims.reduce((a, b) => a * b, 1);
  let data;
  if (raw) {
    const copy = new Uint8Array(raw.length);  // aligned copy for the typed array
    copy.set(raw);
    data = new Ctor(copy.buffer, 0, raw.length / size);
  } else if (type === 'float32') data = Float32Array.from(floats);
  else if (type === 'float64') data = Float64Array.from(doubles);
  else if (type === 'int64') data = BigInt64Array.from(ints64);
  else if (type === 'uint64') data = BigUint64Array.from(ints64.map((v) => BigInt.asUintN(64, v)));
  else data = Ctor.from(ints32);
  if (data.length !== count) throw new Error(`${file}: ${data.length} elements for dims [${dims}]`);
  return { name, type, dims, data };
}

// ---- timing ------------------------------------------------------------------

function quantile(sorted, q) {
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[idx];
}

function median(sorted) {
  const n = sorted.length;
  return n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

function listFiles(dir, prefix) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir)
    .map((f) => /^(\w+)_(\d+)\.pb$/.exec(f))
    .filter((m) => m && m[1] === prefix)
    .sort((a, b) => Number(a[2]) - Number(b[2]))
    .map((m) => path.join(dir, m[0]));
}

async function main() {
  const args = process.argv.slice(2);
  const opt = { threads: 1, warmup: 2, warmupMs: 0, runs: 10, check: false, times: false, profile: '' };
  let caseDir = null;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--check') opt.check = true;
    else if (a === '--times') opt.times = true;
    else if (a === '--threads' || a === '--warmup' || a === '--runs') opt[a.slice(2)] = Number(args[++i]);
    else if (a === '--warmup-ms') opt.warmupMs = Number(args[++i]);
    else if (a === '--profile') opt.profile = args[++i];
    else if (!caseDir) caseDir = a;
    else throw new Error(`unexpected argument ${a}`);
  }
  if (!caseDir) {
    console.error('usage: node bench_ort.js CASE_DIR [--threads N] [--warmup N] [--warmup-ms MS] [--runs N] [--check] [--times] [--profile PREFIX]');
    process.exit(1);
  }
  const modelPath = path.join(caseDir, 'model.onnx');
  const dataDir = path.join(caseDir, 'test_data_set_0');
  const t0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: opt.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    ...(opt.profile ? { enableProfiling: true, profileFilePrefix: opt.profile } : {}),
  });
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;

  const feeds = {};
  const inFiles = listFiles(dataDir, 'input');
  if (inFiles.length !== session.inputNames.length) {
    throw new Error(`${dataDir}: ${inFiles.length} input files for ${session.inputNames.length} model inputs`);
  }
  inFiles.forEach((f, k) => {
    const t = readTensorProto(f);
    feeds[session.inputNames[k]] = new ort.Tensor(t.type, t.data, t.dims);
  });

  let outputs = null;
  const warmUntil = performance.now() + opt.warmupMs;
  for (let i = 0; i < opt.warmup || performance.now() < warmUntil; i++) outputs = await session.run(feeds);
  const times = [];
  for (let i = 0; i < opt.runs; i++) {
    const s = process.hrtime.bigint();
    outputs = await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  if (opt.profile) session.endProfiling();
  const sorted = times.slice().sort((a, b) => a - b);
  const r3 = (x) => Math.round(x * 1000) / 1000;
  const res = {
    model: path.basename(path.resolve(caseDir)), threads: opt.threads, runs: opt.runs,
    warmup: opt.warmup, median_ms: r3(median(sorted)), p90_ms: r3(quantile(sorted, 0.9)),
    min_ms: r3(sorted[0]), max_ms: r3(sorted[sorted.length - 1]),
    mean_ms: r3(times.reduce((a, b) => a + b, 0) / times.length), load_ms: r3(loadMs),
  };

  if (opt.check) {
    if (!outputs) outputs = await session.run(feeds);
    let maxAbs = 0, maxRel = 0, ok = true;
    listFiles(dataDir, 'output').forEach((f, k) => {
      const exp = readTensorProto(f);
      const got = outputs[session.outputNames[k]];
      if (got.data.length !== exp.data.length) { ok = false; return; }
      for (let j = 0; j < exp.data.length; j++) {
        const e = Number(exp.data[j]), g = Number(got.data[j]);
        const d = Math.abs(g - e);
        maxAbs = Math.max(maxAbs, d);
        if (e !== 0) maxRel = Math.max(maxRel, d / Math.abs(e));
        if (!(d <= 1e-5 + 1e-4 * Math.abs(e))) ok = false;
      }
    });
    Object.assign(res, { max_abs: maxAbs, max_rel: maxRel, allclose: ok });
  }
  if (opt.times) res.times_ms = times.map(r3);
  console.log(JSON.stringify(res));
}

main().catch((e) => { console.error(`bench_ort: ${e.message}`); process.exit(1); });
