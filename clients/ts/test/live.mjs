// Checks of @prova/client (the built dist/) against a live dev node, plus offline checks of the
// tensor and fixed-point encoders. Prints one `ok - client-ts: …` / `not ok - client-ts: …: why`
// line per check (the protocol tests/e2e/run.sh counts) and exits 1 if any failed.
//
//   node test/live.mjs RPC_URL            (clients/ts/check.sh builds dist/ first)
//
// Environment: PROVA=path/to/prova also compares `infer` with `prova infer --json` (the exact
// profile run locally, bit for bit).
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import {
  BaseError, ContractFunctionRevertedError, createPublicClient, createWalletClient, defineChain, http,
  keccak256, toHex,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import {
  DTYPES, MODEL_REGISTRY, PROVA_INFERENCE, decodeCanonicalTensors, decodeProvaError, decodeTensor, deployModel,
  decoderInfo, dtypeCode, encodeCanonicalTensors, encodeTensor, fixedToString, fromFixed, generate, infer, inferFixed, inferRaw,
  isProvaError, modelExists, modelIdOf, modelInfo, modelRegistryAbi, provaActions, provaErrorsAbi,
  provaInferenceAbi, toFixed, unflatten, withProvaErrors,
} from '../dist/index.js';

const rpc = process.argv[2];
if (!rpc) {
  console.error('usage: node test/live.mjs RPC_URL');
  process.exit(2);
}
const ROOT = new URL('../../../', import.meta.url);
const read = (path) => readFileSync(new URL(path, ROOT));
const readJson = (path) => JSON.parse(read(path).toString('utf8'));

let failed = 0;
let passed = 0;
/** Runs one check: `fn` throws to fail, may return a detail appended to the name. */
async function check(name, fn) {
  try {
    const detail = await fn();
    passed++;
    console.log(`ok - client-ts: ${name}${typeof detail === 'string' ? ` (${detail})` : ''}`);
  } catch (e) {
    failed++;
    const why = String(e?.shortMessage ?? e?.message ?? e).split('\n')[0];
    console.log(`not ok - client-ts: ${name}: ${why}`);
  }
}
function eq(actual, expected, what) {
  const a = typeof actual === 'string' ? actual.toLowerCase() : actual;
  const b = typeof expected === 'string' ? expected.toLowerCase() : expected;
  if (a !== b) throw new Error(`${what}: expected ${fmt(expected)}, got ${fmt(actual)}`);
}
function eqJson(actual, expected, what) {
  const s = (v) => JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `${x}n` : x));
  if (s(actual) !== s(expected)) throw new Error(`${what}: expected ${s(expected)}, got ${s(actual)}`);
}
function fmt(v) {
  return typeof v === 'bigint' ? `${v}n` : JSON.stringify(v);
}
/** `fn` must throw an Error whose message contains `needle`. */
function throws(fn, needle, what) {
  try {
    fn();
  } catch (e) {
    if (!String(e.message).includes(needle)) throw new Error(`${what}: error "${e.message}" lacks "${needle}"`);
    return e.message;
  }
  throw new Error(`${what}: did not throw`);
}
/** `promise` must reject with a viem error carrying Prova error `name`; returns the decoded error. */
async function revertsWith(promise, name, what) {
  try {
    await promise;
  } catch (e) {
    const got = decodeProvaError(e);
    if (!got) throw new Error(`${what}: not a Prova error: ${String(e?.shortMessage ?? e).split('\n')[0]}`);
    eq(got.name, name, `${what}: error name`);
    return got;
  }
  throw new Error(`${what}: did not revert`);
}
const f32 = (x) => Math.fround(x);
const f32Bits = (x) => {
  const v = new DataView(new ArrayBuffer(4));
  v.setFloat32(0, x, true);
  return v.getUint32(0, true);
};
/** round_half_even(x * 10^d) computed exactly on the binary expansion of the f32 `x`. */
function exactFixedOfF32(x, d) {
  const bits = f32Bits(x);
  const sign = bits >>> 31 ? -1n : 1n;
  const exp = (bits >>> 23) & 0xff;
  const frac = BigInt(bits & 0x7fffff);
  if (exp === 0xff) throw new Error('not finite');
  const m = exp === 0 ? frac : frac | (1n << 23n);
  const e = (exp === 0 ? 1 : exp) - 127 - 23; // x = m * 2^e
  let num = m * 10n ** BigInt(d);
  let den = 1n;
  if (e >= 0) num <<= BigInt(e);
  else den <<= BigInt(-e);
  let q = num / den;
  const r = num % den;
  if (2n * r > den || (2n * r === den && q % 2n === 1n)) q += 1n;
  return sign * q;
}
/** Relative error as crates/model/tests/ops.rs measures it: |got - want| / max(1, |want|). */
const relErr = (got, want) => Math.abs(got - want) / Math.max(1, Math.abs(want));

// ---------------------------------------------------------------------------------------------
// Offline: tensors.

