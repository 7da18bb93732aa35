//! Turns a [`Design`] into pixels: ring outlines become pixel-space polygons
//! (bezier petals are flattened), painted outermost first by the
//! anti-aliased [`Rasterizer`] into a tiny-skia [`Pixmap`].

use tiny_skia::{IntSize, Pixmap};

use crate::colour::Rgb;
use crate::geometry::{outline, Design, Ring};
use crate::raster::{Disc, Rasterizer};
use crate::spec::{MandalaError, Style};

/// Fraction of the smaller image side used by the mandala's diameter.
const FILL_FRACTION: f32 = 0.94;
/// Safety distance (pixels) between the skipped disc and the edge of the
/// rings that cover it.
const SKIP_MARGIN: f32 = 1.0;
/// Maximum distance between a flattened bezier and the true curve, pixels.
const FLATNESS: f32 = 0.1;

/// Pixel-space placement of the figure.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frame {
    cx: f32,
    cy: f32,
    scale: f32,
}

impl Frame {
    /// Centres the design in a `width × height` image.
    pub fn new(design: &Design, width: u32, height: u32) -> Self {
        Frame {
            cx: width as f32 / 2.0,
            cy: height as f32 / 2.0,
            scale: FILL_FRACTION * 0.5 * width.min(height) as f32 / design.max_radius(),
        }
    }

    fn point(self, (angle, radius): (f32, f32)) -> (f32, f32) {
        let r = radius * self.scale;
        let (s, c) = angle.sin_cos();
        (self.cx + r * c, self.cy + r * s)
    }
}

/// Draws the rings from the outermost to the innermost on `background`.
/// `colours[i]` is ring `i`'s colour (innermost first).
pub(crate) fn draw(
    design: &Design,
    colours: &[Rgb],
    background: Rgb,
    width: u32,
    height: u32,
) -> Result<Pixmap, MandalaError> {
    draw_with(design, colours, background, width, height, true)
}

/// [`draw`], optionally without skipping the pixels that later rings
/// overpaint (an optimisation that must not change any pixel).
fn draw_with(
    design: &Design,
    colours: &[Rgb],
    background: Rgb,
    width: u32,
    height: u32,
    skip_holes: bool,
) -> Result<Pixmap, MandalaError> {
    let alloc_err = MandalaError::Allocation { width, height };
    let size = IntSize::from_wh(width, height).ok_or(MandalaError::Allocation { width, height })?;
    let bg = [background.r, background.g, background.b, 255];
    let data = bg.repeat(width as usize * height as usize);
    let mut pixmap = Pixmap::from_vec(data, size).ok_or(alloc_err)?;
    let frame = Frame::new(design, width, height);
    let polys: Vec<Vec<(f32, f32)>> = design
        .rings
        .iter()
        .map(|ring| {
            let mut poly = Vec::new();
            polygon(ring, design.symmetry, design.style, frame, &mut poly);
            poly
        })
        .collect();
    // covered[i]: radius of a disc that rings 0..i paint completely (they
    // are drawn after ring i, so ring i need not paint inside it).
    let mut covered = Vec::with_capacity(polys.len());
    let mut best = 0.0_f32;
    for poly in &polys {
        covered.push(best);
        best = best.max(inscribed(poly, (frame.cx, frame.cy)));
    }
    let mut raster = Rasterizer::new(width, height);
    for ((poly, colour), r) in polys.iter().zip(colours).zip(covered).rev() {
        let skip = (skip_holes && r > SKIP_MARGIN).then_some(Disc { cx: frame.cx, cy: frame.cy, r: r - SKIP_MARGIN });
        raster.fill(pixmap.data_mut(), poly, [colour.r, colour.g, colour.b, 255], skip);
    }
    Ok(pixmap)
}

