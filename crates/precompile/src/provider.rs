//! [`ProvaPrecompiles`]: Ethereum's precompiles plus INFER and MODEL_REGISTRY, as a revm
//! [`PrecompileProvider`].

use crate::{
    InferenceRecord, ModelBytes, ProvaConfig, ProvaError,
    host::{Call, RevmHost},
    infer, registry,
};
use prova_model::{ModelId, ModelInfo};
use prova_runtime::{CompiledModel, Runtime};
use prova_tensor::Tensor;
use revm::{
    context::Cfg,
    context_interface::{ContextTr, JournalTr, LocalContextTr},
    handler::{EthPrecompiles, PrecompileProvider, precompile_output_to_interpreter_result},
    interpreter::{CallInputs, InterpreterResult},
    precompile::{PrecompileHalt, PrecompileOutput},
    primitives::{Address, AddressSet, B256, Bytes, hardfork::SpecId},
};
use std::{
    collections::{BTreeMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard},
};

/// How a Prova precompile call ended, before it becomes revm's [`PrecompileOutput`].
#[derive(Debug)]
pub(crate) enum Exit {
    /// Success: gas used, return data.
    Return(u64, Bytes),
    /// A deterministic failure: gas used, ABI-encoded custom error.
    Revert(u64, Bytes),
    /// Out of gas before any work: all gas is consumed.
    OutOfGas,
    /// Any other exceptional halt (all gas consumed, no data).
    Halt(&'static str),
}

impl Exit {
    pub(crate) fn into_output(self, reservoir: u64) -> PrecompileOutput {
        match self {
            Self::Return(gas, bytes) => PrecompileOutput::new(gas, bytes, reservoir),
            Self::Revert(gas, bytes) => PrecompileOutput::revert(gas, bytes, reservoir),
            Self::OutOfGas => PrecompileOutput::halt(PrecompileHalt::OutOfGas, reservoir),
            Self::Halt(why) => PrecompileOutput::halt(PrecompileHalt::other_static(why), reservoir),
        }
    }
}

/// The node-local side of Prova that every handle made from one [`ProvaPrecompiles`] shares
/// ([`ProvaPrecompiles::handle`], and with the `alloy-evm` feature the `DynPrecompile`s
/// installed from it): the runtime, the model bytes and the facts of every model seen. The
/// configuration, the recording switch and the inference journal are per handle, so that
/// EVMs on many threads (a block being built, `eth_call`s) never see each other's records.
#[derive(Debug, Clone)]
pub(crate) struct Core {
    pub(crate) config: ProvaConfig,
    pub(crate) runtime: Arc<Runtime>,
    recording: bool,
    shared: Arc<Shared>,
    journal: Arc<Mutex<Journal>>,
}

/// What all handles share. Each lock is held for a map operation only, never across a model
/// run or a compilation; a poisoned lock (a panic elsewhere while it was held) leaves the maps
/// consistent, so it is taken as is.
#[derive(Debug, Default)]
struct Shared {
    models: RwLock<ModelBytes>,
    infos: RwLock<BTreeMap<ModelId, Arc<ModelInfo>>>,
}

/// One handle's inference journal.
#[derive(Debug, Default)]
struct Journal {
    records: Vec<InferenceRecord>,
    /// Claimed outputs still to be consumed, when fed a witness.
    feed: Option<VecDeque<InferenceRecord>>,
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}

impl Core {
    fn journal(&self) -> MutexGuard<'_, Journal> {
        self.journal.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Another handle on the same shared state, with its own empty journal.
    fn handle(&self) -> Self {
        Self {
            journal: Arc::default(),
            recording: true,
            ..self.clone()
        }
    }

    /// Appends `record` to the journal if this handle records.
    pub(crate) fn record(&self, record: InferenceRecord) {
        if self.recording {
            self.journal().records.push(record);
        }
    }

    /// With a witness fed: `Some` of the next claimed output (`None` once the feed is used
    /// up), consumed. Without one: `None`. Executions that are not recorded consume nothing.
    pub(crate) fn next_witness(&self) -> Option<Option<InferenceRecord>> {
        if !self.recording {
            return None;
        }
        self.journal().feed.as_mut().map(VecDeque::pop_front)
    }

    /// Whether this node has admitted `id` already (its bytes are kept and its facts known).
    pub(crate) fn knows(&self, id: &ModelId) -> bool {
        read(&self.shared.infos).contains_key(id)
    }

    /// Keeps the bytes and facts of a model the runtime has just admitted and compiled.
    /// (`info.id` is their keccak256, computed by admission: not hashed again.)
    pub(crate) fn admit(&self, bytes: &[u8], info: &ModelInfo) -> Result<ModelId, ProvaError> {
        write(&self.shared.models).put_as(&info.id, bytes)?;
        write(&self.shared.infos).insert(info.id, Arc::new(info.clone()));
        Ok(info.id)
    }