await check('encodeTensor/decodeTensor: every dtype, pinned little-endian bytes and round trip', () => {
  const cases = [
    ['f32', [1, -2.5, 0.1], '0x0000803f000020c0cdcccc3d', (d) => eqJson([...d], [1, -2.5, f32(0.1)], 'f32')],
    ['f64', [1, -2.5], '0x000000000000f03f00000000000004c0', (d) => eqJson([...d], [1, -2.5], 'f64')],
    ['i64', [-1n, (1n << 63n) - 1n, 5], '0xffffffffffffffffffffffffffffff7f0500000000000000',
      (d) => eqJson([...d], [-1n, (1n << 63n) - 1n, 5n], 'i64')],
    ['i32', [-2, 2147483647], '0xfeffffffffffff7f', (d) => eqJson([...d], [-2, 2147483647], 'i32')],
    ['i16', [0x1234, -32768], '0x34120080', (d) => eqJson([...d], [0x1234, -32768], 'i16')],
    ['i8', [-128, 127, -1], '0x807fff', (d) => eqJson([...d], [-128, 127, -1], 'i8')],
    ['u8', [0, 255, 16], '0x00ff10', (d) => eqJson([...d], [0, 255, 16], 'u8')],
    ['bool', [true, false, 1], '0x010001', (d) => eqJson(d, [true, false, true], 'bool')],
  ];
  const arrays = { f32: Float32Array, f64: Float64Array, i64: BigInt64Array, i32: Int32Array, i16: Int16Array, i8: Int8Array, u8: Uint8Array };
  for (const [dtype, values, hex, same] of cases) {
    const t = encodeTensor(values, dtype);
    eq(t.dtype, dtypeCode(dtype), `${dtype} code`);
    eq(DTYPES[t.dtype], dtype, `${dtype} name`);
    eqJson(t.shape, [BigInt(values.length)], `${dtype} shape`);
    eq(t.data, hex, `${dtype} bytes`);
    const back = decodeTensor(t);
    eq(back.dtype, dtype, `${dtype} decoded dtype`);
    eqJson(back.shape, [values.length], `${dtype} decoded shape`);
    if (dtype === 'bool') eq(Array.isArray(back.data), true, 'bool decodes to boolean[]');
    else eq(back.data instanceof arrays[dtype], true, `${dtype} decodes to ${arrays[dtype].name}`);
    same(back.data);
  }
  return `${cases.length} dtypes`;
});
await check('encodeTensor: shapes from nesting, explicit shape, scalars, typed arrays, NaN/-0 bits', () => {
  const t = encodeTensor([[1, 2, 3], [4, 5, 6]], 'i32');
  eqJson(t.shape, [2n, 3n], 'nested shape');
  eqJson([...decodeTensor(t).data], [1, 2, 3, 4, 5, 6], 'row-major order');
  eqJson(encodeTensor([1, 2, 3, 4, 5, 6], 'u8', [3, 2]).shape, [3n, 2n], 'explicit shape');
  eqJson(encodeTensor([[1, 2], [3, 4]], 'u8', [4]).shape, [4n], 'explicit shape overrides nesting');
  const s = encodeTensor(7, 'i16');
  eqJson(s.shape, [], 'scalar shape');
  eq(s.data, '0x0700', 'scalar data');
  eqJson(encodeTensor([[[]]], 'f32').shape, [1n, 1n, 0n], 'empty innermost');
  eq(encodeTensor([[]], 'f32').data, '0x', 'no data');
  eq(encodeTensor(new Float32Array([0.5, 2]), 'f32', [1, 2]).data, '0x0000003f00000040', 'Float32Array');
  eq(encodeTensor(new BigInt64Array([-2n]), 'i64').data, '0xfeffffffffffffff', 'BigInt64Array');
  eq(encodeTensor([new Uint8Array([1, 2]), new Uint8Array([3, 4])], 'u8').data, '0x01020304', 'nested typed arrays');
  eq(encodeTensor([NaN, -0, Infinity], 'f32').data, '0x0000c07f00000080' + '0000807f', 'NaN, -0, +Inf bits');
  const d = decodeTensor(encodeTensor([NaN, -0], 'f64')).data;
  eq(Number.isNaN(d[0]) && Object.is(d[1], -0), true, 'NaN and -0 decode');
  eqJson(unflatten([1, 2, 3, 4, 5, 6], [2, 3]), [[1, 2, 3], [4, 5, 6]], 'unflatten');
  eq(encodeTensor([16777217], 'f32').data, encodeTensor([16777216], 'f32').data, 'f32 rounds to nearest even');
});
await check('encodeTensor/decodeTensor: precise errors', () => {
  const msgs = [
    throws(() => encodeTensor([300], 'i8'), 'data[0]: 300 is not a valid i8 value', 'i8 range'),
    throws(() => encodeTensor([1, -1], 'u8'), 'data[1]: -1 is not a valid u8 value', 'u8 range'),
    throws(() => encodeTensor([1 << 30, 2 ** 31], 'i32'), 'data[1]: 2147483648 is not a valid i32 value', 'i32 range'),
    throws(() => encodeTensor([2 ** 60], 'i64'), 'pass a bigint', 'i64 beyond 2^53 as number'),
    throws(() => encodeTensor([1n << 63n], 'i64'), 'data[0]: 9223372036854775808n is not a valid i64 value', 'i64 range'),
    throws(() => encodeTensor([1.5], 'i32'), 'data[0]: 1.5 is not a valid i32 value', 'fraction for an int'),
    throws(() => encodeTensor([2], 'bool'), 'data[0]: 2 is not a valid bool value', 'bool'),
    throws(() => encodeTensor(['1'], 'f32'), 'floats take numbers', 'string for a float'),
    throws(() => encodeTensor([[1, 2], [3]], 'f32'), 'ragged nested arrays: values[1] has length 1, expected 2', 'ragged'),
    throws(() => encodeTensor([1, [2]], 'f32'), 'ragged nested arrays: values[1] is an array', 'ragged depth'),
    throws(() => encodeTensor([1, 2, 3], 'f32', [2, 2]), 'shape [2, 2] needs 4 elements, got 3', 'shape mismatch'),
    throws(() => encodeTensor([1], 'f16'), 'unknown dtype "f16"', 'unknown dtype'),
    throws(() => encodeTensor([1], 'f32', [1, -1]), 'dimension 1 (-1) is not a non-negative integer', 'negative dim'),
    throws(() => encodeTensor([1], 'f32', Array(17).fill(1)), 'rank 17, more than 16', 'rank'),
    throws(() => decodeTensor({ dtype: 0, shape: [1n, 4n], data: '0x0000803f' }),
      'tensor data has 4 bytes, but shape [1, 4] of f32 needs 16', 'decode length'),
    throws(() => decodeTensor({ dtype: 8, shape: [], data: '0x00' }), 'unknown dtype code 8', 'decode dtype'),
    throws(() => decodeTensor({ dtype: 7, shape: [2n], data: '0x0102' }), 'bool element 1 is the byte 2', 'decode bool'),
    throws(() => decodeTensor({ dtype: 6, shape: [1n], data: '0x1' }), 'whole bytes', 'odd hex'),
  ];
  return `${msgs.length} errors`;
});
await check('canonical tensor encoding: pinned layout, strict decoding', () => {
  const t = encodeTensor([[1, 2]], 'u8');
  const hex = encodeCanonicalTensors([t]);
  eq(hex, '0x01000000' + '0602' + '0100000000000000' + '0200000000000000' + '0102', 'layout');
  const back = decodeCanonicalTensors(hex);
  eq(back.length, 1, 'count');
  eqJson([...back[0].data], [1, 2], 'data');
  throws(() => decodeCanonicalTensors(`${hex}00`), '1 trailing bytes', 'trailing');
  throws(() => decodeCanonicalTensors(hex.slice(0, -2)), 'truncated', 'truncated');
});

