//! MODEL_REGISTRY's staged upload: `beginUpload`, `appendChunk`, `commitUpload`,
//! `cancelUpload`, `uploadStatus`, for models larger than one transaction can carry.
//!
//! An upload is keyed by (uploader, model id), where the uploader is the account the call acts
//! for ([`Call::uploader`]), so nobody can write into someone else's upload. Its state is the
//! registry account's storage, written through the journal (it reverts with its frame):
//!
//! - the **header** at [`upload_slot`]`(uploader, id)` =
//!   `keccak256("prova.upload" ‖ uploader ‖ id)` (a 12-byte tag, 20 bytes, 32 bytes), holding
//!   an [`UploadHeader`] (declared size, bytes received, chunks received; zero = no upload);
//! - chunk `i`'s keccak256 at [`chunk_slot`]`(header slot, i)` = header slot + 1 + i.
//!
//! Model slots are model ids (keccak256 of ONNX bytes), so the two never meet short of a
//! keccak256 collision. The chunks' bytes are kept outside state, by hash, in the provider's
//! [`ModelBytes`](crate::ModelBytes), like models; a chunk a node lacks at commit is a local
//! fault ([`ProvaError::MissingChunk`]), never a revert. `commitUpload` joins the chunks,
//! checks that they hash to the model id, then registers them through the same path as
//! `deploy` ([`admit_and_register`]) and clears the upload's slots.

use crate::{
    ProvaError,
    abi::IModelRegistry::{
        appendChunkCall, beginUploadCall, cancelUploadCall, commitUploadCall, uploadStatusCall,
        uploadStatusReturn,
    },
    host::{Call, Host},
    provider::{Core, Exit},
    registry::{Stop, admit_and_register, is_registered, pay, rejected},
};
use alloy_sol_types::SolCall;
use prova_model::ModelId;
use revm::primitives::{Address, B256, Bytes, U256, keccak256};

/// Domain tag of upload header slots: 12 bytes, so that tag ‖ uploader ‖ model id is 64 bytes
/// (Solidity: `keccak256(abi.encodePacked(bytes12("prova.upload"), uploader, modelId))`).
pub const UPLOAD_TAG: &[u8; 12] = b"prova.upload";

/// Storage slot (of the registry account) of `uploader`'s upload header for model `id`.
pub fn upload_slot(uploader: &Address, id: &ModelId) -> U256 {
    let mut preimage = [0u8; 64];
    preimage[..12].copy_from_slice(UPLOAD_TAG);
    preimage[12..32].copy_from_slice(uploader.as_slice());
    preimage[32..].copy_from_slice(id.0.as_slice());
    U256::from_be_bytes(keccak256(preimage).0)
}

/// Storage slot of chunk `index`'s keccak256 in the upload whose header is at `header`.
pub fn chunk_slot(header: U256, index: u32) -> U256 {
    header
        .wrapping_add(U256::from(1))
        .wrapping_add(U256::from(index))
}

/// The header of an open upload, one storage word: `size | received << 64 | chunks << 128`.
/// An unset slot (zero) means no upload is open: an open upload has `size ≥ 1`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UploadHeader {
    /// Declared size of the model, in bytes.
    pub size: u64,
    /// Bytes received so far (the offset of the next chunk).
    pub received: u64,
    /// Chunks received so far.
    pub chunks: u32,
}

impl UploadHeader {
    /// The header stored in `word` (bits above 160 are ignored; the registry never sets them).
    pub fn from_word(word: U256) -> Self {
        let limbs = word.as_limbs();
        Self {
            size: limbs[0],
            received: limbs[1],
            chunks: limbs[2] as u32,
        }
    }

    /// The storage word of this header.
    pub fn to_word(&self) -> U256 {
        U256::from_limbs([self.size, self.received, u64::from(self.chunks), 0])
    }

    /// Whether an upload is open.
    pub fn is_open(&self) -> bool {
        self.size != 0
    }
}

fn read<H: Host>(host: &mut H, registry: Address, slot: U256) -> Result<UploadHeader, Stop> {
    Ok(UploadHeader::from_word(host.sload(registry, slot)?))
}

/// Clears the hashes of the first `chunks` chunks of the upload at `slot`.
fn clear_chunks<H: Host>(
    host: &mut H,
    registry: Address,
    slot: U256,
    chunks: u32,
) -> Result<(), ProvaError> {
    for i in 0..chunks {
        host.sstore(registry, chunk_slot(slot, i), U256::ZERO)?;
    }
    Ok(())
}

