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

/// Mandalas: a unique image per request.
#[plugin(name = "mandala")]
impl Mandala {
    /// Draw a unique mandala, e.g. `!mando`, `!mando 1234` or `!mando style=bezier`.
    ///
    /// Every choice comes from the seed, so the same seed and options draw the same image again;
    /// the answer tells the seed. Options left out are chosen from the seed too.
    ///
    /// # Arguments
    /// * `seed` - the image's seed (random by default); the same seed draws the same image
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
            ..MandalaSpec::new(seed.unwrap_or_else(mandala::random_seed))
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
