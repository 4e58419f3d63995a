// The viem half of the end-to-end test: prova_* extensions, a contract read, and a custom
// error decoded from a revert. Prints one TAP-style line per check.
// Usage: node viem.mjs RPC_URL CLASSIFIER TX_HASH MODEL_ID
import { readFileSync } from 'node:fs';
import {
  BaseError, ContractFunctionRevertedError, createPublicClient, createWalletClient, decodeEventLog,
  http, keccak256, verifyMessage, webSocket,
} from 'viem';

const [rpc, classifier, txHash, modelId] = process.argv.slice(2);
const root = new URL('../../', import.meta.url);
const artifact = (name) => JSON.parse(readFileSync(new URL(`contracts/out/${name}.json`, root)));
const digitAbi = artifact('DigitClassifier').abi;
const inferAbi = artifact('IProvaInference').abi;
const INFER = '0x0000000000000000000000000000000000000f00';
const PIXELS = [0, 0, 7, 16, 14, 3, 0, 0, 0, 0, 9, 14, 11, 15, 0, 0, 0, 0, 1, 5, 0, 15, 5, 0, 0, 0, 0, 0,
  0, 16, 5, 0, 0, 0, 0, 0, 3, 16, 4, 0, 0, 0, 0, 1, 12, 14, 1, 0, 0, 0, 5, 12, 16, 16, 14, 1, 0, 0, 8, 16,
  14, 10, 13, 3];

const client = createPublicClient({ transport: http(rpc, { timeout: 30_000 }) });
let failed = 0;
async function check(name, fn) {
  try {
    const ok = await fn();
    if (ok === false) throw new Error('check returned false');
    console.log(`ok - viem: ${name}`);
  } catch (e) {
    failed++;
    console.log(`not ok - viem: ${name}: ${String(e?.shortMessage ?? e?.message ?? e).split('\n')[0]}`);
  }
}
const eq = (a, b, what) => {
  if (String(a).toLowerCase() !== String(b).toLowerCase()) throw new Error(`${what}: ${a} != ${b}`);
  return true;
};

const receipt = await client.getTransactionReceipt({ hash: txHash });
let records = [];

