//! Tree ensembles of `ai.onnx.ml` (`TreeEnsembleRegressor`, `TreeEnsembleClassifier`): parsing
//! of the node and leaf attributes, and the tree walk, as onnxruntime performs them.
//!
//! onnxruntime's rules, followed here:
//! - trees are evaluated in the order their first node is listed, from that node;
//! - a branch goes to its true child when `x CMP threshold`, or when `x` is NaN and the node's
//!   `nodes_missing_value_tracks_true` is set; comparisons are made in the input's type (f32
//!   with f32 thresholds, f64 for f64 inputs, f32 after conversion for integer inputs);
//! - scores are accumulated in f64 for f64 inputs and in f32 otherwise ([`Score`]);
//! - leaf weights are ordered by (tree id, node id, position in the attribute lists); weights
//!   naming a branch are ignored; a single-target ensemble uses only the first weight of each
//!   leaf, or the leaf's own `nodes_values` entry when it has none.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use tract_onnx::model::ParsingContext;
use tract_onnx::pb::{NodeProto, TensorProto};
use tract_onnx::tract_hir::internal::*;

/// A branch comparison (`nodes_modes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Mode {
    Leq,
    Lt,
    Gte,
    Gt,
    Eq,
    Neq,
}

impl Mode {
    fn parse(s: &str) -> TractResult<Option<Mode>> {
        Ok(Some(match s {
            "BRANCH_LEQ" => Mode::Leq,
            "BRANCH_LT" => Mode::Lt,
            "BRANCH_GTE" => Mode::Gte,
            "BRANCH_GT" => Mode::Gt,
            "BRANCH_EQ" => Mode::Eq,
            "BRANCH_NEQ" => Mode::Neq,
            "LEAF" => return Ok(None),
            other => bail!("unknown node mode {other:?}"),
        }))
    }

    fn holds(self, x: f64, threshold: f64) -> bool {
        match self {
            Mode::Leq => x <= threshold,
            Mode::Lt => x < threshold,
            Mode::Gte => x >= threshold,
            Mode::Gt => x > threshold,
            Mode::Eq => x == threshold,
            Mode::Neq => x != threshold,
        }
    }
}

/// One node of a tree. Indices point into [`Ensemble::nodes`] / [`Ensemble::weights`]; floats
/// (f32 attribute values, widened) are kept as f64 bits so that the ensemble is `Eq` and `Hash`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Node {
    Branch {
        feature: usize,
        mode: Mode,
        threshold: u64,
        missing_true: bool,
        on_true: usize,
        on_false: usize,
    },
    Leaf {
        /// The node's `nodes_values` entry (its score when a single-target leaf has no weight).
        value: u64,
        weights: Range<usize>,
    },
}

/// A parsed tree ensemble.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Ensemble {
    pub nodes: Vec<Node>,
    /// Root node of each tree, in evaluation order.
    pub roots: Vec<usize>,
    /// `(target or class id, weight bits)`, grouped by leaf.
    pub weights: Vec<(usize, u64)>,
    /// Number of features the input must have at least (largest feature id + 1).
    pub n_features: usize,
}

/// A leaf reached by a tree walk.
pub(crate) struct Leaf<'a> {
    /// The single-target score: the first weight, or the node value when there is none.
    pub unique: f64,
    /// `(target or class id, weight bits)` pairs.
    pub weights: &'a [(usize, u64)],
}

/// The type scores are accumulated in: onnxruntime's `ThresholdType`, f64 for f64 inputs and
/// f32 otherwise. Every stored value came from an f32, so converting it is exact.
pub(crate) trait Score:
    Copy
    + PartialOrd
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::Neg<Output = Self>
    + std::ops::AddAssign
{
    const ZERO: Self;
    const ONE: Self;
    /// A stored value (a widened f32).
    fn of_f64(v: f64) -> Self;
    /// Stored value bits.
    fn of_bits(bits: u64) -> Self {
        Self::of_f64(f64::from_bits(bits))
    }
    /// An f32 attribute value.
    fn of_f32(v: f32) -> Self;
    /// A count (number of trees).
    fn of_count(n: usize) -> Self;
    /// Rounds to the f32 output.
    fn to_f32(self) -> f32;
}

