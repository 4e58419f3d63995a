//! Model admission on arbitrary bytes (seeded with fixtures/models, fixtures/reject and
//! fixtures/hostile by run.sh). Admission must refuse or admit without panicking, aborting or
//! allocating what a model merely declares; what it admits must respect every limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prova_model::{Limits, ModelId, admit, graph_node_count};

/// tract panics that admission contains (`contain_tract`) are refusals, not crashes: keep
/// libFuzzer's abort-on-any-panic hook from counting them. A panic that escapes `admit` still
/// aborts (libfuzzer-sys aborts when the target itself unwinds).
fn quiet_contained_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(|_| {})));
}

fuzz_target!(|data: &[u8]| {
    quiet_contained_panics();
    let limits = Limits::DEFAULT;
    let _ = graph_node_count(data);
    if let Ok(model) = admit(data, &limits) {
        assert_eq!(model.info.id, ModelId::of(data));
        assert!(model.info.cost.max_tensor_bytes <= limits.max_tensor_bytes);
        assert!(model.info.cost.macs <= limits.max_macs);
        assert!(model.info.params <= limits.max_params);
    }
});
