//! `prova generate`: text generation with a decoder model, as the `generate` precompile
//! function runs it (same tokens, same gas), with a tokenizer file for text in and out.

use crate::util;
use anyhow::{Context, Result, bail};
use clap::Args;
use prova_model::GasSchedule;
use prova_runtime::{GenerateRequest, Profile, Runtime};
use serde::Deserialize;
use serde_json::json;
use std::{
    io::Write,
    path::{Path, PathBuf},
    time::Instant,
};

#[derive(Args)]
pub struct GenerateArgs {
    /// Decoder ONNX model (a "decoder with past" export: docs/generation.md).
    model: PathBuf,
    /// Prompt text, encoded with the tokenizer.
    #[arg(long, conflicts_with = "prompt_ids")]
    prompt: Option<String>,
    /// Prompt as token ids, comma-separated (no tokenizer needed).
    #[arg(long, value_delimiter = ',')]
    prompt_ids: Option<Vec<u32>>,
    /// Tokenizer JSON (default: the model's path with `.tokenizer.json` for `.onnx`).
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// Most tokens to generate.
    #[arg(long, default_value_t = 64)]
    max_new_tokens: u32,
    /// Sampling temperature (0 = greedy), in steps of 0.001 as the precompile takes it.
    #[arg(long, default_value_t = 0.0)]
    temperature: f64,
    /// Sample among the K most likely tokens (0 = all).
    #[arg(long, default_value_t = 0)]
    top_k: u32,
    /// Seed of the sampler.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// `exact` (consensus: the tokens every validator computes) or `native` (faster, off-chain).
    #[arg(long, default_value = "exact")]
    profile: Profile,
    /// Print one JSON object instead of streaming the text.
    #[arg(long)]
    json: bool,
}

/// A tokenizer file: `{"kind": "char" | "vocab", "tokens": [...]}`, `tokens[i]` the text of
/// token id `i`. Text is encoded by greedy longest match over the tokens.
#[derive(Debug, Deserialize)]
pub struct Tokenizer {
    kind: String,
    tokens: Vec<String>,
}

impl Tokenizer {
    /// Reads and checks a tokenizer file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read tokenizer {}", path.display()))?;
        let t: Tokenizer = serde_json::from_str(&text)
            .with_context(|| format!("tokenizer {} is not valid", path.display()))?;
        if t.kind != "char" && t.kind != "vocab" {
            bail!(
                "tokenizer {}: kind {:?} is not supported (char or vocab)",
                path.display(),
                t.kind
            );
        }
        if let Some(i) = t.tokens.iter().position(String::is_empty) {
            bail!("tokenizer {}: token {i} is empty", path.display());
        }
        Ok(t)
    }

    /// Token ids of `text`, longest match first.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let best = self
                .tokens
                .iter()
                .enumerate()
                .filter(|(_, t)| rest.starts_with(t.as_str()))
                .max_by_key(|(i, t)| (t.len(), std::cmp::Reverse(*i)));
            match best {
                Some((i, t)) => {
                    ids.push(i as u32);
                    rest = &rest[t.len()..];
                }
                None => {
                    let at = text.len() - rest.len();
                    let c = rest.chars().next().unwrap_or_default();
                    bail!(
                        "the prompt's character {c:?} (byte {at}) is not in the tokenizer's \
                         vocabulary"
                    );
                }
            }
        }
        Ok(ids)
    }

    /// The text of token `id` (`\u{fffd}` for an id outside the vocabulary).
    pub fn decode_one(&self, id: u32) -> &str {
        self.tokens
            .get(id as usize)
            .map_or("\u{fffd}", String::as_str)
    }

    /// The text of `ids`.
    pub fn decode(&self, ids: &[u32]) -> String {
        ids.iter().map(|&i| self.decode_one(i)).collect()
    }
}

/// The default tokenizer path of `model`: `x.onnx` → `x.tokenizer.json`.
pub fn tokenizer_beside(model: &Path) -> PathBuf {
    model.with_extension("tokenizer.json")
}

