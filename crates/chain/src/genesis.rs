//! Genesis: chain id, gas limit, base fee, allocations and preloaded models; the ten dev
//! accounts of the standard test mnemonic.

use crate::{
    WorldState,
    state::{AccountState, code_hash},
};
use alloy_consensus::{EMPTY_OMMER_ROOT_HASH, Header};
use alloy_primitives::{Address, B256, Bytes, U256, address, b256, hex};
use alloy_trie::EMPTY_ROOT_HASH;
use prova_model::ModelId;
use prova_precompile::{MODEL_REGISTRY_ADDRESS, REGISTERED, model_slot};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The ten accounts of `test test test test test test test test test test test junk`
/// (BIP-44 path `m/44'/60'/0'/0/i`), as anvil and Hardhat prefund them: `(address, secret key)`.
/// Hard-coded; a test checks that each address derives from its key.
pub const DEV_ACCOUNTS: [(Address, B256); 10] = [
    (
        address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266"),
        b256!("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"),
    ),
    (
        address!("70997970C51812dc3A010C7d01b50e0d17dc79C8"),
        b256!("59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"),
    ),
    (
        address!("3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"),
        b256!("5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"),
    ),
    (
        address!("90F79bf6EB2c4f870365E785982E1f101E93b906"),
        b256!("7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6"),
    ),
    (
        address!("15d34AAf54267DB7D7c367839AAf71A00a2C6A65"),
        b256!("47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a"),
    ),
    (
        address!("9965507D1a55bcC2695C58ba16FB37d819B0A4dc"),
        b256!("8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba"),
    ),
    (
        address!("976EA74026E726554dB657fA54763abd0C3a0aa9"),
        b256!("92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e"),
    ),
    (
        address!("14dC79964da2C08b23698B3D3cc7Ca32193d9955"),
        b256!("4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356"),
    ),
    (
        address!("23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f"),
        b256!("dbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97"),
    ),
    (
        address!("a0Ee7A142d267C1f36714E4a8F75612F20a79720"),
        b256!("2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6"),
    ),
];

/// Default chain id of a dev chain (anvil's).
pub const DEV_CHAIN_ID: u64 = 31337;
/// Default block gas limit.
pub const DEFAULT_GAS_LIMIT: u64 = 30_000_000;
/// Default base fee of the genesis block (1 gwei, as anvil).
pub const DEFAULT_BASE_FEE: u64 = 1_000_000_000;

/// Arachnid's deterministic deployment proxy, where Foundry's `new C{salt: s}()` and
/// `forge script` send CREATE2 deployments.
pub const CREATE2_DEPLOYER: Address = address!("0x4e59b44847b379578588920cA78FbF26c0B4956C");
/// Its runtime code: `salt ‖ init code` in, the 20-byte address of the new contract out.
pub const CREATE2_DEPLOYER_CODE: [u8; 69] = hex!(
    "7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe0"
    "3601600081602082378035828234f58015156039578182fd5b8082525050506014600cf3"
);
/// Where viem, ethers and Foundry look for Multicall3.
pub const MULTICALL3: Address = address!("0xcA11bde05977b3631167028862bE2a173976CA11");

/// The runtime code of `contracts/src/predeploys/Multicall3.sol` (from its committed artifact).
pub fn multicall3_code() -> Bytes {
    const ARTIFACT: &str = include_str!("../../../contracts/out/Multicall3.json");
    serde_json::from_str::<serde_json::Value>(ARTIFACT)
        .ok()
        .and_then(|a| a["deployedBytecode"].as_str().map(str::to_owned))
        .and_then(|h| alloy_primitives::hex::decode(h).ok())
        .unwrap_or_default()
        .into()
}

/// An account allocated at genesis.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GenesisAccount {
    /// Balance in wei.
    pub balance: U256,
    /// Nonce.
    pub nonce: u64,
    /// Runtime code.
    #[serde(default)]
    pub code: Bytes,
    /// Storage.
    #[serde(default)]
    pub storage: BTreeMap<U256, U256>,
}

/// Everything that defines block 0. Its JSON form ([`Self::to_json`]) is kept in the data dir
/// and heads an export, so that anyone can replay a chain from genesis.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Genesis {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Gas limit of every block.
    pub gas_limit: u64,
    /// Base fee of block 0 (later blocks follow EIP-1559).
    pub base_fee: u64,
    /// Timestamp of block 0.
    pub timestamp: u64,
    /// Fee recipient of every block.
    pub beneficiary: Address,
    /// Allocations.
    pub alloc: BTreeMap<Address, GenesisAccount>,
    /// ONNX models registered at genesis (bytes).
    pub models: Vec<Bytes>,
}

