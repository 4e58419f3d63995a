//! Prova's depthwise convolution: tract's arithmetic, vectorised across outputs.
//!
//! tract runs a depthwise convolution (`group` = input channels = output channels) as its
//! `DepthWise` op: per output zone (the interior, each border and corner), per channel, per
//! output row, one call of a vectorised kernel over that row. On real-size CNNs the rows are
//! short (a MobileNet block at 8×8 has rows of six interior points), so the calls, the zone
//! walk and the per-call setup cost more than the arithmetic: tract's depthwise layers ran at
//! 1.1–1.7 GMAC/s and were half the time of a MobileNet-style network whose depthwise MACs
//! are a tenth of its work (docs/performance.md, "Real-size networks").
//!
//! [`DepthwiseConv`] computes every output with exactly tract's operations, in tract's order:
//! the bias, then for each kernel tap whose input lies inside the image (padding taps are
//! skipped, not multiplied by zero), in row-major kernel order, one multiply and then one add.
//! With AVX and a column stride of 1 or 2 it computes eight (or four) consecutive outputs of
//! a row per vector and four such groups per pass over the taps (independent sums in flight):
//! the input plane is copied once into a buffer padded with zeros on every side, so every
//! load stays inside (the buffer, kept between calls on the same thread for the same plane
//! geometry, is only ever written inside the image, so its padding stays zero). When the
//! channel's bias is not -0.0 and its weights are finite, adding a padding tap's product (±0)
//! equals skipping it (a sum that does not start at -0.0 never is -0.0), so every group reads
//! the padded plane unmasked. Otherwise, where a tap reads padding
//! for some lanes (the border columns), the product is replaced by `-0.0`, the exact identity
//! of IEEE addition (`a + -0.0` is `a` for every `a`, signed zeros and NaN included), which is
//! the sum that skips the tap, and kernel rows outside the image are skipped per group.
//! Stride 2 reads eight outputs' inputs with two loads and a shuffle (in the common case
//! below, kernel columns 0 and 1 share their two loads). The common case (a
//! kernel three columns wide on planes at least eight wide, unmasked) has its own loop: eight
//! vectors of outputs per pass over the taps, their places computed once per convolution, and
//! the fused steps (below) applied in registers before the store; with AVX-512F, on rows at
//! least sixteen wide, sixteen outputs a vector. Other strides, and CPUs
//! without AVX, take a portable loop with the same operations. Separate
//! multiplies and adds (no FMA: Rust never contracts them), one rounding each, so the bits do
//! not depend on the vector width, the path or the CPU. `tests/depthwise.rs` compares both
//! paths with tract's op bit for bit on edge geometries and values (padding on every side,
//! strides, dilations, NaN, infinities, signed zeros, subnormals), on every CPU model of the
//! determinism matrix (scripts/test runs it under qemu).
//!
//! [`use_prova_depthwise`] swaps tract's `Conv` for this op after decluttering (so the
//! weights are tract's) and before tract's codegen would pick `DepthWise`. The element-wise
//! operations with constant operands that follow (a BatchNorm's multiply and add, a Clip's
//! max and min, subtractions) are fused into the op as steps, applied to each channel's
//! plane while it is in the level-1 cache, where tract would otherwise run them as a separate
//! pass of by-scalar kernels (`OptBinChain`, 8% of a MobileNet's time). Fused only where tract
//! runs exactly those kernels (one image, planes of at least 32 outputs; its short-period and
//! generic paths compute max and min with other NaN and signed-zero rules), with the same
//! result for every input: [`apply_step`] writes out what tract's `f32::max` compiles to.
//! `tests/depthwise.rs` checks every step kind, operands on either side, against tract's
//! chain bit for bit, with signed zeros, NaN and infinities as operands and values.

use crate::kept::{self, Kept};
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat};
use tract_onnx::tract_core::ops::nn::DataFormat;
use tract_onnx::tract_core::tract_linalg::BinOp;

/// A 2-D f32 depthwise convolution in NCHW (or CHW) layout, kernel `[C, 1, KH, KW]`, bias of
/// one value per channel (or one for all): inputs `(x, kernel, bias)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DepthwiseConv {
    /// Images in the batch (1 without an N axis).
    batch: usize,
    channels: usize,
    input: [usize; 2],
    output: [usize; 2],
    kernel: [usize; 2],
    strides: [usize; 2],
    dilations: [usize; 2],
    pad_before: [usize; 2],
    /// The full output shape (with or without N, as the input).
    output_shape: TVec<usize>,
    /// Element-wise steps fused after the convolution (inputs 3.., one operand each), as
    /// tract's by-scalar kernels compute them ([`apply_step`]).
    steps: TVec<BinOp>,
    /// Whether the input, and the output, have padded planes ([`crate::plane_pad`]) instead
    /// of NCHW's contiguous ones.
    padded_in: bool,
    padded_out: bool,
}

/// One fused step on one value `x` with its operand `s` (one per channel, or one for all),
/// as tract's by-scalar kernel for `op` computes it, the tensor on the left (`op` is tract's
/// own operation, flipped as tract's codegen flips it when the tensor is the right input).
/// Max and min are `f32::max`/`f32::min` in tract's portable kernels, which LLVM lowers on x86
/// to `maxps(s, x)` (`s > x ? s : x`) with `s` chosen where `x` is NaN: the same value for
/// every input, signed zeros included (`x` is kept when they compare equal). Written out here
/// so that the result does not depend on how a compiler lowers `max`.
#[inline(always)]
pub fn apply_step(op: BinOp, x: f32, s: f32) -> f32 {
    match op {
        BinOp::Mul => x * s,
        BinOp::Add => x + s,
        BinOp::Sub => x - s,
        BinOp::SubF => s - x,
        BinOp::Max => {
            if x.is_nan() || s > x {
                s
            } else {
                x
            }
        }
        BinOp::Min => {
            if x.is_nan() || s < x {
                s
            } else {
                x
            }
        }
    }
}

