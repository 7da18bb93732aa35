//! Helpers shared by the integration tests: PNG decoding and a rotational
//! symmetry checker.

#![allow(dead_code)]

/// A decoded 8-bit image, reduced to RGB (alpha checked to be opaque).
pub struct Image {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

impl Image {
    pub fn px(&self, x: u32, y: u32) -> [u8; 3] {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    pub fn set(&mut self, x: u32, y: u32, c: [u8; 3]) {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        self.rgb[i..i + 3].copy_from_slice(&c);
    }
}

/// Decodes PNG bytes, insisting on 8-bit RGB or fully opaque RGBA.
pub fn decode(bytes: &[u8]) -> Image {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("valid PNG header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("valid PNG data");
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    buf.truncate(info.buffer_size());
    let rgb = match info.color_type {
        png::ColorType::Rgb => buf,
        png::ColorType::Rgba => {
            assert!(buf.chunks_exact(4).all(|p| p[3] == 255), "not opaque");
            buf.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect()
        }
        other => panic!("unexpected colour type {other:?}"),
    };
    assert_eq!(rgb.len(), info.width as usize * info.height as usize * 3);
    Image { width: info.width, height: info.height, rgb }
}

fn close(a: [u8; 3], b: [u8; 3], tol: u8) -> bool {
    a.iter().zip(&b).all(|(x, y)| x.abs_diff(*y) <= tol)
}

/// True when the 3×3 block around `(x, y)` has one colour: the pixel is not
/// on an anti-aliased edge.
fn flat(img: &Image, x: u32, y: u32) -> bool {
    if x == 0 || y == 0 || x + 1 >= img.width || y + 1 >= img.height {
        return false;
    }
    let c = img.px(x, y);
    (y - 1..=y + 1).all(|yy| (x - 1..=x + 1).all(|xx| img.px(xx, yy) == c))
}

/// Rotates the image by `degrees` about its centre (nearest neighbour) and
/// returns the fraction of sampled pixels within `radius` of the centre
/// whose colour is not found (within a small tolerance) in the 3×3
/// neighbourhood of their rotated position.
///
/// Only pixels away from edges (uniform 3×3 block) are sampled, and the
/// neighbourhood absorbs the sub-pixel sampling error of the rotation, so
/// on a truly symmetric image the result is (almost) zero, while a real
/// difference between the image and its rotation shows up in full.
pub fn rotation_mismatch(img: &Image, degrees: f64, radius: f64, step: u32) -> f64 {
    let (cx, cy) = (img.width as f64 / 2.0, img.height as f64 / 2.0);
    let (s, c) = degrees.to_radians().sin_cos();
    let (mut total, mut bad) = (0usize, 0usize);
    for y in (0..img.height).step_by(step as usize) {
        for x in (0..img.width).step_by(step as usize) {
            let (dx, dy) = (x as f64 + 0.5 - cx, y as f64 + 0.5 - cy);
            if dx * dx + dy * dy > radius * radius {
                continue;
            }
            let (rx, ry) = (cx + c * dx - s * dy, cy + s * dx + c * dy);
            let (qx, qy) = (rx.floor() as i64, ry.floor() as i64);
            if !flat(img, x, y) {
                continue;
            }
            total += 1;
            let want = img.px(x, y);
            let mut found = false;
            'search: for oy in -1..=1 {
                for ox in -1..=1 {
                    let (nx, ny) = (qx + ox, qy + oy);
                    if nx < 0 || ny < 0 || nx >= img.width as i64 || ny >= img.height as i64 {
                        continue;
                    }
                    if close(want, img.px(nx as u32, ny as u32), 6) {
                        found = true;
                        break 'search;
                    }
                }
            }
            if !found {
                bad += 1;
            }
        }
    }
    assert!(total > 100, "too few samples ({total})");
    bad as f64 / total as f64
}
