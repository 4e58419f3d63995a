//! Hostile models (fixtures/hostile, made by make_hostile.py): each declares or computes far
//! more than the limits allow and must be refused with its precise error, before tract
//! allocates what it declares. If a bound were missing, the test process would try to
//! allocate gigabytes to terabytes and abort; admitting each in a child process capped at
//! 64 MiB of peak RSS is `admission_memory.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use prova_model::{AdmissionError, Limits, admit};
use std::path::PathBuf;
use tract_onnx::pb;

mod common;
use common::node;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/hostile")
}

/// Every hostile fixture and the start of the error it must be refused with.
pub const EXPECTED: &[(&str, &str)] = &[
    ("broadcast_outer.onnx", "size of tensor at node \"outer\""),
    ("concat_doubling.onnx", "size of tensor at node \"double7\""),
    ("constant_of_shape.onnx", "size of tensor at node \"cos\""),
    (
        "constant_of_shape_computed.onnx",
        "shape argument of node \"cos\"",
    ),
    (
        "constant_of_shape_from_input.onnx",
        "size of tensor at node \"cos\"",
    ),
    ("conv_pads.onnx", "size of tensor at node \"conv\""),
    ("deep_graph.onnx", "node count"),
    ("expand.onnx", "size of tensor at node \"expand\""),
    ("expand_const.onnx", "shape argument of node \"expand\""),
    (
        "expand_const_wrap.onnx",
        "shape argument of node \"expand\"",
    ),
    (
        "fold_chain.onnx",
        "bytes of constants computed while typing",
    ),
    ("gather_square.onnx", "size of tensor at node \"gather\""),
    ("huge_initializer.onnx", "size of tensor \"w\""),
    ("huge_input.onnx", "size of input \"x\""),
    ("matmul_outer.onnx", "size of tensor at node \"outer\""),
    ("pad.onnx", "size of tensor at node \"pad\""),
    ("reshape_rank.onnx", "rank of tensor at node \"reshape\""),
    ("run_memory.onnx", "bytes of all tensors of one inference"),
    ("tile.onnx", "size of tensor at node \"tile\""),
    ("tile_const.onnx", "shape argument of node \"tile\""),
    (
        "value_info_huge.onnx",
        "model does not type-check: node \"relu\"",
    ),
    ("wide_node.onnx", "inputs plus outputs of node \"sum\""),
];

