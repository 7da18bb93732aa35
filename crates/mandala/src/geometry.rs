//! Ring geometry: radii, symmetric random profiles and their expansion into
//! full-circle outlines (in abstract units, polar coordinates).

use std::f32::consts::PI;

use fastrand::Rng;

use crate::spec::Style;

/// Radius of the innermost ring, in abstract units.
pub(crate) const FIRST_RADIUS: f32 = 3.0;

/// One ring: its outer radius and the random radial profile over half a
/// symmetry sector (mirrored to fill the sector).
#[derive(Debug, Clone)]
pub(crate) struct Ring {
    /// Largest radius any point of the ring reaches.
    pub outer: f32,
    /// Radii at `k + 1` evenly spaced angles from a sector edge (index 0)
    /// to the sector's mirror axis (index `k`).
    pub profile: Vec<f32>,
    /// Rotate this ring by half a sector (keeps n-fold symmetry).
    pub half_turn: bool,
}

/// A fully resolved mandala shape, innermost ring first.
#[derive(Debug, Clone)]
pub(crate) struct Design {
    pub symmetry: u32,
    pub style: Style,
    pub rings: Vec<Ring>,
}

impl Design {
    /// The largest radius of the figure, in abstract units.
    pub fn max_radius(&self) -> f32 {
        self.rings.last().map_or(FIRST_RADIUS, |r| r.outer)
    }
}

/// SplitMix64 finaliser: derives independent sub-seeds from one seed.
pub(crate) fn mix(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Builds the rings. Each ring has its own RNG stream, so ring `i` is the
/// same whatever the total ring count.
pub(crate) fn design(seed: u64, symmetry: u32, rings: u32, style: Style) -> Design {
    let mut radius_rng = Rng::with_seed(mix(seed, 1));
    let mut out = Vec::with_capacity(rings as usize);
    let mut outer = FIRST_RADIUS;
    let mut inner = 0.0_f32;
    for i in 0..rings {
        if i > 0 {
            inner = outer;
            outer += radius_rng.u32(1..=5) as f32;
        }
        let mut rng = Rng::with_seed(mix(seed, 100 + u64::from(i)));
        out.push(ring(&mut rng, inner, outer, style));
    }
    Design { symmetry, style, rings: out }
}

fn ring(rng: &mut Rng, inner: f32, outer: f32, style: Style) -> Ring {
    let k = rng.usize(2..=4);
    // Profile points may dip below the previous ring's radius: those parts
    // are hidden by the inner rings, which gives the interlaced look.
    let lo = if inner > 0.0 { 0.7 * inner } else { 0.3 * outer };
    let mut profile: Vec<f32> = (0..=k).map(|_| lo + (outer - lo) * (0.2 + 0.8 * rng.f32())).collect();
    if style == Style::Bezier {
        // Pinch the sector edges so each sector reads as a petal.
        profile[0] = lo + (outer - lo) * 0.25 * rng.f32();
    }
    let peak = rng.usize(if style == Style::Bezier { 1 } else { 0 }..=k);
    profile[peak] = outer;
    Ring { outer, profile, half_turn: rng.bool() }
}

/// Expands a ring into `(angle, radius)` points around the whole circle:
/// `2k` points per sector, `symmetry` sectors. The first point lies on a
/// sector edge; the figure's first mirror axis points straight up.
pub(crate) fn outline(ring: &Ring, symmetry: u32) -> Vec<(f32, f32)> {
    let k = ring.profile.len() - 1;
    let n = symmetry as usize;
    let sector = 2.0 * PI / symmetry as f32;
    let step = sector / (2 * k) as f32;
    let start = -PI / 2.0 + if ring.half_turn { sector / 2.0 } else { 0.0 };
    let mut pts = Vec::with_capacity(n * 2 * k);
    for s in 0..n {
        for m in 0..2 * k {
            let j = if m <= k { m } else { 2 * k - m };
            let a = start + s as f32 * sector + m as f32 * step;
            pts.push((a, ring.profile[j]));
        }
    }
    pts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radii_grow_by_one_to_five() {
        for seed in 0..50 {
            let d = design(seed, 7, 19, Style::Fill);
            assert_eq!(d.rings[0].outer, FIRST_RADIUS);
            for w in d.rings.windows(2) {
                let g = w[1].outer - w[0].outer;
                assert!((1.0..=5.0).contains(&g), "growth {g}");
            }
            for r in &d.rings {
                let max = r.profile.iter().cloned().fold(0.0, f32::max);
                assert_eq!(max, r.outer);
            }
        }
    }

    #[test]
    fn outline_is_mirrored_in_each_sector() {
        let d = design(9, 5, 6, Style::Bezier);
        for r in &d.rings {
            let pts = outline(r, 5);
            let per = pts.len() / 5;
            assert_eq!(pts.len(), 5 * per);
            for m in 1..per {
                assert_eq!(pts[m].1, pts[per - m].1);
            }
        }
    }

    #[test]
    fn inner_rings_do_not_depend_on_ring_count() {
        let a = design(42, 8, 5, Style::Fill);
        let b = design(42, 8, 12, Style::Fill);
        for (x, y) in a.rings.iter().zip(&b.rings) {
            assert_eq!(x.profile, y.profile);
        }
    }
}
