//! Row sums and RMS normalisation of the exact profile, eight rows at a time; softmax and
//! exact Gelu in one loop.
//!
//! Under the exact profile tract sums a row with its portable kernels: `Reduce<Sum>` over the
//! last axis runs `SSum4` in its alignment frame (the part before the first 16-byte boundary
//! padded with zeros to four values, then the aligned groups of four, then the rest padded
//! likewise, each part summed by `Iterator::sum` and folded into `+0` with `+`), and `RmsNorm`
//! the generic kernel (`Iterator::sum` of the squares, divided by the length, plus epsilon,
//! square root, reciprocal, then every value multiplied by it). `Iterator::sum` adds one value
//! at a time: one chain of dependent additions per row, latency-bound (a transformer's
//! LayerNorm: 170 ns a row of 256, 4% of an encoder block).
//!
//! [`RowSum`] and [`RowRmsNorm`] do the same operations per row, in the same order, on eight
//! rows at once: each row is a lane, eight rows' values come in as eight vectors transposed in
//! registers, and each lane's additions follow its row's order exactly (so eight independent
//! chains share the adder). Division, square root and reciprocal are IEEE operations, the
//! same bits vectorised. Rows left over (fewer than eight) and CPUs without AVX run the same
//! operations one row at a time. `tests/rows.rs` compares both with tract's ops bit for bit.
//!
//! Two more ops of the same kind take tract's per-row (or per-chunk) kernel calls into one
//! loop (x86-64): [`RowSoftmax`] (the maximum, exp-and-sum and scaling of each row of a
//! softmax over the last axis) and [`FusedGelu`] (exact Gelu's scaling, erf and combination in
//! one vector). Both run the operations tract's kernels run, in the same order.

use std::sync::atomic::{AtomicBool, Ordering};
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::element_wise::ElementWiseOp;
use tract_onnx::tract_core::ops::nn::{GeluExact, Reduce, Reducer, RmsNorm, Softmax, SoftmaxKind};

/// Makes the ops use their one-row-at-a-time code even where the CPU has AVX, and the softmax
/// its framed kernels on every row (tests compare both with tract).
#[doc(hidden)]
pub static FORCE_SCALAR: AtomicBool = AtomicBool::new(false);

fn vectorised() -> bool {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") && !FORCE_SCALAR.load(Ordering::Relaxed) {
        return true;
    }
    false
}

/// `Iterator::sum` of an f32 iterator: one addition at a time, from Rust's starting value.
fn seq_sum(values: impl Iterator<Item = f32>) -> f32 {
    values.sum::<f32>()
}

/// The starting value of `Iterator::sum` for f32 (`-0.0` in current Rust: the sum of nothing,
/// and the identity that keeps a sum of `-0.0`s at `-0.0`). Read from the standard library,
/// not assumed.
fn sum_start() -> f32 {
    std::iter::empty::<f32>().sum::<f32>()
}

/// tract's `SSum4` in its alignment frame on one row, one value at a time.
fn frame_sum(row: &[f32]) -> f32 {
    let (prefix, main, suffix) = frame(row);
    let padded = |part: &[f32]| {
        let mut four = [0.0f32; 4];
        four[..part.len()].copy_from_slice(part);
        seq_sum(four.into_iter())
    };
    let mut red = 0.0f32;
    if !prefix.is_empty() {
        red += padded(prefix);
    }
    if !main.is_empty() {
        red += seq_sum(main.iter().copied());
    }
    if !suffix.is_empty() {
        red += padded(suffix);
    }
    red
}

/// tract's reduction frame for four-value groups aligned to 16 bytes: the values before the
/// first boundary, the whole groups after it, the rest.
fn frame(row: &[f32]) -> (&[f32], &[f32], &[f32]) {
    let prefix = row.as_ptr().align_offset(16).min(row.len());
    let main = (row.len() - prefix) / 4 * 4;
    let (prefix_part, rest) = row.split_at(prefix);
    let (main_part, suffix_part) = rest.split_at(main);
    (prefix_part, main_part, suffix_part)
}

