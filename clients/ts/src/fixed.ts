// Fixed point: the `IProvaInference.FixedTensor` ABI struct (docs/abi.md, "Fixed point").
//
//   element k means elements[k] / 10**decimals, an int256; decimals <= 77.
//
// Conversions here are exact decimal arithmetic on bigints: a JS number is converted through
// its shortest round-trip decimal form (`String(x)`), so 0.1 with 6 decimals is 100000n, never
// 100000.00000000000555... rounded. Digits beyond `decimals` are rounded half to even.
import { flatten, elementCount, type NestedArray } from './tensor.js';

/** Largest `decimals` the precompile accepts (10^77 < 2^255 < 10^78). */
export const MAX_DECIMALS = 77;

const INT256_MIN = -(1n << 255n);
const INT256_MAX = (1n << 255n) - 1n;

/** The `IProvaInference.FixedTensor` struct (`inferFixed`'s output, as viem decodes it). */
export interface FixedTensor {
  elements: readonly bigint[];
  shape: readonly bigint[];
  decimals: number;
}

/** A fixed-point value as a caller gives it: a number, a decimal string or an integer bigint. */
export type FixedInput = number | string | bigint;

/** Options of `toFixed`. */
export interface ToFixedOptions {
  /** Explicit shape (default: inferred from the nesting of `values`). */
  shape?: readonly (number | bigint)[];
  /** Refuse values with more fractional digits than `decimals` instead of rounding them. */
  exact?: boolean;
}

function checkDecimals(decimals: number): void {
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > MAX_DECIMALS) {
    throw new Error(`decimals must be an integer 0..${MAX_DECIMALS}, got ${decimals}`);
  }
}

const DECIMAL = /^([+-])?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/** Parses a decimal string into `{ digits, exp }` meaning `digits * 10^exp`, exactly. */
function parseDecimal(text: string): { digits: bigint; exp: number } | undefined {
  const m = DECIMAL.exec(text.trim());
  if (!m) return undefined;
  const [, sign, int = '', frac = '', e] = m;
  if (int === '' && frac === '') return undefined;
  const exp = (e === undefined ? 0 : Number(e)) - frac.length;
  if (!Number.isSafeInteger(exp)) return undefined;
  let digits = BigInt(int + frac || '0');
  if (sign === '-') digits = -digits;
  return { digits, exp };
}

/** `n / 10^k` rounded half to even (k > 0). */
function roundHalfEven(n: bigint, k: number): { q: bigint; exact: boolean } {
  const p = 10n ** BigInt(k);
  const neg = n < 0n;
  const a = neg ? -n : n;
  let q = a / p;
  const r = a % p;
  const twice = 2n * r;
  if (twice > p || (twice === p && q % 2n === 1n)) q += 1n;
  return { q: neg ? -q : q, exact: r === 0n };
}

/**
 * Converts one value to its fixed-point integer `round_half_even(value * 10^decimals)`,
 * exactly (decimal arithmetic, no binary float error).
 *
 * @throws Error on NaN, infinities, malformed strings, results outside int256, or (with
 *   `exact`) digits beyond `decimals`.
 */
export function toFixedValue(value: FixedInput, decimals: number, opts: { exact?: boolean } = {}): bigint {
  checkDecimals(decimals);
  let parsed: { digits: bigint; exp: number } | undefined;
  if (typeof value === 'bigint') {
    parsed = { digits: value, exp: 0 };
  } else if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`${value} has no fixed-point form`);
    parsed = parseDecimal(String(value));
  } else if (typeof value === 'string') {
    parsed = parseDecimal(value);
  }
  if (parsed === undefined) {
    throw new Error(`${JSON.stringify(typeof value === 'string' ? value : String(value))} is not a decimal number`);
  }
  const { digits, exp } = parsed;
  const scale = exp + decimals;
  let result: bigint;
  if (digits === 0n) {
    result = 0n;
  } else if (scale >= 0) {
    // Bound the work before exponentiating: a result beyond int256 has more than 78 digits.
    const len = (digits < 0n ? -digits : digits).toString().length;
    if (len + scale > 80) throw outOfRange(value, decimals);
    result = digits * 10n ** BigInt(scale);
  } else {
    const len = (digits < 0n ? -digits : digits).toString().length;
    if (-scale > len + 1) {
      // |value * 10^decimals| < 0.1: rounds to zero
      if (opts.exact) throw inexact(value, decimals);
      result = 0n;
    } else {
      const { q, exact } = roundHalfEven(digits, -scale);
      if (opts.exact && !exact) throw inexact(value, decimals);
      result = q;
    }
  }
  if (result < INT256_MIN || result > INT256_MAX) throw outOfRange(value, decimals);
  return result;
}

