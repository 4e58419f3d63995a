//! INFER and MODEL_REGISTRY through alloy-evm's `EthEvm` with a `PrecompilesMap`, against the
//! revm `ProvaPrecompiles` provider they share their state with.
#![cfg(feature = "alloy-evm")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alloy_evm::{
    EthEvm, EthEvmFactory, Evm, EvmEnv, EvmFactory,
    precompiles::{Precompile, PrecompilesMap},
};
use common::*;
use revm::{context::CfgEnv, inspector::NoOpInspector};

/// An alloy-evm Cancun EVM over its own in-memory database, with Prova's precompiles
/// installed from `prova` (sharing its runtime, model bytes and journal).
struct AlloyChain {
    evm: EthEvm<Db, NoOpInspector, PrecompilesMap>,
    nonce: u64,
}

impl AlloyChain {
    fn new(prova: &ProvaPrecompiles) -> Self {
        let mut db = Db::default();
        db.insert_account_info(
            CALLER,
            AccountInfo {
                balance: U256::from(10).pow(U256::from(24)),
                ..Default::default()
            },
        );
        let env = EvmEnv::new(CfgEnv::new_with_spec(SpecId::CANCUN), Default::default());
        let mut evm = EthEvmFactory::default().create_evm(db, env);
        prova_precompile::alloy_evm::install(evm.precompiles_mut(), prova);
        Self { evm, nonce: 0 }
    }

    fn call(&mut self, to: Address, data: impl Into<Bytes>) -> ExecutionResult {
        let tx = TxEnv::builder()
            .caller(CALLER)
            .kind(TxKind::Call(to))
            .data(data.into())
            .gas_limit(GAS)
            .nonce(self.nonce)
            .build()
            .unwrap();
        self.nonce += 1;
        self.evm.transact_commit(tx).unwrap()
    }
}

#[test]
fn infer_through_alloy_evm_matches_provider() {
    let name = "digits_mlp";
    let bytes = model_bytes(name);
    let inputs = fixture_inputs(name);

    // The revm provider, directly.
    let mut chain = Chain::new();
    let (id, _) = chain.deploy_model(&bytes);
    let data = infer_data(id, &inputs);
    let direct = ok(&chain.call(INFER_ADDRESS, data.clone()));

    // The same precompiles in an alloy-evm PrecompilesMap, sharing the provider's state.
    let mut alloy = AlloyChain::new(&chain.evm.precompiles);
    for address in [INFER_ADDRESS, MODEL_REGISTRY_ADDRESS] {
        let p = alloy.evm.precompiles().get(&address).expect("installed");
        assert!(!p.supports_caching(), "{address} must never be cached");
    }
    // Ethereum's own precompiles are still there.
    assert!(
        alloy
            .evm
            .precompiles()
            .get(&address!("0000000000000000000000000000000000000002"))
            .is_some()
    );

    // Model existence is chain state: the bytes are known to the shared store, but this chain
    // has not deployed the model, so INFER says UnknownModel.
    let out = reverted(&alloy.call(INFER_ADDRESS, data.clone()));
    assert_eq!(out, abi::unknown_model(id.0));
    let deploy = IModelRegistry::deployCall {
        onnx: bytes.clone().into(),
    }
    .abi_encode();
    let out = ok(&alloy.call(MODEL_REGISTRY_ADDRESS, deploy));
    assert_eq!(B256::abi_decode(&out).unwrap(), id.0);
    let exists = IModelRegistry::existsCall { modelId: id.0 }.abi_encode();
    let out = ok(&alloy.call(MODEL_REGISTRY_ADDRESS, exists));
    assert!(IModelRegistry::existsCall::abi_decode_returns(&out).unwrap());

    let through_alloy = ok(&alloy.call(INFER_ADDRESS, data));
    assert_eq!(through_alloy, direct, "same ABI output, bit for bit");

    // And both match the runtime called directly.
    let runtime = chain.evm.precompiles.runtime().clone();
    let model = runtime.load(&bytes).unwrap();
    let expected = runtime.run(&model, &inputs).unwrap();
    let outputs: Vec<Tensor> = IProvaInference::inferCall::abi_decode_returns(&direct)
        .unwrap()
        .iter()
        .map(|t| abi::from_abi(t).unwrap())
        .collect();
    assert_eq!(encode_tensors(&outputs), encode_tensors(&expected));

    // One shared journal: the provider's record, then the alloy-evm one (depth unknown: 0).
    let records = chain.records();
    assert_eq!(records.len(), 2);
    let (revm, alloy) = (&records[0], &records[1]);
    let (revm_site, alloy_site) = (revm.call.unwrap(), alloy.call.unwrap());
    assert_eq!((revm_site.depth, alloy_site.depth), (1, 0));
    assert_eq!(alloy_site.caller, CALLER);
    assert_eq!(alloy.model, revm.model);
    assert_eq!(alloy.input_hash(), revm.input_hash());
    assert_eq!(alloy.output, revm.output);
    assert_eq!(alloy.gas, revm.gas, "both cold, same schedule");
    assert!(alloy.success && !alloy_site.is_static);
}

#[test]
fn alloy_evm_reverts_and_refuses_value_like_the_provider() {
    let chain = Chain::new();
    let mut alloy = AlloyChain::new(&chain.evm.precompiles);
    // Malformed calldata is BadInput, not a panic or a fatal error.
    let out = reverted(&alloy.call(INFER_ADDRESS, vec![1, 2, 3]));
    assert_eq!(&out[..4], &BadInput::SELECTOR[..]);
    // Static calls to deploy halt; here a plain call with a non-ONNX payload is ModelRejected.
    let deploy = IModelRegistry::deployCall {
        onnx: vec![0u8; 10].into(),
    }
    .abi_encode();
    let out = reverted(&alloy.call(MODEL_REGISTRY_ADDRESS, deploy));
    assert_eq!(&out[..4], &ModelRejected::SELECTOR[..]);
    assert!(chain.records().is_empty());
}
