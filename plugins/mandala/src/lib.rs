//! The mandala plugin: `!mando` (`/mando` on Discord) draws a unique mandala PNG and posts it,
//! optionally keeping a copy in an object store with a public address ([`Archive`]).
//!
//! ```no_run
//! use regis_plugin_mandala::{Archive, Mandala, MandalaOptions};
//!
//! // Images sent as attachments only:
//! let plain = Mandala::default();
//! // Also archived in a bucket and shown from its public address:
//! let archive = Archive::open("s3://my-bucket", Some("https://my-bucket.s3.amazonaws.com"))?;
//! let archived = Mandala::new(MandalaOptions { archive: Some(archive) });
//! # Ok::<(), regis_plugin_mandala::ArchiveError>(())
//! ```

#![warn(missing_docs)]

mod archive;
mod reply;

pub use archive::{Archive, ArchiveError, Stored, DEFAULT_TIMEOUT, FOLDER};

use mandala::MandalaSpec;
use regis::prelude::*;

/// How ring outlines are drawn: `fill` (straight-edged polygons) or `bezier` (smooth petals).
#[derive(Choice, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Straight-edged filled polygons.
    Fill,
    /// Smooth bezier petals.
    Bezier,
}

impl From<Style> for mandala::Style {
    fn from(style: Style) -> Self {
        match style {
            Style::Fill => mandala::Style::Fill,
            Style::Bezier => mandala::Style::Bezier,
        }
    }
}

/// How the plugin is set up.
#[derive(Clone, Debug, Default)]
pub struct MandalaOptions {
    /// Where to keep a copy of every image (none by default).
    pub archive: Option<Archive>,
}

/// The mandala plugin. [`Mandala::default`] sends images as attachments and archives nothing.
#[derive(Clone, Debug, Default)]
pub struct Mandala {
    options: MandalaOptions,
}

impl Mandala {
    /// The plugin with these options.
    pub fn new(options: MandalaOptions) -> Self {
        Mandala { options }
    }
}

/// The seed of a request that names none, from its envelope's id: a new one per request
/// (ids are unique), and the same one when the request is delivered again because a worker
/// died before acknowledging it, so that the second run's edit of the reply shows the same
/// image instead of replacing it with another. FNV-1a, within the range of random seeds.
fn request_seed(envelope_id: &str) -> u64 {
    let hash =
        envelope_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    hash % 1_000_000_000
}

/// Mandalas: a unique image per request.
#[plugin(name = "mandala")]
impl Mandala {
    /// Draw a unique mandala, e.g. `!mando`, `!mando 1234` or `!mando style=bezier`.
    ///
    /// Every choice comes from the seed, so the same seed and options draw the same image again;
    /// the answer tells the seed. Options left out are chosen from the seed too.
    ///
    /// # Arguments
    /// * `seed` - the image's seed (a new one per request by default); the same seed draws the same image
    /// * `symmetry` - how many times the pattern repeats around the centre
    /// * `rings` - how many rings
    /// * `style` - the shape of the rings: polygons (fill) or petals (bezier)
    #[command(cooldown = "5 per 10s per user")]
    async fn mando(
        &self,
        ctx: &Ctx,
        seed: Option<u64>,
        #[min = 3]
        #[max = 20]
        symmetry: Option<u8>,
        #[min = 4]
        #[max = 19]
        rings: Option<u8>,
        style: Option<Style>,
    ) -> Result<Reply> {
        let spec = MandalaSpec {
            symmetry: symmetry.map(u32::from),
            rings: rings.map(u32::from),
            style: style.map(mandala::Style::from),
            ..MandalaSpec::new(seed.unwrap_or_else(|| request_seed(&ctx.envelope().id)))
        };
        let png = tokio::task::spawn_blocking(move || mandala::render_png(&spec)).await??;
        let again = reply::again_command(ctx.prefix(), &spec, style.map(|s| s.as_choice()));
        let stored = match &self.options.archive {
            Some(archive) => match archive.store(spec.seed, png.bytes.clone()).await {
                Ok(stored) => Some(stored),
                Err(error) => {
                    tracing::error!(%archive, seed = spec.seed, %error, "mandala not archived; sending it as an attachment");
                    None
                }
            },
            None => None,
        };
        Ok(reply::build(png, &again, stored.and_then(|s| s.url)))
    }
}

#[cfg(test)]
mod seed_tests {
    use super::request_seed;

    #[test]
    fn a_request_keeps_its_seed_and_requests_differ() {
        assert_eq!(request_seed("1157830563931721788"), request_seed("1157830563931721788"));
        let seeds: std::collections::HashSet<u64> = (0..1000).map(|i| request_seed(&format!("{i:032x}"))).collect();
        assert_eq!(seeds.len(), 1000, "a thousand requests, a thousand images");
        assert!(seeds.iter().all(|s| *s < 1_000_000_000));
    }
}
