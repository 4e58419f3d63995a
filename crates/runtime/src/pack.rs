//! Packing of k-major run-time operands, sixteen (AVX-512F) or eight (AVX) rows at a time.
//!
//! A matrix product's run-time operand whose k axis is contiguous (a transformer's
//! activations `[sequence, features]` as the right operand, attention's queries, keys and
//! probabilities) is packed by tract's `OptMatMulPack` into panels of sixteen mn values per k
//! step: a transpose, which tract's portable packer does four values at a time. On the
//! encoder at sequence 128 the packs took ~6% of the time; the one of the feed-forward
//! network's hidden activations (128 × 1024) alone ran at ~6 GB/s.
//!
//! [`FastPack`] writes the same bytes: for each panel, sixteen rows of sixteen k values loaded
//! as 512-bit vectors and transposed in registers (`transpose16`, the matrix kernel's), rows
//! past mn read as zeros, k's tail with masked loads; the packed layout (panel length,
//! alignment, end padding) from tract's own `PackedFormat`, batches in tract's order. Pure
//! data movement: no arithmetic, so nothing about it can change a result's bits; the test
//! (`tests/pack.rs`) compares the packed bytes with tract's packer's, and the plans' outputs.
//!
//! Taken under the exact profile on CPUs with AVX-512F for f32 packs into panels of sixteen
//! (the format of Prova's matrix kernel) of an operand with a contiguous k axis, and on CPUs
//! with AVX for the same packs into panels of one to sixteen.
//!
//! On a CPU without AVX-512F the exact profile runs tract's AVX kernel (`avx_mmm_f32_16x6`),
//! whose right operand is packed six values per k step: tract transposes four of the six rows
//! four by four and moves the last two one value at a time (its 4 × 4 transpose is vectorised
//! on arm only). There [`FastPack`] takes any panel width up to sixteen, eight rows at a
//! time: eight k steps of eight rows loaded as 256-bit vectors (rows past the panel's edge as
//! zeros, k's tail with masked loads), transposed in registers (`tile_avx::transpose8`, the
//! row ops' transpose), each k step's lanes stored with one 256-bit store, or a 128-bit and a
//! 64-bit one for a narrower group; groups whose rows are all present run a loop
//! monomorphised on their width, without masks or per-value branches. On the encoder at
//! sequence 128 on an AVX2 EPYC the packs went from 169 to 88 µs of a 3.1 ms call
//! (docs/performance.md).

#[cfg(target_arch = "x86_64")]
use crate::kernels::{mmm, tile_avx};
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::matmul::pack::DynPackedExoticFact;
use tract_onnx::tract_core::tract_data::internal::Blob;
use tract_onnx::tract_core::tract_linalg::mmm::{
    EagerPackedInput, PackedExoticFact, PackedMatrixStorage,
};
use tract_onnx::tract_core::tract_linalg::pack::PackedFormat;

/// Rows per panel of the AVX-512F pack.
const R: usize = 16;

/// A pack of an f32 operand with a contiguous k axis into tract's `PackedFormat` panels of
/// sixteen; see the module docs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FastPack {
    format: PackedFormat,
    input_shape: TVec<usize>,
    k_axis: usize,
    mn_axis: usize,
    /// The replaced pack's output fact (packed, with its formats).
    fact: TypedFact,
    /// Whether the panels are written with AVX-512F (panels of sixteen), else with AVX.
    wide: bool,
}

impl FastPack {
    /// The op replacing `OptMatMulPack` node `node` of `model`, or `None` unless it packs a
    /// concrete f32 operand with a contiguous k axis into one `PackedFormat` of sixteen rows.
    fn for_node(model: &TypedModel, node: &TypedNode) -> TractResult<Option<Self>> {
        let Some((k_axis, mn_axis)) = pack_axes(model, node)? else {
            return Ok(None);
        };
        let input = model.outlet_fact(node.inputs[0])?;
        let fact = model.outlet_fact(OutletId::new(node.id, 0))?;
        let Some(packed) = fact
            .exotic_fact
            .as_ref()
            .and_then(|e| e.downcast_ref::<DynPackedExoticFact>())
        else {
            return Ok(None);
        };
        let [packer] = packed.packers.as_slice() else {
            return Ok(None);
        };
        let Some(format) = packer.downcast_ref::<PackedFormat>() else {
            return Ok(None);
        };
        let Some(input_shape) = input.shape.as_concrete() else {
            return Ok(None);
        };
        if format.dt != f32::datum_type()
            || !takes(format.r)
            || input.datum_type != f32::datum_type()
            || input.is_exotic()
        {
            return Ok(None);
        }
        // k contiguous: every axis after it of length one.
        if k_axis == mn_axis || input_shape[k_axis + 1..].iter().any(|&d| d != 1) {
            return Ok(None);
        }
        Ok(Some(FastPack {
            format: format.clone(),
            input_shape: input_shape.into(),
            k_axis,
            mn_axis,
            fact: fact.clone(),
            wide: format.r == R && wide_available(),
        }))
    }