impl DepthwiseConv {
    /// The op that computes `conv` on an input of fact `x`, or `None` when `conv` is not one
    /// tract would run as its `DepthWise` op on f32 NCHW/CHW data with a 2-D OIHW kernel.
    pub fn for_conv(
        conv: &Conv,
        x: &TypedFact,
        kernel: &TypedFact,
        bias: &TypedFact,
    ) -> TractResult<Option<Self>> {
        let spec = &conv.pool_spec;
        let c = spec.input_channels;
        if conv.q_params.is_some()
            || conv.group <= 1
            || conv.group != c
            || spec.output_channels != c
            || spec.kernel_shape.len() != 2
            || conv.kernel_fmt != KernelFormat::OIHW
            || !matches!(spec.data_format, DataFormat::NCHW | DataFormat::CHW)
            || [x, kernel, bias]
                .iter()
                .any(|f| f.datum_type != f32::datum_type() || f.is_exotic())
        {
            return Ok(None);
        }
        let (Some(x_shape), Some(k_shape)) = (x.shape.as_concrete(), kernel.shape.as_concrete())
        else {
            return Ok(None);
        };
        let (kh, kw) = (spec.kernel_shape[0], spec.kernel_shape[1]);
        let bias_len = bias.shape.volume();
        if k_shape != [c, 1, kh, kw] || (bias_len != c.to_dim() && bias_len != 1.to_dim()) {
            return Ok(None);
        }
        let geo = spec
            .compute_geo(&x.shape)?
            .to_concrete(x_shape)?
            .into_owned();
        let patch = &geo.patch;
        if patch.spec.input_shape.len() != 2
            || patch.output_shape.len() != 2
            || x_shape.contains(&0)
            || patch.output_shape.contains(&0)
            || kh == 0
            || kw == 0
        {
            return Ok(None);
        }
        let pair = |v: &[usize]| [v[0], v[1]];
        Ok(Some(Self {
            batch: *geo.input_shape.n().unwrap_or(&1),
            channels: c,
            input: pair(&patch.spec.input_shape),
            output: pair(&patch.output_shape),
            kernel: [kh, kw],
            strides: pair(&patch.spec.strides),
            dilations: pair(&patch.spec.dilations),
            pad_before: pair(&patch.pad_before),
            output_shape: geo.output_shape.shape.clone(),
            steps: tvec!(),
            padded_in: false,
            padded_out: false,
        }))
    }

    /// Channels, and pixels of one input and one output plane (for [`crate::plane_pad`]).
    pub(crate) fn planes(&self) -> (usize, usize, usize) {
        let ([h, w], [oh, ow]) = (self.input, self.output);
        (self.channels, h * w, oh * ow)
    }

    /// Whether the input (or the output) can have padded planes: one image.
    pub(crate) fn can_pad(&self, output: bool) -> bool {
        self.batch == 1
            && !(if output {
                self.padded_out
            } else {
                self.padded_in
            })
    }

    /// This op with its input (`output` false) or output in padded planes.
    pub(crate) fn with_padded(&self, output: bool) -> Self {
        let mut op = self.clone();
        if output {
            op.padded_out = true;
        } else {
            op.padded_in = true;
        }
        op
    }

    /// The output's shape: as planned, or in padded planes.
    fn out_shape(&self) -> TVec<usize> {
        if self.padded_out {
            let (c, _, p) = self.planes();
            crate::plane_pad::shape(c, p)
        } else {
            self.output_shape.clone()
        }
    }

    /// Values from one input plane to the next, and from one output plane to the next.
    fn plane_strides(&self) -> (usize, usize) {
        let (_, p, op) = self.planes();
        (
            crate::plane_pad::plane(self.padded_in, p),
            crate::plane_pad::plane(self.padded_out, op),
        )
    }

    /// The geometry of one channel plane.
    fn geometry(&self) -> Geometry {
        let [h, w] = self.input;
        let [oh, ow] = self.output;
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.strides;
        let [dh, dw] = self.dilations;
        let [ph, pw] = self.pad_before;
        // Output columns whose every tap reads inside the row: `ox * sw >= pw` and
        // `ox * sw + (kw - 1) * dw - pw <= w - 1`.
        let lo = pw.div_ceil(sw).min(ow);
        let reach = (kw - 1) * dw;
        let hi = if w + pw > reach {
            ((w + pw - reach - 1) / sw + 1).min(ow)
        } else {
            0
        };
        // Per output row, the kernel rows reading inside the image:
        // `ph <= oy * sh + ky * dh < ph + h`.
        let rows = (0..oh)
            .map(|oy| {
                let top = oy * sh;
                let first = if top >= ph {
                    0
                } else {
                    (ph - top).div_ceil(dh)
                };
                let end = if top >= ph + h {
                    0
                } else {
                    (ph + h - top - 1) / dh + 1
                };
                let first = first.min(kh);
                first..end.min(kh).max(first)
            })
            .collect();
        Geometry {
            h,
            w,
            oh,
            ow,
            kh,
            kw,
            sh,
            sw,
            dh,
            dw,
            ph,
            pw,
            lo,
            hi: hi.max(lo),
            wp: ((ow.max(1) - 1) * sw + reach + 1).max(pw + w),
            hp: ((oh.max(1) - 1) * sh + (kh - 1) * dh + 1).max(ph + h),
            rows,
        }
    }

    /// Computes the convolution of `x` into `out`, then the fused steps with their operands
    /// (shapes as built; panics otherwise).
    fn run(&self, x: &[f32], kernel: &[f32], bias: &[f32], operands: &[&[f32]], out: &mut [f32]) {
        let g = self.geometry();
        let [h, w] = self.input;
        let [oh, ow] = self.output;
        let [kh, kw] = self.kernel;
        // The scratch buffers depend only on the geometry, and the padded plane's padding is
        // never written: they are kept between calls instead of made (and zeroed) each time.
        let key = [h, w, oh, ow, kh, kw, g.sh, g.sw, g.dh, g.dw, g.ph, g.pw];
        let mut scratch = kept::take(&SCRATCH, &key).unwrap_or_else(|| Scratch::new(&g));
        let (in_stride, out_stride) = self.plane_strides();
        let planes = Planes {
            count: self.batch * self.channels,
            channels: self.channels,
            x,
            in_stride,
            kernel,
            bias,
            ops: &self.steps,
            operands,
            out_stride,
        };
        routine()(&g, &planes, out, &mut scratch);
        let values = scratch.padded.len();
        kept::keep(&SCRATCH, key, scratch, values);
    }
}

/// One channel plane's geometry (input width, output, kernel, strides, dilations, padding
/// before), the output columns `lo..hi` whose every kernel column reads inside the image, and
/// per output row the kernel rows that do.
#[derive(Debug, Clone)]
struct Geometry {
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    dh: usize,
    dw: usize,
    ph: usize,
    pw: usize,
    lo: usize,
    hi: usize,
    /// Width of a padded input row: every column any output's taps read, at least the image
    /// and its padding before.
    wp: usize,
    /// Rows of the padded input: every row any output's taps read, at least the image and its
    /// padding above.
    hp: usize,
    rows: Vec<std::ops::Range<usize>>,
}

impl Geometry {
    /// The input row kernel row `ky` reads for output row `oy` (`ky` in `rows[oy]`).
    #[inline(always)]
    fn input_row(&self, oy: usize, ky: usize) -> usize {
        oy * self.sh + ky * self.dh - self.ph
    }
}

/// Buffers one convolution's planes share: the input plane padded with zeros to `g.hp` rows
/// of `g.wp` columns (`g.ph` rows above, `g.pw` columns before; the padding stays zero), and
/// eight zeros after it (with stride 2, `avx::unmasked3`'s last load of a row reaches one
/// column past it, into a lane no output keeps), and
/// one padded row holding all ones where a column is inside the image and zero in the
/// padding.
struct Scratch {
    padded: Vec<f32>,
    mask: Vec<f32>,
    /// Per vector of eight outputs (rows in order, eight columns at a time, the last of a row
    /// ending at the row's end), its first input in the padded plane and its first output;
    /// repeated at the end to a whole number of passes (see `avx::unmasked3`).
    spots: Vec<(usize, usize)>,
    /// The same for vectors of sixteen outputs (`avx::unmasked3_wide`), where rows are at
    /// least sixteen wide.
    spots16: Vec<(usize, usize)>,
}