impl Score for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    fn of_f64(v: f64) -> Self {
        v as f32
    }
    fn of_f32(v: f32) -> Self {
        v
    }
    fn of_count(n: usize) -> Self {
        n as f32
    }
    fn to_f32(self) -> f32 {
        self
    }
}

impl Score for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    fn of_f64(v: f64) -> Self {
        v
    }
    fn of_f32(v: f32) -> Self {
        v as f64
    }
    fn of_count(n: usize) -> Self {
        n as f64
    }
    fn to_f32(self) -> f32 {
        self as f32
    }
}

/// Extra facts about the leaf attributes the classifier needs.
pub(crate) struct WeightFacts {
    /// Number of distinct ids in `class_ids` / `target_ids`.
    pub distinct_ids: usize,
    /// No weight is negative.
    pub all_positive: bool,
}

fn ints(node: &NodeProto, name: &str, len: Option<usize>) -> TractResult<Vec<i64>> {
    let v: Vec<i64> = node.get_attr_vec(name)?;
    if let Some(len) = len {
        ensure!(
            v.len() == len,
            "{name} has {} values, expected {len}",
            v.len()
        );
    }
    Ok(v)
}

/// A float list given either as `name` (floats) or as `name_as_tensor` (an f32 tensor).
/// onnxruntime evaluates f64 tensors in f64, which Prova does not do: they are refused.
pub(crate) fn floats(
    ctx: &ParsingContext,
    node: &NodeProto,
    name: &str,
) -> TractResult<Option<Vec<f32>>> {
    let plain: Option<Vec<f32>> = node.get_attr_opt_vec(name)?;
    let tensor_name = format!("{name}_as_tensor");
    let tensor: Option<&TensorProto> = node.get_attr_opt(&tensor_name)?;
    match (plain, tensor) {
        (Some(_), Some(_)) => bail!("both {name} and {tensor_name} are set"),
        (Some(p), None) => Ok(Some(p)),
        (None, None) => Ok(None),
        (None, Some(t)) => {
            let t = ctx.load_tensor(t)?;
            ensure!(
                t.datum_type() == f32::datum_type(),
                "{tensor_name} is {:?}; only f32 tree ensembles are supported",
                t.datum_type()
            );
            Ok(Some(t.try_as_plain_ram()?.as_slice::<f32>()?.to_vec()))
        }
    }
}