/// Clears the whole upload at `slot` (its chunk hashes and its header).
fn close<H: Host>(
    host: &mut H,
    registry: Address,
    slot: U256,
    header: &UploadHeader,
) -> Result<(), ProvaError> {
    clear_chunks(host, registry, slot, header.chunks)?;
    host.sstore(registry, slot, U256::ZERO)
}

fn no_upload(gas: u64, call: &Call<'_>, id: &ModelId) -> Stop {
    rejected(
        gas,
        format!(
            "{} has no upload of model {id} open: call beginUpload first",
            call.uploader
        ),
    )
}

/// `beginUpload(modelId, size)`.
pub(crate) fn begin<H: Host>(
    p: &Core,
    host: &mut H,
    call: &Call<'_>,
    c: &beginUploadCall,
    charge: u64,
) -> Result<Exit, Stop> {
    let id = ModelId(c.modelId);
    let max = p.runtime.limits().max_model_bytes;
    if c.size == 0 {
        return Err(rejected(
            charge,
            format!("an upload of model {id} must declare at least one byte"),
        ));
    }
    if c.size > max {
        return Err(rejected(
            charge,
            format!(
                "model {id} is declared as {} bytes, over the limit of {max} bytes",
                c.size
            ),
        ));
    }
    let done = Exit::Return(charge, Bytes::new());
    let registry = p.config.registry_address;
    if is_registered(host, registry, &id)? {
        return Ok(done);
    }
    let slot = upload_slot(&call.uploader, &id);
    let header = read(host, registry, slot)?;
    if header.size == c.size {
        // Already open with this size: resume it.
        return Ok(done);
    }
    // Open, or restart an upload declared with another size.
    let charge = pay(
        call,
        charge.saturating_add(p.config.registry_gas.chunks(header.chunks.into())),
    )?;
    clear_chunks(host, registry, slot, header.chunks)?;
    // As `register` does: nonce 1, so that EIP-161 never clears the account and its storage.
    host.ensure_nonce(registry)?;
    let fresh = UploadHeader {
        size: c.size,
        ..UploadHeader::default()
    };
    host.sstore(registry, slot, fresh.to_word())?;
    Ok(Exit::Return(charge, Bytes::new()))
}

/// `appendChunk(modelId, offset, chunk)`: charged per calldata word before this runs.
pub(crate) fn append<H: Host>(
    p: &Core,
    host: &mut H,
    call: &Call<'_>,
    c: &appendChunkCall,
    charge: u64,
) -> Result<Exit, Stop> {
    let id = ModelId(c.modelId);
    let len = c.chunk.len() as u64;
    if len == 0 {
        return Err(rejected(charge, "an empty chunk appends nothing"));
    }
    let registry = p.config.registry_address;
    let slot = upload_slot(&call.uploader, &id);
    let header = read(host, registry, slot)?;
    if !header.is_open() {
        return Err(no_upload(charge, call, &id));
    }
    if c.offset != header.received {
        return Err(rejected(
            charge,
            format!(
                "chunk at offset {}, but the upload of model {id} has received {} of {} bytes: \
                 the next chunk starts at offset {}",
                c.offset, header.received, header.size, header.received
            ),
        ));
    }
    if len > header.size - header.received {
        return Err(rejected(
            charge,
            format!(
                "a chunk of {len} bytes at offset {} would pass the declared size of model {id}, \
                 {} bytes",
                c.offset, header.size
            ),
        ));
    }
    let Some(chunks) = header.chunks.checked_add(1) else {
        return Err(rejected(charge, "an upload holds at most 2^32 - 1 chunks"));
    };
    // The bytes first (durably), then the state that refers to them.
    let hash = p.put_chunk(&c.chunk)?;
    host.sstore(
        registry,
        chunk_slot(slot, header.chunks),
        U256::from_be_bytes(hash.0),
    )?;
    let next = UploadHeader {
        size: header.size,
        received: header.received + len,
        chunks,
    };
    host.sstore(registry, slot, next.to_word())?;
    let out = appendChunkCall::abi_encode_returns(&next.received);
    Ok(Exit::Return(charge, out.into()))
}

