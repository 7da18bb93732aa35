//! `regis mandala`: renders mandalas to PNG files without starting the bot; and the mandala
//! plugin as the configuration sets it up.

use crate::config::Settings;
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use mandala::{MandalaSpec, Params};
use regis_plugin_mandala::{Archive, Mandala, MandalaOptions};
use std::collections::{BTreeMap, HashSet};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

/// The mandala plugin, with the archive `object_store_url` and `public_base_url` describe.
pub fn plugin(settings: &Settings) -> Result<Mandala> {
    let Some(store) = &settings.object_store_url else {
        return Ok(Mandala::default());
    };
    let archive = Archive::open(store, settings.public_base_url.as_deref())
        .with_context(|| format!("configuration key `object_store_url`: cannot use `{store}`"))?;
    Ok(Mandala::new(MandalaOptions { archive: Some(archive) }))
}

/// Arguments of `regis mandala`.
#[derive(Args, Debug)]
pub struct MandalaArgs {
    /// Seed of the image, 0 to 2^53 (as for /mando); with --count, the images get seeds N,
    /// N+1, … [default: random]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(0..=mandala::MAX_SEED))]
    seed: Option<u64>,
    /// Image size in pixels, each side 16 to 4096
    #[arg(long, value_name = "WxH", default_value = "1280x960", value_parser = parse_size)]
    size: Size,
    /// Rotational symmetry, 3 to 20 [default: chosen from the seed]
    #[arg(long, value_name = "N")]
    symmetry: Option<u32>,
    /// Number of rings, 4 to 19 [default: chosen from the seed]
    #[arg(long, value_name = "N")]
    rings: Option<u32>,
    /// Ring outlines: polygons (fill) or petals (bezier) [default: chosen from the seed]
    #[arg(long, value_enum)]
    style: Option<StyleArg>,
    #[command(flatten)]
    output: Output,
    /// How many images to write into --out-dir [default: 1]
    #[arg(long, value_name = "K", conflicts_with = "out", value_parser = clap::value_parser!(u32).range(1..))]
    count: Option<u32>,
}

/// Where the images go: exactly one of the two.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
struct Output {
    /// Write one image to this file
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Write the images into this directory (created if needed) as mandala-<seed>.png
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
}

/// An image size from `--size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Size {
    width: u32,
    height: u32,
}

fn parse_size(text: &str) -> Result<Size, String> {
    let parsed = text
        .split_once(['x', 'X', '×'])
        .and_then(|(w, h)| Some(Size { width: w.trim().parse().ok()?, height: h.trim().parse().ok()? }));
    parsed.ok_or_else(|| format!("expected WIDTHxHEIGHT in pixels, e.g. 1280x960, got `{text}`"))
}

/// `--style` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum StyleArg {
    /// Straight-edged filled polygons
    Fill,
    /// Smooth bezier petals
    Bezier,
}

impl From<StyleArg> for mandala::Style {
    fn from(style: StyleArg) -> Self {
        match style {
            StyleArg::Fill => mandala::Style::Fill,
            StyleArg::Bezier => mandala::Style::Bezier,
        }
    }
}

/// One image written.
struct Written {
    path: PathBuf,
    params: Params,
    bytes: usize,
}

impl Written {
    fn line(&self) -> String {
        format!(
            "{}: {} ({}x{}, {} KiB)",
            self.path.display(),
            self.params,
            self.params.width,
            self.params.height,
            self.bytes.div_ceil(1024)
        )
    }
}

/// Runs `regis mandala`.
pub fn run(args: &MandalaArgs) -> Result<()> {
    let template = MandalaSpec {
        width: args.size.width,
        height: args.size.height,
        symmetry: args.symmetry,
        rings: args.rings,
        style: args.style.map(mandala::Style::from),
        ..MandalaSpec::new(0)
    };
    template.validate()?;
    match (&args.output.out, &args.output.out_dir) {
        (Some(file), None) => {
            let seed = args.seed.unwrap_or_else(mandala::random_seed);
            let written = write(&MandalaSpec { seed, ..template }, file)?;
            println!("{}", written.line());
            Ok(())
        }
        (None, Some(dir)) => batch(&template, &seeds(args.seed, args.count.unwrap_or(1))?, dir),
        _ => bail!("give either --out FILE or --out-dir DIR"),
    }
}

