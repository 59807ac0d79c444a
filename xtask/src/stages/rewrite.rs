//! Stage 3: rewrite the module with walrus before it is optimized.
//!
//! Drops what the runtime never reads (the producers, target_features and
//! DWARF custom sections, and in release builds the name section) and removes
//! items nothing references. It runs before wasm-opt, not after: re-encoding an
//! optimized module with walrus makes it slightly larger.

use walrus::Module;

/// What the rewrite removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rewritten {
    /// Custom sections dropped, by name.
    pub dropped_sections: Vec<String>,
    /// Whether function and other names were stripped.
    pub stripped_names: bool,
}

/// Rewrites `module` in place.
pub fn run(module: &mut Module, keep_names: bool) -> Rewritten {
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
    if !keep_names {
        strip_names(module);
        report.stripped_names = true;
    }
    walrus::passes::gc::run(module);
    report
}

fn strip_names(module: &mut Module) {
    /// Clears `name` on every item of arenas that only offer `get_mut`.
    macro_rules! clear {
        ($($arena:ident),*) => {$(
            let ids: Vec<_> = module.$arena.iter().map(|item| item.id()).collect();
            for id in ids {
                module.$arena.get_mut(id).name = None;
            }
        )*};
    }
    module.name = None;
    module.funcs.iter_mut().for_each(|f| f.name = None);
    module.tables.iter_mut().for_each(|t| t.name = None);
    module.memories.iter_mut().for_each(|m| m.name = None);
    module.elements.iter_mut().for_each(|e| e.name = None);
    clear!(locals, types, globals, data);
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
    fn drops_custom_sections_names_and_dead_code() {
        let mut module = Module::from_buffer(&sample()).unwrap();
        let report = run(&mut module, false);
        assert!(report.dropped_sections.contains(&"target_features".to_owned()), "{report:?}");
        let out = module.emit_wasm();
        assert_eq!(custom_section_names(&out), Vec::<String>::new());
        assert_eq!(module.funcs.iter().count(), 1, "the unreferenced function is gone");
        wasmparser::Validator::new().validate_all(&out).unwrap();
    }

    #[test]
    fn keeps_names_when_asked() {
        let mut module = Module::from_buffer(&sample()).unwrap();
        run(&mut module, true);
        let out = module.emit_wasm();
        assert_eq!(custom_section_names(&out), vec!["name".to_owned()]);
    }
}
