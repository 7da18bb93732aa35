//! Renders many mandalas at 1280×960 with different seeds and prints median
//! and p95 timings for drawing, PNG encoding and both, plus the mean PNG size.
//!
//! ```text
//! cargo run --release -p mandala --example bench_table [-- COUNT [WIDTH HEIGHT]]
//! ```

use std::error::Error;
use std::time::Instant;

use mandala::{encode_png, render, MandalaSpec};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let count: usize = args.first().map_or(Ok(200), |s| s.parse())?;
    let width: u32 = args.get(1).map_or(Ok(1280), |s| s.parse())?;
    let height: u32 = args.get(2).map_or(Ok(960), |s| s.parse())?;

    // Warm-up (page faults, caches) outside the measurement.
    for seed in 0..5 {
        encode_png(&render(&MandalaSpec { width, height, ..MandalaSpec::new(seed) })?)?;
    }

    let mut draw = Vec::with_capacity(count);
    let mut encode = Vec::with_capacity(count);
    let mut total = Vec::with_capacity(count);
    let mut bytes = 0usize;
    for i in 0..count {
        let spec = MandalaSpec { width, height, ..MandalaSpec::new(1_000 + i as u64 * 7_919) };
        let t0 = Instant::now();
        let rendered = render(&spec)?;
        let t1 = Instant::now();
        let png = encode_png(&rendered)?;
        let t2 = Instant::now();
        bytes += png.len();
        draw.push((t1 - t0).as_secs_f64() * 1e3);
        encode.push((t2 - t1).as_secs_f64() * 1e3);
        total.push((t2 - t0).as_secs_f64() * 1e3);
    }

    println!("mandala bench: {count} images at {width}x{height}, varied seeds");
    println!("{:<8} {:>12} {:>12}", "stage", "median ms", "p95 ms");
    for (name, v) in [("draw", &mut draw), ("encode", &mut encode), ("total", &mut total)] {
        v.sort_by(f64::total_cmp);
        println!("{:<8} {:>12.3} {:>12.3}", name, percentile(v, 0.5), percentile(v, 0.95));
    }
    println!("mean PNG size: {:.1} KiB", bytes as f64 / count.max(1) as f64 / 1024.0);
    Ok(())
}
