//! Prova's direct convolution for a network's stem: few input channels, a spatial kernel.
//!
//! tract runs a group-1 convolution as im2col and a matrix product: a `Pad` copy of the image,
//! a lazily gathered im2col panel per tile (`LazyIm2col`), the product in a matrix kernel
//! (`k` = input channels × kernel taps, 27 for an RGB 3×3 stem), and, because a reshape sits
//! between the product and what follows, a separate pass for the activation. On a
//! MobileNet-style network the stem was the slowest layer (a quarter of the time for a
//! twentieth of the multiply-adds): `k` is too short for the tile to pay for itself.
//!
//! [`DirectConv`] computes what that product computes, output by output: starting from `+0`,
//! for each input channel, kernel row and kernel column in that order (im2col's `k` order,
//! padding taps included: the image is copied into a zero-padded buffer, so a padding tap
//! multiplies a zero exactly as the im2col panel does), one multiply then one add; then, unless
//! the bias is a constant of zeros (which tract drops), `bias + sum`, the bias the first
//! operand as in tract's kernels. All of it under the matrix kernels' MXCSR (DAZ set: subnormal
//! inputs of every multiply and add read as zero; FTZ clear), so the bits are those of tract's
//! AVX kernels and of Prova's AVX-512 one. The padded copy is split by column phase (with
//! stride 2, even and odd columns apart), so the inputs of consecutive outputs are consecutive
//! for any stride; with AVX it computes sixteen consecutive outputs of a row (two vectors) for
//! up to six output channels per pass over the taps, each input vector loaded once for the
//! channels and each weight once for the vectors; with AVX-512F, on rows of at least sixteen,
//! sixteen outputs (one vector) for up to eight channels; without AVX, or on rows narrower than
//! eight, one output at a time, the same operations.
//! The element-wise steps with constant operands that follow are fused as in
//! [`crate::depthwise`] (the same rule: where tract would run its by-scalar kernels), applied
//! to each channel's plane after the sums, outside the kernel MXCSR as tract runs them.
//! The padded copy's buffer is kept between calls on the same thread for the same geometry
//! (every call writes the same places of it, so its padding stays zero): the stem's is ~50 KB,
//! which cost an allocation and a zeroing per call.
//!
//! Only under the exact profile (where the matrix kernels are pinned to that arithmetic) and
//! on CPUs with AVX (where they run it); elsewhere tract's own path runs. `tests/direct_conv.rs`
//! compares it with tract's compiled convolution bit for bit on edge geometries and values.

use crate::depthwise::{FusesSteps, Steps, apply_steps, per_channel, replace_convs};
use crate::kept::{self, Kept};
#[cfg(target_arch = "x86_64")]
use crate::kernels::mmm::with_kernel_mxcsr;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat};
use tract_onnx::tract_core::ops::nn::DataFormat;
use tract_onnx::tract_core::tract_linalg::BinOp;

/// The most multiply-adds per output (input channels × kernel taps) this op takes: a stem's.
/// Longer sums are products the matrix kernels run well.
pub const MAX_TAPS: usize = 64;

/// A 2-D f32 group-1 convolution in NCHW (or CHW) layout, kernel `[O, I, KH, KW]`, bias of one
/// value per output channel (or one for all): inputs `(x, kernel, bias)` then one operand per
/// fused step.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DirectConv {
    batch: usize,
    c_in: usize,
    c_out: usize,
    input: [usize; 2],
    output: [usize; 2],
    kernel: [usize; 2],
    strides: [usize; 2],
    dilations: [usize; 2],
    pad_before: [usize; 2],
    output_shape: TVec<usize>,
    /// Whether the sum gets the bias added (tract drops a constant bias of zeros).
    bias: bool,
    steps: TVec<BinOp>,
    /// Whether the output has padded planes ([`crate::plane_pad`]) instead of NCHW's
    /// contiguous ones.
    padded_out: bool,
}

