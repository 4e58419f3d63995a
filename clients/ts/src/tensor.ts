// Raw tensors: the `IProvaInference.Tensor` ABI struct (docs/abi.md).
//
//   dtype: 0 f32, 1 f64, 2 i64, 3 i32, 4 i16, 5 i8, 6 u8, 7 bool
//   shape: dimension sizes (uint64[]); an empty shape is a scalar (one element)
//   data:  elements back to back, little-endian, row-major; floats as raw IEEE-754 bits,
//          bool as one byte 0 or 1; length = product(shape) * elementSize(dtype)
import { bytesToHex, hexToBytes, isHex, type Hex } from 'viem';

/** The dtype names, in ABI-code order: `DTYPES[code]` is the name of code `code`. */
export const DTYPES = ['f32', 'f64', 'i64', 'i32', 'i16', 'i8', 'u8', 'bool'] as const;

/** A dtype name. */
export type DType = (typeof DTYPES)[number];

/** Maximum rank of a Prova tensor. */
export const MAX_RANK = 16;

const SIZES: Record<DType, number> = { f32: 4, f64: 8, i64: 8, i32: 4, i16: 2, i8: 1, u8: 1, bool: 1 };

const INT_RANGES: Partial<Record<DType, readonly [bigint, bigint]>> = {
  i64: [-(1n << 63n), (1n << 63n) - 1n],
  i32: [-(1n << 31n), (1n << 31n) - 1n],
  i16: [-(1n << 15n), (1n << 15n) - 1n],
  i8: [-128n, 127n],
  u8: [0n, 255n],
};

/** The `IProvaInference.Tensor` struct as viem encodes it (argument of `infer`). */
export interface AbiTensor {
  dtype: number;
  shape: readonly bigint[];
  data: Hex;
}

/** The element array `decodeTensor` returns for each dtype. */
export interface TensorDataByDType {
  f32: Float32Array;
  f64: Float64Array;
  i64: BigInt64Array;
  i32: Int32Array;
  i16: Int16Array;
  i8: Int8Array;
  u8: Uint8Array;
  bool: boolean[];
}

/** A decoded tensor: flat row-major elements plus the shape. */
export type DecodedTensor = {
  [D in DType]: { dtype: D; shape: number[]; data: TensorDataByDType[D] };
}[DType];

/** One element as a caller may give it. */
export type Scalar = number | bigint | boolean;

/** Nested arrays of elements (shape inferred from the nesting). */
export type NestedArray<T> = T | readonly NestedArray<T>[];

/** Everything `encodeTensor` accepts as values. */
export type TensorValues =
  | NestedArray<Scalar>
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray;

/** The element size in bytes of `dtype`. */
export function dtypeSize(dtype: DType): number {
  return SIZES[dtype];
}

/** The ABI code (0..7) of a dtype name; throws on an unknown name. */
export function dtypeCode(dtype: DType | string): number {
  const code = (DTYPES as readonly string[]).indexOf(dtype);
  if (code < 0) throw new Error(`unknown dtype "${dtype}" (expected one of ${DTYPES.join(', ')})`);
  return code;
}

/** The dtype name of an ABI code; throws on an unknown code. */
export function dtypeName(code: number | bigint): DType {
  const n = Number(code);
  const name = Number.isInteger(n) ? DTYPES[n] : undefined;
  if (name === undefined) throw new Error(`unknown dtype code ${code} (expected 0..7: ${DTYPES.join(', ')})`);
  return name;
}

/** Whether `dtype` is a float type (f32 or f64). */
export function isFloat(dtype: DType): boolean {
  return dtype === 'f32' || dtype === 'f64';
}

function isTypedArray(v: unknown): v is ArrayBufferView & ArrayLike<number | bigint> {
  return ArrayBuffer.isView(v) && !(v instanceof DataView);
}

function fmtShape(shape: readonly (number | bigint)[]): string {
  return `[${shape.join(', ')}]`;
}

