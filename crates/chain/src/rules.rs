//! The consensus rules a block header must follow against its parent, in one place: block
//! building ([`child_input`]), import ([`Chain::import_block`](crate::Chain::import_block)),
//! sealing of every block the chain commits, and the validator all call [`validate_child`].
//! Every sum is checked: a parent at the edge of a field's range (a timestamp of `u64::MAX`)
//! has no valid child, and building one is a [`RuleError`], never an overflow.
//!
//! The rules, for a child `c` of parent `p`:
//! - `c.parent_hash` is `p`'s hash and `c.number = p.number + 1`;
//! - `c.timestamp > p.timestamp`;
//! - `c.gas_limit = p.gas_limit` (a fixed gas limit);
//! - `c.base_fee_per_gas` is EIP-1559's next base fee of `p` ([`next_base_fee`]).
//!
//! One rule is local, not consensus: a node does not accept a block whose timestamp is more
//! than [`MAX_FUTURE_SECS`] ahead of its own clock ([`check_clock`]), as Ethereum clients do.
//! It keeps a producer from pushing the chain's time to the end of `u64`, where no child can
//! follow; a block refused this way would be accepted once its time has come.

use crate::BlockInput;
use alloy_consensus::Header;
use alloy_eips::eip1559::{BaseFeeParams, calc_next_block_base_fee};
use alloy_primitives::B256;
use std::cmp::Ordering;

/// How far ahead of the local clock a block's timestamp may be (seconds), as geth allows.
pub const MAX_FUTURE_SECS: u64 = 15;

/// A header that does not follow its parent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// Not a child of the parent.
    #[error("parentHash: expected {expected}, got {got}")]
    ParentHash {
        /// The parent's hash.
        expected: B256,
        /// The header's.
        got: B256,
    },
    /// Not the next number.
    #[error("number: expected {expected}, got {got}")]
    Number {
        /// Parent's number + 1.
        expected: u64,
        /// The header's.
        got: u64,
    },
    /// Not later than the parent.
    #[error("timestamp: {got} is not after the parent's {parent}")]
    Timestamp {
        /// The parent's timestamp.
        parent: u64,
        /// The header's.
        got: u64,
    },
    /// Too far ahead of this node's clock (local rule).
    #[error("timestamp: {got} is more than {MAX_FUTURE_SECS} s ahead of this node's clock ({now})")]
    Future {
        /// This node's clock.
        now: u64,
        /// The header's timestamp.
        got: u64,
    },
    /// Another gas limit.
    #[error("gasLimit: expected {expected}, got {got}")]
    GasLimit {
        /// The parent's.
        expected: u64,
        /// The header's.
        got: u64,
    },
    /// Not EIP-1559's base fee.
    #[error("baseFeePerGas: expected {expected}, got {}", got.map_or("none".into(), |g| g.to_string()))]
    BaseFee {
        /// The next base fee of the parent.
        expected: u64,
        /// The header's.
        got: Option<u64>,
    },
    /// The parent's `field` is at the end of its range: no child can follow it.
    #[error("no child of block {number} is possible: its {field} is at the maximum")]
    Exhausted {
        /// The parent's number.
        number: u64,
        /// The field (`number`, `timestamp`, `baseFeePerGas`).
        field: &'static str,
    },
}