/// Distance from `c` to the nearest edge of the closed polygon `pts`: for a
/// polygon star-shaped around `c`, the radius of the largest disc about `c`
/// it contains.
fn inscribed(pts: &[(f32, f32)], c: (f32, f32)) -> f32 {
    let mut best = f32::INFINITY;
    let mut prev = match pts.last() {
        Some(&p) => p,
        None => return 0.0,
    };
    for &p in pts {
        best = best.min(seg_dist(c, prev, p));
        prev = p;
    }
    best
}

/// Distance from `p` to the segment `a`–`b`.
fn seg_dist(p: (f32, f32), a: (f32, f32), b: (f32, f32)) -> f32 {
    let (abx, aby) = (b.0 - a.0, b.1 - a.1);
    let (apx, apy) = (p.0 - a.0, p.1 - a.1);
    let len2 = abx * abx + aby * aby;
    let t = if len2 > 0.0 { ((apx * abx + apy * aby) / len2).clamp(0.0, 1.0) } else { 0.0 };
    let (dx, dy) = (apx - t * abx, apy - t * aby);
    (dx * dx + dy * dy).sqrt()
}

/// The ring's closed outline as a pixel-space polygon, written into `out`.
pub(crate) fn polygon(ring: &Ring, symmetry: u32, style: Style, frame: Frame, out: &mut Vec<(f32, f32)>) {
    out.clear();
    let pts: Vec<(f32, f32)> = outline(ring, symmetry).into_iter().map(|p| frame.point(p)).collect();
    match style {
        Style::Fill => out.extend_from_slice(&pts),
        Style::Bezier => {
            // Per sector, a clamped quadratic B-spline: the sector-edge points
            // are on the curve (petal cusps), the others are control points.
            let per = 2 * (ring.profile.len() - 1);
            let n = pts.len();
            for s in (0..n).step_by(per) {
                let mut start = pts[s];
                out.push(start);
                for m in 1..per {
                    let c = pts[s + m];
                    let end = if m + 1 == per { pts[(s + per) % n] } else { mid(c, pts[s + m + 1]) };
                    flatten_quad(start, c, end, out);
                    start = end;
                }
                // The sector's last point is the next sector's first.
                out.pop();
            }
        }
    }
}

fn mid(a: (f32, f32), b: (f32, f32)) -> (f32, f32) {
    ((a.0 + b.0) * 0.5, (a.1 + b.1) * 0.5)
}

