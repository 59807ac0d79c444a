//! `cargo edge size`: where the bytes of the final module are — per section,
//! per crate and per function — and how that changed against a saved baseline.
//!
//! cargo-bloat does not read Wasm and twiggy cannot see names once they are
//! stripped; this reads the final `index_bg.wasm` with the symbol map the
//! strip stage wrote from names captured before stripping.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::json;
use wasmparser::{Parser, Payload};

use crate::build::SYMBOLS_FILE;
use crate::settings::Settings;
use crate::stages::bindgen::STEM;

/// What `size` prints besides the breakdown.
#[derive(Debug, Clone, Default)]
pub struct SizeOptions {
    /// How many of the largest functions to list.
    pub top: usize,
    /// Save the breakdown as JSON here, as a baseline.
    pub save: Option<std::path::PathBuf>,
    /// Compare against a baseline saved before.
    pub diff: Option<std::path::PathBuf>,
}

/// Where the bytes of one module are.
#[derive(Debug, Default, PartialEq)]
pub struct Breakdown {
    pub total: u64,
    /// Section name → bytes (custom sections as `custom "name"`).
    pub sections: BTreeMap<String, u64>,
    /// Crate → bytes of function bodies.
    pub crates: BTreeMap<String, u64>,
    /// (bytes, function name), largest first.
    pub functions: Vec<(u64, String)>,
}

/// Builds, then prints (or saves, or compares) the breakdown of the output.
pub fn run(settings: &Settings, args: &SizeOptions) -> Result<()> {
    let report = crate::build::run(settings)?;
    if !settings.quiet && !settings.json {
        eprint!("{}", report.table());
    }
    let breakdown = analyze_build(&settings.out_dir)?;
    let baseline = match &args.diff {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the baseline {}; save one with `--save`", path.display()))?;
            Some(Breakdown::from_json(&serde_json::from_str(&text)?)?)
        }
        None => None,
    };
    if settings.json {
        println!("{}", serde_json::to_string_pretty(&breakdown.to_json())?);
    } else {
        print!("{}", breakdown.render(args.top, baseline.as_ref()));
    }
    if let Some(path) = &args.save {
        std::fs::write(path, serde_json::to_string_pretty(&breakdown.to_json())?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("saved the baseline to {}", path.display());
    }
    Ok(())
}

/// Reads the module and symbol map in `out_dir`.
pub fn analyze_build(out_dir: &Path) -> Result<Breakdown> {
    let wasm_path = out_dir.join(format!("{STEM}_bg.wasm"));
    let wasm =
        std::fs::read(&wasm_path).with_context(|| format!("cannot read {}; build first", wasm_path.display()))?;
    let symbols = std::fs::read_to_string(out_dir.join(SYMBOLS_FILE)).unwrap_or_default();
    analyze(&wasm, &symbols)
}

/// Attributes every byte of `wasm` to a section, and every function body to
/// a crate, naming functions from `symbols` (`index:name` lines) or, when the
/// module still has one, its name section.
pub fn analyze(wasm: &[u8], symbols: &str) -> Result<Breakdown> {
    let mut names: BTreeMap<u32, String> = symbols
        .lines()
        .filter_map(|line| line.split_once(':'))
        .filter_map(|(index, name)| Some((index.parse().ok()?, name.to_owned())))
        .collect();
    if names.is_empty() {
        for line in crate::stages::strip::symbol_map(wasm)?.lines() {
            if let Some((index, name)) = line.split_once(':') {
                names.insert(index.parse()?, name.to_owned());
            }
        }
    }

    let mut breakdown = Breakdown { total: wasm.len() as u64, ..Breakdown::default() };
    let mut imported_functions = 0u32;
    let mut body_index = 0u32;
    let mut section_end = 8;
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.context("the module is not valid WebAssembly")?;
        if let Payload::ImportSection(reader) = &payload {
            for import in reader.clone().into_imports() {
                if matches!(import?.ty, wasmparser::TypeRef::Func(_)) {
                    imported_functions += 1;
                }
            }
        }
        if let Payload::CodeSectionEntry(body) = &payload {
            let index = imported_functions + body_index;
            body_index += 1;
            let size = body.range().len() as u64;
            let name = names.get(&index).cloned().unwrap_or_else(|| format!("function[{index}]"));
            *breakdown.crates.entry(crate_row(&name)).or_default() += size;
            breakdown.functions.push((size, name));
        }
        if let Some((id, range)) = payload.as_section() {
            let name = match &payload {
                Payload::CustomSection(c) => format!("custom \"{}\"", c.name()),
                _ => section_name(id).to_owned(),
            };
            // Count the section's header too, so the sections add up to the module.
            *breakdown.sections.entry(name).or_default() += (range.end - section_end) as u64;
            section_end = range.end;
        }
    }
    breakdown.functions.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    Ok(breakdown)
}

