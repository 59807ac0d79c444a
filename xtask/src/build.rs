//! `cargo xtask build`: the pipeline, as a flat list of stages.
//!
//! cargo → bindgen → rewrite → optimize → validate → budget → emit. Nothing is
//! written to the output directory until every stage has passed.

use std::time::{Duration, Instant};

use anyhow::Result;

use crate::progress::Progress;
use crate::settings::Settings;
use crate::setup;
use crate::stages::{self, Upload, bindgen, budget, gzip_len};

/// Size and time of one stage's output.
#[derive(Debug, Clone)]
pub struct StageRow {
    pub stage: &'static str,
    pub raw: usize,
    pub gzip: usize,
    pub time: Duration,
}

pub fn run(settings: &Settings) -> Result<()> {
    let progress = Progress::new(settings.quiet);
    setup::ensure_wasm_target(&settings.root, &progress)?;
    let mut rows = Vec::new();
    let mut record = |stage, wasm: &[u8], start: Instant| {
        let time = start.elapsed();
        rows.push(StageRow { stage, raw: wasm.len(), gzip: gzip_len(wasm), time });
        progress.status("Finished", &format!("{stage} ({} bytes, {:.2}s)", wasm.len(), time.as_secs_f64()));
    };

    let start = Instant::now();
    let wasm = stages::cargo::run(settings)?;
    record("cargo", &wasm, start);

    let start = Instant::now();
    let mut bound = progress.spin("bindgen", || bindgen::run(wasm))?;
    let bindgen_time = start.elapsed();
    record("bindgen", &bound.module.emit_wasm(), Instant::now() - bindgen_time);

    let start = Instant::now();
    stages::rewrite::run(&mut bound.module, settings.profile.keeps_names());
    let mut wasm = bound.module.emit_wasm();
    record("rewrite", &wasm, start);

    if settings.profile.optimizes() {
        let start = Instant::now();
        let scratch = settings.root.join("target/xtask/optimize");
        wasm = progress.spin("optimize", || stages::optimize::run(&wasm, settings.profile.keeps_names(), &scratch))?;
        record("optimize", &wasm, start);
    }

    let (entry, entry_calls) = bindgen::entry(&bound.module);
    stages::validate::run(&wasm, &entry_calls)?;

    let mut upload = Upload::default();
    upload.add("worker.mjs", entry);
    upload.add(format!("{}.js", bindgen::STEM), bound.glue);
    for (path, js) in bound.snippets {
        upload.add(path, js);
    }
    upload.add(format!("{}_bg.wasm", bindgen::STEM), wasm);
    let measured = budget::run(&upload, budget::limits::LEGACY_FREE_GZIP)?;

    stages::emit::run(&upload, &settings.out_dir)?;
    if !settings.quiet {
        print_table(&rows, measured);
        progress
            .status("Built", &format!("{} ({} profile)", settings.out_dir.display(), settings.profile.cargo_profile()));
    }
    Ok(())
}

fn print_table(rows: &[StageRow], upload: budget::Measured) {
    eprintln!("\n  {:<10} {:>12} {:>12} {:>9} {:>8}", "stage", "raw bytes", "gzip bytes", "change", "time");
    let mut previous: Option<usize> = None;
    for row in rows {
        let change =
            previous.map_or(String::from("-"), |p| format!("{:+.1}%", (row.raw as f64 / p as f64 - 1.0) * 100.0));
        eprintln!(
            "  {:<10} {:>12} {:>12} {:>9} {:>7.2}s",
            row.stage,
            row.raw,
            row.gzip,
            change,
            row.time.as_secs_f64()
        );
        previous = Some(row.raw);
    }
    eprintln!(
        "  {:<10} {:>12} {:>12}   (all modules, as wrangler measures; limit {} gzip)\n",
        "upload",
        upload.raw,
        upload.gzip,
        budget::limits::LEGACY_FREE_GZIP
    );
}
