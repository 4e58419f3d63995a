//! A content-addressed model store on disk: `<dir>/<model id hex>.onnx`, and the chunks of
//! staged uploads (MODEL_REGISTRY's `appendChunk`) in `<dir>/chunks/<keccak256 hex>.bin`.
//!
//! Writes are atomic (temporary file, fsync, rename), so a crash leaves either the whole file
//! or nothing. Reads verify the hash, so a corrupted file is reported, never executed.

use crate::{ModelId, StoreError};
use alloy_primitives::{B256, keccak256};
use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
};

/// Content-addressed ONNX files in one directory.
#[derive(Debug, Clone)]
pub struct ModelStore {
    dir: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl ModelStore {
    /// Opens (creating if needed) a store in `dir`.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(Self { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, id: &ModelId) -> PathBuf {
        self.dir.join(format!("{}.onnx", id.hex()))
    }

    /// True when the store holds `id`.
    pub fn contains(&self, id: &ModelId) -> bool {
        self.path(id).is_file()
    }

    /// Stores `bytes` under their hash and returns it. Idempotent.
    pub fn put(&self, bytes: &[u8]) -> Result<ModelId, StoreError> {
        let id = ModelId::of(bytes);
        self.put_as(&id, bytes)?;
        Ok(id)
    }

    /// Stores `bytes` under `id`, which the caller has just computed as their keccak256
    /// (admission does), without hashing them again: at the 32 MiB limit that is ~90 ms.
    /// Idempotent; an existing file is verified and rewritten if corrupt.
    pub fn put_as(&self, id: &ModelId, bytes: &[u8]) -> Result<(), StoreError> {
        debug_assert_eq!(*id, ModelId::of(bytes));
        if self.path(id).is_file() && self.get(id).is_ok() {
            return Ok(());
        }
        write_atomic(&self.dir, &self.path(id), &id.hex(), bytes)
    }

    fn chunk_dir(&self) -> PathBuf {
        self.dir.join("chunks")
    }

    fn chunk_path(&self, hash: &B256) -> PathBuf {
        self.chunk_dir()
            .join(format!("{}.bin", alloy_primitives::hex::encode(hash)))
    }

    /// Stores an upload chunk under its keccak256 and returns it. Idempotent; atomic and
    /// durable like [`put`](Self::put), so a block that records the hash never outlives the
    /// bytes.
    pub fn put_chunk(&self, bytes: &[u8]) -> Result<B256, StoreError> {
        let hash = keccak256(bytes);
        let path = self.chunk_path(&hash);
        if path.is_file() && self.get_chunk(&hash).is_ok() {
            return Ok(hash);
        }
        let dir = self.chunk_dir();
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        write_atomic(&dir, &path, &alloy_primitives::hex::encode(hash), bytes)?;
        Ok(hash)
    }

    /// Reads the upload chunk whose keccak256 is `hash`, verifying it.
    pub fn get_chunk(&self, hash: &B256) -> Result<Vec<u8>, StoreError> {
        let bytes = self.read_chunk(hash)?;
        let actual = keccak256(&bytes);
        if actual != *hash {
            return Err(StoreError::CorruptChunk {
                hash: *hash,
                actual,
            });
        }
        Ok(bytes)
    }

    /// Reads model `id`, verifying its hash.
    pub fn get(&self, id: &ModelId) -> Result<Vec<u8>, StoreError> {
        let path = self.path(id);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound(*id));
            }
            Err(e) => return Err(io(&path)(e)),
        };
        let actual = ModelId::of(&bytes);
        if actual != *id {
            return Err(StoreError::Corrupt { id: *id, actual });
        }
        Ok(bytes)
    }

    /// Reads the upload chunk stored as `hash` **without** verifying it, for a caller that
    /// checks the hash of what it builds from the chunks (and calls
    /// [`get_chunk`](Self::get_chunk) to find a corrupt one when that check fails).
    pub fn read_chunk(&self, hash: &B256) -> Result<Vec<u8>, StoreError> {
        let path = self.chunk_path(hash);
        match fs::read(&path) {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StoreError::ChunkNotFound(*hash))
            }
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// Ids of every stored model, sorted.
    pub fn list(&self) -> Result<Vec<ModelId>, StoreError> {
        let mut ids = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let entry = entry.map_err(io(&self.dir))?;
            let name = entry.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".onnx")) else {
                continue;
            };
            if let Ok(id) = stem.parse::<ModelId>() {
                ids.push(id);
            }
        }
        ids.sort();
        Ok(ids)
    }
}

/// Writes `bytes` to `path` (in `dir`) atomically and durably: a temporary file named after
/// `stem`, fsync, rename, fsync of the directory. The temporary name is unique to the process
/// and the write, so threads putting the same bytes at once (a block being built and an
/// `eth_estimateGas`) never write into each other's file.
fn write_atomic(dir: &Path, path: &Path, stem: &str, bytes: &[u8]) -> Result<(), StoreError> {
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let n = WRITES.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{stem}.{}.{n}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        // Make the rename durable.
        fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io(path)(e)
    })
}
