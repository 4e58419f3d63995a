//! Peak memory of admission, measured per model in a child process (this test binary run
//! again with `PROVA_ADMIT_ONE=path`), so that each figure is that one admission's peak RSS
//! (`VmHWM`), not the harness's. Every hostile fixture, every fixture model, and a generated
//! worst legitimate case (a model at the byte limit, 32 MiB) must stay under 128 MiB: the
//! caller's bytes, the decoded protobuf and tract's graph each hold the weights once while the
//! graph is built (~3.4 times the model's size at the limit, with the test binary). Hostile
//! models, which are small, stay under 64 MiB. Wall time is printed (and recorded in
//! docs/security.md), not asserted: it depends on the machine.
//!
//! `cargo test -p prova-model --release --test admission_memory -- --nocapture` prints the
//! table.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use prova_model::{Limits, admit};
use std::{path::PathBuf, process::Command, time::Instant};
use tract_onnx::pb;

mod common;

/// Ceiling of any admission: a model at the 32 MiB byte limit.
const CEILING_KIB: u64 = 128 * 1024;
/// Ceiling of a model much smaller than the limit (every fixture: hostile models are bombs
/// that declare gigabytes in a few hundred bytes; each must be stopped far below them).
const SMALL_CEILING_KIB: u64 = 64 * 1024;

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// The child: admits one file, prints `peak_kib micros outcome`. Run only by
/// `admission_stays_under_its_memory_ceiling` (with `--ignored`).
#[test]
#[ignore = "the child process of admission_stays_under_its_memory_ceiling"]
fn admit_one_child() {
    let path = std::env::var("PROVA_ADMIT_ONE").expect("PROVA_ADMIT_ONE names the model");
    let bytes = std::fs::read(&path).unwrap();
    let started = Instant::now();
    let outcome = match admit(&bytes, &Limits::DEFAULT) {
        Ok(_) => "admitted".to_string(),
        Err(e) => format!("refused: {e}"),
    };
    let micros = started.elapsed().as_micros();
    println!("\nPROVA_ADMIT {} {micros} {outcome}", vm_hwm_kib());
}

/// A model at the byte limit that admission accepts: a Gemm whose weight fills the file.
fn largest_admissible() -> Vec<u8> {
    let limits = Limits::DEFAULT;
    let (k, n) = (1024i64, (limits.max_model_bytes as i64 - 4096) / 4 / 1024);
    let w = pb::TensorProto {
        name: "w".into(),
        data_type: 1,
        dims: vec![k, n],
        raw_data: (0..k * n)
            .flat_map(|i| ((i % 251) as f32 / 251.0).to_le_bytes())
            .collect(),
        ..Default::default()
    };
    common::graph(
        &[1, k],
        vec![common::node("MatMul", "mm", &["x", "w"], "y")],
        vec![w],
    )
}

#[test]
fn admission_stays_under_its_memory_ceiling() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let mut files = Vec::new();
    for sub in ["hostile", "models", "reject"] {
        for e in std::fs::read_dir(root.join(sub)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "onnx") {
                files.push(p);
            }
        }
    }
    files.sort();
    let tmp = tempfile::tempdir().unwrap();
    let largest = tmp.path().join("largest_admissible.onnx");
    let bytes = largest_admissible();
    assert!(bytes.len() as u64 <= Limits::DEFAULT.max_model_bytes);
    std::fs::write(&largest, &bytes).unwrap();
    files.push(largest);

    let exe = std::env::current_exe().unwrap();
    let mut worst = (0u64, String::new());
    for f in &files {
        let out = Command::new(&exe)
            .args([
                "--exact",
                "admit_one_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("PROVA_ADMIT_ONE", f)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix("PROVA_ADMIT "))
            .unwrap_or_else(|| {
                panic!(
                    "{}: child died ({}): {}",
                    f.display(),
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        let mut parts = line.splitn(3, ' ');
        let kib: u64 = parts.next().unwrap().parse().unwrap();
        let micros: u64 = parts.next().unwrap().parse().unwrap();
        let outcome = parts.next().unwrap_or("");
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        println!(
            "{name:40} peak {:>6.1} MiB  {:>8.1} ms  {}",
            kib as f64 / 1024.0,
            micros as f64 / 1000.0,
            outcome.chars().take(90).collect::<String>()
        );
        let small = std::fs::metadata(f).unwrap().len() < 8 << 20;
        let ceiling = if small {
            SMALL_CEILING_KIB
        } else {
            CEILING_KIB
        };
        assert!(
            kib <= ceiling,
            "{name}: admission peaked at {kib} KiB, over {} MiB",
            ceiling / 1024
        );
        if kib > worst.0 {
            worst = (kib, name);
        }
    }
    println!("worst peak: {} KiB ({})", worst.0, worst.1);
}
