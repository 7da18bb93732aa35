//! End-to-end tests of the public API: determinism, PNG validity, content,
//! symmetry and argument validation.

mod common;

use std::collections::BTreeSet;

use common::{decode, rotation_mismatch, Image};
use mandala::{encode_png, render, render_png, MandalaError, MandalaSpec, Style};

fn small(seed: u64) -> MandalaSpec {
    MandalaSpec { width: 480, height: 360, ..MandalaSpec::new(seed) }
}

#[test]
fn same_spec_gives_identical_bytes() {
    for seed in [0, 1, 42, 123_456_789, u64::MAX] {
        let spec = small(seed);
        let a = render_png(&spec).expect("render");
        let b = render_png(&spec).expect("render");
        assert_eq!(a.bytes, b.bytes, "seed {seed}");
        assert_eq!(a.params, b.params);
    }
    let spec = MandalaSpec { symmetry: Some(9), rings: Some(13), style: Some(Style::Fill), ..small(77) };
    assert_eq!(render_png(&spec).expect("render").bytes, render_png(&spec).expect("render").bytes);
}

#[test]
fn different_seeds_give_different_bytes() {
    let mut seen = BTreeSet::new();
    for seed in 0..12 {
        let png = render_png(&small(seed)).expect("render");
        assert!(seen.insert(png.bytes), "seed {seed} repeats an earlier image");
    }
    // Even with every other parameter pinned.
    let pinned = |seed| MandalaSpec { symmetry: Some(8), rings: Some(10), style: Some(Style::Bezier), ..small(seed) };
    let a = render_png(&pinned(5)).expect("render");
    let b = render_png(&pinned(6)).expect("render");
    assert_ne!(a.bytes, b.bytes);
}

#[test]
fn resolved_params_reproduce_the_image() {
    for seed in [3, 99, 2024] {
        let png = render_png(&small(seed)).expect("render");
        let again = render_png(&png.params.to_spec()).expect("render");
        assert_eq!(png.bytes, again.bytes, "seed {seed}");
    }
}

#[test]
fn overrides_are_honoured_and_reported() {
    let spec = MandalaSpec { symmetry: Some(7), rings: Some(12), style: Some(Style::Bezier), ..small(31) };
    let p = render_png(&spec).expect("render").params;
    assert_eq!((p.symmetry, p.rings, p.style), (7, 12, Style::Bezier));
    assert_eq!(p.ring_colours.len(), 12);
    assert_eq!(p.to_string(), "seed 31, symmetry 7, 12 rings, bezier");
}

#[test]
fn unset_params_stay_in_range() {
    let mut styles = BTreeSet::new();
    for seed in 0..200 {
        let p = render(&MandalaSpec { width: 16, height: 16, ..MandalaSpec::new(seed) }).expect("render").params;
        assert!((3..=20).contains(&p.symmetry), "{p}");
        assert!((4..=19).contains(&p.rings), "{p}");
        styles.insert(p.style.to_string());
    }
    assert_eq!(styles.len(), 2, "both styles occur");
}

