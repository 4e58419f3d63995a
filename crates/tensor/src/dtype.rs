use crate::TensorError;
use std::fmt;

/// The element types a Prova tensor can hold. The discriminant is the ABI code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum DType {
    /// IEEE-754 binary32.
    F32 = 0,
    /// IEEE-754 binary64.
    F64 = 1,
    /// Signed 64-bit integer.
    I64 = 2,
    /// Signed 32-bit integer.
    I32 = 3,
    /// Signed 16-bit integer.
    I16 = 4,
    /// Signed 8-bit integer.
    I8 = 5,
    /// Unsigned 8-bit integer.
    U8 = 6,
    /// Boolean, one byte, 0 or 1.
    Bool = 7,
}

impl DType {
    /// All dtypes in ABI-code order.
    pub const ALL: [DType; 8] = [
        DType::F32,
        DType::F64,
        DType::I64,
        DType::I32,
        DType::I16,
        DType::I8,
        DType::U8,
        DType::Bool,
    ];

    /// The ABI code (`uint8 dtype` in Solidity).
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The dtype with ABI code `code`.
    pub fn from_code(code: u8) -> Result<Self, TensorError> {
        Self::ALL
            .get(code as usize)
            .copied()
            .ok_or(TensorError::UnknownDTypeCode(code))
    }

    /// Short lower-case name used in JSON: `f32`, `i64`, `bool`, ...
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::I64 => "i64",
            DType::I32 => "i32",
            DType::I16 => "i16",
            DType::I8 => "i8",
            DType::U8 => "u8",
            DType::Bool => "bool",
        }
    }

    /// The dtype named `name`.
    pub fn from_name(name: &str) -> Result<Self, TensorError> {
        Self::ALL
            .iter()
            .copied()
            .find(|d| d.name() == name)
            .ok_or_else(|| TensorError::UnknownDTypeName(name.to_string()))
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::I16 => 2,
            DType::I8 | DType::U8 | DType::Bool => 1,
        }
    }

    /// True for f32 and f64.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A Rust type that is the element type of one [`DType`].
pub trait Element: Copy + sealed::Sealed {
    /// Its dtype.
    const DTYPE: DType;
    /// Little-endian bytes of one element, appended to `out`.
    fn write_le(self, out: &mut Vec<u8>);
    /// Reads one element from exactly `DTYPE.size()` little-endian bytes.
    fn read_le(bytes: &[u8]) -> Self;
}

mod sealed {
    pub trait Sealed {}
}

macro_rules! element {
    ($t:ty, $d:expr) => {
        impl sealed::Sealed for $t {}
        impl Element for $t {
            const DTYPE: DType = $d;
            fn write_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn read_le(bytes: &[u8]) -> Self {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(&bytes[..std::mem::size_of::<$t>()]);
                <$t>::from_le_bytes(a)
            }
        }
    };
}
element!(f32, DType::F32);
element!(f64, DType::F64);
element!(i64, DType::I64);
element!(i32, DType::I32);
element!(i16, DType::I16);
element!(i8, DType::I8);
element!(u8, DType::U8);

impl sealed::Sealed for bool {}
impl Element for bool {
    const DTYPE: DType = DType::Bool;
    fn write_le(self, out: &mut Vec<u8>) {
        out.push(self as u8);
    }
    fn read_le(bytes: &[u8]) -> Self {
        bytes[0] != 0
    }
}

impl serde::Serialize for DType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for DType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DType::from_name(&s).map_err(serde::de::Error::custom)
    }
}