/// tract's generic RMS normalisation of one row, in place.
fn rms_norm_row(row: &mut [f32], eps: f32) {
    if row.is_empty() {
        return;
    }
    let sum_sq = seq_sum(row.iter().map(|x| x * x));
    let inv = ((sum_sq / row.len() as f32) + eps).sqrt().recip();
    for x in row.iter_mut() {
        *x *= inv;
    }
}

#[cfg(target_arch = "x86_64")]
mod avx {
    use crate::kernels::tile_avx;
    use std::arch::x86_64::*;

    /// Per lane `r`, `acc[r]` plus each of `rows[r][range]` in order (squared first if
    /// `SQUARE`: one multiply, then the add). The rows are `len` apart from `base`.
    ///
    /// # Safety
    /// AVX; the eight rows' `range` lie in the slice `base` points into.
    #[inline(always)]
    unsafe fn add_columns<const SQUARE: bool>(
        mut acc: __m256,
        base: *const f32,
        len: usize,
        range: std::ops::Range<usize>,
    ) -> __m256 {
        // SAFETY: the caller's.
        unsafe {
            let mut i = range.start;
            while i + 8 <= range.end {
                let p = base.add(i);
                // Written out: an array built by a closure went through the stack.
                let block = [
                    _mm256_loadu_ps(p),
                    _mm256_loadu_ps(p.add(len)),
                    _mm256_loadu_ps(p.add(2 * len)),
                    _mm256_loadu_ps(p.add(3 * len)),
                    _mm256_loadu_ps(p.add(4 * len)),
                    _mm256_loadu_ps(p.add(5 * len)),
                    _mm256_loadu_ps(p.add(6 * len)),
                    _mm256_loadu_ps(p.add(7 * len)),
                ];
                let [c0, c1, c2, c3, c4, c5, c6, c7] = tile_avx::transpose8(block);
                let term = |v: __m256| if SQUARE { _mm256_mul_ps(v, v) } else { v };
                acc = _mm256_add_ps(acc, term(c0));
                acc = _mm256_add_ps(acc, term(c1));
                acc = _mm256_add_ps(acc, term(c2));
                acc = _mm256_add_ps(acc, term(c3));
                acc = _mm256_add_ps(acc, term(c4));
                acc = _mm256_add_ps(acc, term(c5));
                acc = _mm256_add_ps(acc, term(c6));
                acc = _mm256_add_ps(acc, term(c7));
                i += 8;
            }
            while i < range.end {
                let v = _mm256_set_ps(
                    *base.add(7 * len + i),
                    *base.add(6 * len + i),
                    *base.add(5 * len + i),
                    *base.add(4 * len + i),
                    *base.add(3 * len + i),
                    *base.add(2 * len + i),
                    *base.add(len + i),
                    *base.add(i),
                );
                let v = if SQUARE { _mm256_mul_ps(v, v) } else { v };
                acc = _mm256_add_ps(acc, v);
                i += 1;
            }
            acc
        }
    }

    /// [`super::frame_sum`] of the eight rows of `len` values at `rows` (all sharing one
    /// alignment frame: `len` a multiple of four), into `out`.
    ///
    /// # Safety
    /// AVX.
    #[target_feature(enable = "avx")]
    pub(super) unsafe fn frame_sums8(rows: &[f32], len: usize, start: f32, out: &mut [f32]) {
        debug_assert!(rows.len() == 8 * len && len.is_multiple_of(4) && out.len() == 8);
        let (prefix, main, _) = super::frame(&rows[..len]);
        let (p, m) = (prefix.len(), main.len());
        let base = rows.as_ptr();
        let start = _mm256_set1_ps(start);
        let zero = _mm256_setzero_ps();
        // SAFETY: every range lies in each row.
        unsafe {
            // A short part: its values, then zeros to four, summed from the start value.
            let padded = |range: std::ops::Range<usize>| {
                let n = range.len();
                let mut s = add_columns::<false>(start, base, len, range);
                for _ in n..4 {
                    s = _mm256_add_ps(s, zero);
                }
                s
            };
            let mut red = zero;
            if p > 0 {
                red = _mm256_add_ps(red, padded(0..p));
            }
            if m > 0 {
                red = _mm256_add_ps(red, add_columns::<false>(start, base, len, p..p + m));
            }
            if p + m < len {
                red = _mm256_add_ps(red, padded(p + m..len));
            }
            _mm256_storeu_ps(out.as_mut_ptr(), red);
        }
    }

