//! Admission: every rejection class, limits, and the model store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use prost::Message;
use prova_model::{AdmissionError, Limits, ModelId, ModelStore, StoreError, admit};
use std::path::PathBuf;
use tract_onnx::pb::{self, tensor_shape_proto::dimension::Value};

mod common;

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures")
            .join(path),
    )
    .unwrap()
}

fn refused(bytes: &[u8]) -> AdmissionError {
    admit(bytes, &Limits::DEFAULT).unwrap_err()
}

#[test]
fn each_reject_fixture_gets_its_own_error() {
    assert!(matches!(
        refused(&fixture("reject/not_onnx.onnx")),
        AdmissionError::Parse(_)
    ));
    assert!(matches!(
        refused(&fixture("reject/external_data.onnx")),
        AdmissionError::ExternalData { .. }
    ));
    let e = refused(&fixture("reject/random_normal.onnx"));
    assert!(
        matches!(&e, AdmissionError::NonDeterministicOp { op, .. } if op == "RandomNormalLike"),
        "{e}"
    );
    let e = refused(&fixture("reject/multinomial.onnx"));
    assert!(
        matches!(&e, AdmissionError::NonDeterministicOp { op, .. } if op == "Multinomial"),
        "{e}"
    );
    let e = refused(&fixture("reject/symbolic_dims.onnx"));
    assert!(
        matches!(&e, AdmissionError::SymbolicDim { axis: 1, dim, .. } if dim == "M"),
        "{e}"
    );
    let e = refused(&fixture("reject/unknown_op.onnx"));
    assert!(
        matches!(&e, AdmissionError::UnsupportedOp { op, .. } if op == "com.example.FrobnicateTensor"),
        "{e}"
    );
    let e = refused(&fixture("reject/zipmap.onnx"));
    assert!(e.to_string().contains("zipmap disabled"), "{e}");
    assert!(matches!(refused(b""), AdmissionError::MissingGraph));
}

#[test]
fn size_limits_are_enforced() {
    let bytes = fixture("models/digits_mlp.onnx");
    let tight = Limits {
        max_model_bytes: 100,
        ..Limits::DEFAULT
    };
    assert!(matches!(
        admit(&bytes, &tight).unwrap_err(),
        AdmissionError::TooLarge { max: 100, .. }
    ));
    let tight = Limits {
        max_params: 1000,
        ..Limits::DEFAULT
    };
    let e = admit(&bytes, &tight).unwrap_err();
    assert!(e.to_string().starts_with("parameter count is"), "{e}");
    let tight = Limits {
        max_macs: 100,
        ..Limits::DEFAULT
    };
    let e = admit(&bytes, &tight).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("multiply-accumulates per inference is"),
        "{e}"
    );
    let tight = Limits {
        max_nodes: 3,
        ..Limits::DEFAULT
    };
    let e = admit(&bytes, &tight).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("node count is 4, over the limit of 3"),
        "{e}"
    );
}

fn edit(bytes: &[u8], f: impl FnOnce(&mut pb::ModelProto)) -> Vec<u8> {
    let mut proto = pb::ModelProto::decode(bytes).unwrap();
    f(&mut proto);
    proto.encode_to_vec()
}

#[test]
fn huge_declared_shapes_are_refused_before_allocation() {
    let bytes = fixture("models/digits_cnn.onnx");
    // An input of 2^40 x 8 x 8 floats: refused from the declaration alone.
    let huge = edit(&bytes, |p| {
        let g = p.graph.as_mut().unwrap();
        let pb::type_proto::Value::TensorType(t) =
            g.input[0].r#type.as_mut().unwrap().value.as_mut().unwrap();
        t.shape.as_mut().unwrap().dim[1].value = Some(Value::DimValue(1 << 40));
    });
    let e = admit(&huge, &Limits::DEFAULT).unwrap_err();
    assert!(
        e.to_string().contains("size of input \"input\" in bytes"),
        "{e}"
    );
    // An initializer declaring 2^62 elements with no data behind it.
    let huge = edit(&bytes, |p| {
        let g = p.graph.as_mut().unwrap();
        g.initializer[0].dims = vec![1 << 31, 1 << 31];
    });
    let e = admit(&huge, &Limits::DEFAULT).unwrap_err();
    assert!(matches!(e, AdmissionError::LimitExceeded { .. }), "{e}");
    // Dimension products that overflow u64 saturate into the same refusal.
    let huge = edit(&bytes, |p| {
        let g = p.graph.as_mut().unwrap();
        g.initializer[0].dims = vec![i64::MAX, i64::MAX, i64::MAX];
    });
    assert!(matches!(
        admit(&huge, &Limits::DEFAULT).unwrap_err(),
        AdmissionError::LimitExceeded { .. }
    ));
    // Negative dimensions are malformed.
    let neg = edit(&bytes, |p| {
        p.graph.as_mut().unwrap().initializer[0].dims = vec![-1]
    });
    assert!(matches!(
        admit(&neg, &Limits::DEFAULT).unwrap_err(),
        AdmissionError::Parse(_)
    ));
}