impl DirectConv {
    /// The op computing `conv` on an input of fact `x`, or `None` unless it is a group-1 f32
    /// NCHW/CHW 2-D convolution with a constant OIHW kernel of at least two taps and at most
    /// [`MAX_TAPS`] multiply-adds per output, with known shapes.
    pub fn for_conv(
        conv: &Conv,
        x: &TypedFact,
        kernel: &TypedFact,
        bias: &TypedFact,
    ) -> TractResult<Option<Self>> {
        let spec = &conv.pool_spec;
        let (c_in, c_out) = (spec.input_channels, spec.output_channels);
        if conv.q_params.is_some()
            || conv.group != 1
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
        // Constant weights only: the convolutions this is for (stems) have them; one of
        // run-time weights stays with tract.
        if k_shape != [c_out, c_in, kh, kw]
            || kernel.konst.is_none()
            || kh * kw < 2
            || c_in * kh * kw > MAX_TAPS
            || (bias_len != c_out.to_dim() && bias_len != 1.to_dim())
        {
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
            || c_out == 0
        {
            return Ok(None);
        }
        let zero_bias = match &bias.konst {
            Some(b) => b.is_all_zero()?,
            None => false,
        };
        let pair = |v: &[usize]| [v[0], v[1]];
        Ok(Some(Self {
            batch: *geo.input_shape.n().unwrap_or(&1),
            c_in,
            c_out,
            input: pair(&patch.spec.input_shape),
            output: pair(&patch.output_shape),
            kernel: [kh, kw],
            strides: pair(&patch.spec.strides),
            dilations: pair(&patch.spec.dilations),
            pad_before: pair(&patch.pad_before),
            output_shape: geo.output_shape.shape.clone(),
            bias: !zero_bias,
            steps: tvec!(),
            padded_out: false,
        }))
    }

    /// Output channels and pixels of one output plane, where the output can have padded
    /// planes (one image).
    pub(crate) fn paddable_out(&self) -> Option<(usize, usize)> {
        let [oh, ow] = self.output;
        (self.batch == 1 && !self.padded_out).then_some((self.c_out, oh * ow))
    }

    /// This op with its output in padded planes.
    pub(crate) fn with_padded_out(&self) -> Self {
        Self {
            padded_out: true,
            ..self.clone()
        }
    }

    /// The output's shape: as planned, or in padded planes.
    fn out_shape(&self) -> TVec<usize> {
        let [oh, ow] = self.output;
        if self.padded_out {
            crate::plane_pad::shape(self.c_out, oh * ow)
        } else {
            self.output_shape.clone()
        }
    }

    /// Values from one output plane to the next.
    fn out_plane(&self) -> usize {
        let [oh, ow] = self.output;
        crate::plane_pad::plane(self.padded_out, oh * ow)
    }

    /// The padded plane's width and height: every column and row any output's taps read, at
    /// least the image and its padding before.
    fn padded(&self) -> [usize; 2] {
        let [h, w] = self.input;
        let [oh, ow] = self.output;
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.strides;
        let [dh, dw] = self.dilations;
        let [ph, pw] = self.pad_before;
        [
            ((ow - 1) * sw + (kw - 1) * dw + 1).max(pw + w),
            ((oh - 1) * sh + (kh - 1) * dh + 1).max(ph + h),
        ]
    }
}

/// One image's sums: the padded input, the weights, the bias, where to write.
///
/// The padded image is stored split by column phase: with a column stride `S`, input channel
/// `ci`'s padded column `j` is in plane `ci * S + j % S` at column `j / S` (planes of `hp`
/// rows of `wq` columns). The inputs of consecutive outputs of a row are then consecutive in
/// one plane, for any stride: every vector load is one plain load.
struct Job<'a> {
    op: &'a DirectConv,
    padded: &'a [f32],
    wq: usize,
    hp: usize,
    kernel: &'a [f32],
    /// Per tap in `k` order (input channel, kernel row, kernel column), where it reads in the
    /// split padded image relative to where output `(oy, ox)` starts, `oy * sh * wq + ox`.
    offsets: &'a [usize],
    /// The kernel tap-major: tap `t`'s weights of the output channels at `t * c_out`.
    by_tap: &'a [f32],
    bias: &'a [f32],
    out: *mut f32,
}

