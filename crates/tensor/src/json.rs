//! The JSON form of tensors used by every CLI and RPC surface:
//! `{"dtype":"f32","shape":[1,4],"data":[0.5,1,2,3]}`.
//!
//! Floats are parsed from their decimal text straight into the target type (correctly
//! rounded, no detour through f64 for f32) and written in the shortest form that reads back to
//! the same bits. JSON has no NaN or infinities: they are written and read as the strings
//! `"NaN"`, `"Infinity"` and `"-Infinity"`. Integers must be JSON integers within the dtype's
//! range; bools are `true`/`false`.

use crate::{DType, Element, Tensor, TensorError, tensor::element_count};
use serde::{
    Deserialize, Deserializer, Serialize, Serializer, de::Error as _, ser::SerializeStruct,
};
use serde_json::value::RawValue;

/// `{"inputs":[TENSOR, ...]}`: a model's inputs in the model's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputDocument {
    /// The inputs, in the model's input order.
    pub inputs: Vec<Tensor>,
}

/// `{"outputs":[TENSOR, ...]}`: a model's outputs in the model's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputDocument {
    /// The outputs, in the model's output order.
    pub outputs: Vec<Tensor>,
}

impl InputDocument {
    /// Parses an input document, with a precise error.
    pub fn from_json(s: &str) -> Result<Self, TensorError> {
        serde_json::from_str(s).map_err(|e| TensorError::Json(e.to_string()))
    }
}

impl Tensor {
    /// Parses the JSON form.
    pub fn from_json(s: &str) -> Result<Self, TensorError> {
        serde_json::from_str(s).map_err(|e| TensorError::Json(e.to_string()))
    }

    /// The JSON form, compact.
    pub fn to_json(&self) -> String {
        // Serializing a Tensor cannot fail: every element has a JSON representation.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTensor {
    dtype: String,
    shape: Vec<u64>,
    data: Vec<Box<RawValue>>,
}

fn parse_float<T: std::str::FromStr>(text: &str, nan: T, inf: T, neg_inf: T) -> Option<T> {
    match text {
        "\"NaN\"" => Some(nan),
        "\"Infinity\"" => Some(inf),
        "\"-Infinity\"" => Some(neg_inf),
        // Rust's parser also takes "inf" and "nan", which JSON cannot contain unquoted.
        t if t.starts_with(['-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']) => {
            t.parse().ok()
        }
        _ => None,
    }
}

fn parse_int<T: TryFrom<i128>>(text: &str) -> Option<T> {
    if !text
        .bytes()
        .enumerate()
        .all(|(i, b)| b.is_ascii_digit() || (i == 0 && b == b'-'))
    {
        return None;
    }
    text.parse::<i128>().ok().and_then(|v| T::try_from(v).ok())
}

fn push_element(dtype: DType, text: &str, out: &mut Vec<u8>) -> Option<()> {
    match dtype {
        DType::F32 => parse_float(text, f32::NAN, f32::INFINITY, f32::NEG_INFINITY)?.write_le(out),
        DType::F64 => parse_float(text, f64::NAN, f64::INFINITY, f64::NEG_INFINITY)?.write_le(out),
        DType::I64 => parse_int::<i64>(text)?.write_le(out),
        DType::I32 => parse_int::<i32>(text)?.write_le(out),
        DType::I16 => parse_int::<i16>(text)?.write_le(out),
        DType::I8 => parse_int::<i8>(text)?.write_le(out),
        DType::U8 => parse_int::<u8>(text)?.write_le(out),
        DType::Bool => match text {
            "true" => out.push(1),
            "false" => out.push(0),
            _ => return None,
        },
    }
    Some(())
}

impl TryFrom<RawTensor> for Tensor {
    type Error = TensorError;
    fn try_from(raw: RawTensor) -> Result<Self, TensorError> {
        let dtype = DType::from_name(&raw.dtype)?;
        let count = element_count(&raw.shape)?;
        if count != raw.data.len() as u64 {
            return Err(TensorError::Json(format!(
                "shape {:?} needs {count} elements, data has {}",
                raw.shape,
                raw.data.len()
            )));
        }
        let mut data = Vec::with_capacity(raw.data.len() * dtype.size());
        for (i, v) in raw.data.iter().enumerate() {
            let text = v.get().trim();
            push_element(dtype, text, &mut data).ok_or_else(|| {
                TensorError::Json(format!("data[{i}]: {text} is not a valid {dtype} value"))
            })?;
        }
        Tensor::new(dtype, raw.shape, data)
    }
}

impl<'de> Deserialize<'de> for Tensor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawTensor::deserialize(d)?;
        Tensor::try_from(raw).map_err(D::Error::custom)
    }
}

/// Serializes the data array of a tensor element by element.
struct Data<'a>(&'a Tensor);

fn ser_float<S: Serializer, F: Into<f64> + Copy>(
    s: S,
    v: F,
    write: impl FnOnce(S) -> Result<S::Ok, S::Error>,
) -> Result<S::Ok, S::Error> {
    let x: f64 = v.into();
    if x.is_nan() {
        s.serialize_str("NaN")
    } else if x == f64::INFINITY {
        s.serialize_str("Infinity")
    } else if x == f64::NEG_INFINITY {
        s.serialize_str("-Infinity")
    } else {
        write(s)
    }
}

struct Elem(DType, [u8; 8]);

impl Serialize for Elem {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let b = &self.1[..];
        match self.0 {
            DType::F32 => {
                let v = f32::read_le(b);
                ser_float(s, v, |s| s.serialize_f32(v))
            }
            DType::F64 => {
                let v = f64::read_le(b);
                ser_float(s, v, |s| s.serialize_f64(v))
            }
            DType::I64 => s.serialize_i64(i64::read_le(b)),
            DType::I32 => s.serialize_i32(i32::read_le(b)),
            DType::I16 => s.serialize_i16(i16::read_le(b)),
            DType::I8 => s.serialize_i8(i8::read_le(b)),
            DType::U8 => s.serialize_u8(b[0]),
            DType::Bool => s.serialize_bool(b[0] != 0),
        }
    }
}

impl Serialize for Data<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = self.0;
        let sz = t.dtype().size();
        s.collect_seq(t.data().chunks_exact(sz).map(|c| {
            let mut a = [0u8; 8];
            a[..sz].copy_from_slice(c);
            Elem(t.dtype(), a)
        }))
    }
}

impl Serialize for Tensor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Tensor", 3)?;
        st.serialize_field("dtype", self.dtype().name())?;
        st.serialize_field("shape", self.shape())?;
        st.serialize_field("data", &Data(self))?;
        st.end()
    }
}
