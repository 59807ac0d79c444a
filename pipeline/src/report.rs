//! The build report: each stage's output size and time, the upload's size
//! against its budget, and startup time — printed as a table, as JSON, and
//! as Markdown for GitHub Actions' job summary.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::progress::Progress;
use crate::settings::Settings;
use crate::stages::budget::{Budget, Measured};
use crate::stages::gzip_len;

/// Size and time of one stage's output.
#[derive(Debug, Clone)]
pub struct StageRow {
    pub stage: &'static str,
    pub raw: usize,
    pub gzip: usize,
    pub time: Duration,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub profile: &'static str,
    /// The wasm-opt settings, as [`crate::config::wasm_pack::WasmOpt::describe`] says them.
    pub optimizer: String,
    pub budget: Budget,
    pub stages: Vec<StageRow>,
    /// Functions `--snip` replaced, when it ran.
    pub snipped: Option<usize>,
    /// Bytes of unused data zeroed, when the module came with relocations.
    pub dead_data: Option<usize>,
    pub upload: Option<Measured>,
    /// Median compile + instantiate time in V8.
    pub startup: Option<Duration>,
    /// Time of every stage after cargo.
    pub post_cargo: Duration,
    /// The last stage timed, waiting for its output to be measured.
    timed: Option<(&'static str, Duration)>,
}

impl Report {
    pub fn new(settings: &Settings) -> Report {
        Report {
            profile: settings.profile.wasm_pack_name(),
            optimizer: settings.wasm_opt.describe(),
            budget: settings.budget,
            stages: Vec::new(),
            snipped: None,
            dead_data: None,
            upload: None,
            startup: None,
            post_cargo: Duration::ZERO,
            timed: None,
        }
    }

    /// Runs `stage`'s `work` and times it; on a terminal a spinner shows
    /// meanwhile (not for cargo, which prints its own progress).
    pub fn time<T>(&mut self, stage: &'static str, progress: &Progress, work: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = if stage == "cargo" { work() } else { progress.spin(stage, work) };
        self.timed = Some((stage, start.elapsed()));
        out
    }

    /// Records the output of `stage`, timed by [`Report::time`]; measuring
    /// (gzip) is not the stage's own time.
    pub fn measure(&mut self, stage: &'static str, wasm: &[u8], progress: &Progress) {
        let time = match self.timed.take() {
            Some((timed, time)) if timed == stage => time,
            _ => Duration::ZERO,
        };
        progress.status("Finished", &format!("{stage} ({} bytes, {:.2}s)", wasm.len(), time.as_secs_f64()));
        self.stages.push(StageRow { stage, raw: wasm.len(), gzip: gzip_len(wasm), time });
    }

    fn change(&self, i: usize) -> Option<f64> {
        let previous = self.stages.get(i.checked_sub(1)?)?.raw as f64;
        Some((self.stages[i].raw as f64 / previous - 1.0) * 100.0)
    }

    /// The change column: `+1.5%`, or `-` for the first stage.
    fn change_label(&self, i: usize) -> String {
        self.change(i).map_or("-".to_owned(), |c| format!("{c:+.1}%"))
    }

    /// The aligned table printed at the end of a build.
    pub fn table(&self) -> String {
        let mut out =
            format!("\n  {:<10} {:>11} {:>11} {:>8} {:>8}\n", "stage", "raw bytes", "gzip bytes", "change", "time");
        for (i, row) in self.stages.iter().enumerate() {
            let _ = writeln!(
                out,
                "  {:<10} {:>11} {:>11} {:>8} {:>7.2}s",
                row.stage,
                row.raw,
                row.gzip,
                self.change_label(i),
                row.time.as_secs_f64()
            );
        }
        if let Some(upload) = self.upload {
            let _ = writeln!(
                out,
                "  {:<10} {:>11} {:>11}   all files, as wrangler measures",
                "upload", upload.raw, upload.gzip
            );
        }
        let _ = writeln!(out, "\n  {}", self.summary_line());
        out
    }

    fn summary_line(&self) -> String {
        let mut parts = vec![format!("after cargo: {:.2}s", self.post_cargo.as_secs_f64())];
        if let Some(startup) = self.startup {
            parts.push(format!("V8 compile+instantiate: {:.0} ms", startup.as_secs_f64() * 1000.0));
        }
        if let Some(snipped) = self.snipped {
            parts.push(format!("snipped: {snipped} functions"));
        }
        if let Some(dead) = self.dead_data {
            parts.push(format!("unused data zeroed: {dead} bytes"));
        }
        let limit = self.budget.plan.gzip_limit().map_or("none".to_owned(), |l| l.to_string());
        parts.push(format!("gzip limit: {limit} ({} plan)", self.budget.plan.name()));
        if let Some(max) = self.budget.max_gzip_bytes {
            parts.push(format!("project budget: {max}"));
        }
        parts.join(" · ")
    }

