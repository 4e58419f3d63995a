//! Prints the instruction set tract runs with in a profile, as `scripts/determinism-matrix.sh`
//! shows it per emulated CPU:
//!
//! ```sh
//! cargo run -q -p prova-runtime --example isa -- native   # e.g. x86_64,avx,avx2,fma,f16c
//! cargo run -q -p prova-runtime --example isa -- exact    # x86_64
//! ```

use prova_runtime::{Profile, isa_report, pin};
use std::process::ExitCode;

fn main() -> ExitCode {
    let arg = std::env::args().nth(1).unwrap_or_else(|| "exact".into());
    let profile: Profile = match arg.parse() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = pin(profile) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    println!("{}", isa_report());
    ExitCode::SUCCESS
}