    /// Packs the `k` × `mn` operand at `x` (element `(kk, j)` at `x[kk + j * mn_stride]`).
    fn pack_one(&self, x: &[f32], k: usize, mn: usize, mn_stride: usize) -> EagerPackedInput {
        let r = self.format.r;
        let panel_len = self.format.single_panel_len(k);
        let packed_len = self.format.len(k, mn);
        // SAFETY: the blob is written below where the kernels read it (tract leaves the end
        // padding records unwritten too); the partial panel's padding lanes are zeroed as
        // tract's packer zeroes them.
        let mut blob =
            unsafe { Blob::new_for_size_and_align(packed_len * 4, self.format.alignment_bytes) };
        let bytes = blob.as_bytes_mut();
        if !mn.is_multiple_of(r) {
            bytes[(mn / r) * panel_len * 4..].fill(0);
        }
        // SAFETY: the blob holds `mn.div_ceil(r)` panels of `panel_len` floats, aligned.
        let out =
            unsafe { std::slice::from_raw_parts_mut(bytes.as_mut_ptr() as *mut f32, packed_len) };
        #[cfg(target_arch = "x86_64")]
        if self.wide {
            // SAFETY: AVX-512F is present.
            unsafe { transpose_panels(x, k, mn, mn_stride, panel_len, out) };
        } else {
            // SAFETY: planned only where AVX is present (`takes`).
            unsafe { transpose_panels_avx(x, k, mn, mn_stride, r, panel_len, out) };
        }
        // Elsewhere the same moves one value at a time (the op is planned only on x86-64).
        #[cfg(not(target_arch = "x86_64"))]
        for j in 0..mn {
            for kk in 0..k {
                out[(j / r) * panel_len + kk * r + j % r] = x[kk + j * mn_stride];
            }
        }
        EagerPackedInput {
            fact: PackedExoticFact {
                format: Box::new(self.format.clone()),
                mn: mn.to_dim(),
                k,
            },
            packed: blob.into(),
            panel_bytes: panel_len * 4,
            mn,
        }
    }
}

/// Whether [`FastPack`] packs panels of `r` rows here: sixteen with AVX-512F, up to sixteen
/// with AVX.
fn takes(r: usize) -> bool {
    (r == R && wide_available()) || ((1..=2 * LANES).contains(&r) && available())
}

/// Whether this CPU has AVX-512F, for the pack into panels of sixteen.
fn wide_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    return mmm::available();
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Writes panel `p`'s k step `kk` lane `j` (`out[p * panel_len + kk * R + j]`) from
/// `x[kk + (p * R + j) * mn_stride]` for every `j < mn`, sixteen k steps at a time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn transpose_panels(
    x: &[f32],
    k: usize,
    mn: usize,
    mn_stride: usize,
    panel_len: usize,
    out: &mut [f32],
) {
    use std::arch::x86_64::*;
    for p in 0..mn.div_ceil(R) {
        let rows = (mn - p * R).min(R);
        let panel = &mut out[p * panel_len..][..k * R];
        for kb in (0..k).step_by(R) {
            let width = (k - kb).min(R);
            let mask: __mmask16 = if width == R {
                u16::MAX
            } else {
                (1u16 << width) - 1
            };
            let mut block = [_mm512_setzero_ps(); R];
            if rows == R && width == R {
                // The common case written out (a closure per row kept the block on the stack).
                let at = &x[kb + p * R * mn_stride..][..(R - 1) * mn_stride + R];
                let q = at.as_ptr();
                // SAFETY: sixteen rows of sixteen floats, `mn_stride` apart, inside `at`.
                unsafe {
                    macro_rules! load_rows {
                        ($($r:literal)*) => {
                            $(block[$r] = _mm512_loadu_ps(q.add($r * mn_stride));)*
                        };
                    }
                    load_rows!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
                }
            } else {
                for (r, v) in block.iter_mut().enumerate().take(rows) {
                    let row = &x[kb + (p * R + r) * mn_stride..][..width];
                    // SAFETY: `width` floats from `row`'s start are in `x`; the masked lanes
                    // are not read.
                    *v = unsafe { _mm512_maskz_loadu_ps(mask, row.as_ptr()) };
                }
            }
            // SAFETY: AVX-512F.
            let columns = unsafe { mmm::transpose16(block) };
            for (c, v) in columns.iter().take(width).enumerate() {
                let dst = &mut panel[(kb + c) * R..][..R];
                // SAFETY: sixteen floats at `dst`.
                unsafe { _mm512_storeu_ps(dst.as_mut_ptr(), *v) };
            }
        }
    }
}

