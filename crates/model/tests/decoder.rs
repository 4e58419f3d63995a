//! Admission of decoders with past (fixtures/lm/char_lm.onnx and edits of it): the step
//! structure is read and checked, the worst step priced, and every malformed layout refused
//! in the model's own terms.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use prost::Message;
use prova_model::{AdmissionError, Limits, StepInput, admit};
use tract_onnx::pb::{self, tensor_shape_proto::dimension::Value};

fn lm() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/lm/char_lm.onnx"
    );
    std::fs::read(path).unwrap()
}

fn edit(bytes: &[u8], f: impl FnOnce(&mut pb::ModelProto)) -> Vec<u8> {
    let mut proto = pb::ModelProto::decode(bytes).unwrap();
    f(&mut proto);
    proto.encode_to_vec()
}

fn refusal(bytes: &[u8]) -> String {
    admit(bytes, &Limits::DEFAULT).unwrap_err().to_string()
}

fn graph(p: &mut pb::ModelProto) -> &mut pb::GraphProto {
    p.graph.as_mut().unwrap()
}

#[test]
fn the_char_model_is_admitted_as_a_decoder_priced_at_its_longest_context() {
    let model = admit(&lm(), &Limits::DEFAULT).unwrap();
    let d = model.info.decoder.as_ref().expect("a decoder");
    assert_eq!(d.max_context, 128);
    assert_eq!(d.layers, 4);
    assert_eq!(d.eos, None);
    assert!(d.vocab > 64 && d.vocab < 128, "vocab {}", d.vocab);
    assert_eq!(d.inputs[0], StepInput::InputIds);
    assert_eq!(d.inputs[1], StepInput::PositionIds);
    assert_eq!(
        d.inputs[2],
        StepInput::Past {
            layer: 0,
            value: false,
            heads: 4,
            head_dim: 32
        }
    );
    assert_eq!(d.outputs[0], None);
    assert_eq!(
        &d.outputs[1..],
        &[
            Some(2),
            Some(3),
            Some(4),
            Some(5),
            Some(6),
            Some(7),
            Some(8),
            Some(9)
        ]
    );
    // The signature and cost are the step's at past length 127.
    assert_eq!(model.info.inputs[2].shape, vec![1, 4, 127, 32]);
    assert_eq!(model.info.outputs[0].shape, vec![1, 1, u64::from(d.vocab)]);
    assert_eq!(model.info.outputs[1].shape, vec![1, 4, 128, 32]);
    // The price is the longest context's: the same model declaring a context of 16 costs less
    // per step (attention over 16 positions, a smaller cache to append to).
    let short = edit(&lm(), |p| {
        for m in &mut p.metadata_props {
            if m.key == "max_position_embeddings" {
                m.value = "16".into();
            }
        }
    });
    let short = admit(&short, &Limits::DEFAULT).unwrap();
    assert_eq!(short.info.inputs[2].shape, vec![1, 4, 15, 32]);
    assert!(short.info.cost.macs < model.info.cost.macs);
    assert!(short.info.decoder.unwrap().gas_per_token < d.gas_per_token);
    let gas = prova_model::GasSchedule::DEFAULT;
    assert_eq!(
        d.gas_per_token,
        gas.token_gas(&model.info.cost, u64::from(d.vocab) * 4)
    );
}

#[test]
fn context_length_comes_from_the_metadata_and_is_bounded() {
    let bytes = edit(&lm(), |p| {
        p.metadata_props
            .retain(|m| m.key != "max_position_embeddings")
    });
    let r = refusal(&bytes);
    assert!(
        r.contains("must declare its context length") && r.contains("max_position_embeddings"),
        "{r}"
    );

    let set = |v: &str| {
        let v = v.to_string();
        edit(&lm(), move |p| {
            for m in &mut p.metadata_props {
                if m.key == "max_position_embeddings" {
                    m.value = v.clone();
                }
            }
        })
    };
    let r = refusal(&set("lots"));
    assert!(r.contains("\"lots\", not a positive integer"), "{r}");
    assert!(refusal(&set("0")).contains("not a positive integer"));
    let r = refusal(&set("100000"));
    assert!(
        r.contains("decoder context length is 100000, over the limit of 4096"),
        "{r}"
    );

    // An end-of-sequence token is read when present.
    let bytes = edit(&lm(), |p| {
        p.metadata_props.push(pb::StringStringEntryProto {
            key: "eos_token_id".into(),
            value: "0".into(),
        })
    });
    let model = admit(&bytes, &Limits::DEFAULT).unwrap();
    assert_eq!(model.info.decoder.unwrap().eos, Some(0));
}

#[test]
fn inputs_and_outputs_must_be_the_step_layout() {
    let rename_input = |from: &str, to: &str| {
        let (from, to) = (from.to_string(), to.to_string());
        edit(&lm(), move |p| {
            let g = graph(p);
            for v in &mut g.input {
                if v.name == from {
                    v.name = to.clone();
                }
            }
            for n in &mut g.node {
                for i in &mut n.input {
                    if *i == from {
                        *i = to.clone();
                    }
                }
            }
        })
    };
    let r = refusal(&rename_input(
        "past_key_values.1.value",
        "past_key_values.1.val",
    ));
    assert!(
        r.contains("input \"past_key_values.1.val\" is not one a decoder step takes"),
        "{r}"
    );
    let r = refusal(&rename_input(
        "past_key_values.3.key",
        "past_key_values.7.key",
    ));
    assert!(r.contains("\"past_key_values.3.key\" is missing"), "{r}");
    let r = refusal(&rename_input("input_ids", "tokens"));
    assert!(
        r.contains("input \"tokens\" is not one a decoder step takes"),
        "{r}"
    );

    // A past of fixed length.
    let bytes = edit(&lm(), |p| {
        let v = graph(p)
            .input
            .iter_mut()
            .find(|v| v.name == "past_key_values.0.key")
            .unwrap();
        let Some(pb::type_proto::Value::TensorType(t)) = v.r#type.as_mut().unwrap().value.as_mut()
        else {
            unreachable!()
        };
        t.shape.as_mut().unwrap().dim[2].value = Some(Value::DimValue(16));
    });
    let r = refusal(&bytes);
    assert!(
        r.contains("has a fixed past length; it must be symbolic"),
        "{r}"
    );

    // A dropped present.
    let bytes = edit(&lm(), |p| {
        graph(p).output.retain(|v| v.name != "present.3.value")
    });
    let r = refusal(&bytes);
    assert!(
        r.contains("every past_key_values input needs its present output"),
        "{r}"
    );

    // A present that is not the past plus the new position: the past passed through.
    let bytes = edit(&lm(), |p| {
        let g = graph(p);
        for n in &mut g.node {
            for name in n.output.iter_mut().chain(n.input.iter_mut()) {
                if name == "present.0.key" {
                    *name = "inner.0.key".into();
                }
            }
        }
        g.node.push(pb::NodeProto {
            op_type: "Identity".into(),
            name: "stale_cache".into(),
            input: vec!["past_key_values.0.key".into()],
            output: vec!["present.0.key".into()],
            ..Default::default()
        });
    });
    let r = refusal(&bytes);
    assert!(
        r.contains("output \"present.0.key\" of one step")
            && r.contains("a present must be its past with the new position appended"),
        "{r}"
    );
    assert!(matches!(
        admit(&bytes, &Limits::DEFAULT).unwrap_err(),
        AdmissionError::Decoder(_)
    ));
}