/// Parses the nodes and the leaves (`{prefix}_treeids`, `_nodeids`, `_ids`, `_weights`, where
/// `prefix` is `target` or `class`). `n_targets` bounds the leaf ids when it is above 1.
pub(crate) fn parse(
    ctx: &ParsingContext,
    node: &NodeProto,
    prefix: &str,
    n_targets: usize,
) -> TractResult<(Ensemble, WeightFacts)> {
    let tree_ids = ints(node, "nodes_treeids", None)?;
    let n = tree_ids.len();
    ensure!(n > 0, "the ensemble has no node");
    let node_ids = ints(node, "nodes_nodeids", Some(n))?;
    let features = ints(node, "nodes_featureids", Some(n))?;
    let true_ids = ints(node, "nodes_truenodeids", Some(n))?;
    let false_ids = ints(node, "nodes_falsenodeids", Some(n))?;
    let modes: Vec<&str> = node.get_attr_vec("nodes_modes")?;
    ensure!(
        modes.len() == n,
        "nodes_modes has {} values, expected {n}",
        modes.len()
    );
    let values = floats(ctx, node, "nodes_values")?.unwrap_or_else(|| vec![0.0; n]);
    ensure!(
        values.len() == n,
        "nodes_values has {} values, expected {n}",
        values.len()
    );
    let missing: Vec<i64> = node
        .get_attr_opt_vec("nodes_missing_value_tracks_true")?
        .unwrap_or_default();

    let mut index = BTreeMap::new();
    for (i, key) in tree_ids.iter().zip(&node_ids).enumerate() {
        ensure!(
            index.insert(key, i).is_none(),
            "node {} of tree {} is listed twice",
            key.1,
            key.0
        );
    }
    let mut roots = Vec::new();
    let mut seen_trees = BTreeSet::new();
    for (i, t) in tree_ids.iter().enumerate() {
        if i == 0 || tree_ids[i - 1] != *t {
            ensure!(
                seen_trees.insert(*t),
                "the nodes of tree {t} are not listed together"
            );
            roots.push(i);
        }
    }
    let mut n_features = 0usize;
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
        let feature = usize::try_from(features[i])
            .map_err(|_| format_err!("negative feature id {}", features[i]))?;
        n_features = n_features.max(feature + 1);
        let mode = Mode::parse(modes[i])?;
        nodes.push(match mode {
            None => Node::Leaf {
                value: (values[i] as f64).to_bits(),
                weights: 0..0,
            },
            Some(mode) => {
                let child = |id: i64, which: &str| -> TractResult<usize> {
                    let c = *index.get(&(&tree_ids[i], &id)).ok_or_else(|| {
                        format_err!(
                            "{which} child {id} of node {} in tree {} is missing",
                            node_ids[i],
                            tree_ids[i]
                        )
                    })?;
                    ensure!(
                        c != i,
                        "node {} of tree {} is its own child",
                        node_ids[i],
                        tree_ids[i]
                    );
                    Ok(c)
                };
                Node::Branch {
                    feature,
                    mode,
                    threshold: (values[i] as f64).to_bits(),
                    missing_true: missing.get(i) == Some(&1),
                    on_true: child(true_ids[i], "true")?,
                    on_false: child(false_ids[i], "false")?,
                }
            }
        });
    }

    let leaf_tree_ids = ints(node, &format!("{prefix}_treeids"), None)?;
    let m = leaf_tree_ids.len();
    let leaf_node_ids = ints(node, &format!("{prefix}_nodeids"), Some(m))?;
    let leaf_ids = ints(node, &format!("{prefix}_ids"), Some(m))?;
    let leaf_weights = floats(ctx, node, &format!("{prefix}_weights"))?.unwrap_or_default();
    ensure!(
        leaf_weights.len() == m,
        "{prefix}_weights has {} values, expected {m}",
        leaf_weights.len()
    );
    let facts = WeightFacts {
        distinct_ids: leaf_ids.iter().collect::<BTreeSet<_>>().len(),
        all_positive: leaf_weights.iter().all(|w| *w >= 0.0),
    };
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by_key(|&j| (leaf_tree_ids[j], leaf_node_ids[j], j));
    let mut weights = Vec::with_capacity(m);
    for j in order {
        let key = (&leaf_tree_ids[j], &leaf_node_ids[j]);
        let i = *index.get(&key).ok_or_else(|| {
            format_err!(
                "weight {j} names node {} of tree {}, which does not exist",
                key.1,
                key.0
            )
        })?;
        let Node::Leaf { weights: range, .. } = &mut nodes[i] else {
            continue; // onnxruntime ignores weights given to branches (old onnxmltools did it)
        };
        let id = usize::try_from(leaf_ids[j])
            .map_err(|_| format_err!("negative leaf id {}", leaf_ids[j]))?;
        ensure!(
            n_targets == 1 || id < n_targets,
            "leaf id {id} out of range (0..{n_targets})"
        );
        if range.start == range.end {
            *range = weights.len()..weights.len();
        }
        ensure!(
            range.end == weights.len(),
            "weights of a leaf are not contiguous"
        );
        range.end += 1;
        weights.push((id, (leaf_weights[j] as f64).to_bits()));
    }
    Ok((
        Ensemble {
            nodes,
            roots,
            weights,
            n_features,
        },
        facts,
    ))
}