/// Rows of an AVX group, and k steps of an AVX block.
const LANES: usize = 8;

/// Writes the first `L` (1 to 8) lanes of `v` to `dst`.
///
/// # Safety
/// `dst` is valid for `L` floats; AVX is present.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
#[inline]
unsafe fn store_lanes<const L: usize>(dst: *mut f32, v: std::arch::x86_64::__m256) {
    use std::arch::x86_64::*;
    // SAFETY: every store below writes inside the caller's `L` floats.
    unsafe {
        if L == LANES {
            return _mm256_storeu_ps(dst, v);
        }
        let mut half = _mm256_castps256_ps128(v);
        let mut at = 0;
        if L >= 4 {
            _mm_storeu_ps(dst, half);
            half = _mm256_extractf128_ps::<1>(v);
            at = 4;
        }
        if L - at >= 2 {
            _mm_storel_epi64(dst.add(at) as *mut __m128i, _mm_castps_si128(half));
            half = _mm_movehl_ps(half, half);
            at += 2;
        }
        if L > at {
            _mm_store_ss(dst.add(at), half);
        }
    }
}

/// Packs one group of `L` lanes (`L` rows of `x`, all present, from `src`) for the k steps
/// `0..k / 8 * 8` into `dst` (k step `kk`'s lanes at `dst[kk * r..][..L]`); returns how many k
/// steps it packed.
///
/// # Safety
/// `src` holds `L` rows of `k` floats, `mn_stride` apart; `dst` holds `k * r` floats with
/// `L <= r`; AVX is present.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn full_blocks<const L: usize>(
    src: *const f32,
    mn_stride: usize,
    k: usize,
    dst: *mut f32,
    r: usize,
) -> usize {
    use std::arch::x86_64::*;
    let whole = k / LANES * LANES;
    let mut kb = 0;
    while kb < whole {
        let mut block = [_mm256_setzero_ps(); LANES];
        for (i, v) in block.iter_mut().enumerate().take(L) {
            // SAFETY: row `i < L`, floats `kb..kb + 8` of `k`.
            *v = unsafe { _mm256_loadu_ps(src.add(i * mn_stride + kb)) };
        }
        // SAFETY: AVX (the caller's).
        let columns = unsafe { tile_avx::transpose8(block) };
        for (c, v) in columns.into_iter().enumerate() {
            // SAFETY: k step `kb + c < k`, lanes `..L` of `r`.
            unsafe { store_lanes::<L>(dst.add((kb + c) * r), v) };
        }
        kb += LANES;
    }
    whole
}

