//! Where blocks come from: a node's data dir ([`DataDir`]) or an export file ([`Jsonl`]);
//! and [`export`], which writes the latter from the former.
//!
//! An export is JSON lines: the first is `{"genesis":GENESIS}` (see
//! [`Genesis::to_json`]), then one block per line in the form of
//! [`BlockWithWitness::to_json`] (header fields, raw transactions as hex, witness records with
//! output bytes as hex), in order from block 1.

use prova_chain::{BlockWithWitness, ChainStore, DB_FILE, Genesis};
use std::{
    fs::File,
    io::{BufRead, BufReader, Write},
    path::Path,
};

/// A node's data dir, read block by block.
#[derive(Debug)]
pub struct DataDir {
    store: ChainStore,
    genesis: Genesis,
    head: u64,
}

impl DataDir {
    /// Opens the data dir `dir` (the node must not be running on it).
    pub fn open(dir: &Path) -> Result<Self, String> {
        let db = dir.join(DB_FILE);
        if !db.is_file() {
            return Err(format!(
                "{} holds no chain ({} not found)",
                dir.display(),
                db.display()
            ));
        }
        let store = ChainStore::open(&db).map_err(|e| e.to_string())?;
        let genesis = store
            .genesis()
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{} does not record its genesis", dir.display()))?;
        let stored = store.genesis_hash().map_err(|e| e.to_string())?;
        if stored != Some(genesis.hash()) {
            return Err(format!(
                "{}: the recorded genesis does not hash to the stored block 0",
                dir.display()
            ));
        }
        let head = store
            .head()
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{} has no blocks", dir.display()))?;
        Ok(Self {
            store,
            genesis,
            head,
        })
    }

    /// The chain's genesis.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The last block.
    pub fn head(&self) -> u64 {
        self.head
    }

    /// Blocks `from..=to` (clamped to the head).
    pub fn blocks(
        &self,
        from: u64,
        to: u64,
    ) -> impl Iterator<Item = Result<BlockWithWitness, String>> + '_ {
        (from..=to.min(self.head)).map(|n| match self.store.block_with_witness(n) {
            Ok(Some(b)) => Ok(b),
            Ok(None) => Err(format!("block {n} is missing from the data dir")),
            Err(e) => Err(format!("block {n}: {e}")),
        })
    }
}

/// Writes the export of blocks `1..=to` of `dir` to `out`; returns the number of blocks.
pub fn export(
    dir: &DataDir,
    to: u64,
    out: &mut impl Write,
    on_block: &mut dyn FnMut(u64),
) -> Result<u64, String> {
    let io = |e: std::io::Error| format!("writing the export: {e}");
    serde_json::to_writer(
        &mut *out,
        &serde_json::json!({ "genesis": dir.genesis.to_json() }),
    )
    .map_err(|e| e.to_string())?;
    out.write_all(b"\n").map_err(io)?;
    let mut n = 0;
    for block in dir.blocks(1, to) {
        let block = block?;
        serde_json::to_writer(&mut *out, &block.to_json()).map_err(|e| e.to_string())?;
        out.write_all(b"\n").map_err(io)?;
        n += 1;
        on_block(block.header.number);
    }
    out.flush().map_err(io)?;
    Ok(n)
}

/// An export file, read line by line.
#[derive(Debug)]
pub struct Jsonl {
    genesis: Genesis,
    lines: std::io::Lines<BufReader<File>>,
    line: usize,
    name: String,
}

impl Jsonl {
    /// Opens `path` and reads its genesis line.
    pub fn open(path: &Path) -> Result<Self, String> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|e| format!("{name}: {e}"))?;
        let mut lines = BufReader::new(file).lines();
        let first = match lines.next() {
            Some(Ok(l)) => l,
            Some(Err(e)) => return Err(format!("{name}: {e}")),
            None => return Err(format!("{name} is empty (expected a genesis line)")),
        };
        let v: serde_json::Value =
            serde_json::from_str(&first).map_err(|e| format!("{name}:1: {e}"))?;
        let genesis = v
            .get("genesis")
            .ok_or_else(|| format!("{name}:1: expected {{\"genesis\":…}}"))
            .and_then(|g| Genesis::from_json(g).map_err(|e| format!("{name}:1: {e}")))?;
        Ok(Self {
            genesis,
            lines,
            line: 1,
            name,
        })
    }

    /// The chain's genesis.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }
}

impl Iterator for Jsonl {
    type Item = Result<BlockWithWitness, String>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let line = self.lines.next()?;
            self.line += 1;
            let at = format!("{}:{}", self.name, self.line);
            let line = match line {
                Ok(l) => l,
                Err(e) => return Some(Err(format!("{at}: {e}"))),
            };
            if line.trim().is_empty() {
                continue;
            }
            return Some(
                serde_json::from_str::<serde_json::Value>(&line)
                    .map_err(|e| format!("{at}: {e}"))
                    .and_then(|v| {
                        BlockWithWitness::from_json(&v).map_err(|e| format!("{at}: {e}"))
                    }),
            );
        }
    }
}