    /// [`super::rms_norm_row`] on the eight rows of `len` values at `rows`, in place.
    ///
    /// # Safety
    /// AVX.
    #[target_feature(enable = "avx")]
    pub(super) unsafe fn rms_norm8(rows: &mut [f32], len: usize, start: f32, eps: f32) {
        debug_assert!(rows.len() == 8 * len && len > 0);
        // SAFETY: the rows lie in `rows`.
        let sum_sq =
            unsafe { add_columns::<true>(_mm256_set1_ps(start), rows.as_ptr(), len, 0..len) };
        let mean = _mm256_div_ps(sum_sq, _mm256_set1_ps(len as f32));
        let root = _mm256_sqrt_ps(_mm256_add_ps(mean, _mm256_set1_ps(eps)));
        let inv = _mm256_div_ps(_mm256_set1_ps(1.0), root);
        let mut lanes = [0f32; 8];
        // SAFETY: eight floats.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), inv) };
        for (row, &inv) in rows.chunks_exact_mut(len).zip(&lanes) {
            let s = _mm256_set1_ps(inv);
            let mut chunks = row.chunks_exact_mut(8);
            for c in &mut chunks {
                // SAFETY: eight floats.
                unsafe {
                    let v = _mm256_loadu_ps(c.as_ptr());
                    _mm256_storeu_ps(c.as_mut_ptr(), _mm256_mul_ps(v, s));
                }
            }
            for x in chunks.into_remainder() {
                *x *= inv;
            }
        }
    }
}

/// `Reduce<Sum>` over the last axis of an f32 tensor of rows of at least four values (where
/// tract runs its kernel), as tract computes it; see the module docs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RowSum {
    shape: TVec<usize>,
}

impl RowSum {
    /// The input's shape with the last axis reduced to one.
    fn output_shape(&self) -> TVec<usize> {
        let mut shape = self.shape.clone();
        if let Some(last) = shape.last_mut() {
            *last = 1;
        }
        shape
    }

    fn run(&self, x: &[f32], out: &mut [f32]) {
        let len = *self.shape.last().unwrap_or(&1);
        let mut done = 0;
        #[cfg(target_arch = "x86_64")]
        if vectorised() && len.is_multiple_of(4) {
            let start = sum_start();
            for (rows, out) in x.chunks_exact(8 * len).zip(out.chunks_exact_mut(8)) {
                // SAFETY: the CPU has AVX; eight rows of `len` (a multiple of four).
                unsafe { avx::frame_sums8(rows, len, start, out) };
                done += 8;
            }
        }
        for (row, o) in x.chunks_exact(len).zip(out.iter_mut()).skip(done) {
            *o = frame_sum(row);
        }
    }
}

