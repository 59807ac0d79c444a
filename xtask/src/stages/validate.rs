//! Stage 5: validate the final module before it is accepted.
//!
//! Full wasmparser validation against the features workerd's V8 runs, and a
//! check that every export the JS entry calls exists in the module.

use anyhow::{Context, Result, bail};
use wasmparser::{Validator, WasmFeatures};

/// What workerd (V8) runs: WebAssembly 3.0 and legacy exception handling,
/// without threads (a Worker has no shared memory).
pub const WORKERD_FEATURES: WasmFeatures =
    WasmFeatures::WASM3.union(WasmFeatures::LEGACY_EXCEPTIONS).difference(WasmFeatures::THREADS);

/// Validates `wasm` and checks that it exports each of `required_exports`.
pub fn run(wasm: &[u8], required_exports: &[&str]) -> Result<()> {
    Validator::new_with_features(WORKERD_FEATURES)
        .validate_all(wasm)
        .context("the final module is not valid WebAssembly for workerd")?;
    let exports = exported_names(wasm)?;
    for name in required_exports {
        if !exports.iter().any(|e| e == name) {
            bail!(
                "the module does not export `{name}`, which the JS entry calls; \
                 is the handler annotated with `#[event(fetch)]`?"
            );
        }
    }
    Ok(())
}

fn exported_names(wasm: &[u8]) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let wasmparser::Payload::ExportSection(reader) = payload? {
            for export in reader {
                names.push(export?.name.to_owned());
            }
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module_exporting(name: &str) -> Vec<u8> {
        let mut m = wasm_encoder::Module::new();
        let mut memories = wasm_encoder::MemorySection::new();
        memories.memory(wasm_encoder::MemoryType {
            minimum: 1,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        m.section(&memories);
        let mut exports = wasm_encoder::ExportSection::new();
        exports.export(name, wasm_encoder::ExportKind::Memory, 0);
        m.section(&exports);
        m.finish()
    }

    #[test]
    fn accepts_a_module_with_the_exports() {
        run(&module_exporting("memory"), &["memory"]).unwrap();
    }

    #[test]
    fn names_a_missing_export() {
        let err = run(&module_exporting("memory"), &["fetch"]).unwrap_err().to_string();
        assert!(err.contains("`fetch`"), "{err}");
    }

    #[test]
    fn rejects_corrupt_bytes() {
        let err = run(b"\0asm\x01\0\0\0\x01\xff", &[]).unwrap_err();
        assert!(format!("{err:#}").contains("not valid WebAssembly"), "{err:#}");
    }

    #[test]
    fn rejects_shared_memory() {
        let mut m = wasm_encoder::Module::new();
        let mut memories = wasm_encoder::MemorySection::new();
        memories.memory(wasm_encoder::MemoryType {
            minimum: 1,
            maximum: Some(1),
            memory64: false,
            shared: true,
            page_size_log2: None,
        });
        m.section(&memories);
        assert!(run(&m.finish(), &[]).is_err());
    }
}
