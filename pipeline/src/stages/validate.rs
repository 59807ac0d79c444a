//! Stage 7: validate the final module before it is accepted.
//!
//! 1. Full wasmparser validation against the features workerd's V8 runs.
//! 2. The module still honours the contract wasm-bindgen generated the JS glue
//!    for: it imports nothing the glue does not provide, and exports everything
//!    the glue and the entry call. Both sides are read from the modules'
//!    import and export sections, not from JS text. Nothing is imported from
//!    `env`, where the linker leaves the symbols no object defined (a C
//!    library function the C code calls, an `extern` block without its
//!    library): the glue would import them from an ES module `env`, which
//!    workerd does not have, and the Worker would fail to start.
//! 3. A smoke test in V8 (Node.js): the module compiles and instantiates, and
//!    how long that takes is measured against Cloudflare's startup limit.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use wasmparser::{Parser, Payload, Validator, WasmFeatures};

/// What workerd (V8) runs: WebAssembly 3.0 and legacy exception handling,
/// without threads (a Worker has no shared memory).
pub const WORKERD_FEATURES: WasmFeatures =
    WasmFeatures::WASM3.union(WasmFeatures::LEGACY_EXCEPTIONS).difference(WasmFeatures::THREADS);

/// Cloudflare's limit on a Worker's startup (parsing and running its global
/// scope, which instantiates the module), per the Workers "Limits"
/// documentation (read 2026-11-22).
pub const STARTUP_LIMIT: Duration = Duration::from_secs(1);

/// The imports and exports wasm-bindgen generated the glue for.
#[derive(Debug, Clone, Default)]
pub struct Contract {
    /// `(module, name)` of every import the glue provides.
    pub imports: BTreeSet<(String, String)>,
    /// Every export the glue or the entry calls.
    pub exports: BTreeSet<String>,
}

impl Contract {
    /// The contract of a module as wasm-bindgen left it, plus what the entry calls.
    pub fn of(module: &walrus::Module, entry_calls: &[String]) -> Contract {
        Contract {
            imports: module.imports.iter().map(|i| (i.module.clone(), i.name.clone())).collect(),
            exports: module.exports.iter().map(|e| e.name.clone()).chain(entry_calls.iter().cloned()).collect(),
        }
    }
}

/// Validation result.
#[derive(Debug, Clone, Copy)]
pub struct Validated {
    /// Median time V8 took to compile and instantiate the module (`None`
    /// without Node.js).
    pub startup: Option<Duration>,
}

/// Validates `wasm` against workerd's features and `contract`, then
/// instantiates it with `node` when there is one (`scratch` holds the file
/// Node reads).
pub fn run(wasm: &[u8], contract: &Contract, node: Option<&Path>, scratch: &Path) -> Result<Validated> {
    Validator::new_with_features(WORKERD_FEATURES)
        .validate_all(wasm)
        .context("the final module is not valid WebAssembly for workerd")?;
    check_contract(wasm, contract)?;
    let startup = node.map(|node| smoke_test(wasm, node, scratch)).transpose()?;
    Ok(Validated { startup })
}

fn check_contract(wasm: &[u8], contract: &Contract) -> Result<()> {
    let (imports, exports) = imports_and_exports(wasm)?;
    let undefined: Vec<&str> = imports.iter().filter(|(m, _)| m == "env").map(|(_, n)| n.as_str()).collect();
    if !undefined.is_empty() {
        bail!(
            "the module imports {} from `env`: symbols the linked code uses and nothing defines (C \
             library functions for C code, or an `extern` block whose library is not linked). \
             workerd has no module `env`; define them in the crate (e.g. `#[unsafe(no_mangle)] \
             extern \"C\" fn`, or C compiled by its build script) or remove their callers",
            undefined.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
        );
    }
    if let Some((module, name)) = imports.difference(&contract.imports).next() {
        bail!(
            "the module imports `{module}`.`{name}`, which the JS glue does not provide; a stage \
             after wasm-bindgen added it. Rebuild with `--no-snip` and report the module"
        );
    }
    if let Some(name) = contract.exports.difference(&exports).next() {
        bail!(
            "the module does not export `{name}`, which the JS glue or entry calls; if it is a \
             handler, annotate it with `#[event(fetch)]`"
        );
    }
    Ok(())
}

type ImportsAndExports = (BTreeSet<(String, String)>, BTreeSet<String>);

fn imports_and_exports(wasm: &[u8]) -> Result<ImportsAndExports> {
    let (mut imports, mut exports) = (BTreeSet::new(), BTreeSet::new());
    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import?;
                    imports.insert((import.module.to_owned(), import.name.to_owned()));
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    exports.insert(export?.name.to_owned());
                }
            }
            _ => {}
        }
    }
    Ok((imports, exports))
}