impl Op for RowSum {
    fn name(&self) -> StaticName {
        "ProvaRowSum".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "last axis of {:?}, eight rows at a time",
            self.shape
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for RowSum {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = inputs.first().context("the sum's input is missing")?;
        ensure!(input.shape() == &*self.shape, "the sum's input shape");
        let x = input.try_as_plain_ram()?.as_slice::<f32>()?;
        let mut out = Tensor::zero::<f32>(&self.output_shape())?;
        self.run(x, out.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?);
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for RowSum {
    fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(f32::fact(&*self.output_shape())))
    }

    as_op!();
}

/// An op's one input of `shape`, as a tensor `run` rewrites in place (the input's own buffer
/// where the plan no longer needs it), as its one output. `what` names the op in errors.
fn in_place(
    inputs: TVec<TValue>,
    shape: &[usize],
    what: &str,
    run: impl FnOnce(&mut Tensor) -> TractResult<()>,
) -> TractResult<TVec<TValue>> {
    let input = inputs
        .into_iter()
        .next()
        .with_context(|| format!("the {what}'s input is missing"))?;
    ensure!(input.shape() == shape, "the {what}'s input shape");
    let mut t = input.into_tensor();
    run(&mut t)?;
    Ok(tvec!(t.into_tvalue()))
}

/// `RmsNorm` over the last axis of an f32 tensor, as tract's generic kernel computes it; see
/// the module docs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RowRmsNorm {
    shape: TVec<usize>,
    eps: u32,
}

impl RowRmsNorm {
    fn run(&self, data: &mut [f32]) {
        let len = *self.shape.last().unwrap_or(&1);
        if len == 0 {
            return;
        }
        let eps = f32::from_bits(self.eps);
        let mut done = 0;
        #[cfg(target_arch = "x86_64")]
        if vectorised() {
            let start = sum_start();
            for rows in data.chunks_exact_mut(8 * len) {
                // SAFETY: the CPU has AVX; eight rows of `len`.
                unsafe { avx::rms_norm8(rows, len, start, eps) };
                done += 8;
            }
        }
        for row in data.chunks_exact_mut(len).skip(done) {
            rms_norm_row(row, eps);
        }
    }
}

impl Op for RowRmsNorm {
    fn name(&self) -> StaticName {
        "ProvaRmsNorm".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "last axis of {:?}, eps {}, eight rows at a time",
            self.shape,
            f32::from_bits(self.eps)
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for RowRmsNorm {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        in_place(inputs, &self.shape, "normalisation", |t| {
            self.run(t.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?);
            Ok(())
        })
    }
}

impl TypedOp for RowRmsNorm {
    fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(f32::fact(&*self.shape)))
    }

    as_op!();
}

/// `Softmax` over the last axis of an f32 tensor, as tract computes it under the exact profile
/// (per row: the maximum of `ReduceMax`, `exp(x - max)` and its sum from the `Softmax2`
/// map-reduce in its alignment frame, then every value multiplied by the sum's reciprocal),
/// with each step run on the row directly: one pass for the NaN test and the maximum (tract's
/// reduction frame reads the row twice for them), the exp-and-sum kernel called without its
/// frame where the frame would hand it the whole row, and the multiplications inline. tract
/// calls three kernels through their frames per row: on an encoder's attention scores (512
/// rows of 128) that was 140 µs against onnxruntime's 40 (docs/performance.md).
#[cfg(target_arch = "x86_64")]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RowSoftmax {
    shape: TVec<usize>,
}

#[cfg(target_arch = "x86_64")]
impl RowSoftmax {
    fn run(&self, data: &mut [f32]) -> TractResult<()> {
        use tract_onnx::tract_core::tract_linalg::routines::Func;
        let len = *self.shape.last().unwrap_or(&1);
        if len == 0 {
            return Ok(());
        }
        // tract's frame, for rows the kernel cannot take whole (built on the first such row).
        let mut framed = None;
        let direct = vectorised();
        for row in data.chunks_exact_mut(len) {
            let max = crate::kernels::extreme::max_propagating_nan(row, direct);
            let sum = match direct
                .then(|| crate::kernels::exp_sum::exp_sum_one_part(row, max))
                .flatten()
            {
                Some(sum) => sum,
                None => {
                    if framed.is_none() {
                        framed = Some(Func::Softmax2.map_reduce_f32()?);
                    }
                    framed
                        .as_ref()
                        .context("the exp-and-sum kernel")?
                        .run_with_params(row, max)?
                }
            };
            // tract's `MulByScalar`: one multiplication per value, in any order.
            let scale = sum.recip();
            row.iter_mut().for_each(|x| *x *= scale);
        }
        Ok(())
    }
}