impl RuleError {
    /// The header field the rule is about, in the JSON header's spelling.
    pub fn field(&self) -> &'static str {
        match self {
            Self::ParentHash { .. } => "parentHash",
            Self::Number { .. } => "number",
            Self::Timestamp { .. } | Self::Future { .. } => "timestamp",
            Self::GasLimit { .. } => "gasLimit",
            Self::BaseFee { .. } => "baseFeePerGas",
            Self::Exhausted { field, .. } => field,
        }
    }

    /// What the rule expected of the field, in words.
    pub fn expected(&self) -> String {
        match self {
            Self::ParentHash { expected, .. } => expected.to_string(),
            Self::Number { expected, .. } | Self::GasLimit { expected, .. } => expected.to_string(),
            Self::BaseFee { expected, .. } => expected.to_string(),
            Self::Timestamp { parent, .. } => format!("more than {parent}"),
            Self::Future { now, .. } => format!(
                "at most {} (this node's clock + {MAX_FUTURE_SECS} s)",
                now.saturating_add(MAX_FUTURE_SECS)
            ),
            Self::Exhausted { .. } => "a parent with room for a child".into(),
        }
    }

    /// What the header has instead.
    pub fn actual(&self) -> String {
        match self {
            Self::ParentHash { got, .. } => got.to_string(),
            Self::Number { got, .. }
            | Self::GasLimit { got, .. }
            | Self::Timestamp { got, .. }
            | Self::Future { got, .. } => got.to_string(),
            Self::BaseFee { got, .. } => got.map_or("none".into(), |g| g.to_string()),
            Self::Exhausted { field, .. } => format!("the parent's {field} at the maximum"),
        }
    }
}

/// EIP-1559's base fee for the child of `parent` (Ethereum's parameters), with the sum
/// checked: a base fee that would pass `u64::MAX` is [`RuleError::Exhausted`].
pub fn next_base_fee(parent: &Header) -> Result<u64, RuleError> {
    let base_fee = parent.base_fee_per_gas.unwrap_or_default();
    let params = BaseFeeParams::ethereum();
    let target = parent.gas_limit / params.elasticity_multiplier as u64;
    if target == 0 || parent.gas_used.cmp(&target) != Ordering::Greater {
        // Unchanged or lower: alloy's formula cannot overflow here.
        return Ok(calc_next_block_base_fee(
            parent.gas_used,
            parent.gas_limit,
            base_fee,
            params,
        ));
    }
    let delta = u128::from(base_fee) * u128::from(parent.gas_used - target)
        / (u128::from(target) * params.max_change_denominator);
    u64::try_from(delta.max(1))
        .ok()
        .and_then(|d| base_fee.checked_add(d))
        .ok_or(RuleError::Exhausted {
            number: parent.number,
            field: "baseFeePerGas",
        })
}

/// What the producer of the child of `parent` (hash `parent_hash`) must choose: number + 1,
/// the parent's gas limit and beneficiary, EIP-1559's base fee, and `timestamp` raised to the
/// parent's + 1 if it is not later.
pub fn child_input(
    parent: &Header,
    parent_hash: B256,
    timestamp: u64,
) -> Result<BlockInput, RuleError> {
    let exhausted = |field| RuleError::Exhausted {
        number: parent.number,
        field,
    };
    let number = parent.number.checked_add(1).ok_or(exhausted("number"))?;
    let earliest = parent
        .timestamp
        .checked_add(1)
        .ok_or(exhausted("timestamp"))?;
    Ok(BlockInput {
        parent_hash,
        number,
        timestamp: timestamp.max(earliest),
        beneficiary: parent.beneficiary,
        gas_limit: parent.gas_limit,
        base_fee: next_base_fee(parent)?,
    })
}

/// Checks that `header` follows `parent` (hash `parent_hash`) by the rules above.
pub fn validate_child(
    parent: &Header,
    parent_hash: B256,
    header: &Header,
) -> Result<(), RuleError> {
    if header.parent_hash != parent_hash {
        return Err(RuleError::ParentHash {
            expected: parent_hash,
            got: header.parent_hash,
        });
    }
    let exhausted = |field| RuleError::Exhausted {
        number: parent.number,
        field,
    };
    let number = parent.number.checked_add(1).ok_or(exhausted("number"))?;
    if header.number != number {
        return Err(RuleError::Number {
            expected: number,
            got: header.number,
        });
    }
    if parent.timestamp == u64::MAX {
        return Err(exhausted("timestamp"));
    }
    if header.timestamp <= parent.timestamp {
        return Err(RuleError::Timestamp {
            parent: parent.timestamp,
            got: header.timestamp,
        });
    }
    if header.gas_limit != parent.gas_limit {
        return Err(RuleError::GasLimit {
            expected: parent.gas_limit,
            got: header.gas_limit,
        });
    }
    let base_fee = next_base_fee(parent)?;
    if header.base_fee_per_gas != Some(base_fee) {
        return Err(RuleError::BaseFee {
            expected: base_fee,
            got: header.base_fee_per_gas,
        });
    }
    Ok(())
}