#[test]
fn every_hostile_model_is_refused_with_its_limit() {
    let mut files: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".onnx"))
        .collect();
    files.sort();
    let listed: Vec<&str> = EXPECTED.iter().map(|(f, _)| *f).collect();
    assert_eq!(files, listed, "fixtures/hostile and this table differ");
    let mut wrong = Vec::new();
    for (file, expected) in EXPECTED {
        let bytes = std::fs::read(dir().join(file)).unwrap();
        match admit(&bytes, &Limits::DEFAULT) {
            Ok(_) => wrong.push(format!("{file}: admitted")),
            Err(e) if !e.to_string().starts_with(expected) => wrong.push(format!("{file}: {e}")),
            Err(e) => {
                if let AdmissionError::LimitExceeded { value, max, .. } = &e {
                    assert!(value > max, "{file}: {e}");
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// A one-input model: `x` [1, 4] f32 through `nodes`, output `y`.
fn model(nodes: Vec<pb::NodeProto>, initializers: Vec<pb::TensorProto>) -> Vec<u8> {
    common::graph(&[1, 4], nodes, initializers)
}

fn ints(name: &str, values: &[i64]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        data_type: 7,
        dims: vec![values.len() as i64],
        int64_data: values.to_vec(),
        ..Default::default()
    }
}

#[test]
fn the_same_shapes_within_the_limits_are_admitted() {
    // The bounds refuse sizes, not operators: Expand, Tile and Pad to modest shapes pass.
    for (op, arg) in [
        ("Expand", ints("s", &[8, 4])),
        ("Tile", ints("s", &[8, 1])),
        ("Pad", ints("s", &[2, 2, 2, 2])),
    ] {
        let bytes = model(vec![node(op, "n", &["x", "s"], "y")], vec![arg]);
        let m = admit(&bytes, &Limits::DEFAULT).unwrap_or_else(|e| panic!("{op}: {e}"));
        assert!(
            m.info.outputs[0].shape.iter().product::<u64>() >= 32,
            "{op}"
        );
    }
}

#[test]
fn each_bound_is_exactly_its_limit() {
    // Expand to exactly max_tensor_bytes passes the bound; one row more is refused by it.
    let limits = Limits {
        max_tensor_bytes: 64 * 4 * 4,
        ..Limits::DEFAULT
    };
    let at = model(
        vec![node("Expand", "e", &["x", "s"], "y")],
        vec![ints("s", &[64, 4])],
    );
    admit(&at, &limits).unwrap();
    let over = model(
        vec![node("Expand", "e", &["x", "s"], "y")],
        vec![ints("s", &[65, 4])],
    );
    let err = admit(&over, &limits).unwrap_err();
    assert_eq!(
        err,
        AdmissionError::LimitExceeded {
            what: "size of tensor at node \"e\" output 0 in bytes".into(),
            value: 65 * 16,
            max: 64 * 16,
        }
    );

    // The fold budget: a folded constant of 8 KiB (tract's ConstantOfShape defaults to f64)
    // passes an 8 KiB budget, not one a byte smaller.
    let folded = model(
        vec![
            node("ConstantOfShape", "c", &["s"], "k"),
            node("Add", "a", &["x", "k"], "y"),
        ],
        vec![ints("s", &[256, 4])],
    );
    let budget = |b: u64| Limits {
        max_fold_bytes: b,
        ..Limits::DEFAULT
    };
    admit(&folded, &budget(8192)).unwrap();
    let err = admit(&folded, &budget(8191)).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("bytes of constants computed while typing is 8192"),
        "{err}"
    );

    // The run ceiling: x and two intermediates, 16 bytes each, and Relu's zero (4 bytes).
    let relus = model(
        vec![
            node("Relu", "r1", &["x"], "h"),
            node("Relu", "r2", &["h"], "y"),
        ],
        vec![],
    );
    let total = |b: u64| Limits {
        max_run_bytes: b,
        ..Limits::DEFAULT
    };
    admit(&relus, &total(52)).unwrap();
    let err = admit(&relus, &total(51)).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("bytes of all tensors of one inference is 52"),
        "{err}"
    );

    // Node width.
    let wide = model(vec![node("Sum", "s", &["x"; 9], "y")], vec![]);
    let width = |w: u64| Limits {
        max_node_io: w,
        ..Limits::DEFAULT
    };
    admit(&wide, &width(10)).unwrap();
    assert!(
        admit(&wide, &width(9))
            .unwrap_err()
            .to_string()
            .starts_with("inputs plus outputs of node \"s\" is 10")
    );
}

#[test]
fn fixture_models_stay_within_the_new_bounds() {
    let models = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/models");
    for e in std::fs::read_dir(models).unwrap() {
        let path = e.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        admit(&bytes, &Limits::DEFAULT).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

/// `y = x + sum(c · c)` where `c = ConstantOfShape([n, n])`: tract folds the product while
/// typing, n³ multiply-accumulates from a model of a few hundred bytes.
fn folded_product(n: i64) -> Vec<u8> {
    let mut cos = node("ConstantOfShape", "c", &["s"], "c");
    cos.attribute.push(pb::AttributeProto {
        name: "value".into(),
        r#type: pb::attribute_proto::AttributeType::Tensor as i32,
        t: Some(pb::TensorProto {
            name: "v".into(),
            data_type: 1,
            dims: vec![1],
            float_data: vec![1.0],
            ..Default::default()
        }),
        ..Default::default()
    });
    let mut sum = node("ReduceSum", "sum", &["m"], "r");
    sum.attribute.push(pb::AttributeProto {
        name: "keepdims".into(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i: 0,
        ..Default::default()
    });
    model(
        vec![
            cos,
            node("MatMul", "mm", &["c", "c"], "m"),
            sum,
            node("Add", "add", &["x", "r"], "y"),
        ],
        vec![ints("s", &[n, n])],
    )
}

#[test]
fn folding_a_product_counts_its_multiply_accumulates() {
    // 1024 x 1024 x 1024: a billion MACs, 0.1 s of admission before this bound; refused
    // before it is computed.
    let started = std::time::Instant::now();
    let err = admit(&folded_product(1024), &Limits::DEFAULT).unwrap_err();
    assert_eq!(
        err,
        AdmissionError::LimitExceeded {
            what: "multiply-accumulates of products computed while typing".into(),
            value: 1 << 30,
            max: Limits::DEFAULT.max_fold_macs,
        }
    );
    println!("refused in {:?}", started.elapsed());
    // 64³ passes a budget of exactly 64³, not one less.
    let budget = |m: u64| Limits {
        max_fold_macs: m,
        ..Limits::DEFAULT
    };
    admit(&folded_product(64), &budget(64 * 64 * 64)).unwrap();
    let err = admit(&folded_product(64), &budget(64 * 64 * 64 - 1)).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("multiply-accumulates of products computed while typing is 262144"),
        "{err}"
    );
}