impl Scratch {
    fn new(g: &Geometry) -> Self {
        let mut mask = vec![0.0f32; g.wp];
        mask[g.pw..g.pw + g.w].fill(f32::from_bits(u32::MAX));
        Scratch {
            padded: vec![0.0; g.hp * g.wp + 8],
            mask,
            spots: Self::spots(g, 8),
            spots16: Self::spots(g, 16),
        }
    }

    /// Per vector of `lanes` outputs, rows in order, its first input and first output (none
    /// where rows are narrower than `lanes`); repeated to a whole number of passes.
    fn spots(g: &Geometry, lanes: usize) -> Vec<(usize, usize)> {
        let mut spots = Vec::new();
        if g.ow >= lanes {
            for oy in 0..g.oh {
                let mut ox = 0;
                loop {
                    spots.push((oy * g.sh * g.wp + ox * g.sw, oy * g.ow + ox));
                    if ox + lanes == g.ow {
                        break;
                    }
                    ox = (ox + lanes).min(g.ow - lanes);
                }
            }
            while spots.len() % IN_FLIGHT != 0 {
                spots.push(spots[spots.len() - 1]);
            }
        }
        spots
    }
}

thread_local! {
    /// Scratch buffers kept between calls ([`crate::kept`]), by plane geometry.
    static SCRATCH: std::cell::RefCell<Kept<[usize; 12], Scratch>> =
        const { std::cell::RefCell::new(Kept::new(8)) };
}

/// Vectors of eight outputs computed together in one pass over the taps by `avx::unmasked3`:
/// independent sums in flight (an add takes three or four cycles, two start each cycle).
const IN_FLIGHT: usize = 8;

/// A plane's fused steps, and each step's operand for this plane's channel.
#[derive(Clone, Copy)]
pub(crate) struct Steps<'a> {
    pub(crate) ops: &'a [BinOp],
    pub(crate) values: &'a [f32],
}

/// Applies `steps` to every value of `out` ([`apply_step`] per value, eight at a time where
/// the CPU has AVX).
pub(crate) fn apply_steps(steps: Steps, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx")
        && !FORCE_BASELINE.load(std::sync::atomic::Ordering::Relaxed)
    {
        // SAFETY: the CPU has AVX.
        unsafe { avx::apply_steps(steps, out) };
        return;
    }
    steps_portable(steps, out);
}

/// Every channel plane of a convolution, the inputs as [`DepthwiseConv::run`] takes them.
pub(crate) struct Planes<'a> {
    /// Planes in all (images × channels).
    count: usize,
    channels: usize,
    x: &'a [f32],
    /// Values from one input plane to the next.
    in_stride: usize,
    kernel: &'a [f32],
    bias: &'a [f32],
    ops: &'a [BinOp],
    operands: &'a [&'a [f32]],
    /// Values from one output plane to the next.
    out_stride: usize,
}

impl Planes<'_> {
    /// Plane `index`'s input, kernel and bias; its channel's operands go to `values`.
    #[inline(always)]
    fn plane<'s>(
        &'s self,
        g: &Geometry,
        index: usize,
        values: &mut [f32],
    ) -> (&'s [f32], &'s [f32], f32) {
        let c = index % self.channels;
        for (v, o) in values.iter_mut().zip(self.operands) {
            *v = per_channel(o, c);
        }
        let taps = g.kh * g.kw;
        (
            &self.x[index * self.in_stride..][..g.h * g.w],
            &self.kernel[c * taps..][..taps],
            per_channel(self.bias, c),
        )
    }

    /// Plane `index`'s outputs.
    #[inline(always)]
    fn out<'o>(&self, g: &Geometry, out: &'o mut [f32], index: usize) -> &'o mut [f32] {
        &mut out[index * self.out_stride..][..g.oh * g.ow]
    }
}

/// Computes every channel plane, then its fused steps, into `out`.
type PlanesFn = fn(&Geometry, &Planes, &mut [f32], &mut Scratch);

/// The routine for this CPU: AVX where the CPU has it, else the portable one; both compute
/// every output with the same operations in the same order.
fn routine() -> PlanesFn {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx")
        && !FORCE_BASELINE.load(std::sync::atomic::Ordering::Relaxed)
    {
        return avx::planes_entry;
    }
    planes_portable
}

fn steps_portable(steps: Steps, out: &mut [f32]) {
    for x in out {
        *x = steps
            .ops
            .iter()
            .zip(steps.values)
            .fold(*x, |x, (&op, &s)| apply_step(op, x, s));
    }
}