impl Job<'_> {
    fn bias(&self, co: usize) -> f32 {
        per_channel(self.bias, co)
    }
}

/// Makes [`DirectConv`] take its portable loop even on a CPU with AVX (tests compare both
/// with tract).
#[doc(hidden)]
pub static FORCE_BASELINE: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Every output of one image, one at a time, in the order the module docs give. Runs under
/// the kernel MXCSR.
///
/// # Safety
/// `job.out` holds the image's `c_out × oh × ow` outputs.
#[inline(never)]
unsafe fn sums_portable(job: *const Job) -> isize {
    // SAFETY: the caller's.
    let job = unsafe { &*job };
    let op = job.op;
    let [oh, ow] = op.output;
    let [kh, kw] = op.kernel;
    let [sh, sw] = op.strides;
    let [dh, dw] = op.dilations;
    let taps = op.c_in * kh * kw;
    let plane = job.hp * job.wq;
    for co in 0..op.c_out {
        let w = &job.kernel[co * taps..][..taps];
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = 0.0f32;
                let mut t = 0;
                for ci in 0..op.c_in {
                    for ky in 0..kh {
                        let row = (oy * sh + ky * dh) * job.wq;
                        for kx in 0..kw {
                            let col = ox * sw + kx * dw;
                            let at = (ci * sw + col % sw) * plane + row + col / sw;
                            acc += job.padded[at] * w[t];
                            t += 1;
                        }
                    }
                }
                if op.bias {
                    // The bias first, as the matrix kernels add it.
                    #[allow(clippy::assign_op_pattern)]
                    {
                        acc = job.bias(co) + acc;
                    }
                }
                // SAFETY: inside the image's outputs.
                unsafe { *job.out.add(co * op.out_plane() + oy * ow + ox) = acc };
            }
        }
    }
    0
}

thread_local! {
    /// Padded image buffers kept between calls ([`crate::kept`]), by geometry.
    static PADDED: std::cell::RefCell<Kept<[usize; 8], Vec<f32>>> =
        const { std::cell::RefCell::new(Kept::new(4)) };
}

