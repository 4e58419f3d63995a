//! Matrix products that read their activation in place: a pointwise convolution without the
//! pack.
//!
//! tract runs a 1×1 convolution of an NCHW activation (and any product whose run-time operand
//! has a contiguous m or n axis) as an `OptMatMulPack` node that copies the activation into
//! panels of sixteen, then an `OptMatMul` whose frame (`run_blocked`, the scratch space's
//! per-tile resolution of every fused operation, the kernel call, the MXCSR switch) runs once
//! per 16 × 16 tile. On a MobileNet-style network the four pointwise products ran their k
//! loops at the measured peak, but the per-tile frame and the packs cost ~20 µs of 128
//! (docs/performance.md): with k = 16 to 128, a tile is only 256 to 2048 cycles of arithmetic.
//!
//! A panel of sixteen consecutive values per k step is what an NCHW activation already is,
//! one channel plane apart (tract's own `StridedKMajor` format says the same for its SME
//! kernel). [`InPlaceMatMul`] replaces such a pack and its product: it runs the product's own
//! tile program (the `OptMatMul`'s fused operations, in its order, with its operands) through
//! Prova's 16 × 16 kernel, reading the activation with a k step of one plane, the constant
//! operand from the panels tract packed; one MXCSR switch and one loop over the tiles per
//! call. Tiles past the activation's edge read a zero-padded copy of the panel (what tract's
//! packer makes), and their outputs go through a scratch tile (what tract's frame does), so
//! every output is the same multiply-adds in the same order: the same bits as the kernel in
//! tract's frame, which has the same bits as tract's AVX kernels (`tests/matrix_kernels.rs`).
//! `tests/in_place.rs` compares the two plans bit for bit.
//!
//! Taken only where the product runs Prova's kernel (exact profile, AVX-512F) or, on a CPU
//! without it, tract's AVX kernels (the exact profile's choice there): then the tiles run
//! `kernels::tile_avx`, the same arithmetic on 256-bit registers, the constant operand
//! repacked in panels of sixteen where tract packed it four or six wide, m, k and n at least
//! sixteen and the output contiguous along m or n. The product has no batch axes, and its other
//! operations are ones this loop resolves (scalars, per-row and per-column vectors, leaky
//! ReLU, one store).

use crate::kernels::mmm::{self, PACKED_K_STEP};
use crate::kernels::tile_avx;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::matmul::optimized::{MatMulOperand, OptMatMul, ProtoFusedSpec};
use tract_onnx::tract_core::tract_linalg::BinOp;
use tract_onnx::tract_core::tract_linalg::mmm::{
    FusedKerSpec, MMMInputValue, OutputStoreKer, OutputStoreSpec,
};
use tract_onnx::tract_core::tract_linalg::pack::Packing;

/// The tile's side.
const R: usize = 16;

/// One fused operation after the sums, as the product's tile program has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Fused {
    /// `op` with the scalar input `slot`.
    Scalar(usize, BinOp),
    /// `op` with one value per row (m) from input `slot`.
    PerRow(usize, BinOp),
    /// `op` with one value per column (n) from input `slot`.
    PerCol(usize, BinOp),
    /// Leaky ReLU with the scalar input `slot` as its slope.
    LeakyRelu(usize),
}

/// A product whose activation (input `act_slot`, an f32 tensor with a contiguous m or n axis)
/// is read in place; see the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InPlaceMatMul {
    /// The constant operand, packed in panels of sixteen (by tract, or repacked from tract's
    /// narrower panels).
    konst: Box<dyn MMMInputValue>,
    /// Whether the tiles run Prova's AVX-512 kernel (`kernels::mmm`), else the AVX tile
    /// (`kernels::tile_avx`).
    wide: bool,
    /// Whether the activation is the left operand (m) or the right one (n).
    act_is_a: bool,
    act_slot: usize,
    /// Elements from one k step of the activation to the next.
    act_k_stride: usize,
    m: usize,
    n: usize,
    k: usize,
    c_shape: TVec<usize>,
    c_m_axis: usize,
    c_n_axis: usize,
    fused: Vec<Fused>,
    /// Whether the activation, and the output, have padded planes ([`crate::plane_pad`]):
    /// the activation's k step (`act_k_stride`) is then a padded plane.
    padded_act: bool,
    padded_out: bool,
}

