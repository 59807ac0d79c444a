//! Which post-MVP WebAssembly features a module actually uses, read with
//! wasmparser.
//!
//! The optimizer is told to enable exactly these (never a hard-coded list),
//! and a feature the bundled binaryen cannot read is caught before it is
//! handed a module it would reject with a less helpful message.

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use wasmparser::{ConstExpr, Operator, Parser, Payload, TypeRef, ValType};

/// A feature, named as wasmparser names its proposal (`bulk_memory`,
/// `reference_types`, …) or, for features with no instructions of their own,
/// `multivalue`, `mutable_globals`, `multi_memory`, `memory64`,
/// `extended_const`, `exnref`.
pub type Feature = &'static str;

/// Scans every type, import, export, global, memory, table and instruction.
pub fn used(wasm: &[u8]) -> Result<BTreeSet<Feature>> {
    let mut found = BTreeSet::new();
    let mut memories = 0;
    let mut tables = 0;
    let mut global_mutability = Vec::new();
    let mut exported_globals = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.context("the module is not valid WebAssembly")? {
            Payload::TypeSection(reader) => {
                for ty in reader.into_iter_err_on_gc_types() {
                    let ty = ty?;
                    if ty.results().len() > 1 {
                        found.insert("multivalue");
                    }
                    for v in ty.params().iter().chain(ty.results()) {
                        value_type(*v, &mut found);
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    match import?.ty {
                        TypeRef::Global(g) => {
                            if g.mutable {
                                found.insert("mutable_globals");
                            }
                            global_mutability.push(g.mutable);
                        }
                        TypeRef::Memory(m) => {
                            memories += 1;
                            memory_type(m, &mut found);
                        }
                        TypeRef::Table(t) => {
                            tables += 1;
                            table_type(t, &mut found);
                        }
                        TypeRef::Tag(_) => {
                            found.insert("exceptions");
                        }
                        _ => {}
                    }
                }
            }
            Payload::MemorySection(reader) => {
                for m in reader {
                    memories += 1;
                    memory_type(m?, &mut found);
                }
            }
            Payload::TableSection(reader) => {
                for t in reader {
                    tables += 1;
                    table_type(t?.ty, &mut found);
                }
            }
            Payload::TagSection(_) => {
                found.insert("exceptions");
            }
            Payload::GlobalSection(reader) => {
                for g in reader {
                    let g = g?;
                    global_mutability.push(g.ty.mutable);
                    value_type(g.ty.content_type, &mut found);
                    const_expr(&g.init_expr, &mut found)?;
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export?;
                    if export.kind == wasmparser::ExternalKind::Global {
                        exported_globals.push(export.index);
                    }
                }
            }
            Payload::DataCountSection { .. } => {
                found.insert("bulk_memory");
            }
            Payload::DataSection(reader) => {
                for data in reader {
                    match data?.kind {
                        wasmparser::DataKind::Passive => {
                            found.insert("bulk_memory");
                        }
                        wasmparser::DataKind::Active { offset_expr, .. } => const_expr(&offset_expr, &mut found)?,
                    }
                }
            }
            Payload::CodeSectionEntry(body) => {
                for local in body.get_locals_reader()? {
                    value_type(local?.1, &mut found);
                }
                let mut ops = body.get_operators_reader()?;
                while !ops.eof() {
                    operator(&ops.read()?, &mut found);
                }
            }
            _ => {}
        }
    }
    if exported_globals.iter().any(|&i| global_mutability.get(i as usize) == Some(&true)) {
        found.insert("mutable_globals");
    }
    if memories > 1 {
        found.insert("multi_memory");
    }
    if tables > 1 {
        found.insert("reference_types");
    }
    Ok(found)
}

/// The feature flag of binaryen 116 (the `wasm-opt` crate) for a feature, or
/// `Err` with why it cannot be read.
pub fn binaryen_flag(feature: Feature) -> Result<wasm_opt::Feature, &'static str> {
    use wasm_opt::Feature as B;
    Ok(match feature {
        "sign_extension" => B::SignExt,
        "saturating_float_to_int" => B::TruncSat,
        "bulk_memory" => B::BulkMemory,
        "reference_types" => B::ReferenceTypes,
        "multivalue" => B::Multivalue,
        "mutable_globals" => B::MutableGlobals,
        "simd" => B::Simd,
        "relaxed_simd" => B::RelaxedSimd,
        "threads" => B::Atomics,
        "exceptions" | "legacy_exceptions" => B::ExceptionHandling,
        "tail_call" => B::TailCall,
        "gc" | "function_references" => B::Gc,
        "memory64" => B::Memory64,
        "multi_memory" => B::MultiMemory,
        "extended_const" => B::ExtendedConst,
        "exnref" => {
            return Err("exnref exception handling (`try_table`, `throw_ref`) is newer than binaryen 116; \
                        wasm-bindgen emits it for `--force-enable-abort-handler` and Rust for \
                        `panic = \"unwind\"` builds: use `panic = \"abort\"` and leave the abort handler off");
        }
        _ => return Err("binaryen 116 does not implement this proposal"),
    })
}

