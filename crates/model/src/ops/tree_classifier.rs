//! `ai.onnx.ml` `TreeEnsembleClassifier`, replacing tract's (whose label is always the first
//! class for binary forests that vote for a single class id, the form skl2onnx emits).
//!
//! Follows onnxruntime's `TreeAggregatorClassifier` and `write_scores`: scores summed tree by
//! tree (in f32, f64 for f64 inputs), then its binary special cases. A *binary case* is two
//! class labels and a single distinct class id in the leaves: the score is the positive
//! class's, the label is positive above 0.5 (all weights non-negative) or above 0 (some
//! negative), and the probabilities are `[1 - s, s]` (resp. `[-s, s]`, or their logistic with
//! `LOGISTIC`). Post transforms run in f32 with [`super::math`]'s `exp`. Only int64 class
//! labels are supported (Prova tensors have no strings); `PROBIT` is refused.

use super::Floats;
use super::math::exp_f32;
use super::tree::{self, Ensemble, PostTransform, Score};
use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

pub(crate) fn tree_ensemble_classifier(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let parsed = (|| {
        let labels: Option<Vec<i64>> = node.get_attr_opt_vec("classlabels_int64s")?;
        let strings: Option<Vec<&str>> = node.get_attr_opt_vec("classlabels_strings")?;
        let labels = match (labels, strings) {
            (Some(l), None) => l,
            (None, Some(_)) => {
                bail!("string class labels are not supported (Prova has no string tensors)")
            }
            _ => bail!("exactly one of classlabels_int64s and classlabels_strings must be set"),
        };
        ensure!(labels.len() >= 2, "at least two class labels are needed");
        let post = PostTransform::parse(node)?;
        let base_values = tree::floats(ctx, node, "base_values")?.unwrap_or_default();
        let (ensemble, facts) = tree::parse(ctx, node, "class", labels.len())?;
        Ok(TreeEnsembleClassifier {
            ensemble: Arc::new(ensemble),
            labels,
            base_values: Floats(base_values),
            post,
            binary_case: facts.distinct_ids == 1,
            all_positive: facts.all_positive,
        })
    })()
    .with_context(|| format!("TreeEnsembleClassifier {:?}", node.name))?;
    Ok((expand(ClassifierExpansion(parsed)), vec![]))
}

/// The typed operator: input `[N, C]` (or `[C]`); outputs labels `[N]` i64 and scores
/// `[N, classes]` f32.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct TreeEnsembleClassifier {
    ensemble: Arc<Ensemble>,
    labels: Vec<i64>,
    base_values: Floats,
    post: PostTransform,
    binary_case: bool,
    all_positive: bool,
}

/// onnxruntime's `ComputeLogistic`.
fn logistic(v: f32) -> f32 {
    let e = 1.0 / (1.0 + exp_f32(-v.abs()));
    if v < 0.0 { 1.0 - e } else { e }
}

/// onnxruntime's `ComputeSoftmax` (`zero`: `ComputeSoftmaxZero`, which leaves zeros out).
fn softmax(values: &mut [f32], zero: bool) {
    let mut max = -f32::MAX;
    for &v in values.iter() {
        if v > max {
            max = v;
        }
    }
    let exp_neg_max = exp_f32(-max);
    let mut sum = 0f32;
    for v in values.iter_mut() {
        if !zero || *v > 0.000_000_1 || *v < -0.000_000_1 {
            *v = exp_f32(*v - max);
            sum += *v;
        } else {
            *v *= exp_neg_max;
        }
    }
    for v in values.iter_mut() {
        *v /= sum;
    }
}

