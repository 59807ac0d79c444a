//! Measuring an upload the way users see it: `wrangler deploy --dry-run`,
//! which prints `Total Upload: X KiB / gzip: Y KiB`.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Upload size in bytes, as wrangler reports it (from KiB with two decimals).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Total {
    pub raw: f64,
    pub gzip: f64,
}

/// Runs wrangler's dry run with `config` (a wrangler.json) and reads its total.
pub fn dry_run(root: &Path, config: &Path, scratch: &Path) -> Result<Total> {
    let output = Command::new(edge_pipeline::node::find(root).context("cannot run Node.js; run `npm ci`")?)
        .arg(root.join("node_modules/wrangler/bin/wrangler.js"))
        .args(["deploy", "--dry-run", "--config"])
        .arg(config)
        .arg("--outdir")
        .arg(scratch)
        .current_dir(root)
        .env("WRANGLER_SEND_METRICS", "false")
        .env("NO_COLOR", "1")
        .output()
        .context("cannot run wrangler; run `cargo xtask test` once to install the npm packages")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("wrangler's dry run failed:\n{stdout}{}", String::from_utf8_lossy(&output.stderr));
    }
    parse_total(&stdout).with_context(|| format!("no `Total Upload` line in wrangler's output:\n{stdout}"))
}

/// Parses `Total Upload: 883.71 KiB / gzip: 349.55 KiB`.
pub fn parse_total(text: &str) -> Option<Total> {
    let line = text.lines().find(|l| l.contains("Total Upload:"))?;
    let mut numbers = line.split_whitespace().filter_map(|w| w.parse::<f64>().ok());
    let raw = numbers.next()? * 1024.0;
    let gzip = numbers.next()? * 1024.0;
    Some(Total { raw, gzip })
}

/// Writes a wrangler.json for a build in `build_dir`: the worker's wrangler
/// config `config` (any format) without its `[build]` step, with `main` set
/// to `entry` (relative to `build_dir`). `bundled` keeps wrangler's own
/// bundling, as worker-build's users deploy; otherwise the unbundled
/// output's rules stay, with `base_dir` at the build.
pub fn config_for(config: &Path, build_dir: &Path, entry: &str, bundled: bool, out: &Path) -> Result<()> {
    let mut config = edge_pipeline::config::wrangler::Config::read(config)?.value;
    let table = config.as_object_mut().context("a wrangler config is a table")?;
    table.remove("build");
    if bundled {
        for key in ["no_bundle", "find_additional_modules", "base_dir", "rules"] {
            table.remove(key);
        }
    } else {
        table.insert("base_dir".into(), build_dir.display().to_string().into());
    }
    table.insert("main".into(), build_dir.join(entry).display().to_string().into());
    let json = serde_json::to_string_pretty(&config)?;
    std::fs::write(out, json).with_context(|| format!("cannot write {}", out.display()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_the_total_line() {
        let total = super::parse_total("x\nTotal Upload: 883.71 KiB / gzip: 349.55 KiB\nNo bindings").unwrap();
        assert_eq!(total.raw, 883.71 * 1024.0);
        assert_eq!(total.gzip, 349.55 * 1024.0);
        assert!(super::parse_total("nothing").is_none());
    }
}
