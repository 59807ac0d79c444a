//! Stage 2: wasm-bindgen, in-process.
//!
//! Produces the JS glue (`index.js`, `--target module`: the Wasm is imported
//! with `import source`, so no bundler is needed), its inline-JS snippets, and
//! the module as a `walrus::Module` that the rewrite stage transforms in
//! memory.

use anyhow::{Context, Result};
use wasm_bindgen_cli_support::Bindgen;

use crate::config::edge::TrapResponse;
use crate::config::wasm_pack::BindgenOptions;

/// The wasm-bindgen this stage is (`wasm-bindgen-cli-support`, pinned with
/// `=` in pipeline/Cargo.toml); a worker must link exactly this version.
pub const WASM_BINDGEN_VERSION: &str = "0.2.130";

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

pub fn run(wasm: Vec<u8>, options: &BindgenOptions) -> Result<Bound> {
    let mut bindgen = Bindgen::new();
    bindgen
        .input_bytes(STEM, wasm)
        .typescript(false)
        .debug(options.debug_js_glue)
        .demangle(options.demangle_name_section)
        .keep_debug(options.dwarf_debug_info)
        .omit_default_module_path(options.omit_default_module_path)
        .split_linked_modules(options.split_linked_modules)
        // Lets the entry re-instantiate the module after a trap (a panic under
        // `panic = "abort"`) instead of leaving the isolate poisoned.
        .reset_state_function(true);
    // `force_enable_abort_handler` is deliberately left off: it makes the
    // module use exnref (`try_table`), which the bundled binaryen cannot read.
    bindgen.module(true)?;
    let mut output = bindgen.generate_output().context(
        "wasm-bindgen failed. If it reports a schema or version mismatch, the `wasm-bindgen` \
         crate the worker links must be exactly this pipeline's (wasm-bindgen-cli-support \
         0.2.130): align them with `cargo update -p wasm-bindgen --precise 0.2.130`",
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

/// Handlers of the default export the Workers runtime calls, as workers-rs
/// 0.8's `#[event]` exports them; none is mandatory. (`#[event(start)]` runs
/// by itself when the module is instantiated.)
pub const HANDLERS: &[&str] = &["fetch", "scheduled", "queue", "email", "connect"];

/// Exports of the module the entry always calls.
pub const ENTRY_EXPORTS: &[&str] = &["__worker_init_state"];

/// The JS entry and what it relies on.
#[derive(Debug)]
pub struct Entry {
    /// `worker.mjs`.
    pub js: String,
    /// Every module export the entry calls.
    pub calls: Vec<String>,
    /// The Durable Object classes (`#[durable_object]`) it exports.
    pub classes: Vec<String>,
}

/// Writes the entry for the handlers the module exports and the classes the
/// glue exports (each checked against the module: wasm-bindgen exports
/// `__wbg_<class>_free` for every class it binds).
pub fn entry(module: &walrus::Module, glue: &str, traps: TrapResponse) -> anyhow::Result<Entry> {
    let exported = |name: &str| module.exports.iter().any(|e| e.name == name);
    let handlers: Vec<&str> = HANDLERS.iter().copied().filter(|h| exported(h)).collect();
    let bound_classes: Vec<&str> = glue
        .lines()
        .filter_map(|line| line.strip_prefix("export class "))
        .filter_map(|rest| rest.split(|c: char| !c.is_alphanumeric() && c != '_' && c != '$').next())
        .collect();
    if let Some(class) = bound_classes.iter().find(|c| !exported(&format!("__wbg_{}_free", c.to_lowercase()))) {
        anyhow::bail!(
            "the glue exports class `{class}`, but the module has no `__wbg_{}_free`: this wasm-bindgen's \
             output is not what the entry expects",
            class.to_lowercase()
        );
    }
    // Durable Objects: `#[durable_object]` binds a constructor and `fetch`
    // (other bound classes, such as the `worker` crate's option structs, are
    // plain values).
    let classes: Vec<String> = bound_classes
        .iter()
        .filter(|c| ["new", "fetch"].iter().all(|m| exported(&format!("{}_{m}", c.to_lowercase()))))
        .map(|c| c.to_string())
        .collect();
    if handlers.is_empty() && classes.is_empty() {
        anyhow::bail!(
            "the module exports no handler (one of {}) and no Durable Object class: mark one with \
             `#[event(fetch)]` (or another event) or `#[durable_object]`",
            HANDLERS.join(", ")
        );
    }
    let methods: String = handlers
        .iter()
        .map(|h| match *h {
            // The body no one reads is drained (see `serveFetch`).
            "fetch" => "  fetch(request) {\n    return serveFetch(this, request);\n  }\n".to_owned(),
            h => format!("  {h}(arg) {{\n    return call(wasm.{h}, this, arg);\n  }}\n"),
        })
        .collect();
    let exports: String = classes.iter().map(|c| format!("export const {c} = durableObject(wasm.{c});\n")).collect();
    let trap_response = match traps {
        TrapResponse::Runtime => "runtime",
        TrapResponse::Json => "json",
    };
    let mut template = include_str!("entry.mjs").to_owned();
    if classes.is_empty() {
        // No Durable Object: neither the wrapper nor its base class.
        template.truncate(template.find("/*DURABLE OBJECTS*/").expect("the entry marks its Durable Object part"));
        template = template.replacen("import { DurableObject, WorkerEntrypoint }", "import { WorkerEntrypoint }", 1);
    }
    let js = uncommented(&template)
        .replace("/*HANDLERS*/\n", &methods)
        .replace("/*CLASSES*/\n", &exports)
        .replace("/*DURABLE OBJECTS*/\n", "")
        .replace("\"/*TRAP_RESPONSE*/\"", &format!("\"{trap_response}\""));
    let calls = ENTRY_EXPORTS.iter().chain(&handlers).map(|s| s.to_string()).collect();
    Ok(Entry { js, calls, classes })
}

/// `js` without its comment lines (they are in `entry.mjs`, where the
/// entry is written), under one line that says where it comes from.
fn uncommented(js: &str) -> String {
    let mut out = String::from(
        "// The worker's entry, written by `cargo edge build`; its source, commented, is the pipeline's stages/entry.mjs.\n",
    );
    for line in js.lines().filter(|l| !l.trim_start().starts_with("//")) {
        out.push_str(line);
        out.push('\n');
    }
    out
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
        let err = format!(
            "{:#}",
            run(module_from_other_wasm_bindgen(), &BindgenOptions::defaults(crate::settings::Profile::Release))
                .err()
                .expect("must fail")
        );
        assert!(err.contains("schema version"), "{err}");
        assert!(err.contains("cargo update -p wasm-bindgen --precise"), "{err}");
    }

    /// A module exporting a function under each of `names`.
    fn exporting(names: &[&str]) -> walrus::Module {
        use wasm_encoder::{
            CodeSection, ExportKind, ExportSection, Function, FunctionSection, Instruction, TypeSection,
        };
        let mut types = TypeSection::new();
        types.ty().function([], []);
        let (mut functions, mut exports, mut code) = (FunctionSection::new(), ExportSection::new(), CodeSection::new());
        for (i, name) in names.iter().enumerate() {
            functions.function(0);
            exports.export(name, ExportKind::Func, i as u32);
            let mut body = Function::new([]);
            body.instruction(&Instruction::End);
            code.function(&body);
        }
        let mut module = wasm_encoder::Module::new();
        module.section(&types).section(&functions).section(&exports).section(&code);
        walrus::Module::from_buffer(&module.finish()).unwrap()
    }

    const GLUE: &str = "export class Counter {\n}\nexport class MinifyConfig {\n}\nexport function fetch() {}\n";

    #[test]
    fn the_entry_exports_the_handlers_and_durable_objects_the_module_has() {
        let module = exporting(&[
            "scheduled",
            "queue",
            "__worker_init_state",
            "__wbg_counter_free",
            "counter_new",
            "counter_fetch",
            "__wbg_minifyconfig_free",
        ]);
        let entry = entry(&module, GLUE, TrapResponse::Runtime).unwrap();
        assert_eq!(entry.classes, ["Counter"], "a bound class without a constructor and fetch is not a Durable Object");
        assert!(entry.js.contains("export const Counter = durableObject(wasm.Counter);"));
        assert!(entry.js.contains("scheduled(arg)") && entry.js.contains("queue(arg)"));
        assert!(!entry.js.contains("fetch(request)"), "fetch is not mandatory");
        assert_eq!(entry.calls, ["__worker_init_state", "scheduled", "queue"]);
        let fetch_only = entry_for(&["fetch", "__worker_init_state"], "");
        assert!(fetch_only.js.contains("return serveFetch(this, request);") && fetch_only.classes.is_empty());
        assert!(!fetch_only.js.contains("DurableObject"), "no Durable Object code without a class");
        assert!(
            entry.js.contains("import { DurableObject, WorkerEntrypoint }")
                && entry.js.contains("function durableObject")
        );
        for js in [&entry.js, &fetch_only.js] {
            let comments = js.lines().filter(|l| l.trim_start().starts_with("//")).count();
            assert_eq!(comments, 1, "only the header line is a comment");
            assert!(!js.contains("/*"), "every placeholder is filled");
        }
    }

    fn entry_for(exports: &[&str], glue: &str) -> Entry {
        entry(&exporting(exports), glue, TrapResponse::Runtime).unwrap()
    }

    #[test]
    fn a_module_with_nothing_to_run_or_a_stray_class_is_an_error() {
        let err = entry(&exporting(&["__worker_init_state"]), "", TrapResponse::Runtime).unwrap_err().to_string();
        assert!(err.contains("#[event(fetch)]") && err.contains("#[durable_object]"), "{err}");
        let err =
            entry(&exporting(&["fetch"]), "export class Ghost {\n", TrapResponse::Runtime).unwrap_err().to_string();
        assert!(err.contains("__wbg_ghost_free"), "{err}");
    }

    #[test]
    fn the_version_is_the_pinned_one() {
        let manifest = include_str!("../../Cargo.toml");
        assert!(
            manifest.contains(&format!("wasm-bindgen-cli-support = \"={WASM_BINDGEN_VERSION}\"")),
            "WASM_BINDGEN_VERSION must follow the pin in pipeline/Cargo.toml"
        );
    }

    #[test]
    fn corrupt_input_is_an_error() {
        let options = BindgenOptions::defaults(crate::settings::Profile::Release);
        assert!(run(b"\0asm\x01\0\0\0\x01\x05garbage".to_vec(), &options).is_err());
        assert!(run(b"not wasm at all".to_vec(), &options).is_err());
    }
}
