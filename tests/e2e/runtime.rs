//! Loading components through the library API: precompiled artifacts and their fallback.

use proactive_host::runtime::{Limits, Runtime};

use crate::support::{PLUGINS, component};

#[test]
fn a_precompiled_artifact_loads_the_same_plugin_and_a_bad_one_falls_back_to_compiling() {
    let runtime = Runtime::new(Limits::default()).expect("a runtime");
    let bytes = std::fs::read(component(PLUGINS[0].0)).expect("the health component");
    let cold = runtime.load("health.wasm", &bytes).expect("a cold compile");
    let artifact = runtime.precompile(&bytes).expect("precompiling");
    let cached = runtime.load_precompiled("health.wasm", &bytes, &artifact).expect("loading the artifact");
    assert_eq!(cold.reference, cached.reference);
    assert_eq!(cold.services.len(), cached.services.len());

    for garbage in [Vec::new(), b"not an artifact".to_vec(), artifact[..artifact.len() / 2].to_vec()] {
        let fallback = runtime.load_precompiled("health.wasm", &bytes, &garbage).expect("a miss compiles instead");
        assert_eq!(fallback.reference, cold.reference);
    }
}