/// The parameter types of each imported exception tag, keyed by
/// `module\0name`, as `WebAssembly.Tag` names them (wasm-bindgen imports one,
/// `WebAssembly.JSTag` or its stand-in, when the module uses exception handling).
fn tag_imports(wasm: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>> {
    let (mut types, mut tags) = (Vec::new(), serde_json::Map::new());
    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::TypeSection(reader) => {
                for ty in reader.into_iter_err_on_gc_types() {
                    let params: Vec<String> = ty?.params().iter().map(|v| tag_type_name(*v)).collect();
                    types.push(params);
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import?;
                    if let wasmparser::TypeRef::Tag(tag) = import.ty {
                        let params = types.get(tag.func_type_idx as usize).cloned().unwrap_or_default();
                        tags.insert(format!("{}\0{}", import.module, import.name), params.into());
                    }
                }
            }
            _ => {}
        }
    }
    Ok(tags)
}

fn tag_type_name(ty: wasmparser::ValType) -> String {
    match ty {
        wasmparser::ValType::I32 => "i32".into(),
        wasmparser::ValType::I64 => "i64".into(),
        wasmparser::ValType::F32 => "f32".into(),
        wasmparser::ValType::F64 => "f64".into(),
        wasmparser::ValType::V128 => "v128".into(),
        wasmparser::ValType::Ref(r) if r.is_func_ref() => "anyfunc".into(),
        wasmparser::ValType::Ref(_) => "externref".into(),
    }
}

