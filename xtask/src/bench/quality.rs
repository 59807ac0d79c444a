//! Quality per byte: the worker's WebP, JPEG and `format=auto` (in the AVIF
//! build) against sharp's (libwebp, mozjpeg) at equal SSIMULACRA2, on real
//! photographs and generated ones, resized to 800 and 400 px. Installs the
//! photos (scikit-image's sample photographs, from its PyPI wheel: nothing
//! is downloaded from anywhere but the registry), builds the AVIF worker,
//! then runs the `quality-bench` binary of the end-to-end harness
//! (`tests/src/quality_bench.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::peers::Peers;
use crate::repo::Repo;
use edge_pipeline::Progress;

const SHARP_SCRIPT: &str = include_str!("js/sharp-quality.mjs");

/// The wheel the photos come from, and the photographs taken from it.
pub const SCIKIT_IMAGE: &str = "0.26.0";
const PHOTOS: [&str; 8] = [
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "hubble_deep_field.jpg",
    "ihc.png",
    "motorcycle_left.png",
    "retina.jpg",
    "rocket.jpg",
];

pub fn run(repo: &Repo, peers: &Peers, ours_dir: &Path, dir: &Path, runs: usize) -> Result<Value> {
    let progress = repo.progress();
    let photos = ensure_photos(dir, &progress)?;
    let avif_dir = dir.join("ours-avif");
    progress.status("Building", "edge-fn with `--features avif` for format=auto");
    let status = Command::new(&repo.cargo)
        .current_dir(&repo.root)
        .args(["xtask", "build", "--quiet", "--features", "avif", "--max-gzip-bytes", "1000000", "--out-dir"])
        .arg(&avif_dir)
        .status()
        .with_context(|| format!("cannot run {}", repo.cargo.display()))?;
    if !status.success() {
        bail!("building the AVIF worker failed ({status})");
    }
    // Beside node_modules, so that `import "sharp"` resolves.
    let script = peers.npm.join("sharp-quality.mjs");
    std::fs::write(&script, SHARP_SCRIPT)?;
    progress.status("Measuring", "quality per byte against sharp (SSIMULACRA2)");
    let flags = [
        ("--ours", ours_dir.into()),
        ("--ours-avif", avif_dir.into()),
        ("--node", "node".into()),
        ("--sharp-script", script.into()),
        ("--photos", photos.into()),
        ("--scratch", dir.join("scratch/quality").into()),
        ("--runs", runs.to_string().into()),
    ];
    super::run_driver(repo, "quality-bench", &flags, &dir.join("scratch/quality.json"), "quality benchmark")
}

/// Extracts the photos from scikit-image's wheel (downloaded with pip from
/// PyPI the first time) into `dir/photos`.
pub(super) fn ensure_photos(dir: &Path, progress: &Progress) -> Result<PathBuf> {
    let photos = dir.join("photos");
    if PHOTOS.iter().all(|p| photos.join(p).is_file()) {
        return Ok(photos);
    }
    let wheels = dir.join("pypi");
    progress.status("Installing", &format!("scikit-image {SCIKIT_IMAGE}'s sample photos (pip download, PyPI)"));
    let status = Command::new("python3")
        .args(["-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:"])
        .arg(format!("scikit-image=={SCIKIT_IMAGE}"))
        .arg("--dest")
        .arg(&wheels)
        .status()
        .context(
            "cannot run `python3 -m pip`; the quality benchmark takes its photos from PyPI: install Python 3 with pip",
        )?;
    if !status.success() {
        bail!("`pip download scikit-image=={SCIKIT_IMAGE}` failed ({status}); check that PyPI is reachable");
    }
    std::fs::create_dir_all(&photos)?;
    let script = format!(
        "import glob, sys, zipfile\n\
         wheel = sorted(glob.glob(sys.argv[1] + '/scikit_image-{SCIKIT_IMAGE}-*.whl'))[-1]\n\
         with zipfile.ZipFile(wheel) as z:\n\
         \x20   for name in sys.argv[3:]:\n\
         \x20       open(sys.argv[2] + '/' + name, 'wb').write(z.read('skimage/data/' + name))\n"
    );
    let status = Command::new("python3")
        .args(["-c", &script])
        .arg(&wheels)
        .arg(&photos)
        .args(PHOTOS)
        .status()
        .context("cannot run python3")?;
    if !status.success() {
        bail!("extracting the photos from the scikit-image wheel in {} failed ({status})", wheels.display());
    }
    Ok(photos)
}
