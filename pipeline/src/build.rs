//! `cargo edge build`: the pipeline, as a flat list of stages.
//!
//! cargo → bindgen → rewrite → optimize → reorder → strip → validate →
//! budget → emit. Nothing is written to the output directory until every
//! stage has passed.

use std::time::Instant;

use anyhow::Result;

use crate::progress::Progress;
use crate::report::Report;
use crate::settings::Settings;
use crate::setup;
use crate::stages::rewrite::data_gc;
use crate::stages::validate::{Contract, STARTUP_LIMIT};
use crate::stages::{self, Upload, bindgen};

/// Name of the symbol map written beside the module.
pub const SYMBOLS_FILE: &str = "index_bg.wasm.symbols";

pub fn run(settings: &Settings) -> Result<Report> {
    let progress = Progress::new(settings.quiet);
    setup::ensure_wasm_target(settings.root(), &progress)?;
    for note in &settings.notes {
        progress.note(note);
    }
    let mut report = Report::new(settings);

    let wasm = report.time("cargo", &progress, || stages::cargo::run(settings))?;
    // The linker's relocations are read here and cut out, so that the
    // stages and their measurements see the module itself.
    let relocs = data_gc::Relocations::parse(&wasm)?;
    let wasm = data_gc::without_relocations(&wasm)?;
    report.measure("cargo", &wasm, &progress);
    let post_cargo = Instant::now();

    let mut bound = report.time("bindgen", &progress, || bindgen::run(wasm, &settings.bindgen))?;
    report.measure("bindgen", &bound.module.emit_wasm(), &progress);
    let entry = bindgen::entry(&bound.module, &bound.glue, settings.trap_response)?;
    let contract = Contract::of(&bound.module, &entry.calls);
    if let Some(config) = &settings.wrangler {
        let main = settings.configured_out_dir.then_some(settings.out_dir.as_path());
        stages::wrangler::check(config, main, &entry.classes)?;
    }

    let rewritten =
        report.time("rewrite", &progress, || stages::rewrite::run(&mut bound.module, settings.snip, relocs.as_ref()));
    let mut wasm = bound.module.emit_wasm();
    report.measure("rewrite", &wasm, &progress);
    report.snipped = settings.snip.then_some(rewritten.snipped);
    report.dead_data = rewritten.dead_data;

    if settings.optimizes() {
        let scratch = settings.scratch.join("optimize");
        wasm = report.time("optimize", &progress, || stages::optimize::run(&wasm, &settings.wasm_opt, &scratch))?;
        report.measure("optimize", &wasm, &progress);
        // Moving code would leave DWARF pointing at the wrong places.
        if !settings.bindgen.dwarf_debug_info {
            wasm = report.time("reorder", &progress, || stages::reorder::run(&wasm))?;
            report.measure("reorder", &wasm, &progress);
        }
    }

    let mut symbols = None;
    if !settings.profile.keeps_names() {
        let stripped = report.time("strip", &progress, || stages::strip::run(&wasm))?;
        wasm = stripped.wasm;
        symbols = Some(stripped.symbols);
        report.measure("strip", &wasm, &progress);
    }

    let scratch = settings.scratch.join("validate");
    let node = settings.node.as_deref();
    let validated = progress.spin("validate", || stages::validate::run(&wasm, &contract, node, &scratch))?;
    report.startup = validated.startup;
    match validated.startup {
        Some(startup) if startup > STARTUP_LIMIT / 2 => progress.warn(&format!(
            "compiling and instantiating the module took {:.0} ms in V8, over half of Cloudflare's {} ms startup limit",
            startup.as_secs_f64() * 1000.0,
            STARTUP_LIMIT.as_millis()
        )),
        Some(_) => {}
        None => progress.warn("Node.js cannot be run, so the module's startup in V8 was not checked; install Node.js"),
    }

    let mut upload = Upload::default();
    upload.add(stages::wrangler::ENTRY_FILE, entry.js);
    upload.add(format!("{}.js", bindgen::STEM), bound.glue);
    for (path, js) in bound.snippets {
        upload.add(path, js);
    }
    upload.add(format!("{}_bg.wasm", bindgen::STEM), wasm);
    if let Some(symbols) = symbols {
        upload.add_extra(SYMBOLS_FILE, symbols);
    }
    report.upload = Some(stages::budget::run(&upload, settings.budget)?);

    stages::emit::run(&upload, &settings.out_dir)?;
    report.post_cargo = post_cargo.elapsed();
    Ok(report)
}