fn section_name(id: u8) -> &'static str {
    match id {
        1 => "type",
        2 => "import",
        3 => "function",
        4 => "table",
        5 => "memory",
        6 => "global",
        7 => "export",
        8 => "start",
        9 => "element",
        10 => "code",
        11 => "data",
        12 => "data count",
        13 => "tag",
        _ => "unknown",
    }
}

/// The crate a demangled function name belongs to: the first path segment
/// of the function, or in `<Type as Trait>::method` of the type, else of
/// the trait where the type is generic (`<T as alloc::…>`); a
/// `crate[hash]` segment (V8's profiles) counts as `crate`. `None` for
/// names that are not Rust paths. (`cargo xtask profile` attributes time
/// with it too.)
pub fn crate_of(name: &str) -> Option<&str> {
    let mut path = name;
    if let Some(inner) = name.strip_prefix('<') {
        let inner = inner.trim_start_matches('&').trim_start_matches("mut ").trim_start_matches("dyn ");
        path = match inner.split_once(" as ") {
            Some((ty, tr)) if !ty.contains("::") => tr,
            _ => inner,
        };
    }
    let (first, _) = path.split_once("::")?;
    let first = first.split('[').next().unwrap_or(first);
    let identifier = !first.is_empty() && first.chars().all(|c| c.is_alphanumeric() || c == '_');
    identifier.then_some(first)
}

/// The row of `size`'s crate table a function counts in.
fn crate_row(name: &str) -> String {
    match crate_of(name) {
        Some(krate) => krate.to_owned(),
        None if name.starts_with("__wbg") || name.starts_with("__wbindgen") || name.starts_with("__externref") => {
            "wasm-bindgen (generated)".to_owned()
        }
        None => "[unattributed]".to_owned(),
    }
}

impl Breakdown {
    /// The report `cargo edge size` prints; `baseline` adds a change column.
    pub fn render(&self, top: usize, baseline: Option<&Breakdown>) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "module: {} bytes", self.total);
        self.table(&mut out, "section", &self.sections, baseline.map(|b| &b.sections));
        self.table(&mut out, "crate (function bodies)", &self.crates, baseline.map(|b| &b.crates));
        let _ = writeln!(out, "\n  {:>10} {:>7}  top {top} functions", "bytes", "share");
        for (bytes, name) in self.functions.iter().take(top) {
            let _ = writeln!(out, "  {bytes:>10} {:>6.1}%  {name}", *bytes as f64 / self.total as f64 * 100.0);
        }
        if let Some(baseline) = baseline {
            let _ = writeln!(out, "\nmodule: {} bytes{}", self.total, delta(self.total, Some(baseline.total)));
        }
        out
    }

    fn table(&self, out: &mut String, title: &str, rows: &BTreeMap<String, u64>, old: Option<&BTreeMap<String, u64>>) {
        let mut sorted: Vec<_> = rows.iter().collect();
        sorted.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        let _ = writeln!(out, "\n  {:>10} {:>7}  {title}", "bytes", "share");
        for (name, &bytes) in sorted {
            let share = bytes as f64 / self.total as f64 * 100.0;
            let change = old.map(|o| delta(bytes, o.get(name).copied())).unwrap_or_default();
            let _ = writeln!(out, "  {bytes:>10} {share:>6.1}%  {name}{change}");
        }
        for (name, bytes) in old.into_iter().flatten().filter(|(name, _)| !rows.contains_key(*name)) {
            let _ = writeln!(out, "  {:>10} {:>7}  {name} (gone, was {bytes})", 0, "");
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "total": self.total,
            "sections": self.sections,
            "crates": self.crates,
            "functions": self.functions.iter().map(|(bytes, name)| json!({ "name": name, "bytes": bytes })).collect::<Vec<_>>(),
        })
    }

    pub fn from_json(value: &serde_json::Value) -> Result<Breakdown> {
        let map = |key: &str| -> Result<BTreeMap<String, u64>> {
            serde_json::from_value(value[key].clone())
                .with_context(|| format!("baseline: `{key}` is missing or malformed"))
        };
        let functions = value["functions"]
            .as_array()
            .map(|fs| fs.iter().filter_map(|f| Some((f["bytes"].as_u64()?, f["name"].as_str()?.to_owned()))).collect())
            .unwrap_or_default();
        Ok(Breakdown {
            total: value["total"].as_u64().context("baseline: `total` is missing")?,
            sections: map("sections")?,
            crates: map("crates")?,
            functions,
        })
    }
}

