//! The JSON tensor form (`Tensor::from_json`, `InputDocument`, `OutputDocument`): whatever
//! parses writes back to JSON that parses to the same value, bit for bit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prova_tensor::{InputDocument, OutputDocument, Tensor};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(t) = Tensor::from_json(s) {
        // Parsed JSON has canonical NaNs only, so its own JSON reads back bit for bit.
        let again = Tensor::from_json(&t.to_json()).expect("own JSON parses");
        assert_eq!(again, t);
        assert_eq!(
            Tensor::decode(&t.encode()).expect("own encoding decodes"),
            t
        );
    }
    if let Ok(doc) = InputDocument::from_json(s) {
        let json = serde_json::to_string(&doc).expect("serializes");
        let again = InputDocument::from_json(&json).expect("own JSON parses");
        assert_eq!(again, doc);
    }
    if let Ok(doc) = serde_json::from_str::<OutputDocument>(s) {
        let json = serde_json::to_string(&doc).expect("serializes");
        let again: OutputDocument = serde_json::from_str(&json).expect("own JSON parses");
        assert_eq!(again, doc);
    }
});