#[test]
fn output_is_a_png_of_the_requested_size() {
    for (w, h) in [(1280, 960), (16, 16), (333, 77), (77, 333), (4096, 16), (16, 4096)] {
        let spec = MandalaSpec { width: w, height: h, ..MandalaSpec::new(u64::from(w * 31 + h)) };
        let png = render_png(&spec).expect("render");
        assert!(png.bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
        let img = decode(&png.bytes);
        assert_eq!((img.width, img.height), (w, h));
        assert_eq!((png.params.width, png.params.height), (w, h));
    }
    // Default size.
    let r = render(&MandalaSpec::new(5)).expect("render");
    assert_eq!((r.pixmap.width(), r.pixmap.height()), (1280, 960));
    let img = decode(&encode_png(&r).expect("encode"));
    assert_eq!((img.width, img.height), (1280, 960));
}

#[test]
fn image_is_not_blank() {
    for seed in 0..8 {
        let png = render_png(&small(seed)).expect("render");
        let img = decode(&png.bytes);
        let colours: BTreeSet<[u8; 3]> = img.rgb.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect();
        let rings = png.params.rings as usize;
        assert!(colours.len() >= rings, "seed {seed}: {} colours for {rings} rings", colours.len());
        // Every ring colour and the background actually appear.
        let present = |c: mandala::Rgb| colours.contains(&[c.r, c.g, c.b]);
        assert!(present(png.params.background), "seed {seed}: background");
        let shown = png.params.ring_colours.iter().filter(|c| present(**c)).count();
        assert!(shown * 10 >= rings * 9, "seed {seed}: only {shown} of {rings} ring colours");
        // The centre is painted (innermost ring), the corner is background.
        let bg = png.params.background;
        assert_ne!(img.px(240, 180), [bg.r, bg.g, bg.b], "seed {seed}: centre");
        assert_eq!(img.px(0, 0), [bg.r, bg.g, bg.b], "seed {seed}: corner");
    }
}

fn mandala_radius(img: &Image) -> f64 {
    0.47 * f64::from(img.width.min(img.height))
}

#[test]
fn image_has_n_fold_rotational_symmetry() {
    for (seed, style) in [(1, Style::Fill), (2, Style::Bezier), (3, Style::Fill), (4, Style::Bezier)] {
        for n in [3, 5, 8, 13, 20] {
            let spec = MandalaSpec {
                width: 400,
                height: 400,
                symmetry: Some(n),
                style: Some(style),
                ..MandalaSpec::new(seed)
            };
            let img = decode(&render_png(&spec).expect("render").bytes);
            let r = mandala_radius(&img);
            for k in 1..n.min(4) {
                let deg = 360.0 * f64::from(k) / f64::from(n);
                let m = rotation_mismatch(&img, deg, r, 2);
                assert!(m < 0.01, "seed {seed} n {n}: rotating by {deg:.2}° mismatches {m:.4}");
            }
            // A rotation that is not a multiple of 360/n must not match.
            let deg = 180.0 / f64::from(n) + 7.0;
            let m = rotation_mismatch(&img, deg, r, 2);
            assert!(m > 0.05, "seed {seed} n {n}: off-angle {deg:.2}° only mismatches {m:.4}");
        }
    }
}

#[test]
fn symmetry_checker_detects_an_asymmetric_image() {
    let spec = MandalaSpec { width: 400, height: 400, symmetry: Some(6), ..MandalaSpec::new(11) };
    let mut img = decode(&render_png(&spec).expect("render").bytes);
    let r = mandala_radius(&img);
    assert!(rotation_mismatch(&img, 60.0, r, 2) < 0.01);
    // Paint a block that breaks the symmetry: 60 x 60 px of pure red off
    // to one side (about 3% of the disc).
    for y in 120..180 {
        for x in 250..310 {
            img.set(x, y, [255, 0, 0]);
        }
    }
    let m = rotation_mismatch(&img, 60.0, r, 2);
    assert!(m > 0.02, "tampered image still looks symmetric ({m:.4})");
}

/// Tells whether an error is the expected variant.
type ErrorCheck = fn(&MandalaError) -> bool;

#[test]
fn bad_arguments_are_rejected_with_typed_errors() {
    let base = MandalaSpec::new(1);
    let cases: Vec<(MandalaSpec, ErrorCheck, &str)> = vec![
        (
            MandalaSpec { symmetry: Some(2), ..base },
            |e| matches!(e, MandalaError::Symmetry(2)),
            "symmetry must be between 3 and 20, got 2",
        ),
        (
            MandalaSpec { symmetry: Some(21), ..base },
            |e| matches!(e, MandalaError::Symmetry(21)),
            "symmetry must be between 3 and 20, got 21",
        ),
        (
            MandalaSpec { rings: Some(3), ..base },
            |e| matches!(e, MandalaError::Rings(3)),
            "rings must be between 4 and 19, got 3",
        ),
        (
            MandalaSpec { rings: Some(20), ..base },
            |e| matches!(e, MandalaError::Rings(20)),
            "rings must be between 4 and 19, got 20",
        ),
        (
            MandalaSpec { width: 0, ..base },
            |e| matches!(e, MandalaError::Width(0)),
            "width must be between 16 and 4096 pixels, got 0",
        ),
        (
            MandalaSpec { width: 4097, ..base },
            |e| matches!(e, MandalaError::Width(4097)),
            "width must be between 16 and 4096 pixels, got 4097",
        ),
        (
            MandalaSpec { height: 0, ..base },
            |e| matches!(e, MandalaError::Height(0)),
            "height must be between 16 and 4096 pixels, got 0",
        ),
        (
            MandalaSpec { height: 4097, ..base },
            |e| matches!(e, MandalaError::Height(4097)),
            "height must be between 16 and 4096 pixels, got 4097",
        ),
    ];
    for (spec, is_expected, message) in cases {
        for err in [spec.validate().err(), render(&spec).err(), render_png(&spec).err()] {
            let err = err.expect("must be rejected");
            assert!(is_expected(&err), "{spec:?}: got {err:?}");
            assert_eq!(err.to_string(), message);
        }
    }
    // The range limits themselves are accepted.
    for spec in [
        MandalaSpec { symmetry: Some(3), rings: Some(4), width: 16, height: 16, ..base },
        MandalaSpec { symmetry: Some(20), rings: Some(19), width: 17, height: 4096, ..base },
    ] {
        assert!(spec.validate().is_ok(), "{spec:?}");
        assert!(render(&spec).is_ok(), "{spec:?}");
    }
    assert!(matches!("spiral".parse::<Style>(), Err(MandalaError::Style(_))));
}

#[test]
fn random_seed_varies() {
    let seeds: BTreeSet<u64> = (0..16).map(|_| mandala::random_seed()).collect();
    assert!(seeds.len() > 1);
    assert!(seeds.iter().all(|&s| s < 1_000_000_000));
}
