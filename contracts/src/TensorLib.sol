// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IProvaInference} from "./IProvaInference.sol";

/// @title TensorLib
/// @notice Helpers to build the tensors sent to the Prova inference precompile and to read the
///         tensors it returns: shapes, little-endian packing and unpacking, element access,
///         argmax (including IEEE-754 float data compared as floats) and checks.
/// @dev All functions are `internal`, so they are inlined into the calling contract and the
///      library never needs to be deployed or linked. Use it with
///      `using TensorLib for IProvaInference.Tensor;` (and `... for IProvaInference.FixedTensor;`).
///
///      Data layout (as in `IProvaInference`): elements back to back, row-major, each element
///      little-endian; f32/f64 are raw IEEE-754 bits; bool is one byte (0 or 1).
///      Floats are handled as raw bit patterns (`uint32` for f32, `uint64` for f64): the EVM
///      has no floating point.
library TensorLib {
    // ---------------------------------------------------------------------------------------
    // Dtypes
    // ---------------------------------------------------------------------------------------

    uint8 internal constant F32 = 0;
    uint8 internal constant F64 = 1;
    uint8 internal constant I64 = 2;
    uint8 internal constant I32 = 3;
    uint8 internal constant I16 = 4;
    uint8 internal constant I8 = 5;
    uint8 internal constant U8 = 6;
    uint8 internal constant BOOL = 7;

    // ---------------------------------------------------------------------------------------
    // Errors
    // ---------------------------------------------------------------------------------------

    /// @notice `dtype` is not one of the eight dtypes above.
    error UnsupportedDtype(uint8 dtype);
    /// @notice The tensor has dtype `actual` where `expected` was required.
    error DtypeMismatch(uint8 expected, uint8 actual);
    /// @notice The tensor data is `actual` bytes long where its dtype and shape need `expected`.
    error DataLengthMismatch(uint256 expected, uint256 actual);
    /// @notice `data` of `length` bytes is not a whole number of `elementSize`-byte elements.
    error RaggedData(uint256 length, uint256 elementSize);
    /// @notice Element `index` was asked of a tensor with `count` elements.
    error IndexOutOfBounds(uint256 index, uint256 count);
    /// @notice argmax of a tensor with no elements.
    error EmptyTensor();
    /// @notice The integer has no exact f32 representation in the range this library converts.
    error NotExactF32(int256 value);

    // ---------------------------------------------------------------------------------------
    // Dtype facts
    // ---------------------------------------------------------------------------------------

    /// @notice Bytes per element of `dtype` (f32 4, f64 8, i64 8, i32 4, i16 2, i8/u8/bool 1).
    function elementSize(uint8 dtype) internal pure returns (uint256) {
        if (dtype == F32 || dtype == I32) return 4;
        if (dtype == F64 || dtype == I64) return 8;
        if (dtype == I16) return 2;
        if (dtype <= BOOL) return 1; // I8, U8, BOOL
        revert UnsupportedDtype(dtype);
    }

    /// @notice True for f32 and f64.
    function isFloat(uint8 dtype) internal pure returns (bool) {
        return dtype == F32 || dtype == F64;
    }

    /// @notice True for the signed integer dtypes (i64, i32, i16, i8).
    function isSigned(uint8 dtype) internal pure returns (bool) {
        return dtype == I64 || dtype == I32 || dtype == I16 || dtype == I8;
    }

    // ---------------------------------------------------------------------------------------
    // Shapes and element counts
    // ---------------------------------------------------------------------------------------

    function shape1(uint64 d0) internal pure returns (uint64[] memory s) {
        s = new uint64[](1);
        s[0] = d0;
    }

    function shape2(uint64 d0, uint64 d1) internal pure returns (uint64[] memory s) {
        s = new uint64[](2);
        s[0] = d0;
        s[1] = d1;
    }

    function shape3(uint64 d0, uint64 d1, uint64 d2) internal pure returns (uint64[] memory s) {
        s = new uint64[](3);
        s[0] = d0;
        s[1] = d1;
        s[2] = d2;
    }

    function shape4(uint64 d0, uint64 d1, uint64 d2, uint64 d3) internal pure returns (uint64[] memory s) {
        s = new uint64[](4);
        s[0] = d0;
        s[1] = d1;
        s[2] = d2;
        s[3] = d3;
    }

    /// @notice Product of the dimensions; 1 for the empty shape (a scalar).
    /// @dev Checked arithmetic: an absurd shape reverts (Panic 0x11) rather than wrapping.
    function numElements(uint64[] memory shape) internal pure returns (uint256 n) {
        n = 1;
        for (uint256 i = 0; i < shape.length; ++i) {
            n *= shape[i];
        }
    }

    /// @notice Element count of `t`, after checking that its dtype is known and that its data
    ///         length is exactly `numElements(shape) * elementSize(dtype)`.
    function elementCount(IProvaInference.Tensor memory t) internal pure returns (uint256 n) {
        n = numElements(t.shape);
        uint256 expected = n * elementSize(t.dtype);
        if (t.data.length != expected) revert DataLengthMismatch(expected, t.data.length);
    }

    /// @notice Element count of `t`, after checking that `elements` matches its shape.
    function elementCount(IProvaInference.FixedTensor memory t) internal pure returns (uint256 n) {
        n = numElements(t.shape);
        if (t.elements.length != n) revert DataLengthMismatch(n, t.elements.length);
    }

    /// @notice Reverts with `DtypeMismatch` unless `t.dtype == dtype`.
    function requireDtype(IProvaInference.Tensor memory t, uint8 dtype) internal pure {
        if (t.dtype != dtype) revert DtypeMismatch(dtype, t.dtype);
    }

    // ---------------------------------------------------------------------------------------
    // Building tensors
    // ---------------------------------------------------------------------------------------

    /// @notice A tensor from already packed little-endian `data`; checks the data length.
    function tensor(uint8 dtype, uint64[] memory shape, bytes memory data)
        internal
        pure
        returns (IProvaInference.Tensor memory t)
    {
        t = IProvaInference.Tensor({dtype: dtype, shape: shape, data: data});
        elementCount(t);
    }

    /// @notice An f32 tensor from raw IEEE-754 bit patterns.
    function f32Tensor(uint32[] memory bits, uint64[] memory shape)
        internal
        pure
        returns (IProvaInference.Tensor memory)
    {
        return tensor(F32, shape, packF32Bits(bits));
    }

    function i64Tensor(int64[] memory values, uint64[] memory shape)
        internal
        pure
        returns (IProvaInference.Tensor memory)
    {
        return tensor(I64, shape, packI64(values));
    }

    function i32Tensor(int32[] memory values, uint64[] memory shape)
        internal
        pure
        returns (IProvaInference.Tensor memory)
    {
        return tensor(I32, shape, packI32(values));
    }

    function i8Tensor(int8[] memory values, uint64[] memory shape)
        internal
        pure
        returns (IProvaInference.Tensor memory)
    {
        return tensor(I8, shape, packI8(values));
    }

    function u8Tensor(uint8[] memory values, uint64[] memory shape)
        internal
        pure
        returns (IProvaInference.Tensor memory)
    {
        return tensor(U8, shape, packU8(values));
    }

    /// @notice Wraps one tensor into the `inputs` array of `infer` for a single-input model.
    function single(IProvaInference.Tensor memory t) internal pure returns (IProvaInference.Tensor[] memory ts) {
        ts = new IProvaInference.Tensor[](1);
        ts[0] = t;
    }

    // ---------------------------------------------------------------------------------------
    // Packing into little-endian bytes
    // ---------------------------------------------------------------------------------------
    // Each loop stores one element per MSTORE/MSTORE8, going up in memory. A 32-byte MSTORE
    // writes the element's bytes first and zeros after them; the zeros are overwritten by the
    // next element, and after the last one they land in free memory past the new `bytes`
    // (allocated last), which Solidity never assumes to be clean. Array elements in memory are
    // 32-byte words with the value in the low bytes (sign-extended for signed types), so the
    // low bytes are the two's-complement encoding we want.

    /// @notice int8 values as one byte each (two's complement).
    function packI8(int8[] memory values) internal pure returns (bytes memory out) {
        uint256 n = values.length;
        out = new bytes(n);
        assembly ("memory-safe") {
            let src := add(values, 0x20)
            let dst := add(out, 0x20)
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                mstore8(add(dst, i), mload(add(src, shl(5, i))))
            }
        }
    }

    /// @notice uint8 values as one byte each.
    function packU8(uint8[] memory values) internal pure returns (bytes memory out) {
        uint256 n = values.length;
        out = new bytes(n);
        assembly ("memory-safe") {
            let src := add(values, 0x20)
            let dst := add(out, 0x20)
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                mstore8(add(dst, i), mload(add(src, shl(5, i))))
            }
        }
    }

    /// @notice int32 values as 4 little-endian bytes each (two's complement).
    function packI32(int32[] memory values) internal pure returns (bytes memory out) {
        out = _pack32(_asWords(values));
    }

    /// @notice Raw f32 bit patterns as 4 little-endian bytes each.
    function packF32Bits(uint32[] memory bits) internal pure returns (bytes memory out) {
        uint256[] memory words;
        assembly ("memory-safe") {
            words := bits
        }
        out = _pack32(words);
    }

    /// @notice int64 values as 8 little-endian bytes each (two's complement).
    function packI64(int64[] memory values) internal pure returns (bytes memory out) {
        uint256 n = values.length;
        out = new bytes(n * 8);
        assembly ("memory-safe") {
            let src := add(values, 0x20)
            let dst := add(out, 0x20)
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                let v := and(mload(add(src, shl(5, i))), 0xffffffffffffffff)
                // byte-swap the 8 low bytes, so the least significant byte comes first
                v := or(shr(8, and(v, 0xff00ff00ff00ff00)), shl(8, and(v, 0x00ff00ff00ff00ff)))
                v := or(shr(16, and(v, 0xffff0000ffff0000)), shl(16, and(v, 0x0000ffff0000ffff)))
                v := or(shr(32, v), and(shl(32, v), 0xffffffff00000000))
                mstore(add(dst, shl(3, i)), shl(192, v))
            }
        }
    }

    /// @dev Packs the low 4 bytes of each word, little-endian.
    function _pack32(uint256[] memory words) private pure returns (bytes memory out) {
        uint256 n = words.length;
        out = new bytes(n * 4);
        assembly ("memory-safe") {
            let src := add(words, 0x20)
            let dst := add(out, 0x20)
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                let v := and(mload(add(src, shl(5, i))), 0xffffffff)
                // byte-swap the 4 low bytes, so the least significant byte comes first
                v := or(shr(8, and(v, 0xff00ff00)), shl(8, and(v, 0x00ff00ff)))
                v := or(shr(16, v), and(shl(16, v), 0xffff0000))
                mstore(add(dst, shl(2, i)), shl(224, v))
            }
        }
    }

    function _asWords(int32[] memory values) private pure returns (uint256[] memory words) {
        assembly ("memory-safe") {
            words := values
        }
    }

    // ---------------------------------------------------------------------------------------
    // Unpacking little-endian bytes
    // ---------------------------------------------------------------------------------------

    function unpackI8(bytes memory data) internal pure returns (int8[] memory out) {
        uint256 n = data.length;
        out = new int8[](n);
        assembly ("memory-safe") {
            let src := add(data, 0x20)
            let dst := add(out, 0x20)
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                mstore(add(dst, shl(5, i)), signextend(0, byte(0, mload(add(src, i)))))
            }
        }
    }

    function unpackU8(bytes memory data) internal pure returns (uint8[] memory out) {
        uint256 n = data.length;
        out = new uint8[](n);
        assembly ("memory-safe") {
            let src := add(data, 0x20)
            let dst := add(out, 0x20)
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                mstore(add(dst, shl(5, i)), byte(0, mload(add(src, i))))
            }
        }
    }

    function unpackI32(bytes memory data) internal pure returns (int32[] memory out) {
        uint256 n = _count(data, 4);
        out = new int32[](n);
        for (uint256 i = 0; i < n; ++i) {
            out[i] = int32(uint32(_loadLE(data, i * 4, 4)));
        }
    }

    function unpackF32Bits(bytes memory data) internal pure returns (uint32[] memory out) {
        uint256 n = _count(data, 4);
        out = new uint32[](n);
        for (uint256 i = 0; i < n; ++i) {
            out[i] = uint32(_loadLE(data, i * 4, 4));
        }
    }

    function unpackI64(bytes memory data) internal pure returns (int64[] memory out) {
        uint256 n = _count(data, 8);
        out = new int64[](n);
        for (uint256 i = 0; i < n; ++i) {
            out[i] = int64(uint64(_loadLE(data, i * 8, 8)));
        }
    }

    function _count(bytes memory data, uint256 size) private pure returns (uint256) {
        if (data.length % size != 0) revert RaggedData(data.length, size);
        return data.length / size;
    }

    /// @dev Unsigned little-endian integer of `size` (1, 2, 4 or 8) bytes at `data[offset..]`.
    ///      The caller checks bounds.
    function _loadLE(bytes memory data, uint256 offset, uint256 size) private pure returns (uint256 v) {
        assembly ("memory-safe") {
            // the element's bytes are the high `size` bytes of this word, first byte = least significant
            let w := mload(add(add(data, 0x20), offset))
            switch size
            case 1 { v := shr(248, w) }
            case 2 {
                w := shr(240, w)
                v := or(shr(8, w), and(shl(8, w), 0xff00))
            }
            case 4 {
                w := shr(224, w)
                w := or(shr(8, and(w, 0xff00ff00)), shl(8, and(w, 0x00ff00ff)))
                v := or(shr(16, w), and(shl(16, w), 0xffff0000))
            }
            default {
                w := shr(192, w)
                w := or(shr(8, and(w, 0xff00ff00ff00ff00)), shl(8, and(w, 0x00ff00ff00ff00ff)))
                w := or(shr(16, and(w, 0xffff0000ffff0000)), shl(16, and(w, 0x0000ffff0000ffff)))
                v := or(shr(32, w), and(shl(32, w), 0xffffffff00000000))
            }
        }
    }

    /// @dev Element `i` of data with `size`-byte elements, sign-extended when `signed`.
    function _intAt(bytes memory data, uint256 i, uint256 size, bool signed) private pure returns (int256 x) {
        uint256 v = _loadLE(data, i * size, size);
        if (signed) {
            uint256 b = size - 1;
            assembly {
                v := signextend(b, v)
            }
        }
        x = int256(v);
    }

    // ---------------------------------------------------------------------------------------
    // Reading elements of an output tensor
    // ---------------------------------------------------------------------------------------

    /// @notice Element `i` (row-major) of an integer or bool tensor, as int256.
    /// @dev Reverts with `DtypeMismatch(I64, dtype)` for float tensors: use `f32BitsAt`/`f64BitsAt`.
    function intAt(IProvaInference.Tensor memory t, uint256 i) internal pure returns (int256) {
        if (isFloat(t.dtype)) revert DtypeMismatch(I64, t.dtype);
        uint256 n = elementCount(t);
        if (i >= n) revert IndexOutOfBounds(i, n);
        return _intAt(t.data, i, elementSize(t.dtype), isSigned(t.dtype));
    }

    /// @notice Raw IEEE-754 bits of element `i` (row-major) of an f32 tensor.
    function f32BitsAt(IProvaInference.Tensor memory t, uint256 i) internal pure returns (uint32) {
        requireDtype(t, F32);
        uint256 n = elementCount(t);
        if (i >= n) revert IndexOutOfBounds(i, n);
        return uint32(_loadLE(t.data, i * 4, 4));
    }

    /// @notice Raw IEEE-754 bits of element `i` (row-major) of an f64 tensor.
    function f64BitsAt(IProvaInference.Tensor memory t, uint256 i) internal pure returns (uint64) {
        requireDtype(t, F64);
        uint256 n = elementCount(t);
        if (i >= n) revert IndexOutOfBounds(i, n);
        return uint64(_loadLE(t.data, i * 8, 8));
    }

    /// @notice Value `i` (row-major) of a fixed-point tensor (scaled by 10**t.decimals).
    function valueAt(IProvaInference.FixedTensor memory t, uint256 i) internal pure returns (int256) {
        if (i >= t.elements.length) revert IndexOutOfBounds(i, t.elements.length);
        return t.elements[i];
    }

    // ---------------------------------------------------------------------------------------
    // Floats
    // ---------------------------------------------------------------------------------------

    /// @notice Maps f32 bits to a uint32 whose unsigned order is the float order, so that
    ///         `f32OrderKey(a) > f32OrderKey(b)` iff float a > float b.
    /// @dev Sign-magnitude to ordered integer: negative floats are bit-inverted (larger magnitude,
    ///      smaller key), non-negative ones get the top bit set (above every negative).
    ///      -0 is mapped like +0 (they compare equal). Every NaN gets the largest key, above +inf,
    ///      so argmax returns the first NaN if there is one (as numpy's argmax does).
    function f32OrderKey(uint32 bits) internal pure returns (uint32) {
        if (bits & 0x7fffffff > 0x7f800000) return type(uint32).max; // NaN
        if (bits == 0x80000000) bits = 0; // -0 == +0
        return bits & 0x80000000 != 0 ? ~bits : bits | 0x80000000;
    }

    /// @notice As `f32OrderKey`, for f64 bits.
    function f64OrderKey(uint64 bits) internal pure returns (uint64) {
        if (bits & 0x7fffffffffffffff > 0x7ff0000000000000) return type(uint64).max; // NaN
        if (bits == 0x8000000000000000) bits = 0; // -0 == +0
        return bits & 0x8000000000000000 != 0 ? ~bits : bits | 0x8000000000000000;
    }

    /// @notice The f32 bit pattern of integer `x`, exact: |x| must be below 2**24.
    function f32FromInt(int256 x) internal pure returns (uint32) {
        uint256 m = x < 0 ? uint256(-x) : uint256(x);
        if (m >= 1 << 24) revert NotExactF32(x);
        if (m == 0) return 0;
        uint256 e = _log2(m); // 0..23
        uint256 bits = ((127 + e) << 23) | ((m ^ (1 << e)) << (23 - e));
        if (x < 0) bits |= 0x80000000;
        return uint32(bits);
    }

    /// @notice The f32 bit pattern of `x`, exact: `x` must be below 2**24.
    function f32FromUint(uint256 x) internal pure returns (uint32) {
        if (x >= 1 << 24) revert NotExactF32(int256(x)); // int256(x) only reports the value
        return f32FromInt(int256(x));
    }

    /// @dev floor(log2(x)) for 0 < x < 2**32.
    function _log2(uint256 x) private pure returns (uint256 r) {
        if (x >= 1 << 16) {
            x >>= 16;
            r += 16;
        }
        if (x >= 1 << 8) {
            x >>= 8;
            r += 8;
        }
        if (x >= 1 << 4) {
            x >>= 4;
            r += 4;
        }
        if (x >= 1 << 2) {
            x >>= 2;
            r += 2;
        }
        if (x >= 1 << 1) {
            r += 1;
        }
    }

    // ---------------------------------------------------------------------------------------
    // argmax (first index of the largest element, as numpy and torch do)
    // ---------------------------------------------------------------------------------------

    /// @notice argmax over packed little-endian int8 data.
    function argmaxI8(bytes memory data) internal pure returns (uint256) {
        return _argmaxInt(data, 1, true);
    }

    /// @notice argmax over packed uint8 data.
    function argmaxU8(bytes memory data) internal pure returns (uint256) {
        return _argmaxInt(data, 1, false);
    }

    /// @notice argmax over packed little-endian int16 data.
    function argmaxI16(bytes memory data) internal pure returns (uint256) {
        return _argmaxInt(data, 2, true);
    }

    /// @notice argmax over packed little-endian int32 data.
    function argmaxI32(bytes memory data) internal pure returns (uint256) {
        return _argmaxInt(data, 4, true);
    }

    /// @notice argmax over packed little-endian int64 data.
    function argmaxI64(bytes memory data) internal pure returns (uint256) {
        return _argmaxInt(data, 8, true);
    }

    /// @notice argmax over packed little-endian f32 data, compared as floats (see `f32OrderKey`).
    function argmaxF32(bytes memory data) internal pure returns (uint256 best) {
        uint256 n = _count(data, 4);
        if (n == 0) revert EmptyTensor();
        uint32 bestKey = f32OrderKey(uint32(_loadLE(data, 0, 4)));
        for (uint256 i = 1; i < n; ++i) {
            uint32 key = f32OrderKey(uint32(_loadLE(data, i * 4, 4)));
            if (key > bestKey) {
                bestKey = key;
                best = i;
            }
        }
    }

    /// @notice argmax over packed little-endian f64 data, compared as floats (see `f64OrderKey`).
    function argmaxF64(bytes memory data) internal pure returns (uint256 best) {
        uint256 n = _count(data, 8);
        if (n == 0) revert EmptyTensor();
        uint64 bestKey = f64OrderKey(uint64(_loadLE(data, 0, 8)));
        for (uint256 i = 1; i < n; ++i) {
            uint64 key = f64OrderKey(uint64(_loadLE(data, i * 8, 8)));
            if (key > bestKey) {
                bestKey = key;
                best = i;
            }
        }
    }

    /// @notice argmax over the elements of `t` (row-major flat index), for any dtype.
    function argmax(IProvaInference.Tensor memory t) internal pure returns (uint256) {
        uint256 n = elementCount(t);
        if (n == 0) revert EmptyTensor();
        uint8 dtype = t.dtype;
        if (dtype == F32) return argmaxF32(t.data);
        if (dtype == F64) return argmaxF64(t.data);
        return _argmaxInt(t.data, elementSize(dtype), isSigned(dtype));
    }

    /// @notice argmax over the values of a fixed-point tensor (row-major flat index).
    function argmax(IProvaInference.FixedTensor memory t) internal pure returns (uint256) {
        return argmax(t.elements);
    }

    /// @notice argmax over int256 values.
    function argmax(int256[] memory values) internal pure returns (uint256 best) {
        uint256 n = values.length;
        if (n == 0) revert EmptyTensor();
        int256 bestValue = values[0];
        for (uint256 i = 1; i < n; ++i) {
            if (values[i] > bestValue) {
                bestValue = values[i];
                best = i;
            }
        }
    }

    function _argmaxInt(bytes memory data, uint256 size, bool signed) private pure returns (uint256 best) {
        uint256 n = _count(data, size);
        if (n == 0) revert EmptyTensor();
        int256 bestValue = _intAt(data, 0, size, signed);
        for (uint256 i = 1; i < n; ++i) {
            int256 x = _intAt(data, i, size, signed);
            if (x > bestValue) {
                bestValue = x;
                best = i;
            }
        }
    }
}
