//! Dead data: zero the bytes of the data segment that nothing live refers to.
//!
//! The linker lays every string, table and `Location` out in one data
//! segment, and nothing after it can tell which of them are still used:
//! walrus and binaryen remove dead *code*, but a segment is an opaque blob.
//! After `--snip` most panic sites are gone, and with them every use of their
//! messages, file names and `Location`s: here 23,852 non-zero bytes of a
//! 143,605-byte segment.
//!
//! The cargo stage links with `--emit-relocs`, so the raw module says where
//! each data symbol lies (the `linking` section) and which instruction or
//! data word refers to which symbol (`reloc.CODE`, `reloc.DATA`). walrus
//! remembers each instruction's offset in that raw module, through
//! wasm-bindgen. A data symbol is live when a live instruction or a live
//! data word refers to it, or it is exported; everything else is zeroed, and
//! wasm-opt's memory packing drops the zero runs.
//!
//! Conservative on purpose: any `i32.const`, memory offset or aligned data
//! word whose value falls inside a symbol keeps that symbol, relocation or
//! not (so code wasm-bindgen wrote, which has no offset in the raw module,
//! is covered too), and bytes no symbol describes are never touched.

use std::ops::Range;

use anyhow::{Context, Result};
use walrus::ir::{Instr, InstrLocId, Value, Visitor};
use walrus::{ConstExpr, DataKind, Module};
use wasmparser::{
    DataKind as RawDataKind, KnownCustom, Linking, Operator, Parser, Payload, RelocationType, SymbolInfo,
};

/// What the linker said about the raw module's data.
#[derive(Debug, Default)]
pub struct Relocations {
    /// File offset of every operator in the code section, ascending.
    operators: Vec<u32>,
    /// (file offset of a patched immediate, data symbol), by offset.
    code_refs: Vec<(u32, usize)>,
    /// (address of a patched data word, data symbol), by address.
    data_refs: Vec<(u32, usize)>,
    /// Address range of each defined data symbol, by symbol index.
    symbols: Vec<Option<Range<u32>>>,
    /// Symbols the module exports or the linker was told to keep.
    roots: Vec<usize>,
}