fn operator(op: &Operator, found: &mut BTreeSet<Feature>) {
    match op {
        // The only instructions of the exceptions proposal binaryen 116 lacks.
        Operator::TryTable { .. } | Operator::ThrowRef => {
            found.insert("exnref");
        }
        Operator::Block { blockty: wasmparser::BlockType::FuncType(_) }
        | Operator::Loop { blockty: wasmparser::BlockType::FuncType(_) }
        | Operator::If { blockty: wasmparser::BlockType::FuncType(_) } => {
            found.insert("multivalue");
        }
        Operator::CallIndirect { table_index, .. } if *table_index != 0 => {
            found.insert("reference_types");
        }
        _ => {}
    }
    let proposal = proposal(op);
    if proposal != "mvp" {
        found.insert(proposal);
    }
}

macro_rules! define_proposal {
    ($( @$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*) )*) => {
        /// The proposal that introduced `op`, as wasmparser lists it.
        fn proposal(op: &Operator) -> Feature {
            match op {
                $( Operator::$op { .. } => stringify!($proposal), )*
                #[allow(unreachable_patterns)]
                _ => "unknown",
            }
        }
    };
}
wasmparser::for_each_operator!(define_proposal);

fn value_type(ty: ValType, found: &mut BTreeSet<Feature>) {
    match ty {
        ValType::V128 => {
            found.insert("simd");
        }
        ValType::Ref(r) if r == wasmparser::RefType::EXNREF || r == wasmparser::RefType::EXN => {
            found.insert("exnref");
        }
        ValType::Ref(r) if r == wasmparser::RefType::FUNCREF || r == wasmparser::RefType::EXTERNREF => {
            found.insert("reference_types");
        }
        ValType::Ref(_) => {
            found.insert("gc");
        }
        _ => {}
    }
}

fn memory_type(m: wasmparser::MemoryType, found: &mut BTreeSet<Feature>) {
    if m.memory64 {
        found.insert("memory64");
    }
    if m.shared {
        found.insert("threads");
    }
}

fn table_type(t: wasmparser::TableType, found: &mut BTreeSet<Feature>) {
    if t.element_type != wasmparser::RefType::FUNCREF {
        value_type(ValType::Ref(t.element_type), found);
    }
}

fn const_expr(expr: &ConstExpr, found: &mut BTreeSet<Feature>) -> Result<()> {
    let mut ops = expr.get_operators_reader();
    while !ops.eof() {
        match ops.read()? {
            Operator::I32Add
            | Operator::I32Sub
            | Operator::I32Mul
            | Operator::I64Add
            | Operator::I64Sub
            | Operator::I64Mul => {
                found.insert("extended_const");
            }
            op => operator(&op, found),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_encoder::{CodeSection, Function, FunctionSection, Instruction, Module, TypeSection, ValType as V};

    /// A module with one function `() -> results` whose body is `body`.
    fn module(results: &[V], body: &[Instruction]) -> Vec<u8> {
        let mut m = Module::new();
        let mut types = TypeSection::new();
        types.ty().function([], results.iter().copied());
        m.section(&types);
        let mut funcs = FunctionSection::new();
        funcs.function(0);
        m.section(&funcs);
        let mut code = CodeSection::new();
        let mut f = Function::new([]);
        for i in body {
            f.instruction(i);
        }
        f.instruction(&Instruction::End);
        code.function(&f);
        m.section(&code);
        m.finish()
    }

    #[test]
    fn mvp_module_uses_nothing() {
        let wasm = module(&[V::I32], &[Instruction::I32Const(1)]);
        assert!(used(&wasm).unwrap().is_empty());
    }

    #[test]
    fn finds_features_from_instructions_and_types() {
        let wasm =
            module(&[V::I32, V::I32], &[Instruction::I32Const(1), Instruction::I32Extend8S, Instruction::I32Const(2)]);
        let found = used(&wasm).unwrap();
        assert_eq!(found.into_iter().collect::<Vec<_>>(), ["multivalue", "sign_extension"]);
        let simd = module(&[V::V128], &[Instruction::V128Const(0)]);
        assert!(used(&simd).unwrap().contains("simd"));
    }

    #[test]
    fn exnref_is_refused_for_binaryen_116_with_the_fix() {
        let err = binaryen_flag("exnref").unwrap_err();
        assert!(err.contains("--force-enable-abort-handler") && err.contains("panic = \"abort\""), "{err}");
        assert!(binaryen_flag("bulk_memory").is_ok());
        assert!(binaryen_flag("wide_arithmetic").is_err());
    }
}