// ---------------------------------------------------------------------------------------------
// Offline: fixed point.

await check('toFixed: exact decimal conversion, round half to even', () => {
  const cases = [
    [0.1, 6, 100000n], ['0.1', 6, 100000n], [0.1 + 0.2, 17, 30000000000000004n], [0.1 + 0.2, 16, 3000000000000000n],
    ['2.5', 0, 2n], ['3.5', 0, 4n], ['-2.5', 0, -2n], ['-1.5', 0, -2n], ['0.5', 0, 0n], [-0.0000005, 6, 0n],
    ['1.0000005', 6, 1000000n], ['1.0000015', 6, 1000002n], ['1.00000050000000000001', 6, 1000001n],
    ['-0.000000499999', 6, 0n], [1e21, 2, 10n ** 23n], [1.5e-7, 7, 2n], ['1e-3', 3, 1n], ['.25', 2, 25n],
    ['+7', 1, 70n], [3n, 2, 300n], [-0, 5, 0n], ['0.00', 0, 0n], ['1E+2', 0, 100n], [123.456, 0, 123n],
  ];
  for (const [v, d, want] of cases) eq(toFixed([v], d).elements[0], want, `toFixed(${fmt(v)}, ${d})`);
  const t = toFixed([['1.5', -2], [0, '1e-2']], 2);
  eqJson(t, { elements: [150n, -200n, 0n, 1n], shape: [2n, 2n], decimals: 2 }, 'nested');
  eqJson(toFixed([1, 2, 3, 4], 0, { shape: [2, 2] }).shape, [2n, 2n], 'explicit shape');
  return `${cases.length} values`;
});
await check('toFixed: int256 bounds, too many digits, bad input', () => {
  const max = (1n << 255n) - 1n;
  eq(toFixed([max.toString()], 0).elements[0], max, 'int256 max');
  eq(toFixed([(-(1n << 255n)).toString()], 0).elements[0], -(1n << 255n), 'int256 min');
  eq(toFixed(['5.7896044618658097711785492504343953926634992332820282019728792003956564819967'], 76).elements[0], max,
    '2^255-1 at 76 decimals');
  throws(() => toFixed([(max + 1n).toString()], 0), 'elements[0]: 578960446186580977117854925043439539266349923328202820197287920039565648199' +
    '68 with 0 decimals is out of the int256 range', 'int256 overflow');
  throws(() => toFixed([1e70], 8), 'out of the int256 range', '1e70 * 10^8');
  throws(() => toFixed(['1e999999999'], 0), 'out of the int256 range', 'huge exponent');
  eq(toFixed(['1e-999999999'], 77).elements[0], 0n, 'tiny exponent rounds to 0');
  eq(toFixed([`0.${'3'.repeat(200)}`], 77).elements[0], BigInt('3'.repeat(77)), '200 digits rounded at digit 77');
  throws(() => toFixed(['0.1234567'], 6, { exact: true }), 'elements[0]: 0.1234567 has more than 6 decimal places', 'exact mode');
  eq(toFixed(['0.1234560'], 6, { exact: true }).elements[0], 123456n, 'exact mode, trailing zero');
  throws(() => toFixed([NaN], 6), 'elements[0]: NaN has no fixed-point form', 'NaN');
  throws(() => toFixed([1, -Infinity], 6), 'elements[1]: -Infinity has no fixed-point form', 'Infinity');
  throws(() => toFixed(['1.2.3'], 6), '"1.2.3" is not a decimal number', 'malformed');
  throws(() => toFixed(['0x10'], 6), 'is not a decimal number', 'hex string');
  throws(() => toFixed([''], 6), 'is not a decimal number', 'empty');
  throws(() => toFixed([1], 78), 'decimals must be an integer 0..77, got 78', 'decimals 78');
  throws(() => toFixed([1], 1.5), 'decimals must be an integer 0..77', 'decimals 1.5');
  throws(() => toFixed([1, 2, 3], 0, { shape: [2, 2] }), 'shape [2, 2] needs 4 elements, got 3', 'shape');
});
await check('fromFixed: exact strings and nearest numbers', () => {
  const r = fromFixed({ elements: [-5n, 100000n, 0n, 1234567n, -1000000n], shape: [5n], decimals: 6 });
  eqJson(r.strings, ['-0.000005', '0.1', '0', '1.234567', '-1'], 'strings');
  eqJson(r.numbers, [-0.000005, 0.1, 0, 1.234567, -1], 'numbers');
  eqJson(r.shape, [5], 'shape');
  const max = (1n << 255n) - 1n;
  eq(fixedToString(max, 77), `0.${max.toString().padStart(77, '0')}`.replace(/0+$/, ''), '2^255-1 at 77 decimals');
  eq(fixedToString(-(10n ** 30n), 0), `-1${'0'.repeat(30)}`, 'integers keep their zeros');
  const round = toFixed(fromFixed({ elements: [-123456789n], shape: [1n], decimals: 4 }).strings, 4);
  eq(round.elements[0], -123456789n, 'string round trip');
  throws(() => fromFixed({ elements: [1n], shape: [2n], decimals: 0 }), 'shape [2] needs 2 elements, has 1', 'count');
  throws(() => fromFixed({ elements: [1n], shape: [1n], decimals: 99 }), 'decimals must be', 'decimals');
});

