//! Depthwise convolution: tract's `DepthWise` op (the baseline) against Prova's
//! [`prova_runtime::depthwise::DepthwiseConv`], on the geometries of a MobileNet block
//! (3×3 kernels, padding 1, strides 1 and 2), each a one-node plan run warm:
//!
//! ```sh
//! cargo bench -p prova-runtime --bench depthwise
//! ```
//! Both compute the same bits (`tests/depthwise.rs`); throughput is in multiply-adds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use prova_runtime::{Profile, depthwise};
use std::hint::black_box;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec, PoolSpec};
use tract_onnx::tract_core::ops::nn::DataFormat;
use tract_onnx::tract_core::plan::SimpleState;

/// Channels, input side, stride: the four depthwise layers of `fixtures/bench_real.py`'s
/// MobileNet (3×64×64 input).
const LAYERS: &[(usize, usize, usize)] = &[(16, 32, 1), (32, 32, 2), (64, 16, 2), (128, 8, 1)];

fn model(c: usize, side: usize, stride: usize) -> TypedModel {
    let mut model = TypedModel::default();
    let x = model
        .add_source("x", f32::fact([1, c, side, side]))
        .unwrap();
    let kernel = tract_ndarray::Array4::from_shape_fn((c, 1, 3, 3), |(o, _, y, x)| {
        ((o * 9 + y * 3 + x) % 17) as f32 * 0.05 - 0.4
    })
    .into_tensor();
    let k = model.add_const("kernel", kernel).unwrap();
    let b = model.add_const("bias", tensor1(&vec![0.25f32; c])).unwrap();
    let conv = Conv {
        pool_spec: PoolSpec {
            data_format: DataFormat::NCHW,
            kernel_shape: tvec!(3, 3),
            padding: PaddingSpec::Explicit(tvec!(1, 1), tvec!(1, 1)),
            dilations: None,
            strides: Some(tvec!(stride, stride)),
            input_channels: c,
            output_channels: c,
        },
        kernel_fmt: KernelFormat::OIHW,
        group: c,
        q_params: None,
    };
    let y = model.wire_node("conv", conv, &[x, k, b]).unwrap();
    model.select_output_outlets(&y).unwrap();
    model
}

fn bench(c: &mut Criterion) {
    prova_runtime::pin(Profile::Exact).expect("pin the exact profile");
    for &(channels, side, stride) in LAYERS {
        let m = model(channels, side, stride);
        let input =
            tract_ndarray::Array4::from_shape_fn((1, channels, side, side), |(_, c, y, x)| {
                ((c * 7 + y * 3 + x) % 11) as f32 * 0.3 - 1.5
            })
            .into_tensor();
        let theirs = m.clone().into_optimized().unwrap().into_runnable().unwrap();
        let mut ours = m;
        ours.declutter().unwrap();
        assert_eq!(depthwise::use_prova_depthwise(&mut ours).unwrap(), 1);
        let ours = ours.into_optimized().unwrap().into_runnable().unwrap();
        let out = side.div_ceil(stride);
        let mut group = c.benchmark_group(format!("depthwise/c{channels}_{side}x{side}_s{stride}"));
        group.throughput(Throughput::Elements((channels * out * out * 9) as u64));
        for (name, plan) in [("tract", &theirs), ("prova", &ours)] {
            let mut state = SimpleState::new(plan).unwrap();
            group.bench_function(name, |b| {
                b.iter(|| black_box(state.run(tvec!(input.clone().into_tvalue())).unwrap()))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