impl Relocations {
    /// Reads the relocations of the module cargo built; `None` when it was
    /// linked without `--emit-relocs` or lays data out in a way this pass
    /// does not handle (passive segments, a computed segment offset).
    pub fn parse(wasm: &[u8]) -> Result<Option<Relocations>> {
        let corrupt = "the module cargo built is not valid WebAssembly";
        let mut relocs = Relocations::default();
        let mut code_start = 0;
        // (content range relative to the data section's contents, address).
        let mut segments: Vec<(Range<usize>, u32)> = Vec::new();
        let mut defined = Vec::new();
        let (mut code_entries, mut data_entries) = (None, None);
        let mut bodies = Vec::new();
        for payload in Parser::new(0).parse_all(wasm) {
            match payload.context(corrupt)? {
                Payload::CodeSectionStart { range, .. } => code_start = range.start,
                Payload::CodeSectionEntry(body) => bodies.push(body),
                Payload::DataSection(section) => {
                    let data_start = section.range().start;
                    for segment in section {
                        let segment = segment.context(corrupt)?;
                        let RawDataKind::Active { memory_index: 0, offset_expr } = segment.kind else {
                            return Ok(None);
                        };
                        let Ok(Operator::I32Const { value }) = offset_expr.get_operators_reader().read() else {
                            return Ok(None);
                        };
                        let end = segment.range.end - data_start;
                        segments.push((end - segment.data.len()..end, value as u32));
                    }
                }
                Payload::CustomSection(section) => match section.as_known() {
                    KnownCustom::Linking(linking) => {
                        for subsection in linking.subsections() {
                            let Linking::SymbolTable(table) = subsection.context(corrupt)? else { continue };
                            for (index, symbol) in table.into_iter().enumerate() {
                                if let SymbolInfo::Data { flags, symbol: Some(def), .. } = symbol.context(corrupt)? {
                                    defined.push((index, def));
                                    if flags.intersects(
                                        wasmparser::SymbolFlags::EXPORTED | wasmparser::SymbolFlags::NO_STRIP,
                                    ) {
                                        relocs.roots.push(index);
                                    }
                                }
                                relocs.symbols.push(None);
                            }
                        }
                    }
                    KnownCustom::Reloc(reloc) if section.name() == "reloc.CODE" => code_entries = Some(reloc),
                    KnownCustom::Reloc(reloc) if section.name() == "reloc.DATA" => data_entries = Some(reloc),
                    _ => {}
                },
                _ => {}
            }
        }
        let Some(code_entries) = code_entries else { return Ok(None) };
        // Walked only now: a module without relocations (a dev build) costs nothing more.
        for body in bodies {
            let mut ops = body.get_operators_reader().context(corrupt)?;
            while !ops.eof() {
                relocs.operators.push(ops.original_position() as u32);
                ops.read().context(corrupt)?;
            }
        }
        for (index, def) in defined {
            let Some((_, base)) = segments.get(def.index as usize) else { return Ok(None) };
            let start = base + def.offset;
            relocs.symbols[index] = Some(start..start + def.size);
        }
        let is_data =
            |symbols: &[Option<Range<u32>>], index: u32| symbols.get(index as usize).is_some_and(Option::is_some);
        for entry in code_entries.entries() {
            let entry = entry.context(corrupt)?;
            if is_memory_address(entry.ty) && is_data(&relocs.symbols, entry.index) {
                relocs.code_refs.push(((code_start + entry.offset as usize) as u32, entry.index as usize));
            }
        }
        if let Some(data_entries) = data_entries {
            for entry in data_entries.entries() {
                let entry = entry.context(corrupt)?;
                if !is_memory_address(entry.ty) || !is_data(&relocs.symbols, entry.index) {
                    continue;
                }
                let offset = entry.offset as usize;
                let Some((range, base)) = segments.iter().find(|(r, _)| r.contains(&offset)) else { return Ok(None) };
                relocs.data_refs.push((base + (offset - range.start) as u32, entry.index as usize));
            }
        }
        relocs.code_refs.sort_unstable();
        relocs.data_refs.sort_unstable();
        Ok(Some(relocs))
    }

    /// The operator (by file offset) whose immediate holds `position`.
    fn operator_at(&self, position: u32) -> Option<u32> {
        let after = self.operators.partition_point(|&p| p <= position);
        after.checked_sub(1).map(|i| self.operators[i])
    }
}

/// `wasm` without the linker's `linking` and `reloc.*` sections. They follow
/// the sections they describe, so every offset in the code section stays
/// what [`Relocations`] recorded.
pub fn without_relocations(wasm: &[u8]) -> Result<Vec<u8>> {
    crate::stages::strip::without_custom_sections(wasm, |name| name == "linking" || name.starts_with("reloc."))
}

fn is_memory_address(ty: RelocationType) -> bool {
    use RelocationType::*;
    matches!(
        ty,
        MemoryAddrLeb
            | MemoryAddrSleb
            | MemoryAddrI32
            | MemoryAddrRelSleb
            | MemoryAddrLeb64
            | MemoryAddrSleb64
            | MemoryAddrI64
            | MemoryAddrRelSleb64
            | MemoryAddrTlsSleb
            | MemoryAddrLocrelI32
            | MemoryAddrTlsSleb64
    )
}