    /// Keeps an upload chunk's bytes, returning their keccak256.
    pub(crate) fn put_chunk(&self, bytes: &[u8]) -> Result<B256, ProvaError> {
        write(&self.shared.models).put_chunk(bytes)
    }

    /// The upload chunk whose keccak256 is `hash`, verified if `verify` (a local fault if this
    /// node lacks it, or if a verified chunk is corrupt).
    pub(crate) fn chunk(&self, hash: &B256, verify: bool) -> Result<Arc<[u8]>, ProvaError> {
        let models = read(&self.shared.models);
        if verify {
            models.get_chunk(hash)
        } else {
            models.read_chunk(hash)
        }
    }

    /// Facts of `id` (a model registered on chain), loading its bytes if this node has not
    /// seen it yet. Never runs on a model that is not registered.
    pub(crate) fn info(&self, id: &ModelId) -> Result<Arc<ModelInfo>, ProvaError> {
        if let Some(info) = read(&self.shared.infos).get(id) {
            return Ok(info.clone());
        }
        let model = self.compiled(id)?;
        let info = Arc::new(model.info.clone());
        write(&self.shared.infos).insert(*id, info.clone());
        Ok(info)
    }

    /// The compiled plan of `id`, from the runtime's cache or compiled from its bytes.
    pub(crate) fn compiled(&self, id: &ModelId) -> Result<Arc<CompiledModel>, ProvaError> {
        if let Some(m) = self.runtime.cached(id) {
            return Ok(m);
        }
        let bytes = read(&self.shared.models).get(id)?;
        self.runtime
            .load(&bytes)
            .map_err(|source| ProvaError::Runtime { model: *id, source })
    }
}

/// Ethereum's precompiles for the active spec, plus INFER and MODEL_REGISTRY.
///
/// Owns the node-local side of Prova: the [`Runtime`] (shared, with its plan cache), the
/// model bytes ([`ModelBytes`]), the facts of every model seen, and the inference journal
/// ([`InferenceRecord`]s, drained with [`take_records`](Self::take_records)). With the
/// `alloy-evm` feature, `crate::alloy_evm::install` offers the same two precompiles,
/// over this same state, to an alloy-evm `PrecompilesMap`.
#[derive(Debug)]
pub struct ProvaPrecompiles {
    eth: EthPrecompiles,
    warm: AddressSet,
    pub(crate) core: Core,
}

impl ProvaPrecompiles {
    /// Ethereum's precompiles of `spec` plus Prova's at their default addresses, model bytes in
    /// memory, recording on.
    pub fn new(spec: SpecId, runtime: Arc<Runtime>) -> Self {
        let mut this = Self {
            eth: EthPrecompiles::new(spec),
            warm: AddressSet::default(),
            core: Core {
                config: ProvaConfig::DEFAULT,
                runtime,
                recording: true,
                shared: Arc::default(),
                journal: Arc::default(),
            },
        };
        this.rebuild_warm();
        this
    }

    /// Uses `config` (addresses and gas constants).
    pub fn with_config(mut self, config: ProvaConfig) -> Self {
        self.core.config = config;
        self.rebuild_warm();
        self
    }

    /// Keeps model bytes in `models` (e.g. an on-disk [`prova_model::ModelStore`]).
    pub fn with_models(self, models: ModelBytes) -> Self {
        *write(&self.core.shared.models) = models;
        self
    }

    /// Another provider on the same runtime, model bytes and model facts, with its own empty
    /// inference journal and recording on: one per EVM, so that EVMs on many threads (a block
    /// being built, read-only calls) run at once without sharing records or a lock.
    pub fn handle(&self) -> Self {
        Self {
            eth: self.eth.clone(),
            warm: self.warm.clone(),
            core: self.core.handle(),
        }
    }

    /// The facts of model `id`, compiling it from its bytes if this node has not yet (a local
    /// fault if the bytes are missing). Says nothing about whether `id` is registered on chain:
    /// that is the registry account's storage.
    pub fn model_info(&self, id: &ModelId) -> Result<Arc<ModelInfo>, ProvaError> {
        self.core.info(id)
    }

    fn rebuild_warm(&mut self) {
        self.warm.clone_from(self.eth.warm_addresses());
        self.warm.insert(self.core.config.infer_address);
        self.warm.insert(self.core.config.registry_address);
    }

    /// The configuration.
    pub fn config(&self) -> &ProvaConfig {
        &self.core.config
    }

    /// The runtime.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.core.runtime
    }