function outOfRange(value: FixedInput, decimals: number): Error {
  return new Error(`${String(value)} with ${decimals} decimals is out of the int256 range`);
}

function inexact(value: FixedInput, decimals: number): Error {
  return new Error(`${String(value)} has more than ${decimals} decimal places`);
}

/**
 * Converts values to fixed point: `{ elements, shape, decimals }`, ready for `inferFixed` (or
 * any contract taking `int256[]` plus `uint64[]` shape).
 *
 * @param values nested arrays (shape from the nesting), a flat array, or one value. Each value is
 *   a number (through its shortest decimal form), a decimal string (`"-1.25"`, `"1e-3"`, any
 *   length) or a bigint (an integer, scaled by 10^decimals like any other value).
 * @param decimals 0..77.
 * @throws Error naming the element on NaN/Infinity, malformed strings, int256 overflow, or
 *   (with `opts.exact`) digits beyond `decimals`.
 */
export function toFixed(
  values: NestedArray<FixedInput> | readonly FixedInput[],
  decimals: number,
  opts: ToFixedOptions = {},
): FixedTensor & { elements: bigint[]; shape: bigint[] } {
  checkDecimals(decimals);
  const { flat, shape: inferred } = flatten<FixedInput>(values as NestedArray<FixedInput>);
  const dims = opts.shape ?? inferred;
  const count = elementCount(dims);
  if (count !== flat.length) throw new Error(`shape [${dims.join(', ')}] needs ${count} elements, got ${flat.length}`);
  const elements = flat.map((v, i) => {
    try {
      return toFixedValue(v, decimals, opts.exact === undefined ? {} : { exact: opts.exact });
    } catch (e) {
      throw new Error(`elements[${i}]: ${(e as Error).message}`);
    }
  });
  return { elements, shape: dims.map((d) => BigInt(d)), decimals };
}

/** The exact decimal text of `value / 10^decimals`, trailing zeros trimmed (`"-0.05"`, `"12"`). */
export function fixedToString(value: bigint, decimals: number): string {
  checkDecimals(decimals);
  const neg = value < 0n;
  const a = (neg ? -value : value).toString().padStart(decimals + 1, '0');
  const int = a.slice(0, a.length - decimals);
  const frac = a.slice(a.length - decimals).replace(/0+$/, '');
  return `${neg ? '-' : ''}${int}${frac ? `.${frac}` : ''}`;
}

/** A decoded fixed-point tensor. */
export interface FromFixedResult {
  /** Dimension sizes. */
  shape: number[];
  /** The decimals the elements carry. */
  decimals: number;
  /** Each element as the nearest double (correctly rounded from the exact decimal). */
  numbers: number[];
  /** Each element's exact decimal text. */
  strings: string[];
}

/**
 * Decodes a `FixedTensor` (e.g. one output of `inferFixed`) into numbers and exact strings.
 *
 * @throws Error when the element count does not match the shape or decimals is out of range.
 */
export function fromFixed(t: {
  elements: readonly bigint[];
  shape: readonly (bigint | number)[];
  decimals: number | bigint;
}): FromFixedResult {
  const decimals = Number(t.decimals);
  checkDecimals(decimals);
  const count = elementCount(t.shape);
  if (count !== t.elements.length) {
    throw new Error(`fixed tensor: shape [${t.shape.join(', ')}] needs ${count} elements, has ${t.elements.length}`);
  }
  const strings = t.elements.map((v) => fixedToString(v, decimals));
  return { shape: t.shape.map((d) => Number(d)), decimals, numbers: strings.map(Number), strings };
}
