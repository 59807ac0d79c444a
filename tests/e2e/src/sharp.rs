//! An image decoder independent of the worker's encoders: sharp (libvips,
//! with libheif's AV1 decoder for AVIF), run by the project's Node.js.

use image::RgbaImage;

/// Decodes `bytes` with sharp (libvips: libheif with its AV1 decoder for
/// AVIF), run by the project's Node.js: a decoder independent of the
/// worker's encoders, for formats the `image` crate here cannot read.
pub fn decode(bytes: &[u8]) -> Result<RgbaImage, String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    const SCRIPT: &str = "import sharp from 'sharp';\n\
        const chunks = [];\n\
        for await (const chunk of process.stdin) chunks.push(chunk);\n\
        const { data, info } = await sharp(Buffer.concat(chunks)).ensureAlpha().raw().toBuffer({ resolveWithObject: true });\n\
        process.stdout.write(`${info.width} ${info.height}\\n`);\n\
        process.stdout.write(data);\n";
    let mut child = Command::new(crate::node())
        .args(["--input-type=module", "-e", SCRIPT])
        .current_dir(crate::workspace_root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run the project's node (run `cargo xtask test`, which runs `npm ci`): {e}"))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    writer.join().map_err(|_| "the writer panicked".to_owned())?.map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!("sharp cannot decode it: {}", String::from_utf8_lossy(&output.stderr).trim()));
    }
    let newline = output.stdout.iter().position(|&b| b == b'\n').ok_or("sharp printed no size")?;
    let size = String::from_utf8_lossy(&output.stdout[..newline]).into_owned();
    let (width, height) = size.split_once(' ').ok_or(format!("sharp printed `{size}`"))?;
    let (width, height) = (width.parse().map_err(|_| size.clone())?, height.parse().map_err(|_| size.clone())?);
    RgbaImage::from_raw(width, height, output.stdout[newline + 1..].to_vec())
        .ok_or("sharp's pixels do not fill its size".into())
}
