//! `prova bench peak`: this core's f32 arithmetic peak, measured, as the ceiling the real-size
//! benchmark (`scripts/bench-real.sh`) reports achieved GMAC/s against.
//!
//! The exact profile multiplies and adds separately (two roundings, no FMA: design.md,
//! Determinism), so its ceiling is one multiply and one add per lane per cycle on as many pipes
//! as the core has, at whatever clock it really runs (a VM's `/proc/cpuinfo` shows the base
//! clock, not the boost). A loop of independent multiply-add chains in assembly, at each vector
//! width the CPU has, measures it; fused multiply-adds (what onnxruntime's kernels run) are
//! measured beside it for comparison.

use anyhow::{Result, bail};
use clap::Args;
use serde_json::json;
use std::time::Instant;

#[derive(Args)]
pub struct BenchPeakArgs {
    /// Timed rounds per loop; the best round is the peak.
    #[arg(long, default_value_t = 200)]
    rounds: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// One measured loop: its name, multiply-adds per iteration, and the loop itself.
struct Loop {
    name: &'static str,
    /// What one multiply-add is: "mul+add" (two roundings, the exact profile) or "fma".
    kind: &'static str,
    lanes: u32,
    macs_per_iter: u64,
    run: fn(u64),
}

pub fn run(args: BenchPeakArgs) -> Result<()> {
    if args.rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    let loops = loops();
    if loops.is_empty() {
        bail!("no measured loop for this CPU (x86-64 with AVX needed)");
    }
    let mut rows = Vec::new();
    for l in &loops {
        // About a millisecond a round at 50 GMAC/s: long enough to time, short enough that a
        // neighbour's burst spoils few rounds.
        let iters = 50_000_000 / l.macs_per_iter;
        (l.run)(iters * 20); // warm the clock up
        let mut best = f64::MAX;
        let mut all = Vec::with_capacity(args.rounds);
        for _ in 0..args.rounds {
            let t = Instant::now();
            (l.run)(iters);
            let s = t.elapsed().as_secs_f64();
            best = best.min(s);
            all.push(s);
        }
        all.sort_by(f64::total_cmp);
        let macs = (iters * l.macs_per_iter) as f64;
        rows.push(json!({
            "loop": l.name,
            "kind": l.kind,
            "lanes": l.lanes,
            "gmacs": macs / best / 1e9,
            "median_gmacs": macs / all[all.len() / 2] / 1e9,
        }));
    }
    let no_fma = rows
        .iter()
        .filter(|r| r["kind"] == "mul+add")
        .filter_map(|r| r["gmacs"].as_f64())
        .fold(0.0, f64::max);
    if args.json {
        println!("{}", json!({ "peak_no_fma_gmacs": no_fma, "loops": rows }));
    } else {
        println!(
            "f32 multiply-adds per second, one thread (best of {} rounds):",
            args.rounds
        );
        for r in &rows {
            println!(
                "  {:<14} {:>7} {:>2} lanes  {:>6.1} GMAC/s  (median {:.1})",
                r["loop"].as_str().unwrap_or_default(),
                r["kind"].as_str().unwrap_or_default(),
                r["lanes"].as_u64().unwrap_or_default(),
                r["gmacs"].as_f64().unwrap_or_default(),
                r["median_gmacs"].as_f64().unwrap_or_default(),
            );
        }
        println!("peak without FMA (the exact profile's ceiling): {no_fma:.1} GMAC/s");
    }
    Ok(())
}

#[cfg(target_arch = "x86_64")]
fn loops() -> Vec<Loop> {
    let mut out = Vec::new();
    if is_x86_feature_detected!("avx") {
        out.push(Loop {
            name: "avx",
            kind: "mul+add",
            lanes: 8,
            macs_per_iter: 10 * 8,
            run: |n| unsafe { x86::avx_mul_add(n) },
        });
    }
    if is_x86_feature_detected!("fma") {
        out.push(Loop {
            name: "avx+fma",
            kind: "fma",
            lanes: 8,
            macs_per_iter: 10 * 8,
            run: |n| unsafe { x86::avx_fma(n) },
        });
    }
    if is_x86_feature_detected!("avx512f") {
        out.push(Loop {
            name: "avx512f",
            kind: "mul+add",
            lanes: 16,
            macs_per_iter: 12 * 16,
            run: |n| unsafe { x86::avx512_mul_add(n) },
        });
        out.push(Loop {
            name: "avx512f",
            kind: "fma",
            lanes: 16,
            macs_per_iter: 12 * 16,
            run: |n| unsafe { x86::avx512_fma(n) },
        });
    }
    out
}

#[cfg(not(target_arch = "x86_64"))]
fn loops() -> Vec<Loop> {
    Vec::new()
}

/// The loops: `n` iterations of independent accumulator chains (more chains than the add
/// latency times the pipes, so the pipes, not a chain, set the pace). The multiplies read two
/// registers that never change and write a scratch register, so each iteration is real work the
/// CPU cannot skip. The accumulators grow by 1.0 an iteration until they stop changing at 2^24:
/// never subnormal, never overflowing (only the time is used).
#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::asm;

