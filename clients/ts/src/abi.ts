// Addresses, the precompiles' custom errors, and decoding them out of viem errors.
import { BaseError, decodeErrorResult, isHex, toFunctionSelector, type Abi, type Address, type Hex } from 'viem';
import { modelRegistryAbi, provaInferenceAbi } from './abi.generated.js';

export { modelRegistryAbi, provaInferenceAbi } from './abi.generated.js';

/** Address of the INFER precompile (`IProvaInference`). */
export const PROVA_INFERENCE = '0x0000000000000000000000000000000000000F00' as const satisfies Address;
/** Address of the MODEL_REGISTRY precompile (`IModelRegistry`). */
export const MODEL_REGISTRY = '0x0000000000000000000000000000000000000F01' as const satisfies Address;

type ErrorItems<TAbi extends readonly unknown[]> = Extract<TAbi[number], { type: 'error' }>;

/** One custom error of the precompiles, as an ABI item. */
export type ProvaErrorAbiItem = ErrorItems<typeof provaInferenceAbi> | ErrorItems<typeof modelRegistryAbi>;

const isErrorItem = (item: { type: string }): boolean => item.type === 'error';

/**
 * The precompiles' custom errors: `UnknownModel(bytes32)`, `BadInput(uint256,string)`,
 * `InferenceFailed(string)` (INFER) and `ModelRejected(string)` (MODEL_REGISTRY).
 */
export const provaErrorsAbi = [
  ...provaInferenceAbi.filter(isErrorItem),
  ...modelRegistryAbi.filter(isErrorItem),
] as readonly ProvaErrorAbiItem[];

/** The names of the precompiles' custom errors. */
export type ProvaErrorName = ProvaErrorAbiItem['name'];

/** A decoded precompile error: its name and its arguments. */
export type ProvaError =
  | { name: 'UnknownModel'; args: readonly [modelId: Hex] }
  | { name: 'BadInput'; args: readonly [index: bigint, reason: string] }
  | { name: 'InferenceFailed'; args: readonly [reason: string] }
  | { name: 'ModelRejected'; args: readonly [reason: string] };

const PROVA_ERROR_NAMES: ReadonlySet<string> = new Set(provaErrorsAbi.map((e) => e.name));

function signatureOf(item: { type: string; name?: string; inputs?: readonly { type: string; components?: unknown }[] }): string {
  // Selectors carry types only, so two errors with the same name and types are the same error.
  return toFunctionSelector(item as Parameters<typeof toFunctionSelector>[0]);
}

/**
 * `abi` plus the precompiles' custom errors (those it does not declare already), so that viem
 * decodes a precompile revert that a contract bubbles up (Solidity re-throws a failed external
 * call's revert data as it is):
 *
 * ```ts
 * const abi = withProvaErrors(digitClassifierAbi);
 * await client.readContract({ address, abi, functionName: 'predict', args: [pixels] });
 * // throws ... ContractFunctionRevertedError with data.errorName === 'UnknownModel'
 * ```
 */
export function withProvaErrors<const TAbi extends Abi | readonly unknown[]>(
  abi: TAbi,
): readonly [...TAbi, ...(readonly ProvaErrorAbiItem[])] {
  const have = new Set<string>();
  for (const item of abi as readonly { type?: string }[]) {
    if (item && item.type === 'error') have.add(signatureOf(item as Parameters<typeof signatureOf>[0]));
  }
  const extra = provaErrorsAbi.filter((e) => !have.has(signatureOf(e)));
  return [...abi, ...extra] as unknown as readonly [...TAbi, ...(readonly ProvaErrorAbiItem[])];
}

function decodeRevertData(data: Hex): ProvaError | undefined {
  if (data.length < 10) return undefined;
  try {
    const { errorName, args } = decodeErrorResult({ abi: provaErrorsAbi, data });
    if (!PROVA_ERROR_NAMES.has(errorName)) return undefined;
    return { name: errorName, args: args ?? [] } as unknown as ProvaError;
  } catch {
    return undefined;
  }
}

/** Revert data or an already-decoded error found on one error object of a viem error chain. */
function fromErrorObject(e: unknown): ProvaError | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const o = e as { data?: unknown; raw?: unknown };
  // ContractFunctionRevertedError: `data` decoded with the call's ABI, `raw` the revert bytes.
  const decoded = o.data as { errorName?: unknown; args?: unknown } | undefined;
  if (decoded && typeof decoded === 'object' && typeof decoded.errorName === 'string') {
    if (PROVA_ERROR_NAMES.has(decoded.errorName)) {
      return { name: decoded.errorName, args: (decoded.args ?? []) as readonly unknown[] } as unknown as ProvaError;
    }
  }
  for (const candidate of [o.raw, o.data, (o.data as { data?: unknown } | undefined)?.data]) {
    if (typeof candidate === 'string' && isHex(candidate)) {
      const found = decodeRevertData(candidate);
      if (found) return found;
    }
  }
  return undefined;
}

/**
 * The Prova precompile error inside `error`, if it is one: `{ name, args }` of `UnknownModel`,
 * `BadInput`, `InferenceFailed` or `ModelRejected`; `undefined` otherwise.
 *
 * Accepts whatever viem threw (`readContract`, `simulateContract`, `estimateContractGas`,
 * `writeContract`, `call`, ...), whether or not the ABI used for the call declared the errors
 * (the raw revert data is decoded against the precompiles' errors), or raw revert data (`0x…`).
 */
export function decodeProvaError(error: unknown): ProvaError | undefined {
  if (typeof error === 'string') return isHex(error) ? decodeRevertData(error) : undefined;
  if (error instanceof BaseError) {
    let found: ProvaError | undefined;
    error.walk((e) => {
      found = fromErrorObject(e);
      return found !== undefined;
    });
    if (found) return found;
  }
  // Plain errors and anything `walk` missed: follow `cause` by hand.
  for (let e: unknown = error, depth = 0; e && depth < 32; e = (e as { cause?: unknown }).cause, depth++) {
    const found = fromErrorObject(e);
    if (found) return found;
  }
  return undefined;
}

/** Whether `error` is (or wraps) the Prova precompile error `name` (any of them without `name`). */
export function isProvaError(error: unknown, name?: ProvaErrorName): boolean {
  const found = decodeProvaError(error);
  return found !== undefined && (name === undefined || found.name === name);
}
