//! The compiled-plan cache: keyed by model id, bounded by entry count and by the total size of
//! the cached models' ONNX bytes; least recently used out first.

use crate::CompiledModel;
use prova_model::ModelId;
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

/// Default bound on cached plans.
pub(crate) const DEFAULT_MAX_ENTRIES: usize = 64;
/// Default bound on the total ONNX bytes of cached models.
pub(crate) const DEFAULT_MAX_BYTES: u64 = 256 << 20;

/// Cache counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Plans cached now.
    pub entries: usize,
    /// Their total ONNX bytes.
    pub bytes: u64,
    /// Lookups that found a plan.
    pub hits: u64,
    /// Lookups that did not.
    pub misses: u64,
    /// Plans evicted.
    pub evictions: u64,
}

#[derive(Debug, Default)]
struct Inner {
    entries: BTreeMap<ModelId, (Arc<CompiledModel>, u64)>,
    clock: u64,
    stats: CacheStats,
}

#[derive(Debug)]
pub(crate) struct PlanCache {
    max_entries: usize,
    max_bytes: u64,
    inner: Mutex<Inner>,
}

impl PlanCache {
    pub(crate) fn new(max_entries: usize, max_bytes: u64) -> Self {
        Self {
            max_entries: max_entries.max(1),
            max_bytes,
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means another thread panicked mid-update of counters: the map
        // itself is always consistent, so keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn get(&self, id: &ModelId) -> Option<Arc<CompiledModel>> {
        let mut inner = self.lock();
        inner.clock += 1;
        let clock = inner.clock;
        match inner.entries.get_mut(id) {
            Some((m, used)) => {
                *used = clock;
                let m = m.clone();
                inner.stats.hits += 1;
                Some(m)
            }
            None => {
                inner.stats.misses += 1;
                None
            }
        }
    }

    pub(crate) fn insert(&self, model: Arc<CompiledModel>) {
        let mut inner = self.lock();
        inner.clock += 1;
        let clock = inner.clock;
        inner.entries.insert(model.info.id, (model, clock));
        loop {
            let bytes: u64 = inner.entries.values().map(|(m, _)| m.info.size_bytes).sum();
            inner.stats.entries = inner.entries.len();
            inner.stats.bytes = bytes;
            if inner.entries.len() <= 1
                || (inner.entries.len() <= self.max_entries && bytes <= self.max_bytes)
            {
                break;
            }
            let oldest = inner
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(id, _)| *id);
            if let Some(id) = oldest {
                inner.entries.remove(&id);
                inner.stats.evictions += 1;
            }
        }
    }

    pub(crate) fn stats(&self) -> CacheStats {
        self.lock().stats
    }
}