    /// Ten 8-lane chains: `acc += a * b` as `vmulps` then `vaddps`.
    #[target_feature(enable = "avx")]
    pub unsafe fn avx_mul_add(n: u64) {
        // SAFETY: AVX is present (the caller checked); only named registers are written.
        unsafe {
            asm!(
                "vbroadcastss ymm0, [{one}]",
                "vmovaps ymm1, ymm0",
                "vxorps ymm2, ymm2, ymm2", "vxorps ymm3, ymm3, ymm3",
                "vxorps ymm4, ymm4, ymm4", "vxorps ymm5, ymm5, ymm5",
                "vxorps ymm6, ymm6, ymm6", "vxorps ymm7, ymm7, ymm7",
                "vxorps ymm8, ymm8, ymm8", "vxorps ymm9, ymm9, ymm9",
                "vxorps ymm10, ymm10, ymm10", "vxorps ymm11, ymm11, ymm11",
                "2:",
                "vmulps ymm12, ymm0, ymm1", "vaddps ymm2, ymm2, ymm12",
                "vmulps ymm13, ymm0, ymm1", "vaddps ymm3, ymm3, ymm13",
                "vmulps ymm14, ymm0, ymm1", "vaddps ymm4, ymm4, ymm14",
                "vmulps ymm15, ymm0, ymm1", "vaddps ymm5, ymm5, ymm15",
                "vmulps ymm12, ymm0, ymm1", "vaddps ymm6, ymm6, ymm12",
                "vmulps ymm13, ymm0, ymm1", "vaddps ymm7, ymm7, ymm13",
                "vmulps ymm14, ymm0, ymm1", "vaddps ymm8, ymm8, ymm14",
                "vmulps ymm15, ymm0, ymm1", "vaddps ymm9, ymm9, ymm15",
                "vmulps ymm12, ymm0, ymm1", "vaddps ymm10, ymm10, ymm12",
                "vmulps ymm13, ymm0, ymm1", "vaddps ymm11, ymm11, ymm13",
                "dec {n}",
                "jnz 2b",
                "vzeroupper",
                one = in(reg) std::ptr::from_ref(&1.0f32),
                n = inout(reg) n.max(1) => _,
                out("ymm0") _, out("ymm1") _, out("ymm2") _, out("ymm3") _,
                out("ymm4") _, out("ymm5") _, out("ymm6") _, out("ymm7") _,
                out("ymm8") _, out("ymm9") _, out("ymm10") _, out("ymm11") _,
                out("ymm12") _, out("ymm13") _, out("ymm14") _, out("ymm15") _,
                options(nostack),
            );
        }
    }

    /// Ten 8-lane chains of `vfmadd231ps`.
    #[target_feature(enable = "avx,fma")]
    pub unsafe fn avx_fma(n: u64) {
        // SAFETY: AVX and FMA are present (the caller checked); only named registers are written.
        unsafe {
            asm!(
                "vbroadcastss ymm0, [{one}]",
                "vmovaps ymm1, ymm0",
                "vxorps ymm2, ymm2, ymm2", "vxorps ymm3, ymm3, ymm3",
                "vxorps ymm4, ymm4, ymm4", "vxorps ymm5, ymm5, ymm5",
                "vxorps ymm6, ymm6, ymm6", "vxorps ymm7, ymm7, ymm7",
                "vxorps ymm8, ymm8, ymm8", "vxorps ymm9, ymm9, ymm9",
                "vxorps ymm10, ymm10, ymm10", "vxorps ymm11, ymm11, ymm11",
                "2:",
                "vfmadd231ps ymm2, ymm0, ymm1", "vfmadd231ps ymm3, ymm0, ymm1",
                "vfmadd231ps ymm4, ymm0, ymm1", "vfmadd231ps ymm5, ymm0, ymm1",
                "vfmadd231ps ymm6, ymm0, ymm1", "vfmadd231ps ymm7, ymm0, ymm1",
                "vfmadd231ps ymm8, ymm0, ymm1", "vfmadd231ps ymm9, ymm0, ymm1",
                "vfmadd231ps ymm10, ymm0, ymm1", "vfmadd231ps ymm11, ymm0, ymm1",
                "dec {n}",
                "jnz 2b",
                "vzeroupper",
                one = in(reg) std::ptr::from_ref(&1.0f32),
                n = inout(reg) n.max(1) => _,
                out("ymm0") _, out("ymm1") _, out("ymm2") _, out("ymm3") _,
                out("ymm4") _, out("ymm5") _, out("ymm6") _, out("ymm7") _,
                out("ymm8") _, out("ymm9") _, out("ymm10") _, out("ymm11") _,
                options(nostack),
            );
        }
    }