impl InPlaceMatMul {
    /// The op for `OptMatMul` node `node` of `model`, or `None` unless it runs Prova's kernel on
    /// a constant operand and one fed by a pack of an in-place-readable activation (see the
    /// module docs). Also returns the activation's outlet.
    fn for_node(model: &TypedModel, node: &TypedNode) -> TractResult<Option<(Self, OutletId)>> {
        let Some(op) = node.op_as::<OptMatMul>() else {
            return Ok(None);
        };
        // Prova's AVX-512 kernel, or (on a CPU with AVX) one of tract's AVX kernels, which
        // compute the same bits (`kernels::tile_avx`).
        let wide = op.mmm.len() == 1 && op.mmm[0].name() == mmm::KERNEL_NAME;
        let avx = op.mmm.len() == 1
            && op.mmm[0].name().starts_with(TRACT_AVX_KERNELS)
            && std::arch::is_x86_feature_detected!("avx");
        if !(wide || avx) || !op.trivial_path || op.c_fact.datum_type != f32::datum_type() {
            return Ok(None);
        }
        let (Some(c_m_axis), Some(c_n_axis), Some(c_shape)) =
            (op.c_m_axis, op.c_n_axis, op.c_fact.shape.as_concrete())
        else {
            return Ok(None);
        };
        let (m, n) = (c_shape[c_m_axis], c_shape[c_n_axis]);
        let Some((first, rest)) = op.micro_ops.split_first() else {
            return Ok(None);
        };
        let ProtoFusedSpec::AddMatMul {
            geo,
            a,
            b,
            packings,
        } = first
        else {
            return Ok(None);
        };
        let Some(k) = geo.k.as_i64().map(|k| k as usize) else {
            return Ok(None);
        };
        if packings.as_slice() != [(0, None)] || k == 0 || m == 0 || n == 0 {
            return Ok(None);
        }
        let (act_is_a, act_slot, konst) = match (a, b) {
            (MatMulOperand::Input(i), MatMulOperand::Const(v)) => (true, *i, v),
            (MatMulOperand::Const(v), MatMulOperand::Input(i)) => (false, *i, v),
            _ => return Ok(None),
        };
        if konst.k() != k
            || konst.mn() != if act_is_a { n } else { m }
            || (wide && konst.format().r() != R)
            || (avx && (m < R || n < R || k < R))
        {
            return Ok(None);
        }
        // tract's AVX kernels pack the right operand four or six wide: the tiles read sixteen.
        let konst = panels_of_sixteen(konst.clone())?;
        // The activation: the input of the pack feeding `slot`, f32, no axis but k and mn
        // longer than one, mn contiguous.
        let Some(&packed) = node.inputs.get(act_slot) else {
            return Ok(None);
        };
        let pack = model.node(packed.node);
        let Some((k_axis, mn_axis)) = crate::pack::pack_axes(model, pack)? else {
            return Ok(None);
        };
        let act = pack.inputs[0];
        let act_fact = model.outlet_fact(act)?;
        let Some(act_shape) = act_fact.shape.as_concrete() else {
            return Ok(None);
        };
        if act_fact.datum_type != f32::datum_type() || act_fact.is_exotic() {
            return Ok(None);
        }
        let mn = if act_is_a { m } else { n };
        if act_shape[k_axis] != k
            || act_shape[mn_axis] != mn
            || act_shape
                .iter()
                .enumerate()
                .any(|(ax, &d)| ax != k_axis && ax != mn_axis && d != 1)
            || k_axis > mn_axis
        {
            return Ok(None);
        }
        // Every axis after mn is of length one, so mn is contiguous; k's stride follows.
        let act_k_stride: usize = act_shape[k_axis + 1..].iter().product();
        // The fused operations this loop resolves, then exactly one store, last.
        let Some((ProtoFusedSpec::Store(stores), between)) = rest.split_last() else {
            return Ok(None);
        };
        match stores.as_slice() {
            [
                OutputStoreSpec::View {
                    m_axis: Some(sm),
                    n_axis: Some(sn),
                    mr,
                    nr,
                },
            ] if *sm == c_m_axis && *sn == c_n_axis && (avx || (*mr == R && *nr == R)) => {}
            _ => return Ok(None),
        }
        let input_len = |slot: usize| -> TractResult<Option<usize>> {
            let Some(&outlet) = node.inputs.get(slot) else {
                return Ok(None);
            };
            let fact = model.outlet_fact(outlet)?;
            Ok((fact.datum_type == f32::datum_type() && !fact.is_exotic())
                .then(|| fact.shape.as_concrete().map(|s| s.iter().product()))
                .flatten())
        };
        let mut fused = Vec::new();
        for spec in between {
            let (f, slot, len) = match spec {
                ProtoFusedSpec::BinScalar(v, op) => (Fused::Scalar(*v, *op), *v, 1),
                ProtoFusedSpec::LeakyRelu(v) => (Fused::LeakyRelu(*v), *v, 1),
                // On the trivial path tract reads these from their first value, whatever
                // their axis mapping (it only moves a view along batch axes, and there are
                // none): so does this loop.
                ProtoFusedSpec::BinPerRow(v, op, _) => (Fused::PerRow(*v, *op), *v, m),
                ProtoFusedSpec::BinPerCol(v, op, _) => (Fused::PerCol(*v, *op), *v, n),
                _ => return Ok(None),
            };
            if slot == act_slot || input_len(slot)? != Some(len) {
                return Ok(None);
            }
            fused.push(f);
        }
        // The AVX tile's vectors lie along an axis whose outputs are contiguous.
        let contiguous = |axis: usize| c_shape[axis + 1..].iter().all(|&d| d == 1);
        if !wide && !contiguous(c_m_axis) && !contiguous(c_n_axis) {
            return Ok(None);
        }
        Ok(Some((
            InPlaceMatMul {
                konst,
                wide,
                act_is_a,
                act_slot,
                act_k_stride,
                m,
                n,
                k,
                c_shape: c_shape.into(),
                c_m_axis,
                c_n_axis,
                fused,
                padded_act: false,
                padded_out: false,
            },
            act,
        )))
    }