/// `commitUpload(modelId)`.
pub(crate) fn commit<H: Host>(
    p: &Core,
    host: &mut H,
    call: &Call<'_>,
    c: &commitUploadCall,
    charge: u64,
) -> Result<Exit, Stop> {
    let id = ModelId(c.modelId);
    let gas = p.config.registry_gas;
    let registry = p.config.registry_address;
    let slot = upload_slot(&call.uploader, &id);
    let header = read(host, registry, slot)?;
    let done = |charge: u64| {
        let out = commitUploadCall::abi_encode_returns(&id.0);
        Ok(Exit::Return(charge, out.into()))
    };
    let registered = is_registered(host, registry, &id)?;
    if !header.is_open() {
        return if registered {
            done(charge)
        } else {
            Err(no_upload(charge, call, &id))
        };
    }
    if registered {
        // Registered meanwhile (by a deploy or another upload): only close this one.
        let charge = pay(
            call,
            charge.saturating_add(gas.chunks(header.chunks.into())),
        )?;
        close(host, registry, slot, &header)?;
        return done(charge);
    }
    if header.received < header.size {
        return Err(rejected(
            charge,
            format!(
                "the upload of model {id} is incomplete: {} of {} bytes received",
                header.received, header.size
            ),
        ));
    }
    let charge = pay(
        call,
        charge.saturating_add(gas.commit(header.size, header.chunks.into())),
    )?;
    let mut hashes = Vec::with_capacity(header.chunks as usize);
    for i in 0..header.chunks {
        hashes.push(B256::from(
            host.sload(registry, chunk_slot(slot, i))?.to_be_bytes(),
        ));
    }
    // Chunks read unverified (hashing 32 MiB twice is ~90 ms more): the hash of the whole is
    // checked next.
    let mut bytes = Vec::with_capacity(usize::try_from(header.size).unwrap_or(0));
    for hash in &hashes {
        bytes.extend_from_slice(&p.chunk(hash, false)?);
    }
    let actual = ModelId::of(&bytes);
    if actual != id {
        // Another model was uploaded (a refusal every node makes), or a chunk file is corrupt
        // on this node (a local fault, never a refusal): verifying each chunk tells them apart.
        for hash in &hashes {
            p.chunk(hash, true)?;
        }
        return Err(rejected(
            charge,
            format!(
                "the uploaded bytes hash to {actual}, not to the model id {id}: \
                 cancel the upload (cancelUpload) and upload the model again"
            ),
        ));
    }
    let charge = admit_and_register(p, host, call, &id, &bytes, charge)?;
    close(host, registry, slot, &header)?;
    done(charge)
}

/// `cancelUpload(modelId)`.
pub(crate) fn cancel<H: Host>(
    p: &Core,
    host: &mut H,
    call: &Call<'_>,
    c: &cancelUploadCall,
    charge: u64,
) -> Result<Exit, Stop> {
    let id = ModelId(c.modelId);
    let registry = p.config.registry_address;
    let slot = upload_slot(&call.uploader, &id);
    let header = read(host, registry, slot)?;
    if !header.is_open() {
        return Ok(Exit::Return(charge, Bytes::new()));
    }
    let charge = pay(
        call,
        charge.saturating_add(p.config.registry_gas.chunks(header.chunks.into())),
    )?;
    close(host, registry, slot, &header)?;
    Ok(Exit::Return(charge, Bytes::new()))
}

/// `uploadStatus(uploader, modelId)`.
pub(crate) fn status<H: Host>(
    p: &Core,
    host: &mut H,
    c: &uploadStatusCall,
    charge: u64,
) -> Result<Exit, Stop> {
    let slot = upload_slot(&c.uploader, &ModelId(c.modelId));
    let header = read(host, p.config.registry_address, slot)?;
    let out = uploadStatusCall::abi_encode_returns(&uploadStatusReturn {
        size: header.size,
        received: header.received,
        chunks: header.chunks,
    });
    Ok(Exit::Return(charge, out.into()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn header_words_round_trip() {
        let h = UploadHeader {
            size: 32 << 20,
            received: 123_456,
            chunks: 7,
        };
        assert_eq!(UploadHeader::from_word(h.to_word()), h);
        assert!(!UploadHeader::from_word(U256::ZERO).is_open());
        assert_eq!(
            h.to_word(),
            U256::from(32u64 << 20) | (U256::from(123_456u64) << 64) | (U256::from(7u64) << 128)
        );
    }

    #[test]
    fn upload_slots_are_the_documented_hash() {
        let uploader = Address::repeat_byte(0xaa);
        let id = ModelId(B256::repeat_byte(0xbb));
        let mut preimage = b"prova.upload".to_vec();
        preimage.extend_from_slice(uploader.as_slice());
        preimage.extend_from_slice(id.0.as_slice());
        let slot = upload_slot(&uploader, &id);
        assert_eq!(slot, U256::from_be_bytes(keccak256(&preimage).0));
        assert_ne!(slot, upload_slot(&Address::repeat_byte(0xab), &id));
        assert_eq!(chunk_slot(slot, 0), slot + U256::from(1));
        assert_eq!(chunk_slot(U256::MAX, 0), U256::ZERO, "wraps");
    }
}
