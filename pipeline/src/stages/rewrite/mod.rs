//! Stage 3: rewrite the module with walrus before it is optimized.
//!
//! Drops the custom sections the runtime never reads (producers,
//! target_features; walrus writes DWARF back only when wasm-bindgen was
//! asked to keep it, `dwarf-debug-info`), optionally snips panic-only code
//! ([`snip`]), and
//! removes items nothing references. Function names stay: the optimizer keeps
//! them, and the strip stage turns them into a symbol map after optimizing.
//! This stage runs before wasm-opt, not after: re-encoding an optimized module
//! with walrus makes it slightly larger.

pub mod data_gc;
pub mod snip;

use walrus::Module;

/// What the rewrite removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rewritten {
    /// Custom sections dropped, by name.
    pub dropped_sections: Vec<String>,
    /// Functions whose bodies `--snip` replaced with `unreachable`.
    pub snipped: usize,
    /// Bytes of data nothing live refers to, zeroed by [`data_gc`] (`None`
    /// when the module came without relocations).
    pub dead_data: Option<usize>,
}

/// Rewrites `module` in place; `snip` enables [`snip::run`], `relocs` (from
/// the module cargo built) [`data_gc::run`].
pub fn run(module: &mut Module, snip: bool, relocs: Option<&data_gc::Relocations>) -> Rewritten {
    let mut report = Rewritten::default();
    if !module.producers.fields().is_empty() {
        module.producers.clear();
        report.dropped_sections.push("producers".to_owned());
    }
    let customs: Vec<_> = module.customs.iter().map(|(id, s)| (id, s.name().to_owned())).collect();
    for (id, name) in customs {
        module.customs.delete(id);
        report.dropped_sections.push(name);
    }
    if snip {
        report.snipped = snip::run(module).len();
    }
    walrus::passes::gc::run(module);
    report.dead_data = relocs.map(|relocs| data_gc::run(module, relocs));
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom_section_names(wasm: &[u8]) -> Vec<String> {
        wasmparser::Parser::new(0)
            .parse_all(wasm)
            .filter_map(|p| match p.unwrap() {
                wasmparser::Payload::CustomSection(c) => Some(c.name().to_owned()),
                _ => None,
            })
            .collect()
    }

    /// A module with a used and an unused function, names, a producers
    /// section and a target_features section.
    fn sample() -> Vec<u8> {
        let mut module = wasm_encoder::Module::new();
        let mut types = wasm_encoder::TypeSection::new();
        types.ty().function([], [wasm_encoder::ValType::I32]);
        module.section(&types);
        let mut funcs = wasm_encoder::FunctionSection::new();
        funcs.function(0);
        funcs.function(0);
        module.section(&funcs);
        let mut exports = wasm_encoder::ExportSection::new();
        exports.export("answer", wasm_encoder::ExportKind::Func, 0);
        module.section(&exports);
        let mut code = wasm_encoder::CodeSection::new();
        for value in [42, 7] {
            let mut f = wasm_encoder::Function::new([]);
            f.instructions().i32_const(value).end();
            code.function(&f);
        }
        module.section(&code);
        let mut names = wasm_encoder::NameSection::new();
        let mut fnames = wasm_encoder::NameMap::new();
        fnames.append(0, "answer_impl");
        fnames.append(1, "unused");
        names.functions(&fnames);
        module.section(&names);
        module.section(&wasm_encoder::CustomSection { name: "producers".into(), data: [0u8][..].into() });
        module.section(&wasm_encoder::CustomSection { name: "target_features".into(), data: [0u8][..].into() });
        module.finish()
    }

    #[test]
    fn drops_custom_sections_and_dead_code_but_keeps_names() {
        let mut module = Module::from_buffer(&sample()).unwrap();
        let report = run(&mut module, false, None);
        assert!(report.dropped_sections.contains(&"target_features".to_owned()), "{report:?}");
        let out = module.emit_wasm();
        assert_eq!(custom_section_names(&out), vec!["name".to_owned()]);
        assert_eq!(module.funcs.iter().count(), 1, "the unreferenced function is gone");
        assert_eq!(module.funcs.iter().next().unwrap().name.as_deref(), Some("answer_impl"));
        wasmparser::Validator::new().validate_all(&out).unwrap();
    }
}
