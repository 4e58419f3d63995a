//! `prova node --dev`: a local dev chain with the fixture models preloaded, served over
//! JSON-RPC.

use anyhow::{Context, Result, bail};
use clap::Args;
use prova_chain::{Chain, DEV_ACCOUNTS, Genesis};
use prova_rpc::{Mining, RpcConfig};
use std::{net::SocketAddr, path::PathBuf, time::Duration};

/// The fixture models, embedded so the node runs from any directory: `(name, bytes)`.
pub const FIXTURE_MODELS: [(&str, &[u8]); 16] = [
    (
        "cancer_forest",
        include_bytes!("../../../fixtures/models/cancer_forest.onnx"),
    ),
    (
        "cancer_scaled_logreg",
        include_bytes!("../../../fixtures/models/cancer_scaled_logreg.onnx"),
    ),
    (
        "diabetes_gbr",
        include_bytes!("../../../fixtures/models/diabetes_gbr.onnx"),
    ),
    (
        "diabetes_linear",
        include_bytes!("../../../fixtures/models/diabetes_linear.onnx"),
    ),
    (
        "digits_cnn",
        include_bytes!("../../../fixtures/models/digits_cnn.onnx"),
    ),
    (
        "digits_cnn_int8",
        include_bytes!("../../../fixtures/models/digits_cnn_int8.onnx"),
    ),
    (
        "digits_gru",
        include_bytes!("../../../fixtures/models/digits_gru.onnx"),
    ),
    (
        "digits_lstm",
        include_bytes!("../../../fixtures/models/digits_lstm.onnx"),
    ),
    (
        "digits_mlp",
        include_bytes!("../../../fixtures/models/digits_mlp.onnx"),
    ),
    (
        "digits_mlp_dyn",
        include_bytes!("../../../fixtures/models/digits_mlp_dyn.onnx"),
    ),
    (
        "digits_mlp_int8",
        include_bytes!("../../../fixtures/models/digits_mlp_int8.onnx"),
    ),
    (
        "digits_mobilenet",
        include_bytes!("../../../fixtures/models/digits_mobilenet.onnx"),
    ),
    (
        "digits_transformer",
        include_bytes!("../../../fixtures/models/digits_transformer.onnx"),
    ),
    (
        "digits_transformer_dyn",
        include_bytes!("../../../fixtures/models/digits_transformer_dyn.onnx"),
    ),
    (
        "iris_logreg",
        include_bytes!("../../../fixtures/models/iris_logreg.onnx"),
    ),
    // The language model (docs/generation.md): run by `generate`, not `infer`.
    (
        "char_lm",
        include_bytes!("../../../fixtures/lm/char_lm.onnx"),
    ),
];

/// The dev chain's genesis for `chain_id`: the dev accounts and the fixture models.
pub(crate) fn dev_genesis(chain_id: u64) -> Genesis {
    FIXTURE_MODELS
        .iter()
        .fold(Genesis::dev(chain_id), |g, (_, bytes)| {
            g.with_model(bytes.to_vec())
        })
}

#[derive(Args)]
pub struct NodeArgs {
    /// Dev mode: prefunded test accounts, fixture models, automine.
    #[arg(long, conflicts_with = "validator")]
    dev: bool,
    /// A validator of a network (docs/network.md): blocks by BFT consensus with the validators
    /// of --peers; needs --key, --peers and --datadir.
    #[arg(long)]
    pub(crate) validator: bool,
    /// The validator's key file (`prova keygen --out FILE`).
    #[arg(long, value_name = "FILE", requires = "validator")]
    pub(crate) key: Option<PathBuf>,
    /// The peers file: every validator's public key and p2p address.
    #[arg(long, value_name = "FILE", requires = "validator")]
    pub(crate) peers: Option<PathBuf>,
    /// The network's genesis (JSON, as `prova_getGenesis` returns it); default: the dev
    /// genesis (dev accounts, fixture models) for --chain-id.
    #[arg(long, value_name = "FILE", requires = "validator")]
    pub(crate) genesis: Option<PathBuf>,
    /// With --validator: print one JSON object on stdout once serving.
    #[arg(long, requires = "validator")]
    pub(crate) json: bool,
    /// Data directory (default: $XDG_DATA_HOME/prova/dev or ~/.local/share/prova/dev).
    #[arg(long, conflicts_with = "tmp")]
    pub(crate) datadir: Option<PathBuf>,
    /// Use a fresh temporary data directory, deleted on exit.
    #[arg(long)]
    tmp: bool,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) host: std::net::IpAddr,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8545)]
    pub(crate) port: u16,
    /// Mine a block every SECS seconds from pending transactions instead of one per transaction.
    #[arg(long, value_name = "SECS")]
    block_time: Option<u64>,
    /// Chain id.
    #[arg(long, default_value_t = prova_chain::DEV_CHAIN_ID)]
    pub(crate) chain_id: u64,
    /// Keep the states of the last N blocks in memory, for calls and reads at a past block and
    /// evm_revert (each costs a copy of the state).
    #[arg(long, value_name = "N", default_value_t = prova_chain::DEFAULT_HISTORY)]
    history: usize,
}

