//! MODEL_REGISTRY's staged upload inside a real revm EVM: begin, append, commit; a model is
//! unknown until committed; content addressing; offsets and resumption; uploads keyed by their
//! uploader; reverts; gas per byte, per chunk and per node; a chunk missing locally is a fatal
//! local fault.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use prova_precompile::{ModelBytes, UploadHeader, chunk_slot, upload_slot};
use revm::database::DatabaseRef;

const OTHER: Address = address!("00000000000000000000000000000000000bad00");

fn begin(id: ModelId, size: usize) -> Vec<u8> {
    IModelRegistry::beginUploadCall {
        modelId: id.0,
        size: size as u64,
    }
    .abi_encode()
}

fn append(id: ModelId, offset: usize, chunk: &[u8]) -> Vec<u8> {
    IModelRegistry::appendChunkCall {
        modelId: id.0,
        offset: offset as u64,
        chunk: chunk.to_vec().into(),
    }
    .abi_encode()
}

fn commit(id: ModelId) -> Vec<u8> {
    IModelRegistry::commitUploadCall { modelId: id.0 }.abi_encode()
}

fn cancel(id: ModelId) -> Vec<u8> {
    IModelRegistry::cancelUploadCall { modelId: id.0 }.abi_encode()
}

/// (size, received, chunks) of `uploader`'s upload of `id`, through `uploadStatus`.
fn status(chain: &mut Chain, uploader: Address, id: ModelId) -> (u64, u64, u32) {
    let data = IModelRegistry::uploadStatusCall {
        uploader,
        modelId: id.0,
    }
    .abi_encode();
    let out = ok(&chain.eth_call(MODEL_REGISTRY_ADDRESS, data));
    let r = IModelRegistry::uploadStatusCall::abi_decode_returns(&out).unwrap();
    (r.size, r.received, r.chunks)
}

/// The `ModelRejected` reason of a reverted call.
fn rejection(result: &ExecutionResult) -> String {
    ModelRejected::abi_decode(&reverted(result)).unwrap().reason
}

/// A registry storage slot, as committed.
fn slot(chain: &Chain, key: U256) -> U256 {
    chain
        .evm
        .ctx
        .journaled_state
        .database
        .storage_ref(MODEL_REGISTRY_ADDRESS, key)
        .unwrap()
}

/// Uploads `bytes` as `id` from CALLER in chunks of `size` bytes, asserting each step succeeds.
fn upload(chain: &mut Chain, id: ModelId, bytes: &[u8], size: usize) {
    ok(&chain.call(MODEL_REGISTRY_ADDRESS, begin(id, bytes.len())));
    for (k, chunk) in bytes.chunks(size).enumerate() {
        let out = ok(&chain.call(MODEL_REGISTRY_ADDRESS, append(id, k * size, chunk)));
        let received = IModelRegistry::appendChunkCall::abi_decode_returns(&out).unwrap();
        assert_eq!(received as usize, k * size + chunk.len());
    }
}

#[test]
fn begin_append_commit_registers_the_model_and_clears_the_upload() {
    let mut chain = Chain::new();
    let bytes = model_bytes("digits_mlp");
    let id = ModelId::of(&bytes);
    let inputs = fixture_inputs("digits_mlp");
    upload(&mut chain, id, &bytes, 4096);
    let n = bytes.len().div_ceil(4096) as u32;
    assert_eq!(
        status(&mut chain, CALLER, id),
        (bytes.len() as u64, bytes.len() as u64, n)
    );

    // Storage holds the header and each chunk's keccak256, in the documented slots.
    let header = upload_slot(&CALLER, &id);
    assert_eq!(
        UploadHeader::from_word(slot(&chain, header)),
        UploadHeader {
            size: bytes.len() as u64,
            received: bytes.len() as u64,
            chunks: n
        }
    );
    for (k, chunk) in bytes.chunks(4096).enumerate() {
        let hash = keccak(chunk);
        assert_eq!(slot(&chain, chunk_slot(header, k as u32)), hash);
    }

    // Every byte is there, but the model is not callable before commit.
    assert!(!chain.exists(id));
    let unknown = UnknownModel { modelId: id.0 }.abi_encode();
    assert_eq!(
        reverted(&chain.call(INFER_ADDRESS, infer_data(id, &inputs))),
        unknown
    );

    let out = ok(&chain.call(MODEL_REGISTRY_ADDRESS, commit(id)));
    assert_eq!(
        IModelRegistry::commitUploadCall::abi_decode_returns(&out).unwrap(),
        id.0
    );
    assert!(chain.exists(id));
    assert_eq!(status(&mut chain, CALLER, id), (0, 0, 0));
    assert_eq!(slot(&chain, header), U256::ZERO);
    for k in 0..n {
        assert_eq!(slot(&chain, chunk_slot(header, k)), U256::ZERO);
    }

    // It runs exactly as the same model deployed in one transaction.
    let got = ok(&chain.call(INFER_ADDRESS, infer_data(id, &inputs)));
    let mut other = Chain::new();
    other.deploy_model(&bytes);
    assert_eq!(got, ok(&other.call(INFER_ADDRESS, infer_data(id, &inputs))));

    // Registered: begin opens nothing, commit and deploy are no-ops returning the id.
    ok(&chain.call(MODEL_REGISTRY_ADDRESS, begin(id, bytes.len())));
    assert_eq!(status(&mut chain, CALLER, id), (0, 0, 0));
    ok(&chain.call(MODEL_REGISTRY_ADDRESS, commit(id)));
    assert_eq!(chain.deploy_model(&bytes).0, id);
}

