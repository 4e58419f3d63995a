//! INFER's `generate` inside a real revm EVM, with the character-level language model of
//! fixtures/lm (trained here, deployed by staged upload): greedy and sampled tokens equal
//! onnxruntime's reference generation; gas is charged per token run, checked before work;
//! every bad request is a precise revert; the record replays; the example contract writes
//! text on chain.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use prova_runtime::{GenerateRequest, tokens_tensor};
use serde_json::Value;

sol! {
    function complete(string prompt, uint32 maxNewTokens, uint32 temperatureMilli, uint32 topK)
        external returns (uint256 id, string text);
    function count() external view returns (uint256);
}

fn lm_bytes() -> Vec<u8> {
    std::fs::read(root().join("fixtures/lm/char_lm.onnx")).unwrap()
}

fn expected() -> Value {
    let text = std::fs::read_to_string(root().join("fixtures/lm/char_lm.expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// The sampled reference cases (an object or a list of them).
fn sampled(e: &Value) -> Vec<Value> {
    match &e["sampled"] {
        Value::Array(v) => v.clone(),
        Value::Null => Vec::new(),
        one => vec![one.clone()],
    }
}

/// Deploys the model in chunks (it is larger than one `deploy` transaction can carry).
fn deploy_lm(chain: &mut Chain) -> ModelId {
    let bytes = lm_bytes();
    let id = ModelId::of(&bytes);
    let begin = IModelRegistry::beginUploadCall {
        modelId: id.0,
        size: bytes.len() as u64,
    };
    ok(&chain.call(MODEL_REGISTRY_ADDRESS, begin.abi_encode()));
    const CHUNK: usize = 256 << 10;
    for (k, chunk) in bytes.chunks(CHUNK).enumerate() {
        let append = IModelRegistry::appendChunkCall {
            modelId: id.0,
            offset: (k * CHUNK) as u64,
            chunk: chunk.to_vec().into(),
        };
        ok(&chain.call(MODEL_REGISTRY_ADDRESS, append.abi_encode()));
    }
    let commit = IModelRegistry::commitUploadCall { modelId: id.0 };
    ok(&chain.call(MODEL_REGISTRY_ADDRESS, commit.abi_encode()));
    assert!(chain.exists(id));
    id
}

fn generate_data(
    id: ModelId,
    prompt: &[u32],
    max_new: u32,
    seed: u64,
    temp: u32,
    k: u32,
) -> Vec<u8> {
    IProvaInference::generateCall {
        modelId: id.0,
        prompt: prompt.to_vec(),
        maxNewTokens: max_new,
        seed,
        temperatureMilli: temp,
        topK: k,
    }
    .abi_encode()
}

fn tokens_of(result: &ExecutionResult) -> Vec<u32> {
    IProvaInference::generateCall::abi_decode_returns(&ok(result)).unwrap()
}

fn bad_input(result: &ExecutionResult) -> (usize, String) {
    let e = BadInput::abi_decode(&reverted(result)).unwrap();
    (e.index.to::<usize>(), e.reason)
}

/// (vocab, context, eos, gas per token, base gas) through `decoderInfo`.
fn decoder_info(chain: &mut Chain, id: ModelId) -> (u32, u32, u32, u64, u64) {
    let data = IProvaInference::decoderInfoCall { modelId: id.0 }.abi_encode();
    let r = IProvaInference::decoderInfoCall::abi_decode_returns(&ok(
        &chain.eth_call(INFER_ADDRESS, data)
    ))
    .unwrap();
    (
        r.vocabSize,
        r.maxContext,
        r.eosToken,
        r.gasPerToken,
        r.baseGas,
    )
}

#[test]
fn greedy_generation_equals_onnxruntime_and_is_charged_per_token() {
    let mut chain = Chain::new();
    let id = deploy_lm(&mut chain);
    let e = expected();
    let (vocab, context, eos, per_token, base) = decoder_info(&mut chain, id);
    let schedule = GasSchedule::DEFAULT;
    assert_eq!(base, schedule.base);
    assert_eq!(context, 128);
    assert_eq!(
        eos,
        u32::MAX,
        "the character model has no end-of-sequence token"
    );
    assert!(per_token > 0);
    let cases = e["cases"].as_array().unwrap();
    assert!(cases.len() >= 4);
    for case in cases {
        let prompt = ids(&case["prompt_ids"]);
        assert!(prompt.iter().all(|&t| t < vocab));
        let max_new = case["max_new_tokens"].as_u64().unwrap() as u32;
        let want = ids(&case["tokens"]);
        // A greedy path can only be compared token for token where no step was a near tie
        // (onnxruntime's sums are not Prova's, within 1e-5).
        assert!(
            case["min_margin"].as_f64().unwrap() > 1e-3,
            "reference case {} has a near tie; pick another prompt",
            case["prompt"]
        );
        let before = chain.records().len();
        let data = generate_data(id, &prompt, max_new, 0, 0, 0);
        let result = chain.call(INFER_ADDRESS, data.clone());
        let got = tokens_of(&result);
        assert_eq!(got, want, "prompt {}", case["prompt"]);

        // One record: the request as its inputs, the tokens as its output, the gas of the
        // tokens run (cold: the first call of the transaction).
        let records = chain.records();
        assert_eq!(records.len(), before + 1);
        let record = records.last().unwrap();
        let request = GenerateRequest {
            prompt: prompt.clone(),
            max_new_tokens: max_new,
            seed: 0,
            temperature_milli: 0,
            top_k: 0,
        };
        assert_eq!(record.inputs().unwrap().to_vec(), request.to_tensors());
        assert_eq!(record.output, encode_tensors(&[tokens_tensor(&want)]));
        assert!(record.success);
        let tokens = (prompt.len() + want.len()) as u64;
        assert_eq!(record.gas, schedule.generation_gas(per_token, tokens, true));
        assert_eq!(
            result.tx_gas_used(),
            intrinsic(&data) + record.gas,
            "the transaction pays intrinsic gas plus the generation"
        );

        // A validator re-running the record gets the same output bytes.
        let reference = chain.evm.precompiles.reference();
        let (output, success) = reference.run(&id, record.inputs().unwrap()).unwrap();
        assert!(success);
        assert_eq!(output, record.output);
    }
}

#[test]
fn sampling_is_the_documented_counter_based_draw() {
    let mut chain = Chain::new();
    let id = deploy_lm(&mut chain);
    let e = expected();
    let cases = sampled(&e);
    assert!(!cases.is_empty(), "the expected file has a sampled case");
    for case in cases {
        let prompt = ids(&case["prompt_ids"]);
        let max_new = case["max_new_tokens"].as_u64().unwrap() as u32;
        let seed = case["seed"].as_u64().unwrap();
        let temp = case["temperature_milli"].as_u64().unwrap() as u32;
        let k = case["top_k"].as_u64().unwrap() as u32;
        let got = tokens_of(&chain.eth_call(
            INFER_ADDRESS,
            generate_data(id, &prompt, max_new, seed, temp, k),
        ));
        assert_eq!(got, ids(&case["tokens"]), "sampled with seed {seed}");
        // Same call, same tokens; another seed, other tokens.
        let again = tokens_of(&chain.eth_call(
            INFER_ADDRESS,
            generate_data(id, &prompt, max_new, seed, temp, k),
        ));
        assert_eq!(again, got);
        let other = tokens_of(&chain.eth_call(
            INFER_ADDRESS,
            generate_data(id, &prompt, max_new, seed + 1, temp, k),
        ));
        assert_ne!(other, got);
    }
}

#[test]
fn bad_requests_revert_with_the_reason_and_gas_is_checked_before_work() {
    let mut chain = Chain::new();
    let id = deploy_lm(&mut chain);
    let (vocab, context, _, per_token, _) = decoder_info(&mut chain, id);
    let schedule = GasSchedule::DEFAULT;

    let (index, reason) = bad_input(&chain.call(INFER_ADDRESS, generate_data(id, &[], 4, 0, 0, 0)));
    assert_eq!(index, 0);
    assert!(reason.contains("prompt is empty"), "{reason}");

    let (index, reason) =
        bad_input(&chain.call(INFER_ADDRESS, generate_data(id, &[1, vocab, 2], 4, 0, 0, 0)));
    assert_eq!(index, 0);
    assert!(
        reason.contains(&format!(
            "prompt token 1 is {vocab}, outside the vocabulary"
        )),
        "{reason}"
    );

    let (index, reason) =
        bad_input(&chain.call(INFER_ADDRESS, generate_data(id, &[1, 2], 0, 0, 0, 0)));
    assert_eq!(index, 1);
    assert!(reason.contains("maxNewTokens is 0"), "{reason}");

    let (index, reason) = bad_input(&chain.call(
        INFER_ADDRESS,
        generate_data(id, &[1, 2], context - 1, 0, 0, 0),
    ));
    assert_eq!(index, 1);
    assert!(
        reason.contains(&format!("over the model's context of {context} tokens")),
        "{reason}"
    );

    // infer on a decoder, generate on a classifier.
    let input = Tensor::from_values(vec![1, 1], &[1i64]).unwrap();
    let (index, reason) = bad_input(&chain.call(INFER_ADDRESS, infer_data(id, &[input])));
    assert_eq!(index, 0);
    assert!(reason.contains("run it with generate"), "{reason}");
    let (mlp, _) = chain.deploy_model(&model_bytes("digits_mlp"));
    let (index, reason) =
        bad_input(&chain.call(INFER_ADDRESS, generate_data(mlp, &[1], 4, 0, 0, 0)));
    assert_eq!(index, 0);
    assert!(reason.contains("is not a decoder"), "{reason}");
    let unknown = ModelId(B256::repeat_byte(7));
    assert_eq!(
        reverted(&chain.call(INFER_ADDRESS, generate_data(unknown, &[1], 4, 0, 0, 0))),
        Bytes::from(UnknownModel { modelId: unknown.0 }.abi_encode())
    );

    // The call must afford every token it may run: one gas short of 2 + 40 tokens halts
    // before any work, although greedy generation would stop at 40 tokens anyway.
    let data = generate_data(id, &[1, 2], 40, 0, 0, 0);
    let most = schedule.generation_gas(per_token, 42, true);
    let before = chain.records().len();
    let result = chain.tx(
        TxKind::Call(INFER_ADDRESS),
        data.clone(),
        intrinsic(&data) + most - 1,
    );
    assert!(
        matches!(result, ExecutionResult::Halt { .. }),
        "expected out of gas, got {result:?}"
    );
    assert_eq!(chain.records().len(), before, "nothing ran");
    let result = chain.tx(
        TxKind::Call(INFER_ADDRESS),
        data.clone(),
        intrinsic(&data) + most,
    );
    assert_eq!(tokens_of(&result).len(), 40);
}

#[test]
fn the_example_contract_writes_generated_text_on_chain() {
    let mut chain = Chain::new();
    let id = deploy_lm(&mut chain);
    let tokenizer: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("fixtures/lm/char_lm.tokenizer.json")).unwrap(),
    )
    .unwrap();
    let vocab: String = tokenizer["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let args = (id.0, Bytes::from(vocab.into_bytes())).abi_encode_params();
    let generator = chain.deploy_contract("TextGenerator", &args);

    let e = expected();
    let case = &e["cases"][0];
    let prompt = case["prompt"].as_str().unwrap().to_string();
    let max_new = case["max_new_tokens"].as_u64().unwrap() as u32;
    let call = completeCall {
        prompt: prompt.clone(),
        maxNewTokens: max_new,
        temperatureMilli: 0,
        topK: 0,
    };
    let result = chain.call(generator, call.abi_encode());
    let out = completeCall::abi_decode_returns(&ok(&result)).unwrap();
    assert_eq!(out.id, U256::ZERO);
    assert_eq!(out.text, case["text"].as_str().unwrap());
    let logs = result.logs();
    assert_eq!(logs.len(), 1, "one Generated event");
    let n =
        countCall::abi_decode_returns(&ok(&chain.eth_call(generator, countCall {}.abi_encode())))
            .unwrap();
    assert_eq!(n, U256::from(1));

    // A character outside the vocabulary is the contract's own error, before any inference.
    let bad = completeCall {
        prompt: "caf\u{e9}".into(),
        maxNewTokens: 4,
        temperatureMilli: 0,
        topK: 0,
    };
    let data = reverted(&chain.call(generator, bad.abi_encode()));
    assert_eq!(
        &data[..4],
        &revm::primitives::keccak256("NotInVocabulary(uint256,bytes1)")[..4]
    );
}
