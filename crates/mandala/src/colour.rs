//! Colours: the public [`Rgb`] type and the seeded palette generator.

use std::fmt;

use fastrand::Rng;

/// An opaque 8-bit sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rgb {
    /// Red channel.
    pub r: u8,
    /// Green channel.
    pub g: u8,
    /// Blue channel.
    pub b: u8,
}

impl Rgb {
    /// Builds a colour from its three channels.
    pub const fn new(r: u8, g: u8, b: u8) -> Self {
        Rgb { r, g, b }
    }

    /// Converts hue (degrees, any value), saturation and value (`0..=1`).
    pub(crate) fn from_hsv(h: f32, s: f32, v: f32) -> Self {
        let h = h.rem_euclid(360.0) / 60.0;
        let s = s.clamp(0.0, 1.0);
        let v = v.clamp(0.0, 1.0);
        let c = v * s;
        let x = c * (1.0 - ((h % 2.0) - 1.0).abs());
        let (r, g, b) = match h as u32 {
            0 => (c, x, 0.0),
            1 => (x, c, 0.0),
            2 => (0.0, c, x),
            3 => (0.0, x, c),
            4 => (x, 0.0, c),
            _ => (c, 0.0, x),
        };
        let m = v - c;
        let q = |f: f32| ((f + m) * 255.0).round().clamp(0.0, 255.0) as u8;
        Rgb::new(q(r), q(g), q(b))
    }
}

impl fmt::Display for Rgb {
    /// Formats as `#rrggbb`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{:02x}{:02x}{:02x}", self.r, self.g, self.b)
    }
}

/// A background colour and one distinct colour per ring (innermost first).
pub(crate) struct Palette {
    pub background: Rgb,
    pub rings: Vec<Rgb>,
}

/// Chooses a harmonious palette of `rings` mutually distinct colours, all
/// different from the background.
pub(crate) fn palette(rng: &mut Rng, rings: usize) -> Palette {
    let base = rng.f32() * 360.0;
    let dark = rng.u8(0..10) < 7;
    let background = if dark {
        Rgb::from_hsv(base + 180.0, 0.35 + 0.3 * rng.f32(), 0.06 + 0.06 * rng.f32())
    } else {
        Rgb::from_hsv(base + 30.0, 0.06 + 0.06 * rng.f32(), 0.95 + 0.04 * rng.f32())
    };
    let scheme = rng.u8(0..3);
    let sign = if rng.bool() { 1.0 } else { -1.0 };
    let step = match scheme {
        0 => sign * (14.0 + 16.0 * rng.f32()),
        1 => 137.508,
        _ => 150.0 + 60.0 * rng.f32(),
    };
    let sat = 0.55 + 0.35 * rng.f32();
    let (v_hi, v_lo) = if dark { (0.98, 0.72) } else { (0.92, 0.62) };

    let mut out: Vec<Rgb> = Vec::with_capacity(rings);
    for i in 0..rings {
        let hue = match scheme {
            // Two-tone: alternate between two hue families that drift slowly.
            2 => base + (i % 2) as f32 * step + i as f32 * 9.0 * sign,
            _ => base + i as f32 * step,
        };
        let s = (sat + 0.12 * (rng.f32() - 0.5)).clamp(0.3, 1.0);
        let v = if i % 2 == 0 { v_hi } else { v_lo } - 0.08 * rng.f32();
        let mut c = Rgb::from_hsv(hue, s, v);
        // Keep colours distinct: step the hue (and, every full turn, the
        // value) until unused. s >= 0.3 and v >= 0.5 make every step a new
        // colour, so this ends long before the value runs out.
        let mut step = 0u32;
        while c == background || out.contains(&c) {
            step += 1;
            let turns = (step / 52) as f32;
            c = Rgb::from_hsv(hue + 7.0 * step as f32, s, v - 0.03 * turns);
        }
        out.push(c);
    }
    Palette { background, rings: out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hsv_primaries() {
        assert_eq!(Rgb::from_hsv(0.0, 1.0, 1.0), Rgb::new(255, 0, 0));
        assert_eq!(Rgb::from_hsv(120.0, 1.0, 1.0), Rgb::new(0, 255, 0));
        assert_eq!(Rgb::from_hsv(240.0, 1.0, 1.0), Rgb::new(0, 0, 255));
        assert_eq!(Rgb::from_hsv(-120.0, 1.0, 1.0), Rgb::new(0, 0, 255));
        assert_eq!(Rgb::new(1, 171, 255).to_string(), "#01abff");
    }

    #[test]
    fn palette_colours_are_distinct() {
        for seed in 0..200 {
            let p = palette(&mut Rng::with_seed(seed), 19);
            for (i, a) in p.rings.iter().enumerate() {
                assert_ne!(*a, p.background);
                assert!(!p.rings[..i].contains(a));
            }
        }
    }
}
