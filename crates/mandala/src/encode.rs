//! PNG encoding tuned for speed: fast deflate, one cheap fixed filter and no
//! adaptive filtering.
//!
//! Measured at 1280×960 over 200 seeds on the development machine (encode
//! median / mean PNG size):
//!
//! * colour type: writing tiny-skia's opaque RGBA buffer as is takes
//!   1.24–1.33 ms / 194 KiB; converting to 8-bit RGB first takes
//!   1.76–2.08 ms / 181 KiB — the conversion pass costs more than the
//!   extra 33 % of bytes to filter and deflate, so RGBA it is;
//! * filter (RGBA): Sub 1.14–1.25 ms / 194 KiB, Up 1.26–1.38 ms / 196 KiB,
//!   Avg 1.49 ms / 223 KiB, Paeth 1.94 ms / 191 KiB; NoFilter leaves almost
//!   nothing for the fast deflater (which mostly encodes runs of zeros) to
//!   squeeze: 14 ms / 4.7 MiB, stored.

use png::{AdaptiveFilterType, BitDepth, ColorType, Compression, Encoder, FilterType};
use tiny_skia::Pixmap;

use crate::spec::MandalaError;

/// Row filter used for every scanline (see the module docs).
pub(crate) const FILTER: FilterType = FilterType::Sub;

/// Encodes a pixmap as an 8-bit RGBA PNG.
///
/// tiny-skia stores premultiplied colour, which equals straight colour when
/// every pixel is opaque (always the case for a mandala): then the buffer is
/// written without any conversion. Otherwise it is demultiplied first.
pub(crate) fn encode(pixmap: &Pixmap) -> Result<Vec<u8>, MandalaError> {
    let data = pixmap.data();
    if is_opaque(data) {
        write(pixmap.width(), pixmap.height(), data)
    } else {
        let mut straight = Vec::with_capacity(data.len());
        for p in pixmap.pixels() {
            let c = p.demultiply();
            straight.extend_from_slice(&[c.red(), c.green(), c.blue(), c.alpha()]);
        }
        write(pixmap.width(), pixmap.height(), &straight)
    }
}

/// True when every alpha byte of the RGBA8 buffer is 255.
fn is_opaque(rgba: &[u8]) -> bool {
    // AND all 8-byte words together: a vectorisable reduction. The alpha
    // bytes of the result are 255 exactly when every alpha byte is.
    let mut chunks = rgba.chunks_exact(8);
    let mut and = u64::MAX;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        and &= u64::from_le_bytes(w);
    }
    const ALPHAS: u64 = 0xff00_0000_ff00_0000;
    and & ALPHAS == ALPHAS && chunks.remainder().chunks_exact(4).all(|p| p[3] == 255)
}

fn write(width: u32, height: u32, rgba: &[u8]) -> Result<Vec<u8>, MandalaError> {
    let mut out = Vec::with_capacity(rgba.len() / 16 + 1024);
    {
        let mut enc = Encoder::new(&mut out, width, height);
        enc.set_color(ColorType::Rgba);
        enc.set_depth(BitDepth::Eight);
        enc.set_compression(Compression::Fast);
        enc.set_filter(FILTER);
        enc.set_adaptive_filter(AdaptiveFilterType::NonAdaptive);
        let mut writer = enc.write_header()?;
        writer.write_image_data(rgba)?;
        writer.finish()?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opacity_check_sees_every_alpha_byte() {
        for len in [0usize, 1, 2, 3, 8, 9, 17] {
            let rgba: Vec<u8> = (0..len * 4).map(|i| if i % 4 == 3 { 255 } else { (i * 7 % 251) as u8 }).collect();
            assert!(is_opaque(&rgba), "{len}");
            for px in 0..len {
                let mut t = rgba.clone();
                t[px * 4 + 3] = 254;
                assert!(!is_opaque(&t), "{len} {px}");
            }
        }
    }

    #[test]
    fn translucent_pixmaps_are_demultiplied() {
        let mut pixmap = Pixmap::new(2, 1).expect("size");
        pixmap.fill(tiny_skia::Color::from_rgba8(200, 100, 0, 128));
        let png = encode(&pixmap).expect("encode");
        let mut reader = png::Decoder::new(std::io::Cursor::new(png)).read_info().expect("header");
        let mut buf = vec![0; reader.output_buffer_size()];
        reader.next_frame(&mut buf).expect("data");
        assert_eq!(buf[3], 128);
        assert!(buf[0].abs_diff(200) <= 1 && buf[1].abs_diff(100) <= 1, "{buf:?}");
    }
}