fn keccak(bytes: &[u8]) -> U256 {
    U256::from_be_bytes(revm::primitives::keccak256(bytes).0)
}

#[test]
fn a_commit_whose_bytes_do_not_hash_to_the_id_is_refused() {
    let mut chain = Chain::new();
    let claimed = ModelId::of(&model_bytes("iris_logreg"));
    let bytes = model_bytes("digits_mlp");
    upload(&mut chain, claimed, &bytes, 8000);
    let why = rejection(&chain.call(MODEL_REGISTRY_ADDRESS, commit(claimed)));
    let actual = ModelId::of(&bytes);
    assert!(
        why.contains(&format!("hash to {actual}, not to the model id {claimed}")),
        "{why}"
    );
    assert!(!chain.exists(claimed) && !chain.exists(actual));
    // The refused commit changed nothing; cancel discards the upload, then it starts afresh.
    let size = bytes.len() as u64;
    assert_eq!(status(&mut chain, CALLER, claimed), (size, size, 2));
    ok(&chain.call(MODEL_REGISTRY_ADDRESS, cancel(claimed)));
    assert_eq!(status(&mut chain, CALLER, claimed), (0, 0, 0));
    let header = upload_slot(&CALLER, &claimed);
    assert_eq!(slot(&chain, chunk_slot(header, 0)), U256::ZERO);
    ok(&chain.call(MODEL_REGISTRY_ADDRESS, cancel(claimed)));

    // A model that admission refuses is refused at commit with admission's reason.
    let junk = b"not a model, just bytes".to_vec();
    let junk_id = ModelId::of(&junk);
    upload(&mut chain, junk_id, &junk, 10);
    let why = rejection(&chain.call(MODEL_REGISTRY_ADDRESS, commit(junk_id)));
    assert!(why.starts_with("not an ONNX model"), "{why}");
}