await check('chain id', async () => eq(await client.getChainId(), 31337, 'chain id'));
await check('prova_getInferences(tx hash)', async () => {
  records = await client.request({ method: 'prova_getInferences', params: [txHash] });
  eq(records.length, 1, 'records');
  const r = records[0];
  eq(r.modelId, modelId, 'model id');
  eq(r.txHash, txHash, 'tx hash');
  eq(r.success, true, 'success');
  eq(r.outputs.length > 0, true, 'outputs');
  return true;
});
await check('prova_getInferences(block number) has the same record', async () => {
  const byBlock = await client.request({
    method: 'prova_getInferences', params: [`0x${receipt.blockNumber.toString(16)}`],
  });
  return eq(JSON.stringify(byBlock), JSON.stringify(records), 'records');
});
await check('output hash = keccak256(witness output bytes)', async () => {
  const block = await client.request({
    method: 'prova_getBlockWithWitness', params: [`0x${receipt.blockNumber.toString(16)}`],
  });
  eq(block.witness.length, 1, 'witness records');
  eq(block.hash, receipt.blockHash, 'block hash');
  return eq(keccak256(block.witness[0].output), records[0].outputHash, 'output hash');
});
await check('Classified log decoded (input hash = keccak256(pixels))', async () => {
  const log = receipt.logs.find((l) => l.address.toLowerCase() === classifier.toLowerCase());
  const ev = decodeEventLog({ abi: digitAbi, data: log.data, topics: log.topics });
  eq(ev.eventName, 'Classified', 'event');
  eq(/^0x[0-9a-f]{64}$/.test(records[0].inputHash), true, 'witness input hash');
  return eq(ev.args.inputHash, keccak256(new Uint8Array(PIXELS)), 'input hash');
});
await check('readContract predict = logged digit', async () => {
  const digit = await client.readContract({
    address: classifier, abi: digitAbi, functionName: 'predict', args: [PIXELS],
  });
  const log = receipt.logs[0];
  const ev = decodeEventLog({ abi: digitAbi, data: log.data, topics: log.topics });
  return eq(digit, ev.args.digit, 'digit');
});
await check('prova_getModel', async () => {
  const info = await client.request({ method: 'prova_getModel', params: [modelId] });
  return eq(info.inputs[0].shape.join('x'), '1x64', 'input shape');
});
await check('UnknownModel custom error decoded from the revert', async () => {
  const unknown = `0x${'ab'.repeat(32)}`;
  try {
    await client.readContract({ address: INFER, abi: inferAbi, functionName: 'infer', args: [unknown, []] });
  } catch (e) {
    const revert = e instanceof BaseError && e.walk((x) => x instanceof ContractFunctionRevertedError);
    if (!revert) throw e;
    eq(revert.data?.errorName, 'UnknownModel', 'error name');
    return eq(revert.data.args[0], unknown, 'error arg');
  }
  throw new Error('the call did not revert');
});
await check('estimateGas reverts with the same error', async () => {
  try {
    await client.estimateContractGas({
      address: INFER, abi: inferAbi, functionName: 'infer', args: [`0x${'cd'.repeat(32)}`, []],
    });
  } catch (e) {
    const revert = e instanceof BaseError && e.walk((x) => x instanceof ContractFunctionRevertedError);
    if (!revert) throw e;
    return eq(revert.data?.errorName, 'UnknownModel', 'error name');
  }
  throw new Error('the estimate did not revert');
});
await check('getLogs finds the Classified event', async () => {
  const logs = await client.getLogs({ address: classifier, fromBlock: 0n, toBlock: 'latest' });
  return eq(logs.length, 1, 'logs');
});
await check('fee history and block', async () => {
  const fees = await client.getFeeHistory({ blockCount: 4, rewardPercentiles: [50] });
  const block = await client.getBlock({ blockHash: receipt.blockHash, includeTransactions: true });
  eq(block.transactions[0].hash, txHash, 'tx in block');
  return eq(fees.baseFeePerGas.length > 1, true, 'base fees');
});
// The node's dev accounts sign (a JSON-RPC account: eth_sendTransaction, personal_sign), and
// events arrive through filters (eth_newFilter / eth_getFilterChanges).
const ALICE = '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266';
const wallet = createWalletClient({ account: ALICE, transport: http(rpc, { timeout: 30_000 }) });
await check('eth_sendTransaction from a dev account', async () => {
  const hash = await wallet.sendTransaction({
    to: '0x000000000000000000000000000000000000bEEF', value: 1n, chain: null,
  });
  const r = await client.waitForTransactionReceipt({ hash });
  return eq(r.status, 'success', 'status');
});
await check('personal_sign from a dev account verifies', async () => {
  const signature = await wallet.signMessage({ message: 'prova' });
  return eq(await verifyMessage({ address: ALICE, message: 'prova', signature }), true, 'verified');
});
await check('watchContractEvent delivers Classified through a filter', async () => {
  let unwatch = () => {};
  const got = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no event within 20 s')), 20_000);
    unwatch = client.watchContractEvent({
      address: classifier, abi: digitAbi, eventName: 'Classified', poll: true, pollingInterval: 200,
      onLogs: (logs) => { clearTimeout(timer); resolve(logs); },
      onError: (e) => { clearTimeout(timer); reject(e); },
    });
  });
  await new Promise((r) => setTimeout(r, 800)); // the filter is installed on the first poll
  const hash = await wallet.writeContract({
    address: classifier, abi: digitAbi, functionName: 'classify', args: [PIXELS], chain: null,
  });
  try {
    const logs = await got;
    return eq(logs[0].transactionHash, hash, 'tx hash');
  } finally {
    unwatch();
  }
});
await check('multicall through the Multicall3 predeploy (inference inside the batch)', async () => {
  const [digit, id] = await client.multicall({
    multicallAddress: '0xcA11bde05977b3631167028862bE2a173976CA11',
    allowFailure: false,
    contracts: [
      { address: classifier, abi: digitAbi, functionName: 'predict', args: [PIXELS] },
      { address: classifier, abi: digitAbi, functionName: 'modelId' },
    ],
  });
  const single = await client.readContract({
    address: classifier, abi: digitAbi, functionName: 'predict', args: [PIXELS],
  });
  eq(digit, single, 'digit');
  return eq(id, modelId, 'model id');
});
await check('eth_subscribe over WebSocket delivers newHeads and logs', async () => {
  const ws = createPublicClient({ transport: webSocket(rpc.replace(/^http/, 'ws'), { timeout: 30_000 }) });
  const unwatch = [];
  const wait = (what, subscribe) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${what} within 20 s`)), 20_000);
    unwatch.push(subscribe((v) => { clearTimeout(timer); resolve(v); }, (e) => { clearTimeout(timer); reject(e); }));
  });
  const head = wait('newHeads', (ok, err) => ws.watchBlockNumber({ onBlockNumber: ok, onError: err }));
  const logs = wait('logs', (ok, err) => ws.watchContractEvent({
    address: classifier, abi: digitAbi, eventName: 'Classified', onLogs: ok, onError: err,
  }));
  try {
    await new Promise((r) => setTimeout(r, 800)); // both subscriptions are set up
    const hash = await wallet.writeContract({
      address: classifier, abi: digitAbi, functionName: 'classify', args: [PIXELS], chain: null,
    });
    const receipt = await client.waitForTransactionReceipt({ hash });
    const [number, got] = await Promise.all([head, logs]);
    eq(number, receipt.blockNumber, 'new head');
    return eq(got[0].transactionHash, hash, 'log tx hash');
  } finally {
    unwatch.forEach((u) => u());
  }
});
process.exit(failed === 0 ? 0 : 1);
