// The node's own JSON-RPC methods (crates/rpc/src/prova.rs) as a viem client extension:
//
//   const client = createPublicClient({ transport: http(url) }).extend(provaActions);
//   await client.getInferences(txHash);
import { hexToBigInt, hexToNumber, isHex, numberToHex, type Address, type BlockTag, type Client, type Hex } from 'viem';
import { dtypeCode, dtypeName, type DType } from './tensor.js';

/** A tensor in the node's JSON form: `{"dtype":"f32","shape":[1,4],"data":[0.5,1,2,3]}`. */
export interface JsonTensor {
  dtype: DType;
  shape: number[];
  /**
   * Elements: numbers (floats in their shortest form), booleans for bool, and the strings
   * `"NaN"`, `"Infinity"`, `"-Infinity"`. i64 values beyond 2^53 lose precision when parsed as
   * JSON: use the witness bytes (`getBlockWithWitness`) for exact values.
   */
  data: (number | boolean | 'NaN' | 'Infinity' | '-Infinity')[];
}

// ---- wire forms (what the node sends) ----

/** `prova_getInferences` record as sent by the node (quantities as hex). */
export interface RpcInferenceRecord {
  blockNumber: Hex;
  txHash: Hex | null;
  txIndex: Hex;
  callIndex: Hex;
  modelId: Hex;
  inputHash: Hex;
  gas: Hex;
  success: boolean;
  outputHash?: Hex;
  outputs?: JsonTensor[] | null;
  error?: Hex;
}

/** A witness record of `prova_getBlockWithWitness` as sent by the node. */
export interface RpcWitnessRecord {
  txIndex: Hex;
  callIndex: Hex;
  modelId: Hex;
  inputHash: Hex;
  output: Hex;
  gas: Hex;
  success: boolean;
}

/** The Ethereum header fields of `prova_getBlockWithWitness` (hex quantities, as eth_getBlock*). */
export interface RpcHeader {
  parentHash: Hex;
  sha3Uncles: Hex;
  miner: Address;
  stateRoot: Hex;
  transactionsRoot: Hex;
  receiptsRoot: Hex;
  logsBloom: Hex;
  difficulty: Hex;
  number: Hex;
  gasLimit: Hex;
  gasUsed: Hex;
  timestamp: Hex;
  extraData: Hex;
  mixHash: Hex;
  nonce: Hex;
  baseFeePerGas?: Hex;
  withdrawalsRoot?: Hex;
  blobGasUsed?: Hex;
  excessBlobGas?: Hex;
  parentBeaconBlockRoot?: Hex;
  [field: string]: Hex | Address | undefined;
}

/** `prova_getBlockWithWitness` as sent by the node. */
export interface RpcBlockWithWitness {
  number: Hex;
  hash: Hex;
  header: RpcHeader;
  headerRlp: Hex;
  inferencesRoot: Hex | null;
  transactions: Hex[];
  witness: RpcWitnessRecord[];
}

/** `prova_getModel` as sent by the node (today in snake_case; camelCase accepted as well). */
export type RpcModel = Record<string, unknown>;

/** An account of the genesis allocation. */
export interface GenesisAccount {
  balance: Hex;
  nonce: number;
  code: Hex;
  storage: Record<Hex, Hex>;
}

/** `prova_getGenesis`: everything that defines block 0 (the node's JSON form, unchanged). */
export interface ProvaGenesis {
  chainId: number;
  gasLimit: number;
  baseFee: number;
  timestamp: number;
  beneficiary: Address;
  alloc: Record<Address, GenesisAccount>;
  /** ONNX bytes of the models registered at genesis. */
  models: Hex[];
}

/** viem `rpcSchema` entries of the `prova_*` methods (for `createPublicClient({ rpcSchema })`). */
export type ProvaRpcSchema = [
  { Method: 'prova_getModel'; Parameters: [modelId: Hex]; ReturnType: RpcModel | null },
  { Method: 'prova_getInferences'; Parameters: [target: Hex | BlockTag]; ReturnType: RpcInferenceRecord[] | null },
  { Method: 'prova_getBlockWithWitness'; Parameters: [block: Hex | BlockTag]; ReturnType: RpcBlockWithWitness | null },
  { Method: 'prova_getGenesis'; Parameters?: undefined; ReturnType: ProvaGenesis },
];