// ---------------------------------------------------------------------------------------------
// Offline: ABIs and errors.

const digitArtifact = readJson('contracts/out/DigitClassifier.json');
await check('ABIs: addresses, generated ABIs match contracts/out, provaErrorsAbi', () => {
  eq(PROVA_INFERENCE, '0x0000000000000000000000000000000000000F00', 'INFER');
  eq(MODEL_REGISTRY, '0x0000000000000000000000000000000000000F01', 'MODEL_REGISTRY');
  eqJson(provaInferenceAbi, readJson('contracts/out/IProvaInference.json').abi, 'IProvaInference');
  eqJson(modelRegistryAbi, readJson('contracts/out/IModelRegistry.json').abi, 'IModelRegistry');
  eqJson(provaErrorsAbi.map((e) => e.name).sort(), ['BadInput', 'InferenceFailed', 'ModelRejected', 'UnknownModel'], 'errors');
  const fixedOut = provaInferenceAbi.find((f) => f.name === 'inferFixed').outputs[0].components.map((c) => c.name);
  eqJson(fixedOut, ['elements', 'shape', 'decimals'], 'FixedTensor fields');
});
await check('withProvaErrors: adds the four errors once, keeps declared ones', () => {
  const base = digitArtifact.abi;
  const merged = withProvaErrors(base);
  eq(merged.length, base.length + 4, 'DigitClassifier + 4');
  eq(withProvaErrors(merged).length, merged.length, 'idempotent');
  eq(withProvaErrors(provaInferenceAbi).length, provaInferenceAbi.length + 1, 'IProvaInference gains ModelRejected only');
  const renamed = [{ type: 'error', name: 'UnknownModel', inputs: [{ name: 'id', type: 'bytes32' }] }];
  eq(withProvaErrors(renamed).length, 4, 'same selector, other argument name: not duplicated');
  eq(decodeProvaError('0x0ec90677'), undefined, 'truncated revert data is not an error');
});

// ---------------------------------------------------------------------------------------------
// Live: calls to the precompiles.

const client = createPublicClient({ transport: http(rpc, { timeout: 60_000 }) }).extend(provaActions);
let chainId;
await check(`the node at ${rpc} answers eth_chainId`, async () => {
  chainId = await client.getChainId();
  return `chain id ${chainId}`;
});
if (chainId === undefined) {
  console.log(`# client-ts: ${passed}/${passed + failed} checks passed; no node, live checks skipped`);
  process.exit(1);
}
const chain = defineChain({
  id: chainId, name: 'prova-dev', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
  rpcUrls: { default: { http: [rpc] } },
});
const wallet = createWalletClient({
  account: privateKeyToAccount('0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80'),
  chain, transport: http(rpc, { timeout: 60_000 }),
});

const MLP = 'digits_mlp';
const mlpBytes = read(`fixtures/models/${MLP}.onnx`);
const MLP_ID = modelIdOf(mlpBytes);
const IRIS_ID = modelIdOf(read('fixtures/models/iris_logreg.onnx'));
const UNKNOWN = keccak256(toHex(`client-ts unknown model ${Date.now()}`));
const mlpExpected = readJson(`fixtures/expected/${MLP}.json`);
const sample = mlpExpected.samples[0];
const sampleInputs = sample.inputs.map((t) => encodeTensor(t.data, t.dtype, t.shape));
// The same image as the sample, as DigitClassifier takes it (pixel p is the float p / 16).
const PIXELS = sample.inputs[0].data.map((x) => x * 16);
let mlpOutputs;

