//! `prova shim`: one call into INFER or MODEL_REGISTRY, answered as the chain answers it.
//!
//! Foundry's `forge test` and `forge script` simulate in Foundry's own EVM, which has no
//! Prova precompiles. `contracts/src/test/ProvaTest.sol` installs a shim contract at both
//! addresses that hands each call to this command through `vm.ffi` and replays the answer:
//! the same return data, revert data and gas as on chain, because the call runs through the
//! same code ([`ProvaPrecompiles::call_standalone`]). docs/foundry.md has the protocol.

use alloy_primitives::{Address, B256, Bytes, U256, hex};
use alloy_sol_types::SolType;
use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use prova_model::{ModelId, ModelStore};
use prova_precompile::{
    ModelBytes, Outcome, ProvaPrecompiles, REGISTERED, StandaloneCall, StandaloneState,
};
use prova_runtime::{Profile, Runtime};
use serde_json::json;
use std::{collections::BTreeMap, path::PathBuf, sync::Arc};

#[derive(Args)]
pub struct ShimArgs {
    /// Which precompile is called.
    target: Target,
    /// The calldata as hex (with or without 0x), possibly split over several arguments, which
    /// are joined in order (one argument may hold at most 128 KiB).
    #[arg(required = true)]
    calldata: Vec<String>,
    /// Gas available to the call.
    #[arg(long)]
    gas: u64,
    /// Where deployed models are kept (a content-addressed model store, safe to share between
    /// concurrent runs). Created if missing.
    #[arg(long)]
    cache: PathBuf,
    /// A directory of .onnx files to take a registered model's bytes from when neither the
    /// cache nor the fixture models (which the dev node preloads) have them. Repeatable.
    #[arg(long = "models")]
    models: Vec<PathBuf>,
    /// Model ids registered in the calling EVM (the registry account's storage). Repeatable.
    #[arg(long)]
    registered: Vec<B256>,
    /// Another slot of the registry account's storage, as `SLOT=VALUE` (32-byte hex each): the
    /// header and chunk hashes of a staged upload the call reads. Repeatable.
    #[arg(long = "slot", value_name = "SLOT=VALUE", value_parser = parse_slot)]
    slots: Vec<(B256, B256)>,
    /// Model ids already used by an earlier INFER in the same transaction. Repeatable.
    #[arg(long)]
    warm: Vec<B256>,
    /// `msg.sender` of the call.
    #[arg(long, default_value_t = Address::ZERO)]
    caller: Address,
    /// The call carries value.
    #[arg(long)]
    value: bool,
    /// The call runs under STATICCALL.
    #[arg(long = "static")]
    is_static: bool,
    /// Print one JSON object instead of the ABI-encoded answer that `vm.ffi` decodes.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Target {
    /// INFER, 0x…0F00.
    Infer,
    /// MODEL_REGISTRY, 0x…0F01.
    Registry,
}

/// The answer's status byte.
const RETURN: u8 = 0;
const REVERT: u8 = 1;
const HALT: u8 = 2;