    /// The report as JSON (`--json`).
    pub fn json(&self) -> serde_json::Value {
        json!({
            "profile": self.profile,
            "optimizer": self.optimizer,
            "stages": self.stages.iter().enumerate().map(|(i, r)| json!({
                "stage": r.stage,
                "raw_bytes": r.raw,
                "gzip_bytes": r.gzip,
                "change_percent": self.change(i),
                "seconds": r.time.as_secs_f64(),
            })).collect::<Vec<_>>(),
            "upload": self.upload.map(|u| json!({ "raw_bytes": u.raw, "gzip_bytes": u.gzip })),
            "budget": {
                "plan": self.budget.plan.name(),
                "plan_gzip_limit": self.budget.plan.gzip_limit(),
                "max_gzip_bytes": self.budget.max_gzip_bytes,
            },
            "snipped_functions": self.snipped,
            "dead_data_bytes": self.dead_data,
            "startup_ms": self.startup.map(|s| s.as_secs_f64() * 1000.0),
            "post_cargo_seconds": self.post_cargo.as_secs_f64(),
        })
    }

    /// The table as GitHub-flavoured Markdown.
    pub fn markdown(&self) -> String {
        let mut out = format!("### Worker build ({} profile)\n\n", self.profile);
        out.push_str("| stage | raw bytes | gzip bytes | change | time |\n|---|--:|--:|--:|--:|\n");
        for (i, row) in self.stages.iter().enumerate() {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {:.2}s |",
                row.stage,
                row.raw,
                row.gzip,
                self.change_label(i),
                row.time.as_secs_f64()
            );
        }
        if let Some(upload) = self.upload {
            let _ = writeln!(out, "| **upload** | {} | {} | | |", upload.raw, upload.gzip);
        }
        let _ = writeln!(out, "\n{}\n", self.summary_line());
        out
    }
}

/// Prints the report as the settings ask, and appends it to GitHub Actions'
/// job summary when there is one.
pub fn publish(report: &Report, settings: &Settings) -> anyhow::Result<()> {
    use anyhow::Context;
    if settings.json {
        println!("{}", serde_json::to_string_pretty(&report.json())?);
    }
    if !settings.quiet {
        eprint!("{}", report.table());
        Progress::new(false).status("Built", &format!("{} ({} profile)", settings.out_dir.display(), report.profile));
    }
    if let Some(path) = &settings.github_step_summary {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot append to $GITHUB_STEP_SUMMARY ({})", path.display()))?;
        file.write_all(report.markdown().as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::budget::Plan;

    fn report() -> Report {
        let row = |stage, raw| StageRow { stage, raw, gzip: raw / 3, time: Duration::from_millis(1500) };
        Report {
            profile: "release",
            optimizer: "-O3".into(),
            budget: Budget { plan: Plan::FreeLegacy, max_gzip_bytes: Some(400_000) },
            stages: vec![row("cargo", 2000), row("optimize", 1500)],
            snipped: Some(12),
            dead_data: Some(3456),
            upload: Some(Measured { raw: 1600, gzip: 600 }),
            startup: Some(Duration::from_millis(42)),
            post_cargo: Duration::from_millis(2500),
            timed: None,
        }
    }

    #[test]
    fn table_aligns_and_shows_change() {
        let table = report().table();
        assert!(table.contains("  optimize          1500         500   -25.0%    1.50s"), "{table}");
        assert!(table.contains("  upload            1600         600   all files"), "{table}");
        assert!(table.contains("snipped: 12 functions"), "{table}");
        assert!(table.contains("unused data zeroed: 3456 bytes"), "{table}");
    }

    #[test]
    fn json_has_every_figure() {
        let json = report().json();
        assert_eq!(json["stages"][1]["change_percent"], -25.0);
        assert_eq!(json["stages"][0]["change_percent"], serde_json::Value::Null);
        assert_eq!(json["upload"]["gzip_bytes"], 600);
        assert_eq!(json["budget"]["plan_gzip_limit"], 3 * 1024 * 1024);
        assert_eq!(json["startup_ms"], 42.0);
        assert_eq!(json["optimizer"], "-O3");
    }

    #[test]
    fn markdown_is_a_table() {
        let md = report().markdown();
        assert!(md.contains("| optimize | 1500 | 500 | -25.0% | 1.50s |"), "{md}");
    }
}
