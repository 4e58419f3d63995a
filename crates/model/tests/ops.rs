//! Prova's ONNX operators and every fixture model, checked against onnxruntime's outputs.
//!
//! `fixtures/expected/*.json` hold onnxruntime's outputs for the real models in
//! `fixtures/models/`; `fixtures/ops/*.json` those of the single-operator models in
//! `fixtures/ops/` (made by `fixtures/make_op_fixtures.py`). Integer outputs must match
//! exactly; float outputs within a small tolerance.

use prova_tensor::{DType, Tensor};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tract_onnx::prelude::{
    Datum, Framework, InferenceFact, InferenceModelExt, IntoRunnable, IntoTensor, TValue, TVec,
    TractResult, TypedRunnableModel,
};
use tract_onnx::tract_hir::internal::tract_ndarray::ArrayD;

type TractTensor = tract_onnx::prelude::Tensor;

struct Sample {
    inputs: Vec<Tensor>,
    outputs: Vec<Tensor>,
}

struct Expected {
    model: String,
    samples: Vec<Sample>,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// The top-level elements of a JSON array or the `key: value` texts of a JSON object, as
/// slices of `text` (which must be one array or object). A structural scan: enough for the
/// fixture files, whose tensors `prova_tensor` then parses.
fn json_children(text: &str) -> Vec<&str> {
    let text = text.trim();
    let body = &text[1..text.len() - 1];
    let (mut depth, mut in_str, mut escaped, mut start) = (0usize, false, false, 0usize);
    let mut out = Vec::new();
    for (i, c) in body.char_indices() {
        if in_str {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '[' | '{' => depth += 1,
            ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(body[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if !body[start..].trim().is_empty() {
        out.push(body[start..].trim());
    }
    out
}

/// The value of `key` in a JSON object's text.
fn json_field<'a>(object: &'a str, key: &str) -> &'a str {
    let quoted = format!("\"{key}\"");
    json_children(object)
        .into_iter()
        .find_map(|kv| kv.strip_prefix(quoted.as_str()))
        .and_then(|rest| rest.trim_start().strip_prefix(':'))
        .unwrap_or_else(|| panic!("no field {key}"))
        .trim()
}

fn tensors(array: &str) -> Vec<Tensor> {
    json_children(array)
        .into_iter()
        .map(|t| Tensor::from_json(t).unwrap())
        .collect()
}

fn load_expected(path: &Path) -> Expected {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let model = json_field(&text, "model").trim_matches('"').to_string();
    let samples = json_children(json_field(&text, "samples"))
        .into_iter()
        .map(|s| Sample {
            inputs: tensors(json_field(s, "inputs")),
            outputs: tensors(json_field(s, "outputs")),
        })
        .collect();
    Expected { model, samples }
}

fn to_tract(t: &Tensor) -> TractTensor {
    fn arr<T: prova_tensor::Element + Datum>(t: &Tensor) -> TractTensor {
        let shape: Vec<usize> = t.shape().iter().map(|&d| d as usize).collect();
        ArrayD::from_shape_vec(shape, t.to_vec::<T>().unwrap())
            .unwrap()
            .into_tensor()
    }
    match t.dtype() {
        DType::F32 => arr::<f32>(t),
        DType::F64 => arr::<f64>(t),
        DType::I64 => arr::<i64>(t),
        DType::I32 => arr::<i32>(t),
        DType::I16 => arr::<i16>(t),
        DType::I8 => arr::<i8>(t),
        DType::U8 => arr::<u8>(t),
        DType::Bool => arr::<bool>(t),
    }
}

/// Loads `model`, fixes its input facts to the sample's dtypes and shapes, and optimises it.
fn plan(model: &Path, inputs: &[Tensor], optimize: bool) -> TractResult<Arc<TypedRunnableModel>> {
    let mut m = prova_model::ops::onnx().model_for_path(model)?;
    for (i, t) in inputs.iter().enumerate() {
        let t = to_tract(t);
        m.set_input_fact(i, InferenceFact::dt_shape(t.datum_type(), t.shape()))?;
    }
    let typed = m.into_typed()?;
    let typed = if optimize {
        typed.into_optimized()?
    } else {
        typed.into_decluttered()?
    };
    typed.into_runnable()
}

fn run(plan: &Arc<TypedRunnableModel>, inputs: &[Tensor]) -> Vec<TractTensor> {
    let inputs: TVec<TValue> = inputs.iter().map(|t| to_tract(t).into()).collect();
    plan.run(inputs)
        .unwrap()
        .into_iter()
        .map(|v| v.into_tensor())
        .collect()
}

/// Largest absolute difference between `got` and `want` (integers: must be 0).
fn compare(what: &str, got: &TractTensor, want: &Tensor) -> f64 {
    let shape: Vec<usize> = want.shape().iter().map(|&d| d as usize).collect();
    assert_eq!(got.shape(), &shape[..], "{what}: shape");
    if want.dtype().is_float() {
        let got = got.cast_to::<f64>().unwrap();
        let got = got.try_as_plain_ram().unwrap();
        let got = got.as_slice::<f64>().unwrap();
        let mut max = 0f64;
        for (i, g) in got.iter().enumerate() {
            let w = want.get_f64(i).unwrap();
            assert!(
                g.is_nan() == w.is_nan(),
                "{what}[{i}]: got {g}, onnxruntime {w}"
            );
            if !w.is_nan() {
                max = max.max((g - w).abs());
            }
        }
        max
    } else {
        let got = got.cast_to::<i64>().unwrap();
        let got = got.try_as_plain_ram().unwrap();
        let got = got.as_slice::<i64>().unwrap();
        for (i, g) in got.iter().enumerate() {
            let w = want.get_f64(i).unwrap() as i64;
            assert_eq!(*g, w, "{what}[{i}]: got {g}, onnxruntime {w}");
        }
        0.0
    }
}

/// Runs every sample of an expected-output file; returns the max abs error over float outputs.
fn check_expected(model: &Path, expected: &Path, optimize: bool) -> f64 {
    let exp = load_expected(expected);
    let first = &exp.samples[0].inputs;
    let plan = plan(model, first, optimize).unwrap_or_else(|e| panic!("{}: {e:?}", exp.model));
    let mut max = 0f64;
    for (s, sample) in exp.samples.iter().enumerate() {
        let got = run(&plan, &sample.inputs);
        assert_eq!(
            got.len(),
            sample.outputs.len(),
            "{}: output count",
            exp.model
        );
        for (o, (g, w)) in got.iter().zip(&sample.outputs).enumerate() {
            max = max.max(compare(
                &format!("{} sample {s} output {o}", exp.model),
                g,
                w,
            ));
        }
    }
    max
}

fn fixture_model(name: &str, tolerance: f64) {
    let dir = fixtures();
    let model = dir.join("models").join(format!("{name}.onnx"));
    let expected = dir.join("expected").join(format!("{name}.json"));
    for optimize in [false, true] {
        let err = check_expected(&model, &expected, optimize);
        eprintln!("{name} (optimized: {optimize}): max abs error vs onnxruntime {err:e}");
        assert!(
            err <= tolerance,
            "{name}: max abs error {err:e} > {tolerance:e}"
        );
    }
}

macro_rules! fixture_tests {
    ($($name:ident: $tol:expr,)*) => {$(
        #[test]
        fn $name() {
            fixture_model(stringify!($name), $tol);
        }
    )*};
}

mod fixture_models {
    use super::fixture_model;
    fixture_tests! {
        cancer_forest: 1e-6,
        cancer_scaled_logreg: 1e-6,
        diabetes_gbr: 1e-4,
        diabetes_linear: 1e-4,
        digits_cnn: 1e-6,
        digits_cnn_int8: 1e-6,
        digits_mlp: 1e-6,
        digits_mlp_dyn: 1e-6,
        digits_mlp_int8: 0.0,
        iris_logreg: 1e-6,
    }
}