#[test]
fn appends_are_checked_against_the_open_upload() {
    let mut chain = Chain::new();
    let bytes = model_bytes("iris_logreg");
    let id = ModelId::of(&bytes);
    let call =
        |chain: &mut Chain, data: Vec<u8>| rejection(&chain.call(MODEL_REGISTRY_ADDRESS, data));

    let why = call(&mut chain, append(id, 0, &bytes[..100]));
    assert!(
        why.contains("has no upload of model") && why.contains("beginUpload"),
        "{why}"
    );
    let why = call(&mut chain, begin(id, 0));
    assert!(why.contains("at least one byte"), "{why}");
    let why = call(&mut chain, begin(id, (32 << 20) + 1));
    assert!(why.contains("over the limit of 33554432 bytes"), "{why}");
    let why = call(&mut chain, commit(id));
    assert!(why.contains("has no upload of model"), "{why}");

    ok(&chain.call(MODEL_REGISTRY_ADDRESS, begin(id, bytes.len())));
    let why = call(&mut chain, append(id, 0, &[]));
    assert!(why.contains("empty chunk"), "{why}");
    let mut longer = bytes.clone();
    longer.push(0);
    let why = call(&mut chain, append(id, 0, &longer));
    assert!(
        why.contains(&format!(
            "would pass the declared size of model {id}, 505 bytes"
        )),
        "{why}"
    );
    ok(&chain.call(MODEL_REGISTRY_ADDRESS, append(id, 0, &bytes[..200])));
    let why = call(&mut chain, append(id, 100, &bytes[100..300]));
    assert!(why.contains("the next chunk starts at offset 200"), "{why}");
    let why = call(&mut chain, commit(id));
    assert!(
        why.contains("incomplete: 200 of 505 bytes received"),
        "{why}"
    );

    // Beginning again with the same size resumes; with another size restarts.
    ok(&chain.call(MODEL_REGISTRY_ADDRESS, begin(id, bytes.len())));
    assert_eq!(status(&mut chain, CALLER, id), (505, 200, 1));
    ok(&chain.call(MODEL_REGISTRY_ADDRESS, begin(id, 600)));
    assert_eq!(status(&mut chain, CALLER, id), (600, 0, 0));
    let header = upload_slot(&CALLER, &id);
    assert_eq!(
        slot(&chain, chunk_slot(header, 0)),
        U256::ZERO,
        "restart clears chunks"
    );
    ok(&chain.call(MODEL_REGISTRY_ADDRESS, begin(id, bytes.len())));
    ok(&chain.call(MODEL_REGISTRY_ADDRESS, append(id, 0, &bytes)));
    ok(&chain.call(MODEL_REGISTRY_ADDRESS, commit(id)));
    assert!(chain.exists(id));

    // Value is refused; state-changing functions halt under STATICCALL; views do not.
    let other = ModelId::of(&model_bytes("digits_cnn"));
    let tx = chain.tx_env_value(
        TxKind::Call(MODEL_REGISTRY_ADDRESS),
        begin(other, 10),
        GAS,
        U256::from(1),
    );
    chain.nonce += 1;
    let result = chain.evm.transact_commit(tx).unwrap();
    assert!(rejection(&result).contains("does not accept value"));
    chain.set_proxy(proxy_code(Op::StaticCall, MODEL_REGISTRY_ADDRESS, 1, false));
    for data in [
        begin(other, 10),
        append(other, 0, b"x"),
        commit(other),
        cancel(other),
    ] {
        let out = reverted(&chain.call(PROXY, data));
        assert!(out.is_empty(), "a halt leaves no revert data");
    }
    let view = IModelRegistry::uploadStatusCall {
        uploader: CALLER,
        modelId: other.0,
    }
    .abi_encode();
    ok(&chain.call(PROXY, view));
}

#[test]
fn nobody_else_can_write_to_an_upload() {
    let mut chain = Chain::new();
    let bytes = model_bytes("digits_mlp");
    let id = ModelId::of(&bytes);
    ok(&chain.call(MODEL_REGISTRY_ADDRESS, begin(id, bytes.len())));

    // Another account appending at offset 0 writes to its own (unopened) upload, not CALLER's.
    let result = chain.call_from(
        OTHER,
        MODEL_REGISTRY_ADDRESS,
        append(id, 0, &bytes[..64]),
        GAS,
    );
    assert!(rejection(&result).contains(&format!("{OTHER} has no upload of model {id}")));
    let result = chain.call_from(OTHER, MODEL_REGISTRY_ADDRESS, cancel(id), GAS);
    ok(&result);
    assert_eq!(status(&mut chain, CALLER, id), (bytes.len() as u64, 0, 0));

    // A contract CALLing the registry uploads as itself, and under DELEGATECALL too: a
    // contract never acts on its caller's upload.
    for op in [Op::Call, Op::DelegateCall] {
        chain.set_proxy(proxy_code(op, MODEL_REGISTRY_ADDRESS, 1, false));
        let why = rejection(&chain.call(PROXY, append(id, 0, &bytes[..64])));
        assert!(why.contains(&format!("{PROXY} has no upload")), "{why}");
    }
    assert_eq!(status(&mut chain, CALLER, id), (bytes.len() as u64, 0, 0));

    // Two uploaders of the same model proceed independently; the first commit registers it,
    // the second only closes its own upload.
    ok(&chain.call_from(OTHER, MODEL_REGISTRY_ADDRESS, begin(id, bytes.len()), GAS));
    ok(&chain.call_from(
        OTHER,
        MODEL_REGISTRY_ADDRESS,
        append(id, 0, &bytes[..5000]),
        GAS,
    ));
    for (k, chunk) in bytes.chunks(4096).enumerate() {
        ok(&chain.call(MODEL_REGISTRY_ADDRESS, append(id, k * 4096, chunk)));
    }
    ok(&chain.call(MODEL_REGISTRY_ADDRESS, commit(id)));
    assert!(chain.exists(id));
    assert_eq!(status(&mut chain, OTHER, id), (bytes.len() as u64, 5000, 1));
    ok(&chain.call_from(OTHER, MODEL_REGISTRY_ADDRESS, commit(id), GAS));
    assert_eq!(status(&mut chain, OTHER, id), (0, 0, 0));
}