    /// The activation's slot, channels (k) and pixels (its mn), where it can be read from
    /// padded planes: in NCHW order (k outer, mn contiguous).
    pub(crate) fn paddable_act(&self) -> Option<(usize, usize, usize)> {
        let mn = self.act_mn();
        (!self.padded_act && self.act_k_stride == mn).then_some((self.act_slot, self.k, mn))
    }

    /// The output's channels and pixels, where it can be written in padded planes: an output
    /// whose last axis is the pixels (m or n), the one before it the channels, every other
    /// axis of length one.
    pub(crate) fn paddable_out(&self) -> Option<(usize, usize)> {
        let (c, p) = self.out_planes()?;
        (!self.padded_out).then_some((c, p))
    }

    /// The output's channels and pixels, as [`Self::paddable_out`] finds them.
    fn out_planes(&self) -> Option<(usize, usize)> {
        let rank = self.c_shape.len();
        let (last, before) = (rank.checked_sub(1)?, rank.checked_sub(2)?);
        let axes = [self.c_m_axis, self.c_n_axis];
        let ones = self.c_shape[..before].iter().all(|&d| d == 1);
        (axes.contains(&last) && axes.contains(&before) && ones)
            .then_some((self.c_shape[before], self.c_shape[last]))
    }

    /// This op with its activation (`output` false) or its output in padded planes (as
    /// [`Self::paddable_act`] and [`Self::paddable_out`] allow).
    pub(crate) fn with_padded(&self, output: bool) -> Self {
        let mut op = self.clone();
        if output {
            op.padded_out = true;
        } else {
            op.padded_act = true;
            op.act_k_stride = crate::plane_pad::stride(op.act_mn());
        }
        op
    }

