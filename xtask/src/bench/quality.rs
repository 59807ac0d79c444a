//! Quality per byte: the worker's WebP, JPEG and `format=auto` (in the AVIF
//! build) against sharp's (libwebp, mozjpeg, and libaom for AVIF) at equal
//! SSIMULACRA2, on real photographs and generated ones, resized to 800 and
//! 400 px; then the AVIF frontier, the same AVIF cases at other libaom
//! settings, each built with `EDGE_FN_AVIF_TUNING`. Installs the photos
//! (scikit-image's sample photographs, from its PyPI wheel: nothing is
//! downloaded from anywhere but the registry), builds the AVIF workers, then
//! runs the `quality-bench` driver (`xtask/drivers`).

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

/// The points of the AVIF frontier the section measures besides the one the
/// `avif` build uses (`edge_fn::codecs::avif::TUNING`), as
/// `EDGE_FN_AVIF_TUNING` takes them: libaom's all-intra usage at speeds 6–9,
/// 4:4:4 and 4:2:0, tuned for PSNR and for SSIM.
const AVIF_FRONTIER: [&str; 5] =
    ["allintra:6:444", "allintra:8:444", "allintra:9:444", "allintra:9:444:ssim", "allintra:7:420"];

/// The goals of the AVIF output, side by side with sharp (the issue's): at
/// most these bytes ratios against sharp's WebP and AVIF at equal
/// SSIMULACRA2, and this encode p50 at 800 px in workerd.
const AVIF_GOALS: (f64, f64, f64) = (0.80, 1.05, 300.0);

pub fn run(repo: &Repo, peers: &Peers, ours_dir: &Path, dir: &Path, runs: usize) -> Result<Value> {
    let progress = repo.progress();
    let photos = ensure_photos(dir, &progress)?;
    let avif_dir = dir.join("ours-avif");
    build_avif(repo, &avif_dir, None)?;
    // Beside node_modules, so that `import "sharp"` resolves.
    let script = peers.npm.join("sharp-quality.mjs");
    std::fs::write(&script, SHARP_SCRIPT)?;
    progress.status("Measuring", "quality per byte against sharp (SSIMULACRA2)");
    let measure = |avif_dir: &Path, avif_only: bool, json: &str| {
        let mut flags = vec![
            ("--ours", ours_dir.into()),
            ("--ours-avif", avif_dir.into()),
            ("--node", "node".into()),
            ("--sharp-script", script.clone().into()),
            ("--photos", photos.clone().into()),
            ("--scratch", dir.join("scratch/quality").into()),
            ("--runs", runs.to_string().into()),
        ];
        if avif_only {
            flags.push(("--avif-only", "yes".into()));
        }
        super::run_driver(repo, "quality-bench", &flags, &dir.join("scratch").join(json), "quality benchmark")
    };
    let mut results = measure(&avif_dir, false, "quality.json")?;
    let mut frontier = vec![avif_point("the avif build", &results)];
    for tuning in AVIF_FRONTIER {
        let point_dir = dir.join(format!("ours-avif-{}", tuning.replace(':', "-")));
        build_avif(repo, &point_dir, Some(tuning))?;
        progress.status("Measuring", &format!("the AVIF frontier: libaom {tuning}"));
        frontier.push(avif_point(tuning, &measure(&point_dir, true, "quality-frontier.json")?));
    }
    print_frontier(&frontier);
    results["avif_frontier"] = Value::Array(frontier);
    Ok(results)
}

/// Builds edge-fn with `--features avif` into `out_dir`, at `tuning` (see
/// [`AVIF_FRONTIER`]) or the build's own.
fn build_avif(repo: &Repo, out_dir: &Path, tuning: Option<&str>) -> Result<()> {
    let progress = repo.progress();
    let what = tuning.map_or("the build's own tuning".to_owned(), |t| format!("libaom {t}"));
    progress.status("Building", &format!("edge-fn with `--features avif` ({what})"));
    let mut command = Command::new(&repo.cargo);
    command
        .current_dir(&repo.root)
        .args(["xtask", "build", "--quiet", "--features", "avif", "--max-gzip-bytes", "2000000", "--out-dir"])
        .arg(out_dir);
    match tuning {
        Some(tuning) => command.env("EDGE_FN_AVIF_TUNING", tuning),
        None => command.env_remove("EDGE_FN_AVIF_TUNING"),
    };
    let status = command.status().with_context(|| format!("cannot run {}", repo.cargo.display()))?;
    if !status.success() {
        bail!("building the AVIF worker ({what}) failed ({status})");
    }
    Ok(())
}

/// One point of the frontier from the driver's summary: its two AVIF cases.
fn avif_point(name: &str, results: &Value) -> Value {
    let case = |case: &str| {
        results["summary"].as_array().and_then(|s| s.iter().find(|c| c["case"] == case)).cloned().unwrap_or_default()
    };
    let (webp, avif) = (case("auto (avif+webp)"), case("auto (avif, vs avif)"));
    serde_json::json!({
        "tuning": name,
        "bytes_vs_sharp_webp": webp["median_bytes_ratio"],
        "bytes_vs_sharp_avif": avif["median_bytes_ratio"],
        "encode_ms_800": avif["median_encode_ms_800"],
    })
}

fn print_frontier(frontier: &[Value]) {
    let (webp_goal, avif_goal, ms_goal) = AVIF_GOALS;
    println!(
        "
AVIF frontier (libaom; median bytes ÷ sharp's at equal SSIMULACRA2; encode p50 at 800 px in workerd)"
    );
    println!("  {:<22} {:>10} {:>10} {:>10}   goals met", "tuning", "vs WebP", "vs AVIF", "encode ms");
    for point in frontier {
        let number = |key: &str| point[key].as_f64().unwrap_or(f64::NAN);
        let (webp, avif, ms) = (number("bytes_vs_sharp_webp"), number("bytes_vs_sharp_avif"), number("encode_ms_800"));
        let met = |ok: bool, what: &str| if ok { what.to_owned() } else { format!("not {what}") };
        println!(
            "  {:<22} {:>9.2}x {:>9.2}x {:>10.1}   {}, {}, {}",
            point["tuning"].as_str().unwrap_or_default(),
            webp,
            avif,
            ms,
            met(webp <= webp_goal, &format!("<= {webp_goal:.2}x WebP")),
            met(avif <= avif_goal, &format!("<= {avif_goal:.2}x AVIF")),
            met(ms <= ms_goal, &format!("<= {ms_goal:.0} ms")),
        );
    }
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