    /// Twelve 16-lane chains: `vmulps` then `vaddps`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn avx512_mul_add(n: u64) {
        // SAFETY: AVX-512F is present (the caller checked); only named registers are written.
        unsafe {
            asm!(
                "vbroadcastss zmm0, [{one}]",
                "vmovaps zmm1, zmm0",
                "vpxord zmm2, zmm2, zmm2", "vpxord zmm3, zmm3, zmm3",
                "vpxord zmm4, zmm4, zmm4", "vpxord zmm5, zmm5, zmm5",
                "vpxord zmm6, zmm6, zmm6", "vpxord zmm7, zmm7, zmm7",
                "vpxord zmm8, zmm8, zmm8", "vpxord zmm9, zmm9, zmm9",
                "vpxord zmm10, zmm10, zmm10", "vpxord zmm11, zmm11, zmm11",
                "vpxord zmm12, zmm12, zmm12", "vpxord zmm13, zmm13, zmm13",
                "2:",
                "vmulps zmm16, zmm0, zmm1", "vaddps zmm2, zmm2, zmm16",
                "vmulps zmm17, zmm0, zmm1", "vaddps zmm3, zmm3, zmm17",
                "vmulps zmm18, zmm0, zmm1", "vaddps zmm4, zmm4, zmm18",
                "vmulps zmm19, zmm0, zmm1", "vaddps zmm5, zmm5, zmm19",
                "vmulps zmm20, zmm0, zmm1", "vaddps zmm6, zmm6, zmm20",
                "vmulps zmm21, zmm0, zmm1", "vaddps zmm7, zmm7, zmm21",
                "vmulps zmm16, zmm0, zmm1", "vaddps zmm8, zmm8, zmm16",
                "vmulps zmm17, zmm0, zmm1", "vaddps zmm9, zmm9, zmm17",
                "vmulps zmm18, zmm0, zmm1", "vaddps zmm10, zmm10, zmm18",
                "vmulps zmm19, zmm0, zmm1", "vaddps zmm11, zmm11, zmm19",
                "vmulps zmm20, zmm0, zmm1", "vaddps zmm12, zmm12, zmm20",
                "vmulps zmm21, zmm0, zmm1", "vaddps zmm13, zmm13, zmm21",
                "dec {n}",
                "jnz 2b",
                "vzeroupper",
                one = in(reg) std::ptr::from_ref(&1.0f32),
                n = inout(reg) n.max(1) => _,
                out("zmm0") _, out("zmm1") _, out("zmm2") _, out("zmm3") _,
                out("zmm4") _, out("zmm5") _, out("zmm6") _, out("zmm7") _,
                out("zmm8") _, out("zmm9") _, out("zmm10") _, out("zmm11") _,
                out("zmm12") _, out("zmm13") _, out("zmm16") _, out("zmm17") _,
                out("zmm18") _, out("zmm19") _, out("zmm20") _, out("zmm21") _,
                options(nostack),
            );
        }
    }

    /// Twelve 16-lane chains of `vfmadd231ps`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn avx512_fma(n: u64) {
        // SAFETY: AVX-512F (which includes the 512-bit FMA) is present (the caller checked);
        // only named registers are written.
        unsafe {
            asm!(
                "vbroadcastss zmm0, [{one}]",
                "vmovaps zmm1, zmm0",
                "vpxord zmm2, zmm2, zmm2", "vpxord zmm3, zmm3, zmm3",
                "vpxord zmm4, zmm4, zmm4", "vpxord zmm5, zmm5, zmm5",
                "vpxord zmm6, zmm6, zmm6", "vpxord zmm7, zmm7, zmm7",
                "vpxord zmm8, zmm8, zmm8", "vpxord zmm9, zmm9, zmm9",
                "vpxord zmm10, zmm10, zmm10", "vpxord zmm11, zmm11, zmm11",
                "vpxord zmm12, zmm12, zmm12", "vpxord zmm13, zmm13, zmm13",
                "2:",
                "vfmadd231ps zmm2, zmm0, zmm1", "vfmadd231ps zmm3, zmm0, zmm1",
                "vfmadd231ps zmm4, zmm0, zmm1", "vfmadd231ps zmm5, zmm0, zmm1",
                "vfmadd231ps zmm6, zmm0, zmm1", "vfmadd231ps zmm7, zmm0, zmm1",
                "vfmadd231ps zmm8, zmm0, zmm1", "vfmadd231ps zmm9, zmm0, zmm1",
                "vfmadd231ps zmm10, zmm0, zmm1", "vfmadd231ps zmm11, zmm0, zmm1",
                "vfmadd231ps zmm12, zmm0, zmm1", "vfmadd231ps zmm13, zmm0, zmm1",
                "dec {n}",
                "jnz 2b",
                "vzeroupper",
                one = in(reg) std::ptr::from_ref(&1.0f32),
                n = inout(reg) n.max(1) => _,
                out("zmm0") _, out("zmm1") _, out("zmm2") _, out("zmm3") _,
                out("zmm4") _, out("zmm5") _, out("zmm6") _, out("zmm7") _,
                out("zmm8") _, out("zmm9") _, out("zmm10") _, out("zmm11") _,
                out("zmm12") _, out("zmm13") _,
                options(nostack),
            );
        }
    }
}