/// Writes panel `p`'s k step `kk` lane `j` (`out[p * panel_len + kk * r + j]`) from
/// `x[kk + (p * r + j) * mn_stride]` for every `j < mn`, eight rows by eight k steps at a
/// time; lanes past mn are written as zeros.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
fn transpose_panels_avx(
    x: &[f32],
    k: usize,
    mn: usize,
    mn_stride: usize,
    r: usize,
    panel_len: usize,
    out: &mut [f32],
) {
    use std::arch::x86_64::*;
    for p in 0..mn.div_ceil(r) {
        let rows = (mn - p * r).min(r);
        let panel = &mut out[p * panel_len..][..k * r];
        for g in (0..r).step_by(LANES) {
            // This group's lanes of the panel, and how many of them hold rows.
            let lanes = (r - g).min(LANES);
            let live = rows.saturating_sub(g).min(lanes);
            // Whole blocks of eight k steps of a group whose lanes all hold rows, then the rest.
            let mut from = 0;
            if live == lanes && k >= LANES {
                let src = x[(p * r + g) * mn_stride..][..(live - 1) * mn_stride + k].as_ptr();
                let dst = panel[g..].as_mut_ptr();
                macro_rules! full {
                    ($($l:literal)*) => {
                        match lanes {
                            // SAFETY: `lanes` rows of `k` floats at `src` (sliced above), k
                            // steps of `r` floats from lane `g` of the panel at `dst`.
                            $($l => from = unsafe { full_blocks::<$l>(src, mn_stride, k, dst, r) },)*
                            _ => unreachable!("a group has one to eight lanes"),
                        }
                    };
                }
                full!(1 2 3 4 5 6 7 8);
            }
            for kb in (from..k).step_by(LANES) {
                let width = (k - kb).min(LANES);
                let mut block = [_mm256_setzero_ps(); LANES];
                // Lanes below `width` on (all ones), the rest off.
                let mask = lanes_below(width);
                for (i, v) in block.iter_mut().enumerate().take(live) {
                    let row = &x[kb + (p * r + g + i) * mn_stride..][..width];
                    // SAFETY: `width` floats from `row`'s start are in `x`; the masked lanes
                    // are not read.
                    *v = unsafe { _mm256_maskload_ps(row.as_ptr(), mask) };
                }
                // SAFETY: AVX.
                let columns = unsafe { tile_avx::transpose8(block) };
                for (c, v) in columns.iter().take(width).enumerate() {
                    let mut lane_values = [0f32; LANES];
                    // SAFETY: eight floats.
                    unsafe { _mm256_storeu_ps(lane_values.as_mut_ptr(), *v) };
                    panel[(kb + c) * r + g..][..lanes].copy_from_slice(&lane_values[..lanes]);
                }
            }
        }
    }
}

/// A mask of the lanes below `width` (0 to 8) for `_mm256_maskload_ps`, with AVX alone (no
/// AVX2 integer compare).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
fn lanes_below(width: usize) -> std::arch::x86_64::__m256i {
    use std::arch::x86_64::*;
    let lane = |i: usize| if i < width { -1 } else { 0 };
    _mm256_setr_epi32(
        lane(0),
        lane(1),
        lane(2),
        lane(3),
        lane(4),
        lane(5),
        lane(6),
        lane(7),
    )
}

impl Op for FastPack {
    fn name(&self) -> StaticName {
        "ProvaPack".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{:?}, k axis {}, mn axis {} of {:?}",
            self.format, self.k_axis, self.mn_axis, self.input_shape
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for FastPack {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = inputs.first().context("the pack's input is missing")?;
        ensure!(
            input.shape() == &*self.input_shape,
            "the pack's input does not have the shape it was planned for"
        );
        let x = input.try_as_plain_ram()?.as_slice::<f32>()?;
        let strides = input.strides();
        let (k, mn) = (
            self.input_shape[self.k_axis],
            self.input_shape[self.mn_axis],
        );
        let mn_stride = strides[self.mn_axis] as usize;
        // One packed value per coordinate of the other axes, in tract's order.
        let mut batch: TVec<usize> = self.input_shape.clone();
        batch[self.k_axis] = 1;
        batch[self.mn_axis] = 1;
        let mut values: TVec<Box<dyn tract_onnx::tract_core::tract_linalg::mmm::MMMInputValue>> =
            tvec!();
        for coord in tract_ndarray::indices(&*batch) {
            use tract_ndarray::Dimension;
            let offset: usize = coord
                .slice()
                .iter()
                .zip(strides)
                .map(|(c, s)| c * *s as usize)
                .sum();
            values.push(Box::new(self.pack_one(&x[offset..], k, mn, mn_stride)));
        }
        let mut shape = self.input_shape.clone();
        shape.remove(self.mn_axis.max(self.k_axis));
        shape.remove(self.mn_axis.min(self.k_axis));
        Ok(tvec!(
            PackedMatrixStorage::new_batched(&shape, values)
                .into_tensor(f32::datum_type())
                .into_tvalue()
        ))
    }
}

impl TypedOp for FastPack {
    fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(self.fact.clone()))
    }

    as_op!();
}