impl TreeEnsembleClassifier {
    /// Scores one row into `z` (one slot per class) and returns its label.
    fn eval_row<T: Score>(&self, row: &[f64], z: &mut [f32]) -> TractResult<i64> {
        let n_classes = self.labels.len();
        let base: Vec<T> = self.base_values.0.iter().map(|&b| T::of_f32(b)).collect();
        let mut scores = vec![(T::ZERO, false); n_classes];
        for &root in &self.ensemble.roots {
            for &(id, w) in self.ensemble.leaf(root, row)?.weights {
                scores[id].0 += T::of_bits(w);
                scores[id].1 = true;
            }
        }
        // onnxruntime reads a score that no leaf set as 0, whatever was added to it.
        let value = |(s, has): (T, bool)| if has { s } else { T::ZERO };
        if n_classes > 2 {
            for (k, &b) in base.iter().enumerate().take(n_classes) {
                let (s, has) = &mut scores[k];
                *s = if *has { *s + b } else { b };
                *has = true;
            }
            let mut best: Option<(usize, T)> = None;
            for (k, &(s, has)) in scores.iter().enumerate() {
                if has && best.is_none_or(|(_, m)| s > m) {
                    best = Some((k, s));
                }
            }
            // onnxruntime reads out of bounds when no class scored; Prova answers class 0.
            let label = self.labels[best.map(|b| b.0).unwrap_or(0)];
            for (z, s) in z.iter_mut().zip(&scores) {
                *z = value(*s).to_f32();
            }
            self.transform(z);
            return Ok(label);
        }
        // Two classes.
        let mut second_class = -1;
        let mut len = 2;
        match base.len() {
            2 if scores[1].1 => {
                scores[1].0 = base[1] + scores[0].0;
                scores[0].0 = -scores[1].0;
            }
            2 => {
                scores[1].0 += base[1];
                scores[0].0 += base[0];
            }
            1 => {
                scores[0].0 += base[0];
                if !scores[1].1 {
                    len = 1;
                }
            }
            0 => {
                second_class = 3;
                if !scores[1].1 {
                    len = 1;
                }
            }
            _ => {}
        }
        let positive = if len == 2 && scores[1].1 {
            scores[1].0
        } else {
            value(scores[0])
        };
        let half = T::ONE / (T::ONE + T::ONE);
        let label = if self.binary_case {
            let (wins, class) = if self.all_positive {
                (positive > half, 0)
            } else {
                (positive > T::ZERO, 2)
            };
            second_class = class + if wins { 0 } else { 1 };
            self.labels[if wins { 1 } else { 0 }]
        } else if positive > T::ZERO {
            1 // onnxruntime's literal positive label, not a class label
        } else {
            0
        };
        if len == 2 {
            z[0] = value(scores[0]).to_f32();
            z[1] = value(scores[1]).to_f32();
            self.transform(z);
            return Ok(label);
        }
        let s = value(scores[0]);
        (z[0], z[1]) = match second_class {
            0 | 1 => ((T::ONE - s).to_f32(), s.to_f32()),
            2 | 3 if self.post == PostTransform::Logistic => {
                (logistic((-s).to_f32()), logistic(s.to_f32()))
            }
            2 | 3 => ((-s).to_f32(), s.to_f32()),
            _ => (s.to_f32(), 0.0),
        };
        Ok(label)
    }

    /// The post transform of two or more scores, in f32 as onnxruntime computes it.
    fn transform(&self, z: &mut [f32]) {
        match self.post {
            PostTransform::None => {}
            PostTransform::Logistic => z.iter_mut().for_each(|v| *v = logistic(*v)),
            PostTransform::Softmax => softmax(z, false),
            PostTransform::SoftmaxZero => softmax(z, true),
        }
    }
}

impl Op for TreeEnsembleClassifier {
    fn name(&self) -> StaticName {
        "TreeEnsembleClassifier".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{} trees, {} nodes, {} classes, binary case: {}, {:?}",
            self.ensemble.roots.len(),
            self.ensemble.nodes.len(),
            self.labels.len(),
            self.binary_case,
            self.post
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for TreeEnsembleClassifier {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let (n, c, values) = tree::rows(&input, self.ensemble.n_features)?;
        let k = self.labels.len();
        let mut labels = vec![0i64; n];
        let mut z = vec![0f32; n * k];
        let f64_scores = input.datum_type() == DatumType::F64;
        for ((row, z), label) in values
            .chunks(c.max(1))
            .zip(z.chunks_mut(k))
            .zip(labels.iter_mut())
        {
            *label = if f64_scores {
                self.eval_row::<f64>(row, z)?
            } else {
                self.eval_row::<f32>(row, z)?
            };
        }
        Ok(tvec!(
            tensor1(&labels).into_tvalue(),
            tensor1(&z).into_shape(&[n, k])?.into_tvalue()
        ))
    }
}

impl TypedOp for TreeEnsembleClassifier {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let n = tree::input_rows(inputs[0], &self.ensemble)?;
        Ok(tvec!(
            i64::fact([n.clone()]),
            f32::fact([n, self.labels.len().to_dim()])
        ))
    }

    as_op!();
}

/// The inference-model side: types, then wires the typed operator.
#[derive(Clone, Debug)]
struct ClassifierExpansion(TreeEnsembleClassifier);

impl Expansion for ClassifierExpansion {
    fn name(&self) -> StaticName {
        "TreeEnsembleClassifier".into()
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(2)
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 2)?;
        s.equals(&outputs[0].datum_type, i64::datum_type())?;
        s.equals(&outputs[1].datum_type, f32::datum_type())?;
        s.equals(&outputs[0].rank, 1)?;
        s.equals(&outputs[1].rank, 2)?;
        s.equals(&outputs[1].shape[1], self.0.labels.len().to_dim())?;
        s.equals(&outputs[0].shape[0], &outputs[1].shape[0])?;
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