    /// Admits, compiles and keeps `bytes` without registering them on chain (for genesis: the
    /// chain must also set [`crate::model_slot`] in the registry account's storage).
    pub fn preload(&mut self, bytes: &[u8]) -> Result<ModelId, ProvaError> {
        let id = ModelId::of(bytes);
        let model = self
            .core
            .runtime
            .load(bytes)
            .map_err(|source| ProvaError::Runtime { model: id, source })?;
        self.core.admit(bytes, &model.info)
    }

    /// Turns the inference journal on or off (off for `eth_call`-style executions).
    pub fn set_recording(&mut self, on: bool) {
        self.core.recording = on;
    }

    /// Whether INFER executions are recorded.
    pub fn recording(&self) -> bool {
        self.core.recording
    }

    /// A copy of the records so far, in execution order.
    pub fn records(&self) -> Vec<InferenceRecord> {
        self.core.journal().records.clone()
    }

    /// Takes the records so far, leaving the journal empty.
    pub fn take_records(&mut self) -> Vec<InferenceRecord> {
        std::mem::take(&mut self.core.journal().records)
    }

    /// Witness replay: from now on, each recorded INFER execution takes the output of the next
    /// of `claims` (a block's witness) instead of running the model, when that claim names the
    /// same model and input hash (otherwise the model runs, so execution stays correct and the
    /// record shows the difference). Gas, input checks and records are as usual; the records
    /// keep the inputs ([`InferenceRecord::inputs`]) so that [`Reference::run`] can check the
    /// claims later.
    pub fn feed_witness(&mut self, claims: impl IntoIterator<Item = InferenceRecord>) {
        self.core.journal().feed = Some(claims.into_iter().collect());
    }

    /// Ends witness replay; returns how many claimed outputs were not consumed.
    pub fn end_witness(&mut self) -> usize {
        self.core.journal().feed.take().map_or(0, |f| f.len())
    }

    /// A handle that runs models as INFER does, from any thread (for checking witness claims
    /// in parallel).
    pub fn reference(&self) -> Reference {
        Reference {
            core: self.core.clone(),
        }
    }
}

/// Runs registered models exactly as INFER does, producing the record's output bytes and
/// success flag. Cheap to clone, `Send + Sync`; shares the provider's runtime and models.
#[derive(Debug, Clone)]
pub struct Reference {
    core: Core,
}

impl Reference {
    /// The output bytes and success flag INFER records for `model` on `inputs` (inputs that
    /// passed INFER's checks). A local fault (model bytes missing, an input the checks should
    /// have refused) is an error.
    pub fn run(&self, model: &ModelId, inputs: &[Tensor]) -> Result<(Bytes, bool), ProvaError> {
        let compiled = self.core.compiled(model)?;
        let (_, output, success) =
            infer::reference(&self.core, &compiled, inputs).map_err(|source| {
                ProvaError::Runtime {
                    model: *model,
                    source,
                }
            })?;
        Ok((output, success))
    }
}

impl<CTX: ContextTr> PrecompileProvider<CTX> for ProvaPrecompiles {
    type Output = InterpreterResult;

    fn set_spec(&mut self, spec: <CTX::Cfg as Cfg>::Spec) -> bool {
        let changed = <EthPrecompiles as PrecompileProvider<CTX>>::set_spec(&mut self.eth, spec);
        self.rebuild_warm();
        changed
    }

    fn run(
        &mut self,
        context: &mut CTX,
        inputs: &CallInputs,
    ) -> Result<Option<InterpreterResult>, String> {
        let address = inputs.bytecode_address;
        let config = &self.core.config;
        if address != config.infer_address && address != config.registry_address {
            return <EthPrecompiles as PrecompileProvider<CTX>>::run(
                &mut self.eth,
                context,
                inputs,
            );
        }
        let input = inputs.input.bytes(context);
        let direct = inputs.target_address == inputs.bytecode_address;
        let call = Call {
            input: &input,
            gas_limit: inputs.gas_limit,
            caller: inputs.caller,
            uploader: if direct {
                inputs.caller
            } else {
                inputs.target_address
            },
            transfers_value: inputs.transfers_value(),
            is_static: inputs.is_static,
        };
        let mut host = RevmHost(context.journal_mut());
        let exit = if address == config.infer_address {
            infer::run(&self.core, &mut host, &call)
        } else {
            registry::run(&self.core, &mut host, &call)
        };
        let exit = exit.map_err(|e| e.to_string())?;
        // As revm's own precompiles do: a top-level halt keeps its reason for the result.
        if let Exit::Halt(why) = &exit
            && context.journal().depth() == 1
        {
            context
                .local_mut()
                .set_precompile_error_context(why.to_string());
        }
        Ok(Some(precompile_output_to_interpreter_result(
            exit.into_output(inputs.reservoir),
            inputs.gas_limit,
        )))
    }

    fn warm_addresses(&self) -> &AddressSet {
        &self.warm
    }

    fn contains(&self, address: &Address) -> bool {
        self.warm.contains(address)
    }
}