/// Zeroes the data no live code or data refers to; returns how many bytes.
pub fn run(module: &mut Module, relocs: &Relocations) -> usize {
    let mut live_code = LiveCode::default();
    for (_, f) in module.funcs.iter_local() {
        walrus::ir::dfs_in_order(&mut live_code, f, f.entry_block());
    }
    live_code.offsets.sort_unstable();
    let index = SymbolIndex::new(&relocs.symbols);

    let mut live = vec![false; relocs.symbols.len()];
    let mut work: Vec<usize> = relocs.roots.clone();
    for &(position, symbol) in &relocs.code_refs {
        if relocs.operator_at(position).is_some_and(|op| live_code.offsets.binary_search(&op).is_ok()) {
            work.push(symbol);
        }
    }
    for &value in &live_code.constants {
        work.extend(index.containing(value));
    }
    // Globals holding addresses: what position-independent C code (e.g.
    // built with -fPIC) reads its data's addresses from, through the
    // internal GOT globals the linker makes.
    for global in module.globals.iter() {
        if let walrus::GlobalKind::Local(ConstExpr::Value(Value::I32(value))) = global.kind {
            work.extend(index.containing(value as u32));
        }
    }
    let segments = segments(module);
    while let Some(symbol) = work.pop() {
        if std::mem::replace(&mut live[symbol], true) {
            continue;
        }
        let Some(range) = relocs.symbols[symbol].clone() else { continue };
        let first = relocs.data_refs.partition_point(|&(address, _)| address < range.start);
        work.extend(relocs.data_refs[first..].iter().take_while(|&&(a, _)| a < range.end).map(|&(_, s)| s));
        // Any aligned word inside a live symbol that looks like a pointer.
        for address in (range.start.next_multiple_of(4)..range.end.saturating_sub(3)).step_by(4) {
            if let Some(word) = read_u32(module, &segments, address) {
                work.extend(index.containing(word));
            }
        }
    }

    let (mut described, mut kept) = (Vec::new(), Vec::new());
    for (symbol, range) in relocs.symbols.iter().enumerate() {
        if let Some(range) = range {
            described.push(range.clone());
            if live[symbol] {
                kept.push(range.clone());
            }
        }
    }
    let mut zeroed = 0;
    for dead in difference(&merged(described), &merged(kept)) {
        for &(id, base) in &segments {
            let value = &mut module.data.get_mut(id).value;
            let start = dead.start.saturating_sub(base) as usize;
            let end = (dead.end.saturating_sub(base) as usize).min(value.len());
            if let Some(bytes) = value.get_mut(start..end) {
                zeroed += bytes.iter().filter(|&&b| b != 0).count();
                bytes.fill(0);
            }
        }
    }
    zeroed
}

/// Every instruction's offset in the raw module, and every constant that
/// could be an address.
#[derive(Default)]
struct LiveCode {
    offsets: Vec<u32>,
    constants: Vec<u32>,
}

impl<'instr> Visitor<'instr> for LiveCode {
    fn visit_instr(&mut self, instr: &'instr Instr, loc: &'instr InstrLocId) {
        if !loc.is_default() {
            self.offsets.push(loc.data());
        }
        match instr {
            Instr::Const(c) => match c.value {
                Value::I32(v) => self.constants.push(v as u32),
                Value::I64(v) => self.constants.push(v as u32),
                _ => {}
            },
            Instr::Load(l) => self.constants.push(l.arg.offset as u32),
            Instr::Store(s) => self.constants.push(s.arg.offset as u32),
            Instr::LoadSimd(l) => self.constants.push(l.arg.offset as u32),
            _ => {}
        }
    }
}

/// Symbols by start address, to find those containing an address.
struct SymbolIndex {
    /// (start, end, symbol), by start.
    by_start: Vec<(u32, u32, usize)>,
    /// Largest end among `by_start[..=i]`.
    max_end: Vec<u32>,
}

impl SymbolIndex {
    fn new(symbols: &[Option<Range<u32>>]) -> Self {
        let mut by_start: Vec<_> =
            symbols.iter().enumerate().filter_map(|(i, r)| r.as_ref().map(|r| (r.start, r.end, i))).collect();
        by_start.sort_unstable();
        let max_end =
            by_start.iter().scan(0, |m, &(_, end, _)| Some(std::mem::replace(m, (*m).max(end)).max(end))).collect();
        SymbolIndex { by_start, max_end }
    }

    /// Symbols whose range holds `address`, or ends at it (a pointer one past
    /// the end still belongs to its object).
    fn containing(&self, address: u32) -> impl Iterator<Item = usize> + '_ {
        let upto = self.by_start.partition_point(|&(start, _, _)| start <= address);
        (0..upto)
            .rev()
            .take_while(move |&i| self.max_end[i] > address)
            .filter(move |&i| self.by_start[i].1 > address)
            .map(move |i| self.by_start[i].2)
    }
}

/// Active data segments at constant addresses: (segment, address).
fn segments(module: &Module) -> Vec<(walrus::DataId, u32)> {
    module
        .data
        .iter()
        .filter_map(|d| match d.kind {
            DataKind::Active { offset: ConstExpr::Value(Value::I32(base)), .. } => Some((d.id(), base as u32)),
            _ => None,
        })
        .collect()
}