/** Product of the dimensions, checked: each a non-negative safe integer, rank <= 16. */
export function elementCount(shape: readonly (number | bigint)[]): number {
  if (shape.length > MAX_RANK) throw new Error(`shape ${fmtShape(shape)} has rank ${shape.length}, more than ${MAX_RANK}`);
  let count = 1;
  for (const [i, d] of shape.entries()) {
    const n = typeof d === 'bigint' ? d : Number.isInteger(d) ? BigInt(d) : -1n;
    if (n < 0n || n > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new Error(`shape ${fmtShape(shape)}: dimension ${i} (${d}) is not a non-negative integer`);
    }
    count *= Number(n);
    if (!Number.isSafeInteger(count)) throw new Error(`shape ${fmtShape(shape)} has too many elements`);
  }
  return count;
}

/**
 * Flattens nested arrays row-major and infers their shape; refuses ragged arrays. A scalar has
 * shape `[]`, a typed array shape `[length]`.
 */
export function flatten<T>(values: NestedArray<T> | ArrayLike<T>): { flat: T[]; shape: number[] } {
  if (isTypedArray(values)) return { flat: Array.from(values as ArrayLike<T>), shape: [values.length] };
  if (!Array.isArray(values)) return { flat: [values as T], shape: [] };
  const shape: number[] = [];
  for (let v: unknown = values; Array.isArray(v) || isTypedArray(v); v = (v as ArrayLike<unknown>)[0]) {
    shape.push((v as ArrayLike<unknown>).length);
    if ((v as ArrayLike<unknown>).length === 0) break;
  }
  if (shape.length > MAX_RANK) throw new Error(`nested arrays of depth ${shape.length}, more than rank ${MAX_RANK}`);
  const flat: T[] = [];
  const walk = (v: unknown, depth: number, path: string): void => {
    if (depth === shape.length) {
      if (Array.isArray(v) || isTypedArray(v)) {
        throw new Error(`ragged nested arrays: values${path} is an array, expected an element (shape ${fmtShape(shape)})`);
      }
      flat.push(v as T);
      return;
    }
    if (!Array.isArray(v) && !isTypedArray(v)) {
      throw new Error(`ragged nested arrays: values${path} is not an array (shape ${fmtShape(shape)})`);
    }
    const a = v as ArrayLike<unknown>;
    if (a.length !== shape[depth]) {
      throw new Error(
        `ragged nested arrays: values${path} has length ${a.length}, expected ${shape[depth]} (shape ${fmtShape(shape)})`,
      );
    }
    for (let i = 0; i < a.length; i++) walk(a[i], depth + 1, `${path}[${i}]`);
  };
  walk(values, 0, '');
  return { flat, shape };
}

function describe(v: unknown): string {
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'string') return JSON.stringify(v);
  return String(v);
}

/** Converts an integer-like element to bigint, or returns undefined. */
function toInteger(v: unknown): bigint | undefined {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  // -0 is an integer too
  if (typeof v === 'number' && Object.is(v, -0)) return 0n;
  return undefined;
}

/**
 * Encodes values into the `Tensor` ABI struct.
 *
 * @param values nested arrays (shape inferred from the nesting), a flat `number[]`/`bigint[]`,
 *   a typed array, or a single scalar. Floats take numbers (NaN and infinities allowed, rounded
 *   to f32 with round-half-even for f32); integers take safe-integer numbers or bigints (i64
 *   beyond 2^53 needs bigints); bool takes booleans or 0/1.
 * @param dtype one of `f32 f64 i64 i32 i16 i8 u8 bool`.
 * @param shape optional explicit shape: the values are then read row-major in that shape
 *   (their own nesting is flattened) and their count must equal product(shape).
 * @throws Error naming the element (`data[3]: 300 is not a valid i8 value`) or the shape problem.
 */
