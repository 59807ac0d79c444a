//! Stage 5: lay the function bodies out so that gzip compresses them best.
//!
//! Cloudflare's limits and wrangler count the *gzip* size of the upload, and
//! DEFLATE only sees repeats within 32 KiB: bodies that look alike compress
//! far better next to each other than where the linker happened to put them.
//! [`edge_pipeline_layout::similarity_order`] picks the order; this stage rewrites the
//! module for it, renumbering every reference to a function (calls,
//! `ref.func`, the element segments, exports, the start function and the name
//! section). Everything else is re-encoded unchanged, so an unchanged order
//! reproduces the input byte for byte (a test checks it).
//!
//! It runs after wasm-opt, whose passes would otherwise decide the order, and
//! before the strip stage, so the symbol map has the final indices.

use anyhow::{Context, Result};
use wasm_encoder::reencode::{self, Reencode};
use wasmparser::{Parser, Payload, TypeRef};

/// `wasm` with its function bodies reordered by similarity.
pub fn run(wasm: &[u8]) -> Result<Vec<u8>> {
    let (imported, bodies) = function_bodies(wasm)?;
    let order = edge_pipeline_layout::similarity_order(&bodies);
    with_order(wasm, imported, &order)
}

/// The number of imported functions and each local function's body bytes.
fn function_bodies(wasm: &[u8]) -> Result<(u32, Vec<&[u8]>)> {
    let corrupt = "the module is not valid WebAssembly";
    let mut imported = 0;
    let mut bodies = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.context(corrupt)? {
            Payload::ImportSection(section) => {
                for import in section.into_imports() {
                    imported += u32::from(matches!(import.context(corrupt)?.ty, TypeRef::Func(_)));
                }
            }
            Payload::CodeSectionEntry(body) => bodies.push(&wasm[body.range()]),
            _ => {}
        }
    }
    Ok((imported, bodies))
}

/// `wasm` with local function `order[i]` moved to position `i`.
fn with_order(wasm: &[u8], imported: u32, order: &[usize]) -> Result<Vec<u8>> {
    let mut new_index: Vec<u32> = (0..imported).collect();
    new_index.resize(imported as usize + order.len(), 0);
    for (position, &old) in order.iter().enumerate() {
        new_index[imported as usize + old] = imported + position as u32;
    }
    let mut module = wasm_encoder::Module::new();
    Renumber { new_index, order }
        .parse_core_module(&mut module, Parser::new(0), wasm)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("cannot re-encode the module to reorder its functions")?;
    Ok(module.finish())
}

/// Re-encodes a module with its local functions permuted.
struct Renumber<'a> {
    /// Old function index → new.
    new_index: Vec<u32>,
    /// New local position → old local position.
    order: &'a [usize],
}

type Error = reencode::Error<std::convert::Infallible>;