#[test]
fn unsupported_input_types_and_missing_shapes() {
    let bytes = fixture("models/iris_logreg.onnx");
    let string_input = edit(&bytes, |p| {
        let g = p.graph.as_mut().unwrap();
        let pb::type_proto::Value::TensorType(t) =
            g.input[0].r#type.as_mut().unwrap().value.as_mut().unwrap();
        t.elem_type = 8; // string
    });
    let e = admit(&string_input, &Limits::DEFAULT).unwrap_err();
    assert!(
        matches!(
            e,
            AdmissionError::UnsupportedDType {
                what: "input",
                elem_type: 8,
                ..
            }
        ),
        "{e}"
    );
    let no_shape = edit(&bytes, |p| {
        let g = p.graph.as_mut().unwrap();
        let pb::type_proto::Value::TensorType(t) =
            g.input[0].r#type.as_mut().unwrap().value.as_mut().unwrap();
        t.shape = None;
    });
    assert!(matches!(
        admit(&no_shape, &Limits::DEFAULT).unwrap_err(),
        AdmissionError::MissingShape { .. }
    ));
}

#[test]
fn admitted_models_have_static_signatures_and_cost() {
    let bytes = fixture("models/digits_cnn.onnx");
    let m = admit(&bytes, &Limits::DEFAULT).unwrap();
    assert_eq!(m.info.id, ModelId::of(&bytes));
    assert_eq!(m.info.inputs[0].shape, vec![1, 1, 8, 8]);
    let outputs: Vec<_> = m
        .info
        .outputs
        .iter()
        .map(|o| (o.name.as_str(), o.dtype.name(), o.shape.clone()))
        .collect();
    assert_eq!(
        outputs,
        vec![
            ("logits", "f32", vec![1, 10]),
            ("probabilities", "f32", vec![1, 10]),
            ("label", "i64", vec![1])
        ]
    );
    // In MAC-equivalents (docs/gas.md): the 3x3 convolution, 1 -> 8 channels over 8x8, is
    // 4608 MACs x 0.018 + 512 outputs x 5; the dense 128 -> 10 layer 1280 MACs x 0.014 +
    // 10 outputs x 5 + 1408 input elements x 0.05; plus element-wise work.
    assert!(m.info.cost.macs >= 2643 + 138, "{:?}", m.info.cost);
    assert!(m.info.cost.macs < 20_000, "{:?}", m.info.cost);
    assert_eq!(m.info.ops.get("Conv"), Some(&1));
    assert!(m.info.gas_cold_call > m.info.gas_per_call);
    // The batch dimension of scikit-learn exports is fixed to 1.
    let m = admit(&fixture("models/digits_mlp.onnx"), &Limits::DEFAULT).unwrap();
    assert_eq!(m.info.inputs[0].shape, vec![1, 64]);
    assert_eq!(m.info.outputs[0].dtype.name(), "i64");
}

#[test]
fn model_store_is_content_addressed_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let store = ModelStore::open(dir.path().join("models")).unwrap();
    let bytes = fixture("models/iris_logreg.onnx");
    let id = store.put(&bytes).unwrap();
    assert_eq!(id, ModelId::of(&bytes));
    assert_eq!(store.put(&bytes).unwrap(), id, "idempotent");
    assert_eq!(store.get(&id).unwrap(), bytes);
    assert_eq!(store.list().unwrap(), vec![id]);
    // No temporary files are left behind.
    assert_eq!(std::fs::read_dir(store.dir()).unwrap().count(), 1);
    // A missing model and a corrupted file are distinct errors.
    let other = ModelId::of(b"other");
    assert!(matches!(store.get(&other), Err(StoreError::NotFound(_))));
    std::fs::write(store.dir().join(format!("{}.onnx", id.hex())), b"tampered").unwrap();
    assert!(matches!(store.get(&id), Err(StoreError::Corrupt { .. })));
    // Re-putting repairs it; a reopened store sees the same contents.
    store.put(&bytes).unwrap();
    let reopened = ModelStore::open(store.dir()).unwrap();
    assert_eq!(reopened.get(&id).unwrap(), bytes);
}

#[test]
fn model_store_keeps_upload_chunks_by_hash() {
    let dir = tempfile::tempdir().unwrap();
    let store = ModelStore::open(dir.path().join("models")).unwrap();
    let chunk = b"a chunk of a staged upload".to_vec();
    let hash = store.put_chunk(&chunk).unwrap();
    assert_eq!(hash, alloy_primitives::keccak256(&chunk));
    assert_eq!(store.put_chunk(&chunk).unwrap(), hash, "idempotent");
    assert_eq!(store.get_chunk(&hash).unwrap(), chunk);
    // Chunks live apart from models: listing models does not see them, nor temporary files.
    assert!(store.list().unwrap().is_empty());
    assert_eq!(
        std::fs::read_dir(store.dir().join("chunks"))
            .unwrap()
            .count(),
        1
    );
    let other = alloy_primitives::keccak256(b"other");
    assert!(matches!(
        store.get_chunk(&other),
        Err(StoreError::ChunkNotFound(_))
    ));
    let file = store.dir().join(format!(
        "chunks/{}.bin",
        alloy_primitives::hex::encode(hash)
    ));
    std::fs::write(&file, b"tampered").unwrap();
    assert!(matches!(
        store.get_chunk(&hash),
        Err(StoreError::CorruptChunk { .. })
    ));
    assert_eq!(
        store.read_chunk(&hash).unwrap(),
        b"tampered",
        "read_chunk does not verify"
    );
    store.put_chunk(&chunk).unwrap();
    assert_eq!(
        store.get_chunk(&hash).unwrap(),
        chunk,
        "re-putting repairs it"
    );
}

