//! Model admission on generated ONNX graphs: the fuzz bytes choose operators from the
//! allowlist, wire them to earlier values or to small integer and float initializers (shape
//! arguments drawn from edge values: 0, -1, 2^20, 2^31, i64::MAX, ...), and set attributes
//! (axes, pads, perms, kernel shapes, ...). This reaches tract's typing and constant folding,
//! which random bytes do not. Admission must refuse or admit without panicking, aborting or
//! allocating what the model declares.
#![no_main]

use libfuzzer_sys::{
    arbitrary::{Result, Unstructured},
    fuzz_target,
};
use prost::Message;
use prova_model::{Limits, admit, allowlist};
use tract_onnx::pb::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto, tensor_shape_proto::Dimension,
    tensor_shape_proto::dimension::Value as Dim, type_proto,
};

const INTS: &[i64] = &[
    0,
    1,
    -1,
    2,
    3,
    4,
    -2,
    7,
    64,
    1 << 16,
    1 << 20,
    1 << 24,
    1 << 31,
    1 << 32,
    1 << 40,
    i64::MAX,
    i64::MIN,
];

const ATTRS: &[&str] = &[
    "axis",
    "axes",
    "perm",
    "pads",
    "kernel_shape",
    "strides",
    "dilations",
    "group",
    "keepdims",
    "to",
    "starts",
    "ends",
    "split",
    "transA",
    "transB",
    "alpha",
    "beta",
    "auto_pad",
    "ceil_mode",
    "value",
    "repeats",
    "shape",
    "allowzero",
    "output_padding",
    "count_include_pad",
    "select_last_index",
    "noop_with_empty_axes",
];

fn int(u: &mut Unstructured<'_>) -> Result<i64> {
    if u.ratio(1, 4)? {
        u.arbitrary()
    } else {
        Ok(*u.choose(INTS)?)
    }
}

fn initializer(u: &mut Unstructured<'_>, name: String) -> Result<TensorProto> {
    let rank = u.int_in_range(0..=2)?;
    let mut dims = Vec::new();
    for _ in 0..rank {
        dims.push(u.int_in_range(0..=4)?);
    }
    let n: i64 = dims.iter().product();
    let mut t = TensorProto {
        name,
        dims,
        ..Default::default()
    };
    match u.int_in_range(0..=3)? {
        0 | 1 => {
            t.data_type = 7; // int64: shapes, axes, repeats, pads
            for _ in 0..n {
                t.int64_data.push(int(u)?);
            }
        }
        2 => {
            t.data_type = 1;
            for _ in 0..n {
                t.float_data
                    .push(*u.choose(&[0.0, 1.0, -1.0, 0.5, f32::NAN, 1e30])?);
            }
        }
        _ => {
            t.data_type = *u.choose(&[2, 3, 6, 9, 11])?;
            t.raw_data = u.bytes(n as usize * 8)?.to_vec();
            let size = match t.data_type {
                2 | 3 | 9 => 1,
                6 => 4,
                _ => 8,
            };
            t.raw_data.truncate(n as usize * size);
        }
    }
    Ok(t)
}

fn attribute(u: &mut Unstructured<'_>) -> Result<AttributeProto> {
    let name = u.choose(ATTRS)?.to_string();
    let mut a = AttributeProto {
        name,
        ..Default::default()
    };
    match u.int_in_range(0..=4)? {
        0 => {
            a.r#type = 2;
            a.i = int(u)?;
        }
        1 | 2 => {
            a.r#type = 7;
            for _ in 0..u.int_in_range(0..=6)? {
                a.ints.push(int(u)?);
            }
        }
        3 => {
            a.r#type = 1;
            a.f = *u.choose(&[0.0, 1.0, -1.0, 1e-5, f32::INFINITY])?;
        }
        _ => {
            a.r#type = 4;
            a.t = Some(initializer(u, String::new())?);
        }
    }
    Ok(a)
}

fn model(u: &mut Unstructured<'_>) -> Result<ModelProto> {
    let mut g = GraphProto {
        name: "fuzz".into(),
        ..Default::default()
    };
    let rank = u.int_in_range(1..=4)?;
    let mut dim = vec![Dimension {
        value: Some(Dim::DimParam("N".into())),
        ..Default::default()
    }];
    for _ in 1..rank {
        dim.push(Dimension {
            value: Some(Dim::DimValue(u.int_in_range(1..=5)?)),
            ..Default::default()
        });
    }
    g.input.push(ValueInfoProto {
        name: "x".into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: *u.choose(&[1, 1, 1, 7, 2, 9])?,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    });
    let mut values = vec!["x".to_string()];
    let ops: Vec<(&str, &str)> = allowlist::ONNX
        .iter()
        .map(|o| ("", *o))
        .chain(allowlist::ONNX_ML.iter().map(|o| ("ai.onnx.ml", *o)))
        .collect();
    let nodes = u.int_in_range(1..=10)?;
    for i in 0..nodes {
        let (domain, op) = *u.choose(&ops)?;
        let mut n = NodeProto {
            name: format!("n{i}"),
            op_type: op.into(),
            domain: domain.into(),
            ..Default::default()
        };
        for k in 0..u.int_in_range(0..=3)? {
            if u.ratio(1, 2)? {
                n.input.push(u.choose(&values)?.clone());
            } else {
                let name = format!("c{i}_{k}");
                g.initializer.push(initializer(u, name.clone())?);
                n.input.push(name);
            }
        }
        for _ in 0..u.int_in_range(0..=3)? {
            n.attribute.push(attribute(u)?);
        }
        let outputs = u.int_in_range(1..=2)?;
        for k in 0..outputs {
            let name = format!("v{i}_{k}");
            n.output.push(name.clone());
            values.push(name);
        }
        g.node.push(n);
    }
    for _ in 0..u.int_in_range(1..=2)? {
        let name = if u.ratio(3, 4)? {
            values.last().cloned().unwrap_or_default()
        } else {
            u.choose(&values)?.clone()
        };
        g.output.push(ValueInfoProto {
            name,
            ..Default::default()
        });
    }
    Ok(ModelProto {
        ir_version: 8,
        opset_import: vec![
            OperatorSetIdProto {
                domain: String::new(),
                version: *u.choose(&[9, 11, 13, 17])?,
            },
            OperatorSetIdProto {
                domain: "ai.onnx.ml".into(),
                version: 3,
            },
        ],
        graph: Some(g),
        ..Default::default()
    })
}

/// tract panics that admission contains (`contain_tract`) are refusals, not crashes: keep
/// libFuzzer's abort-on-any-panic hook from counting them. A panic that escapes `admit` still
/// aborts (libfuzzer-sys aborts when the target itself unwinds).
fn quiet_contained_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(|_| {})));
}

fuzz_target!(|data: &[u8]| {
    quiet_contained_panics();
    let Ok(m) = model(&mut Unstructured::new(data)) else {
        return;
    };
    let bytes = m.encode_to_vec();
    // `PROVA_FUZZ_DUMP=file` writes the generated model (to turn a finding into a fixture).
    if let Ok(path) = std::env::var("PROVA_FUZZ_DUMP") {
        let _ = std::fs::write(path, &bytes);
    }
    let limits = Limits::DEFAULT;
    if let Ok(model) = admit(&bytes, &limits) {
        assert!(model.info.cost.max_tensor_bytes <= limits.max_tensor_bytes);
    }
});