await check('modelIdOf(digits_mlp.onnx) is registered', async () => {
  eq(MLP_ID, '0xc96b96c9dd84c1575b339385bf45e3b7450fbc0ad54bed2561a05d46eefc5ff6', 'id (README)');
  eq(modelIdOf(toHex(mlpBytes)), MLP_ID, 'from hex');
  eq(await modelExists(client, MLP_ID), true, 'exists');
  eq(await modelExists(client, UNKNOWN), false, 'unknown exists');
});
await check(`infer ${MLP} on fixtures/expected sample 0 vs onnxruntime`, async () => {
  mlpOutputs = await infer(client, MLP_ID, sampleInputs);
  eq(mlpOutputs.length, sample.outputs.length, 'outputs');
  const [label, probs] = mlpOutputs;
  eq(label.dtype, 'i64', 'label dtype');
  eqJson(label.shape, sample.outputs[0].shape, 'label shape');
  eq(label.data instanceof BigInt64Array, true, 'label is a BigInt64Array');
  eq(label.data[0], BigInt(sample.outputs[0].data[0]), 'class (exact)');
  eq(probs.dtype, 'f32', 'probabilities dtype');
  eqJson(probs.shape, sample.outputs[1].shape, 'probabilities shape');
  // onnxruntime is not the project's reference: crates/model/tests/ops.rs accepts digits_mlp within
  // a relative 1e-6 of it (another summation order); bit-exactness is checked against the chain.
  let exact = 0;
  let worst = 0;
  sample.outputs[1].data.forEach((w, i) => {
    const g = probs.data[i];
    if (f32Bits(g) === f32Bits(f32(w))) exact++;
    worst = Math.max(worst, relErr(g, w));
    if (relErr(g, w) > 1e-6) throw new Error(`probabilities[${i}]: ${g} vs onnxruntime ${w}, beyond 1e-6`);
  });
  return `class ${label.data[0]}; probabilities within 1e-6 (relative) of onnxruntime, not bit-exact: ` +
    `${exact}/${probs.data.length} identical bits, worst ${worst.toExponential(2)}`;
});
await check(`infer every sample of every preloaded model: labels exact, floats within ops.rs tolerances`, async () => {
  // Tolerances of crates/model/tests/ops.rs (fixture_models).
  const tol = {
    cancer_scaled_logreg: 1e-6, diabetes_linear: 1e-6, digits_cnn: 2e-6, digits_cnn_int8: 1e-6, digits_mlp: 1e-6, digits_mlp_dyn: 0.02, iris_logreg: 1e-6,
    digits_lstm: 1e-5, digits_gru: 1e-5, digits_transformer: 1e-5, digits_transformer_dyn: 1e-5,
    digits_mobilenet: 1e-5,
  };
  const names = readdirSync(new URL('fixtures/models/', ROOT)).filter((f) => f.endsWith('.onnx')).map((f) => f.slice(0, -5));
  let n = 0;
  for (const name of names) {
    const id = modelIdOf(read(`fixtures/models/${name}.onnx`));
    const { samples } = readJson(`fixtures/expected/${name}.json`);
    for (const [s, smp] of samples.entries()) {
      const outs = await infer(client, id, smp.inputs.map((t) => ({ dtype: t.dtype, values: t.data, shape: t.shape })));
      smp.outputs.forEach((o, k) => {
        eqJson(outs[k].shape, o.shape, `${name} sample ${s} output ${k} shape`);
        eq(outs[k].dtype, o.dtype, `${name} sample ${s} output ${k} dtype`);
        o.data.forEach((w, i) => {
          const g = outs[k].data[i];
          const what = `${name} sample ${s} output ${k}[${i}]`;
          if (typeof g === 'bigint') eq(g, BigInt(w), what);
          else if (relErr(g, w) > (tol[name] ?? 0)) throw new Error(`${what}: ${g} vs onnxruntime ${w}`);
        });
      });
      n++;
    }
  }
  return `${names.length} models, ${n} samples`;
});
if (process.env.PROVA) {
  await check('infer = `prova infer --json` (exact profile, bit for bit)', async () => {
    const out = JSON.parse(execFileSync(process.env.PROVA, ['infer', new URL(`fixtures/models/${MLP}.onnx`, ROOT).pathname,
      '--input', new URL(`fixtures/inputs/${MLP}.json`, ROOT).pathname, '--json'], { encoding: 'utf8' }));
    const raw = await inferRaw(client, MLP_ID, sampleInputs);
    eq(keccak256(encodeCanonicalTensors(raw)), out.output_hash, 'output hash');
  });
}
await check('inferFixed round trip (digits_mlp, 8 decimals) = round_half_even(infer f32 x 10^8)', async () => {
  const decimals = 8;
  const strings = sample.inputs[0].data.map(String);
  const outs = await inferFixed(client, MLP_ID, [strings], undefined, decimals);
  eq(outs.length, 2, 'outputs');
  eq(outs[0].decimals, 0, 'label decimals (integer output)');
  eqJson(outs[0].elements, [BigInt(sample.outputs[0].data[0])], 'label');
  eqJson(outs[0].shape, [1], 'label shape');
  eq(outs[1].decimals, decimals, 'probabilities decimals');
  eqJson(outs[1].shape, [1, 10], 'probabilities shape');
  const want = [...mlpOutputs[1].data].map((x) => exactFixedOfF32(x, decimals));
  eqJson(outs[1].elements, want, 'elements');
  eqJson(outs[1].strings, want.map((v) => fixedToString(v, decimals)), 'strings');
  outs[1].numbers.forEach((x, i) => {
    if (Math.abs(x - mlpOutputs[1].data[i]) > 0.5e-8) throw new Error(`numbers[${i}]: ${x}`);
  });
  // numbers in, same result (exact decimal conversion of p / 16)
  const again = await inferFixed(client, MLP_ID, sample.inputs[0].data, [1, 64], decimals);
  eqJson(again[1].elements, outs[1].elements, 'numbers in = strings in');
  return `p = ${outs[1].strings[2]}`;
});
await check('modelInfo: shapes and costs of every preloaded model', async () => {
  const info = await modelInfo(client, MLP_ID);
  eqJson(info.inputs, [{ dtype: 'f32', shape: [1, 64] }], 'inputs');
  eqJson(info.outputs, [{ dtype: 'i64', shape: [1] }, { dtype: 'f32', shape: [1, 10] }], 'outputs');
  eq(info.sizeBytes, BigInt(mlpBytes.length), 'sizeBytes');
  const m = await client.getModel(MLP_ID);
  eq(info.gasPerCall, BigInt(m.gasPerCall), 'gasPerCall = prova_getModel');
  eq(info.macs, BigInt(m.cost.macs), 'macs = prova_getModel');
  const names = readdirSync(new URL('fixtures/models/', ROOT)).filter((f) => f.endsWith('.onnx')).map((f) => f.slice(0, -5));
  for (const name of names) {
    const i = await modelInfo(client, modelIdOf(read(`fixtures/models/${name}.onnx`)));
    const want = readJson(`fixtures/inputs/${name}.json`).inputs.map((t) => ({ dtype: t.dtype, shape: t.shape }));
    eqJson(i.inputs, want, `${name} inputs`);
  }
  return `digits_mlp gas ${info.gasPerCall}, ${names.length} models`;
});
await check('generate (char_lm): greedy = onnxruntime, sampled = the reference sampler; decoderInfo; BadInput', async () => {
  const lm = modelIdOf(read('fixtures/lm/char_lm.onnx'));
  const info = await decoderInfo(client, lm);
  eqJson([info.vocabSize, info.maxContext], [94, 128], 'decoderInfo');
  const exp = readJson('fixtures/lm/char_lm.expected.json');
  for (const c of exp.cases) eqJson(await generate(client, lm, c.prompt_ids, c.max_new_tokens), c.tokens, `greedy ${JSON.stringify(c.prompt)}`);
  for (const c of exp.sampled) {
    const got = await generate(client, lm, c.prompt_ids, c.max_new_tokens, { temperature: c.temperature_milli / 1000, topK: c.top_k, seed: BigInt(c.seed) });
    eqJson(got, c.tokens, `sampled ${JSON.stringify(c.prompt)}`);
  }
  const e = await revertsWith(generate(client, lm, [1, 2], info.maxContext), 'BadInput', 'over the context');
  eq(e.args[0], 1n, 'BadInput index');
  return `${exp.cases.length} greedy + ${exp.sampled.length} sampled, ${info.gasPerToken} gas/token`;
});
await check('UnknownModel revert decoded to name and args', async () => {
  const e = await revertsWith(infer(client, UNKNOWN, sampleInputs), 'UnknownModel', 'infer');
  eqJson(e.args, [UNKNOWN], 'args');
  const m = await revertsWith(modelInfo(client, UNKNOWN), 'UnknownModel', 'modelInfo');
  eqJson(m.args, [UNKNOWN], 'modelInfo args');
  await revertsWith(inferFixed(client, UNKNOWN, [1], [1], 0), 'UnknownModel', 'inferFixed');
  // and through estimateGas: the same revert data on another path
  try {
    await client.estimateContractGas({ address: PROVA_INFERENCE, abi: provaInferenceAbi, functionName: 'infer', args: [UNKNOWN, []] });
    throw new Error('estimateGas did not revert');
  } catch (err) {
    eq(decodeProvaError(err)?.name, 'UnknownModel', 'estimateGas');
  }
});
await check('BadInput from a wrong shape, dtype and input count', async () => {
  const shape = await revertsWith(infer(client, MLP_ID, [{ dtype: 'f32', values: Array(63).fill(0), shape: [1, 63] }]), 'BadInput', 'shape');
  eq(shape.args[0], 0n, 'index');
  if (!/shape/.test(shape.args[1])) throw new Error(`reason does not mention the shape: ${shape.args[1]}`);
  const dtype = await revertsWith(infer(client, MLP_ID, [{ dtype: 'f64', values: Array(64).fill(0), shape: [1, 64] }]), 'BadInput', 'dtype');
  const count = await revertsWith(infer(client, MLP_ID, [...sampleInputs, ...sampleInputs]), 'BadInput', 'count');
  await revertsWith(inferFixed(client, MLP_ID, Array(63).fill(0), [1, 63], 4), 'BadInput', 'inferFixed shape');
  // refused locally, before any call
  await inferFixed(client, IRIS_ID, [[1, 2, 3, 4]], undefined, 78).then(
    () => { throw new Error('78 decimals accepted'); },
    (e) => { if (!/decimals must be an integer 0..77/.test(e.message)) throw e; });
  eq(isProvaError(await infer(client, MLP_ID, []).catch((e) => e), 'BadInput'), true, 'isProvaError');
  return `"${shape.args[1]}"; "${dtype.args[1]}"; "${count.args[1]}"`;
});