fn delta(now: u64, before: Option<u64>) -> String {
    match before {
        None => "  (new)".to_owned(),
        Some(before) if before == now => String::new(),
        Some(before) => format!("  ({:+} bytes)", now as i64 - before as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crates_come_from_the_path_or_the_self_type() {
        assert_eq!(crate_of("core::fmt::write"), Some("core"));
        assert_eq!(crate_of("<image::codecs::png::PngDecoder<R> as image::ImageDecoder>::read_image"), Some("image"));
        assert_eq!(crate_of("<&mut T as core::fmt::Debug>::fmt"), Some("core"), "a generic type: the trait's crate");
        assert_eq!(crate_of("<fast_image_resize::Foo as core::ops::Drop>::drop"), Some("fast_image_resize"));
        assert_eq!(crate_of("alloc[3ca501edff3f0c7c]::raw_vec::finish_grow"), Some("alloc"), "V8's form");
        assert_eq!(crate_of("edge_fn::transform::transform"), Some("edge_fn"));
        assert_eq!(crate_of("(garbage collector)"), None);
        assert_eq!(crate_row("__wbindgen_malloc"), "wasm-bindgen (generated)");
        assert_eq!(crate_row("function[12]"), "[unattributed]");
    }

    fn module() -> Vec<u8> {
        let mut m = wasm_encoder::Module::new();
        let mut types = wasm_encoder::TypeSection::new();
        types.ty().function([], []);
        m.section(&types);
        let mut imports = wasm_encoder::ImportSection::new();
        imports.import("env", "f", wasm_encoder::EntityType::Function(0));
        m.section(&imports);
        let mut funcs = wasm_encoder::FunctionSection::new();
        funcs.function(0);
        funcs.function(0);
        m.section(&funcs);
        let mut code = wasm_encoder::CodeSection::new();
        for n in [1, 20] {
            let mut f = wasm_encoder::Function::new([]);
            for _ in 0..n {
                f.instructions().nop();
            }
            f.instructions().end();
            code.function(&f);
        }
        m.section(&code);
        m.finish()
    }

    #[test]
    fn attributes_bodies_by_symbol_index_after_imports() {
        let b = analyze(&module(), "1:core::small\n2:image::big\n").unwrap();
        assert_eq!(b.functions[0].1, "image::big", "largest first: {:?}", b.functions);
        assert!(b.crates["image"] > b.crates["core"]);
        assert_eq!(b.sections.values().sum::<u64>() + 8, b.total, "every byte counted: {:?}", b.sections);
    }

    #[test]
    fn baseline_round_trips_and_diffs() {
        let now = analyze(&module(), "1:core::small\n2:image::big\n").unwrap();
        let mut old = Breakdown::from_json(&now.to_json()).unwrap();
        assert_eq!(old, now);
        *old.crates.get_mut("image").unwrap() -= 5;
        old.crates.insert("regex".into(), 100);
        let report = now.render(5, Some(&old));
        assert!(report.contains("image  (+5 bytes)"), "{report}");
        assert!(report.contains("regex (gone, was 100)"), "{report}");
    }
}