export function encodeTensor(values: TensorValues, dtype: DType, shape?: readonly (number | bigint)[]): AbiTensor {
  const code = dtypeCode(dtype);
  const { flat, shape: inferred } = flatten<unknown>(values as NestedArray<unknown>);
  const dims = shape ?? inferred;
  const count = elementCount(dims);
  if (count !== flat.length) {
    throw new Error(`shape ${fmtShape(dims)} needs ${count} elements, got ${flat.length}`);
  }
  const size = SIZES[dtype];
  const bytes = new Uint8Array(count * size);
  const view = new DataView(bytes.buffer);
  const range = INT_RANGES[dtype];
  flat.forEach((v, i) => {
    const bad = (why = '') => new Error(`data[${i}]: ${describe(v)} is not a valid ${dtype} value${why}`);
    const at = i * size;
    switch (dtype) {
      case 'f32':
      case 'f64': {
        if (typeof v !== 'number') throw bad(' (floats take numbers)');
        if (dtype === 'f32') view.setFloat32(at, v, true);
        else view.setFloat64(at, v, true);
        break;
      }
      case 'bool': {
        if (v === true || v === 1 || v === 1n) bytes[at] = 1;
        else if (v === false || v === 0 || v === 0n) bytes[at] = 0;
        else throw bad();
        break;
      }
      default: {
        const n = toInteger(v);
        if (n === undefined) {
          throw bad(typeof v === 'number' && Number.isInteger(v) ? ' (beyond 2^53: pass a bigint)' : '');
        }
        if (range === undefined || n < range[0] || n > range[1]) throw bad(` (range ${range?.[0]}..${range?.[1]})`);
        switch (dtype) {
          case 'i64':
            view.setBigInt64(at, n, true);
            break;
          case 'i32':
            view.setInt32(at, Number(n), true);
            break;
          case 'i16':
            view.setInt16(at, Number(n), true);
            break;
          case 'i8':
            view.setInt8(at, Number(n));
            break;
          case 'u8':
            view.setUint8(at, Number(n));
            break;
        }
      }
    }
  });
  return { dtype: code, shape: dims.map((d) => BigInt(d)), data: bytesToHex(bytes) };
}

/**
 * Decodes a `Tensor` ABI struct (as viem returns it from `infer`) into typed elements.
 *
 * @throws Error on an unknown dtype code, a shape whose element count does not match the data
 *   length, or a bool byte other than 0 or 1.
 */
export function decodeTensor(tensor: {
  dtype: number | bigint;
  shape: readonly (bigint | number)[];
  data: Hex | Uint8Array;
}): DecodedTensor {
  const dtype = dtypeName(tensor.dtype);
  const count = elementCount(tensor.shape);
  const shape = tensor.shape.map((d) => Number(d));
  let bytes: Uint8Array;
  if (typeof tensor.data === 'string') {
    if (!isHex(tensor.data, { strict: true }) || tensor.data.length % 2 !== 0) {
      throw new Error(`tensor data is not a 0x-prefixed hex string of whole bytes: ${tensor.data.slice(0, 20)}`);
    }
    bytes = hexToBytes(tensor.data);
  } else {
    bytes = tensor.data;
  }
  const size = SIZES[dtype];
  if (bytes.length !== count * size) {
    throw new Error(
      `tensor data has ${bytes.length} bytes, but shape ${fmtShape(shape)} of ${dtype} needs ${count * size} (${count} x ${size})`,
    );
  }
  // Copy into a fresh, aligned buffer; read little-endian through a DataView (host-order safe).
  const copy = new Uint8Array(bytes);
  const view = new DataView(copy.buffer);
  switch (dtype) {
    case 'f32': {
      const data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getFloat32(i * 4, true);
      return { dtype, shape, data };
    }
    case 'f64': {
      const data = new Float64Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getFloat64(i * 8, true);
      return { dtype, shape, data };
    }
    case 'i64': {
      const data = new BigInt64Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getBigInt64(i * 8, true);
      return { dtype, shape, data };
    }
    case 'i32': {
      const data = new Int32Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getInt32(i * 4, true);
      return { dtype, shape, data };
    }
    case 'i16': {
      const data = new Int16Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getInt16(i * 2, true);
      return { dtype, shape, data };
    }
    case 'i8':
      return { dtype, shape, data: new Int8Array(copy.buffer) };
    case 'u8':
      return { dtype, shape, data: copy };
    case 'bool': {
      const data = Array.from(copy, (b, i) => {
        if (b > 1) throw new Error(`bool element ${i} is the byte ${b}, not 0 or 1`);
        return b === 1;
      });
      return { dtype, shape, data };
    }
  }
}

