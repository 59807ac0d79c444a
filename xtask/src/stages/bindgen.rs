//! Stage 2: wasm-bindgen, in-process.
//!
//! Produces the JS glue (`index.js`, `--target module`: the Wasm is imported
//! with `import source`, so no bundler is needed), its inline-JS snippets, and
//! the module as a `walrus::Module` that the rewrite stage transforms in
//! memory.

use anyhow::{Context, Result};
use wasm_bindgen_cli_support::Bindgen;

/// File stem of the glue: `index.js` loads `index_bg.wasm`.
pub const STEM: &str = "index";

/// The bound module and its JS.
pub struct Bound {
    pub module: walrus::Module,
    /// `index.js`.
    pub glue: String,
    /// Snippet modules the glue imports: (path relative to the output, source).
    pub snippets: Vec<(String, String)>,
}

pub fn run(wasm: Vec<u8>) -> Result<Bound> {
    let mut bindgen = Bindgen::new();
    bindgen
        .input_bytes(STEM, wasm)
        .typescript(false)
        // Lets the entry re-instantiate the module after a trap (a panic under
        // `panic = "abort"`) instead of leaving the isolate poisoned.
        .reset_state_function(true);
    // `force_enable_abort_handler` is deliberately left off: it makes the
    // module use exnref (`try_table`), which the bundled binaryen cannot read.
    bindgen.module(true)?;
    let mut output = bindgen.generate_output().context(
        "wasm-bindgen failed. If it reports a schema or version mismatch, the `wasm-bindgen` \
         crate that edge-fn links must be exactly the version of `wasm-bindgen-cli-support` in \
         xtask/Cargo.toml: align them with `cargo update -p wasm-bindgen --precise <version>`",
    )?;

    let mut snippets = Vec::new();
    for (identifier, list) in output.snippets() {
        for (i, js) in list.iter().enumerate() {
            snippets.push((format!("snippets/{identifier}/inline{i}.js"), js.clone()));
        }
    }
    for (path, js) in output.local_modules() {
        snippets.push((format!("snippets/{path}"), js.clone()));
    }
    snippets.sort();
    let glue = output.js().to_owned();
    let module = std::mem::take(output.wasm_mut());
    Ok(Bound { module, glue, snippets })
}

/// Handlers besides `fetch` the Workers runtime calls, as the `worker`
/// crate's `#[event]` macro exports them.
const OTHER_HANDLERS: &[&str] = &["scheduled", "queue"];

/// Exports of the module the entry always calls.
pub const ENTRY_EXPORTS: &[&str] = &["fetch", "__worker_init_state"];

/// The JS entry (`worker.mjs`), and every module export it calls.
pub fn entry(module: &walrus::Module) -> (String, Vec<&'static str>) {
    let others: Vec<&'static str> =
        OTHER_HANDLERS.iter().copied().filter(|h| module.exports.iter().any(|e| e.name == *h)).collect();
    let methods: String =
        others.iter().map(|h| format!("  {h}(arg) {{\n    return call(wasm.{h}, this, arg);\n  }}\n")).collect();
    let calls = ENTRY_EXPORTS.iter().chain(&others).copied().collect();
    (include_str!("entry.mjs").replace("/*HANDLERS*/\n", &methods), calls)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module carrying wasm-bindgen metadata from another schema version.
    fn module_from_other_wasm_bindgen() -> Vec<u8> {
        let mut m = wasm_encoder::Module::new();
        let meta = br#"{"schema_version":"0.0.1","version":"0.2.1 (abc)"}"#;
        let mut data = (meta.len() as u32).to_le_bytes().to_vec();
        data.extend_from_slice(meta);
        m.section(&wasm_encoder::CustomSection { name: "__wasm_bindgen_unstable".into(), data: data.into() });
        m.finish()
    }

    #[test]
    fn a_version_mismatch_names_the_fix() {
        let err = format!("{:#}", run(module_from_other_wasm_bindgen()).err().expect("must fail"));
        assert!(err.contains("schema version"), "{err}");
        assert!(err.contains("cargo update -p wasm-bindgen --precise"), "{err}");
    }

    #[test]
    fn corrupt_input_is_an_error() {
        assert!(run(b"\0asm\x01\0\0\0\x01\x05garbage".to_vec()).is_err());
        assert!(run(b"not wasm at all".to_vec()).is_err());
    }
}
