//! `ai.onnx.ml` `TreeEnsembleRegressor`, aggregated as onnxruntime does (single-threaded).
//!
//! Scores are accumulated tree by tree in evaluation order, starting from 0, in f32 (in f64
//! for f64 inputs); then `SUM` adds the base value, `AVERAGE` divides by the number of trees
//! before adding it, and `MIN` / `MAX` add it to the extreme leaf value; the result is rounded
//! to f32. With one target the base value is `base_values[0]` when exactly one is given; with
//! several targets `base_values` applies when it has one value per target, and a target no
//! leaf voted for outputs 0.

use super::Floats;
use super::tree::{self, Ensemble, PostTransform, Score};
use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

pub(crate) fn tree_ensemble_regressor(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let parsed = (|| {
        let n_targets: usize = node.get_attr_opt("n_targets")?.unwrap_or(0);
        ensure!(n_targets > 0, "n_targets must be positive");
        let aggregate = match node
            .get_attr_opt::<&str>("aggregate_function")?
            .unwrap_or("SUM")
        {
            "SUM" => Aggregate::Sum,
            "AVERAGE" => Aggregate::Average,
            "MIN" => Aggregate::Min,
            "MAX" => Aggregate::Max,
            other => bail!("unknown aggregate_function {other}"),
        };
        let post = PostTransform::parse(node)?;
        ensure!(
            post == PostTransform::None,
            "post_transform {post:?} is not supported for regressors"
        );
        let base_values = tree::floats(ctx, node, "base_values")?.unwrap_or_default();
        let (ensemble, _) = tree::parse(ctx, node, "target", n_targets)?;
        Ok(TreeEnsembleRegressor {
            ensemble: Arc::new(ensemble),
            n_targets,
            aggregate,
            base_values: Floats(base_values),
        })
    })()
    .with_context(|| format!("TreeEnsembleRegressor {:?}", node.name))?;
    Ok((expand(RegressorExpansion(parsed)), vec![]))
}

/// `aggregate_function`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Aggregate {
    Sum,
    Average,
    Min,
    Max,
}

/// The typed operator: input `[N, C]` (or `[C]`), output `[N, n_targets]` f32.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct TreeEnsembleRegressor {
    ensemble: Arc<Ensemble>,
    n_targets: usize,
    aggregate: Aggregate,
    base_values: Floats,
}

impl TreeEnsembleRegressor {
    fn eval_row<T: Score>(&self, row: &[f64], out: &mut [f32]) -> TractResult<()> {
        let e = &self.ensemble;
        let base: Vec<T> = self.base_values.0.iter().map(|&b| T::of_f32(b)).collect();
        let n_trees = T::of_count(e.roots.len());
        if self.n_targets == 1 {
            let origin = if base.len() == 1 { base[0] } else { T::ZERO };
            let (mut score, mut has) = (T::ZERO, false);
            for &root in &e.roots {
                let v = T::of_f64(e.leaf(root, row)?.unique);
                match self.aggregate {
                    Aggregate::Sum | Aggregate::Average => score += v,
                    Aggregate::Min => score = if !has || v < score { v } else { score },
                    Aggregate::Max => score = if !has || v > score { v } else { score },
                }
                has = true;
            }
            out[0] = match self.aggregate {
                Aggregate::Sum => score + origin,
                Aggregate::Average => score / n_trees + origin,
                Aggregate::Min | Aggregate::Max if has => score + origin,
                Aggregate::Min | Aggregate::Max => origin,
            }
            .to_f32();
            return Ok(());
        }
        let mut scores = vec![(T::ZERO, false); self.n_targets];
        for &root in &e.roots {
            for &(id, w) in e.leaf(root, row)?.weights {
                let w = T::of_bits(w);
                let (score, has) = &mut scores[id];
                match self.aggregate {
                    Aggregate::Sum | Aggregate::Average => *score += w,
                    Aggregate::Min => *score = if !*has || w < *score { w } else { *score },
                    Aggregate::Max => *score = if !*has || w > *score { w } else { *score },
                }
                *has = true;
            }
        }
        let use_base = base.len() == self.n_targets;
        for (j, ((score, has), out)) in scores.into_iter().zip(out.iter_mut()).enumerate() {
            let value = match self.aggregate {
                Aggregate::Sum if use_base => score + base[j],
                Aggregate::Sum => score,
                Aggregate::Average if use_base => score / n_trees + base[j],
                Aggregate::Average => score / n_trees,
                Aggregate::Min | Aggregate::Max => {
                    (if use_base { base[j] } else { T::ZERO }) + score
                }
            };
            // onnxruntime writes a target no leaf voted for as 0, base value or not.
            *out = if has { value.to_f32() } else { 0.0 };
        }
        Ok(())
    }
}

impl Op for TreeEnsembleRegressor {
    fn name(&self) -> StaticName {
        "TreeEnsembleRegressor".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{} trees, {} nodes, {} targets, {:?}",
            self.ensemble.roots.len(),
            self.ensemble.nodes.len(),
            self.n_targets,
            self.aggregate
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for TreeEnsembleRegressor {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let (n, c, values) = tree::rows(&input, self.ensemble.n_features)?;
        let mut out = vec![0f32; n * self.n_targets];
        let f64_scores = input.datum_type() == DatumType::F64;
        for (row, out) in values.chunks(c.max(1)).zip(out.chunks_mut(self.n_targets)) {
            if f64_scores {
                self.eval_row::<f64>(row, out)?;
            } else {
                self.eval_row::<f32>(row, out)?;
            }
        }
        Ok(tvec!(
            tensor1(&out)
                .into_shape(&[n, self.n_targets])?
                .into_tvalue()
        ))
    }
}

impl TypedOp for TreeEnsembleRegressor {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let n = tree::input_rows(inputs[0], &self.ensemble)?;
        Ok(tvec!(f32::fact([n, self.n_targets.to_dim()])))
    }

    as_op!();
}

/// The inference-model side: types, then wires the typed operator.
#[derive(Clone, Debug)]
struct RegressorExpansion(TreeEnsembleRegressor);

impl Expansion for RegressorExpansion {
    fn name(&self) -> StaticName {
        "TreeEnsembleRegressor".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, f32::datum_type())?;
        s.equals(&outputs[0].rank, 2)?;
        s.equals(&outputs[0].shape[1], self.0.n_targets.to_dim())?;
        s.given(&inputs[0].rank, move |s, rank| {
            if rank == 1 {
                s.equals(&outputs[0].shape[0], 1.to_dim())
            } else {
                s.equals(&outputs[0].shape[0], &inputs[0].shape[0])
            }
        })?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        model.wire_node(prefix, self.0.clone(), inputs)
    }
}