/** A tensor template (dtype and shape, no data), as `modelInfo` and `prova_getModel` describe one. */
export interface TensorTemplate {
  dtype: DType;
  shape: number[];
}

/** Reshapes flat row-major elements into nested arrays of `shape` (a scalar for `[]`). */
export function unflatten<T>(flat: ArrayLike<T>, shape: readonly number[]): NestedArray<T> {
  const count = elementCount(shape);
  if (count !== flat.length) throw new Error(`shape ${fmtShape(shape)} needs ${count} elements, got ${flat.length}`);
  if (shape.length === 0) return flat[0] as T;
  let pos = 0;
  const build = (depth: number): NestedArray<T> => {
    const n = shape[depth] as number;
    if (depth === shape.length - 1) {
      const row = Array.prototype.slice.call(flat, pos, pos + n) as T[];
      pos += n;
      return row;
    }
    return Array.from({ length: n }, () => build(depth + 1));
  };
  return build(0);
}

/**
 * Decodes Prova's canonical tensor list (docs/abi.md: `count:u32le (dtype:u8 rank:u8
 * dim:u64le*rank data)*count`), the form of a witness record's `output`
 * (`prova_getBlockWithWitness`) whose keccak256 is the output hash. Strict: no trailing bytes.
 */
export function decodeCanonicalTensors(bytes: Uint8Array | Hex): DecodedTensor[] {
  const b = typeof bytes === 'string' ? hexToBytes(bytes) : bytes;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let pos = 0;
  const need = (n: number, what: string) => {
    if (pos + n > b.length) throw new Error(`canonical tensors: truncated at byte ${pos} (${what})`);
  };
  need(4, 'count');
  const count = view.getUint32(0, true);
  pos = 4;
  const out: DecodedTensor[] = [];
  for (let t = 0; t < count; t++) {
    need(2, `tensor ${t} header`);
    const code = b[pos] as number;
    const rank = b[pos + 1] as number;
    pos += 2;
    if (rank > MAX_RANK) throw new Error(`canonical tensors: tensor ${t} has rank ${rank}, more than ${MAX_RANK}`);
    need(8 * rank, `tensor ${t} shape`);
    const shape: bigint[] = [];
    for (let i = 0; i < rank; i++, pos += 8) shape.push(view.getBigUint64(pos, true));
    const dtype = dtypeName(code);
    const len = elementCount(shape) * SIZES[dtype];
    need(len, `tensor ${t} data`);
    out.push(decodeTensor({ dtype: code, shape, data: b.subarray(pos, pos + len) }));
    pos += len;
  }
  if (pos !== b.length) throw new Error(`canonical tensors: ${b.length - pos} trailing bytes`);
  return out;
}

/**
 * Prova's canonical encoding of a tensor list (docs/abi.md), whose keccak256 is an inference's
 * input or output hash: `keccak256(encodeCanonicalTensors(inputs))` is the `inputHash` that
 * `prova_getInferences` reports.
 */
export function encodeCanonicalTensors(tensors: readonly AbiTensor[]): Hex {
  const parts: Uint8Array[] = [];
  const head = new Uint8Array(4);
  new DataView(head.buffer).setUint32(0, tensors.length, true);
  parts.push(head);
  tensors.forEach((t, i) => {
    try {
      decodeTensor(t); // validates dtype, shape and data length
    } catch (e) {
      throw new Error(`tensor ${i}: ${(e as Error).message}`);
    }
    const h = new Uint8Array(2 + 8 * t.shape.length);
    const v = new DataView(h.buffer);
    h[0] = Number(t.dtype);
    h[1] = t.shape.length;
    t.shape.forEach((d, k) => v.setBigUint64(2 + 8 * k, BigInt(d), true));
    parts.push(h, hexToBytes(t.data));
  });
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return bytesToHex(out);
}