impl DirectConv {
    fn run(&self, x: &[f32], kernel: &[f32], bias: &[f32], operands: &[&[f32]], out: &mut [f32]) {
        let [h, w] = self.input;
        let [oh, ow] = self.output;
        let [ph, pw] = self.pad_before;
        let [wp, hp] = self.padded();
        let sw = self.strides[1];
        let wq = wp.div_ceil(sw);
        let plane = hp * wq;
        // Every call with this geometry writes the same places of the padded image (the
        // image's, split by phase) and leaves the rest at zero: the buffer is kept.
        let key = [self.c_in, sw, hp, wq, ph, pw, h, w];
        let mut padded =
            kept::take(&PADDED, &key).unwrap_or_else(|| vec![0.0f32; self.c_in * sw * plane]);
        let [kh, kw] = self.kernel;
        let [dh, dw] = self.dilations;
        let taps = self.c_in * kh * kw;
        let mut offsets = Vec::with_capacity(taps);
        for ci in 0..self.c_in {
            for ky in 0..kh {
                for kx in 0..kw {
                    let col = kx * dw;
                    offsets.push((ci * sw + col % sw) * plane + ky * dh * wq + col / sw);
                }
            }
        }
        // The weights tap by tap (`by_tap[t * c_out + co]`), without a division per weight.
        let mut by_tap = Vec::with_capacity(taps * self.c_out);
        for t in 0..taps {
            by_tap.extend(kernel.chunks_exact(taps).map(|w| w[t]));
        }
        let sums = sums_routine(self);
        let mut values: TVec<f32> = tvec!(0.0; self.steps.len());
        for n in 0..self.batch {
            let image = &x[n * self.c_in * h * w..][..self.c_in * h * w];
            for (src, dst) in image
                .chunks_exact(h * w)
                .zip(padded.chunks_exact_mut(sw * plane))
            {
                for (r, row) in src.chunks_exact(w).enumerate() {
                    let at = (ph + r) * wq;
                    if sw == 1 {
                        dst[at + pw..][..w].copy_from_slice(row);
                        continue;
                    }
                    if sw == 2 {
                        // Columns `c` go to phase `(c + pw) % 2` at `(c + pw) / 2`.
                        let even = pw % 2;
                        let (e_at, o_at) = (at + pw / 2, at + pw.div_ceil(2));
                        let (first, second) = dst.split_at_mut(plane);
                        let (e, o) = if even == 0 {
                            (&mut first[e_at..], &mut second[o_at..])
                        } else {
                            (&mut second[e_at..], &mut first[o_at..])
                        };
                        split2(row, e, o);
                        continue;
                    }
                    // Per phase, the columns `c` with `(c + pw) % sw == phase`: from `c0`,
                    // every `sw`-th, to consecutive places of that phase's plane.
                    for phase in 0..sw {
                        let c0 = (phase + sw - pw % sw) % sw;
                        if c0 >= w {
                            continue;
                        }
                        let dst = &mut dst[phase * plane + at + (c0 + pw) / sw..];
                        for (d, s) in dst.iter_mut().zip(row[c0..].iter().step_by(sw)) {
                            *d = *s;
                        }
                    }
                }
            }
            let image = self.c_out * self.out_plane();
            let out = &mut out[n * image..][..image];
            let job = Job {
                op: self,
                padded: &padded,
                wq,
                hp,
                kernel,
                offsets: &offsets,
                by_tap: &by_tap,
                bias,
                out: out.as_mut_ptr(),
            };
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `job.out` holds this image's outputs; `sums` is for this CPU.
            unsafe {
                with_kernel_mxcsr(sums, &job as *const Job)
            };
            // Never swapped in elsewhere (`use_prova_direct_conv`); kept compiling.
            #[cfg(not(target_arch = "x86_64"))]
            // SAFETY: as above.
            unsafe {
                sums(&job as *const Job)
            };
            if !self.steps.is_empty() {
                for (c, plane) in out.chunks_exact_mut(self.out_plane()).enumerate() {
                    let plane = &mut plane[..oh * ow];
                    for (v, o) in values.iter_mut().zip(operands) {
                        *v = per_channel(o, c);
                    }
                    let steps = Steps {
                        ops: &self.steps,
                        values: &values,
                    };
                    apply_steps(steps, plane);
                }
            }
        }
        let values = padded.len();
        kept::keep(&PADDED, key, padded, values);
    }
}

/// `even[i] = row[2 i]` and `odd[i] = row[2 i + 1]` for every element of `row`.
fn split2(row: &[f32], even: &mut [f32], odd: &mut [f32]) {
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        done = unsafe { avx::split2(row, even, odd) };
    }
    for (i, &v) in row.iter().enumerate().skip(done) {
        if i % 2 == 0 {
            even[i / 2] = v;
        } else {
            odd[i / 2] = v;
        }
    }
}

/// The sums routine for this CPU and geometry.
fn sums_routine(op: &DirectConv) -> unsafe fn(*const Job) -> isize {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx")
        && !FORCE_BASELINE.load(std::sync::atomic::Ordering::Relaxed)
        && op.output[1] >= 8
    {
        if std::arch::is_x86_feature_detected!("avx512f") && op.output[1] >= 16 {
            return avx::sums512;
        }
        return avx::sums;
    }
    let _ = op;
    sums_portable
}