pub fn run(args: GenerateArgs) -> Result<()> {
    if !(0.0..=4_294_967.295).contains(&args.temperature) {
        bail!(
            "--temperature {} is outside 0..=4294967.295",
            args.temperature
        );
    }
    let temperature_milli = (args.temperature * 1000.0).round() as u32;
    let tokenizer_path = args
        .tokenizer
        .clone()
        .unwrap_or_else(|| tokenizer_beside(&args.model));
    let tokenizer = if args.prompt.is_some() || tokenizer_path.exists() {
        Some(Tokenizer::read(&tokenizer_path)?)
    } else {
        None
    };
    let prompt = match (&args.prompt, &args.prompt_ids, &tokenizer) {
        (Some(text), _, Some(t)) => t.encode(text)?,
        (None, Some(ids), _) => ids.clone(),
        _ => bail!("give --prompt TEXT (with a tokenizer) or --prompt-ids 1,2,3"),
    };
    let bytes = util::read_model(&args.model)?;
    let runtime = Runtime::new(args.profile)?;
    let model = runtime.load(&bytes)?;
    let Some(decoder) = model.info.decoder.clone() else {
        bail!(
            "{} is not a decoder with past key/values (docs/generation.md); run it with prova infer",
            args.model.display()
        );
    };
    let request = GenerateRequest {
        prompt,
        max_new_tokens: args.max_new_tokens,
        seed: args.seed,
        temperature_milli,
        top_k: args.top_k,
    };
    request.check(&decoder).map_err(anyhow::Error::msg)?;

    let stream = !args.json;
    let mut stdout = std::io::stdout().lock();
    if stream && let Some(text) = &args.prompt {
        write!(stdout, "{text}")?;
        stdout.flush()?;
    }
    // Every generated step's logits (f32 little-endian) and the token chosen from them: the
    // determinism matrix compares this hash across CPUs (scripts/determinism-matrix.sh).
    let mut hasher = alloy_primitives::Keccak256::new();
    let start = Instant::now();
    let tokens = runtime.generate(&model, &request, |id, logits| {
        for l in logits {
            hasher.update(l.to_le_bytes());
        }
        hasher.update(id.to_le_bytes());
        if stream {
            match &tokenizer {
                Some(t) => {
                    let _ = write!(stdout, "{}", t.decode_one(id));
                }
                None => {
                    let _ = write!(stdout, "{id} ");
                }
            }
            let _ = stdout.flush();
        }
    })?;
    let seconds = start.elapsed().as_secs_f64();
    let output_hash = hasher.finalize();
    let schedule = GasSchedule::DEFAULT;
    let run = request.prompt.len() as u64 + tokens.len() as u64;
    let gas = schedule.generation_gas(decoder.gas_per_token, run, true);
    let per_second = tokens.len() as f64 / seconds.max(1e-9);
    let steps_per_second = run.saturating_sub(1) as f64 / seconds.max(1e-9);
    if args.json {
        let doc = json!({
            "model": model.info.id,
            "profile": args.profile.name(),
            "prompt_ids": request.prompt,
            "tokens": tokens,
            "output_hash": output_hash.to_string(),
            "text": tokenizer.as_ref().map(|t| t.decode(&tokens)),
            "temperature_milli": temperature_milli,
            "top_k": args.top_k,
            "seed": args.seed,
            "gas": gas,
            "gas_per_token": decoder.gas_per_token,
            "seconds": seconds,
            "tokens_per_second": per_second,
            "steps_per_second": steps_per_second,
        });
        writeln!(stdout, "{doc}")?;
    } else {
        writeln!(stdout)?;
        stdout.flush()?;
        eprintln!(
            "{} tokens in {:.3} s ({:.0} tokens/s, {} profile{}); gas {} ({} per token, cold)",
            tokens.len(),
            seconds,
            per_second,
            args.profile,
            if args.profile == Profile::Native {
                ", not for consensus"
            } else {
                ""
            },
            gas,
            decoder.gas_per_token
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_match_encoding_round_trips() {
        let t = Tokenizer {
            kind: "vocab".into(),
            tokens: vec!["a".into(), "b".into(), "ab".into(), " ".into()],
        };
        assert_eq!(t.encode("ab a").unwrap(), vec![2, 3, 0]);
        assert_eq!(t.decode(&[2, 3, 0]), "ab a");
        let err = t.encode("abc").unwrap_err().to_string();
        assert!(err.contains("'c'") && err.contains("byte 2"), "{err}");
        assert_eq!(t.decode_one(9), "\u{fffd}");
    }
}
