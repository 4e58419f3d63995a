//! Models the admission fuzz targets (fuzz/admit_bytes, fuzz/admit_graph; docs/security.md)
//! found, kept as ordinary tests in fixtures/hostile/fuzz. Each made tract panic inside
//! admission (an integer overflow or an out-of-bounds index in its shape rules); admission
//! contains the panic and refuses the model with a typing error. Run in one process, so a
//! panic that escaped `admit`, or an abort, fails the test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use prova_model::{AdmissionError, Limits, admit};
use std::path::PathBuf;

/// File, and where tract panicked.
const FOUND: &[(&str, &str)] = &[
    // Reshape's ONNX shape rule multiplies dimensions without a check (tract-data dim/tree.rs).
    (
        "admit_bytes_reshape_mul_overflow.onnx",
        "attempt to multiply with overflow",
    ),
    // Flatten's rule indexes the shape of a rank-0 input (tract-hir ops/array/flatten.rs).
    ("admit_graph_flatten_rank0.onnx", "index out of bounds"),
];

#[test]
fn fuzz_findings_are_refused_not_crashes() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/hostile/fuzz");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let listed: Vec<&str> = FOUND.iter().map(|(f, _)| *f).collect();
    assert_eq!(files, listed, "fixtures/hostile/fuzz and this table differ");
    for (file, panic) in FOUND {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let err = admit(&bytes, &Limits::DEFAULT).unwrap_err();
        assert!(
            matches!(&err, AdmissionError::Typing(m) if m.contains("tract panicked") && m.contains(panic)),
            "{file}: {err}"
        );
    }
}