/// Appends points along the quadratic bezier `p0 → p2` (control `p1`),
/// excluding `p0`, including `p2`, within [`FLATNESS`] of the curve.
fn flatten_quad(p0: (f32, f32), p1: (f32, f32), p2: (f32, f32), out: &mut Vec<(f32, f32)>) {
    // Max deviation of an n-segment flattening is |p0 - 2p1 + p2| / (8 n²).
    let ddx = p0.0 - 2.0 * p1.0 + p2.0;
    let ddy = p0.1 - 2.0 * p1.1 + p2.1;
    let dd = (ddx * ddx + ddy * ddy).sqrt();
    let n = ((dd / (8.0 * FLATNESS)).sqrt().ceil() as usize).clamp(1, 64);
    for i in 1..=n {
        let t = i as f32 / n as f32;
        let u = 1.0 - t;
        let (a, b, c) = (u * u, 2.0 * u * t, t * t);
        out.push((a * p0.0 + b * p1.0 + c * p2.0, a * p0.1 + b * p1.1 + c * p2.1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::colour::{palette, Palette};
    use crate::geometry::design;
    use tiny_skia::{Color, FillRule, Paint, PathBuilder, Transform};

    /// The same polygons drawn with tiny-skia's anti-aliased path filler.
    fn draw_reference(design: &Design, colours: &[Rgb], bg: Rgb, w: u32, h: u32) -> Pixmap {
        let mut pixmap = Pixmap::new(w, h).expect("valid size");
        pixmap.fill(Color::from_rgba8(bg.r, bg.g, bg.b, 255));
        let frame = Frame::new(design, w, h);
        let mut poly = Vec::new();
        for (ring, c) in design.rings.iter().zip(colours).rev() {
            polygon(ring, design.symmetry, design.style, frame, &mut poly);
            let mut pb = PathBuilder::new();
            pb.move_to(poly[0].0, poly[0].1);
            for p in &poly[1..] {
                pb.line_to(p.0, p.1);
            }
            pb.close();
            let path = pb.finish().expect("non-empty path");
            let mut paint = Paint::default();
            paint.set_color_rgba8(c.r, c.g, c.b, 255);
            paint.anti_alias = true;
            pixmap.fill_path(&path, &paint, FillRule::Winding, Transform::identity(), None);
        }
        pixmap
    }

    /// A varied design, palette and canvas size for `seed`: both styles, 3–20-fold symmetry,
    /// 4–19 rings, landscape and portrait sizes with odd dimensions.
    fn test_case(seed: u64) -> (Design, Palette, u32, u32) {
        let style = if seed.is_multiple_of(2) { Style::Fill } else { Style::Bezier };
        let sym = 3 + (seed as u32 * 7) % 18;
        let rings = 4 + (seed as u32 * 5) % 16;
        let d = design(seed, sym, rings, style);
        let p = palette(&mut fastrand::Rng::with_seed(seed), rings as usize);
        let (w, h) = if seed.is_multiple_of(3) { (400, 300) } else { (257, 391) };
        (d, p, w, h)
    }

    /// Our rasteriser must agree with tiny-skia: no pixel differs by more
    /// than tiny-skia's own supersampling error, and few by more than 8.
    #[test]
    fn rasterizer_matches_tiny_skia() {
        for seed in 0..16u64 {
            let (d, p, w, h) = test_case(seed);
            let ours = draw(&d, &p.rings, p.background, w, h).expect("draw");
            let theirs = draw_reference(&d, &p.rings, p.background, w, h);
            let mut differ = 0usize;
            let mut far = 0usize;
            for (a, b) in ours.data().chunks_exact(4).zip(theirs.data().chunks_exact(4)) {
                let diff = a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(0);
                if diff > 8 {
                    differ += 1;
                }
                if diff > 48 {
                    far += 1;
                }
            }
            let n = (w * h) as usize;
            assert!(differ * 100 < n * 2, "seed {seed}: {differ} of {n} pixels differ");
            assert_eq!(far, 0, "seed {seed}: {far} of {n} pixels differ a lot");
        }
    }

    /// Skipping overpainted pixels is purely an optimisation.
    #[test]
    fn skipping_covered_pixels_changes_nothing() {
        let mut skipped_any = false;
        for seed in 0..24u64 {
            let (d, p, w, h) = test_case(seed);
            let fast = draw_with(&d, &p.rings, p.background, w, h, true).expect("draw");
            let slow = draw_with(&d, &p.rings, p.background, w, h, false).expect("draw");
            assert!(fast.data() == slow.data(), "seed {seed}: skipping changed pixels");
            let frame = Frame::new(&d, w, h);
            let mut poly = Vec::new();
            polygon(&d.rings[0], d.symmetry, d.style, frame, &mut poly);
            skipped_any |= inscribed(&poly, (frame.cx, frame.cy)) > 2.0 * SKIP_MARGIN;
        }
        assert!(skipped_any, "test never exercised skipping");
    }

    #[test]
    fn seg_dist_cases() {
        let d = seg_dist((0.0, 0.0), (-1.0, 2.0), (1.0, 2.0));
        assert!((d - 2.0).abs() < 1e-6);
        let d = seg_dist((0.0, 0.0), (3.0, 4.0), (6.0, 8.0));
        assert!((d - 5.0).abs() < 1e-6);
    }

    #[test]
    fn flattening_hits_endpoints() {
        let mut out = Vec::new();
        flatten_quad((0.0, 0.0), (50.0, 100.0), (100.0, 0.0), &mut out);
        assert!(out.len() > 4);
        assert_eq!(out.last().copied(), Some((100.0, 0.0)));
        // Apex of this quad is at (50, 50).
        let top = out.iter().map(|p| p.1).fold(0.0, f32::max);
        assert!((top - 50.0).abs() < 0.2, "{top}");
    }
}
