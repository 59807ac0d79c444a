//! `[package.metadata.wasm-pack.profile.{dev,release,profiling}]`: the
//! settings worker-build 0.8 and wasm-pack read from a crate's Cargo.toml,
//! honoured so that a project switching tools keeps what it tuned.
//!
//! - `wasm-opt = false` skips the optimize stage; `true` runs it with the
//!   pipeline's own settings (`-Os` without inlining, chosen for gzip size);
//!   a list (`["-O3", "--converge"]`) replaces them. The module's features
//!   are always the ones it uses (`--enable-*`/`--disable-*` in the list are
//!   ignored, with a note), and names are always kept for the symbol map
//!   (`-g`). A flag binaryen 116 has no option for is an error that lists
//!   the accepted ones.
//! - `wasm-bindgen.debug-js-glue`, `demangle-name-section`,
//!   `dwarf-debug-info` (the DWARF sections stay in the module),
//!   `omit-default-module-path`, `split-linked-modules`: passed to
//!   wasm-bindgen as the CLI flags of the same names.
//!
//! Defaults are worker-build's: `debug-js-glue` in `dev` only,
//! `demangle-name-section` on, the rest off; `wasm-opt` off in `dev`.

use anyhow::{Result, bail};
use strum::IntoEnumIterator;
use wasm_opt::{OptimizationOptions, OptimizeLevel, Pass, ShrinkLevel};

use crate::settings::Profile;

/// What the crate's wasm-pack table asks of the pipeline for one profile.
#[derive(Debug, Clone)]
pub struct WasmPack {
    /// How wasm-opt runs, if at all.
    pub wasm_opt: WasmOpt,
    /// wasm-bindgen's options.
    pub bindgen: BindgenOptions,
    /// Keys taken with a caveat, said once per build.
    pub notes: Vec<String>,
}

/// The optimize stage's settings.
#[derive(Debug, Clone)]
pub enum WasmOpt {
    /// Skipped (`wasm-opt = false`, and `dev` unless asked).
    Off,
    /// The pipeline's own: `-Os` without inlining (`wasm-opt = true`, or no key).
    Tuned,
    /// The crate's argument list, parsed.
    Args { args: Vec<String>, options: Box<OptimizationOptions> },
}

impl WasmOpt {
    /// How the build reports it: `off`, the pipeline's own, or the crate's list.
    pub fn describe(&self) -> String {
        match self {
            WasmOpt::Off => "off".to_owned(),
            WasmOpt::Tuned => "-Os, no inlining (the pipeline's own)".to_owned(),
            WasmOpt::Args { args, .. } => args.join(" "),
        }
    }
}

/// wasm-bindgen's options, named as in `[…wasm-bindgen]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindgenOptions {
    pub debug_js_glue: bool,
    pub demangle_name_section: bool,
    pub dwarf_debug_info: bool,
    pub omit_default_module_path: bool,
    pub split_linked_modules: bool,
}

impl BindgenOptions {
    /// worker-build's defaults for `profile`.
    pub fn defaults(profile: Profile) -> BindgenOptions {
        BindgenOptions {
            debug_js_glue: profile == Profile::Dev,
            demangle_name_section: true,
            dwarf_debug_info: false,
            omit_default_module_path: false,
            split_linked_modules: false,
        }
    }
}

const BINDGEN_KEYS: &[&str] =
    &["debug-js-glue", "demangle-name-section", "dwarf-debug-info", "omit-default-module-path", "split-linked-modules"];