impl Ensemble {
    /// Walks the tree rooted at `root` for one input row.
    pub(crate) fn leaf(&self, root: usize, row: &[f64]) -> TractResult<Leaf<'_>> {
        let mut at = root;
        // A walk visits each node at most once unless the graph has a cycle.
        for _ in 0..=self.nodes.len() {
            match &self.nodes[at] {
                Node::Branch {
                    feature,
                    mode,
                    threshold,
                    missing_true,
                    on_true,
                    on_false,
                } => {
                    let x = row[*feature];
                    let t = f64::from_bits(*threshold);
                    let go_true = mode.holds(x, t) || (*missing_true && x.is_nan());
                    at = if go_true { *on_true } else { *on_false };
                }
                Node::Leaf { value, weights } => {
                    let weights = &self.weights[weights.clone()];
                    let unique = weights.first().map(|w| w.1).unwrap_or(*value);
                    return Ok(Leaf {
                        unique: f64::from_bits(unique),
                        weights,
                    });
                }
            }
        }
        bail!("tree ensemble has a cycle")
    }
}

/// The rows of a rank 1 (one row) or rank 2 input, each value widened to f64 the way
/// onnxruntime compares it with an f32 threshold: exactly for floats, through f32 for integers.
pub(crate) fn rows(input: &Tensor, n_features: usize) -> TractResult<(usize, usize, Vec<f64>)> {
    let (n, c) = match input.shape() {
        [c] => (1, *c),
        [n, c] => (*n, *c),
        other => bail!("tree ensembles take rank 1 or 2 inputs, got shape {other:?}"),
    };
    ensure!(
        c >= n_features,
        "input has {c} features, the ensemble reads {n_features}"
    );
    let plain = input.try_as_plain_ram()?;
    let values: Vec<f64> = match input.datum_type() {
        DatumType::F32 => plain.as_slice::<f32>()?.iter().map(|&v| v as f64).collect(),
        DatumType::F64 => plain.as_slice::<f64>()?.to_vec(),
        DatumType::I64 => plain
            .as_slice::<i64>()?
            .iter()
            .map(|&v| v as f32 as f64)
            .collect(),
        DatumType::I32 => plain
            .as_slice::<i32>()?
            .iter()
            .map(|&v| v as f32 as f64)
            .collect(),
        other => bail!("tree ensembles do not take {other:?} inputs"),
    };
    Ok((n, c, values))
}

/// Checks an input fact against the ensemble and returns the number of rows (`N`).
pub(crate) fn input_rows(fact: &TypedFact, ensemble: &Ensemble) -> TractResult<TDim> {
    ensure!(
        matches!(
            fact.datum_type,
            DatumType::F32 | DatumType::F64 | DatumType::I64 | DatumType::I32
        ),
        "tree ensembles do not take {:?} inputs",
        fact.datum_type
    );
    let (n, c) = match fact.rank() {
        1 => (TDim::from(1), fact.shape[0].clone()),
        2 => (fact.shape[0].clone(), fact.shape[1].clone()),
        r => bail!("tree ensembles take rank 1 or 2 inputs, got rank {r}"),
    };
    if let Ok(c) = c.to_usize() {
        ensure!(
            c >= ensemble.n_features,
            "the ensemble reads feature {} but the input has {c} features",
            ensemble.n_features - 1
        );
    }
    Ok(n)
}

/// `post_transform` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum PostTransform {
    None,
    Logistic,
    Softmax,
    SoftmaxZero,
}

impl PostTransform {
    pub(crate) fn parse(node: &NodeProto) -> TractResult<Self> {
        Ok(
            match node
                .get_attr_opt::<&str>("post_transform")?
                .unwrap_or("NONE")
            {
                "NONE" => PostTransform::None,
                "LOGISTIC" => PostTransform::Logistic,
                "SOFTMAX" => PostTransform::Softmax,
                "SOFTMAX_ZERO" => PostTransform::SoftmaxZero,
                other => bail!("post_transform {other} is not supported"),
            },
        )
    }
}
