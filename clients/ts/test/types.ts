// Compile-time checks (tsc -p tsconfig.test.json, no output): viem infers types through the
// exported ABIs, `withProvaErrors` keeps a contract ABI's functions, `provaActions` extends a
// public client.
import { createPublicClient, createWalletClient, http, rpcSchema, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { mainnet } from 'viem/chains';
import {
  provaActions,
  provaInferenceAbi,
  modelRegistryAbi,
  PROVA_INFERENCE,
  MODEL_REGISTRY,
  withProvaErrors,
  decodeProvaError,
  type ProvaError,
  infer,
  inferFixed,
  modelInfo,
  deployModel,
  encodeTensor,
  type ProvaRpcSchema,
} from '../src/index.js';

const client = createPublicClient({ transport: http('http://127.0.0.1:1') }).extend(provaActions);
const id = `0x${'00'.repeat(32)}` as Hex;
// The raw methods, typed through viem's rpcSchema.
const raw = createPublicClient({ transport: http('http://127.0.0.1:1'), rpcSchema: rpcSchema<ProvaRpcSchema>() });
export async function rawTyped(): Promise<number | undefined> {
  const records = await raw.request({ method: 'prova_getInferences', params: [id] });
  // @ts-expect-error: prova_getGenesis takes no parameters
  await raw.request({ method: 'prova_getGenesis', params: [id] });
  const genesis = await raw.request({ method: 'prova_getGenesis' });
  return records?.length ?? genesis.chainId;
}

export async function typed(): Promise<void> {
  // readContract infers the struct outputs from the const ABI.
  const outs = await client.readContract({ address: PROVA_INFERENCE, abi: provaInferenceAbi, functionName: 'infer', args: [id, []] });
  const dtype: number = outs[0]!.dtype;
  const shape: readonly bigint[] = outs[0]!.shape;
  const fixed = await client.readContract({
    address: PROVA_INFERENCE, abi: provaInferenceAbi, functionName: 'inferFixed', args: [id, [1n], [1n], 6],
  });
  const elements: readonly bigint[] = fixed[0]!.elements;
  const exists: boolean = await client.readContract({ address: MODEL_REGISTRY, abi: modelRegistryAbi, functionName: 'exists', args: [id] });
  // @ts-expect-error: no such function
  await client.readContract({ address: PROVA_INFERENCE, abi: provaInferenceAbi, functionName: 'nope', args: [] });

  // A contract ABI with the precompile errors merged keeps its functions typed.
  const contractAbi = [
    { type: 'function', name: 'predict', stateMutability: 'view', inputs: [{ name: 'x', type: 'uint8[64]' }], outputs: [{ name: '', type: 'uint256' }] },
  ] as const;
  const merged = withProvaErrors(contractAbi);
  const digit: bigint = await client.readContract({ address: PROVA_INFERENCE, abi: merged, functionName: 'predict', args: [[]] as unknown as readonly number[] & { length: 64 } as never });

  // The extension's methods are typed.
  const model = await client.getModel(id);
  const gas: number | undefined = model?.gasPerCall;
  const records = await client.getInferences(id);
  const blk: bigint | undefined = records?.[0]?.blockNumber;
  const block = await client.getBlockWithWitness('latest');
  const witnessGas: bigint | undefined = block?.witness[0]?.gas;
  const genesis = await client.getGenesis();
  const chainId: number = genesis.chainId;

  const e: ProvaError | undefined = decodeProvaError(new Error('x'));
  if (e?.name === 'BadInput') {
    const index: bigint = e.args[0];
    void index;
  }
  void [dtype, shape, elements, exists, digit, gas, blk, witnessGas, chainId];

  // The helpers take viem's public and wallet clients as they are typed.
  const wallet = createWalletClient({ account: privateKeyToAccount(`0x${'11'.repeat(32)}`), chain: mainnet, transport: http() });
  const jsonRpcWallet = createWalletClient({ account: '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266', transport: http() });
  const plain = createPublicClient({ chain: mainnet, transport: http() });
  const decoded = await infer(plain, id, [encodeTensor([1], 'f32'), { dtype: 'u8', values: [1, 2] }]);
  if (decoded[0]?.dtype === 'f32') {
    const f: Float32Array = decoded[0].data;
    void f;
  }
  const fx = await inferFixed(client, id, [['0.5', 1]], undefined, 6, { blockTag: 'latest' });
  const strings: string[] = fx[0]!.strings;
  const info = await modelInfo(client, id, { blockNumber: 1n });
  const r = await deployModel(wallet, plain, new Uint8Array([1]));
  const r2 = await deployModel(jsonRpcWallet, client, '0x01');
  void [strings, info.gasPerCall, r.modelId, r2.receipt];
}
