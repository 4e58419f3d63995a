//! INFER and MODEL_REGISTRY calldata: `decode_strict`, then what the precompile does with a
//! decoded call before running a model (`from_abi` for every tensor, `fixed_input` for every
//! dtype). Half the inputs are raw calldata; the other half are well-formed calls built from
//! the fuzz bytes, encoded, then corrupted at a few chosen offsets (random bytes rarely get
//! past the selector).
#![no_main]

use alloy_primitives::{B256, Bytes, I256};
use alloy_sol_types::{SolCall, SolInterface};
use libfuzzer_sys::{arbitrary::Unstructured, fuzz_target};
use prova_precompile::abi::{
    self, AbiTensor, IModelRegistryCalls, IProvaInference, IProvaInferenceCalls,
};
use prova_tensor::DType;

const DTYPES: [DType; 8] = [
    DType::F32,
    DType::F64,
    DType::I64,
    DType::I32,
    DType::I16,
    DType::I8,
    DType::U8,
    DType::Bool,
];

fn built(u: &mut Unstructured<'_>) -> libfuzzer_sys::arbitrary::Result<Vec<u8>> {
    let id = B256::from(u.arbitrary::<[u8; 32]>()?);
    let mut data = if u.arbitrary::<bool>()? {
        let n = u.int_in_range(0..=3)?;
        let mut inputs = Vec::new();
        for _ in 0..n {
            let rank = u.int_in_range(0..=4)?;
            let mut shape = Vec::new();
            for _ in 0..rank {
                shape.push(*u.choose(&[0u64, 1, 2, 3, 4, 1 << 32, u64::MAX])?);
            }
            let len = u.int_in_range(0..=64)?;
            inputs.push(AbiTensor {
                dtype: u.int_in_range(0..=9)?,
                shape,
                data: Bytes::from(u.bytes(len)?.to_vec()),
            });
        }
        IProvaInference::inferCall {
            modelId: id,
            inputs,
        }
        .abi_encode()
    } else {
        let n = u.int_in_range(0..=8)?;
        let mut values = Vec::new();
        for _ in 0..n {
            values.push(I256::from_raw(alloy_primitives::U256::from_le_bytes(
                u.arbitrary::<[u8; 32]>()?,
            )));
        }
        let rank = u.int_in_range(0..=3)?;
        let mut shape = Vec::new();
        for _ in 0..rank {
            shape.push(*u.choose(&[0u64, 1, 2, 4, 8, 1 << 32, u64::MAX])?);
        }
        IProvaInference::inferFixedCall {
            modelId: id,
            elements: values,
            shape,
            decimals: u.arbitrary()?,
        }
        .abi_encode()
    };
    // Corrupt a few bytes (lengths, offsets, padding) at chosen places.
    for _ in 0..u.int_in_range(0..=3)? {
        if data.is_empty() {
            break;
        }
        let at = u.int_in_range(0..=data.len() - 1)?;
        data[at] = u.arbitrary()?;
    }
    if u.arbitrary::<bool>()? {
        let cut = u.int_in_range(0..=data.len())?;
        data.truncate(cut);
    }
    Ok(data)
}

fn check(data: &[u8]) {
    if let Ok(call) = abi::decode_strict::<IProvaInferenceCalls>(data) {
        // Strict means canonical: the decoded call re-encodes to the same bytes.
        assert_eq!(call.abi_encode(), data);
        match call {
            IProvaInferenceCalls::infer(c) => {
                for t in &c.inputs {
                    // A tensor that converts converts back to what was decoded.
                    if let Ok(converted) = abi::from_abi(t) {
                        assert_eq!(abi::to_abi(&converted), *t);
                    }
                }
            }
            IProvaInferenceCalls::inferFixed(c) => {
                for dtype in DTYPES {
                    if let Ok(t) = abi::fixed_input(dtype, &c.elements, c.shape.clone(), c.decimals) {
                        assert_eq!(t.shape(), c.shape.as_slice());
                        assert_eq!(t.dtype(), dtype);
                        let _ = abi::fixed_output(&t, c.decimals);
                    }
                }
            }
            IProvaInferenceCalls::modelInfo(_) => {}
        }
    }
    if let Ok(call) = abi::decode_strict::<IModelRegistryCalls>(data) {
        assert_eq!(call.abi_encode(), data);
    }
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((mode, rest)) if mode & 1 == 1 => {
            if let Ok(built) = built(&mut Unstructured::new(rest)) {
                check(&built);
            }
        }
        Some((_, rest)) => check(rest),
        None => check(data),
    }
});