    /// The activation's mn: m where it is the left operand, n otherwise.
    fn act_mn(&self) -> usize {
        if self.act_is_a { self.m } else { self.n }
    }

    /// The output's shape: as planned, or with padded planes.
    fn out_shape(&self) -> TVec<usize> {
        let mut shape = self.c_shape.clone();
        if self.padded_out
            && let Some(last) = shape.last_mut()
        {
            *last = crate::plane_pad::stride(*last);
        }
        shape
    }
}

impl Fused {
    fn slot(&self) -> usize {
        match *self {
            Fused::Scalar(s, _)
            | Fused::PerRow(s, _)
            | Fused::PerCol(s, _)
            | Fused::LeakyRelu(s) => s,
        }
    }
}

/// The prefix of tract's f32 AVX kernels' names (`avx_mmm_f32_16x6` and siblings): what the
/// exact profile runs on a CPU without AVX-512F.
const TRACT_AVX_KERNELS: &str = "avx_mmm_f32_";

/// `konst` in panels of sixteen: itself, or its values repacked from narrower panels (each
/// value moved, none changed).
fn panels_of_sixteen(konst: Box<dyn MMMInputValue>) -> TractResult<Box<dyn MMMInputValue>> {
    if konst.format().r() == R {
        return Ok(konst);
    }
    let (k, mn) = (konst.k(), konst.mn());
    let mut dense = Tensor::zero::<f32>(&[mn, k])?;
    for (i, row) in dense
        .try_as_plain_ram_mut()?
        .as_slice_mut::<f32>()?
        .chunks_exact_mut(k)
        .enumerate()
    {
        konst.extract_at_mn_f32(i, row)?;
    }
    f32::packing(R).align(64).pack_tensor(&dense, 1, 0)
}

/// The kernel operation for `op` on a scalar.
fn scalar_spec(op: BinOp, v: f32) -> FusedKerSpec<f32> {
    match op {
        BinOp::Min => FusedKerSpec::ScalarMin(v),
        BinOp::Max => FusedKerSpec::ScalarMax(v),
        BinOp::Add => FusedKerSpec::ScalarAdd(v),
        BinOp::Mul => FusedKerSpec::ScalarMul(v),
        BinOp::Sub => FusedKerSpec::ScalarSub(v),
        BinOp::SubF => FusedKerSpec::ScalarSubF(v),
    }
}

/// The kernel operation for `op` on sixteen rows' values at `p`.
fn per_row_spec(op: BinOp, p: *const f32) -> FusedKerSpec<f32> {
    match op {
        BinOp::Min => FusedKerSpec::PerRowMin(p),
        BinOp::Max => FusedKerSpec::PerRowMax(p),
        BinOp::Add => FusedKerSpec::PerRowAdd(p),
        BinOp::Mul => FusedKerSpec::PerRowMul(p),
        BinOp::Sub => FusedKerSpec::PerRowSub(p),
        BinOp::SubF => FusedKerSpec::PerRowSubF(p),
    }
}

/// The kernel operation for `op` on sixteen columns' values at `p`.
fn per_col_spec(op: BinOp, p: *const f32) -> FusedKerSpec<f32> {
    match op {
        BinOp::Min => FusedKerSpec::PerColMin(p),
        BinOp::Max => FusedKerSpec::PerColMax(p),
        BinOp::Add => FusedKerSpec::PerColAdd(p),
        BinOp::Mul => FusedKerSpec::PerColMul(p),
        BinOp::Sub => FusedKerSpec::PerColSub(p),
        BinOp::SubF => FusedKerSpec::PerColSubF(p),
    }
}

