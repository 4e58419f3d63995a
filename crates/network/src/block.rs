//! [`Block`]: a Prova block as consensus orders it. The block is the chain's own
//! ([`BlockWithWitness`]: Ethereum header, raw transactions, inference witness) and its
//! consensus digest **is its Ethereum block hash**: what validators finalize is exactly the
//! block `eth_getBlockByHash` returns, and a block's parent in consensus is its header's
//! `parentHash`.
//!
//! The header commits to the body through the transactions root and to the witness through the
//! inferences root, so decoding checks both: a block whose body or witness does not match its
//! header never gets a digest (it is refused as a codec error, before it reaches the
//! application), and one digest always names one body.
//!
//! Wire form: a varint length, then the RLP list `[header, [tx, …], [record, …]]` (raw EIP-2718
//! transactions as RLP strings, [`InferenceRecord`]s in their canonical RLP form).

use alloy_consensus::{Header, proofs::calculate_transaction_root};
use alloy_primitives::{B256, Bytes};
use alloy_rlp::{Decodable, Encodable};
use bytes::{Buf, BufMut};
use commonware_codec::{EncodeSize, Error, Read, ReadExt, Write, varint::UInt};
use commonware_consensus::{Heightable, types::Height};
use commonware_cryptography::{Digestible, sha256::Digest};
use prova_chain::{BlockWithWitness, InferenceRecord, SignedTx, header_inferences_root};

/// Largest encoded block accepted from the network (a full block of model deploys is ~30M gas
/// of calldata, well under this).
pub const MAX_BLOCK_BYTES: usize = 16 * 1024 * 1024;

/// A Prova block in consensus: the block with its witness, and its hash as the digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    inner: BlockWithWitness,
    encoded: Bytes,
}

/// The consensus digest of a Prova block hash.
pub fn digest_of(hash: B256) -> Digest {
    Digest::from(hash.0)
}

/// The Prova block hash a consensus digest names.
pub fn hash_of(digest: &Digest) -> B256 {
    B256::from(digest.0)
}

impl Block {
    /// Wraps `inner` (whose `hash` must be its header's hash: [`BlockWithWitness::new`] makes
    /// it so).
    pub fn new(inner: BlockWithWitness) -> Self {
        let mut out = Vec::new();
        alloy_rlp::encode_list::<_, dyn Encodable>(
            &[
                &inner.header as &dyn Encodable,
                &inner.transactions as &dyn Encodable,
                &inner.witness as &dyn Encodable,
            ],
            &mut out,
        );
        Self {
            inner,
            encoded: out.into(),
        }
    }

    /// The block with its witness.
    pub fn inner(&self) -> &BlockWithWitness {
        &self.inner
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.inner.header
    }

    /// The block hash.
    pub fn hash(&self) -> B256 {
        self.inner.hash
    }

    /// The block number.
    pub fn number(&self) -> u64 {
        self.inner.header.number
    }

    /// Decodes the RLP body and checks it against its header (see the module docs).
    fn decode_rlp(mut buf: &[u8]) -> Result<BlockWithWitness, Error> {
        let invalid = |msg| Error::Invalid("prova::Block", msg);
        let list = alloy_rlp::Header::decode(&mut buf).map_err(|_| invalid("not an RLP list"))?;
        if !list.list || list.payload_length != buf.len() {
            return Err(invalid("not one RLP list"));
        }
        let header = Header::decode(&mut buf).map_err(|_| invalid("bad header"))?;
        let transactions =
            Vec::<Bytes>::decode(&mut buf).map_err(|_| invalid("bad transaction list"))?;
        let witness =
            Vec::<InferenceRecord>::decode(&mut buf).map_err(|_| invalid("bad witness"))?;
        if !buf.is_empty() {
            return Err(invalid("trailing bytes"));
        }
        let mut envelopes = Vec::with_capacity(transactions.len());
        for raw in &transactions {
            let tx = SignedTx::decode(raw).map_err(|_| invalid("a transaction does not decode"))?;
            envelopes.push(tx.envelope);
        }
        if calculate_transaction_root(&envelopes) != header.transactions_root {
            return Err(invalid("transactions do not match the transactions root"));
        }
        if header_inferences_root(&header) != Some(prova_chain::inferences_root(&witness)) {
            return Err(invalid("witness does not match the inferences root"));
        }
        Ok(BlockWithWitness::new(header, transactions, witness))
    }
}

impl Write for Block {
    fn write(&self, buf: &mut impl BufMut) {
        UInt(self.encoded.len() as u64).write(buf);
        buf.put_slice(&self.encoded);
    }
}

impl EncodeSize for Block {
    fn encode_size(&self) -> usize {
        UInt(self.encoded.len() as u64).encode_size() + self.encoded.len()
    }
}

impl Read for Block {
    type Cfg = ();

    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        let len = UInt::<u64>::read(buf)?.0;
        let len = usize::try_from(len)
            .ok()
            .filter(|l| *l <= MAX_BLOCK_BYTES)
            .ok_or(Error::InvalidLength(usize::MAX))?;
        if buf.remaining() < len {
            return Err(Error::EndOfBuffer);
        }
        let mut encoded = vec![0u8; len];
        buf.copy_to_slice(&mut encoded);
        let inner = Self::decode_rlp(&encoded)?;
        Ok(Self {
            inner,
            encoded: encoded.into(),
        })
    }
}

impl Digestible for Block {
    type Digest = Digest;

    fn digest(&self) -> Digest {
        digest_of(self.inner.hash)
    }
}

impl Heightable for Block {
    fn height(&self) -> Height {
        Height::new(self.inner.header.number)
    }
}

impl commonware_consensus::Block for Block {
    fn parent(&self) -> Digest {
        digest_of(self.inner.header.parent_hash)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use commonware_codec::{DecodeExt, Encode};
    use prova_chain::Genesis;

    fn genesis_block() -> Block {
        let genesis = Genesis::dev(31337);
        let header = genesis.header(&genesis.state());
        Block::new(BlockWithWitness::new(header, vec![], vec![]))
    }

    #[test]
    fn round_trips_and_the_digest_is_the_block_hash() {
        let block = genesis_block();
        let bytes = block.encode();
        let back = Block::decode(bytes).unwrap();
        assert_eq!(back, block);
        assert_eq!(hash_of(&back.digest()), block.hash());
        assert_eq!(back.height(), Height::zero());
    }

    #[test]
    fn a_body_that_does_not_match_its_header_is_refused() {
        let block = genesis_block();
        let mut inner = block.inner().clone();
        inner.transactions.push(Bytes::from_static(&[0x01, 0x02]));
        let tampered = Block::new(inner);
        let err = Block::decode(tampered.encode()).unwrap_err();
        assert!(err.to_string().contains("transaction"), "{err}");
    }

    #[test]
    fn truncated_and_oversized_encodings_are_refused() {
        let bytes = genesis_block().encode();
        assert!(Block::decode(&bytes[..bytes.len() - 1]).is_err());
        let mut huge = Vec::new();
        UInt((MAX_BLOCK_BYTES + 1) as u64).write(&mut huge);
        assert!(Block::decode(huge.as_slice()).is_err());
    }
}
