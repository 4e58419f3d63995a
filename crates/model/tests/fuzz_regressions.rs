//! Models the admission fuzz targets (fuzz/admit_bytes, fuzz/admit_graph; docs/security.md)
//! found, kept as ordinary tests in fixtures/hostile/fuzz. Two made tract panic inside
//! admission (an integer overflow or an out-of-bounds index in its shape rules), which
//! admission contains; one crashed the process outright (an out-of-bounds read), which
//! admission now refuses before tract sees it. Run in one process, so a panic that escaped
//! `admit`, or a crash, fails the test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use prova_model::{AdmissionError, Limits, admit};
use std::path::PathBuf;

/// File, and the refusal (for a contained panic, where tract panicked).
const FOUND: &[(&str, &str)] = &[
    // Reshape's ONNX shape rule multiplies dimensions without a check (tract-data dim/tree.rs).
    (
        "admit_bytes_reshape_mul_overflow.onnx",
        "attempt to multiply with overflow",
    ),
    // Dropout with an empty `training_mode` constant: tract reads it with `to_scalar`, which
    // does not check for an element, and the process died of a segmentation fault (no panic
    // to contain). Now refused before tract looks at it: no tensor may be empty.
    (
        "admit_graph_dropout_empty_scalar.onnx",
        "(Dropout) has an empty input 1",
    ),
    // Flatten's rule indexes the shape of its input, and this Flatten has none (tract-hir
    // ops/array/flatten.rs): now refused in the model's terms before tract's rule runs.
    (
        "admit_graph_flatten_rank0.onnx",
        "(Flatten): takes at least 1 input, the model gives it 0",
    ),
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
            matches!(&err, AdmissionError::Typing(m) if m.contains(panic)),
            "{file}: {err}"
        );
        // Said in the model's terms: which node, which operator.
        assert!(err.to_string().contains("node \""), "{file}: {err}");
        assert!(!err.to_string().contains("tract panicked"), "{file}: {err}");
    }
}