/// Everything the tile loop reads, resolved for one call.
struct Job<'a> {
    op: &'a InPlaceMatMul,
    /// The activation's first value.
    act: *const f32,
    /// Per fused operation: its scalar, or its vector padded to whole tiles.
    operands: Vec<Operand<'a>>,
    c: *mut f32,
    /// Bytes between rows (m) and columns (n) of the output.
    c_row: isize,
    c_col: isize,
}

enum Operand<'a> {
    Scalar(f32),
    Vector(std::borrow::Cow<'a, [f32]>),
}

/// A 16 × 16 scratch tile (column-major: sixteen rows per column) for outputs past an edge.
#[repr(align(64))]
struct ScratchTile([f32; R * R]);

/// A tile program's runner: the program, the left and right panels' k steps in bytes.
type TileFn = unsafe fn((*const FusedKerSpec<f32>, isize, isize)) -> isize;

/// Runs every tile of `job` with `tiles` (the runner for accumulators by column, by row)
/// under the kernels' MXCSR: this function does no floating-point arithmetic of its own, only
/// moves bits. Returns the kernel's error code, 0 when all ran.
///
/// # Safety
/// The tiles' CPU features; `job` resolved by [`InPlaceMatMul::eval`] (pointers to tensors of
/// the planned shapes).
#[inline(always)]
unsafe fn run_tiles(job: &Job, tiles: [TileFn; 2]) -> isize {
    let op = job.op;
    let (m, n, k) = (op.m, op.n, op.k);
    let act_mn = op.act_mn();
    let konst_panels = if op.act_is_a { n } else { m }.div_ceil(R);
    let act_step = (op.act_k_stride * 4) as isize;
    let mut padded: Vec<f32> = Vec::new();
    let mut scratch = ScratchTile([0.0; R * R]);
    let mut program: Vec<FusedKerSpec<f32>> = Vec::with_capacity(op.fused.len() + 3);
    // An output whose rows are contiguous (a convolution's channel × pixel planes) is computed
    // with the accumulators held by row and stored without a transpose; the scratch tile
    // for edges is then row-major too.
    let by_rows = job.c_col == 4;
    let tile = tiles[usize::from(by_rows)];
    let (scratch_row, scratch_col) = if by_rows { (R, 1) } else { (1, R) };
    for p in 0..act_mn.div_ceil(R) {
        let valid = (act_mn - p * R).min(R);
        // The activation panel: in place, or (past the edge) a zero-padded packed copy.
        let (act_panel, act_panel_step) = if valid == R {
            // SAFETY: panel `p` lies in the activation.
            (unsafe { job.act.add(p * R) }, act_step)
        } else {
            padded.clear();
            padded.resize(k * R, 0.0);
            for (kk, row) in padded.chunks_exact_mut(R).enumerate() {
                // SAFETY: `valid` values of row `kk` from panel `p` lie in the activation.
                let src = unsafe {
                    std::slice::from_raw_parts(job.act.add(kk * op.act_k_stride + p * R), valid)
                };
                row[..valid].copy_from_slice(src);
            }
            (padded.as_ptr(), PACKED_K_STEP)
        };
        for q in 0..konst_panels {
            let Ok(konst_panel) = op.konst.panel_bytes(q, None) else {
                return 2;
            };
            let (down, right) = if op.act_is_a { (p, q) } else { (q, p) };
            let rows = (m - down * R).min(R);
            let cols = (n - right * R).min(R);
            let (pa, a_step, pb, b_step) = if op.act_is_a {
                (
                    act_panel as *const u8,
                    act_panel_step,
                    konst_panel,
                    PACKED_K_STEP,
                )
            } else {
                (
                    konst_panel,
                    PACKED_K_STEP,
                    act_panel as *const u8,
                    act_panel_step,
                )
            };
            program.clear();
            program.push(FusedKerSpec::AddMatMul {
                k,
                pa,
                pb,
                packing: 0,
            });
            for (f, operand) in op.fused.iter().zip(&job.operands) {
                program.push(match (f, operand) {
                    (Fused::Scalar(_, o), Operand::Scalar(v)) => scalar_spec(*o, *v),
                    (Fused::LeakyRelu(_), Operand::Scalar(v)) => FusedKerSpec::LeakyRelu(*v),
                    (Fused::PerRow(_, o), Operand::Vector(v)) => {
                        per_row_spec(*o, v[down * R..].as_ptr())
                    }
                    (Fused::PerCol(_, o), Operand::Vector(v)) => {
                        per_col_spec(*o, v[right * R..].as_ptr())
                    }
                    _ => return 3,
                });
            }
            let whole = rows == R && cols == R;
            let store = if whole {
                OutputStoreKer {
                    // SAFETY: the tile lies in the output.
                    ptr: unsafe {
                        job.c.byte_offset(
                            job.c_row * (down * R) as isize + job.c_col * (right * R) as isize,
                        ) as *mut u8
                    },
                    row_byte_stride: job.c_row,
                    col_byte_stride: job.c_col,
                    item_size: 4,
                }
            } else {
                OutputStoreKer {
                    ptr: scratch.0.as_mut_ptr() as *mut u8,
                    row_byte_stride: (scratch_row * 4) as isize,
                    col_byte_stride: (scratch_col * 4) as isize,
                    item_size: 4,
                }
            };
            program.push(FusedKerSpec::Store(store));
            program.push(FusedKerSpec::Done);
            // SAFETY: the tile's CPU features (the caller's); the panels hold k steps at these
            // strides, the vectors sixteen values from each tile's first, the store a whole
            // tile.
            let err = unsafe { tile((program.as_ptr(), a_step, b_step)) };
            if err != 0 {
                return err;
            }
            if !whole {
                for j in 0..cols {
                    for i in 0..rows {
                        // SAFETY: output (down * R + i, right * R + j) lies in the output.
                        unsafe {
                            *job.c.byte_offset(
                                job.c_row * (down * R + i) as isize
                                    + job.c_col * (right * R + j) as isize,
                            ) = scratch.0[i * scratch_row + j * scratch_col];
                        }
                    }
                }
            }
        }
    }
    0
}

