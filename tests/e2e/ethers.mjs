// ethers v6 against the dev node: a dev account's signer (eth_sendTransaction), and
// `contract.on` delivering events over HTTP (polling filters) and over WebSocket
// (eth_subscribe). Prints one TAP-style line per check.
// Usage: node ethers.mjs RPC_URL CLASSIFIER
import { readFileSync } from 'node:fs';
import { Contract, JsonRpcProvider, WebSocketProvider } from 'ethers';

const [rpc, classifier] = process.argv.slice(2);
const root = new URL('../../', import.meta.url);
const abi = JSON.parse(readFileSync(new URL('contracts/out/DigitClassifier.json', root))).abi;
const PIXELS = [0, 0, 7, 16, 14, 3, 0, 0, 0, 0, 9, 14, 11, 15, 0, 0, 0, 0, 1, 5, 0, 15, 5, 0, 0, 0, 0, 0,
  0, 16, 5, 0, 0, 0, 0, 0, 3, 16, 4, 0, 0, 0, 0, 1, 12, 14, 1, 0, 0, 0, 5, 12, 16, 16, 14, 1, 0, 0, 8, 16,
  14, 10, 13, 3];
const BEEF = '0x000000000000000000000000000000000000bEEF';

let failed = 0;
async function check(name, fn) {
  try {
    const ok = await fn();
    if (ok === false) throw new Error('check returned false');
    console.log(`ok - ethers: ${name}`);
  } catch (e) {
    failed++;
    console.log(`not ok - ethers: ${name}: ${String(e?.shortMessage ?? e?.message ?? e).split('\n')[0]}`);
  }
}
const eq = (a, b, what) => {
  if (String(a).toLowerCase() !== String(b).toLowerCase()) throw new Error(`${what}: ${a} != ${b}`);
  return true;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const http = new JsonRpcProvider(rpc, undefined, { pollingInterval: 200 });
const signer = await http.getSigner(0);

await check('getSigner().sendTransaction (eth_sendTransaction)', async () => {
  const tx = await signer.sendTransaction({ to: BEEF, value: 1n });
  const r = await tx.wait();
  return eq(r.status, 1, 'status');
});

// One classify transaction; the event must reach a listener on each provider.
async function delivered(provider, label) {
  const contract = new Contract(classifier, abi, provider);
  const got = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no Classified event over ${label} within 20 s`)), 20_000);
    contract.on('Classified', (who, digit, inputHash, event) => {
      clearTimeout(timer);
      resolve(event.log.transactionHash);
    });
  });
  await sleep(1000); // the listener is installed (a filter, or a subscription)
  const tx = await new Contract(classifier, abi, signer).classify(PIXELS);
  await tx.wait();
  try {
    return eq(await got, tx.hash, 'transaction hash');
  } finally {
    await contract.removeAllListeners();
  }
}

await check('contract.on over HTTP (eth_newFilter, eth_getFilterChanges)', () => delivered(http, 'HTTP'));
const ws = new WebSocketProvider(rpc.replace(/^http/, 'ws'));
await check('contract.on over WebSocket (eth_subscribe logs)', () => delivered(ws, 'WebSocket'));
await ws.destroy();
http.destroy();
process.exit(failed === 0 ? 0 : 1);
