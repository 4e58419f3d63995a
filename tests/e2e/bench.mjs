// Node benchmark (not a test): throughput of eth_sendRawTransaction and eth_call latency, as a
// client sees them. Usage: node bench.mjs RPC_URL LABEL N [CLASSIFIER_BYTECODE_HEX MODEL_ID]
// Prints one JSON object. Transactions are signed before the clock starts.
import { readFileSync } from 'node:fs';
import { createPublicClient, encodeFunctionData, encodeDeployData, http } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';

const [rpc, label, nArg, withInference] = process.argv.slice(2);
const N = Number(nArg);
const KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';
const TO = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const account = privateKeyToAccount(KEY);
const client = createPublicClient({ transport: http(rpc, { timeout: 60_000 }) });
const chainId = await client.getChainId();
const fee = { maxFeePerGas: 10_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n, type: 'eip1559' };
let nonce = await client.getTransactionCount({ address: account.address });

const send = async (raws) => {
  const start = performance.now();
  let last;
  for (const raw of raws) last = await client.request({ method: 'eth_sendRawTransaction', params: [raw] });
  await client.waitForTransactionReceipt({ hash: last });
  return (performance.now() - start) / 1000;
};
const sign = (tx) => account.signTransaction({ chainId, nonce: nonce++, ...fee, ...tx });

const out = { label, n: N };
const transfers = [];
for (let i = 0; i < N; i++) transfers.push(await sign({ to: TO, value: 1n, gas: 21_000n }));
const t = await send(transfers);
out.transfers_per_s = N / t;
out.ms_per_transfer_block = (t * 1000) / N;

if (withInference) {
  const root = new URL('../../', import.meta.url);
  const art = JSON.parse(readFileSync(new URL('contracts/out/DigitClassifier.json', root)));
  const modelId = process.argv[6];
  const deploy = await sign({
    data: encodeDeployData({ abi: art.abi, bytecode: art.bytecode, args: [modelId] }), gas: 3_000_000n,
  });
  const hash = await client.request({ method: 'eth_sendRawTransaction', params: [deploy] });
  const { contractAddress } = await client.waitForTransactionReceipt({ hash });
  const pixels = Array.from({ length: 64 }, (_, i) => (i * 7) % 17);
  const data = encodeFunctionData({ abi: art.abi, functionName: 'classify', args: [pixels] });
  const calls = [];
  for (let i = 0; i < N; i++) calls.push(await sign({ to: contractAddress, data, gas: 500_000n }));
  const ti = await send(calls);
  out.inference_txs_per_s = N / ti;
  const view = encodeFunctionData({ abi: art.abi, functionName: 'predict', args: [pixels] });
  const lat = [];
  for (let i = 0; i < N; i++) {
    const s = performance.now();
    await client.request({ method: 'eth_call', params: [{ to: contractAddress, data: view }, 'latest'] });
    lat.push(performance.now() - s);
  }
  lat.sort((a, b) => a - b);
  out.eth_call_inference_median_ms = lat[Math.floor(lat.length / 2)];
  out.eth_call_inference_p90_ms = lat[Math.floor(lat.length * 0.9)];
}
console.log(JSON.stringify(out));