impl Op for InPlaceMatMul {
    fn name(&self) -> StaticName {
        "ProvaInPlaceMatMul".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![
            format!(
                "m {} n {} k {}, activation ({}) read in place (k step {}), then {:?}{}",
                self.m,
                self.n,
                self.k,
                if self.act_is_a { "left" } else { "right" },
                self.act_k_stride,
                self.fused,
                crate::plane_pad::describe(self.padded_act, self.padded_out),
            ),
            // The line tract's products print their kernel on (read by `plan_nodes`).
            format!(
                "Mult: in place with [{}]",
                if self.wide {
                    mmm::KERNEL_NAME
                } else {
                    tile_avx::KERNEL_NAME
                }
            ),
        ])
    }

    op_as_typed_op!();
}

impl EvalOp for InPlaceMatMul {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let act = inputs
            .get(self.act_slot)
            .context("the activation input is missing")?
            .try_as_plain_ram()?
            .as_slice::<f32>()?;
        let act_k_stride = crate::plane_pad::plane(self.padded_act, self.act_mn());
        ensure!(
            act.len() == self.k * act_k_stride && self.act_k_stride == act_k_stride,
            "the activation does not have the shape the product was planned for"
        );
        let mut operands = Vec::with_capacity(self.fused.len());
        for f in &self.fused {
            let values = inputs
                .get(f.slot())
                .context("a fused operand is missing")?
                .try_as_plain_ram()?
                .as_slice::<f32>()?;
            operands.push(match f {
                Fused::Scalar(..) | Fused::LeakyRelu(_) => {
                    ensure!(values.len() == 1, "a scalar operand is not one value");
                    Operand::Scalar(values[0])
                }
                Fused::PerRow(..) | Fused::PerCol(..) => {
                    let len = if matches!(f, Fused::PerRow(..)) {
                        self.m
                    } else {
                        self.n
                    };
                    ensure!(
                        values.len() == len,
                        "a per-row or per-column operand's length"
                    );
                    // Whole tiles: a copy with zeros past the end, as tract's frame makes.
                    Operand::Vector(if len.is_multiple_of(R) {
                        values.into()
                    } else {
                        let mut v = values.to_vec();
                        v.resize(len.next_multiple_of(R), 0.0);
                        v.into()
                    })
                }
            });
        }
        // SAFETY: f32 has no invalid bit patterns, and the tiles write every output (and
        // `plane_pad::clear` the padding).
        let mut c = unsafe { Tensor::uninitialized::<f32>(&self.out_shape())? };
        let strides = c.strides().to_vec();
        let job = Job {
            op: self,
            act: act.as_ptr(),
            operands,
            c: c.try_as_plain_ram_mut()?
                .as_slice_mut::<f32>()?
                .as_mut_ptr(),
            c_row: strides[self.c_m_axis] * 4,
            c_col: strides[self.c_n_axis] * 4,
        };
        // SAFETY: planned only where Prova's kernel runs (AVX-512F), or else tract's AVX
        // kernels (AVX); `job` resolved above.
        let err = unsafe {
            if self.wide {
                mmm::with_kernel_mxcsr(run_tiles_entry, &job)
            } else {
                mmm::with_kernel_mxcsr(run_tiles_avx, &job)
            }
        };
        ensure!(err == 0, "Prova's in-place product failed (code {err})");
        if self.padded_out {
            let (_, pixels) = self.out_planes().context("padded planes without pixels")?;
            crate::plane_pad::clear(c.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?, pixels);
        }
        Ok(tvec!(c.into_tvalue()))
    }
}

