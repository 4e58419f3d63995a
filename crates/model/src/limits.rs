/// Admission limits. Part of consensus: every node must use the same values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest ONNX file, in bytes.
    pub max_model_bytes: u64,
    /// Most parameters (elements of all initializers and constant tensors).
    pub max_params: u64,
    /// Most multiply-accumulates per inference.
    pub max_macs: u64,
    /// Largest single tensor (input, initializer or intermediate), in bytes.
    pub max_tensor_bytes: u64,
    /// Most nodes in the graph.
    pub max_nodes: u64,
    /// Most inputs plus outputs of one node.
    pub max_node_io: u64,
    /// Most bytes of constants tract computes while typing the model (constant folding),
    /// summed over every node it folds; each is checked before it is computed.
    pub max_fold_bytes: u64,
    /// Most multiply-accumulates of products and convolutions tract evaluates while typing
    /// the model (constant folding; an upper bound per node), summed over the admission.
    pub max_fold_macs: u64,
    /// Most bytes of all tensors of one inference together (weights, inputs and every
    /// intermediate of the typed graph): the memory ceiling of a run.
    pub max_run_bytes: u64,
    /// Most model inputs and most model outputs.
    pub max_io: u64,
    /// Highest tensor rank.
    pub max_rank: u64,
    /// Value the leading symbolic (batch) dimension is fixed to.
    pub batch: u64,
    /// Longest context of a decoder (`max_position_embeddings`): prompt plus generated tokens.
    pub max_context: u64,
}

impl Limits {
    /// The consensus defaults.
    pub const DEFAULT: Limits = Limits {
        max_model_bytes: 32 << 20,
        max_params: 8 << 20,
        max_macs: 1 << 30,
        max_tensor_bytes: 32 << 20,
        max_nodes: 4096,
        max_node_io: 256,
        max_fold_bytes: 32 << 20,
        max_fold_macs: 64 << 20,
        max_run_bytes: 256 << 20,
        max_io: 64,
        max_rank: 8,
        batch: 1,
        max_context: 4096,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}
