//! Generation with the character-level language model of fixtures/lm: the exact profile's
//! logits are onnxruntime's within 1e-4 at every prompt, greedy tokens equal onnxruntime's,
//! the KV-cache step equals re-running the whole sequence, and requests outside the model are
//! refused before any work.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use prova_runtime::{GenerateRequest, Profile, Runtime, RuntimeError};
use serde_json::Value;

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn greedy(prompt: Vec<u32>, max_new: u32) -> GenerateRequest {
    GenerateRequest {
        prompt,
        max_new_tokens: max_new,
        seed: 0,
        temperature_milli: 0,
        top_k: 0,
    }
}

#[test]
fn greedy_generation_matches_onnxruntime() {
    let runtime = Runtime::new(Profile::Exact).unwrap();
    let model = runtime
        .load(&std::fs::read(root().join("fixtures/lm/char_lm.onnx")).unwrap())
        .unwrap();
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("fixtures/lm/char_lm.expected.json")).unwrap(),
    )
    .unwrap();
    for case in expected["cases"].as_array().unwrap() {
        let prompt = ids(&case["prompt_ids"]);
        let want = ids(&case["tokens"]);
        let max_new = case["max_new_tokens"].as_u64().unwrap() as u32;
        let ort_logits: Vec<f64> = case["last_prompt_logits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let mut first = None;
        let got = runtime
            .generate(&model, &greedy(prompt.clone(), max_new), |_, logits| {
                first.get_or_insert_with(|| logits.to_vec());
            })
            .unwrap();
        let first = first.unwrap();
        assert_eq!(first.len(), ort_logits.len());
        let worst = first
            .iter()
            .zip(&ort_logits)
            .map(|(a, b)| (f64::from(*a) - b).abs())
            .fold(0.0, f64::max);
        assert!(
            worst < 1e-4,
            "{}: logits differ from onnxruntime by {worst}",
            case["prompt"]
        );
        assert_eq!(got, want, "prompt {}", case["prompt"]);
    }
}

#[test]
fn the_kv_cache_step_equals_running_the_whole_sequence_again() {
    // Generating n tokens, then generating from the prompt plus the first n-1 of them, must
    // choose the same n-th token from bit-identical logits: the cache carries exactly what a
    // fresh pass recomputes.
    let runtime = Runtime::new(Profile::Exact).unwrap();
    let model = runtime
        .load(&std::fs::read(root().join("fixtures/lm/char_lm.onnx")).unwrap())
        .unwrap();
    let prompt = vec![10, 20, 30];
    let mut all = Vec::new();
    let tokens = runtime
        .generate(&model, &greedy(prompt.clone(), 12), |_, l| {
            all.push(l.to_vec())
        })
        .unwrap();
    let mut longer = prompt.clone();
    longer.extend_from_slice(&tokens[..11]);
    let mut last = None;
    let again = runtime
        .generate(&model, &greedy(longer, 1), |_, l| last = Some(l.to_vec()))
        .unwrap();
    assert_eq!(again, vec![tokens[11]]);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&last.unwrap()), bits(&all[11]));
}

#[test]
fn requests_outside_the_model_are_refused_before_work() {
    let runtime = Runtime::new(Profile::Exact).unwrap();
    let model = runtime
        .load(&std::fs::read(root().join("fixtures/lm/char_lm.onnx")).unwrap())
        .unwrap();
    let d = model.info.decoder.clone().unwrap();
    let refuse = |r: GenerateRequest| match runtime.generate(&model, &r, |_, _| panic!("ran")) {
        Err(RuntimeError::BadRequest(m)) => m,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert!(refuse(greedy(vec![], 3)).contains("prompt is empty"));
    assert!(refuse(greedy(vec![d.vocab], 3)).contains("outside the vocabulary"));
    assert!(refuse(greedy(vec![1], 0)).contains("at least one token"));
    assert!(refuse(greedy(vec![1; 100], 29)).contains("over the model's context of 128"));
    // Exactly the context is fine.
    let out = runtime
        .generate(&model, &greedy(vec![1; 100], 28), |_, _| {})
        .unwrap();
    assert_eq!(out.len(), 28);

    // A decoder is not run by `run`, a classifier not by `generate`.
    assert!(matches!(
        runtime.run(&model, &[]),
        Err(RuntimeError::IsDecoder { .. })
    ));
    let mlp = runtime
        .load(&std::fs::read(root().join("fixtures/models/digits_mlp.onnx")).unwrap())
        .unwrap();
    assert!(matches!(
        runtime.generate(&mlp, &greedy(vec![1], 1), |_, _| {}),
        Err(RuntimeError::NotDecoder { .. })
    ));
}

#[test]
fn the_request_round_trips_through_its_record_tensors() {
    let r = GenerateRequest {
        prompt: vec![0, 5, u32::MAX],
        max_new_tokens: 9,
        seed: u64::MAX - 3,
        temperature_milli: 750,
        top_k: 40,
    };
    assert_eq!(GenerateRequest::from_tensors(&r.to_tensors()).unwrap(), r);
    assert!(GenerateRequest::from_tensors(&r.to_tensors()[..1]).is_err());
}
