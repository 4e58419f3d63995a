//! Shared helpers: reading inputs, printing.

use anyhow::{Context, Result, bail};
use prova_tensor::{InputDocument, Tensor};
use std::{
    io::Read,
    path::{Path, PathBuf},
};

/// An error that ends the program with this exit code after its output was already printed
/// (a divergence report: exit code 2).
#[derive(Debug)]
pub struct Exit(pub u8);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit code {}", self.0)
    }
}

impl std::error::Error for Exit {}

/// Collapses a multi-line message into one line.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Reads a model file.
pub fn read_model(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read model {}", path.display()))
}

/// The `.onnx` files in each of `dirs` (relative to the current directory: the repository
/// root), sorted within each directory; the default model set of the `prova bench` commands.
pub fn fixture_models(dirs: &[&str]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut v: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
            .collect();
        v.sort();
        out.extend(v);
    }
    if out.is_empty() {
        bail!(
            "no models given and none found under {} (run from the repository root)",
            dirs.join(" or ")
        );
    }
    Ok(out)
}

/// Reads an input document from a file or `-` (stdin).
pub fn read_inputs(path: &str) -> Result<Vec<Tensor>> {
    let text = if path == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read inputs from stdin")?;
        s
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read inputs {path}"))?
    };
    let doc = InputDocument::from_json(&text).with_context(|| format!("inputs {path}"))?;
    Ok(doc.inputs)
}

/// Shortened display of a tensor's data for people.
pub fn preview(t: &Tensor, max: usize) -> String {
    let v: serde_json::Value = serde_json::to_value(t).unwrap_or_default();
    let data = v
        .get("data")
        .and_then(|d| d.as_array())
        .cloned()
        .unwrap_or_default();
    let shown: Vec<String> = data.iter().take(max).map(|x| x.to_string()).collect();
    let more = if data.len() > max {
        format!(", … ({} more)", data.len() - max)
    } else {
        String::new()
    };
    format!("[{}{}]", shown.join(", "), more)
}

/// Logs on stderr, `info` and up unless `RUST_LOG` says otherwise. tract's warning that a
/// model's opset is newer than the ones it tests (18) is left out: admission decides which
/// operators and opsets run, and every admitted operator is checked against onnxruntime
/// (docs/operators.md), so the warning, once per model loaded, only alarmed users.
pub fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tract_onnx::model=error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only on a terminal: a validator's stderr is its node.log.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// `given`, or a fresh temporary dir named `prefix…` (deleted when the returned guard drops).
pub fn dir_or_temp(
    given: Option<std::path::PathBuf>,
    prefix: &str,
) -> anyhow::Result<(std::path::PathBuf, Option<tempfile::TempDir>)> {
    use anyhow::Context;
    match given {
        Some(d) => Ok((d, None)),
        None => {
            let tmp = tempfile::Builder::new()
                .prefix(prefix)
                .tempdir()
                .context("cannot create a temporary data dir")?;
            Ok((tmp.path().to_path_buf(), Some(tmp)))
        }
    }
}
