//! The validator network in commonware's deterministic runtime over simulated p2p (as
//! commonware's reference chain alto tests itself): real Prova chains (redb, revm, tract in the
//! exact profile) under real simplex + marshal, with simulated links and time. Each run is
//! reproducible from its seed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::needless_range_loop)]

use alloy_consensus::TxEip1559;
use alloy_eips::Encodable2718;
use alloy_primitives::{B256, Bytes, TxKind, U256};
use alloy_sol_types::SolCall;
use commonware_cryptography::{Signer, ed25519};
use commonware_p2p::{
    Manager,
    simulated::{self, Link, Network},
};
use commonware_runtime::{Clock, Handle, Metrics, Runner as _, deterministic};
use commonware_utils::{NZU32, ordered::Set};
use prova_chain::{Chain, DEV_ACCOUNTS, Genesis, header_inferences_root, sign_tx};
use prova_network::{Application, Channels, Engine, EngineConfig, Fault, TxRelay, channel, gossip};
use prova_precompile::{INFER_ADDRESS, abi::IProvaInference};
use prova_runtime::{Profile, Runtime};
use prova_tensor::Tensor;
use std::{
    path::{Path, PathBuf},
    sync::{Arc, OnceLock},
    time::Duration,
};

const CHAIN_ID: u64 = 31337;
const MODEL: &[u8] = include_bytes!("../../../fixtures/models/iris_logreg.onnx");

fn runtime() -> Arc<Runtime> {
    static RUNTIME: OnceLock<Arc<Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| Arc::new(Runtime::new(Profile::Exact).unwrap()))
        .clone()
}

fn genesis() -> Genesis {
    Genesis::dev(CHAIN_ID).with_model(MODEL.to_vec())
}

/// Inference transaction `j`: dev account `j % 10`, its `j / 10`-th transaction, an iris input
/// that differs per transaction.
fn infer_tx(j: u64) -> Bytes {
    let x = j as f32 * 0.1;
    let input = Tensor::from_f32(vec![1, 4], &[5.1 + x, 3.5, 1.4 + x, 0.2]).unwrap();
    let data = IProvaInference::inferCall {
        modelId: prova_model::ModelId::of(MODEL).0,
        inputs: vec![prova_precompile::abi::to_abi(&input)],
    }
    .abi_encode();
    let tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce: j / 10,
        gas_limit: 1_000_000,
        max_fee_per_gas: 10_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(INFER_ADDRESS),
        value: U256::ZERO,
        input: data.into(),
        ..Default::default()
    };
    sign_tx(tx, &DEV_ACCOUNTS[(j % 10) as usize].1)
        .unwrap()
        .encoded_2718()
        .into()
}

#[derive(Clone)]
struct Sim {
    validators: usize,
    seed: u64,
    link: Link,
    /// Inference transactions to finalize.
    txs: u64,
    /// Blocks every live validator must finalize.
    blocks: u64,
    /// Byzantine proposers.
    faults: Vec<(usize, Fault)>,
    /// A validator that crashes after `crash_at` finalized blocks and restarts `down` later.
    crash: Option<(usize, u64, Duration)>,
    /// Validators that never start (crashed for good).
    offline: Vec<usize>,
}

fn good_link() -> Link {
    Link {
        latency: Duration::from_millis(10),
        jitter: Duration::from_millis(2),
        success_rate: 1.0,
    }
}

impl Sim {
    fn new(validators: usize, seed: u64) -> Self {
        Self {
            validators,
            seed,
            link: good_link(),
            txs: 20,
            blocks: 8,
            faults: vec![],
            crash: None,
            offline: vec![],
        }
    }
}

/// Per validator and block: (hash, state root, inferences root).
type Ledger = Vec<Vec<(B256, B256, B256)>>;

struct Outcome {
    ledgers: Ledger,
    /// Inference records finalized (from the first honest validator's chain).
    inferences: u64,
    /// Blocks honest validators refused to vote for.
    refused: u64,
    /// Blocks proposed by a Byzantine validator that were finalized.
    byzantine_finalized: u64,
    audit: String,
}

struct Running {
    app: Application,
    relay: TxRelay,
    handles: Vec<Handle<()>>,
}

type Oracle = simulated::Oracle<ed25519::PublicKey, deterministic::Context>;