// ---------------------------------------------------------------------------------------------
// Live: deployModel.

await check('deployModel: a preloaded model is skipped (no transaction, same id)', async () => {
  const before = await client.getBlockNumber();
  const r = await deployModel(wallet, client, read('fixtures/models/iris_logreg.onnx'));
  eq(r.modelId, IRIS_ID, 'id');
  eq(r.alreadyDeployed, true, 'alreadyDeployed');
  eq(r.transactionHash, undefined, 'no transaction');
  eq(await client.getBlockNumber(), before, 'no block mined');
});
await check('deployModel: a fixture the node does not preload, then inference on its samples', async () => {
  // fixtures/ops models are not preloaded (crates/cli/src/node.rs preloads fixtures/models).
  const order = ['qsoftmax_u8_last', 'scaler_i64', 'qgemm_s8_transb_bias', 'scaler_f64', 'qsoftmax_i8_3d_axis1', 'qgemm_u8_float_alpha'];
  const all = readdirSync(new URL('fixtures/ops/', ROOT)).filter((f) => f.endsWith('.onnx')).map((f) => f.slice(0, -5));
  let name;
  for (const n of [...order, ...all.filter((x) => !order.includes(x))]) {
    if (!(await modelExists(client, modelIdOf(read(`fixtures/ops/${n}.onnx`))))) {
      name = n;
      break;
    }
  }
  if (!name) throw new Error('every fixtures/ops model is already deployed on this node (run against a fresh node)');
  const bytes = read(`fixtures/ops/${name}.onnx`);
  const r = await deployModel(wallet, client, bytes);
  eq(r.modelId, modelIdOf(bytes), 'id');
  eq(r.alreadyDeployed, false, 'alreadyDeployed');
  eq(r.receipt?.status, 'success', 'receipt');
  eq(await modelExists(client, r.modelId), true, 'exists');
  eq((await client.getModel(r.modelId))?.sizeBytes, bytes.length, 'prova_getModel size');
  // Before its block the model did not exist: a call at the parent block reverts.
  await revertsWith(modelInfo(client, r.modelId, { blockNumber: r.receipt.blockNumber - 1n }), 'UnknownModel', 'at the parent block');
  // Its fixture samples (onnxruntime's outputs; ops.rs checks these models bit for bit).
  const { samples } = readJson(`fixtures/ops/${name}.json`);
  for (const [s, smp] of samples.entries()) {
    const outs = await infer(client, r.modelId, smp.inputs.map((t) => encodeTensor(t.data, t.dtype, t.shape)));
    smp.outputs.forEach((o, k) => {
      eq(outs[k].dtype, o.dtype, `sample ${s} output ${k} dtype`);
      o.data.forEach((w, i) => {
        const g = outs[k].data[i];
        const same = typeof g === 'bigint' ? g === BigInt(w) : o.dtype === 'f32' ? f32Bits(g) === f32Bits(f32(w)) : g === w;
        if (!same && relErr(Number(g), w) > 1e-6) throw new Error(`sample ${s} output ${k}[${i}]: ${g} vs onnxruntime ${w}`);
      });
    });
  }
  const again = await deployModel(wallet, client, bytes);
  eq(again.modelId, r.modelId, 'second deploy: same id');
  eq(again.alreadyDeployed, true, 'second deploy: skipped');
  return `${name}: ${samples.length} samples of ${samples[0].inputs[0].dtype} ${JSON.stringify(samples[0].inputs[0].shape)}, block ${r.receipt.blockNumber}`;
});
await check('deployModel: a refused model reverts with ModelRejected(reason)', async () => {
  const e = await revertsWith(deployModel(wallet, client, read('fixtures/reject/zipmap.onnx')), 'ModelRejected', 'zipmap');
  if (!e.args[0]) throw new Error('empty reason');
  return `"${e.args[0].slice(0, 80)}"`;
});

