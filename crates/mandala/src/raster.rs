//! A small anti-aliased polygon rasteriser specialised for this crate:
//! opaque solid colours on an opaque RGBA8 buffer, non-zero winding for
//! simple polygons.
//!
//! Coverage is the exact pixel area inside the polygon (signed-area
//! accumulation, as in font-rs). Rows are processed in bands: each edge adds
//! area deltas into a band-sized accumulation buffer and marks the touched
//! cells in a bitset; the sweep then walks only the marked cells, blending
//! them, and fills the runs between them with a constant coverage (a plain
//! colour copy for the interior). Nothing is sorted and the scratch memory is
//! a few hundred KiB whatever the image size.

/// Rows per band.
const BAND: usize = 32;
/// Coverage below this is treated as none, above `1 - EPS` as full.
const EPS: f32 = 0.5 / 255.0;

/// Reusable scratch state for filling polygons into one image.
pub(crate) struct Rasterizer {
    width: usize,
    height: usize,
    /// Accumulation cells per band row (`width + 2` to absorb the right edge).
    stride: usize,
    /// 64-bit words per band row of the touched-cell bitset.
    words: usize,
    acc: Vec<f32>,
    bits: Vec<u64>,
    /// One image row of the current colour, the source for interior runs.
    solid: Vec<u8>,
}

impl Rasterizer {
    /// Scratch for a `width × height` image.
    pub fn new(width: u32, height: u32) -> Self {
        let width = width as usize;
        let stride = width + 2;
        let words = stride.div_ceil(64);
        Rasterizer {
            width,
            height: height as usize,
            stride,
            words,
            acc: vec![0.0; stride * BAND],
            bits: vec![0; words * BAND],
            solid: Vec::with_capacity(width * 4),
        }
    }

    /// Fills the closed polygon `pts` (pixel coordinates, implicitly closed)
    /// with the opaque colour `rgba` into `data`, a premultiplied RGBA8
    /// buffer of this rasteriser's size.
    ///
    /// Pixels lying entirely inside `skip` may be left untouched: the caller
    /// promises to paint them over opaquely afterwards.
    pub fn fill(&mut self, data: &mut [u8], pts: &[(f32, f32)], rgba: [u8; 4], skip: Option<Disc>) {
        if pts.len() < 3 || data.len() != self.width * self.height * 4 {
            return;
        }
        let h = self.height as f32;
        let (mut ymin, mut ymax) = (h, 0.0_f32);
        for &(_, y) in pts {
            ymin = ymin.min(y);
            ymax = ymax.max(y);
        }
        self.solid.clear();
        for _ in 0..self.width {
            self.solid.extend_from_slice(&rgba);
        }
        let ymin = ymin.clamp(0.0, h) as usize;
        let ymax = ceil_usize(ymax.clamp(0.0, h)).min(self.height);
        let mut band = ymin / BAND * BAND;
        while band < ymax {
            let band_end = (band + BAND).min(self.height);
            let (lo, hi) = (band as f32, band_end as f32);
            let mut prev = pts[pts.len() - 1];
            for &p in pts {
                let (y0, y1) = if prev.1 < p.1 { (prev.1, p.1) } else { (p.1, prev.1) };
                if y1 > lo && y0 < hi {
                    self.line(prev, p, band);
                }
                prev = p;
            }
            self.sweep(data, band, band_end, rgba, skip);
            band = band_end;
        }
    }

