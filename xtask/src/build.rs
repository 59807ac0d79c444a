//! `cargo xtask build`: the pipeline, as a flat list of stages.
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
    setup::ensure_wasm_target(&settings.root, &progress)?;
    let mut report = Report::new(settings);

    let start = Instant::now();
    let wasm = stages::cargo::run(settings)?;
    // The linker's relocations are read here and cut out, so that the
    // stages and their measurements see the module itself.
    let relocs = data_gc::Relocations::parse(&wasm)?;
    let wasm = data_gc::without_relocations(&wasm)?;
    report.stage("cargo", &wasm, start, &progress);
    let post_cargo = Instant::now();

    let start = Instant::now();
    let mut bound = progress.spin("bindgen", || bindgen::run(wasm))?;
    let elapsed = start.elapsed();
    // Measuring needs the module encoded; that is not the stage's own time.
    report.stage("bindgen", &bound.module.emit_wasm(), Instant::now() - elapsed, &progress);
    let entry = bindgen::entry(&bound.module, &bound.glue)?;
    let contract = Contract::of(&bound.module, &entry.calls);
    if let Some(config) = &settings.wrangler_config {
        let main = settings.configured_out_dir.then_some(settings.out_dir.as_path());
        stages::wrangler::check(config, main, &entry.classes)?;
    }

    let start = Instant::now();
    let rewritten = stages::rewrite::run(&mut bound.module, settings.snip, relocs.as_ref());
    let mut wasm = bound.module.emit_wasm();
    report.stage("rewrite", &wasm, start, &progress);
    report.snipped = settings.snip.then_some(rewritten.snipped);
    report.dead_data = rewritten.dead_data;

    if settings.profile.optimizes() {
        let start = Instant::now();
        let scratch = settings.scratch.join("optimize");
        wasm = progress.spin("optimize", || stages::optimize::run(&wasm, &scratch))?;
        report.stage("optimize", &wasm, start, &progress);

        let start = Instant::now();
        wasm = stages::reorder::run(&wasm)?;
        report.stage("reorder", &wasm, start, &progress);
    }

    let mut symbols = None;
    if !settings.profile.keeps_names() {
        let start = Instant::now();
        let stripped = stages::strip::run(&wasm)?;
        wasm = stripped.wasm;
        symbols = Some(stripped.symbols);
        report.stage("strip", &wasm, start, &progress);
    }

    let scratch = settings.scratch.join("validate");
    let validated = progress.spin("validate", || stages::validate::run(&wasm, &contract, &scratch))?;
    report.startup = Some(validated.startup);
    if validated.startup > STARTUP_LIMIT / 2 {
        progress.warn(&format!(
            "compiling and instantiating the module took {:.0} ms in V8, over half of Cloudflare's {} ms startup limit",
            validated.startup.as_secs_f64() * 1000.0,
            STARTUP_LIMIT.as_millis()
        ));
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