// ---- formatted forms (what the actions return) ----

/** A model input or output. */
export interface ModelTensorSpec {
  /** ONNX value name. */
  name: string;
  dtype: DType;
  /** Static shape (a symbolic batch dimension is fixed at admission). */
  shape: number[];
}

/** `getModel`: everything the node knows about an admitted model. */
export interface ProvaModel {
  /** keccak256 of the ONNX bytes. */
  id: Hex;
  sizeBytes: number;
  /** Default-domain opset. */
  opset: number;
  inputs: ModelTensorSpec[];
  outputs: ModelTensorSpec[];
  /** Operator histogram (domain-qualified names). */
  ops: Record<string, number>;
  /** Parameter count. */
  params: number;
  /** Static cost per inference. */
  cost: { macs: number; bytes: number; maxTensorBytes: number; nodes: number };
  /** Gas of a warm call (model already used in the transaction). */
  gasPerCall: number;
  /** Gas of a cold call (first use in the transaction). */
  gasColdCall: number;
}

/** `getInferences`: one inference of a transaction or block. */
export interface InferenceRecord {
  blockNumber: bigint;
  txHash: Hex | null;
  txIndex: number;
  /** Order of the INFER call within its transaction. */
  callIndex: number;
  modelId: Hex;
  /** keccak256 of the canonical encoding of the inputs. */
  inputHash: Hex;
  /** Gas charged for the inference. */
  gas: bigint;
  success: boolean;
  /** keccak256 of the canonical encoding of the outputs (success only). */
  outputHash?: Hex;
  /** The outputs in JSON form (success only). */
  outputs?: JsonTensor[] | null;
  /** The revert data (failure only). */
  error?: Hex;
}

/** A witness record (consensus fields): `output` is the canonical encoding of the outputs. */
export interface WitnessRecord {
  txIndex: number;
  callIndex: number;
  modelId: Hex;
  inputHash: Hex;
  /** Canonical tensors (`decodeCanonicalTensors`) on success, revert data otherwise. */
  output: Hex;
  gas: bigint;
  success: boolean;
}

/** `getBlockWithWitness`: header, raw transactions and inference witness of a block. */
export interface BlockWithWitness {
  number: bigint;
  hash: Hex;
  /** The header in the node's JSON form (hex quantities). */
  header: RpcHeader;
  headerRlp: Hex;
  inferencesRoot: Hex | null;
  /** Raw (EIP-2718) transactions, in order. */
  transactions: Hex[];
  witness: WitnessRecord[];
}

/** What `provaActions` adds to a client. */
// A type alias, not an interface: viem's `extend` needs an implicit index signature.
export type ProvaActions = {
  /** `prova_getModel`: the model's description, or `null` when no such model is deployed. */
  getModel(modelId: Hex): Promise<ProvaModel | null>;
  /**
   * `prova_getInferences`: the inferences of a transaction (by hash) or of a block (number or
   * tag); `null` for an unknown transaction or a block beyond the head.
   */
  getInferences(target: Hex | bigint | number | BlockTag): Promise<InferenceRecord[] | null>;
  /** `prova_getBlockWithWitness`: `null` for a block beyond the head. */
  getBlockWithWitness(block: bigint | number | BlockTag | Hex): Promise<BlockWithWitness | null>;
  /** `prova_getGenesis`. */
  getGenesis(): Promise<ProvaGenesis>;
};

function blockParam(block: bigint | number | BlockTag | Hex): Hex | BlockTag {
  if (typeof block === 'bigint' || typeof block === 'number') {
    if (block < 0 || (typeof block === 'number' && !Number.isSafeInteger(block))) {
      throw new Error(`block number must be a non-negative integer, got ${block}`);
    }
    return numberToHex(block);
  }
  return block;
}

function pick(o: RpcModel, ...keys: string[]): unknown {
  for (const k of keys) if (k in o) return o[k];
  throw new Error(`prova_getModel: the node's answer has no "${keys.join('" or "')}"`);
}