/// Whether the fast pack runs here: an x86-64 CPU with AVX (all the exact profile runs on).
fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Replaces every pack of `model` (optimised, under the exact profile) that [`FastPack`]
/// takes. Returns how many were replaced.
pub fn use_fast_packs(model: &mut TypedModel) -> TractResult<usize> {
    if !available() {
        return Ok(0);
    }
    replace_matching(model, "prova-pack", |model, node| {
        Ok(FastPack::for_node(model, node)?.map(|op| (op, node.inputs.to_vec())))
    })
}

/// The input axes an `OptMatMulPack` node (one input, one output) packs: `(k, mn)`, or
/// `None` for another op.
pub(crate) fn pack_axes(
    model: &TypedModel,
    node: &TypedNode,
) -> TractResult<Option<(usize, usize)>> {
    let (Some(op), [input]) = (node.op.as_typed(), node.inputs.as_slice()) else {
        return Ok(None);
    };
    if node.op.name() != "OptMatMulPack" || node.outputs.len() != 1 {
        return Ok(None);
    }
    let mapping = op.axes_mapping(
        &[model.outlet_fact(*input)?],
        &[model.outlet_fact(OutletId::new(node.id, 0))?],
    )?;
    let axis = |repr: char| {
        mapping
            .iter_all_axes()
            .find(|a| a.repr == repr)
            .and_then(|a| a.inputs[0].first().copied())
    };
    Ok(axis('K').zip(axis('M')))
}

/// Replaces each single-output node of `model` for which `make` gives an op and its inputs
/// with that op on those inputs, one patch named `name` each, then drops what no longer has a
/// use. Returns how many were replaced.
///
/// One node at a time, looking again after each patch: a patch replaces the node's output, so
/// inputs found before it would still name the old one where a match feeds the next (two
/// products in a row).
pub(crate) fn replace_matching<O: Into<Box<dyn TypedOp>>>(
    model: &mut TypedModel,
    name: &str,
    make: impl Fn(&TypedModel, &TypedNode) -> TractResult<Option<(O, Vec<OutletId>)>>,
) -> TractResult<usize> {
    let mut count = 0;
    let mut from = 0;
    while from < model.nodes.len() {
        let mut found = None;
        for node in &model.nodes[from..] {
            if let Some((op, inputs)) = make(model, node)? {
                found = Some((node.id, op, inputs));
                break;
            }
        }
        let Some((id, op, inputs)) = found else {
            break;
        };
        let mut patch = TypedModelPatch::new(name);
        let taps = patch.taps(model, &inputs)?;
        let wire = patch.wire_node(&model.nodes[id].name, op, &taps)?[0];
        patch.shunt_outside(model, OutletId::new(id, 0), wire)?;
        patch.obliterate(id)?;
        patch.apply(model)?;
        count += 1;
        // The patch appends its nodes and leaves the replaced one without a use (it is
        // dropped below), so the nodes before `id` were looked at and do not match.
        from = id + 1;
    }
    if count > 0 {
        model.compact()?;
    }
    Ok(count)
}

/// Packs `t`, a 2-D f32 tensor with a contiguous k axis (`k_axis` 1, `mn_axis` 0), into
/// `format` as [`FastPack`] does (with AVX-512F where it would use it, or with AVX alone if
/// `avx_only`); `None` where it would not (no AVX, another layout or format). For tests,
/// against tract's `PackedFormat::pack_tensor`.
#[doc(hidden)]
pub fn pack_tensor(format: &PackedFormat, t: &Tensor, avx_only: bool) -> Option<EagerPackedInput> {
    if !available()
        || format.dt != f32::datum_type()
        || !takes(format.r)
        || t.datum_type() != f32::datum_type()
        || t.rank() != 2
    {
        return None;
    }
    let (mn, k) = (t.shape()[0], t.shape()[1]);
    let op = FastPack {
        format: format.clone(),
        input_shape: t.shape().into(),
        k_axis: 1,
        mn_axis: 0,
        fact: f32::fact([mn, k]),
        wide: format.r == R && wide_available() && !avx_only,
    };
    let x = t.try_as_plain_ram().ok()?.as_slice::<f32>().ok()?;
    Some(op.pack_one(x, k, mn, k))
}
