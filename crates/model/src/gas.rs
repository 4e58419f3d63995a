//! The inference gas schedule: every constant in one place, explained in docs/gas.md.
//!
//! Gas is a pure function of a model's static cost and its input/output sizes, known before
//! any work is done. It never depends on caches, timing or hardware.

use crate::Cost;
use serde::{Deserialize, Serialize};

/// Gas constants for inference. Part of consensus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GasSchedule {
    /// Charged on every call.
    pub base: u64,
    /// Extra for the first use of a model in a transaction (as EIP-2929 does for accounts).
    pub cold_model: u64,
    /// Milligas per multiply-accumulate.
    pub milligas_per_mac: u64,
    /// Milligas per byte moved (intermediates written, weights read).
    pub milligas_per_byte_moved: u64,
    /// Gas per byte of input and output tensor data crossing the ABI.
    pub gas_per_io_byte: u64,
}

impl GasSchedule {
    /// The schedule in force. Calibrated with `prova bench gas` (see docs/gas.md).
    pub const DEFAULT: GasSchedule = GasSchedule {
        base: 3_000,
        cold_model: 2_600,
        milligas_per_mac: 100,
        milligas_per_byte_moved: 20,
        gas_per_io_byte: 3,
    };

    /// Gas for one inference with `io_bytes` of input plus output data.
    pub fn inference_gas(&self, cost: &Cost, io_bytes: u64, cold: bool) -> u64 {
        let milli = (cost.macs as u128) * (self.milligas_per_mac as u128)
            + (cost.bytes as u128) * (self.milligas_per_byte_moved as u128);
        let work = milli.div_ceil(1000);
        let total = self.base as u128
            + if cold { self.cold_model as u128 } else { 0 }
            + work
            + (io_bytes as u128) * (self.gas_per_io_byte as u128);
        u64::try_from(total).unwrap_or(u64::MAX)
    }
}

impl Default for GasSchedule {
    fn default() -> Self {
        Self::DEFAULT
    }
}
