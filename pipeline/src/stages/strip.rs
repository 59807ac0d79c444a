//! Stage 6: move function names out of the module into a symbol map.
//!
//! Names survive rewriting and optimizing so that they still match the final
//! function indices; here they are written to `index_bg.wasm.symbols`
//! (`index:demangled name` per line, the format of Emscripten's
//! `--emit-symbol-map`) so traps can be symbolicated, and the name section is
//! cut out of the binary byte-for-byte, without re-encoding anything else.

use anyhow::{Context, Result};
use wasmparser::{BinaryReader, Name, NameSectionReader, Parser, Payload};

/// The module without its name section, and the names it had.
pub struct Stripped {
    pub wasm: Vec<u8>,
    /// `index:name` lines, by function index.
    pub symbols: String,
}

/// Splits `wasm` into a name-less module and its symbol map.
pub fn run(wasm: &[u8]) -> Result<Stripped> {
    Ok(Stripped { symbols: symbol_map(wasm)?, wasm: without_custom_section(wasm, "name")? })
}

/// Function names from the name section, demangled, one `index:name` per line.
pub fn symbol_map(wasm: &[u8]) -> Result<String> {
    let mut names = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        let Payload::CustomSection(section) = payload.context("the module is not valid WebAssembly")? else {
            continue;
        };
        let wasmparser::KnownCustom::Name(reader) = section.as_known() else { continue };
        for subsection in NameSectionReader::from(reader) {
            // A malformed name section only costs the symbol map, not the build.
            let Ok(Name::Function(map)) = subsection else { continue };
            for naming in map.into_iter().flatten() {
                names.push((naming.index, readable(naming.name)));
            }
        }
    }
    names.sort();
    Ok(names.into_iter().map(|(index, name)| format!("{index}:{name}\n")).collect())
}

/// A symbol demangled and without its `::h<16 hex digits>` hash suffix.
fn readable(symbol: &str) -> String {
    let name = format!("{:#}", rustc_demangle::demangle(symbol));
    match name.rsplit_once("::h") {
        Some((path, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => path.to_owned(),
        _ => name,
    }
}

/// `wasm` with every custom section called `name` removed.
pub fn without_custom_section(wasm: &[u8], name: &str) -> Result<Vec<u8>> {
    without_custom_sections(wasm, |n| n == name)
}

/// `wasm` without the custom sections whose names `drop` selects; the other
/// sections are copied byte for byte.
pub fn without_custom_sections(wasm: &[u8], drop: impl Fn(&str) -> bool) -> Result<Vec<u8>> {
    let corrupt = || "the module is not valid WebAssembly";
    anyhow::ensure!(wasm.len() >= 8 && wasm.starts_with(b"\0asm"), corrupt());
    let mut out = wasm[..8].to_vec();
    let mut reader = BinaryReader::new(&wasm[8..], 8);
    while !reader.eof() {
        let start = reader.original_position();
        let id = reader.read_u8().context(corrupt())?;
        let size = reader.read_var_u32().context(corrupt())? as usize;
        let content_start = reader.original_position();
        let content = reader.read_bytes(size).context(corrupt())?;
        let dropped = id == 0 && BinaryReader::new(content, content_start).read_string().is_ok_and(&drop);
        if !dropped {
            out.extend_from_slice(&wasm[start..content_start + size]);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named_module() -> Vec<u8> {
        let mut m = wasm_encoder::Module::new();
        let mut types = wasm_encoder::TypeSection::new();
        types.ty().function([], []);
        m.section(&types);
        let mut funcs = wasm_encoder::FunctionSection::new();
        funcs.function(0);
        funcs.function(0);
        m.section(&funcs);
        let mut code = wasm_encoder::CodeSection::new();
        for _ in 0..2 {
            let mut f = wasm_encoder::Function::new([]);
            f.instructions().end();
            code.function(&f);
        }
        m.section(&code);
        let mut names = wasm_encoder::NameSection::new();
        let mut map = wasm_encoder::NameMap::new();
        map.append(0, "_ZN4core9panicking9panic_fmt17h0123456789abcdefE");
        map.append(1, "js_sys::futures::{{closure}}::h80749abf39441ecd");
        names.functions(&map);
        m.section(&names);
        m.section(&wasm_encoder::CustomSection { name: "keep".into(), data: [1u8, 2][..].into() });
        m.finish()
    }

    #[test]
    fn writes_demangled_names_by_index() {
        let stripped = run(&named_module()).unwrap();
        assert_eq!(stripped.symbols, "0:core::panicking::panic_fmt\n1:js_sys::futures::{{closure}}\n");
    }

    #[test]
    fn removes_only_the_name_section() {
        let input = named_module();
        let stripped = run(&input).unwrap();
        wasmparser::Validator::new().validate_all(&stripped.wasm).unwrap();
        let customs: Vec<String> = Parser::new(0)
            .parse_all(&stripped.wasm)
            .filter_map(|p| match p.unwrap() {
                Payload::CustomSection(c) => Some(c.name().to_owned()),
                _ => None,
            })
            .collect();
        assert_eq!(customs, ["keep"]);
        assert!(stripped.wasm.len() < input.len());
        assert_eq!(run(&stripped.wasm).unwrap().symbols, "", "nothing left to strip");
    }

    #[test]
    fn corrupt_input_is_an_error() {
        assert!(run(b"\0asm\x01\0\0\0\x00\xff\xff\xff\xff\x0f").is_err());
        assert!(run(b"nope").is_err());
    }
}