/// Makes [`routines`] hand out the portable routine even on a CPU with AVX (tests compare
/// both with tract).
#[doc(hidden)]
pub static FORCE_BASELINE: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Outputs `oys` × `oxs` of a plane, one at a time but interleaved (their sums are
/// independent, so the CPU overlaps them): each starts at the bias, then for each kernel tap
/// in row-major order that reads inside the image for it, `out = out + x * k`.
fn outputs_one_by_one(
    g: &Geometry,
    x: &[f32],
    k: &[f32],
    bias: f32,
    out: &mut [f32],
    oys: std::ops::Range<usize>,
    oxs: std::ops::Range<usize>,
) {
    if oxs.is_empty() {
        return;
    }
    for oy in oys.clone() {
        out[oy * g.ow..][oxs.clone()].fill(bias);
    }
    for ky in 0..g.kh {
        for kx in 0..g.kw {
            let kv = k[ky * g.kw + kx];
            // The columns this tap reads inside the image for: `pw <= ox * sw + kx * dw < pw + w`.
            let off = kx * g.dw;
            let first = if off >= g.pw {
                0
            } else {
                (g.pw - off).div_ceil(g.sw)
            };
            let end = if off >= g.pw + g.w {
                0
            } else {
                (g.pw + g.w - off - 1) / g.sw + 1
            };
            let cols = oxs.start.max(first)..oxs.end.min(end);
            if cols.is_empty() {
                continue;
            }
            for oy in oys.clone() {
                if !g.rows[oy].contains(&ky) {
                    continue;
                }
                let xr = &x[g.input_row(oy, ky) * g.w..][..g.w];
                let row = &mut out[oy * g.ow..][..g.ow];
                for ox in cols.clone() {
                    row[ox] += xr[ox * g.sw + off - g.pw] * kv;
                }
            }
        }
    }
}

fn planes_portable(g: &Geometry, planes: &Planes, out: &mut [f32], _: &mut Scratch) {
    let mut values: TVec<f32> = tvec!(0.0; planes.ops.len());
    for index in 0..planes.count {
        let (x, k, bias) = planes.plane(g, index, &mut values);
        let out = planes.out(g, out, index);
        outputs_one_by_one(g, x, k, bias, out, 0..g.oh, 0..g.ow);
        steps_portable(
            Steps {
                ops: planes.ops,
                values: &values,
            },
            out,
        );
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx {
    use super::{Geometry, IN_FLIGHT, Planes, Scratch, Steps, outputs_one_by_one};
    use std::arch::x86_64::*;
    use tract_onnx::tract_core::internal::{TVec, tvec};
    use tract_onnx::tract_core::tract_linalg::BinOp;

    pub(super) fn planes_entry(g: &Geometry, p: &Planes, out: &mut [f32], scratch: &mut Scratch) {
        // SAFETY: only handed out by `routine` after checking the CPU has AVX.
        unsafe {
            match g.sw {
                1 => planes::<1>(g, p, out, scratch),
                2 => planes::<2>(g, p, out, scratch),
                _ => planes::<0>(g, p, out, scratch),
            }
        }
    }

    /// Every plane of `p` with column stride `S` (1 or 2; 0: any other, one output at a
    /// time), in one loop: on planes of 8×8 the work around a plane's sums (a call, the
    /// dispatch) costs about as much as the sums.
    #[target_feature(enable = "avx")]
    unsafe fn planes<const S: usize>(
        g: &Geometry,
        p: &Planes,
        out: &mut [f32],
        scratch: &mut Scratch,
    ) {
        let mut values: TVec<f32> = tvec!(0.0; p.ops.len());
        let three = g.ow >= 8 && g.kw == 3 && g.dw == 1;
        let wide = g.ow >= 16 && is_x86_feature_detected!("avx512f");
        for index in 0..p.count {
            let (x, k, bias) = p.plane(g, index, &mut values);
            let out = p.out(g, out, index);
            let steps = Steps {
                ops: p.ops,
                values: &values,
            };
            // SAFETY: AVX; `unmasked3`'s conditions checked here, `plane`'s are `S`'s.
            unsafe {
                if S == 0 {
                    super::outputs_one_by_one(g, x, k, bias, out, 0..g.oh, 0..g.ow);
                } else if three && uniform(bias, k) {
                    fill(scratch, g, x);
                    if wide {
                        unmasked3_wide::<S>(g, scratch, k, bias, steps, out);
                    } else {
                        unmasked3::<S>(g, scratch, k, bias, steps, out);
                    }
                    continue;
                } else {
                    plane::<S>(g, x, k, bias, out, scratch);
                }
                apply_steps(steps, out);
            }
        }
    }

    /// Whether the padding's zeros cannot change a sum: the bias is not -0.0 and every weight
    /// is finite. Adding a padding tap's product (a zero times a finite weight: +0 or -0) is
    /// then the same as skipping it: a sum starting from anything but -0.0 is never -0.0 (in
    /// round-to-nearest `a + b` is -0.0 only when both are), and `a + ±0` is `a` for every
    /// other `a`.
    #[inline]
    fn uniform(bias: f32, k: &[f32]) -> bool {
        bias.to_bits() != (-0.0f32).to_bits() && k.iter().all(|v| v.is_finite())
    }

    /// [`super::apply_step`] on eight values, `s` the operand `v` in every lane. A max or
    /// min takes the fewest instructions that give `apply_step`'s result for this operand:
    /// `vmaxps x, s` is `x > s ? x : s`, `s` where `x` is NaN, which is `apply_step` when `v`
    /// is neither NaN nor a zero (where `x == s`, both have the same bits); for `±0.0` one
    /// compare and one blend (`s` where `x` is NaN or on `s`'s wrong side, `x` where they are
    /// equal, so the other zero is kept); for a NaN operand, `s` exactly where `x` is NaN.
    #[inline(always)]
    fn step8(step: BinOp, x: __m256, s: __m256, v: f32) -> __m256 {
        // SAFETY: AVX (every caller is an AVX function).
        unsafe {
            match step {
                BinOp::Mul => _mm256_mul_ps(x, s),
                BinOp::Add => _mm256_add_ps(x, s),
                BinOp::Sub => _mm256_sub_ps(x, s),
                BinOp::SubF => _mm256_sub_ps(s, x),
                BinOp::Max | BinOp::Min if v.is_nan() => {
                    _mm256_blendv_ps(x, s, _mm256_cmp_ps::<_CMP_UNORD_Q>(x, x))
                }
                BinOp::Max if v != 0.0 => _mm256_max_ps(x, s),
                BinOp::Max => _mm256_blendv_ps(x, s, _mm256_cmp_ps::<_CMP_NGE_UQ>(x, s)),
                BinOp::Min if v != 0.0 => _mm256_min_ps(x, s),
                BinOp::Min => _mm256_blendv_ps(x, s, _mm256_cmp_ps::<_CMP_NLE_UQ>(x, s)),
            }
        }
    }

    /// [`super::apply_step`] sixty-four values at a time (eight vectors loaded once, every
    /// step applied to them in registers, stored once), then eight, the rest one by one.
    #[target_feature(enable = "avx")]
    pub(super) unsafe fn apply_steps(steps: Steps, out: &mut [f32]) {
        let mut blocks = out.chunks_exact_mut(64);
        for block in &mut blocks {
            // SAFETY: `block` holds sixty-four floats; AVX. (Loops, not `array::from_fn`: a
            // closure does not inherit this function's AVX, so its intrinsics would be calls.)
            unsafe {
                let mut v = [_mm256_setzero_ps(); 8];
                for (i, v) in v.iter_mut().enumerate() {
                    *v = _mm256_loadu_ps(block.as_ptr().add(8 * i));
                }
                for (&step, &s) in steps.ops.iter().zip(steps.values) {
                    let sv = _mm256_set1_ps(s);
                    for v in v.iter_mut() {
                        *v = step8(step, *v, sv, s);
                    }
                }
                for (i, v) in v.iter().enumerate() {
                    _mm256_storeu_ps(block.as_mut_ptr().add(8 * i), *v);
                }
            }
        }
        let rest = blocks.into_remainder();
        let mut chunks = rest.chunks_exact_mut(8);
        for chunk in &mut chunks {
            // SAFETY: `chunk` holds eight floats; AVX.
            unsafe {
                let mut x = _mm256_loadu_ps(chunk.as_ptr());
                for (&step, &s) in steps.ops.iter().zip(steps.values) {
                    x = step8(step, x, _mm256_set1_ps(s), s);
                }
                _mm256_storeu_ps(chunk.as_mut_ptr(), x);
            }
        }
        for x in chunks.into_remainder() {
            *x = steps
                .ops
                .iter()
                .zip(steps.values)
                .fold(*x, |x, (&op, &s)| super::apply_step(op, x, s));
        }
    }

    /// Copies plane `x` into the padded rows of `scratch` (image row `r` at padded row
    /// `r + ph`), eight floats a move (a call of `memcpy` per row costs more than the copy).
    #[target_feature(enable = "avx")]
    fn fill(scratch: &mut Scratch, g: &Geometry, x: &[f32]) {
        let rows = scratch.padded[g.ph * g.wp..].chunks_exact_mut(g.wp);
        for (src, dst) in x.chunks_exact(g.w).zip(rows) {
            let dst = &mut dst[g.pw..g.pw + g.w];
            let mut d = dst.chunks_exact_mut(8);
            let mut s = src.chunks_exact(8);
            for (d, s) in (&mut d).zip(&mut s) {
                // SAFETY: eight floats each; AVX.
                unsafe { _mm256_storeu_ps(d.as_mut_ptr(), _mm256_loadu_ps(s.as_ptr())) };
            }
            for (d, s) in d.into_remainder().iter_mut().zip(s.remainder()) {
                *d = *s;
            }
        }
    }

    /// The common case at full speed, one function per vector width: a kernel three columns
    /// wide (no column dilation) on a plane with rows at least a vector wide whose padding's
    /// zeros cannot change a sum (see [`uniform`]), so that every vector of outputs reads the
    /// padded plane unmasked. [`IN_FLIGHT`] vectors per pass over the taps, their positions
    /// from `$spots` (the same for every plane of the convolution), and the fused steps
    /// applied in registers before the store: the same operations on the same values as the
    /// general path then [`apply_steps`]. With column stride `S` = 2, kernel columns 0 and 1
    /// are the even and odd elements of the same inputs (`$pair`: two loads, two shuffles),
    /// column 2 the even ones of those two further (`$third`).
    macro_rules! unmasked_kernel {
        ($(#[$doc:meta])* $name:ident, $feature:literal, $lanes:literal, $spots:ident,
         $set1:ident, $mul:ident, $add:ident, $store:ident, $step:ident, $load:ident,
         $pair:ident, $third:ident, $order:ident) => {
            $(#[$doc])*
            ///
            /// # Safety
            #[doc = concat!("`", $feature, "`; `g.kw == 3`, `g.dw == 1`, `g.sw == S`, `g.ow >= ",
                            $lanes, "`;")]
            /// `scratch.padded` holds the plane (and its slack).
            #[target_feature(enable = $feature)]
            unsafe fn $name<const S: usize>(
                g: &Geometry,
                scratch: &Scratch,
                k: &[f32],
                bias: f32,
                steps: Steps,
                out: &mut [f32],
            ) {
                let step = g.dh * g.wp;
                let x = scratch.padded.as_ptr();
                let k = &k[..g.kh * 3];
                for chunk in scratch.$spots.chunks_exact(IN_FLIGHT) {
                    let mut acc = [$set1(bias); IN_FLIGHT];
                    let mut p = [x; IN_FLIGHT];
                    for (p, &(at, _)) in p.iter_mut().zip(chunk) {
                        *p = x.wrapping_add(at);
                    }
                    for taps in k.chunks_exact(3) {
                        if S == 2 {
                            let (k0, k1) = ($set1(taps[0]), $set1(taps[1]));
                            for i in 0..IN_FLIGHT {
                                // SAFETY: the padded plane (and its slack) holds every tap's
                                // reads.
                                let (even, odd) = unsafe { $pair(p[i]) };
                                acc[i] = $add(acc[i], $mul(even, k0));
                                acc[i] = $add(acc[i], $mul(odd, k1));
                            }
                            let k2 = $set1(taps[2]);
                            for i in 0..IN_FLIGHT {
                                // SAFETY: as above.
                                let v = unsafe { $third(p[i]) };
                                acc[i] = $add(acc[i], $mul(v, k2));
                            }
                        } else {
                            for (kx, &kv) in taps.iter().enumerate() {
                                let kv = $set1(kv);
                                for i in 0..IN_FLIGHT {
                                    // SAFETY: the padded plane holds every tap's reads.
                                    let v = unsafe { $load::<S>(p[i].wrapping_add(kx)) };
                                    acc[i] = $add(acc[i], $mul(v, kv));
                                }
                            }
                        }
                        for r in p.iter_mut() {
                            *r = r.wrapping_add(step);
                        }
                    }
                    for (&op, &v) in steps.ops.iter().zip(steps.values) {
                        let s = $set1(v);
                        for a in acc.iter_mut() {
                            *a = $step(op, *a, s, v);
                        }
                    }
                    for (a, &(_, o)) in acc.iter().zip(chunk) {
                        let dst = &mut out[o..][..$lanes];
                        // SAFETY: `dst` holds a vector's floats.
                        unsafe { $store(dst.as_mut_ptr(), $order::<S>(*a)) };
                    }
                }
            }
        };
    }

    unmasked_kernel!(
        /// Eight outputs a vector, from `scratch.spots`; with `S` = 2 in [`load8`]'s lane
        /// order, which the store undoes.
        unmasked3,
        "avx",
        8,
        spots,
        _mm256_set1_ps,
        _mm256_mul_ps,
        _mm256_add_ps,
        _mm256_storeu_ps,
        step8,
        load8,
        pair8,
        third8,
        order8
    );

    unmasked_kernel!(
        /// Sixteen outputs a 512-bit vector, from `scratch.spots16`: half the instructions
        /// for the same operations on the same values, the outputs in order.
        unmasked3_wide,
        "avx512f",
        16,
        spots16,
        _mm512_set1_ps,
        _mm512_mul_ps,
        _mm512_add_ps,
        _mm512_storeu_ps,
        step16,
        load16,
        pair16,
        third16,
        order16
    );

    /// Inputs `p .. p + 16` at stride 2: the even elements (kernel column 0's inputs of eight
    /// outputs) and the odd ones (column 1's), in [`load8`]'s lane order.
    ///
    /// # Safety
    /// AVX; `p .. p + 16` readable.
    #[inline]
    #[target_feature(enable = "avx")]
    unsafe fn pair8(p: *const f32) -> (__m256, __m256) {
        // SAFETY: the caller's.
        let (a, b) = unsafe { (_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8))) };
        (
            _mm256_shuffle_ps::<0x88>(a, b),
            _mm256_shuffle_ps::<0xDD>(a, b),
        )
    }

    /// The even elements of `p + 2 .. p + 18`, in [`load8`]'s lane order.
    ///
    /// # Safety
    /// AVX; `p + 2 .. p + 18` readable.
    #[inline]
    #[target_feature(enable = "avx")]
    unsafe fn third8(p: *const f32) -> __m256 {
        // SAFETY: the caller's.
        unsafe { _mm256_shuffle_ps::<0x88>(_mm256_loadu_ps(p.add(2)), _mm256_loadu_ps(p.add(10))) }
    }

    /// Sixteen inputs from `p` at column stride 1 (the wide kernel's other strides read
    /// through [`pair16`] and [`third16`]).
    ///
    /// # Safety
    /// AVX-512F; `p .. p + 16` readable.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn load16<const S: usize>(p: *const f32) -> __m512 {
        // SAFETY: the caller's.
        unsafe { _mm512_loadu_ps(p) }
    }

    /// [`pair8`] for sixteen outputs: two loads, two two-source permutes, in order.
    ///
    /// # Safety
    /// AVX-512F; `p .. p + 32` readable.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn pair16(p: *const f32) -> (__m512, __m512) {
        // SAFETY: the caller's.
        let (a, b) = unsafe { (_mm512_loadu_ps(p), _mm512_loadu_ps(p.add(16))) };
        (
            _mm512_permutex2var_ps(a, evens16(), b),
            _mm512_permutex2var_ps(a, _mm512_add_epi32(evens16(), _mm512_set1_epi32(1)), b),
        )
    }

    /// [`third8`] for sixteen outputs: the even elements of `p + 2 .. p + 34`, in order.
    ///
    /// # Safety
    /// AVX-512F; `p + 2 .. p + 34` readable.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn third16(p: *const f32) -> __m512 {
        // SAFETY: the caller's.
        let (a, b) = unsafe { (_mm512_loadu_ps(p.add(2)), _mm512_loadu_ps(p.add(18))) };
        _mm512_permutex2var_ps(a, evens16(), b)
    }

    /// Element indices 0, 2, .. 30 of two vectors.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn evens16() -> __m512i {
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)
    }

    /// The wide kernel's outputs are in order.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn order16<const S: usize>(v: __m512) -> __m512 {
        v
    }

    /// [`step8`] on sixteen values: the same choice of instructions, masks for the blends.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn step16(step: BinOp, x: __m512, s: __m512, v: f32) -> __m512 {
        match step {
            BinOp::Mul => _mm512_mul_ps(x, s),
            BinOp::Add => _mm512_add_ps(x, s),
            BinOp::Sub => _mm512_sub_ps(x, s),
            BinOp::SubF => _mm512_sub_ps(s, x),
            BinOp::Max | BinOp::Min if v.is_nan() => {
                _mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_UNORD_Q>(x, x), x, s)
            }
            BinOp::Max if v != 0.0 => _mm512_max_ps(x, s),
            BinOp::Max => _mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_NGE_UQ>(x, s), x, s),
            BinOp::Min if v != 0.0 => _mm512_min_ps(x, s),
            BinOp::Min => _mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_NLE_UQ>(x, s), x, s),
        }
    }

    /// The most groups of outputs one pass over the taps computes: independent sums in
    /// flight (an add's latency is several cycles, its throughput two a cycle).
    const GROUPS: usize = 4;

    /// Groups of outputs computed in one pass over the taps: output row, first output column.
    /// A batch that is not full repeats its last group (the same values, stored twice).
    struct Batch {
        n: usize,
        at: [(usize, usize); GROUPS],
    }

    impl Batch {
        fn new() -> Self {
            Batch {
                n: 0,
                at: [(0, 0); GROUPS],
            }
        }
    }

    /// A plane with column stride `S` (1 or 2), in groups of eight (or four) consecutive
    /// outputs of a row, the last group of a row overlapping the one before it where the
    /// width is not a multiple of the group (recomputing the same values), [`GROUPS`] groups
    /// per pass over the taps.
    ///
    /// The input is read from a zero-padded copy, so every group's loads stay inside it.
    /// Unless the padding's zeros cannot change a sum (see below), where a tap reads padding
    /// for some outputs of a group (the border columns), its product is replaced by `-0.0`,
    /// the exact identity of IEEE addition (`a + -0.0` is `a` for every `a`, zeros and NaNs
    /// included): the sum is the one that skips the tap, and a weight's infinity or NaN never
    /// meets the padding. Which lanes read padding comes from a mask row loaded exactly as the
    /// input is. Kernel rows outside the image are skipped per group. The fused steps are
    /// left to the caller.
    #[target_feature(enable = "avx")]
    unsafe fn plane<const S: usize>(
        g: &Geometry,
        x: &[f32],
        k: &[f32],
        bias: f32,
        out: &mut [f32],
        scratch: &mut Scratch,
    ) {
        let lanes = if g.ow >= 8 {
            8
        } else if g.ow >= 4 {
            4
        } else {
            outputs_one_by_one(g, x, k, bias, out, 0..g.oh, 0..g.ow);
            return;
        };
        fill(scratch, g, x);
        let ctx = Ctx {
            g,
            x: &scratch.padded,
            mask: &scratch.mask,
            k,
            bias,
        };
        // Where the padding's zeros cannot change a sum ([`uniform`]), every group reads the
        // zero-padded plane with no mask and no skipped rows; otherwise four kinds of batch:
        // border groups (masked) or not, rows whose every kernel row reads inside the image
        // or not.
        let uniform = uniform(bias, k);
        let mut batches = [Batch::new(), Batch::new(), Batch::new(), Batch::new()];
        for oy in 0..g.oh {
            let full = uniform || g.rows[oy].len() == g.kh;
            let mut ox = 0;
            loop {
                let border = !uniform && (ox < g.lo || ox + lanes > g.hi);
                let batch = &mut batches[usize::from(border) * 2 + usize::from(full)];
                batch.at[batch.n] = (oy, ox);
                batch.n += 1;
                if batch.n == GROUPS {
                    // SAFETY: AVX; the groups lie in the plane.
                    unsafe { run::<S>(&ctx, batch, lanes, border, full, out) };
                }
                if ox + lanes == g.ow {
                    break;
                }
                ox = (ox + lanes).min(g.ow - lanes);
            }
        }
        for (kind, batch) in batches.iter_mut().enumerate() {
            // SAFETY: as above.
            unsafe { run::<S>(&ctx, batch, lanes, kind >= 2, kind % 2 == 1, out) };
        }
    }

    struct Ctx<'a> {
        g: &'a Geometry,
        x: &'a [f32],
        mask: &'a [f32],
        k: &'a [f32],
        bias: f32,
    }

    /// Runs the groups of `batch` (if any) and empties it.
    ///
    /// # Safety
    /// AVX; every group of `batch` inside the plane.
    #[target_feature(enable = "avx")]
    unsafe fn run<const S: usize>(
        c: &Ctx,
        batch: &mut Batch,
        lanes: usize,
        masked: bool,
        full: bool,
        out: &mut [f32],
    ) {
        if batch.n == 0 {
            return;
        }
        for i in batch.n..GROUPS {
            batch.at[i] = batch.at[batch.n - 1];
        }
        batch.n = 0;
        let three = c.g.kw == 3 && c.g.dw == 1;
        let at = &batch.at;
        macro_rules! dispatch {
            ($kernel:ident) => {
                match (masked, full, three) {
                    (false, false, false) => $kernel::<S, false, false, 0>(c, at, out),
                    (false, false, true) => $kernel::<S, false, false, 3>(c, at, out),
                    (false, true, false) => $kernel::<S, false, true, 0>(c, at, out),
                    (false, true, true) => $kernel::<S, false, true, 3>(c, at, out),
                    (true, false, false) => $kernel::<S, true, false, 0>(c, at, out),
                    (true, false, true) => $kernel::<S, true, false, 3>(c, at, out),
                    (true, true, false) => $kernel::<S, true, true, 0>(c, at, out),
                    (true, true, true) => $kernel::<S, true, true, 3>(c, at, out),
                }
            };
        }
        // SAFETY: forwarded.
        unsafe {
            if lanes == 8 {
                dispatch!(eight)
            } else {
                dispatch!(four)
            }
        }
    }

    /// The kernel for one vector width: `$lanes` outputs from each `(oy, ox)` of `at`, all
    /// [`GROUPS`] sums in flight together. Kernel width `K` (`0`: `g.kw` with dilation `g.dw`;
    /// otherwise `K` with dilation 1, unrolled). `$load` reads the inputs of `$lanes` outputs
    /// at column stride `S` from a pointer (with `S` = 2, in a lane order every tap and the
    /// mask share, which `$order` undoes before the store).
    macro_rules! group_kernel {
        ($(#[$doc:meta])* $name:ident, $lanes:expr, $set1:ident, $mul:ident, $add:ident,
         $blendv:ident, $store:ident, $load:ident, $order:ident) => {
            $(#[$doc])*
            ///
            /// # Safety
            /// AVX; each group inside the plane (`c.x` padded so that its loads stay inside).
            #[target_feature(enable = "avx")]
            unsafe fn $name<const S: usize, const MASKED: bool, const FULL: bool, const K: usize>(
                c: &Ctx,
                at: &[(usize, usize); GROUPS],
                out: &mut [f32],
            ) {
                let g = c.g;
                let (kw, dw) = if K == 0 { (g.kw, g.dw) } else { (K, 1) };
                let neg_zero = $set1(-0.0);
                let mut acc = [$set1(c.bias); GROUPS];
                let mut masks = [c.mask.as_ptr(); GROUPS];
                // Each group's input at kernel row 0 in the padded plane, and (unless `FULL`)
                // its kernel rows inside the image.
                let mut rows = [c.x.as_ptr(); GROUPS];
                let mut first = [0usize; GROUPS];
                let mut end = [g.kh; GROUPS];
                for i in 0..GROUPS {
                    let (oy, ox) = at[i];
                    masks[i] = masks[i].wrapping_add(ox * S);
                    rows[i] = rows[i].wrapping_add(oy * g.sh * g.wp + ox * S);
                    if !FULL {
                        first[i] = g.rows[oy].start;
                        end[i] = g.rows[oy].end;
                    }
                }
                let step = g.dh * g.wp;
                for ky in 0..g.kh {
                    let taps = &c.k[ky * kw..][..kw];
                    for (kx, &kv) in taps.iter().enumerate() {
                        let kv = $set1(kv);
                        let col = kx * dw;
                        for i in 0..GROUPS {
                            if FULL || (first[i] <= ky && ky < end[i]) {
                                // SAFETY: a row of the padded plane, which holds every tap's reads.
                                let mut prod = $mul(unsafe { $load::<S>(rows[i].wrapping_add(col)) }, kv);
                                if MASKED {
                                    // SAFETY: the mask row is as wide as a padded row.
                                    let m = unsafe { $load::<S>(masks[i].wrapping_add(col)) };
                                    prod = $blendv(neg_zero, prod, m);
                                }
                                acc[i] = $add(acc[i], prod);
                            }
                        }
                    }
                    for r in rows.iter_mut() {
                        *r = r.wrapping_add(step);
                    }
                }
                for (a, &(oy, ox)) in acc.iter().zip(at) {
                    let v = $order::<S>(*a);
                    let dst = &mut out[oy * g.ow + ox..][..$lanes];
                    // SAFETY: `dst` holds a vector's floats.
                    unsafe { $store(dst.as_mut_ptr(), v) };
                }
            }
        };
    }

    group_kernel!(
        /// Eight outputs per group. With `S` = 2 the inputs of eight outputs are every other
        /// element of 15: two loads and one shuffle give them in the lane order 0 1 4 5 2 3 6
        /// 7, which the store undoes.
        eight,
        8,
        _mm256_set1_ps,
        _mm256_mul_ps,
        _mm256_add_ps,
        _mm256_blendv_ps,
        _mm256_storeu_ps,
        load8,
        order8
    );

    group_kernel!(
        /// Four outputs per group (128-bit lanes): with `S` = 2 one shuffle of two loads gives
        /// the inputs in order.
        four,
        4,
        _mm_set1_ps,
        _mm_mul_ps,
        _mm_add_ps,
        _mm_blendv_ps,
        _mm_storeu_ps,
        load4,
        order4
    );

    /// The inputs of eight outputs at column stride `S` from `p`. With `S` = 2 they are every
    /// other element of 15: two loads and one shuffle give them in the lane order
    /// 0 1 4 5 2 3 6 7, which every tap and the mask share and [`order8`] undoes.
    ///
    /// # Safety
    /// AVX; `p .. p + 8 * S - 1` readable.
    #[inline]
    #[target_feature(enable = "avx")]
    pub(crate) unsafe fn load8<const S: usize>(p: *const f32) -> __m256 {
        // SAFETY: the caller's.
        unsafe {
            if S == 1 {
                _mm256_loadu_ps(p)
            } else {
                _mm256_shuffle_ps::<0xD8>(_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(7)))
            }
        }
    }

    /// Undoes [`load8`]'s lane order: `[o0 o1 o4 o5 | o2 o3 o6 o7]` to `[o0 .. o7]`, moving
    /// 64-bit pairs.
    #[inline]
    #[target_feature(enable = "avx")]
    pub(crate) fn order8<const S: usize>(v: __m256) -> __m256 {
        if S == 1 {
            return v;
        }
        let r = _mm256_castps_pd(v);
        let swap = _mm256_permute2f128_pd::<0x01>(r, r);
        let lo = _mm256_unpacklo_pd(r, swap);
        let hi = _mm256_unpackhi_pd(r, swap);
        _mm256_castpd_ps(_mm256_permute2f128_pd::<0x20>(lo, hi))
    }

    /// The inputs of four outputs at column stride `S` from `p`, in order (with `S` = 2,
    /// one shuffle of two loads).
    ///
    /// # Safety
    /// AVX; `p .. p + 4 * S - 1` readable.
    #[inline]
    #[target_feature(enable = "avx")]
    unsafe fn load4<const S: usize>(p: *const f32) -> __m128 {
        // SAFETY: the caller's.
        unsafe {
            if S == 1 {
                _mm_loadu_ps(p)
            } else {
                _mm_shuffle_ps::<0xD8>(_mm_loadu_ps(p), _mm_loadu_ps(p.add(3)))
            }
        }
    }

    /// Four-wide loads keep the outputs' order.
    #[inline]
    #[target_feature(enable = "avx")]
    fn order4<const S: usize>(v: __m128) -> __m128 {
        v
    }
}