fn default_datadir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("prova").join("dev"));
    }
    let home = std::env::var_os("HOME")
        .filter(|d| !d.is_empty())
        .context("neither XDG_DATA_HOME nor HOME is set: pass --datadir")?;
    Ok(PathBuf::from(home).join(".local/share/prova/dev"))
}

pub fn run(args: NodeArgs) -> Result<()> {
    if args.validator {
        return crate::network::validator_node(&args);
    }
    if !args.dev {
        bail!(
            "choose a mode: `prova node --dev` (a local dev chain) or `prova node --validator` \
             (a validator of a network; `prova devnet` starts one on loopback)"
        );
    }
    // Mined blocks and dropped transactions are logged on stderr (`RUST_LOG` filters).
    crate::util::init_logs();
    let mining = match args.block_time {
        None => Mining::Auto,
        Some(0) => bail!("--block-time must be at least 1 second"),
        Some(s) => Mining::Interval(Duration::from_secs(s)),
    };
    let tmp;
    let datadir = if args.tmp {
        tmp = tempfile::Builder::new()
            .prefix("prova-dev-")
            .tempdir()
            .context("cannot create a temporary data dir")?;
        tmp.path().to_path_buf()
    } else {
        match args.datadir {
            Some(d) => d,
            None => default_datadir()?,
        }
    };
    let chain = Chain::open(&datadir, dev_genesis(args.chain_id))
        .with_context(|| format!("cannot open the chain in {}", datadir.display()))?;
    chain.set_history(args.history);
    let head = chain.block_number();
    let addr = SocketAddr::new(args.host, args.port);
    let chain_id = chain.chain_id();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let server = prova_rpc::start(
            std::sync::Arc::new(chain),
            RpcConfig {
                addr,
                mining,
                relay: None,
            },
        )
        .await?;
        println!("prova dev node (chain id {chain_id}, head block {head})");
        println!("data dir   {}", datadir.display());
        println!();
        println!("Accounts (10,000 ETH each at genesis)");
        for (i, (address, _)) in DEV_ACCOUNTS.iter().enumerate() {
            println!("({i}) {address}");
        }
        println!();
        println!("Private keys");
        for (i, (_, key)) in DEV_ACCOUNTS.iter().enumerate() {
            println!("({i}) {key}");
        }
        println!();
        println!("Models");
        for (name, bytes) in FIXTURE_MODELS {
            println!("{name:<22} {}", prova_model::ModelId::of(bytes));
        }
        println!();
        match mining {
            Mining::Auto => println!("Mining     automine (a block per transaction)"),
            Mining::Interval(d) => println!("Mining     a block every {}s", d.as_secs()),
            Mining::ReadOnly | Mining::Consensus => println!("Mining     none (read-only)"),
        }
        println!("Listening on {}", server.url());
        wait_for_signal().await?;
        eprintln!("shutting down");
        server.stop().await;
        anyhow::Ok(())
    })?;
    Ok(())
}

#[cfg(unix)]
pub(crate) async fn wait_for_signal() -> Result<()> {
    use std::{future::Future, task::Poll};
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    std::future::poll_fn(|cx| {
        if let Poll::Ready(r) = ctrl_c.as_mut().poll(cx) {
            return Poll::Ready(r.context("cannot handle SIGINT"));
        }
        if term.poll_recv(cx).is_ready() {
            return Poll::Ready(Ok(()));
        }
        Poll::Pending
    })
    .await
}

#[cfg(not(unix))]
pub(crate) async fn wait_for_signal() -> Result<()> {
    tokio::signal::ctrl_c()
        .await
        .context("cannot handle Ctrl-C")
}
