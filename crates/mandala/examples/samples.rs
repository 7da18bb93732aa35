//! Writes sample mandalas as `mandala-1.png`, `mandala-2.png`, … into a
//! directory.
//!
//! ```text
//! cargo run --release -p mandala --example samples -- docs
//! cargo run --release -p mandala --example samples -- /tmp/out 7:bezier 99:fill:12:9
//! cargo run --release -p mandala --example samples -- /tmp/out 200x150 7 8:-:5
//! ```
//!
//! Each optional `SEED[:STYLE[:SYMMETRY[:RINGS]]]` argument replaces the
//! built-in list (`-` leaves a field to the seed); a `WxH` argument sets the
//! size of the images after it (default 1280x960).

use std::error::Error;
use std::path::PathBuf;

use mandala::{render_png, MandalaSpec, Style, DEFAULT_HEIGHT, DEFAULT_WIDTH};

/// The documented samples (`docs/mandala-N.png`): seed and style; symmetry
/// and ring count come from the seed.
const SAMPLES: [(u64, Style); 3] = [(26, Style::Fill), (14, Style::Bezier), (18, Style::Bezier)];

fn field(p: Option<&str>) -> Option<&str> {
    p.filter(|s| !s.is_empty() && *s != "-")
}

fn parse(arg: &str) -> Result<MandalaSpec, Box<dyn Error>> {
    let mut parts = arg.split(':');
    let seed = parts.next().unwrap_or_default().parse()?;
    let mut spec = MandalaSpec::new(seed);
    if let Some(s) = field(parts.next()) {
        spec.style = Some(s.parse()?);
    }
    if let Some(s) = field(parts.next()) {
        spec.symmetry = Some(s.parse()?);
    }
    if let Some(s) = field(parts.next()) {
        spec.rings = Some(s.parse()?);
    }
    Ok(spec)
}

/// Parses `WIDTHxHEIGHT`.
fn size(arg: &str) -> Option<(u32, u32)> {
    let (w, h) = arg.split_once('x')?;
    Some((w.parse().ok()?, h.parse().ok()?))
}

fn main() -> Result<(), Box<dyn Error>> {
    const USAGE: &str = "usage: samples OUT_DIR [WxH] [SEED[:STYLE[:SYMMETRY[:RINGS]]] ...]";
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or(USAGE)?);
    let (mut width, mut height) = (DEFAULT_WIDTH, DEFAULT_HEIGHT);
    let mut specs = Vec::new();
    for arg in args {
        if let Some((w, h)) = size(&arg) {
            (width, height) = (w, h);
        } else {
            specs.push(MandalaSpec { width, height, ..parse(&arg)? });
        }
    }
    if specs.is_empty() {
        specs = SAMPLES
            .iter()
            .map(|&(seed, style)| MandalaSpec { style: Some(style), width, height, ..MandalaSpec::new(seed) })
            .collect();
    }
    std::fs::create_dir_all(&dir)?;
    for (i, spec) in specs.iter().enumerate() {
        let png = render_png(spec)?;
        let path = dir.join(format!("mandala-{}.png", i + 1));
        std::fs::write(&path, &png.bytes)?;
        let kib = png.bytes.len() / 1024;
        println!("{}: {} ({kib} KiB)", path.display(), png.params);
    }
    Ok(())
}
