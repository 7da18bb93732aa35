//! Criterion benchmarks at 1280×960 over varied seeds: drawing only, PNG
//! encoding only, and both.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use mandala::{encode_png, render, MandalaSpec, Rendered};

/// Seeds covering both styles and a spread of symmetries and ring counts.
const SEEDS: [u64; 16] = [1, 2, 3, 7, 12, 14, 18, 26, 1000, 8919, 16838, 24757, 32676, 40595, 48514, 56433];

fn specs() -> Vec<MandalaSpec> {
    SEEDS.iter().map(|&s| MandalaSpec::new(s)).collect()
}

fn bench(c: &mut Criterion) {
    let specs = specs();
    let rendered: Vec<Rendered> = specs.iter().map(|s| render(s).expect("valid spec")).collect();
    let mut group = c.benchmark_group("1280x960");

    let mut i = 0;
    group.bench_function("draw", |b| {
        b.iter(|| {
            i = (i + 1) % specs.len();
            black_box(render(black_box(&specs[i])).expect("valid spec"))
        })
    });

    let mut i = 0;
    group.bench_function("encode", |b| {
        b.iter(|| {
            i = (i + 1) % rendered.len();
            black_box(encode_png(black_box(&rendered[i])).expect("encodes"))
        })
    });

    let mut i = 0;
    group.bench_function("draw+encode", |b| {
        b.iter(|| {
            i = (i + 1) % specs.len();
            let r = render(black_box(&specs[i])).expect("valid spec");
            black_box(encode_png(&r).expect("encodes"))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
