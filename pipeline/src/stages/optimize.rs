//! Stage 4: optimize with binaryen (the `wasm-opt` crate), in-process.
//!
//! The `--enable-*` features are exactly those the module uses
//! ([`crate::wasm_features`]); a feature the bundled binaryen 116 cannot read
//! stops the build here, with the fix.
//!
//! The pipeline's own settings (`WasmOpt::Tuned`) were chosen by measuring
//! the edge-fn worker (docs/measurements.md, "Choosing the optimizer
//! settings"): `-Os` with inlining turned off gives the smallest *gzip*
//! upload — what Cloudflare's limits and wrangler count — 3% smaller than
//! `-Oz` (which wins on raw bytes only, because inlining duplicates code that
//! gzip would otherwise share), in half the time. A crate's own `wasm-opt`
//! list (`[package.metadata.wasm-pack.profile.*]`) replaces them.

use std::path::Path;

use anyhow::{Context, Result, bail};
use wasm_opt::OptimizationOptions;

use crate::config::wasm_pack::WasmOpt;
use crate::wasm_features;

/// Optimizes `wasm` as `settings` say (`Off` returns it as it is), keeping
/// function names for the strip stage. `scratch` holds binaryen's input and output.
pub fn run(wasm: &[u8], settings: &WasmOpt, scratch: &Path) -> Result<Vec<u8>> {
    let mut options = match settings {
        WasmOpt::Off => return Ok(wasm.to_vec()),
        WasmOpt::Tuned => {
            let mut options = OptimizationOptions::new_optimize_for_size();
            options.always_inline_max_size(0).one_caller_inline_max_size(0).flexible_inline_max_size(0);
            options
        }
        WasmOpt::Args { options, .. } => (**options).clone(),
    };
    options.mvp_features_only();
    for feature in binaryen_features(wasm)? {
        options.enable_feature(feature);
    }
    options.debug_info(true);

    let dir = super::scratch_dir(scratch)?;
    let input = dir.path().join("input.wasm");
    let output = dir.path().join("output.wasm");
    std::fs::write(&input, wasm).with_context(|| format!("cannot write {}", input.display()))?;
    options
        .run(&input, &output)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("wasm-opt (binaryen 116) could not optimize the module")?;
    std::fs::read(&output).with_context(|| format!("cannot read {}", output.display()))
}

/// Binaryen's flags for the features `wasm` uses, or an error naming the one
/// it cannot read, what produces it and the fix.
fn binaryen_features(wasm: &[u8]) -> Result<Vec<wasm_opt::Feature>> {
    let mut flags = Vec::new();
    for feature in wasm_features::used(wasm)? {
        match wasm_features::binaryen_flag(feature) {
            Ok(flag) => flags.push(flag),
            Err(why) => bail!(
                "the module uses the WebAssembly feature `{feature}`, which the bundled \
                 binaryen 116 cannot read: {why}"
            ),
        }
    }
    Ok(flags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_encoder::{
        CodeSection, ExportKind, ExportSection, Function, FunctionSection, Instruction, Module, TypeSection, ValType,
    };

    /// `answer` returns 40 + 2 through a dead local; wasm-opt folds it.
    fn sample(extra: &[Instruction]) -> Vec<u8> {
        let mut m = Module::new();
        let mut types = TypeSection::new();
        types.ty().function([], [ValType::I32]);
        m.section(&types);
        let mut funcs = FunctionSection::new();
        funcs.function(0);
        m.section(&funcs);
        let mut exports = ExportSection::new();
        exports.export("answer", ExportKind::Func, 0);
        m.section(&exports);
        let mut code = CodeSection::new();
        let mut f = Function::new([(1, ValType::I32)]);
        for i in extra {
            f.instruction(i);
        }
        f.instructions().i32_const(40).local_set(0).local_get(0).i32_const(2).i32_add().end();
        code.function(&f);
        m.section(&code);
        m.finish()
    }

    #[test]
    fn shrinks_and_keeps_exports() {
        let dir = tempfile::tempdir().unwrap();
        let input = sample(&[]);
        let out = run(&input, &WasmOpt::Tuned, dir.path()).unwrap();
        let code = crate::stages::strip::without_custom_section(&out, "name").unwrap();
        assert!(code.len() < input.len(), "{} >= {}", code.len(), input.len());
        wasmparser::Validator::new().validate_all(&out).unwrap();
        let module = walrus::Module::from_buffer(&out).unwrap();
        assert!(module.exports.iter().any(|e| e.name == "answer"));
    }

    #[test]
    fn an_argument_list_replaces_the_settings_and_off_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let input = sample(&[]);
        assert_eq!(run(&input, &WasmOpt::Off, dir.path()).unwrap(), input);
        let args = vec!["-O0".to_owned()];
        let (options, _) = crate::config::wasm_pack::wasm_opt_args(&args).unwrap();
        let o0 = run(&input, &WasmOpt::Args { args, options: Box::new(options) }, dir.path()).unwrap();
        let code = |wasm: &[u8]| crate::stages::strip::without_custom_section(wasm, "name").unwrap().len();
        let tuned = run(&input, &WasmOpt::Tuned, dir.path()).unwrap();
        assert!(code(&o0) > code(&tuned), "-O0 keeps the dead local the tuned settings fold away");
    }

    #[test]
    fn refuses_exnref_before_optimizing() {
        let dir = tempfile::tempdir().unwrap();
        let input =
            sample(&[Instruction::TryTable(wasm_encoder::BlockType::Empty, Vec::new().into()), Instruction::End]);
        let err = run(&input, &WasmOpt::Tuned, dir.path()).unwrap_err().to_string();
        assert!(err.contains("`exnref`") && err.contains("--force-enable-abort-handler"), "{err}");
    }

    #[test]
    fn corrupt_input_is_an_error_not_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let err = run(b"\0asm\x01\0\0\0garbage", &WasmOpt::Tuned, dir.path()).unwrap_err();
        assert!(format!("{err:#}").contains("not valid WebAssembly"), "{err:#}");
    }
}