async fn start_validator(
    context: &deterministic::Context,
    oracle: &Oracle,
    keys: &[ed25519::PrivateKey],
    i: usize,
    dir: &Path,
    fault: Option<Fault>,
    incarnation: u32,
) -> Running {
    let key = keys[i].clone();
    let me = key.public_key();
    let control = oracle.control(me.clone());
    let quota = commonware_runtime::Quota::per_second(NZU32!(u32::MAX));
    let mut reg = Vec::new();
    for ch in [
        channel::VOTES,
        channel::CERTIFICATES,
        channel::RESOLVER,
        channel::BROADCAST,
        channel::BACKFILL,
        channel::TRANSACTIONS,
    ] {
        reg.push(control.register(ch, quota).await.unwrap());
    }
    let mut reg = reg.into_iter();
    let mut next = || reg.next().unwrap();
    let channels = Channels {
        votes: next(),
        certificates: next(),
        resolver: next(),
        broadcast: next(),
        backfill: next(),
    };
    let txs = next();
    let chain = Arc::new(Chain::open_with_runtime(dir, genesis(), runtime()).unwrap());
    let beneficiary = alloy_primitives::Address::with_last_byte(i as u8 + 1);
    let app = Application::new(chain.clone(), beneficiary)
        .unwrap()
        .with_fault(fault)
        .with_verify_threads(2);
    let validators: Vec<_> = keys.iter().map(|k| k.public_key()).collect();
    let label = format!("validator_{i}");
    // Metrics are per incarnation; storage partitions survive a restart.
    let ctx = context.with_label(&format!("{label}_{incarnation}"));
    let mut cfg = EngineConfig::new(
        key,
        validators,
        control.clone(),
        oracle.manager(),
        label.clone(),
    );
    cfg.freezer_table_size = 2u32.pow(10);
    let engine = Engine::new(ctx.with_label("engine"), app.clone(), cfg)
        .await
        .unwrap();
    let engine = engine.start(channels);
    let (relay, gossip) = gossip::start(ctx.with_label("gossip"), chain, txs);
    Running {
        app,
        relay,
        handles: vec![engine, gossip],
    }
}

fn simulate(sim: Sim, dirs: &[PathBuf]) -> Outcome {
    let cfg = deterministic::Config::default()
        .with_seed(sim.seed)
        .with_timeout(Some(Duration::from_secs(600)));
    let runner = deterministic::Runner::new(cfg);
    let dirs = dirs.to_vec();
    runner.start(|context| async move {
        let (network, oracle) = Network::new(
            context.with_label("network"),
            simulated::Config {
                max_size: 16 * 1024 * 1024,
                disconnect_on_block: true,
                tracked_peer_sets: Some(1),
            },
        );
        network.start();
        let keys: Vec<_> = (0..sim.validators as u64)
            .map(ed25519::PrivateKey::from_seed)
            .collect();
        let publics: Vec<_> = keys.iter().map(|k| k.public_key()).collect();
        oracle
            .manager()
            .track(0, Set::from_iter_dedup(publics.clone()))
            .await;
        let link_all = |oracle: Oracle, who: Option<usize>, link: Link| async move {
            for (a, pa) in publics.iter().enumerate() {
                for (b, pb) in publics.iter().enumerate() {
                    if a == b || who.is_some_and(|w| w != a && w != b) {
                        continue;
                    }
                    let _ = oracle.add_link(pa.clone(), pb.clone(), link.clone()).await;
                }
            }
        };
        link_all(oracle.clone(), None, sim.link.clone()).await;

        let fault_of = |i: usize| sim.faults.iter().find(|(v, _)| *v == i).map(|(_, f)| *f);
        let mut running: Vec<Option<Running>> = Vec::new();
        for i in 0..sim.validators {
            if sim.offline.contains(&i) {
                running.push(None);
                continue;
            }
            running.push(Some(
                start_validator(&context, &oracle, &keys, i, &dirs[i], fault_of(i), 0).await,
            ));
        }
        let honest: Vec<usize> = (0..sim.validators)
            .filter(|i| fault_of(*i).is_none() && !sim.offline.contains(i))
            .collect();

        // Transactions go to the validators in turn (honest ones: a Byzantine validator could
        // drop them), each relayed to all.
        let mut sent = 0u64;
        let mut crashed_at: Option<std::time::SystemTime> = None;
        loop {
            if sent < sim.txs {
                let to = honest[(sent as usize) % honest.len()];
                if let Some(v) = &running[to] {
                    v.relay.submit(&infer_tx(sent)).unwrap();
                    sent += 1;
                }
            }
            if let Some((who, at, down)) = sim.crash {
                match (&running[who], crashed_at) {
                    (Some(v), None) if v.app.chain().block_number() >= at => {
                        let v = running[who].take().unwrap();
                        for h in v.handles {
                            h.abort();
                        }
                        drop(v.app);
                        drop(v.relay);
                        crashed_at = Some(context.current());
                    }
                    (None, Some(t))
                        if context.current().duration_since(t).unwrap_or_default() >= down =>
                    {
                        // Restarted from its data dir (redb) and its consensus storage.
                        running[who] = Some(
                            start_validator(&context, &oracle, &keys, who, &dirs[who], None, 1)
                                .await,
                        );
                    }
                    _ => {}
                }
            }
            let live: Vec<&Running> = running.iter().flatten().collect();
            let all_done = sent == sim.txs
                && sim
                    .crash
                    .is_none_or(|(who, _, _)| running[who].is_some() && crashed_at.is_some())
                && honest.iter().all(|i| {
                    running[*i].as_ref().is_some_and(|v| {
                        let chain = v.app.chain();
                        chain.block_number() >= sim.blocks && chain.pool_content().0.is_empty()
                    })
                });
            if all_done && live.len() + sim.offline.len() == sim.validators {
                break;
            }
            context.sleep(Duration::from_millis(250)).await;
        }

        // Every honest validator agrees on every block up to the lowest finalized height.
        let upto = honest
            .iter()
            .map(|i| running[*i].as_ref().unwrap().app.chain().block_number())
            .min()
            .unwrap();
        let mut ledgers = Vec::new();
        let mut inferences = 0;
        let mut byzantine_finalized = 0;
        for i in &honest {
            let chain = running[*i].as_ref().unwrap().app.chain().clone();
            let mut ledger = Vec::new();
            for n in 1..=upto {
                let b = chain.block_by_number(n).unwrap().unwrap();
                let header = chain.store().header(n).unwrap().unwrap();
                ledger.push((
                    b.hash,
                    header.state_root,
                    header_inferences_root(&header).unwrap(),
                ));
                if *i == honest[0] {
                    let records = chain.witness(n).unwrap().unwrap().len() as u64;
                    inferences += records;
                    let tampered = sim.faults.iter().any(|(v, f)| {
                        alloy_primitives::Address::with_last_byte(*v as u8 + 1)
                            == header.beneficiary
                            && (*f == Fault::WrongInferencesRoot || records > 0)
                    });
                    if tampered {
                        byzantine_finalized += 1;
                    }
                }
            }
            ledgers.push(ledger);
        }
        let refused = honest
            .iter()
            .map(|i| running[*i].as_ref().unwrap().app.finalized().refused)
            .sum();
        Outcome {
            ledgers,
            inferences,
            refused,
            byzantine_finalized,
            audit: context.auditor().state(),
        }
    })
}