#[cfg(target_arch = "x86_64")]
mod avx {
    use super::Job;
    use std::arch::x86_64::*;

    /// Every output of one image: per output row, sixteen consecutive outputs as two vectors
    /// (eight where the row is narrower than sixteen; the last of a row ending at the row's
    /// end, recomputing the values it shares with the one before), for up to six output
    /// channels at once: each tap's input vectors are loaded once for the channels, each
    /// weight once for the vectors. Runs under the kernel MXCSR.
    ///
    /// # Safety
    /// AVX; `job.out` holds the image's outputs; output rows at least eight wide.
    #[inline(never)]
    #[target_feature(enable = "avx")]
    pub(super) unsafe fn sums(job: *const Job) -> isize {
        // SAFETY: the caller's.
        let job = unsafe { &*job };
        let op = job.op;
        let wide = op.output[1] >= 16;
        let mut co = 0;
        while co < op.c_out {
            let n = (op.c_out - co).min(6);
            // SAFETY: forwarded; `co + n <= c_out`.
            unsafe {
                match (wide, n) {
                    (true, 6) => block::<2, 6>(job, co),
                    (true, 5) => block::<2, 5>(job, co),
                    (true, 4) => block::<2, 4>(job, co),
                    (true, 3) => block::<2, 3>(job, co),
                    (true, 2) => block::<2, 2>(job, co),
                    (true, _) => block::<2, 1>(job, co),
                    (false, 6) => block::<1, 6>(job, co),
                    (false, 5) => block::<1, 5>(job, co),
                    (false, 4) => block::<1, 4>(job, co),
                    (false, 3) => block::<1, 3>(job, co),
                    (false, 2) => block::<1, 2>(job, co),
                    (false, _) => block::<1, 1>(job, co),
                }
            }
            co += n;
        }
        0
    }

