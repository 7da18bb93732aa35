//! The user-facing request ([`MandalaSpec`]), the drawing [`Style`] and the
//! typed [`MandalaError`], with validation of every parameter range.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// Smallest accepted rotational symmetry order.
pub const MIN_SYMMETRY: u32 = 3;
/// Largest accepted rotational symmetry order.
pub const MAX_SYMMETRY: u32 = 20;
/// Smallest accepted number of rings.
pub const MIN_RINGS: u32 = 4;
/// Largest accepted number of rings.
pub const MAX_RINGS: u32 = 19;
/// Smallest accepted image width or height, in pixels.
pub const MIN_SIZE: u32 = 16;
/// Largest accepted image width or height, in pixels.
pub const MAX_SIZE: u32 = 4096;
/// Default image width, in pixels.
pub const DEFAULT_WIDTH: u32 = 1280;
/// Default image height, in pixels.
pub const DEFAULT_HEIGHT: u32 = 960;

/// How each ring's outline is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Style {
    /// Straight-edged filled polygon through the ring's profile points.
    Fill,
    /// Smooth bezier petals using the profile points as control points.
    Bezier,
}

impl Style {
    /// The lowercase name of the style, as accepted by [`Style::from_str`].
    pub fn as_str(self) -> &'static str {
        match self {
            Style::Fill => "fill",
            Style::Bezier => "bezier",
        }
    }
}

impl fmt::Display for Style {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Style {
    type Err = MandalaError;

    /// Parses `"fill"` or `"bezier"` (ASCII case-insensitive, surrounding
    /// whitespace ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("fill") {
            Ok(Style::Fill)
        } else if t.eq_ignore_ascii_case("bezier") {
            Ok(Style::Bezier)
        } else {
            Err(MandalaError::Style(s.to_owned()))
        }
    }
}

/// Everything that can go wrong when rendering or encoding a mandala.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum MandalaError {
    /// The rotational symmetry order is outside `3..=20`.
    #[error("symmetry must be between {MIN_SYMMETRY} and {MAX_SYMMETRY}, got {0}")]
    Symmetry(u32),
    /// The ring count is outside `4..=19`.
    #[error("rings must be between {MIN_RINGS} and {MAX_RINGS}, got {0}")]
    Rings(u32),
    /// The width is outside `16..=4096`.
    #[error("width must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {0}")]
    Width(u32),
    /// The height is outside `16..=4096`.
    #[error("height must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {0}")]
    Height(u32),
    /// A style name other than `fill` or `bezier`.
    #[error("style must be \"fill\" or \"bezier\", got {0:?}")]
    Style(String),
    /// The pixel buffer could not be created (should not happen for valid sizes).
    #[error("could not allocate a {width}x{height} image")]
    Allocation {
        /// Requested width in pixels.
        width: u32,
        /// Requested height in pixels.
        height: u32,
    },
    /// The PNG encoder failed.
    #[error("PNG encoding failed: {0}")]
    Encode(#[from] png::EncodingError),
}

/// A request for one mandala. Fields left as `None` are chosen from the seed.
///
/// The same spec always produces byte-identical PNG output. Resolving a
/// `None` field draws the same value whether or not it is overridden, so
/// filling in the resolved values reported by [`crate::Params`] reproduces
/// exactly the same image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MandalaSpec {
    /// Seed for every random choice (shape, colours, unset parameters).
    pub seed: u64,
    /// Image width in pixels, `16..=4096`.
    pub width: u32,
    /// Image height in pixels, `16..=4096`.
    pub height: u32,
    /// Rotational symmetry order, `3..=20`; `None` = chosen from the seed.
    pub symmetry: Option<u32>,
    /// Number of rings, `4..=19`; `None` = chosen from the seed.
    pub rings: Option<u32>,
    /// Ring drawing style; `None` = chosen from the seed.
    pub style: Option<Style>,
}

impl MandalaSpec {
    /// A spec for `seed` at the default 1280×960 size with every other
    /// parameter chosen from the seed.
    pub fn new(seed: u64) -> Self {
        MandalaSpec { seed, width: DEFAULT_WIDTH, height: DEFAULT_HEIGHT, symmetry: None, rings: None, style: None }
    }

    /// Checks every explicit parameter against its allowed range.
    ///
    /// # Errors
    /// The first out-of-range parameter, as a [`MandalaError`] naming it.
    pub fn validate(&self) -> Result<(), MandalaError> {
        if !(MIN_SIZE..=MAX_SIZE).contains(&self.width) {
            return Err(MandalaError::Width(self.width));
        }
        if !(MIN_SIZE..=MAX_SIZE).contains(&self.height) {
            return Err(MandalaError::Height(self.height));
        }
        if let Some(n) = self.symmetry {
            if !(MIN_SYMMETRY..=MAX_SYMMETRY).contains(&n) {
                return Err(MandalaError::Symmetry(n));
            }
        }
        if let Some(r) = self.rings {
            if !(MIN_RINGS..=MAX_RINGS).contains(&r) {
                return Err(MandalaError::Rings(r));
            }
        }
        Ok(())
    }
}

impl Default for MandalaSpec {
    /// Same as [`MandalaSpec::new(0)`](MandalaSpec::new).
    fn default() -> Self {
        MandalaSpec::new(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn style_round_trips() {
        for s in [Style::Fill, Style::Bezier] {
            assert_eq!(s.to_string().parse::<Style>().ok(), Some(s));
        }
        assert_eq!(" Bezier ".parse::<Style>().ok(), Some(Style::Bezier));
        let err = "wavy".parse::<Style>().err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("style must be \"fill\" or \"bezier\", got \"wavy\""));
    }

    #[test]
    fn messages_name_parameter_and_range() {
        assert_eq!(MandalaError::Symmetry(25).to_string(), "symmetry must be between 3 and 20, got 25");
        assert_eq!(MandalaError::Rings(2).to_string(), "rings must be between 4 and 19, got 2");
        assert_eq!(MandalaError::Width(0).to_string(), "width must be between 16 and 4096 pixels, got 0");
    }
}