/// Compiles and instantiates the module in V8 five times, with every imported
/// function stubbed and every imported tag made anew; returns the median time.
fn smoke_test(wasm: &[u8], node: &Path, scratch: &Path) -> Result<Duration> {
    const SCRIPT: &str = r#"
        import { readFileSync } from "node:fs";
        const bytes = readFileSync(process.argv[2]);
        const tags = JSON.parse(process.argv[3]);
        const times = [];
        for (let i = 0; i < 5; i++) {
            const start = performance.now();
            const module = new WebAssembly.Module(bytes);
            const imports = {};
            for (const { module: from, name, kind } of WebAssembly.Module.imports(module)) {
                if (kind === "tag") {
                    (imports[from] ??= {})[name] = new WebAssembly.Tag({ parameters: tags[`${from}\0${name}`] });
                    continue;
                }
                if (kind !== "function") throw new Error(`cannot stub the ${kind} import ${from}.${name}`);
                (imports[from] ??= {})[name] = () => { throw new Error(`${name} called during instantiation`); };
            }
            new WebAssembly.Instance(module, imports);
            times.push(performance.now() - start);
        }
        times.sort((a, b) => a - b);
        console.log(times[2]);
    "#;
    let dir = super::scratch_dir(scratch)?;
    let path = dir.path().join("smoke.wasm");
    std::fs::write(&path, wasm).with_context(|| format!("cannot write {}", path.display()))?;
    let tags = serde_json::Value::Object(tag_imports(wasm)?).to_string();
    let out = crate::node::run(node, SCRIPT, &[path.as_os_str(), tags.as_ref()])
        .context("the module does not instantiate in V8 (Node.js)")?;
    let millis: f64 = out.trim().parse().with_context(|| format!("unexpected smoke test output `{}`", out.trim()))?;
    Ok(Duration::from_secs_f64(millis / 1000.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module importing `wbg.log` and exporting its memory as `memory`.
    fn module() -> Vec<u8> {
        module_importing_from("wbg")
    }

    fn module_importing_from(import_module: &str) -> Vec<u8> {
        let mut m = wasm_encoder::Module::new();
        let mut types = wasm_encoder::TypeSection::new();
        types.ty().function([], []);
        m.section(&types);
        let mut imports = wasm_encoder::ImportSection::new();
        imports.import(import_module, "log", wasm_encoder::EntityType::Function(0));
        m.section(&imports);
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
        exports.export("memory", wasm_encoder::ExportKind::Memory, 0);
        m.section(&exports);
        m.finish()
    }

    fn contract(imports: &[(&str, &str)], exports: &[&str]) -> Contract {
        Contract {
            imports: imports.iter().map(|(m, n)| (m.to_string(), n.to_string())).collect(),
            exports: exports.iter().map(|e| e.to_string()).collect(),
        }
    }

    /// Runs the stage with the Node.js the tests of this workspace have.
    fn run(wasm: &[u8], contract: &Contract, scratch: &Path) -> Result<Validated> {
        super::run(wasm, contract, Some(&crate::node::for_tests()), scratch)
    }

    #[test]
    fn accepts_a_module_that_keeps_the_contract_and_times_it() {
        let dir = tempfile::tempdir().unwrap();
        let validated = run(&module(), &contract(&[("wbg", "log")], &["memory"]), dir.path()).unwrap();
        assert!(validated.startup.is_some_and(|s| s < Duration::from_secs(5)));
        let without_node = super::run(&module(), &contract(&[("wbg", "log")], &["memory"]), None, dir.path());
        assert!(without_node.unwrap().startup.is_none(), "validated, startup unmeasured");
    }

    #[test]
    fn names_a_missing_export() {
        let dir = tempfile::tempdir().unwrap();
        let err = run(&module(), &contract(&[("wbg", "log")], &["memory", "fetch"]), dir.path()).unwrap_err();
        assert!(err.to_string().contains("`fetch`"), "{err}");
    }

    #[test]
    fn names_an_import_the_glue_does_not_provide() {
        let dir = tempfile::tempdir().unwrap();
        let err = run(&module(), &contract(&[], &["memory"]), dir.path()).unwrap_err();
        assert!(err.to_string().contains("`wbg`.`log`"), "{err}");
    }

    #[test]
    fn names_symbols_nothing_defines() {
        let dir = tempfile::tempdir().unwrap();
        let wasm = module_importing_from("env");
        let err = run(&wasm, &contract(&[("env", "log")], &["memory"]), dir.path()).unwrap_err();
        assert!(err.to_string().contains("imports `log` from `env`"), "{err}");
    }

    #[test]
    fn rejects_corrupt_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let err = run(b"\0asm\x01\0\0\0\x01\xff", &Contract::default(), dir.path()).unwrap_err();
        assert!(format!("{err:#}").contains("not valid WebAssembly"), "{err:#}");
    }

    /// A module with one memory of exactly one page.
    fn one_page_module(shared: bool) -> wasm_encoder::Module {
        let mut m = wasm_encoder::Module::new();
        let mut memories = wasm_encoder::MemorySection::new();
        memories.memory(wasm_encoder::MemoryType {
            minimum: 1,
            maximum: Some(1),
            memory64: false,
            shared,
            page_size_log2: None,
        });
        m.section(&memories);
        m
    }

    #[test]
    fn rejects_shared_memory() {
        let dir = tempfile::tempdir().unwrap();
        assert!(run(&one_page_module(true).finish(), &Contract::default(), dir.path()).is_err());
    }

    #[test]
    fn a_module_v8_refuses_to_instantiate_fails_the_smoke_test() {
        // Valid, but its data segment lies outside its one-page memory.
        let mut m = one_page_module(false);
        let mut data = wasm_encoder::DataSection::new();
        data.active(0, &wasm_encoder::ConstExpr::i32_const(70_000), [1u8]);
        m.section(&data);
        let dir = tempfile::tempdir().unwrap();
        let err = run(&m.finish(), &Contract::default(), dir.path()).unwrap_err();
        assert!(format!("{err:#}").contains("does not instantiate"), "{err:#}");
    }

    #[test]
    fn a_module_importing_an_exception_tag_is_instantiated_with_one() {
        // As wasm-bindgen emits for a module with exception handling: an
        // imported `(tag (param externref))` and a function that throws it.
        let mut m = wasm_encoder::Module::new();
        let mut types = wasm_encoder::TypeSection::new();
        types.ty().function([wasm_encoder::ValType::EXTERNREF], []);
        types.ty().function([], []);
        m.section(&types);
        let mut imports = wasm_encoder::ImportSection::new();
        let tag = wasm_encoder::TagType { kind: wasm_encoder::TagKind::Exception, func_type_idx: 0 };
        imports.import("./index_bg.js", "__wbindgen_jstag", wasm_encoder::EntityType::Tag(tag));
        m.section(&imports);
        let mut functions = wasm_encoder::FunctionSection::new();
        functions.function(1);
        m.section(&functions);
        let mut code = wasm_encoder::CodeSection::new();
        let mut body = wasm_encoder::Function::new([]);
        body.instruction(&wasm_encoder::Instruction::RefNull(wasm_encoder::HeapType::EXTERN));
        body.instruction(&wasm_encoder::Instruction::Throw(0));
        body.instruction(&wasm_encoder::Instruction::End);
        code.function(&body);
        m.section(&code);
        let wasm = m.finish();
        let tags = tag_imports(&wasm).unwrap();
        assert_eq!(tags["./index_bg.js\0__wbindgen_jstag"], serde_json::json!(["externref"]));
        let dir = tempfile::tempdir().unwrap();
        let contract = contract(&[("./index_bg.js", "__wbindgen_jstag")], &[]);
        assert!(run(&wasm, &contract, dir.path()).unwrap().startup.is_some());
    }
}