#[test]
fn an_upload_resumes_after_a_reverted_append() {
    let mut chain = Chain::new();
    let bytes = model_bytes("digits_mlp");
    let id = ModelId::of(&bytes);
    let size = 3000;
    let chunks: Vec<&[u8]> = bytes.chunks(size).collect();
    ok(&chain.call(MODEL_REGISTRY_ADDRESS, begin(id, bytes.len())));
    ok(&chain.call(MODEL_REGISTRY_ADDRESS, append(id, 0, chunks[0])));

    // The second chunk runs out of gas; the third, sent right behind it, is refused, so no
    // chunk lands at the wrong offset.
    let data = append(id, size, chunks[1]);
    let limit = intrinsic(&data) + RegistryGas::DEFAULT.append(data.len()) - 1;
    let result = chain.tx(TxKind::Call(MODEL_REGISTRY_ADDRESS), data, limit);
    assert!(matches!(result, ExecutionResult::Halt { .. }), "{result:?}");
    let why = rejection(&chain.call(MODEL_REGISTRY_ADDRESS, append(id, 2 * size, chunks[2])));
    assert!(
        why.contains(&format!("the next chunk starts at offset {size}")),
        "{why}"
    );

    // The client reads the status and resumes from there.
    let (declared, received, n) = status(&mut chain, CALLER, id);
    assert_eq!(
        (declared, received, n),
        (bytes.len() as u64, size as u64, 1)
    );
    ok(&chain.call(MODEL_REGISTRY_ADDRESS, begin(id, bytes.len())));
    for (k, chunk) in chunks.iter().enumerate().skip(1) {
        ok(&chain.call(MODEL_REGISTRY_ADDRESS, append(id, k * size, chunk)));
    }
    ok(&chain.call(MODEL_REGISTRY_ADDRESS, commit(id)));
    assert!(chain.exists(id));
}

#[test]
fn a_reverted_frame_leaves_no_upload_and_no_model() {
    let mut chain = Chain::new();
    let bytes = model_bytes("digits_mlp");
    let id = ModelId::of(&bytes);

    // Every step inside a frame that reverts: nothing stays.
    chain.set_proxy(proxy_code(Op::Call, MODEL_REGISTRY_ADDRESS, 1, true));
    reverted(&chain.call(PROXY, begin(id, bytes.len())));
    assert_eq!(status(&mut chain, PROXY, id), (0, 0, 0));

    // A contract uploads (as itself), then commits inside a frame that reverts: the model is
    // not registered and the upload is still complete; committed again, it is.
    chain.set_proxy(proxy_code(Op::Call, MODEL_REGISTRY_ADDRESS, 1, false));
    ok(&chain.call(PROXY, begin(id, bytes.len())));
    for (k, chunk) in bytes.chunks(6000).enumerate() {
        ok(&chain.call(PROXY, append(id, k * 6000, chunk)));
    }
    chain.set_proxy(proxy_code(Op::Call, MODEL_REGISTRY_ADDRESS, 1, true));
    let out = reverted(&chain.call(PROXY, commit(id)));
    assert_eq!(
        B256::abi_decode(&out).unwrap(),
        id.0,
        "the inner commit succeeded"
    );
    assert!(!chain.exists(id));
    let size = bytes.len() as u64;
    assert_eq!(status(&mut chain, PROXY, id), (size, size, 2));
    let unknown = UnknownModel { modelId: id.0 }.abi_encode();
    let inputs = fixture_inputs("digits_mlp");
    assert_eq!(
        reverted(&chain.call(INFER_ADDRESS, infer_data(id, &inputs))),
        unknown
    );

    chain.set_proxy(proxy_code(Op::Call, MODEL_REGISTRY_ADDRESS, 1, false));
    ok(&chain.call(PROXY, commit(id)));
    assert!(chain.exists(id));
    ok(&chain.call(INFER_ADDRESS, infer_data(id, &inputs)));
}