fn dirs(n: usize) -> (tempfile::TempDir, Vec<PathBuf>) {
    let root = tempfile::tempdir().unwrap();
    let dirs = (0..n).map(|i| root.path().join(format!("v{i}"))).collect();
    (root, dirs)
}

fn assert_agree(out: &Outcome) {
    let first = &out.ledgers[0];
    assert!(!first.is_empty());
    for (i, l) in out.ledgers.iter().enumerate() {
        assert_eq!(
            &l[..first.len().min(l.len())],
            &first[..first.len().min(l.len())],
            "validator {i} disagrees"
        );
    }
}

fn run(sim: Sim) -> Outcome {
    let (_root, dirs) = dirs(sim.validators);
    let out = simulate(sim.clone(), &dirs);
    assert_agree(&out);
    eprintln!(
        "{} validators, seed {}: {} blocks agreed by {} honest validators, {} inferences, {} refused, {} byzantine finalized",
        sim.validators,
        sim.seed,
        out.ledgers[0].len(),
        out.ledgers.len(),
        out.inferences,
        out.refused,
        out.byzantine_finalized
    );
    assert_eq!(
        out.inferences, sim.txs,
        "every inference transaction is finalized once"
    );
    out
}

#[test]
fn four_validators_finalize_inference_blocks_and_agree_and_a_seed_reproduces_the_run() {
    let a = run(Sim::new(4, 7));
    let b = run(Sim::new(4, 7));
    assert_eq!(a.ledgers, b.ledgers);
    assert_eq!(a.audit, b.audit, "same seed, same run");
    assert_eq!(a.refused, 0);
}

#[test]
fn seven_validators_over_lossy_slow_links() {
    let mut sim = Sim::new(7, 3);
    sim.link = Link {
        latency: Duration::from_millis(200),
        jitter: Duration::from_millis(100),
        success_rate: 0.8,
    };
    sim.blocks = 6;
    run(sim);
}

#[test]
fn a_byzantine_proposer_with_a_wrong_inference_output_is_never_finalized() {
    let mut sim = Sim::new(4, 11);
    sim.faults = vec![(1, Fault::WrongOutput)];
    sim.txs = 40;
    sim.blocks = 12;
    let out = run(sim);
    assert_eq!(out.byzantine_finalized, 0);
    assert!(out.refused > 0, "honest validators saw and refused the lie");
}

#[test]
fn a_byzantine_proposer_with_a_wrong_witness_root_is_never_finalized() {
    let mut sim = Sim::new(4, 12);
    sim.faults = vec![(2, Fault::WrongInferencesRoot)];
    sim.blocks = 10;
    let out = run(sim);
    assert_eq!(out.byzantine_finalized, 0);
}

#[test]
fn f_of_3f_plus_1_offline_the_chain_goes_on() {
    let mut sim = Sim::new(4, 5);
    sim.offline = vec![3];
    run(sim);
}

#[test]
fn seven_validators_with_two_byzantine_proposers() {
    let mut sim = Sim::new(7, 9);
    sim.faults = vec![(0, Fault::WrongOutput), (4, Fault::WrongInferencesRoot)];
    sim.txs = 30;
    sim.blocks = 12;
    let out = run(sim);
    assert_eq!(out.byzantine_finalized, 0);
}

#[test]
fn a_crashed_validator_restarts_and_catches_up() {
    let mut sim = Sim::new(4, 21);
    sim.crash = Some((2, 2, Duration::from_secs(8)));
    sim.txs = 30;
    sim.blocks = 14;
    run(sim);
}