/// Reads the `profile` table of `[package.metadata.wasm-pack]` (`table` is
/// that whole table, if the crate has one).
pub fn read(table: Option<&toml::Value>, profile: Profile) -> Result<WasmPack> {
    let what = format!("[package.metadata.wasm-pack.profile.{}]", profile.wasm_pack_name());
    let mut wasm_pack = WasmPack {
        wasm_opt: if profile == Profile::Dev { WasmOpt::Off } else { WasmOpt::Tuned },
        bindgen: BindgenOptions::defaults(profile),
        notes: Vec::new(),
    };
    let Some(table) = table else { return Ok(wasm_pack) };
    let Some(table) = table.as_table() else { bail!("[package.metadata.wasm-pack] must be a table") };
    let section = table.get("profile").and_then(|p| p.get(profile.wasm_pack_name()));
    let Some(section) = section else { return Ok(wasm_pack) };
    let Some(section) = section.as_table() else { bail!("{what} must be a table") };
    for (key, value) in section {
        match (key.as_str(), value) {
            ("wasm-opt", toml::Value::Boolean(false)) => wasm_pack.wasm_opt = WasmOpt::Off,
            ("wasm-opt", toml::Value::Boolean(true)) => wasm_pack.wasm_opt = WasmOpt::Tuned,
            ("wasm-opt", toml::Value::Array(items)) => {
                let args: Vec<String> = items
                    .iter()
                    .map(|item| match item {
                        toml::Value::String(arg) => Ok(arg.clone()),
                        other => bail!("{what} `wasm-opt` must list strings, not {}", other.type_str()),
                    })
                    .collect::<Result<_>>()?;
                let (options, notes) = wasm_opt_args(&args).map_err(|e| anyhow::anyhow!("{what} `wasm-opt`: {e}"))?;
                wasm_pack.notes.extend(notes.into_iter().map(|n| format!("{what} `wasm-opt`: {n}")));
                wasm_pack.wasm_opt = WasmOpt::Args { args, options: Box::new(options) };
            }
            ("wasm-opt", other) => {
                bail!("{what} `wasm-opt` must be true, false or a list of flags, not {}", other.type_str())
            }
            ("wasm-bindgen", toml::Value::Table(bindgen)) => {
                for (key, value) in bindgen {
                    let Some(on) = value.as_bool() else {
                        bail!("{what} `wasm-bindgen.{key}` must be true or false");
                    };
                    let options = &mut wasm_pack.bindgen;
                    match key.as_str() {
                        "debug-js-glue" => options.debug_js_glue = on,
                        "demangle-name-section" => options.demangle_name_section = on,
                        "dwarf-debug-info" => options.dwarf_debug_info = on,
                        "omit-default-module-path" => options.omit_default_module_path = on,
                        "split-linked-modules" => options.split_linked_modules = on,
                        other => bail!(
                            "unknown key `wasm-bindgen.{other}` in {what}; known keys: {}",
                            BINDGEN_KEYS.join(", ")
                        ),
                    }
                }
            }
            (other, _) => bail!("unknown key `{other}` in {what}; known keys: wasm-opt, wasm-bindgen"),
        }
    }
    if wasm_pack.bindgen.omit_default_module_path {
        wasm_pack.notes.push(format!(
            "{what} `wasm-bindgen.omit-default-module-path` has no effect here: the entry imports the module itself"
        ));
    }
    if wasm_pack.bindgen.dwarf_debug_info {
        wasm_pack.notes.push(format!(
            "{what} `wasm-bindgen.dwarf-debug-info` keeps the DWARF sections; the reorder stage, which would \
             move code under them, is skipped"
        ));
    }
    Ok(wasm_pack)
}

/// The flags accepted in a `wasm-opt` list besides any binaryen pass as `--<pass>`.
pub const ACCEPTED_FLAGS: &str = "-O, -O0, -O1, -O2, -O3, -O4, -Os, -Oz, -g/--debuginfo, -c/--converge, \
    -ol/--optimize-level N, -s/--shrink-level N, -aimfs/--always-inline-max-function-size N, \
    -fimfs/--flexible-inline-max-function-size N, -ocifms/--one-caller-inline-max-function-size N, \
    -ifwl/--inline-functions-with-loops, -pii/--partial-inlining-ifs N, -tnh/--traps-never-happen, \
    -lmu/--low-memory-unused, -ffm/--fast-math, -uim/--zero-filled-memory, -pa/--pass-arg KEY[@VALUE], \
    --enable-<feature> and --disable-<feature> (ignored: the module's own features are used), \
    and any binaryen pass as --<pass> (e.g. --dce, --strip-producers)";