// ---------------------------------------------------------------------------------------------
// Live: a contract that infers, the prova_* methods, bubbled-up precompile errors.

async function deployClassifier(modelId) {
  const hash = await wallet.deployContract({ abi: digitArtifact.abi, bytecode: digitArtifact.bytecode, args: [modelId] });
  const r = await client.waitForTransactionReceipt({ hash });
  if (r.status !== 'success' || !r.contractAddress) throw new Error(`DigitClassifier deploy: ${r.status}`);
  return r.contractAddress;
}
let classifier;
let classifyTx;
let classifyReceipt;
await check('DigitClassifier deployed with viem, classify(pixels) mined', async () => {
  classifier = await deployClassifier(MLP_ID);
  classifyTx = await wallet.writeContract({ address: classifier, abi: digitArtifact.abi, functionName: 'classify', args: [PIXELS] });
  classifyReceipt = await client.waitForTransactionReceipt({ hash: classifyTx });
  eq(classifyReceipt.status, 'success', 'classify status');
  const digit = await client.readContract({ address: classifier, abi: digitArtifact.abi, functionName: 'predict', args: [PIXELS] });
  eq(digit, BigInt(sample.outputs[0].data[0]), 'predict');
  return `${classifier}, tx ${classifyTx.slice(0, 10)}…`;
});
let records;
await check('getInferences(tx hash): one record of the classify transaction', async () => {
  records = await client.getInferences(classifyTx);
  eq(records.length, 1, 'records');
  const r = records[0];
  eq(r.txHash, classifyTx, 'txHash');
  eq(r.modelId, MLP_ID, 'modelId');
  eq(r.blockNumber, classifyReceipt.blockNumber, 'blockNumber (bigint)');
  eq(r.txIndex, classifyReceipt.transactionIndex, 'txIndex (number)');
  eq(r.callIndex, 0, 'callIndex');
  eq(r.success, true, 'success');
  eq(typeof r.gas, 'bigint', 'gas type');
  // The input hash is keccak256 of the canonical encoding of the inputs: the same tensor as the
  // fixture sample (p / 16 is exact), encoded here.
  eq(r.inputHash, keccak256(encodeCanonicalTensors(sampleInputs)), 'inputHash = keccak256(canonical(sample input))');
  eqJson(r.outputs.map((o) => [o.dtype, o.shape]), [['i64', [1]], ['f32', [1, 10]]], 'outputs');
  eq(r.outputs[0].data[0], Number(mlpOutputs[0].data[0]), 'label in the JSON outputs');
  // floats in the JSON outputs are the shortest text that reads back to the same f32 bits
  eqJson(r.outputs[1].data.map((x) => f32Bits(f32(x))), [...mlpOutputs[1].data].map(f32Bits), 'JSON f32 outputs = infer bits');
  return `gas ${r.gas}`;
});
await check('getInferences(block number) and (hex quantity) give the same record; unknown tx gives null', async () => {
  eqJson(await client.getInferences(classifyReceipt.blockNumber), records, 'by bigint');
  eqJson(await client.getInferences(toHex(classifyReceipt.blockNumber)), records, 'by hex');
  eqJson(await client.getInferences(Number(classifyReceipt.blockNumber)), records, 'by number');
  eq(await client.getInferences(keccak256('0x01')), null, 'unknown tx');
  eqJson(await client.getInferences(0n), [], 'genesis block');
});
await check('getBlockWithWitness: witness output = the eth_call infer output, bit for bit', async () => {
  const b = await client.getBlockWithWitness(classifyReceipt.blockNumber);
  eq(b.number, classifyReceipt.blockNumber, 'number');
  eq(b.hash, classifyReceipt.blockHash, 'hash');
  eq(b.header.number, toHex(classifyReceipt.blockNumber), 'header.number');
  eq(b.transactions.length, 1, 'transactions');
  eq(keccak256(b.transactions[0]), classifyTx, 'raw transaction hash');
  eq(b.witness.length, 1, 'witness');
  const w = b.witness[0];
  eq(w.modelId, MLP_ID, 'modelId');
  eq(w.gas, records[0].gas, 'gas');
  eq(w.inputHash, records[0].inputHash, 'inputHash');
  eq(keccak256(w.output), records[0].outputHash, 'outputHash = keccak256(output)');
  const onChain = decodeCanonicalTensors(w.output);
  const raw = await inferRaw(client, MLP_ID, sampleInputs);
  eq(w.output, encodeCanonicalTensors(raw), 'canonical(eth_call outputs) = witness output bytes');
  eqJson([...onChain[1].data].map(f32Bits), [...mlpOutputs[1].data].map(f32Bits), 'f32 bits');
  const byTag = await client.getBlockWithWitness('latest');
  eq(byTag.number >= b.number, true, 'latest');
  eq(await client.getBlockWithWitness(b.number + 1_000_000n), null, 'beyond the head');
  const genesisBlock = await client.getBlock({ blockNumber: 0n });
  eq((await client.getBlockWithWitness(0)).hash, genesisBlock.hash, 'block 0 hash = eth_getBlockByNumber');
});
await check('getModel: formatted, null for an unknown id', async () => {
  const m = await client.getModel(MLP_ID);
  eq(m.id, MLP_ID, 'id');
  eq(m.sizeBytes, mlpBytes.length, 'sizeBytes');
  eqJson(m.inputs, [{ name: 'X', dtype: 'f32', shape: [1, 64] }], 'inputs');
  eqJson(m.outputs.map((o) => [o.dtype, o.shape]), [['i64', [1]], ['f32', [1, 10]]], 'outputs');
  eq(m.gasColdCall > m.gasPerCall, true, 'cold > warm gas');
  eq(m.ops.MatMul, 2, 'ops histogram');
  eq(await client.getModel(UNKNOWN), null, 'unknown');
  return `${m.gasPerCall} gas warm, ${m.gasColdCall} cold, ${m.cost.macs} MACs`;
});
await check('getGenesis: chain id and the preloaded models', async () => {
  const g = await client.getGenesis();
  eq(g.chainId, chainId, 'chainId = eth_chainId');
  const ids = g.models.map((m) => keccak256(m));
  eq(ids.includes(MLP_ID), true, 'digits_mlp among the genesis models');
  eq(g.models.length >= 10, true, 'ten fixture models');
  eq(g.alloc['0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266']?.balance, toHex(10n ** 22n), 'dev account balance');
  return `${g.models.length} models`;
});
await check('withProvaErrors: a precompile error bubbled up by DigitClassifier is decoded', async () => {
  const broken = await deployClassifier(UNKNOWN);
  // With the contract's own ABI, viem cannot name the error ...
  try {
    await client.readContract({ address: broken, abi: digitArtifact.abi, functionName: 'predict', args: [PIXELS] });
    throw new Error('predict did not revert');
  } catch (e) {
    const rev = e instanceof BaseError && e.walk((x) => x instanceof ContractFunctionRevertedError);
    if (!rev) throw e;
    eq(rev.data?.errorName, undefined, 'plain ABI: undecoded');
    eq(decodeProvaError(e)?.name, 'UnknownModel', 'decodeProvaError on the raw revert data');
  }
  // ... with withProvaErrors it can.
  const abi = withProvaErrors(digitArtifact.abi);
  try {
    await client.readContract({ address: broken, abi, functionName: 'predict', args: [PIXELS] });
    throw new Error('predict did not revert');
  } catch (e) {
    const rev = e instanceof BaseError && e.walk((x) => x instanceof ContractFunctionRevertedError);
    if (!rev) throw e;
    eq(rev.data?.errorName, 'UnknownModel', 'merged ABI: viem names the error');
    eqJson(rev.data.args, [UNKNOWN], 'args');
  }
  // The same through a transaction's gas estimate, and a BadInput bubbled up (iris takes [1, 4]).
  await revertsWith(wallet.writeContract({ address: broken, abi, functionName: 'classify', args: [PIXELS] }), 'UnknownModel', 'classify');
  const iris = await deployClassifier(IRIS_ID);
  const bad = await revertsWith(client.readContract({ address: iris, abi, functionName: 'predict', args: [PIXELS] }), 'BadInput', 'iris');
  return `BadInput(${bad.args[0]}, "${bad.args[1]}")`;
});

console.log(`# client-ts: ${passed}/${passed + failed} live and unit checks passed`);
process.exit(failed === 0 ? 0 : 1);