#[cfg(target_arch = "x86_64")]
impl Op for RowSoftmax {
    fn name(&self) -> StaticName {
        "ProvaSoftmax".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("last axis of {:?}", self.shape)])
    }

    op_as_typed_op!();
}

#[cfg(target_arch = "x86_64")]
impl EvalOp for RowSoftmax {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        in_place(inputs, &self.shape, "softmax", |t| {
            self.run(t.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?)
        })
    }
}

#[cfg(target_arch = "x86_64")]
impl TypedOp for RowSoftmax {
    fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(f32::fact(&*self.shape)))
    }

    as_op!();
}

/// tract's exact Gelu (`GeluExact`) on f32, with its `erf` computed in the same vector as the
/// scaling and the combination: tract runs it in chunks of 1024 values through three loops
/// (the scaled copy, the erf kernel in its frame, the combination), 97 µs of an encoder
/// block's hidden activations (128 × 1024) on the AVX2 EPYC. Each value gets the same
/// operations (`kernels::erf::gelu_exact`); without AVX, or with [`FORCE_SCALAR`], tract's
/// own op runs.
#[cfg(target_arch = "x86_64")]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FusedGelu {
    shape: TVec<usize>,
}

#[cfg(target_arch = "x86_64")]
impl Op for FusedGelu {
    fn name(&self) -> StaticName {
        "ProvaGelu".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("{:?}, erf in the same vector", self.shape)])
    }

    op_as_typed_op!();
}

#[cfg(target_arch = "x86_64")]
impl EvalOp for FusedGelu {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        use tract_onnx::tract_core::ops::element_wise::ElementWiseMiniOp;
        in_place(inputs, &self.shape, "Gelu", |t| {
            let done = vectorised()
                && crate::kernels::erf::gelu_exact(
                    t.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?,
                    2.0f32.sqrt().recip(),
                );
            if !done {
                GeluExact {}.eval_in_place(t, None)?;
            }
            Ok(())
        })
    }
}

#[cfg(target_arch = "x86_64")]
impl TypedOp for FusedGelu {
    fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(f32::fact(&*self.shape)))
    }

    as_op!();
}

/// Replaces (optimised model, exact profile) every `Reduce<Sum>` over the last axis of an f32
/// tensor with rows of at least four values by [`RowSum`], every `RmsNorm` over the last
/// axis of an f32 tensor by [`RowRmsNorm`], and (on x86-64) every f32 `Softmax` over the last
/// axis by [`RowSoftmax`] and every f32 `GeluExact` by [`FusedGelu`]. Returns how many were
/// replaced.
pub fn use_row_ops(model: &mut TypedModel) -> TractResult<usize> {
    crate::pack::replace_matching(model, "prova-row-ops", |model, node| {
        Ok(row_op(model, node)?.map(|op| (op, node.inputs.to_vec())))
    })
}