#[test]
fn uploads_are_charged_per_byte_per_chunk_and_per_node() {
    let gas = RegistryGas::DEFAULT;
    let mut chain = Chain::new();
    let bytes = model_bytes("digits_cnn");
    let id = ModelId::of(&bytes);

    let data = begin(id, bytes.len());
    let result = chain.call(MODEL_REGISTRY_ADDRESS, data.clone());
    assert_eq!(result.tx_gas_used(), intrinsic(&data) + gas.upload_base);

    // appendChunk: base + per calldata word, exactly; a longer chunk pays per word more.
    let small = append(id, 0, &bytes[..1000]);
    let result = chain.call(MODEL_REGISTRY_ADDRESS, small.clone());
    assert_eq!(
        result.tx_gas_used(),
        intrinsic(&small) + gas.append(small.len())
    );
    let large = append(id, 1000, &bytes[1000..]);
    let result = chain.call(MODEL_REGISTRY_ADDRESS, large.clone());
    assert_eq!(
        result.tx_gas_used(),
        intrinsic(&large) + gas.append(large.len())
    );
    assert_eq!(
        gas.append(large.len()) - gas.append(small.len()),
        gas.append_per_word * ((large.len() - small.len()) as u64 / 32)
    );

    // commitUpload: base + per word of the model + per chunk + per graph node, and not a gas
    // less: one short of it halts out of gas, registering nothing.
    let data = commit(id);
    let price = gas.commit_total(&bytes, 2);
    assert_eq!(
        price,
        gas.upload_base
            + gas.commit_per_word * (bytes.len() as u64).div_ceil(32)
            + 2 * gas.per_chunk
            + gas.deploy_per_node * prova_model::graph_node_count(&bytes).unwrap()
    );
    let result = chain.tx(
        TxKind::Call(MODEL_REGISTRY_ADDRESS),
        data.clone(),
        intrinsic(&data) + price - 1,
    );
    assert!(
        matches!(
            result,
            ExecutionResult::Halt {
                reason: HaltReason::OutOfGas(OutOfGasError::Precompile),
                ..
            }
        ),
        "{result:?}"
    );
    assert!(!chain.exists(id));
    let result = chain.tx(
        TxKind::Call(MODEL_REGISTRY_ADDRESS),
        data.clone(),
        intrinsic(&data) + price,
    );
    ok(&result);
    assert_eq!(result.tx_gas_used(), intrinsic(&data) + price);
    assert!(chain.exists(id));

    // Views cost the flat `exists` price; cancel of nothing costs the base.
    let view = IModelRegistry::uploadStatusCall {
        uploader: CALLER,
        modelId: id.0,
    }
    .abi_encode();
    let result = chain.call(MODEL_REGISTRY_ADDRESS, view.clone());
    assert_eq!(result.tx_gas_used(), intrinsic(&view) + gas.exists);
    let data = cancel(id);
    let result = chain.call(MODEL_REGISTRY_ADDRESS, data.clone());
    assert_eq!(result.tx_gas_used(), intrinsic(&data) + gas.upload_base);
}

#[test]
fn a_chunk_missing_locally_is_a_fatal_fault_not_a_revert() {
    let dir = std::env::temp_dir().join(format!("prova-upload-test-{}", std::process::id()));
    let store = prova_model::ModelStore::open(&dir).unwrap();
    let mut chain = Chain::new();
    chain.evm.precompiles =
        ProvaPrecompiles::new(SpecId::CANCUN, runtime()).with_models(ModelBytes::Store(store));
    let bytes = model_bytes("iris_logreg");
    let id = ModelId::of(&bytes);
    upload(&mut chain, id, &bytes, 300);
    let files: Vec<_> = std::fs::read_dir(dir.join("chunks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 2, "each chunk is kept on disk by its hash");

    // A chunk corrupted on this node's disk: a fatal fault, not "the bytes hash to …".
    std::fs::write(&files[0], b"flipped bits").unwrap();
    let tx = chain.tx_env(TxKind::Call(MODEL_REGISTRY_ADDRESS), commit(id), GAS);
    let err = chain.evm.transact(tx).unwrap_err().to_string();
    assert!(err.contains("is corrupt: its bytes hash to"), "{err}");

    // A chunk missing from it: likewise.
    std::fs::remove_dir_all(dir.join("chunks")).unwrap();
    let tx = chain.tx_env(TxKind::Call(MODEL_REGISTRY_ADDRESS), commit(id), GAS);
    let err = chain.evm.transact_commit(tx).unwrap_err().to_string();
    assert!(
        err.contains("is recorded on chain but its bytes are not in the local model store"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
