"""prova-client: web3.py helpers for Prova's inference precompiles.

- tensors: :func:`encode_tensor` / :func:`decode_tensor` (the ABI ``Tensor`` tuple),
  canonical encoding and hashes, the node's JSON tensor form;
- fixed point: :func:`to_fixed` / :func:`from_fixed` (``FixedTensor``);
- ABIs and addresses: :data:`PROVA_INFERENCE_ABI`, :data:`MODEL_REGISTRY_ABI`,
  :data:`PROVA_INFERENCE`, :data:`MODEL_REGISTRY`, :func:`with_prova_errors`;
- errors: :class:`ProvaError` and its subclasses, :func:`decode_prova_error`;
- :class:`Prova`: ``infer``, ``infer_fixed``, ``model_info``, ``deploy_model`` and the node's
  ``prova_*`` methods.
"""

from .abi import (
    MODEL_REGISTRY,
    MODEL_REGISTRY_ABI,
    PROVA_ERRORS_ABI,
    PROVA_INFERENCE,
    PROVA_INFERENCE_ABI,
    decode_custom_error,
    with_prova_errors,
)
from .client import Prova, model_id_of, transact
from .errors import (
    BadInput,
    InferenceFailed,
    ModelRejected,
    ProvaError,
    ProvaRpcError,
    TransactionFailed,
    UnknownModel,
    decode_prova_error,
)
from .fixed import MAX_DECIMALS, FixedTensor, from_fixed, to_fixed
from .tensors import (
    DTYPES,
    DType,
    decode_canonical,
    decode_tensor,
    encode_canonical,
    encode_tensor,
    resolve_dtype,
    tensor_from_json,
    tensor_to_json,
    tensors_hash,
)

__version__ = "0.1.0"

__all__ = [
    "BadInput",
    "DTYPES",
    "DType",
    "FixedTensor",
    "InferenceFailed",
    "MAX_DECIMALS",
    "MODEL_REGISTRY",
    "MODEL_REGISTRY_ABI",
    "ModelRejected",
    "PROVA_ERRORS_ABI",
    "PROVA_INFERENCE",
    "PROVA_INFERENCE_ABI",
    "Prova",
    "ProvaError",
    "ProvaRpcError",
    "TransactionFailed",
    "UnknownModel",
    "decode_canonical",
    "decode_custom_error",
    "decode_prova_error",
    "decode_tensor",
    "encode_canonical",
    "encode_tensor",
    "from_fixed",
    "model_id_of",
    "resolve_dtype",
    "tensor_from_json",
    "tensor_to_json",
    "tensors_hash",
    "to_fixed",
    "transact",
    "with_prova_errors",
]