/// The row op replacing `node` (see [`use_row_ops`]), if any.
fn row_op(model: &TypedModel, node: &TypedNode) -> TractResult<Option<Box<dyn TypedOp>>> {
    let [input] = node.inputs.as_slice() else {
        return Ok(None);
    };
    let fact = model.outlet_fact(*input)?;
    let Some(shape) = fact.shape.as_concrete() else {
        return Ok(None);
    };
    if fact.datum_type != f32::datum_type() || fact.is_exotic() || shape.is_empty() {
        return Ok(None);
    }
    let last = shape.len() - 1;
    if let Some(reduce) = node.op_as::<Reduce>() {
        if reduce.reducer == Reducer::Sum && reduce.axes.as_slice() == [last] && shape[last] >= 4 {
            return Ok(Some(Box::new(RowSum {
                shape: shape.into(),
            })));
        }
    } else if let Some(norm) = node.op_as::<RmsNorm>()
        && norm.axis == last
        && norm.eps.datum_type() == f32::datum_type()
        && norm.eps.rank() == 0
    {
        return Ok(Some(Box::new(RowRmsNorm {
            shape: shape.into(),
            eps: norm.eps.cast_to_scalar::<f32>()?.to_bits(),
        })));
    }
    #[cfg(target_arch = "x86_64")]
    if let Some(softmax) = node.op_as::<Softmax>()
        && softmax.kind == SoftmaxKind::Softmax
        && softmax.quant_output_dt.is_none()
        && softmax.axes.as_slice() == [last]
    {
        return Ok(Some(Box::new(RowSoftmax {
            shape: shape.into(),
        })));
    }
    #[cfg(target_arch = "x86_64")]
    if let Some(op) = node.op_as::<ElementWiseOp>()
        && op.0.downcast_ref::<GeluExact>().is_some()
        && op.1.is_none()
    {
        return Ok(Some(Box::new(FusedGelu {
            shape: shape.into(),
        })));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::tract_core::tract_linalg::routines::Func;

    /// Values where sums part ways: signed zeros, ordinary values of both signs, large ones
    /// that cancel, subnormals, and now and then an infinity.
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                match state % 9 {
                    0 => 0.0,
                    1 | 2 => -0.0,
                    3 => 1e30,
                    4 => -1e30,
                    5 => 1e-40,
                    6 if state.is_multiple_of(7) => f32::INFINITY,
                    _ => (state >> 40) as f32 / 1e6 - 8.0,
                }
            })
            .collect()
    }

    /// Against tract's x86-64 sum kernel (its aarch64 one walks another frame; the exact
    /// profile, which runs these ops, is x86-64 only).
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn frame_sum_is_tracts_kernel_at_every_length_and_alignment() {
        let kernel = Func::ReduceSum.reduce_f32().unwrap();
        for seed in 0..4 {
            let data = values(64, seed);
            for offset in 0..4 {
                for len in 0..=40 {
                    let row = &data[offset..offset + len];
                    let theirs = if len == 0 {
                        0.0
                    } else {
                        kernel.run(row).unwrap()
                    };
                    let ours = if len == 0 { 0.0 } else { frame_sum(row) };
                    assert_eq!(
                        ours.to_bits(),
                        theirs.to_bits(),
                        "len {len} offset {offset} seed {seed}: {ours} vs {theirs}"
                    );
                }
            }
        }
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn eight_rows_at_once_are_the_rows_one_by_one() {
        if !vectorised() {
            return;
        }
        for len in [4usize, 8, 12, 20, 36, 256] {
            for offset in 0..4 {
                let data = values(8 * len + 4, len as u64 + offset as u64);
                let rows = &data[offset..offset + 8 * len];
                let mut out = [0f32; 8];
                // SAFETY: AVX (checked above); eight rows of `len`, a multiple of four.
                unsafe { avx::frame_sums8(rows, len, sum_start(), &mut out) };
                for (r, o) in out.iter().enumerate() {
                    let expected = frame_sum(&rows[r * len..][..len]);
                    assert_eq!(
                        o.to_bits(),
                        expected.to_bits(),
                        "len {len} offset {offset} row {r}"
                    );
                }
                let mut ours = rows.to_vec();
                // SAFETY: as above.
                unsafe { avx::rms_norm8(&mut ours, len, sum_start(), 1e-5) };
                let mut theirs = rows.to_vec();
                for row in theirs.chunks_exact_mut(len) {
                    rms_norm_row(row, 1e-5);
                }
                let bits = |v: &[f32]| {
                    v.iter()
                        .map(|x| if x.is_nan() { 0x7fc0_0000 } else { x.to_bits() })
                        .collect::<Vec<_>>()
                };
                assert_eq!(bits(&ours), bits(&theirs), "rms len {len} offset {offset}");
            }
        }
    }
}