/// Parses a `wasm-opt` argument list as binaryen 116's `wasm-opt` reads it.
/// Returns the options and notes about flags taken differently.
pub fn wasm_opt_args(args: &[String]) -> Result<(OptimizationOptions, Vec<String>)> {
    let mut options = OptimizationOptions::new_opt_level_0();
    let mut notes = Vec::new();
    let mut args = args.iter();
    let preset = |options: &mut OptimizationOptions, optimize, shrink, default_passes| {
        options.passopts.optimize_level = optimize;
        options.passopts.shrink_level = shrink;
        options.passes.add_default_passes = default_passes;
    };
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| -> Result<&String> {
            args.next().ok_or_else(|| anyhow::anyhow!("`{flag}` needs a value after it"))
        };
        let number = |flag: &str, text: &str| -> Result<u32> {
            text.parse().map_err(|_| anyhow::anyhow!("`{flag}` needs a whole number, not `{text}`"))
        };
        use OptimizeLevel as O;
        use ShrinkLevel as S;
        match arg.as_str() {
            "-O" | "-Os" => preset(&mut options, O::Level2, S::Level1, true),
            "-Oz" => preset(&mut options, O::Level2, S::Level2, true),
            "-O0" => preset(&mut options, O::Level0, S::Level0, false),
            "-O1" => preset(&mut options, O::Level1, S::Level0, true),
            "-O2" => preset(&mut options, O::Level2, S::Level0, true),
            "-O3" => preset(&mut options, O::Level3, S::Level0, true),
            "-O4" => preset(&mut options, O::Level4, S::Level0, true),
            "-g" | "--debuginfo" => {}
            "-c" | "--converge" => options.converge = true,
            flag @ ("-ol" | "--optimize-level") => {
                options.passopts.optimize_level = match value(flag)?.as_str() {
                    "0" => O::Level0,
                    "1" => O::Level1,
                    "2" => O::Level2,
                    "3" => O::Level3,
                    "4" => O::Level4,
                    other => bail!("`{flag}` takes 0 to 4, not `{other}`"),
                }
            }
            flag @ ("-s" | "--shrink-level") => {
                options.passopts.shrink_level = match value(flag)?.as_str() {
                    "0" => S::Level0,
                    "1" => S::Level1,
                    "2" => S::Level2,
                    other => bail!("`{flag}` takes 0 to 2, not `{other}`"),
                }
            }
            flag @ ("-aimfs" | "--always-inline-max-function-size") => {
                options.inlining.always_inline_max_size = number(flag, value(flag)?)?
            }
            flag @ ("-fimfs" | "--flexible-inline-max-function-size") => {
                options.inlining.flexible_inline_max_size = number(flag, value(flag)?)?
            }
            flag @ ("-ocifms" | "--one-caller-inline-max-function-size") => {
                options.inlining.one_caller_inline_max_size = number(flag, value(flag)?)?
            }
            "-ifwl" | "--inline-functions-with-loops" => options.inlining.allow_functions_with_loops = true,
            flag @ ("-pii" | "--partial-inlining-ifs") => {
                options.inlining.partial_inlining_ifs = number(flag, value(flag)?)?
            }
            "-tnh" | "--traps-never-happen" => options.passopts.traps_never_happen = true,
            "-lmu" | "--low-memory-unused" => options.passopts.low_memory_unused = true,
            "-ffm" | "--fast-math" => options.passopts.fast_math = true,
            "-uim" | "--zero-filled-memory" => options.passopts.zero_filled_memory = true,
            flag @ ("-pa" | "--pass-arg") => {
                let pass_arg = value(flag)?;
                let (key, val) = pass_arg.split_once('@').unwrap_or((pass_arg, "1"));
                options.set_pass_arg(key, val);
            }
            feature if feature.starts_with("--enable-") || feature.starts_with("--disable-") => {
                notes.push(format!("`{feature}` ignored: the module's features are the ones it uses"));
            }
            other => match other.strip_prefix("--").and_then(|name| Pass::iter().find(|p| p.name() == name)) {
                Some(pass) => {
                    options.add_pass(pass);
                }
                None => bail!("`{other}` is not a flag the pipeline's binaryen 116 takes; accepted: {ACCEPTED_FLAGS}"),
            },
        }
    }
    Ok((options, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Value {
        let manifest: toml::Table = text.parse().unwrap();
        manifest["package"]["metadata"]["wasm-pack"].clone()
    }

    #[test]
    fn without_a_table_the_defaults_are_worker_builds() {
        let release = read(None, Profile::Release).unwrap();
        assert!(matches!(release.wasm_opt, WasmOpt::Tuned));
        assert_eq!(release.bindgen, BindgenOptions::defaults(Profile::Release));
        assert!(!release.bindgen.debug_js_glue && release.bindgen.demangle_name_section);
        let dev = read(None, Profile::Dev).unwrap();
        assert!(matches!(dev.wasm_opt, WasmOpt::Off));
        assert!(dev.bindgen.debug_js_glue, "debug glue in dev, as worker-build");
    }

    #[test]
    fn wasm_opt_false_skips_the_optimizer_and_true_runs_it() {
        let off = table("[package.metadata.wasm-pack.profile.release]\nwasm-opt = false\n");
        assert!(matches!(read(Some(&off), Profile::Release).unwrap().wasm_opt, WasmOpt::Off));
        assert!(matches!(read(Some(&off), Profile::Profiling).unwrap().wasm_opt, WasmOpt::Tuned), "other profile");
        let on = table("[package.metadata.wasm-pack.profile.dev]\nwasm-opt = true\n");
        assert!(matches!(read(Some(&on), Profile::Dev).unwrap().wasm_opt, WasmOpt::Tuned));
    }

    #[test]
    fn a_wasm_opt_list_replaces_the_settings() {
        let list =
            table("[package.metadata.wasm-pack.profile.release]\nwasm-opt = [\"-O3\", \"--converge\", \"--dce\"]\n");
        let WasmOpt::Args { args, options } = read(Some(&list), Profile::Release).unwrap().wasm_opt else {
            panic!("not parsed")
        };
        assert_eq!(args, ["-O3", "--converge", "--dce"]);
        assert!(matches!(options.passopts.optimize_level, OptimizeLevel::Level3));
        assert!(options.converge && options.passes.add_default_passes);
        assert!(matches!(options.passes.more_passes[..], [Pass::Dce]));
    }

    #[test]
    fn presets_and_levels_follow_binaryen() {
        let parse = |args: &[&str]| wasm_opt_args(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>()).unwrap().0;
        let oz = parse(&["-Oz"]);
        assert!(matches!(
            (oz.passopts.optimize_level, oz.passopts.shrink_level),
            (OptimizeLevel::Level2, ShrinkLevel::Level2)
        ));
        let o = parse(&["-O"]);
        assert!(matches!(
            (o.passopts.optimize_level, o.passopts.shrink_level),
            (OptimizeLevel::Level2, ShrinkLevel::Level1)
        ));
        let tuned = parse(&["-O4", "-s", "2", "-aimfs", "7", "-tnh", "-pa", "x@y"]);
        assert!(matches!(tuned.passopts.shrink_level, ShrinkLevel::Level2));
        assert_eq!(tuned.passopts.arguments.get("x").map(String::as_str), Some("y"));
        assert_eq!(tuned.inlining.always_inline_max_size, 7);
        assert!(tuned.passopts.traps_never_happen);
        assert!(!parse(&["-O0"]).passes.add_default_passes);
    }

    #[test]
    fn unknown_flags_and_bad_values_name_the_accepted_ones() {
        let err = |args: &[&str]| {
            wasm_opt_args(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>()).unwrap_err().to_string()
        };
        let unknown = err(&["-O", "--frobnicate"]);
        assert!(
            unknown.contains("`--frobnicate`") && unknown.contains("-Oz") && unknown.contains("--dce"),
            "{unknown}"
        );
        assert!(err(&["-s", "9"]).contains("takes 0 to 2"));
        assert!(err(&["-aimfs"]).contains("needs a value"));
        assert!(err(&["-aimfs", "many"]).contains("whole number"));
        let list = table("[package.metadata.wasm-pack.profile.release]\nwasm-opt = [\"-O\", 3]\n");
        assert!(read(Some(&list), Profile::Release).unwrap_err().to_string().contains("must list strings"));
    }

    #[test]
    fn feature_flags_are_noted_not_applied() {
        let list =
            table("[package.metadata.wasm-pack.profile.release]\nwasm-opt = [\"-O\", \"--enable-bulk-memory\"]\n");
        let wasm_pack = read(Some(&list), Profile::Release).unwrap();
        assert!(wasm_pack.notes.iter().any(|n| n.contains("--enable-bulk-memory") && n.contains("ignored")));
    }

    #[test]
    fn every_bindgen_key_is_read() {
        let text = "[package.metadata.wasm-pack.profile.profiling.wasm-bindgen]\ndebug-js-glue = true\n\
            demangle-name-section = false\ndwarf-debug-info = true\nomit-default-module-path = true\n\
            split-linked-modules = true\n";
        let wasm_pack = read(Some(&table(text)), Profile::Profiling).unwrap();
        let expected = BindgenOptions {
            debug_js_glue: true,
            demangle_name_section: false,
            dwarf_debug_info: true,
            omit_default_module_path: true,
            split_linked_modules: true,
        };
        assert_eq!(wasm_pack.bindgen, expected);
        assert_eq!(wasm_pack.notes.len(), 2, "omit-default-module-path and dwarf-debug-info are noted");
        let dev = read(Some(&table(text)), Profile::Dev).unwrap();
        assert_eq!(dev.bindgen, BindgenOptions::defaults(Profile::Dev), "only the named profile");
    }

    #[test]
    fn unknown_keys_and_types_are_errors_naming_the_known_ones() {
        let err = |text: &str| read(Some(&table(text)), Profile::Release).unwrap_err().to_string();
        let key = err("[package.metadata.wasm-pack.profile.release]\nwasm_opt = false\n");
        assert!(key.contains("`wasm_opt`") && key.contains("wasm-opt, wasm-bindgen"), "{key}");
        let bindgen = err("[package.metadata.wasm-pack.profile.release.wasm-bindgen]\ndebug = true\n");
        assert!(bindgen.contains("debug-js-glue"), "{bindgen}");
        let value = err("[package.metadata.wasm-pack.profile.release.wasm-bindgen]\ndebug-js-glue = \"yes\"\n");
        assert!(value.contains("true or false"), "{value}");
        assert!(err("[package.metadata.wasm-pack.profile.release]\nwasm-opt = 3\n").contains("list of flags"));
    }
}
