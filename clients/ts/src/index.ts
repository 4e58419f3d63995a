// @prova/client: viem helpers for the Prova chain's inference precompiles and RPC methods.
export * from './tensor.js';
export * from './fixed.js';
export * from './abi.js';
export * from './calls.js';
export * from './actions.js';
