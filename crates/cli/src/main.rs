//! The `prova` command: run models, inspect them, benchmark them.
//!
//! Every failure is one line on stderr and exit code 1; `--json` prints exactly one JSON
//! object on stdout.

mod admit_bench;
mod bench;
mod calls_bench;
mod deploy;
mod gas_bench;
mod generate;
mod infer;
mod model;
mod network;
mod network_bench;
mod node;
mod peak_bench;
mod replay_bench;
mod shim;
mod util;
mod validate;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "prova",
    version,
    about = "Deterministic ML inference for Ethereum: run, inspect and benchmark models"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a model on inputs and print its outputs.
    Infer(infer::InferArgs),
    /// Generate text with a decoder (language) model, as the generate precompile does.
    Generate(generate::GenerateArgs),
    /// Inspect and manage models.
    #[command(subcommand)]
    Model(model::ModelCommand),
    /// Measure performance.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Run a local dev chain with the fixture models (--dev), or a validator of a network
    /// (--validator), served over JSON-RPC.
    Node(node::NodeArgs),
    /// Make a validator key (ed25519) for `prova node --validator`.
    Keygen(network::KeygenArgs),
    /// Start a network of validators on loopback (one process each), until Ctrl-C.
    Devnet(network::DevnetArgs),
    /// Re-execute a node's chain from genesis and verify every block and inference.
    Replay(validate::ReplayArgs),
    /// Write a node's chain (genesis, blocks, witnesses) to a JSON-lines file.
    Export(validate::ExportArgs),
    /// Verify an exported chain.
    Verify(validate::VerifyArgs),
    /// Import an exported chain into a data dir, block by block, only what verifies.
    Import(validate::ImportArgs),
    /// Follow a node over JSON-RPC, verify each block, and serve the verified chain.
    Validator(validate::ValidatorArgs),
    /// Answer one call into INFER or MODEL_REGISTRY as the chain would (Foundry's vm.ffi shim,
    /// contracts/src/test/ProvaTest.sol).
    Shim(shim::ShimArgs),
}

/// glibc serves every allocation above 128 KiB (adaptively, up to 32 MiB) with `mmap` and
/// unmaps it on free, so each inference over megabyte tensors page-faults fresh buffers:
/// measured 2–3× slower large element-wise operators, and timings that depend on what ran
/// before (docs/gas.md, "Allocator"). Inference sizes are bounded (32 MiB per tensor, 256 MiB
/// per run), so keep freed memory in the heap for reuse instead.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn retain_freed_memory() {
    // SAFETY: mallopt only sets allocator parameters; it runs before any other thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn retain_freed_memory() {}

fn main() -> ExitCode {
    retain_freed_memory();
    // tract panics are contained and reported as errors by admission and the runtime: no
    // report for those. Any other panic is a bug: one line with where it happened, on stderr
    // (the node goes on serving; a command ends with an error below).
    std::panic::set_hook(Box::new(|info| {
        if prova_model::panic_is_contained() {
            return;
        }
        let msg = prova_model::panic_message(info.payload());
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            return;
        }
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("unnamed");
        eprintln!(
            "prova: panic in thread {name}{at}: {}",
            util::one_line(&msg)
        );
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("error: {first} (see prova --help)");
            return ExitCode::FAILURE;
        }
    };
    let result = std::panic::catch_unwind(|| match cli.command {
        Command::Infer(args) => infer::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Model(cmd) => model::run(cmd),
        Command::Bench(cmd) => bench::run(cmd),
        Command::Node(args) => node::run(args),
        Command::Keygen(args) => network::keygen(args),
        Command::Devnet(args) => network::devnet(args),
        Command::Replay(args) => validate::replay(args),
        Command::Export(args) => validate::export(args),
        Command::Verify(args) => validate::verify(args),
        Command::Import(args) => validate::import(args),
        Command::Validator(args) => validate::validator(args),
        Command::Shim(args) => shim::run(args),
    });
    match result {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) if e.downcast_ref::<util::Exit>().is_some() => {
            ExitCode::from(e.downcast_ref::<util::Exit>().map_or(1, |x| x.0))
        }
        Ok(Err(e))
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS // the reader of our output is gone, as for a panic below
        }
        Ok(Err(e)) => {
            eprintln!("error: {}", util::one_line(&format!("{e:#}")));
            ExitCode::FAILURE
        }
        Err(p) => {
            let msg = prova_model::panic_message(&*p);
            // `prova … | head`: the reader is gone, nothing is wrong (as ripgrep does).
            if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
                return ExitCode::SUCCESS;
            }
            eprintln!(
                "error: internal error (please report): {}",
                util::one_line(&msg)
            );
            ExitCode::FAILURE
        }
    }
}
