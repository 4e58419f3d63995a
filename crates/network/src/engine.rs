//! [`Engine`]: one validator's consensus stack, on any commonware runtime.
//!
//! - **simplex** (commonware-consensus) orders blocks: a leader per view (round robin over
//!   the validator set), notarization and finalization by 2f+1 of 3f+1 ed25519 votes.
//! - **marshal** (standard variant, inline verification) stands between simplex and the
//!   [`Application`]: it broadcasts a proposer's whole block, hands the application a block
//!   and its ancestry to verify before the validator votes, stores blocks and finalization
//!   certificates in commonware archives, backfills what a validator missed from its peers, and
//!   delivers finalized blocks to the application in height order, at least once.
//! - **buffered broadcast** (commonware-broadcast) carries blocks between validators.
//!
//! Six p2p channels: votes, certificates, consensus resolver, block broadcast, marshal
//! backfill, and pooled transactions (see [`Channels`]).

use crate::{Application, Block, Scheme, application::PublicKey};
use commonware_broadcast::buffered;
use commonware_consensus::{
    marshal::{
        self,
        core::{Actor as MarshalActor, Mailbox as MarshalMailbox},
        standard::{Inline, Standard},
    },
    simplex::{self, elector::RoundRobin},
    types::{Epoch, FixedEpocher, ViewDelta},
};
use commonware_cryptography::{ed25519, sha256::Digest};
use commonware_p2p::{Blocker, Provider, Receiver, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::{
    BufferPooler, Clock, ContextCell, Handle, Metrics, Spawner, Storage, buffer::paged::CacheRef,
    spawn_cell,
};
use commonware_storage::archive::immutable;
use commonware_utils::{NZU16, NZU64, NZUsize, ordered::Set};
use futures::future::try_join_all;
use rand::{CryptoRng, Rng};
use std::{num::NonZero, time::Duration};
use tracing::error;

/// Namespace of every consensus signature (votes, certificates): a signature made for Prova
/// cannot be replayed in another protocol.
pub const NAMESPACE: &[u8] = b"_PROVA";
/// The one epoch: the validator set is fixed at genesis (no reconfiguration yet).
const EPOCH: Epoch = Epoch::zero();
/// Epochs never end.
const EPOCH_LENGTH: NonZero<u64> = NZU64!(u64::MAX);

const PRUNABLE_ITEMS_PER_SECTION: NonZero<u64> = NZU64!(4_096);
const IMMUTABLE_ITEMS_PER_SECTION: NonZero<u64> = NZU64!(262_144);
const FREEZER_RESIZE_FREQUENCY: u8 = 4;
const FREEZER_RESIZE_CHUNK: u32 = 2u32.pow(16);
const FREEZER_JOURNAL_TARGET: u64 = 1024 * 1024 * 1024;
const REPLAY_BUFFER: NonZero<usize> = NZUsize!(8 * 1024 * 1024);
const WRITE_BUFFER: NonZero<usize> = NZUsize!(1024 * 1024);
const PAGE_SIZE: NonZero<u16> = NZU16!(4_096);
const PAGE_CACHE: NonZero<usize> = NZUsize!(4_096);
const MAX_REPAIR: NonZero<usize> = NZUsize!(20);
const MAX_PENDING_ACKS: NonZero<usize> = NZUsize!(16);

/// How one validator's engine runs.
#[derive(Clone)]
pub struct EngineConfig<B, P> {
    /// This validator's signing key.
    pub signer: ed25519::PrivateKey,
    /// The validator set (every validator's public key), fixed at genesis.
    pub validators: Vec<PublicKey>,
    /// Blocks peers that misbehave (the p2p oracle).
    pub blocker: B,
    /// Tells which peers exist (the p2p oracle).
    pub provider: P,
    /// Prefix of this validator's storage partitions.
    pub partition: String,
    /// Mailbox sizes.
    pub mailbox_size: usize,
    /// How long a leader has to propose before validators move on.
    pub leader_timeout: Duration,
    /// How long to wait for a notarized block's certification.
    pub certification_timeout: Duration,
    /// How often a stuck view's timeout is re-broadcast.
    pub timeout_retry: Duration,
    /// How long a consensus fetch may take.
    pub fetch_timeout: Duration,
    /// Views kept after finalization (for late validators).
    pub activity_timeout: ViewDelta,
    /// Views a leader may be inactive before it is skipped.
    pub skip_timeout: ViewDelta,
    /// Initial size of the archives' freezer tables (a power of two).
    pub freezer_table_size: u32,
}

impl<B, P> EngineConfig<B, P> {
    /// Timeouts for a network whose blocks come every second: leaders have two seconds to
    /// propose (a proposal waits for the next whole second).
    pub fn new(
        signer: ed25519::PrivateKey,
        validators: Vec<PublicKey>,
        blocker: B,
        provider: P,
        partition: String,
    ) -> Self {
        Self {
            signer,
            validators,
            blocker,
            provider,
            partition,
            mailbox_size: 1024,
            leader_timeout: Duration::from_secs(2),
            certification_timeout: Duration::from_secs(3),
            timeout_retry: Duration::from_secs(10),
            fetch_timeout: Duration::from_secs(2),
            activity_timeout: ViewDelta::new(256),
            skip_timeout: ViewDelta::new(32),
            freezer_table_size: 2u32.pow(16),
        }
    }
}

/// The p2p channels of one validator, as `(sender, receiver)` pairs.
pub struct Channels<S, R> {
    /// Votes.
    pub votes: (S, R),
    /// Certificates.
    pub certificates: (S, R),
    /// Consensus resolver (missing certificates).
    pub resolver: (S, R),
    /// Block broadcast.
    pub broadcast: (S, R),
    /// Marshal backfill (missing blocks and finalizations).
    pub backfill: (S, R),
}

/// Channel numbers, the same on every validator.
pub mod channel {
    /// Votes.
    pub const VOTES: u64 = 0;
    /// Certificates.
    pub const CERTIFICATES: u64 = 1;
    /// Consensus resolver.
    pub const RESOLVER: u64 = 2;
    /// Block broadcast.
    pub const BROADCAST: u64 = 3;
    /// Marshal backfill.
    pub const BACKFILL: u64 = 4;
    /// Pooled transactions.
    pub const TRANSACTIONS: u64 = 5;
}

type Marshaled<E> = Inline<E, Scheme, Application, Block, FixedEpocher>;
type Archive<E, V> = immutable::Archive<E, Digest, V>;
type Finalization = simplex::types::Finalization<Scheme, Digest>;

/// What the engine needs of a commonware runtime (tokio's and the deterministic one both give
/// it): buffers, time, randomness, tasks, storage and metrics.
pub trait EngineRuntime:
    BufferPooler + Clock + governor::clock::Clock + Rng + CryptoRng + Spawner + Storage + Metrics
{
}

impl<E> EngineRuntime for E where
    E: BufferPooler
        + Clock
        + governor::clock::Clock
        + Rng
        + CryptoRng
        + Spawner
        + Storage
        + Metrics
{
}

/// One validator's consensus engine (see the module docs).
pub struct Engine<E, B, P>
where
    E: EngineRuntime,
    B: Blocker<PublicKey = PublicKey>,
    P: Provider<PublicKey = PublicKey>,
{
    context: ContextCell<E>,
    me: PublicKey,
    mailbox_size: usize,
    provider: P,
    blocker: B,
    buffer: buffered::Engine<E, PublicKey, Block, P>,
    buffer_mailbox: buffered::Mailbox<PublicKey, Block>,
    #[allow(clippy::type_complexity)]
    marshal: MarshalActor<
        E,
        Standard<Block>,
        commonware_cryptography::certificate::ConstantProvider<Scheme, Epoch>,
        Archive<E, Finalization>,
        Archive<E, Block>,
        FixedEpocher,
        Sequential,
    >,
    marshaled: Marshaled<E>,
    #[allow(clippy::type_complexity)]
    consensus: simplex::Engine<
        E,
        Scheme,
        RoundRobin,
        B,
        Digest,
        Marshaled<E>,
        Marshaled<E>,
        MarshalMailbox<Scheme, Standard<Block>>,
        Sequential,
    >,
}

fn archive_config<C>(
    partition: &str,
    name: &str,
    table_size: u32,
    page_cache: &CacheRef,
    codec_config: C,
) -> immutable::Config<C> {
    let p = |part: &str| format!("{partition}-{name}-{part}");
    immutable::Config {
        metadata_partition: p("metadata"),
        freezer_table_partition: p("freezer-table"),
        freezer_table_initial_size: table_size,
        freezer_table_resize_frequency: FREEZER_RESIZE_FREQUENCY,
        freezer_table_resize_chunk_size: FREEZER_RESIZE_CHUNK,
        freezer_key_partition: p("freezer-key"),
        freezer_key_page_cache: page_cache.clone(),
        freezer_key_write_buffer: WRITE_BUFFER,
        freezer_value_partition: p("freezer-value"),
        freezer_value_write_buffer: WRITE_BUFFER,
        freezer_value_target_size: FREEZER_JOURNAL_TARGET,
        freezer_value_compression: None,
        ordinal_partition: p("ordinal"),
        ordinal_write_buffer: WRITE_BUFFER,
        items_per_section: IMMUTABLE_ITEMS_PER_SECTION,
        codec_config,
        replay_buffer: REPLAY_BUFFER,
    }
}

/// Why an engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// This validator's key is not in the validator set.
    #[error("this validator's key {0} is not in the validator set")]
    NotAValidator(PublicKey),
    /// A consensus archive could not be opened.
    #[error("cannot open the {0} archive: {1}")]
    Archive(&'static str, String),
}

impl<E, B, P> Engine<E, B, P>
where
    E: EngineRuntime,
    B: Blocker<PublicKey = PublicKey>,
    P: Provider<PublicKey = PublicKey>,
{
    /// Opens (or recovers) the engine's storage and wires its actors.
    pub async fn new(
        context: E,
        app: Application,
        cfg: EngineConfig<B, P>,
    ) -> Result<Self, EngineError> {
        use commonware_cryptography::{Signer, certificate::Scheme as _};
        let me = cfg.signer.public_key();
        let participants = Set::from_iter_dedup(cfg.validators.iter().cloned());
        let scheme = Scheme::signer(NAMESPACE, participants, cfg.signer.clone())
            .ok_or_else(|| EngineError::NotAValidator(me.clone()))?;
        let (buffer, buffer_mailbox) = buffered::Engine::new(
            context.with_label("buffer"),
            buffered::Config {
                public_key: me.clone(),
                mailbox_size: cfg.mailbox_size,
                deque_size: 10,
                priority: true,
                codec_config: (),
                peer_provider: cfg.provider.clone(),
            },
        );
        let page_cache = CacheRef::from_pooler(&context, PAGE_SIZE, PAGE_CACHE);
        let finalizations = immutable::Archive::init(
            context.with_label("finalizations"),
            archive_config(
                &cfg.partition,
                "finalizations",
                cfg.freezer_table_size,
                &page_cache,
                Scheme::certificate_codec_config_unbounded(),
            ),
        )
        .await
        .map_err(|e| EngineError::Archive("finalizations", e.to_string()))?;
        let blocks = immutable::Archive::init(
            context.with_label("blocks"),
            archive_config(
                &cfg.partition,
                "blocks",
                cfg.freezer_table_size,
                &page_cache,
                (),
            ),
        )
        .await
        .map_err(|e| EngineError::Archive("blocks", e.to_string()))?;
        let epocher = FixedEpocher::new(EPOCH_LENGTH);
        let (marshal, marshal_mailbox, _) = MarshalActor::init(
            context.with_label("marshal"),
            finalizations,
            blocks,
            marshal::Config {
                provider: commonware_cryptography::certificate::ConstantProvider::new(
                    scheme.clone(),
                ),
                epocher: epocher.clone(),
                partition_prefix: cfg.partition.clone(),
                mailbox_size: cfg.mailbox_size,
                view_retention_timeout: ViewDelta::new(
                    cfg.activity_timeout.get().saturating_mul(10),
                ),
                prunable_items_per_section: PRUNABLE_ITEMS_PER_SECTION,
                replay_buffer: REPLAY_BUFFER,
                key_write_buffer: WRITE_BUFFER,
                value_write_buffer: WRITE_BUFFER,
                block_codec_config: (),
                max_repair: MAX_REPAIR,
                max_pending_acks: MAX_PENDING_ACKS,
                page_cache: page_cache.clone(),
                strategy: Sequential,
            },
        )
        .await;
        let marshaled = Inline::new(
            context.with_label("marshaled"),
            app,
            marshal_mailbox.clone(),
            epocher,
        );
        let consensus = simplex::Engine::new(
            context.with_label("consensus"),
            simplex::Config {
                epoch: EPOCH,
                scheme,
                automaton: marshaled.clone(),
                relay: marshaled.clone(),
                reporter: marshal_mailbox,
                partition: format!("{}-consensus", cfg.partition),
                mailbox_size: cfg.mailbox_size,
                leader_timeout: cfg.leader_timeout,
                certification_timeout: cfg.certification_timeout,
                timeout_retry: cfg.timeout_retry,
                fetch_timeout: cfg.fetch_timeout,
                activity_timeout: cfg.activity_timeout,
                skip_timeout: cfg.skip_timeout,
                fetch_concurrent: 4,
                replay_buffer: REPLAY_BUFFER,
                write_buffer: WRITE_BUFFER,
                blocker: cfg.blocker.clone(),
                page_cache,
                elector: RoundRobin::default(),
                strategy: Sequential,
            },
        );
        Ok(Self {
            context: ContextCell::new(context),
            me,
            mailbox_size: cfg.mailbox_size,
            provider: cfg.provider,
            blocker: cfg.blocker,
            buffer,
            buffer_mailbox,
            marshal,
            marshaled,
            consensus,
        })
    }

    /// Starts every actor on `channels`; the handle ends when one of them stops.
    pub fn start<S, R>(mut self, channels: Channels<S, R>) -> Handle<()>
    where
        S: Sender<PublicKey = PublicKey>,
        R: Receiver<PublicKey = PublicKey>,
    {
        spawn_cell!(self.context, self.run(channels).await)
    }

    async fn run<S, R>(self, channels: Channels<S, R>)
    where
        S: Sender<PublicKey = PublicKey>,
        R: Receiver<PublicKey = PublicKey>,
    {
        let context = self.context.into_present();
        let backfill = marshal::resolver::p2p::init(
            &context.with_label("backfill"),
            marshal::resolver::p2p::Config {
                public_key: self.me.clone(),
                peer_provider: self.provider.clone(),
                blocker: self.blocker.clone(),
                mailbox_size: self.mailbox_size,
                initial: Duration::from_secs(1),
                timeout: Duration::from_secs(2),
                fetch_retry_timeout: Duration::from_millis(100),
                priority_requests: false,
                priority_responses: false,
            },
            channels.backfill,
        );
        let buffer = self.buffer.start(channels.broadcast);
        // The application starts before consensus, so that consensus' replayed events are
        // handled on restart.
        let marshal = self
            .marshal
            .start(self.marshaled, self.buffer_mailbox, backfill);
        let consensus =
            self.consensus
                .start(channels.votes, channels.certificates, channels.resolver);
        if let Err(e) = try_join_all(vec![buffer, marshal, consensus]).await {
            error!("consensus engine stopped: {e:?}");
        }
    }
}
