//! The inference gas schedule: every constant in one place, explained in docs/gas.md.
//!
//! Gas is a pure function of a model's static cost and its input/output sizes, known before
//! any work is done. It never depends on caches, timing or hardware. The constants are
//! calibrated with `prova bench gas` so that exact-profile inference runs at 60–250 Mgas/s
//! (Ethereum prices work at 60 Mgas/s on the worst case, EIP-7904).

use crate::Cost;
use serde::{Deserialize, Serialize};

/// Gas constants for inference. Part of consensus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GasSchedule {
    /// Charged on every call (ABI decoding, plan lookup, state set-up).
    pub base: u64,
    /// Extra for the first use of a model in a transaction (as EIP-2929 does for accounts).
    pub cold_model: u64,
    /// Per operator executed (dispatch and buffer management).
    pub gas_per_node: u64,
    /// Milligas per multiply-accumulate equivalent.
    pub milligas_per_mac: u64,
    /// Milligas per byte moved (intermediates written, weights read).
    pub milligas_per_byte_moved: u64,
    /// Milligas per byte of input tensor data (decoded and converted for tract).
    pub milligas_per_input_byte: u64,
    /// Milligas per byte of output tensor data (converted and encoded).
    pub milligas_per_output_byte: u64,
}

impl GasSchedule {
    /// The schedule in force.
    pub const DEFAULT: GasSchedule = GasSchedule {
        base: 120,
        cold_model: 2_600,
        gas_per_node: 60,
        milligas_per_mac: 125,
        milligas_per_byte_moved: 0,
        milligas_per_input_byte: 6,
        milligas_per_output_byte: 9,
    };

    /// Gas for one inference with `input_bytes` and `output_bytes` of tensor data.
    pub fn inference_gas(
        &self,
        cost: &Cost,
        input_bytes: u64,
        output_bytes: u64,
        cold: bool,
    ) -> u64 {
        let milli = (cost.macs as u128) * (self.milligas_per_mac as u128)
            + (cost.bytes as u128) * (self.milligas_per_byte_moved as u128)
            + (input_bytes as u128) * (self.milligas_per_input_byte as u128)
            + (output_bytes as u128) * (self.milligas_per_output_byte as u128);
        let total = self.base as u128
            + if cold { self.cold_model as u128 } else { 0 }
            + (cost.nodes as u128) * (self.gas_per_node as u128)
            + milli.div_ceil(1000);
        u64::try_from(total).unwrap_or(u64::MAX)
    }
}

impl GasSchedule {
    /// Gas of one token of generation for a decoder whose step at the longest context costs
    /// `step` and returns `logits_bytes` of logits: the step's inference gas without the
    /// per-call base (charged once per `generate` call).
    pub fn token_gas(&self, step: &Cost, logits_bytes: u64) -> u64 {
        self.inference_gas(step, 0, logits_bytes, false)
            .saturating_sub(self.base)
    }

    /// Gas of a `generate` call that runs `tokens` steps (prompt plus generated tokens) of a
    /// decoder charging `token_gas` each.
    pub fn generation_gas(&self, token_gas: u64, tokens: u64, cold: bool) -> u64 {
        let total = self.base as u128
            + if cold { self.cold_model as u128 } else { 0 }
            + (token_gas as u128) * (tokens as u128);
        u64::try_from(total).unwrap_or(u64::MAX)
    }
}

impl Default for GasSchedule {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gas_is_the_documented_formula() {
        let cost = Cost {
            macs: 10_000,
            bytes: 4_000,
            max_tensor_bytes: 0,
            nodes: 7,
        };
        let s = GasSchedule::DEFAULT;
        let warm = s.inference_gas(&cost, 300, 40, false);
        let milli = 10_000 * s.milligas_per_mac
            + 4_000 * s.milligas_per_byte_moved
            + 300 * s.milligas_per_input_byte
            + 40 * s.milligas_per_output_byte;
        assert_eq!(warm, s.base + 7 * s.gas_per_node + milli.div_ceil(1000));
        assert_eq!(s.inference_gas(&cost, 300, 40, true), warm + s.cold_model);
        // Saturates instead of overflowing.
        let huge = Cost {
            macs: u64::MAX,
            bytes: u64::MAX,
            max_tensor_bytes: 0,
            nodes: u64::MAX,
        };
        assert_eq!(s.inference_gas(&huge, u64::MAX, u64::MAX, true), u64::MAX);
    }
}
