//! The inference witness: one [`InferenceRecord`] per INFER execution of a block, in execution
//! order, and its commitment [`inferences_root`].
//!
//! The record's canonical encoding is its RLP (see [`InferenceRecord`]); the root is the
//! ordered trie root of the records' encodings, keyed by `rlp(position)`, exactly as
//! Ethereum's transactions root (alloy-trie's `ordered_trie_root`); an empty witness has the
//! empty trie root.

use alloy_primitives::B256;
use prova_precompile::InferenceRecord;

/// The header's commitment to a block's witness: the ordered trie root of the records.
pub fn inferences_root(records: &[InferenceRecord]) -> B256 {
    alloy_trie::root::ordered_trie_root(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{Bytes, b256};
    use prova_model::ModelId;

    fn record() -> InferenceRecord {
        InferenceRecord::claimed(
            1,
            0,
            ModelId(B256::repeat_byte(0xaa)),
            B256::repeat_byte(0xbb),
            Bytes::from_static(&[1, 2, 3]),
            30_000,
            true,
        )
    }

    #[test]
    fn root_is_pinned_and_order_sensitive() {
        assert_eq!(inferences_root(&[]), alloy_trie::EMPTY_ROOT_HASH);
        let a = record();
        let mut b = record();
        b.call_index = 1;
        let root = inferences_root(&[a.clone(), b.clone()]);
        assert_ne!(root, inferences_root(&[b, a.clone()]));
        assert_eq!(
            inferences_root(&[a]),
            b256!("db1888f47607456075703b418875c97551570fd5467ae4ac531582af135af4dc"),
            "the inferences root of one record is pinned"
        );
    }
}