    /// Accumulates the edge `a → b`, restricted to the current band.
    fn line(&mut self, a: (f32, f32), b: (f32, f32), band: usize) {
        if a.1 == b.1 {
            return;
        }
        let (dir, p0, p1) = if a.1 < b.1 { (1.0, a, b) } else { (-1.0, b, a) };
        let dxdy = (p1.0 - p0.0) / (p1.1 - p0.1);
        let band_lo = band as f32;
        let band_end = (band + BAND).min(self.height);
        let ystart = p0.1.max(band_lo);
        // The edge's true x at the top of the current row. Cells only ever
        // see it clamped to the image: everything left of the image counts
        // as being at x = 0, everything right of it is ignored.
        let mut x = p0.0 + (ystart - p0.1) * dxdy;
        let row0 = ystart as usize;
        let row1 = ceil_usize(p1.1).min(band_end);
        let max_x = self.width as f32;
        for row in row0..row1 {
            let dy = ((row + 1) as f32).min(p1.1) - (row as f32).max(p0.1);
            let x_end = x + dxdy * dy;
            let (xa, xb) = (x.clamp(0.0, max_x), x_end.clamp(0.0, max_x));
            let d = dy * dir;
            let base = (row - band) * self.stride;
            let (x0, x1) = if xa < xb { (xa, xb) } else { (xb, xa) };
            // x0, x1 >= 0, so truncation is floor (and avoids libm calls).
            let x0i = x0 as usize;
            let x0f = x0i as f32;
            let x1i = ceil_usize(x1);
            let x1c = x1i as f32;
            if x1i <= x0i + 1 {
                // The edge stays within one pixel column in this row.
                let xmf = 0.5 * (xa + xb) - x0f;
                self.add(base, row - band, x0i, d - d * xmf);
                self.add(base, row - band, x0i + 1, d * xmf);
            } else {
                let s = (x1 - x0).recip();
                let fx0 = x0 - x0f;
                let a0 = 0.5 * s * (1.0 - fx0) * (1.0 - fx0);
                let fx1 = x1 - x1c + 1.0;
                let am = 0.5 * s * fx1 * fx1;
                self.add(base, row - band, x0i, d * a0);
                if x1i == x0i + 2 {
                    self.add(base, row - band, x0i + 1, d * (1.0 - a0 - am));
                } else {
                    let a1 = s * (1.5 - fx0);
                    self.add(base, row - band, x0i + 1, d * (a1 - a0));
                    for xi in x0i + 2..x1i - 1 {
                        self.add(base, row - band, xi, d * s);
                    }
                    let a2 = a1 + (x1i - x0i - 3) as f32 * s;
                    self.add(base, row - band, x1i - 1, d * (1.0 - a2 - am));
                }
                self.add(base, row - band, x1i, d * am);
            }
            x = x_end;
        }
    }

    #[inline]
    fn add(&mut self, base: usize, band_row: usize, x: usize, v: f32) {
        self.acc[base + x] += v;
        self.bits[band_row * self.words + x / 64] |= 1 << (x % 64);
    }

    /// Composites the accumulated band rows `start..end` and clears them.
    fn sweep(&mut self, data: &mut [u8], start: usize, end: usize, rgba: [u8; 4], skip: Option<Disc>) {
        let width = self.width;
        let row_bytes = width * 4;
        for row in start..end {
            let br = row - start;
            let acc = &mut self.acc[br * self.stride..(br + 1) * self.stride];
            let bits = &mut self.bits[br * self.words..(br + 1) * self.words];
            let mut out = Row {
                px: &mut data[row * row_bytes..(row + 1) * row_bytes],
                solid: &self.solid,
                rgba,
                skip: skip.map_or((0, 0), |d| d.row_interior(row, width)),
            };
            // Sum of the deltas left of `x`: the coverage of pixels up to the
            // next touched cell.
            let mut cover = 0.0_f32;
            let mut x = 0usize;
            for (wi, word) in bits.iter_mut().enumerate() {
                let mut m = *word;
                *word = 0;
                while m != 0 {
                    let px = wi * 64 + m.trailing_zeros() as usize;
                    m &= m - 1;
                    let stop = px.min(width);
                    out.paint(x, stop, cover);
                    x = stop;
                    cover += acc[px];
                    acc[px] = 0.0;
                    if px < width {
                        out.paint(px, px + 1, cover);
                        x = px + 1;
                    }
                }
            }
            out.paint(x, width, cover);
        }
    }
}