    /// [`sums`] with 512-bit vectors: per output row, sixteen consecutive outputs a vector (the
    /// last of a row ending at the row's end), for up to eight output channels at once: one
    /// load and eight broadcasts per tap for eight vector multiply-adds, where [`sums`] takes
    /// two loads and six broadcasts for twelve half-width ones (stem 14.3 → 12.0 µs on a
    /// MobileNet; two vectors by eight channels, or one by sixteen, were slower). The same
    /// operations on the same values per output as [`sums`]. Runs under the kernel MXCSR.
    ///
    /// # Safety
    /// AVX-512F; `job.out` holds the image's outputs; output rows at least sixteen wide.
    #[inline(never)]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn sums512(job: *const Job) -> isize {
        // SAFETY: the caller's.
        let job = unsafe { &*job };
        let op = job.op;
        let mut co = 0;
        while co < op.c_out {
            let n = (op.c_out - co).min(8);
            // SAFETY: forwarded; `co + n <= c_out`.
            unsafe {
                match n {
                    8 => block512::<1, 8>(job, co),
                    7 => block512::<1, 7>(job, co),
                    6 => block512::<1, 6>(job, co),
                    5 => block512::<1, 5>(job, co),
                    4 => block512::<1, 4>(job, co),
                    3 => block512::<1, 3>(job, co),
                    2 => block512::<1, 2>(job, co),
                    _ => block512::<1, 1>(job, co),
                }
            }
            co += n;
        }
        0
    }

    /// [`super::split2`] sixteen elements at a time; returns how many it did.
    #[target_feature(enable = "avx2")]
    pub(super) fn split2(row: &[f32], even: &mut [f32], odd: &mut [f32]) -> usize {
        let n = row.len() / 16 * 16;
        assert!(even.len() >= n / 2 && odd.len() >= n / 2);
        for i in (0..n).step_by(16) {
            // SAFETY: `i + 16 <= n <= row.len()`, `i / 2 + 8 <= n / 2` for both outputs.
            unsafe {
                let a = _mm256_loadu_ps(row.as_ptr().add(i));
                let b = _mm256_loadu_ps(row.as_ptr().add(i + 8));
                // [a0 a2 b0 b2 | a4 a6 b4 b6], then 64-bit lanes 0 2 1 3.
                let e = _mm256_shuffle_ps::<0x88>(a, b);
                let o = _mm256_shuffle_ps::<0xDD>(a, b);
                let e = _mm256_castpd_ps(_mm256_permute4x64_pd::<0xD8>(_mm256_castps_pd(e)));
                let o = _mm256_castpd_ps(_mm256_permute4x64_pd::<0xD8>(_mm256_castps_pd(o)));
                _mm256_storeu_ps(even.as_mut_ptr().add(i / 2), e);
                _mm256_storeu_ps(odd.as_mut_ptr().add(i / 2), o);
            }
        }
        n
    }

    /// Output channels `co .. co + N`, `P` vectors of outputs per pass over the taps, one
    /// function per vector width (`$lanes` floats).
    macro_rules! block_kernel {
        ($(#[$doc:meta])* $name:ident, $feature:literal, $lanes:literal, $zero:ident,
         $set1:ident, $load:ident, $mul:ident, $add:ident, $store:ident) => {
            $(#[$doc])*
            ///
            /// # Safety
            #[doc = concat!("`", $feature, "`; `co + N <= c_out`; rows at least `", $lanes,
                            " * P` outputs wide; `job.out` holds the image's outputs.")]
            #[inline]
            #[target_feature(enable = $feature)]
            unsafe fn $name<const P: usize, const N: usize>(job: &Job, co: usize) {
                let op = job.op;
                let [oh, ow] = op.output;
                let sh = op.strides[0];
                let c_out = op.c_out;
                let width = $lanes * P;
                let out_plane = op.out_plane();
                // SAFETY (whole body): every load lies in the split padded image (its planes
                // hold every tap of every output, and the outputs of a row read consecutive
                // columns of one plane); every store lies in the outputs of channels
                // `co .. co + N`. (Loops, not `array::from_fn`, so that no intrinsic sits in a
                // closure.)
                unsafe {
                    let mut bias = [$zero(); N];
                    for (c, b) in bias.iter_mut().enumerate() {
                        *b = $set1(job.bias(co + c));
                    }
                    for oy in 0..oh {
                        let mut ox = 0;
                        loop {
                            let mut acc = [[$zero(); P]; N];
                            let base = job.padded.as_ptr().add(oy * sh * job.wq + ox);
                            let mut w = job.by_tap.as_ptr().add(co);
                            for &offset in job.offsets {
                                let at = base.add(offset);
                                let mut v = [$zero(); P];
                                for (p, v) in v.iter_mut().enumerate() {
                                    *v = $load(at.add($lanes * p));
                                }
                                for (c, a) in acc.iter_mut().enumerate() {
                                    let k = $set1(*w.add(c));
                                    for (a, v) in a.iter_mut().zip(&v) {
                                        *a = $add(*a, $mul(*v, k));
                                    }
                                }
                                w = w.add(c_out);
                            }
                            for (c, a) in acc.iter().enumerate() {
                                let at = job.out.add((co + c) * out_plane + oy * ow + ox);
                                for (p, a) in a.iter().enumerate() {
                                    let sum = if op.bias { $add(bias[c], *a) } else { *a };
                                    $store(at.add($lanes * p), sum);
                                }
                            }
                            if ox + width == ow {
                                break;
                            }
                            ox = (ox + width).min(ow - width);
                        }
                    }
                }
            }
        };
    }

    block_kernel!(
        /// Eight outputs a vector (AVX), for [`sums`].
        block,
        "avx",
        8,
        _mm256_setzero_ps,
        _mm256_set1_ps,
        _mm256_loadu_ps,
        _mm256_mul_ps,
        _mm256_add_ps,
        _mm256_storeu_ps
    );

    block_kernel!(
        /// Sixteen outputs a 512-bit vector (AVX-512F), for [`sums512`].
        block512,
        "avx512f",
        16,
        _mm512_setzero_ps,
        _mm512_set1_ps,
        _mm512_loadu_ps,
        _mm512_mul_ps,
        _mm512_add_ps,
        _mm512_storeu_ps
    );
}