#[test]
fn graphs_that_do_not_type_check_are_refused() {
    // Double the CNN's input width: the dense layer after it no longer fits.
    let bytes = edit(&fixture("models/digits_cnn.onnx"), |p| {
        let g = p.graph.as_mut().unwrap();
        let pb::type_proto::Value::TensorType(t) =
            g.input[0].r#type.as_mut().unwrap().value.as_mut().unwrap();
        t.shape.as_mut().unwrap().dim[3].value = Some(Value::DimValue(16));
    });
    let e = admit(&bytes, &Limits::DEFAULT).unwrap_err();
    assert!(matches!(e, AdmissionError::Typing(_)), "{e}");
}

#[test]
fn docs_list_every_allowed_operator() {
    let docs = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/operators.md"),
    )
    .unwrap();
    let allowlist = prova_model::allowlist::ONNX
        .iter()
        .chain(prova_model::allowlist::ONNX_ML)
        .chain(prova_model::allowlist::MICROSOFT)
        .chain(prova_model::allowlist::NON_DETERMINISTIC);
    for op in allowlist {
        let word = |c: Option<char>| c.is_none_or(|c| !c.is_ascii_alphanumeric());
        let found = docs.match_indices(op).any(|(i, _)| {
            word(docs[..i].chars().last()) && word(docs[i + op.len()..].chars().next())
        });
        assert!(found, "docs/operators.md does not mention {op}");
    }
}

#[test]
fn tree_ensembles_are_priced_by_depth_and_cycles_are_refused() {
    let bytes = fixture("models/cancer_forest.onnx");
    let info = admit(&bytes, &Limits::DEFAULT).unwrap().info;
    assert!(info.gas_per_call > 0);
    // Point a split of tree 0 back at its root: a cycle, refused before tract sees it.
    let cyclic = edit(&bytes, |p| {
        let node = &mut p.graph.as_mut().unwrap().node[0];
        let root_true = node
            .attribute
            .iter()
            .position(|a| a.name == "nodes_truenodeids")
            .unwrap();
        let modes = node
            .attribute
            .iter()
            .find(|a| a.name == "nodes_modes")
            .unwrap();
        let branch = modes
            .strings
            .iter()
            .rposition(|m| m.as_slice() != b"LEAF")
            .unwrap();
        node.attribute[root_true].ints[branch] = 0;
    });
    let e = admit(&cyclic, &Limits::DEFAULT).unwrap_err();
    assert!(e.to_string().contains("has a cycle"), "{e}");
}

/// Refusals in the model's own terms (issue 17): the node, the operator, the attribute and
/// the shapes, never "tract panicked".
#[test]
fn attribute_refusals_name_the_node_the_attribute_and_the_shapes() {
    let axes = |v: &[i64]| pb::TensorProto {
        name: "axes".into(),
        data_type: 7,
        dims: vec![v.len() as i64],
        int64_data: v.to_vec(),
        ..Default::default()
    };
    let squeeze = |v: &[i64]| {
        common::graph(
            &[1, 4],
            vec![common::node("Squeeze", "squeeze", &["x", "axes"], "y")],
            vec![axes(v)],
        )
    };
    let err = prova_model::admit(&squeeze(&[2]), &prova_model::Limits::DEFAULT)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("node \"squeeze\" (Squeeze): axes [2] out of range for input 0 of shape [1,4] (rank 2): each axis must be in [-2, 1]"),
        "{err}"
    );
    let err = prova_model::admit(&squeeze(&[1]), &prova_model::Limits::DEFAULT)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("axis 1 of input 0 of shape [1,4] (rank 2) has size 4"),
        "{err}"
    );
    assert!(prova_model::admit(&squeeze(&[0]), &prova_model::Limits::DEFAULT).is_ok());

    let mut softmax = common::node("Softmax", "probs", &["x"], "y");
    softmax.attribute.push(pb::AttributeProto {
        name: "axis".into(),
        i: 5,
        r#type: 2,
        ..Default::default()
    });
    let err = prova_model::admit(
        &common::graph(&[1, 4], vec![softmax], vec![]),
        &prova_model::Limits::DEFAULT,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("node \"probs\" (Softmax): axis [5] out of range"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
