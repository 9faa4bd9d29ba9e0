//! Line-protocol parsing throughput on TSBS cpu lines.
//! `cargo bench --bench lp_parse`

mod common;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sediment::ingest::lp::{Precision, parse_body};

fn parse(c: &mut Criterion) {
    let body = common::cpu_lines(100, 10_000);
    let mut group = c.benchmark_group("lp_parse");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("tsbs_cpu_10k_lines", |b| {
        b.iter(|| {
            let (points, rejected) = parse_body(&body, Precision::Nanosecond, 0);
            assert!(rejected.is_empty());
            points.len()
        })
    });
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