impl Genesis {
    /// A dev chain: `chain_id`, the ten dev accounts with 10,000 ether each, the CREATE2
    /// deployer ([`CREATE2_DEPLOYER`]) and Multicall3 ([`MULTICALL3`]) predeployed, as anvil
    /// has them, and dev edits enabled ([`crate::dev_edits`]); no models.
    pub fn dev(chain_id: u64) -> Self {
        let ether = U256::from(10).pow(U256::from(18));
        let mut alloc: BTreeMap<Address, GenesisAccount> = DEV_ACCOUNTS
            .iter()
            .map(|(address, _)| {
                (
                    *address,
                    GenesisAccount {
                        balance: ether * U256::from(10_000),
                        ..Default::default()
                    },
                )
            })
            .collect();
        for (address, code) in [
            (
                CREATE2_DEPLOYER,
                Bytes::from(CREATE2_DEPLOYER_CODE.to_vec()),
            ),
            (MULTICALL3, multicall3_code()),
        ] {
            alloc.insert(
                address,
                GenesisAccount {
                    code,
                    ..Default::default()
                },
            );
        }
        // Dev edits (anvil_setBalance & co.): the authorities are funded to pay for their
        // transactions and named in slots 0 and 1 of the edits address ().
        use crate::dev_edits::{
            AUTHORITY_SLOT, DEV_EDITS_ADDRESS, DEV_EDITS_AUTHORITY, DEV_IMPERSONATION_AUTHORITY,
            IMPERSONATOR_SLOT, authority_slot_value,
        };
        let mut storage = BTreeMap::new();
        for (slot, authority) in [
            (AUTHORITY_SLOT, DEV_EDITS_AUTHORITY),
            (IMPERSONATOR_SLOT, DEV_IMPERSONATION_AUTHORITY),
        ] {
            storage.insert(slot, authority_slot_value(authority));
            alloc.insert(
                authority,
                GenesisAccount {
                    balance: ether * U256::from(1_000_000_000u64),
                    ..Default::default()
                },
            );
        }
        alloc.insert(
            DEV_EDITS_ADDRESS,
            GenesisAccount {
                nonce: 1,
                storage,
                ..Default::default()
            },
        );
        Self {
            chain_id,
            gas_limit: DEFAULT_GAS_LIMIT,
            base_fee: DEFAULT_BASE_FEE,
            timestamp: 0,
            beneficiary: Address::ZERO,
            alloc,
            models: Vec::new(),
        }
    }

    /// Adds a model to preload.
    pub fn with_model(mut self, onnx: impl Into<Bytes>) -> Self {
        self.models.push(onnx.into());
        self
    }

    /// The JSON form: `{"chainId":…,"gasLimit":…,"baseFee":…,"timestamp":…,"beneficiary":…,
    /// "alloc":{ADDRESS:{"balance","nonce","code","storage"}},"models":[HEX,…]}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// Parses the JSON form.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, String> {
        Self::deserialize(value).map_err(|e| format!("genesis: {e}"))
    }

    /// Hash of block 0.
    pub fn hash(&self) -> B256 {
        self.header(&self.state()).hash_slow()
    }

    /// Ids of the preloaded models, in order.
    pub fn model_ids(&self) -> Vec<ModelId> {
        self.models.iter().map(|m| ModelId::of(m)).collect()
    }

    /// The state of block 0: allocations, plus the registry account with nonce 1 and one
    /// [`REGISTERED`] slot per preloaded model.
    pub fn state(&self) -> WorldState {
        let mut state = WorldState::default();
        for (address, a) in &self.alloc {
            let hash = code_hash(&a.code);
            if !a.code.is_empty() {
                state.codes.insert(hash, a.code.clone());
            }
            state.accounts.insert(
                *address,
                AccountState {
                    nonce: a.nonce,
                    balance: a.balance,
                    code_hash: hash,
                    storage: a
                        .storage
                        .iter()
                        .filter(|(_, v)| !v.is_zero())
                        .map(|(k, v)| (*k, *v))
                        .collect(),
                },
            );
        }
        if !self.models.is_empty() {
            let registry = state
                .accounts
                .entry(MODEL_REGISTRY_ADDRESS)
                .or_insert_with(|| AccountState::with_balance(U256::ZERO));
            registry.nonce = registry.nonce.max(1);
            for id in self.model_ids() {
                registry.storage.insert(model_slot(&id), REGISTERED);
            }
        }
        state
    }

    /// The header of block 0 over `state` (= [`Self::state`]).
    pub fn header(&self, state: &WorldState) -> Header {
        Header {
            parent_hash: B256::ZERO,
            ommers_hash: EMPTY_OMMER_ROOT_HASH,
            beneficiary: self.beneficiary,
            state_root: state.state_root(),
            transactions_root: EMPTY_ROOT_HASH,
            receipts_root: EMPTY_ROOT_HASH,
            number: 0,
            gas_limit: self.gas_limit,
            timestamp: self.timestamp,
            extra_data: EMPTY_ROOT_HASH.0.to_vec().into(),
            base_fee_per_gas: Some(self.base_fee),
            withdrawals_root: Some(EMPTY_ROOT_HASH),
            blob_gas_used: Some(0),
            excess_blob_gas: Some(0),
            parent_beacon_block_root: Some(B256::ZERO),
            ..Header::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_form_round_trips() {
        let mut g = Genesis::dev(7).with_model(vec![1u8, 2, 3]);
        g.alloc.entry(Address::repeat_byte(9)).or_default().storage =
            [(U256::from(1), U256::from(2))].into();
        g.alloc.entry(Address::repeat_byte(9)).or_default().code = vec![0x60, 0x00].into();
        let json = g.to_json();
        assert_eq!(json["chainId"], 7);
        assert_eq!(Genesis::from_json(&json).unwrap(), g);
        let text = serde_json::to_string(&json).unwrap();
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(Genesis::from_json(&back).unwrap().hash(), g.hash());
        assert!(Genesis::from_json(&serde_json::json!({"chainId": 1})).is_err());
    }

    #[test]
    fn dev_accounts_derive_from_their_keys() {
        for (address, key) in DEV_ACCOUNTS {
            assert_eq!(crate::address_of_key(&key), Some(address));
        }
    }
}