function spec(v: unknown): ModelTensorSpec {
  const s = v as { name: string; dtype: string; shape: number[] };
  return { name: s.name, dtype: dtypeName(dtypeCode(s.dtype)), shape: s.shape };
}

/** Converts the node's `prova_getModel` answer (snake_case or camelCase keys) into `ProvaModel`. */
export function formatModel(o: RpcModel): ProvaModel {
  const cost = pick(o, 'cost') as RpcModel;
  return {
    id: pick(o, 'id') as Hex,
    sizeBytes: pick(o, 'sizeBytes', 'size_bytes') as number,
    opset: pick(o, 'opset') as number,
    inputs: (pick(o, 'inputs') as unknown[]).map(spec),
    outputs: (pick(o, 'outputs') as unknown[]).map(spec),
    ops: pick(o, 'ops') as Record<string, number>,
    params: pick(o, 'params') as number,
    cost: {
      macs: pick(cost, 'macs') as number,
      bytes: pick(cost, 'bytes') as number,
      maxTensorBytes: pick(cost, 'maxTensorBytes', 'max_tensor_bytes') as number,
      nodes: pick(cost, 'nodes') as number,
    },
    gasPerCall: pick(o, 'gasPerCall', 'gas_per_call') as number,
    gasColdCall: pick(o, 'gasColdCall', 'gas_cold_call') as number,
  };
}

/** Converts a `prova_getInferences` record (hex quantities) into `InferenceRecord`. */
export function formatInferenceRecord(r: RpcInferenceRecord): InferenceRecord {
  const out: InferenceRecord = {
    blockNumber: hexToBigInt(r.blockNumber),
    txHash: r.txHash,
    txIndex: hexToNumber(r.txIndex),
    callIndex: hexToNumber(r.callIndex),
    modelId: r.modelId,
    inputHash: r.inputHash,
    gas: hexToBigInt(r.gas),
    success: r.success,
  };
  if (r.outputHash !== undefined) out.outputHash = r.outputHash;
  if (r.outputs !== undefined) out.outputs = r.outputs;
  if (r.error !== undefined) out.error = r.error;
  return out;
}

/** Converts a `prova_getBlockWithWitness` answer (hex quantities) into `BlockWithWitness`. */
export function formatBlockWithWitness(b: RpcBlockWithWitness): BlockWithWitness {
  return {
    number: hexToBigInt(b.number),
    hash: b.hash,
    header: b.header,
    headerRlp: b.headerRlp,
    inferencesRoot: b.inferencesRoot,
    transactions: b.transactions,
    witness: b.witness.map((w) => ({
      txIndex: hexToNumber(w.txIndex),
      callIndex: hexToNumber(w.callIndex),
      modelId: w.modelId,
      inputHash: w.inputHash,
      output: w.output,
      gas: hexToBigInt(w.gas),
      success: w.success,
    })),
  };
}

type RawRequest = <T>(args: { method: string; params: unknown[] }) => Promise<T>;

/**
 * The `prova_*` methods as viem actions: `createPublicClient({...}).extend(provaActions)`.
 */
export function provaActions(client: Pick<Client, 'request'>): ProvaActions {
  const request = client.request as unknown as RawRequest;
  return {
    async getModel(modelId) {
      if (!isHex(modelId, { strict: true }) || modelId.length !== 66) {
        throw new Error(`model id must be 32 bytes of 0x-prefixed hex, got ${String(modelId)}`);
      }
      const o = await request<RpcModel | null>({ method: 'prova_getModel', params: [modelId] });
      return o === null ? null : formatModel(o);
    },
    async getInferences(target) {
      const param = typeof target === 'string' && isHex(target) && target.length === 66 ? target : blockParam(target);
      const records = await request<RpcInferenceRecord[] | null>({ method: 'prova_getInferences', params: [param] });
      return records === null ? null : records.map(formatInferenceRecord);
    },
    async getBlockWithWitness(block) {
      const b = await request<RpcBlockWithWitness | null>({ method: 'prova_getBlockWithWitness', params: [blockParam(block)] });
      return b === null ? null : formatBlockWithWitness(b);
    },
    async getGenesis() {
      return request<ProvaGenesis>({ method: 'prova_getGenesis', params: [] });
    },
  };
}
