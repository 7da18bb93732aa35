//! Fast, deterministic mandala renderer.
//!
//! A mandala is a stack of 4–19 rings. Ring radii start at 3 and grow by
//! 1–5 abstract units per ring (scaled to fit the image). Each ring's shape
//! is a random radial profile over half of one symmetry sector, mirrored
//! inside the sector and repeated `symmetry` (3–20) times around the centre,
//! drawn either as a filled polygon ([`Style::Fill`]) or as bezier petals
//! ([`Style::Bezier`]). Rings are painted from the outermost to the innermost
//! with anti-aliasing on an opaque background, then encoded as a fast PNG.
//!
//! Every random choice comes from the spec's seed, so one [`MandalaSpec`]
//! always yields byte-identical PNG bytes.
//!
//! ```
//! use mandala::{render_png, MandalaSpec, Style};
//!
//! let spec = MandalaSpec {
//!     symmetry: Some(8),
//!     style: Some(Style::Bezier),
//!     width: 320,
//!     height: 240,
//!     ..MandalaSpec::new(1234)
//! };
//! let png = render_png(&spec)?;
//! assert!(png.bytes.starts_with(b"\x89PNG"));
//! assert_eq!(png.params.symmetry, 8);
//! assert_eq!(png.params.to_string(), "seed 1234, symmetry 8, 14 rings, bezier");
//!
//! // Same spec, same bytes.
//! assert_eq!(render_png(&spec)?.bytes, png.bytes);
//!
//! // Out-of-range parameters are rejected with a typed error.
//! let bad = MandalaSpec { symmetry: Some(25), ..MandalaSpec::new(1) };
//! assert_eq!(
//!     bad.validate().unwrap_err().to_string(),
//!     "symmetry must be between 3 and 20, got 25"
//! );
//! # Ok::<(), mandala::MandalaError>(())
//! ```

#![warn(missing_docs)]

mod colour;
mod draw;
mod encode;
mod geometry;
mod raster;
mod spec;

use std::fmt;

pub use colour::Rgb;
pub use spec::{
    MandalaError, MandalaSpec, Style, DEFAULT_HEIGHT, DEFAULT_WIDTH, MAX_RINGS, MAX_SIZE, MAX_SYMMETRY, MIN_RINGS,
    MIN_SIZE, MIN_SYMMETRY,
};
pub use tiny_skia::Pixmap;

use fastrand::Rng;

/// The parameters a mandala was actually drawn with (unset spec fields
/// resolved from the seed).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Params {
    /// The seed.
    pub seed: u64,
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Rotational symmetry order.
    pub symmetry: u32,
    /// Number of rings.
    pub rings: u32,
    /// Ring drawing style.
    pub style: Style,
    /// One colour per ring, innermost ring first.
    pub ring_colours: Vec<Rgb>,
    /// Background colour.
    pub background: Rgb,
}

impl Params {
    /// A spec with every field set explicitly; it renders the same image.
    pub fn to_spec(&self) -> MandalaSpec {
        MandalaSpec {
            seed: self.seed,
            width: self.width,
            height: self.height,
            symmetry: Some(self.symmetry),
            rings: Some(self.rings),
            style: Some(self.style),
        }
    }
}

impl fmt::Display for Params {
    /// Formats as e.g. `seed 1234, symmetry 8, 12 rings, bezier`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seed {}, symmetry {}, {} rings, {}", self.seed, self.symmetry, self.rings, self.style)
    }
}

/// A rendered (not yet encoded) mandala.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The resolved parameters.
    pub params: Params,
    /// The pixels (premultiplied RGBA, fully opaque).
    pub pixmap: Pixmap,
}

/// An encoded PNG with the parameters it was drawn with.
#[derive(Debug, Clone)]
pub struct Png {
    /// The PNG file bytes.
    pub bytes: Vec<u8>,
    /// The resolved parameters.
    pub params: Params,
}

/// Resolves unset fields from the seed. The three draws always happen, so an
/// override does not change anything else about the picture.
fn resolve(spec: &MandalaSpec) -> (u32, u32, Style) {
    let mut rng = Rng::with_seed(geometry::mix(spec.seed, 0));
    let symmetry = rng.u32(MIN_SYMMETRY..=MAX_SYMMETRY);
    let rings = rng.u32(MIN_RINGS..=MAX_RINGS);
    let style = if rng.bool() { Style::Fill } else { Style::Bezier };
    (spec.symmetry.unwrap_or(symmetry), spec.rings.unwrap_or(rings), spec.style.unwrap_or(style))
}

/// Validates `spec`, resolves its unset fields and draws the mandala.
///
/// # Errors
/// [`MandalaError`] for an out-of-range parameter (see
/// [`MandalaSpec::validate`]).
pub fn render(spec: &MandalaSpec) -> Result<Rendered, MandalaError> {
    spec.validate()?;
    let (symmetry, rings, style) = resolve(spec);
    let design = geometry::design(spec.seed, symmetry, rings, style);
    let palette = colour::palette(&mut Rng::with_seed(geometry::mix(spec.seed, 2)), rings as usize);
    let pixmap = draw::draw(&design, &palette.rings, palette.background, spec.width, spec.height)?;
    Ok(Rendered {
        params: Params {
            seed: spec.seed,
            width: spec.width,
            height: spec.height,
            symmetry,
            rings,
            style,
            ring_colours: palette.rings,
            background: palette.background,
        },
        pixmap,
    })
}

/// Encodes a rendered mandala as PNG (8-bit RGBA, fast deflate, Sub filter).
///
/// # Errors
/// [`MandalaError::Encode`] if the PNG encoder fails.
pub fn encode_png(rendered: &Rendered) -> Result<Vec<u8>, MandalaError> {
    encode::encode(&rendered.pixmap)
}

/// [`render`] then [`encode_png`].
///
/// # Errors
/// As [`render`] and [`encode_png`].
pub fn render_png(spec: &MandalaSpec) -> Result<Png, MandalaError> {
    let rendered = render(spec)?;
    let bytes = encode_png(&rendered)?;
    Ok(Png { bytes, params: rendered.params })
}

/// The largest seed: 2^53, the largest integer Discord's integer options carry, so that
/// every seed the command line draws can be asked for with `/mando` too.
pub const MAX_SEED: u64 = 1 << 53;

/// A fresh, non-deterministic seed below one billion (short enough for a
/// user to read back and retype).
pub fn random_seed() -> u64 {
    fastrand::u64(0..1_000_000_000)
}