/// The local rule: `header` is not more than [`MAX_FUTURE_SECS`] ahead of `now` (seconds since
/// the Unix epoch).
pub fn check_clock(header: &Header, now: u64) -> Result<(), RuleError> {
    if header.timestamp > now.saturating_add(MAX_FUTURE_SECS) {
        return Err(RuleError::Future {
            now,
            got: header.timestamp,
        });
    }
    Ok(())
}

/// This node's clock: seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parent() -> Header {
        Header {
            number: 7,
            timestamp: 1_000,
            gas_limit: 30_000_000,
            gas_used: 0,
            base_fee_per_gas: Some(1_000_000_000),
            ..Header::default()
        }
    }

    fn child_of(p: &Header) -> Header {
        let input = child_input(p, p.hash_slow(), 0).unwrap();
        Header {
            parent_hash: input.parent_hash,
            number: input.number,
            timestamp: input.timestamp,
            gas_limit: input.gas_limit,
            base_fee_per_gas: Some(input.base_fee),
            ..Header::default()
        }
    }

    #[test]
    fn a_built_child_follows_the_rules_and_each_break_names_its_field() {
        let p = parent();
        let hash = p.hash_slow();
        let c = child_of(&p);
        assert_eq!((c.number, c.timestamp), (8, 1_001));
        validate_child(&p, hash, &c).unwrap();
        type Break = fn(&mut Header);
        let cases: [(&str, Break); 5] = [
            ("parentHash", |h| h.parent_hash = B256::ZERO),
            ("number", |h| h.number = 9),
            ("timestamp", |h| h.timestamp = 1_000),
            ("gasLimit", |h| h.gas_limit += 1),
            ("baseFeePerGas", |h| h.base_fee_per_gas = None),
        ];
        for (field, break_it) in cases {
            let mut bad = c.clone();
            break_it(&mut bad);
            let e = validate_child(&p, hash, &bad).unwrap_err();
            assert_eq!(e.field(), field, "{e}");
        }
    }

    #[test]
    fn a_parent_at_the_end_of_time_has_no_child_and_nothing_overflows() {
        let mut p = parent();
        p.timestamp = u64::MAX;
        let e = child_input(&p, p.hash_slow(), u64::MAX).unwrap_err();
        assert_eq!(e.field(), "timestamp");
        let mut c = child_of(&parent());
        c.parent_hash = p.hash_slow();
        c.timestamp = u64::MAX;
        let e = validate_child(&p, p.hash_slow(), &c).unwrap_err();
        assert!(matches!(e, RuleError::Exhausted { .. }), "{e}");

        let mut p = parent();
        p.number = u64::MAX;
        assert_eq!(
            child_input(&p, B256::ZERO, 0).unwrap_err().field(),
            "number"
        );

        // A full block at a base fee near the top of u64: the next base fee does not exist.
        let mut p = parent();
        p.gas_used = p.gas_limit;
        p.base_fee_per_gas = Some(u64::MAX - 1);
        assert_eq!(next_base_fee(&p).unwrap_err().field(), "baseFeePerGas");
        // In range, the same as alloy's formula.
        p.base_fee_per_gas = Some(1_000_000_000);
        assert_eq!(
            next_base_fee(&p).unwrap(),
            p.next_block_base_fee(BaseFeeParams::ethereum()).unwrap()
        );
    }

    #[test]
    fn the_clock_rule_refuses_far_future_blocks_only() {
        let mut h = parent();
        h.timestamp = 100 + MAX_FUTURE_SECS;
        check_clock(&h, 100).unwrap();
        h.timestamp += 1;
        assert!(matches!(
            check_clock(&h, 100),
            Err(RuleError::Future { .. })
        ));
        h.timestamp = u64::MAX;
        assert!(check_clock(&h, u64::MAX - 1).is_ok());
        assert!(check_clock(&h, now()).is_err());
    }
}
