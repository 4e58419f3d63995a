// Typed calls to the precompiles: INFER (`infer`, `inferFixed`, `modelInfo`, `generate`,
// `decoderInfo`) through eth_call, MODEL_REGISTRY (`exists`, `deploy`).
import {
  bytesToHex,
  isHex,
  keccak256,
  type Account,
  type Address,
  type BlockTag,
  type Chain,
  type Client,
  type Hex,
  type TransactionReceipt,
  type Transport,
} from 'viem';
import { readContract, waitForTransactionReceipt, writeContract } from 'viem/actions';
import { MODEL_REGISTRY, PROVA_INFERENCE, modelRegistryAbi, provaInferenceAbi } from './abi.js';
import { fromFixed, toFixed, type FixedInput, type FromFixedResult } from './fixed.js';
import {
  decodeTensor,
  dtypeName,
  encodeTensor,
  type AbiTensor,
  type DType,
  type DecodedTensor,
  type NestedArray,
  type TensorTemplate,
  type TensorValues,
} from './tensor.js';

/** Where and as whom an eth_call runs (all optional; default: the latest block). */
export interface CallOptions {
  blockNumber?: bigint;
  blockTag?: BlockTag;
  /** `from` of the call. */
  account?: Address | Account;
  /** Gas limit of the call (default: the node's). */
  gas?: bigint;
}

type AnyClient = Client<Transport, Chain | undefined, Account | undefined>;

/** An input for `infer`: an encoded `Tensor` struct, or values to encode with their dtype. */
export type InferInput = AbiTensor | { dtype: DType; values: TensorValues; shape?: readonly (number | bigint)[] };

function callOptions(opts: CallOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (opts.blockNumber !== undefined) out.blockNumber = opts.blockNumber;
  else if (opts.blockTag !== undefined) out.blockTag = opts.blockTag;
  if (opts.account !== undefined) out.account = opts.account;
  if (opts.gas !== undefined) out.gas = opts.gas;
  return out;
}

function toBytesHex(bytes: Uint8Array | Hex): Hex {
  if (typeof bytes === 'string') {
    if (!isHex(bytes, { strict: true }) || bytes.length % 2 !== 0) throw new Error('expected bytes as a Uint8Array or 0x-prefixed hex');
    return bytes;
  }
  return bytesToHex(bytes);
}

function checkModelId(modelId: Hex): void {
  if (!isHex(modelId, { strict: true }) || modelId.length !== 66) {
    throw new Error(`model id must be 32 bytes of 0x-prefixed hex, got ${String(modelId)}`);
  }
}

/** The model id of ONNX bytes: `keccak256(bytes)`. */
export function modelIdOf(onnx: Uint8Array | Hex): Hex {
  return keccak256(toBytesHex(onnx));
}

function toAbiTensor(input: InferInput, index: number): AbiTensor {
  if ('values' in input) {
    try {
      return encodeTensor(input.values, input.dtype, input.shape);
    } catch (e) {
      throw new Error(`inputs[${index}]: ${(e as Error).message}`);
    }
  }
  return input;
}

/**
 * Runs model `modelId` on raw tensors with an eth_call to INFER (`IProvaInference.infer`) and
 * decodes the outputs.
 *
 * @param inputs one per model input, in the model's order: `encodeTensor(...)` results or
 *   `{ dtype, values, shape? }` to encode here.
 * @throws viem's `ContractFunctionExecutionError` on a revert (`decodeProvaError` gives
 *   `UnknownModel`, `BadInput`, `InferenceFailed`), `Error` on a local encoding problem.
 */
export async function infer(
  client: AnyClient,
  modelId: Hex,
  inputs: readonly InferInput[] | InferInput,
  opts: CallOptions = {},
): Promise<DecodedTensor[]> {
  const raw = await inferRaw(client, modelId, inputs, opts);
  return raw.map((t, i) => {
    try {
      return decodeTensor(t);
    } catch (e) {
      throw new Error(`output ${i}: ${(e as Error).message}`);
    }
  });
}

/** As `infer`, returning the `Tensor` structs as the precompile returned them (undecoded). */
export async function inferRaw(
  client: AnyClient,
  modelId: Hex,
  inputs: readonly InferInput[] | InferInput,
  opts: CallOptions = {},
): Promise<readonly AbiTensor[]> {
  checkModelId(modelId);
  const list = (Array.isArray(inputs) ? inputs : [inputs]) as readonly InferInput[];
  const args = list.map(toAbiTensor).map((t) => ({ dtype: t.dtype, shape: [...t.shape], data: t.data }));
  return readContract(client, {
    address: PROVA_INFERENCE,
    abi: provaInferenceAbi,
    functionName: 'infer',
    args: [modelId, args],
    ...callOptions(opts),
  });
}

