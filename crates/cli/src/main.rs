//! The `prova` command: run models, inspect them, benchmark them.
//!
//! Every failure is one line on stderr and exit code 1; `--json` prints exactly one JSON
//! object on stdout.

mod bench;
mod deploy;
mod gas_bench;
mod infer;
mod model;
mod node;
mod util;

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
    /// Inspect and manage models.
    #[command(subcommand)]
    Model(model::ModelCommand),
    /// Measure performance.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Run a local dev chain with the fixture models, served over JSON-RPC.
    Node(node::NodeArgs),
}

fn main() -> ExitCode {
    // tract panics are caught and reported as errors by the runtime; keep the default hook's
    // multi-line report off the terminal and turn any other panic into a one-line error below.
    std::panic::set_hook(Box::new(|_| {}));
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
        Command::Model(cmd) => model::run(cmd),
        Command::Bench(cmd) => bench::run(cmd),
        Command::Node(args) => node::run(args),
    });
    match result {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("error: {}", util::one_line(&format!("{e:#}")));
            ExitCode::FAILURE
        }
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            eprintln!(
                "error: internal error (please report): {}",
                util::one_line(&msg)
            );
            ExitCode::FAILURE
        }
    }
}