impl Op for DepthwiseConv {
    fn name(&self) -> StaticName {
        "ProvaDepthwiseConv".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{} channels, {:?} -> {:?}, kernel {:?}, strides {:?}, dilations {:?}, pads {:?}, \
             then {:?}{}",
            self.channels,
            self.input,
            self.output,
            self.kernel,
            self.strides,
            self.dilations,
            self.pad_before,
            self.steps,
            crate::plane_pad::describe(self.padded_in, self.padded_out),
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for DepthwiseConv {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        ensure!(
            inputs.len() == 3 + self.steps.len(),
            "depthwise convolution takes three inputs and one per fused step"
        );
        let slices = inputs
            .iter()
            .map(|t| t.try_as_plain_ram()?.as_slice::<f32>())
            .collect::<TractResult<TVec<&[f32]>>>()?;
        let (x, kernel, bias, operands) = (slices[0], slices[1], slices[2], &slices[3..]);
        let [h, w] = self.input;
        let [kh, kw] = self.kernel;
        // Padded planes only with one image, so `planes` is the channels then.
        let planes = self.batch * self.channels;
        ensure!(
            x.len() == planes * crate::plane_pad::plane(self.padded_in, h * w)
                && kernel.len() == self.channels * kh * kw
                && [bias]
                    .iter()
                    .chain(operands)
                    .all(|v| v.len() == 1 || v.len() == self.channels),
            "depthwise convolution inputs do not match the shapes it was built for"
        );
        // SAFETY: f32 has no invalid bit patterns, and `run` writes every output (and
        // `plane_pad::clear` the padding).
        let mut out = unsafe { Tensor::uninitialized::<f32>(&self.out_shape())? };
        let mut plain = out.try_as_plain_ram_mut()?;
        let values = plain.as_slice_mut::<f32>()?;
        self.run(x, kernel, bias, operands, values);
        if self.padded_out {
            crate::plane_pad::clear(values, self.planes().2);
        }
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for DepthwiseConv {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(
            inputs.len() == 3 + self.steps.len(),
            "depthwise convolution takes three inputs and one per fused step"
        );
        Ok(tvec!(f32::fact(&*self.out_shape())))
    }

    fn cost(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        let outputs = self.output_shape.iter().product::<usize>();
        let macs = outputs * (self.kernel[0] * self.kernel[1] + self.steps.len());
        Ok(tvec!((Cost::FMA(f32::datum_type()), macs.to_dim())))
    }

    as_op!();
}

/// Replaces every `Conv` of `model` that tract would run as its `DepthWise` op with
/// [`DepthwiseConv`] (same bits, see the module docs). Call it on a decluttered model, before
/// `optimize`. Returns how many were replaced.
pub fn use_prova_depthwise(model: &mut TypedModel) -> TractResult<usize> {
    replace_convs(model, "prova-depthwise", DepthwiseConv::for_conv)
}

/// The value of channel `c` in `values`: one per channel, or one for all.
pub(crate) fn per_channel(values: &[f32], c: usize) -> f32 {
    if values.len() == 1 {
        values[0]
    } else {
        values[c]
    }
}

/// A Prova convolution op that takes the element-wise steps after it (see [`fusable_step`]).
pub(crate) trait FusesSteps: TypedOp + Sized {
    /// Images, one output plane's height and width, and the whole output shape.
    fn output_geometry(&self) -> (usize, [usize; 2], &[usize]);
    /// Appends a step (its operand becomes the op's next input).
    fn push_step(&mut self, step: BinOp);
}

impl FusesSteps for DepthwiseConv {
    fn output_geometry(&self) -> (usize, [usize; 2], &[usize]) {
        (self.batch, self.output, &self.output_shape)
    }

    fn push_step(&mut self, step: BinOp) {
        self.steps.push(step);
    }
}

/// Replaces every three-input `Conv` of `model` that `make` turns into an op with that op,
/// the element-wise steps that can follow it fused in, as one patch each named `name`.
/// Returns how many were replaced.
pub(crate) fn replace_convs<O: FusesSteps>(
    model: &mut TypedModel,
    name: &str,
    make: impl Fn(&Conv, &TypedFact, &TypedFact, &TypedFact) -> TractResult<Option<O>>,
) -> TractResult<usize> {
    let mut candidates = Vec::new();
    for node in &model.nodes {
        let Some(conv) = node.op_as::<Conv>() else {
            continue;
        };
        if node.inputs.len() != 3 {
            continue;
        }
        let fact = |i: usize| model.outlet_fact(node.inputs[i]);
        if let Some(op) = make(conv, fact(0)?, fact(1)?, fact(2)?)? {
            candidates.push((node.id, op));
        }
    }
    let count = candidates.len();
    for (id, mut op) in candidates {
        let node = &model.nodes[id];
        let mut inputs: Vec<OutletId> = node.inputs.clone();
        let mut absorbed = vec![id];
        let mut out = OutletId::new(id, 0);
        loop {
            let (batch, output, shape) = op.output_geometry();
            let Some((step, operand, next)) = fusable_step(model, batch, output, shape, out)?
            else {
                break;
            };
            op.push_step(step);
            inputs.push(operand);
            absorbed.push(next);
            out = OutletId::new(next, 0);
        }
        let mut patch = TypedModelPatch::new(name);
        let taps = patch.taps(model, &inputs)?;
        let wire = patch.wire_node(&node.name, op, &taps)?[0];
        patch.shunt_outside(model, out, wire)?;
        for id in absorbed {
            patch.obliterate(id)?;
        }
        patch.apply(model)?;
    }
    Ok(count)
}

/// The element-wise step that can be fused after `op`'s output `out`: its only use, a
/// binary operation tract has a by-scalar kernel for (`Mul`, `Add`, `Sub`, `SubF`, `Max`,
/// `Min`) with a constant f32 operand of one value per
/// channel or one for all, which tract would run as a by-scalar kernel (`OptBinByScalar`,
/// alone or in an `OptBinChain`): planes of at least 32 outputs and one image (tract then
/// takes that kernel, not its short-period or generic paths, whose max and min treat NaN and
/// signed zeros differently). Returns the step, the operand's outlet and the node.
///
/// `out` is the output of a convolution of `batch` images into planes of `output` (height,
/// width), its whole shape `shape` (channels third from last).
fn fusable_step(
    model: &TypedModel,
    batch: usize,
    output: [usize; 2],
    shape: &[usize],
    out: OutletId,
) -> TractResult<Option<(BinOp, OutletId, usize)>> {
    use tract_onnx::tract_core::ops::binary::TypedBinOp;
    let [oh, ow] = output;
    if batch != 1 || oh * ow < 32 || model.output_outlets()?.contains(&out) {
        return Ok(None);
    }
    let [succ] = model.outlet_successors(out) else {
        return Ok(None);
    };
    let node = model.node(succ.node);
    let Some(bin) = node.op_as::<TypedBinOp>() else {
        return Ok(None);
    };
    if node.inputs.len() != 2 || bin.1.is_some() {
        return Ok(None);
    }
    let operand = node.inputs[1 - succ.slot];
    let fact = model.outlet_fact(operand)?;
    let per_channel: TVec<usize> = shape
        .iter()
        .enumerate()
        .map(|(axis, &d)| if axis == shape.len() - 3 { d } else { 1 })
        .collect();
    let fits = fact.datum_type == f32::datum_type()
        && fact.konst.is_some()
        && fact.shape.as_concrete().is_some_and(|s| {
            s.len() == shape.len() && (s.iter().all(|&d| d == 1) || s == &*per_channel)
        });
    let out_fact = model.outlet_fact(OutletId::new(node.id, 0))?;
    if !fits
        || node.outputs.len() != 1
        || out_fact.datum_type != f32::datum_type()
        || out_fact.shape.as_concrete() != Some(shape)
    {
        return Ok(None);
    }
    // tract's own operation for the mini-op, flipped where the tensor is the right input, as
    // its codegen does before it picks the by-scalar kernel.
    let Some(op) = bin.0.as_linalg_binop() else {
        return Ok(None);
    };
    let step = if succ.slot == 0 { op } else { op.flip() };
    Ok(Some((step, operand, node.id)))
}