/** One output of `inferFixed`: the raw fixed-point elements plus numbers and exact strings. */
export interface FixedOutput extends FromFixedResult {
  /** The int256 elements as returned (`elements[k] / 10^decimals`). */
  elements: readonly bigint[];
}

/**
 * Runs a single-input model on fixed-point numbers (`IProvaInference.inferFixed`).
 *
 * @param values numbers, decimal strings or bigints (nested arrays or flat), converted exactly
 *   with `toFixed(values, decimals)`; for an integer or bool model input, use `decimals` 0.
 * @param shape the input shape; `undefined` infers it from the nesting of `values`.
 * @param decimals 0..77: the scale of the inputs and of float outputs (integer outputs come back
 *   with decimals 0).
 */
export async function inferFixed(
  client: AnyClient,
  modelId: Hex,
  values: NestedArray<FixedInput> | readonly FixedInput[],
  shape: readonly (number | bigint)[] | undefined,
  decimals: number,
  opts: CallOptions = {},
): Promise<FixedOutput[]> {
  checkModelId(modelId);
  const fixed = toFixed(values, decimals, shape === undefined ? {} : { shape });
  const outputs = await readContract(client, {
    address: PROVA_INFERENCE,
    abi: provaInferenceAbi,
    functionName: 'inferFixed',
    args: [modelId, fixed.elements, fixed.shape, decimals],
    ...callOptions(opts),
  });
  return outputs.map((o) => ({ ...fromFixed(o), elements: o.elements }));
}

/** What `modelInfo` returns. */
export interface ModelInfo {
  /** Size of the ONNX bytes. */
  sizeBytes: bigint;
  /** Work of one inference in MAC-equivalents (docs/gas.md). */
  macs: bigint;
  /** Gas the precompile charges for one (warm) inference. */
  gasPerCall: bigint;
  /** dtype and shape of each input, in order. */
  inputs: TensorTemplate[];
  /** dtype and shape of each output, in order. */
  outputs: TensorTemplate[];
}

/** Describes a deployed model (`IProvaInference.modelInfo`); reverts with `UnknownModel` if absent. */
export async function modelInfo(client: AnyClient, modelId: Hex, opts: CallOptions = {}): Promise<ModelInfo> {
  checkModelId(modelId);
  const [sizeBytes, macs, gasPerCall, ins, outs] = await readContract(client, {
    address: PROVA_INFERENCE,
    abi: provaInferenceAbi,
    functionName: 'modelInfo',
    args: [modelId],
    ...callOptions(opts),
  });
  const template = (t: { dtype: number; shape: readonly bigint[] }): TensorTemplate => ({
    dtype: dtypeName(t.dtype),
    shape: t.shape.map((d) => Number(d)),
  });
  return { sizeBytes, macs, gasPerCall, inputs: ins.map(template), outputs: outs.map(template) };
}

/** Options of `generate`: greedy by default. */
export interface GenerateOptions extends CallOptions {
  /** Sampling temperature (0 = greedy); sent in thousandths, so 0.8 is `temperatureMilli` 800. */
  temperature?: number;
  /** Sample among the `topK` most likely tokens; 0 (default) for the whole vocabulary. */
  topK?: number;
  /** The sampler's seed (ignored when greedy). */
  seed?: bigint | number;
}

/**
 * Token ids a deployed language model generates after `prompt` (`IProvaInference.generate`,
 * docs/generation.md): greedy when `temperature` is 0, otherwise seeded sampling, the same
 * tokens on every node. Reverts `BadInput` for a bad prompt or lengths, `UnknownModel` if absent.
 */
export async function generate(
  client: AnyClient,
  modelId: Hex,
  prompt: readonly number[],
  maxNewTokens: number,
  opts: GenerateOptions = {},
): Promise<number[]> {
  checkModelId(modelId);
  const milli = Math.round((opts.temperature ?? 0) * 1000);
  if (!Number.isFinite(milli) || milli < 0 || milli > 0xffffffff) throw new Error(`temperature ${opts.temperature} is out of range`);
  const seed = BigInt.asUintN(64, BigInt(opts.seed ?? 0));
  const tokens = await readContract(client, {
    address: PROVA_INFERENCE,
    abi: provaInferenceAbi,
    functionName: 'generate',
    args: [modelId, prompt, maxNewTokens, seed, milli, opts.topK ?? 0],
    ...callOptions(opts),
  });
  return [...tokens];
}

