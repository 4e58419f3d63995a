//! Scratch buffers kept between calls on one thread.
//!
//! Prova's convolution ops copy their input into zero-padded buffers whose padding no call
//! ever writes: for the same geometry, a buffer from an earlier call is as good as a fresh
//! zeroed one, without the allocation and the zeroing (~50 KB per call for an RGB 64 × 64
//! stem). Each op keeps its own in a thread-local [`Kept`], by a key that fixes which places
//! are written.

use std::cell::RefCell;
use std::thread::LocalKey;

/// The most values (f32) a kept buffer may hold (4 MiB): a larger one is made each call.
const MAX_VALUES: usize = 1 << 20;

/// Buffers by key, at most `most`, the least recently used first.
pub(crate) struct Kept<K, T> {
    entries: Vec<(K, T)>,
    most: usize,
}

impl<K, T> Kept<K, T> {
    pub(crate) const fn new(most: usize) -> Self {
        Kept {
            entries: Vec::new(),
            most,
        }
    }
}

/// The buffer kept in `cell` for `key`, if any (taken out: [`keep`] puts it back).
pub(crate) fn take<K: PartialEq, T>(
    cell: &'static LocalKey<RefCell<Kept<K, T>>>,
    key: &K,
) -> Option<T> {
    cell.with_borrow_mut(|kept| {
        let at = kept.entries.iter().position(|(k, _)| k == key)?;
        Some(kept.entries.remove(at).1)
    })
}

/// Keeps `buffer` (of `values` f32s) in `cell` for `key`, unless it is larger than
/// [`MAX_VALUES`]; drops the least recently kept one past the cell's limit.
pub(crate) fn keep<K, T>(
    cell: &'static LocalKey<RefCell<Kept<K, T>>>,
    key: K,
    buffer: T,
    values: usize,
) {
    if values > MAX_VALUES {
        return;
    }
    cell.with_borrow_mut(|kept| {
        if kept.entries.len() >= kept.most {
            kept.entries.remove(0);
        }
        kept.entries.push((key, buffer));
    });
}