impl Reencode for Renumber<'_> {
    type Error = std::convert::Infallible;

    fn function_index(&mut self, func: u32) -> Result<u32, Error> {
        Ok(self.new_index[func as usize])
    }

    fn parse_function_section(
        &mut self,
        functions: &mut wasm_encoder::FunctionSection,
        section: wasmparser::FunctionSectionReader<'_>,
    ) -> Result<(), Error> {
        let types = section.into_iter().collect::<Result<Vec<u32>, _>>()?;
        for &old in self.order {
            functions.function(self.type_index(types[old])?);
        }
        Ok(())
    }

    fn parse_code_section(
        &mut self,
        code: &mut wasm_encoder::CodeSection,
        section: wasmparser::CodeSectionReader<'_>,
    ) -> Result<(), Error> {
        let bodies = section.into_iter().collect::<Result<Vec<_>, _>>()?;
        for &old in self.order {
            self.parse_function_body(code, bodies[old].clone())?;
        }
        Ok(())
    }

    /// Name maps must stay sorted by index.
    fn parse_custom_name_subsection(
        &mut self,
        names: &mut wasm_encoder::NameSection,
        section: wasmparser::Name<'_>,
    ) -> Result<(), Error> {
        match section {
            wasmparser::Name::Function(map) => {
                let mut entries = Vec::new();
                for naming in map {
                    let naming = naming?;
                    entries.push((self.function_index(naming.index)?, naming.name));
                }
                entries.sort_by_key(|&(index, _)| index);
                let mut out = wasm_encoder::NameMap::new();
                for (index, name) in entries {
                    out.append(index, name);
                }
                names.functions(&out);
            }
            wasmparser::Name::Local(map) => {
                let mut entries = Vec::new();
                for naming in map {
                    let naming = naming?;
                    entries.push((self.function_index(naming.index)?, reencode::utils::name_map(naming.names, Ok)?));
                }
                entries.sort_by_key(|&(index, _)| index);
                let mut out = wasm_encoder::IndirectNameMap::new();
                for (index, locals) in &entries {
                    out.append(*index, locals);
                }
                names.locals(&out);
            }
            other => reencode::utils::parse_custom_name_subsection(self, names, other)?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_encoder::{
        CodeSection, ConstExpr, ElementSection, Elements, ExportKind, ExportSection, Function, FunctionSection,
        ImportSection, Module, NameMap, NameSection, RefType, TableSection, TableType, TypeSection, ValType,
    };

    /// An imported function, then `add1` (local 1), `twice` (2: calls `add1`
    /// twice), `answer` (3: `twice(40)`), and `via_table` (4: calls slot 0 of
    /// a table holding `answer`), with names, exports and an element segment.
    fn sample() -> Vec<u8> {
        let mut m = Module::new();
        let mut types = TypeSection::new();
        types.ty().function([ValType::I32], [ValType::I32]);
        types.ty().function([], [ValType::I32]);
        m.section(&types);
        let mut imports = ImportSection::new();
        imports.import("env", "ext", wasm_encoder::EntityType::Function(0));
        m.section(&imports);
        let mut funcs = FunctionSection::new();
        for ty in [0, 0, 1, 1] {
            funcs.function(ty);
        }
        m.section(&funcs);
        let mut tables = TableSection::new();
        tables.table(TableType {
            element_type: RefType::FUNCREF,
            minimum: 1,
            maximum: Some(1),
            table64: false,
            shared: false,
        });
        m.section(&tables);
        let mut exports = ExportSection::new();
        exports.export("answer", ExportKind::Func, 3);
        exports.export("via_table", ExportKind::Func, 4);
        exports.export("twice", ExportKind::Func, 2);
        m.section(&exports);
        let mut elements = ElementSection::new();
        elements.active(Some(0), &ConstExpr::i32_const(0), Elements::Functions([3].as_slice().into()));
        m.section(&elements);
        let mut code = CodeSection::new();
        let mut f = Function::new([]);
        f.instructions().local_get(0).i32_const(1).i32_add().end();
        code.function(&f);
        let mut f = Function::new([]);
        f.instructions().local_get(0).call(1).call(1).end();
        code.function(&f);
        let mut f = Function::new([]);
        f.instructions().i32_const(40).call(2).end();
        code.function(&f);
        let mut f = Function::new([]);
        f.instructions().i32_const(0).call_indirect(0, 1).end();
        code.function(&f);
        m.section(&code);
        let mut names = NameSection::new();
        let mut map = NameMap::new();
        for (i, name) in ["ext", "add1", "twice", "answer", "via_table"].iter().enumerate() {
            map.append(i as u32, name);
        }
        names.functions(&map);
        m.section(&names);
        m.finish()
    }

    fn function_names(wasm: &[u8]) -> Vec<String> {
        let text = crate::stages::strip::symbol_map(wasm).unwrap();
        text.lines().map(|l| l.split_once(':').unwrap().1.to_owned()).collect()
    }

    #[test]
    fn the_same_order_reproduces_the_module_byte_for_byte() {
        let wasm = sample();
        assert_eq!(with_order(&wasm, 1, &[0, 1, 2, 3]).unwrap(), wasm);
    }

    #[test]
    fn a_new_order_renumbers_every_reference_and_keeps_behaviour() {
        let wasm = sample();
        let reordered = with_order(&wasm, 1, &[3, 1, 0, 2]).unwrap();
        wasmparser::Validator::new().validate_all(&reordered).unwrap();
        assert_eq!(function_names(&reordered), ["ext", "via_table", "twice", "add1", "answer"]);

        let script = r#"
            import { readFileSync } from "node:fs";
            const run = (path) => {
                const { exports } = new WebAssembly.Instance(
                    new WebAssembly.Module(readFileSync(path)), { env: { ext: (x) => x } });
                return [exports.answer(), exports.via_table(), exports.twice(5)].join(",");
            };
            console.log(run(process.argv[2]) + " " + run(process.argv[3]));
        "#;
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("before.wasm"), dir.path().join("after.wasm"));
        std::fs::write(&a, &wasm).unwrap();
        std::fs::write(&b, &reordered).unwrap();
        let out = crate::node::run(&crate::node::for_tests(), script, &[a.as_os_str(), b.as_os_str()]).unwrap();
        assert_eq!(out.trim(), "42,42,7 42,42,7");
    }

    #[test]
    fn run_keeps_every_function() {
        let out = run(&sample()).unwrap();
        let mut names = function_names(&out);
        names.sort();
        assert_eq!(names, ["add1", "answer", "ext", "twice", "via_table"]);
    }

    #[test]
    fn corrupt_input_is_an_error_not_a_crash() {
        let err = run(b"\0asm\x01\0\0\0garbage").unwrap_err();
        assert!(format!("{err:#}").contains("not valid WebAssembly"), "{err:#}");
    }
}
