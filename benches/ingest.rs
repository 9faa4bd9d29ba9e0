//! End-to-end ingest in process: parse, validate, WAL group commit with fsync
//! on a local directory, buffer apply. 4 concurrent writers, 5,000 lines per request.
//! `cargo bench --bench ingest`; lines/s = 20,000 / time per iteration.

mod common;

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use object_store::memory::InMemory;
use sediment::ingest::lp::Precision;
use sediment::ingest::{IngestLimits, Ingester, WriteOptions};
use sediment::storage::buffer::WriteBuffer;
use sediment::storage::wal::{OnDurable, Wal, WalLocation};
use sediment_catalog::Catalog;
use tokio_util::sync::CancellationToken;

const WRITERS: usize = 4;
const LINES_PER_REQUEST: usize = 5_000;

fn ingest(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let ingester = runtime.block_on(async {
        let catalog = Arc::new(Catalog::load(Arc::new(InMemory::new())).await.expect("catalog"));
        let buffer = Arc::new(WriteBuffer::default());
        let applier = Arc::clone(&buffer);
        let on_durable: OnDurable = Arc::new(move |seq, ops| applier.apply(seq, ops));
        let (wal, _task) = Wal::start(
            WalLocation::Local(dir.path().to_path_buf()),
            1,
            Duration::ZERO,
            on_durable,
            CancellationToken::new(),
        );
        let limits = IngestLimits { persist_threshold: usize::MAX, max_buffer: usize::MAX };
        Arc::new(Ingester::new(catalog, wal, buffer, limits, Arc::new(tokio::sync::Notify::new())))
    });
    let bodies: Vec<Arc<String>> = (0..WRITERS).map(|_| Arc::new(common::cpu_lines(100, LINES_PER_REQUEST))).collect();
    let options = WriteOptions { precision: Precision::Nanosecond, no_sync: false, accept_partial: true };
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements((WRITERS * LINES_PER_REQUEST) as u64));
    group.sample_size(20);
    group.bench_function("tsbs_cpu_4_writers_fsync", |b| {
        b.to_async(&runtime).iter(|| {
            let ingester = Arc::clone(&ingester);
            let bodies = bodies.clone();
            async move {
                let tasks: Vec<_> = bodies
                    .into_iter()
                    .map(|body| {
                        let ingester = Arc::clone(&ingester);
                        tokio::spawn(
                            async move { ingester.write_lp("bench", &body, options).await.map(|o| o.accepted) },
                        )
                    })
                    .collect();
                for t in tasks {
                    assert_eq!(t.await.expect("joins").expect("writes"), LINES_PER_REQUEST);
                }
            }
        })
    });
    group.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