/// [`run_tiles`] with AVX-512F enabled, for [`mmm::with_kernel_mxcsr`].
#[target_feature(enable = "avx512f")]
unsafe fn run_tiles_entry(job: &Job) -> isize {
    // SAFETY: the caller's.
    unsafe { run_tiles(job, [mmm::tile_strided, mmm::tile_strided_rows]) }
}

/// [`run_tiles`] with AVX enabled and [`tile_avx`]'s tiles (vectors along m, along n).
#[target_feature(enable = "avx")]
unsafe fn run_tiles_avx(job: &Job) -> isize {
    // SAFETY: the caller's.
    unsafe {
        run_tiles(
            job,
            [tile_avx::tile_lanes::<false>, tile_avx::tile_lanes::<true>],
        )
    }
}

impl TypedOp for InPlaceMatMul {
    fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(f32::fact(&*self.out_shape())))
    }

    fn cost(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        Ok(tvec!((
            Cost::FMA(f32::datum_type()),
            (self.m * self.n * self.k).to_dim()
        )))
    }

    as_op!();
}

/// Replaces every product of `model` (optimised, under the exact profile) that can read its
/// activation in place with [`InPlaceMatMul`]; its pack is left without a use and dropped.
/// Returns how many were replaced.
pub fn use_in_place_products(model: &mut TypedModel) -> TractResult<usize> {
    crate::pack::replace_matching(model, "prova-in-place-product", |model, node| {
        Ok(InPlaceMatMul::for_node(model, node)?.map(|(op, act)| {
            let mut inputs = node.inputs.to_vec();
            inputs[op.act_slot] = act;
            (op, inputs)
        }))
    })
}