/// `count` seeds from `first` on, or `count` distinct random ones.
fn seeds(first: Option<u64>, count: u32) -> Result<Vec<u64>> {
    match first {
        Some(first) => (0..u64::from(count))
            .map(|i| {
                first
                    .checked_add(i)
                    .filter(|seed| *seed <= mandala::MAX_SEED)
                    .context("--seed plus --count goes past the largest seed (2^53, the largest /mando accepts)")
            })
            .collect(),
        None => {
            let mut seen = HashSet::new();
            let mut seeds = Vec::new();
            while seeds.len() < count as usize {
                let seed = mandala::random_seed();
                if seen.insert(seed) {
                    seeds.push(seed);
                }
            }
            Ok(seeds)
        }
    }
}

fn write(spec: &MandalaSpec, path: &Path) -> Result<Written> {
    let png = mandala::render_png(spec)?;
    std::fs::write(path, &png.bytes).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(Written { path: path.to_path_buf(), params: png.params, bytes: png.bytes.len() })
}

/// Renders one image per seed into `dir` on every core, printing each file in seed order.
fn batch(template: &MandalaSpec, seeds: &[u64], dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let started = Instant::now();
    let progress = if std::io::stdout().is_terminal() {
        let style = ProgressStyle::with_template("{bar:40} {pos}/{len} mandalas, {elapsed} (eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        ProgressBar::new(seeds.len() as u64).with_style(style)
    } else {
        ProgressBar::hidden()
    };
    let threads = std::thread::available_parallelism().map_or(1, usize::from).min(seeds.len()).max(1);
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let (sender, receiver) = mpsc::channel::<(usize, Result<Written>)>();
    let outcome = std::thread::scope(|scope| {
        for _ in 0..threads {
            let sender = sender.clone();
            let (next, failed) = (&next, &failed);
            scope.spawn(move || {
                while !failed.load(Ordering::Relaxed) {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&seed) = seeds.get(index) else { break };
                    let result = write(&MandalaSpec { seed, ..*template }, &dir.join(format!("mandala-{seed}.png")));
                    failed.fetch_or(result.is_err(), Ordering::Relaxed);
                    if sender.send((index, result)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(sender);
        let mut pending = BTreeMap::new();
        let mut printed = 0;
        for (index, result) in receiver {
            let written = result?;
            progress.inc(1);
            pending.insert(index, written);
            while let Some(written) = pending.remove(&printed) {
                progress.suspend(|| println!("{}", written.line()));
                printed += 1;
            }
        }
        Ok::<(), anyhow::Error>(())
    });
    progress.finish_and_clear();
    outcome?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "wrote {} mandala(s) to {} in {seconds:.2} s ({:.1} ms each, {threads} thread(s))",
        seeds.len(),
        dir.display(),
        seconds * 1e3 / seeds.len() as f64
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("640x480"), Ok(Size { width: 640, height: 480 }));
        assert_eq!(parse_size("64 X 48"), Ok(Size { width: 64, height: 48 }));
        assert!(parse_size("640").unwrap_err().contains("WIDTHxHEIGHT"));
        assert!(parse_size("ax4").is_err());
    }

    #[test]
    fn seeds_count_up_or_are_distinct() {
        assert_eq!(seeds(Some(7), 3).unwrap(), vec![7, 8, 9]);
        assert!(seeds(Some(u64::MAX), 2).is_err());
        let random = seeds(None, 50).unwrap();
        assert_eq!(random.iter().collect::<HashSet<_>>().len(), 50);
    }
}