/** What `decoderInfo` returns. */
export interface DecoderInfo {
  vocabSize: number;
  maxContext: number;
  /** The end-of-sequence token, or undefined if the model has none. */
  eosToken: number | undefined;
  /** Gas of one token (one step at the longest context). */
  gasPerToken: bigint;
  /** Gas of a call on top of its tokens (warm model). */
  baseGas: bigint;
}

/** Describes a deployed language model (`IProvaInference.decoderInfo`). */
export async function decoderInfo(client: AnyClient, modelId: Hex, opts: CallOptions = {}): Promise<DecoderInfo> {
  checkModelId(modelId);
  const [vocabSize, maxContext, eos, gasPerToken, baseGas] = await readContract(client, {
    address: PROVA_INFERENCE,
    abi: provaInferenceAbi,
    functionName: 'decoderInfo',
    args: [modelId],
    ...callOptions(opts),
  });
  return { vocabSize, maxContext, eosToken: eos === 0xffffffff ? undefined : eos, gasPerToken, baseGas };
}

/** Whether model `modelId` is deployed (`IModelRegistry.exists`). */
export async function modelExists(client: AnyClient, modelId: Hex, opts: CallOptions = {}): Promise<boolean> {
  checkModelId(modelId);
  return readContract(client, {
    address: MODEL_REGISTRY,
    abi: modelRegistryAbi,
    functionName: 'exists',
    args: [modelId],
    ...callOptions(opts),
  });
}

/** What `deployModel` returns. */
export interface DeployModelResult {
  /** keccak256 of the ONNX bytes. */
  modelId: Hex;
  /** True when the model was already deployed and no transaction was sent. */
  alreadyDeployed: boolean;
  /** The deploy transaction, when one was sent. */
  transactionHash: Hex | undefined;
  /** Its receipt, when one was sent. */
  receipt: TransactionReceipt | undefined;
}

/** Options of `deployModel`. */
export interface DeployModelOptions {
  /** Sender (default: the wallet client's account). */
  account?: Address | Account;
  /** Gas limit (default: estimated by the node). */
  gas?: bigint;
  /** Receipt wait timeout in ms (default 60 s). */
  timeout?: number;
}

/**
 * Deploys ONNX bytes through MODEL_REGISTRY (`IModelRegistry.deploy`) and waits for the receipt.
 * Deploying is idempotent on chain, so `exists(modelIdOf(onnx))` is checked first and no
 * transaction is sent for a model already deployed.
 *
 * @throws viem's error on a refusal (`decodeProvaError` gives `ModelRejected(reason)`), `Error`
 *   if the transaction reverted or the model is still absent after it.
 */
export async function deployModel(
  walletClient: AnyClient,
  publicClient: AnyClient,
  onnx: Uint8Array | Hex,
  opts: DeployModelOptions = {},
): Promise<DeployModelResult> {
  const data = toBytesHex(onnx);
  const modelId = keccak256(data);
  if (await modelExists(publicClient, modelId)) {
    return { modelId, alreadyDeployed: true, transactionHash: undefined, receipt: undefined };
  }
  const account = opts.account ?? walletClient.account;
  if (account === undefined) throw new Error('deployModel: the wallet client has no account (pass opts.account)');
  const params = {
    address: MODEL_REGISTRY,
    abi: modelRegistryAbi,
    functionName: 'deploy',
    args: [data],
    account,
    chain: walletClient.chain ?? null,
    ...(opts.gas === undefined ? {} : { gas: opts.gas }),
  } as const;
  const transactionHash = await writeContract(walletClient, params as Parameters<typeof writeContract>[1]);
  const receipt = await waitForTransactionReceipt(publicClient, { hash: transactionHash, timeout: opts.timeout ?? 60_000 });
  if (receipt.status !== 'success') {
    throw new Error(`deployModel: transaction ${transactionHash} reverted (block ${receipt.blockNumber})`);
  }
  if (!(await modelExists(publicClient, modelId, { blockNumber: receipt.blockNumber }))) {
    throw new Error(`deployModel: transaction ${transactionHash} succeeded but model ${modelId} is not registered`);
  }
  return { modelId, alreadyDeployed: false, transactionHash, receipt };
}