fn read_u32(module: &Module, segments: &[(walrus::DataId, u32)], address: u32) -> Option<u32> {
    segments.iter().find_map(|&(id, base)| {
        let value = &module.data.get(id).value;
        let at = address.checked_sub(base)? as usize;
        value.get(at..at + 4).map(|b| u32::from_le_bytes(b.try_into().expect("four bytes")))
    })
}

/// Sorted, non-overlapping ranges covering the same addresses.
fn merged(mut ranges: Vec<Range<u32>>) -> Vec<Range<u32>> {
    ranges.sort_unstable_by_key(|r| r.start);
    let mut out: Vec<Range<u32>> = Vec::new();
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// The parts of sorted, disjoint `all` outside sorted, disjoint `keep`.
fn difference(all: &[Range<u32>], keep: &[Range<u32>]) -> Vec<Range<u32>> {
    let mut out = Vec::new();
    for r in all {
        let mut start = r.start;
        let first = keep.partition_point(|k| k.end <= r.start);
        for k in keep[first..].iter().take_while(|k| k.start < r.end) {
            if k.start > start {
                out.push(start..k.start);
            }
            start = start.max(k.end);
        }
        if start < r.end {
            out.push(start..r.end);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny `no_std` cdylib, built by the toolchain's rustc and rust-lld
    /// with relocations kept: one string reached through an export, one
    /// table read by index, and a bounds-check panic with its message,
    /// `Location` and file name.
    const SOURCE: &str = r#"
        #![no_std]
        #[panic_handler]
        fn panic(_: &core::panic::PanicInfo) -> ! { core::arch::wasm32::unreachable() }
        static KEPT: &str = "kept-string-reached-through-an-export";
        static TABLE: &[u8; 24] = b"lookup-table-read-by-idx";
        #[unsafe(no_mangle)]
        pub extern "C" fn kept_ptr() -> *const u8 { KEPT.as_ptr() }
        #[unsafe(no_mangle)]
        pub extern "C" fn lookup(i: usize) -> u8 { TABLE[i] }
    "#;

    fn compile(dir: &std::path::Path) -> Vec<u8> {
        let (src, out) = (dir.join("tiny_crate.rs"), dir.join("tiny.wasm"));
        std::fs::write(&src, SOURCE).unwrap();
        let status = std::process::Command::new("rustc")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["--target", "wasm32-unknown-unknown", "--crate-type", "cdylib", "--edition", "2024"])
            .args(["-C", "opt-level=s", "-C", "panic=abort", "-C", "strip=debuginfo"])
            .args(["-C", "link-arg=--emit-relocs", "-o"])
            .arg(&out)
            .arg(&src)
            .status()
            .unwrap();
        assert!(status.success(), "rustc failed (is the wasm32-unknown-unknown target installed?)");
        std::fs::read(out).unwrap()
    }

    fn contains(haystack: &[u8], needle: &str) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
    }

    /// Position-independent C code (libjpeg built with -fPIC) reads its
    /// data's addresses from the linker's GOT globals, not from constants in
    /// its code: a table only such a global points at is kept.
    #[test]
    fn data_a_global_points_at_is_kept() {
        let build = |with_global: bool| {
            let mut module = walrus::Module::default();
            let memory = module.memories.add_local(false, false, 1, None, None);
            let offset = ConstExpr::Value(Value::I32(1024));
            module.data.add(DataKind::Active { memory, offset }, b"table-behind-a-got-global".to_vec());
            if with_global {
                let address = ConstExpr::Value(Value::I32(1030));
                module.globals.add_local(walrus::ValType::I32, false, false, address);
            }
            let relocs = Relocations { symbols: vec![Some(1024..1049)], ..Relocations::default() };
            let zeroed = run(&mut module, &relocs);
            (zeroed, module.emit_wasm())
        };
        let (zeroed, out) = build(true);
        assert_eq!(zeroed, 0);
        assert!(contains(&out, "table-behind-a-got-global"));
        // Without the global nothing refers to it: zeroed.
        let (zeroed, out) = build(false);
        assert_eq!(zeroed, 25);
        assert!(!contains(&out, "table-behind-a-got-global"));
    }

    #[test]
    fn zeroes_what_only_the_panic_used_and_keeps_the_rest_working() {
        let dir = tempfile::tempdir().unwrap();
        let raw = compile(dir.path());
        let relocs = Relocations::parse(&raw).unwrap().expect("linked with --emit-relocs");
        let plain = without_relocations(&raw).unwrap();
        assert!(contains(&plain, "index out of bounds") && contains(&plain, "tiny_crate.rs"));

        let mut module = walrus::Module::from_buffer(&plain).unwrap();
        let report = crate::stages::rewrite::run(&mut module, true, Some(&relocs));
        let out = module.emit_wasm();
        assert!(report.dead_data.is_some_and(|n| n > 40), "{report:?}");
        assert!(!contains(&out, "index out of bounds"), "the panic message is gone");
        assert!(!contains(&out, "tiny_crate.rs"), "so is the file name of its `Location`");
        assert!(contains(&out, "kept-string-reached-through-an-export"));
        assert!(contains(&out, "lookup-table-read-by-idx"));

        let script = r#"
            import { readFileSync } from "node:fs";
            const { exports } = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(process.argv[2])), {});
            const text = new TextDecoder().decode(new Uint8Array(exports.memory.buffer, exports.kept_ptr(), 11));
            let trapped = false;
            try { exports.lookup(100); } catch (e) { trapped = e instanceof WebAssembly.RuntimeError; }
            console.log([text, String.fromCharCode(exports.lookup(3)), trapped].join(","));
        "#;
        let path = dir.path().join("out.wasm");
        std::fs::write(&path, &out).unwrap();
        let printed = crate::node::run(&crate::node::for_tests(), script, &[path.as_os_str()]).unwrap();
        assert_eq!(printed.trim(), "kept-string,k,true");
    }

    #[test]
    fn relocations_land_where_the_linker_put_them() {
        let dir = tempfile::tempdir().unwrap();
        let raw = compile(dir.path());
        let relocs = Relocations::parse(&raw).unwrap().unwrap();
        let module = walrus::Module::from_buffer(&without_relocations(&raw).unwrap()).unwrap();
        let segments = segments(&module);
        assert!(!relocs.data_refs.is_empty() && !relocs.code_refs.is_empty());
        // Each pointer stored in data holds the address of the symbol it is relocated against.
        for &(address, symbol) in &relocs.data_refs {
            let target = relocs.symbols[symbol].clone().unwrap();
            let pointer = read_u32(&module, &segments, address).unwrap();
            assert!(target.contains(&pointer) || pointer == target.end, "{pointer} outside {target:?}");
        }
        // Each code relocation falls inside an instruction of the code section.
        for &(position, _) in &relocs.code_refs {
            let op = relocs.operator_at(position).unwrap();
            assert!(op < position && position - op < 6, "operator at {op}, immediate at {position}");
        }
    }

    #[test]
    fn a_module_without_relocations_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let plain = without_relocations(&compile(dir.path())).unwrap();
        assert!(Relocations::parse(&plain).unwrap().is_none());
    }

    #[test]
    fn ranges_merge_and_subtract() {
        assert_eq!(merged(vec![5..8, 0..2, 1..3, 8..9]), vec![0..3, 5..9]);
        assert_eq!(difference(&[0..10, 20..30], &[2..4, 8..22, 25..26]), vec![0..2, 4..8, 22..25, 26..30]);
        let whole = vec![Range { start: 0, end: 4 }];
        assert!(difference(&whole, &whole).is_empty());
    }

    #[test]
    fn finds_the_symbols_holding_an_address() {
        let symbols = vec![Some(10..20), None, Some(12..14), Some(20..30), Some(0..100)];
        let index = SymbolIndex::new(&symbols);
        let at = |a| {
            let mut v: Vec<_> = index.containing(a).collect();
            v.sort();
            v
        };
        assert_eq!(at(13), vec![0, 2, 4]);
        assert_eq!(at(20), vec![3, 4], "an end is not inside");
        assert_eq!(at(100), Vec::<usize>::new());
    }
}