pub fn run(args: ShimArgs) -> Result<()> {
    let mut text = String::new();
    for part in &args.calldata {
        text.push_str(part.strip_prefix("0x").unwrap_or(part));
    }
    let calldata = hex::decode(&text).context("calldata is not hex")?;

    let store = ModelStore::open(&args.cache)
        .with_context(|| format!("cannot open the model cache {}", args.cache.display()))?;
    for id in &args.registered {
        let id = ModelId(*id);
        if !store.contains(&id) {
            fill_from_dirs(&store, &id, &args.models)?;
        }
    }
    let runtime = Arc::new(Runtime::new(Profile::Exact)?);
    let mut precompiles =
        ProvaPrecompiles::new(prova_chain::SPEC, runtime).with_models(ModelBytes::Store(store));
    precompiles.set_recording(false);

    let mut state = StandaloneState::default();
    for id in &args.registered {
        state.register(&precompiles, &ModelId(*id));
    }
    let registry = precompiles.config().registry_address;
    for (slot, value) in &args.slots {
        state.storage.insert(
            (registry, U256::from_be_bytes(slot.0)),
            U256::from_be_bytes(value.0),
        );
    }
    for id in &args.warm {
        state.warm(&precompiles, &ModelId(*id));
    }
    let config = *precompiles.config();
    let call = StandaloneCall {
        address: match args.target {
            Target::Infer => config.infer_address,
            Target::Registry => config.registry_address,
        },
        input: &calldata,
        gas_limit: args.gas,
        caller: args.caller,
        transfers_value: args.value,
        is_static: args.is_static,
    };
    let outcome = precompiles.call_standalone(&mut state, &call)?;

    // What the call left in the registry's storage (every slot it was given or wrote, as
    // slot/value pairs: registrations, and the header and chunk hashes of uploads, zero where
    // cleared) and which models it left warm; the caller writes these back on success.
    let word = |k: &U256| B256::from(k.to_be_bytes::<32>());
    let stored: Vec<B256> = state
        .storage
        .iter()
        .filter(|((a, _), _)| *a == config.registry_address)
        .flat_map(|((_, k), v)| [word(k), word(v)])
        .collect();
    let ids = |map: &BTreeMap<(Address, U256), U256>, account: Address| -> Vec<B256> {
        map.iter()
            .filter(|((a, _), v)| *a == account && !v.is_zero())
            .map(|((_, k), _)| word(k))
            .collect()
    };
    // For the JSON form: the slots holding a model's registration flag.
    let registered: Vec<B256> = state
        .storage
        .iter()
        .filter(|((a, _), v)| *a == config.registry_address && **v == REGISTERED)
        .map(|((_, k), _)| word(k))
        .collect();
    let warm = ids(&state.transient, config.infer_address);
    let (status, gas, data) = match &outcome {
        Outcome::Return { gas, output } => (RETURN, *gas, output.clone()),
        Outcome::Revert { gas, output } => (REVERT, *gas, output.clone()),
        Outcome::Halt { reason } => (HALT, args.gas, Bytes::from(reason.as_bytes().to_vec())),
    };
    if args.json {
        let name = ["return", "revert", "halt"][status as usize];
        let pairs: Vec<[B256; 2]> = stored.chunks(2).map(|p| [p[0], p[1]]).collect();
        let doc = json!({
            "status": name,
            "gas": gas,
            "data": data,
            "registered": registered,
            "storage": pairs,
            "warm": warm,
        });
        println!("{doc}");
    } else {
        use alloy_sol_types::sol_data::{Array, Bytes as SolBytes, FixedBytes, Uint};
        type Answer = (
            Uint<8>,
            Uint<64>,
            SolBytes,
            Array<FixedBytes<32>>,
            Array<FixedBytes<32>>,
        );
        let encoded = Answer::abi_encode_params(&(status, gas, data, stored, warm));
        println!("0x{}", hex::encode(encoded));
    }
    Ok(())
}

/// `SLOT=VALUE`, two 32-byte hex words.
fn parse_slot(s: &str) -> Result<(B256, B256), String> {
    let (slot, value) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected SLOT=VALUE"))?;
    let word = |w: &str| {
        w.trim()
            .parse::<B256>()
            .map_err(|e| format!("{w:?}: not a 32-byte hex word: {e}"))
    };
    Ok((word(slot)?, word(value)?))
}

/// Finds the bytes of `id` among the fixture models (which the dev node preloads) or the
/// .onnx files in `dirs`, and keeps them in `store`.
fn fill_from_dirs(store: &ModelStore, id: &ModelId, dirs: &[PathBuf]) -> Result<()> {
    if let Some((_, bytes)) = crate::node::FIXTURE_MODELS
        .iter()
        .find(|(_, b)| ModelId::of(b) == *id)
    {
        store.put(bytes)?;
        return Ok(());
    }
    for dir in dirs {
        let entries = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read the models directory {}", dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_none_or(|e| e != "onnx") {
                continue;
            }
            let bytes =
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            if ModelId::of(&bytes) == *id {
                store.put(&bytes)?;
                return Ok(());
            }
        }
    }
    bail!(
        "model {id} is registered but its bytes are neither in the cache, nor a fixture model, nor in {}: deploy it \
         through MODEL_REGISTRY in the test, or pass the directory holding it",
        if dirs.is_empty() {
            "any --models directory".to_string()
        } else {
            dirs.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    )
}
