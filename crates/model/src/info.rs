use crate::{Cost, DecoderInfo, GasSchedule, ModelId};
use prova_tensor::{DType, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Name, dtype and static shape of one model input or output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorSpec {
    /// ONNX value name.
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Static shape (a symbolic batch dimension fixed at admission).
    pub shape: Vec<u64>,
}

impl TensorSpec {
    /// Elements in a tensor of this spec (saturating).
    pub fn elements(&self) -> u64 {
        self.shape.iter().fold(1u64, |a, &d| a.saturating_mul(d))
    }

    /// Bytes of data in a tensor of this spec (saturating).
    pub fn byte_size(&self) -> u64 {
        self.elements().saturating_mul(self.dtype.size() as u64)
    }

    /// A template tensor: dtype and shape, empty data (as `modelInfo` returns).
    pub fn template(&self) -> Tensor {
        Tensor::template(self.dtype, self.shape.clone())
    }
}

/// Everything known about an admitted model without running it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// keccak256 of the ONNX bytes.
    pub id: ModelId,
    /// Size of the ONNX file.
    pub size_bytes: u64,
    /// Default-domain opset the model imports.
    pub opset: i64,
    /// Inputs, in order.
    pub inputs: Vec<TensorSpec>,
    /// Outputs, in order, in the dtype the model declares.
    pub outputs: Vec<TensorSpec>,
    /// Operator histogram (domain-qualified names).
    pub ops: BTreeMap<String, u64>,
    /// Parameter count (elements of initializers and constants).
    pub params: u64,
    /// Static cost per inference.
    pub cost: Cost,
    /// Gas of a warm call (model already used in the transaction).
    pub gas_per_call: u64,
    /// Gas of a cold call (first use in the transaction).
    pub gas_cold_call: u64,
    /// For a decoder with past (run by `generate`, never by `infer`): its step structure.
    /// Its `inputs`, `outputs` and `cost` are then those of one step at the longest context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoder: Option<DecoderInfo>,
}

impl ModelInfo {
    /// Bytes of input tensor data per call.
    pub fn input_bytes(&self) -> u64 {
        self.inputs
            .iter()
            .fold(0u64, |a, s| a.saturating_add(s.byte_size()))
    }

    /// Bytes of output tensor data per call.
    pub fn output_bytes(&self) -> u64 {
        self.outputs
            .iter()
            .fold(0u64, |a, s| a.saturating_add(s.byte_size()))
    }

    /// Input plus output bytes crossing the ABI per call.
    pub fn io_bytes(&self) -> u64 {
        self.input_bytes().saturating_add(self.output_bytes())
    }

    /// Gas of a call under `schedule`.
    pub fn gas(&self, schedule: &GasSchedule, cold: bool) -> u64 {
        schedule.inference_gas(&self.cost, self.input_bytes(), self.output_bytes(), cold)
    }
}
