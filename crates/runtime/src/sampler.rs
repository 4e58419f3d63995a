//! Choosing the next token from a step's logits, the same on every validator.
//!
//! Greedy when the temperature is 0: the largest logit, the lowest index on ties. Otherwise
//! sampling, in integers wherever the choice is made:
//!
//! 1. candidates: token ids ordered by logit (largest first, lower id first on ties), the first
//!    `top_k` of them (all when `top_k` is 0 or at least the vocabulary);
//! 2. each candidate `c` weighs `w_c = floor(exp((l_c − l_max) · 1000 / temperature_milli) · 2³²)`,
//!    computed in f64 with `libm::exp` (a pure-Rust, correctly specified routine: no platform
//!    math library), so the best candidate weighs exactly 2³²;
//! 3. a 64-bit draw `r = splitmix64(seed ^ splitmix64(t))` for the `t`-th generated token (a
//!    counter-based generator: each draw depends only on the call's seed and the token index);
//!    `target = (r · Σw) >> 64`; the chosen token is the first candidate whose running sum of
//!    weights exceeds `target`.
//!
//! NaN logits fail the step (a model that produces them is not a distribution); ±infinity is
//! handled by comparing each logit with the largest before subtracting.

/// splitmix64's output function over one 64-bit state step (Steele, Lea, Flood 2014).
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The 64-bit draw for generated token `step` of a call seeded with `seed`.
pub fn draw(seed: u64, step: u64) -> u64 {
    splitmix64(seed ^ splitmix64(step))
}

/// The token chosen from `logits` for generated token `step` (0 for the first).
pub fn choose(
    logits: &[f32],
    temperature_milli: u32,
    top_k: u32,
    seed: u64,
    step: u64,
) -> Result<u32, String> {
    if let Some(i) = logits.iter().position(|l| l.is_nan()) {
        return Err(format!("the model's logit for token {i} is NaN"));
    }
    if logits.is_empty() {
        return Err("the model returned no logits".into());
    }
    if temperature_milli == 0 {
        let mut best = 0;
        for (i, &l) in logits.iter().enumerate() {
            if l > logits[best] {
                best = i;
            }
        }
        return Ok(best as u32);
    }
    let mut order: Vec<u32> = (0..logits.len() as u32).collect();
    // No NaN (checked): partial_cmp is total here; equal logits (±0 included) keep id order.
    order.sort_by(|&a, &b| {
        logits[b as usize]
            .partial_cmp(&logits[a as usize])
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.cmp(&b))
    });
    let k = match top_k as usize {
        0 => order.len(),
        k => k.min(order.len()),
    };
    let candidates = &order[..k];
    let max = logits[candidates[0] as usize];
    let scale = 4_294_967_296.0_f64; // 2^32
    let weights: Vec<u64> = candidates
        .iter()
        .map(|&c| {
            let l = logits[c as usize];
            if l == max {
                return 1u64 << 32;
            }
            let z = (f64::from(l) - f64::from(max)) * 1000.0 / f64::from(temperature_milli);
            // z < 0 (or -inf): exp(z) in [0, 1), the weight below 2^32.
            (libm::exp(z) * scale) as u64
        })
        .collect();
    // At most 2^32 candidates of at most 2^32 each: the sum fits in u64 unless the
    // vocabulary is 2^32 tokens, which a u32 token id cannot index anyway.
    let total: u64 = weights.iter().fold(0u64, |a, &w| a.saturating_add(w));
    let target = ((u128::from(draw(seed, step)) * u128::from(total)) >> 64) as u64;
    let mut sum = 0u64;
    for (&c, &w) in candidates.iter().zip(&weights) {
        sum = sum.saturating_add(w);
        if sum > target {
            return Ok(c);
        }
    }
    Ok(candidates[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_sequence() {
        // The reference generator's first outputs from state 0 (state advances by the
        // golden gamma; our function takes the state before the increment).
        assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
        assert_eq!(splitmix64(0x9E37_79B9_7F4A_7C15), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn greedy_takes_the_first_largest() {
        assert_eq!(choose(&[0.5, 2.0, 2.0, -1.0], 0, 0, 1, 0), Ok(1));
        assert_eq!(
            choose(&[f32::NEG_INFINITY, f32::INFINITY], 0, 0, 1, 0),
            Ok(1)
        );
        assert!(
            choose(&[0.5, f32::NAN], 0, 0, 1, 0)
                .unwrap_err()
                .contains("token 1")
        );
        assert!(choose(&[], 700, 0, 1, 0).is_err());
    }

    #[test]
    fn top_1_is_greedy_and_sampling_follows_the_weights() {
        let logits = [1.0f32, 3.0, 2.0, 3.0];
        for seed in 0..50 {
            assert_eq!(choose(&logits, 900, 1, seed, 3), Ok(1));
        }
        // Two equal best logits share the mass; the others are far below at low temperature.
        let mut counts = [0u32; 4];
        for step in 0..4000 {
            counts[choose(&logits, 100, 0, 42, step).unwrap() as usize] += 1;
        }
        assert_eq!(counts[0], 0);
        assert!(counts[1] > 1800 && counts[3] > 1800, "{counts:?}");
        // Infinite logits: only the infinite one can be chosen.
        let inf = [0.0f32, f32::INFINITY, 5.0];
        for step in 0..100 {
            assert_eq!(choose(&inf, 1000, 0, 7, step), Ok(1));
        }
    }

    #[test]
    fn draws_depend_on_seed_and_step_only() {
        assert_eq!(draw(7, 3), draw(7, 3));
        assert_ne!(draw(7, 3), draw(7, 4));
        assert_ne!(draw(7, 3), draw(8, 3));
    }
}