/// A disc in pixel coordinates.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Disc {
    /// Centre x.
    pub cx: f32,
    /// Centre y.
    pub cy: f32,
    /// Radius.
    pub r: f32,
}

impl Disc {
    /// The range of pixels of `row` whose whole square lies inside the disc
    /// (empty when `start >= end`).
    fn row_interior(self, row: usize, width: usize) -> (usize, usize) {
        // A pixel is inside when its centre is within r - half a diagonal.
        let r = self.r - std::f32::consts::FRAC_1_SQRT_2;
        let dy = row as f32 + 0.5 - self.cy;
        if r <= 0.0 || dy.abs() >= r {
            return (0, 0);
        }
        let half = (r * r - dy * dy).sqrt();
        let lo = self.cx - half - 0.5;
        let hi = self.cx + half - 0.5;
        if hi < 0.0 {
            return (0, 0);
        }
        let start = ceil_usize(lo.max(0.0));
        let end = (hi as usize + 1).min(width);
        (start, end)
    }
}

/// One output row being composited.
struct Row<'a> {
    px: &'a mut [u8],
    solid: &'a [u8],
    rgba: [u8; 4],
    /// Pixels `skip.0..skip.1` are left alone.
    skip: (usize, usize),
}

impl Row<'_> {
    /// Paints pixels `a..b` at coverage `cover`, except the skipped range.
    #[inline]
    fn paint(&mut self, a: usize, b: usize, cover: f32) {
        let (s0, s1) = self.skip;
        if b <= s0 || a >= s1 {
            self.span(a, b, cover);
        } else {
            if a < s0 {
                self.span(a, s0, cover);
            }
            if b > s1 {
                self.span(s1, b, cover);
            }
        }
    }

    #[inline]
    fn span(&mut self, a: usize, b: usize, cover: f32) {
        if a < b {
            span(&mut self.px[a * 4..b * 4], &self.solid[a * 4..b * 4], cover, self.rgba);
        }
    }
}

/// `ceil(v)` for `v >= 0`, without a libm call.
#[inline]
fn ceil_usize(v: f32) -> usize {
    let i = v as usize;
    if (i as f32) < v {
        i + 1
    } else {
        i
    }
}

/// Paints every pixel of `px` (RGBA8, opaque) with `rgba` at coverage
/// `|cover|` (clamped to 1). `solid` is `px.len()` bytes of `rgba` repeated.
#[inline]
fn span(px: &mut [u8], solid: &[u8], cover: f32, rgba: [u8; 4]) {
    if px.is_empty() {
        return;
    }
    let c = cover.abs();
    if c >= 1.0 - EPS {
        px.copy_from_slice(solid);
    } else if c > EPS {
        let a = (c * 255.0 + 0.5) as u32;
        let ia = 255 - a;
        for p in px.chunks_exact_mut(4) {
            for (d, &s) in p[..3].iter_mut().zip(&rgba[..3]) {
                *d = div255(u32::from(s) * a + u32::from(*d) * ia);
            }
        }
    }
}

