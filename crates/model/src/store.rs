//! A content-addressed model store on disk: `<dir>/<model id hex>.onnx`.
//!
//! Writes are atomic (temporary file, fsync, rename), so a crash leaves either the whole model
//! or nothing. Reads verify the hash, so a corrupted file is reported, never executed.

use crate::{ModelId, StoreError};
use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
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
        let path = self.path(&id);
        if path.is_file() && self.get(&id).is_ok() {
            return Ok(id);
        }
        let tmp = self
            .dir
            .join(format!(".{}.{}.tmp", id.hex(), std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            // Make the rename durable.
            fs::File::open(&self.dir)?.sync_all()
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io(&path)(e)
        })?;
        Ok(id)
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