impl Op for DirectConv {
    fn name(&self) -> StaticName {
        "ProvaDirectConv".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{} -> {} channels, {:?} -> {:?}, kernel {:?}, strides {:?}, dilations {:?}, pads \
             {:?}, bias {}, then {:?}{}",
            self.c_in,
            self.c_out,
            self.input,
            self.output,
            self.kernel,
            self.strides,
            self.dilations,
            self.pad_before,
            self.bias,
            self.steps,
            crate::plane_pad::describe(false, self.padded_out),
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for DirectConv {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        ensure!(
            inputs.len() == 3 + self.steps.len(),
            "direct convolution takes three inputs and one per fused step"
        );
        let slices = inputs
            .iter()
            .map(|t| t.try_as_plain_ram()?.as_slice::<f32>())
            .collect::<TractResult<TVec<&[f32]>>>()?;
        let (x, kernel, bias, operands) = (slices[0], slices[1], slices[2], &slices[3..]);
        let [h, w] = self.input;
        let [kh, kw] = self.kernel;
        ensure!(
            x.len() == self.batch * self.c_in * h * w
                && kernel.len() == self.c_out * self.c_in * kh * kw
                && [bias]
                    .iter()
                    .chain(operands)
                    .all(|v| v.len() == 1 || v.len() == self.c_out),
            "direct convolution inputs do not match the shapes it was built for"
        );
        // SAFETY: f32 has no invalid bit patterns, and `run` writes every output.
        // (and `plane_pad::clear` the padding).
        let mut out = unsafe { Tensor::uninitialized::<f32>(&self.out_shape())? };
        let mut plain = out.try_as_plain_ram_mut()?;
        let values = plain.as_slice_mut::<f32>()?;
        self.run(x, kernel, bias, operands, values);
        if self.padded_out {
            let [oh, ow] = self.output;
            crate::plane_pad::clear(values, oh * ow);
        }
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for DirectConv {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(
            inputs.len() == 3 + self.steps.len(),
            "direct convolution takes three inputs and one per fused step"
        );
        Ok(tvec!(f32::fact(&*self.out_shape())))
    }

    fn cost(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        let outputs = self.output_shape.iter().product::<usize>();
        let macs = outputs * (self.c_in * self.kernel[0] * self.kernel[1] + self.steps.len());
        Ok(tvec!((Cost::FMA(f32::datum_type()), macs.to_dim())))
    }

    as_op!();
}

/// Replaces every `Conv` of `model` that [`DirectConv::for_conv`] takes with it, and fuses the
/// element-wise steps that follow. Call it on a decluttered model, before `optimize`, under
/// the exact profile only; it does nothing on a CPU without AVX. Returns how many were
/// replaced.
pub fn use_prova_direct_conv(model: &mut TypedModel) -> TractResult<usize> {
    #[cfg(target_arch = "x86_64")]
    let avx = std::arch::is_x86_feature_detected!("avx");
    #[cfg(not(target_arch = "x86_64"))]
    let avx = false;
    if !avx {
        return Ok(0);
    }
    replace_convs(model, "prova-direct-conv", DirectConv::for_conv)
}

impl FusesSteps for DirectConv {
    fn output_geometry(&self) -> (usize, [usize; 2], &[usize]) {
        (self.batch, self.output, &self.output_shape)
    }

    fn push_step(&mut self, step: BinOp) {
        self.steps.push(step);
    }
}