/// `v / 255`, rounded, for `v <= 255 * 255`.
#[inline]
fn div255(v: u32) -> u8 {
    let v = v + 128;
    ((v + (v >> 8)) >> 8) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coverage_of(w: u32, h: u32, pts: &[(f32, f32)]) -> Vec<f32> {
        let mut data = vec![0u8; (w * h * 4) as usize];
        for p in data.chunks_exact_mut(4) {
            p[3] = 255;
        }
        Rasterizer::new(w, h).fill(&mut data, pts, [255, 255, 255, 255], None);
        data.chunks_exact(4).map(|p| f32::from(p[0]) / 255.0).collect()
    }

    #[test]
    fn div255_is_rounded_division() {
        for v in 0..=255 * 255 {
            assert_eq!(u32::from(div255(v)), (v + 127) / 255, "{v}");
        }
    }

    #[test]
    fn axis_aligned_square_is_exact() {
        // Square covering x 2.5..6.5, y 1.25..4.0 in a 10x80 image (crosses
        // band boundaries? no, but the next test does).
        let pts = [(2.5, 1.25), (6.5, 1.25), (6.5, 4.0), (2.5, 4.0)];
        let c = coverage_of(10, 8, &pts);
        let at = |x: usize, y: usize| c[y * 10 + x];
        assert!((at(2, 1) - 0.375).abs() < 0.01);
        assert!((at(3, 1) - 0.75).abs() < 0.01);
        assert!((at(4, 2) - 1.0).abs() < 0.01);
        assert!((at(6, 3) - 0.5).abs() < 0.01);
        assert_eq!(at(7, 3), 0.0);
        assert_eq!(at(4, 4), 0.0);
        assert_eq!(at(4, 0), 0.0);
    }

    #[test]
    fn total_area_matches_polygon_area() {
        // A triangle spanning several bands, both windings.
        let tri: [(f32, f32); 3] = [(3.3, 2.7), (91.1, 40.2), (20.6, 130.9)];
        let area =
            0.5 * ((tri[1].0 - tri[0].0) * (tri[2].1 - tri[0].1) - (tri[2].0 - tri[0].0) * (tri[1].1 - tri[0].1)).abs();
        for pts in [tri.to_vec(), tri.iter().rev().copied().collect()] {
            let c = coverage_of(100, 140, &pts);
            let sum: f32 = c.iter().sum();
            assert!((sum - area).abs() / area < 0.002, "{sum} vs {area}");
        }
    }

    #[test]
    fn polygon_beyond_the_image_is_clipped_exactly() {
        // The image lies wholly inside this triangle, whose vertices are all
        // outside it: clamping the vertices would lose half the image.
        let pts = [(-100.0, -100.0), (300.0, -50.0), (-50.0, 300.0)];
        let c = coverage_of(32, 40, &pts);
        assert!(c.iter().all(|&v| v == 1.0));
        // Half-plane x + y < 20 through the image, vertices far outside.
        let pts = [(-500.0, -500.0), (520.0, -500.0), (-500.0, 520.0)];
        let c = coverage_of(32, 32, &pts);
        for y in 0..32 {
            for x in 0..32 {
                // Exact area of the pixel below the line x + y = 20.
                let s = (x + y) as f32;
                let want = match s {
                    s if s + 2.0 <= 20.0 => 1.0,
                    s if s >= 20.0 => 0.0,
                    s if s + 1.0 <= 20.0 => 1.0 - 0.5 * (s + 2.0 - 20.0).powi(2),
                    s => 0.5 * (20.0 - s).powi(2),
                };
                assert!((c[y * 32 + x] - want).abs() < 0.01, "({x},{y}) {} vs {want}", c[y * 32 + x]);
            }
        }
    }

    #[test]
    fn polygon_touching_image_border_is_clipped() {
        let pts = [(-5.0, -5.0), (40.0, -5.0), (40.0, 40.0), (-5.0, 40.0)];
        let c = coverage_of(32, 32, &pts);
        let bad: Vec<usize> = (0..c.len()).filter(|&i| c[i] != 1.0).collect();
        assert!(bad.is_empty(), "{:?} {:?}", &bad[..bad.len().min(10)], c[bad[0]]);
    }
}

#[cfg(test)]
mod disc_tests {
    use super::*;

    #[test]
    fn row_interior_pixels_are_inside() {
        let d = Disc { cx: 20.3, cy: 17.8, r: 9.6 };
        for row in 0..40 {
            let (a, b) = d.row_interior(row, 40);
            for x in a..b {
                for (ox, oy) in [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)] {
                    let (px, py) = (x as f32 + ox - d.cx, row as f32 + oy - d.cy);
                    assert!((px * px + py * py).sqrt() <= d.r + 1e-4, "{x},{row}");
                }
            }
            if row == 17 {
                assert!(b - a >= 14, "{a}..{b}");
            }
        }
    }
}
