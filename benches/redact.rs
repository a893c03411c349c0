//! Redaction throughput on command output of realistic shape.

use std::hint::black_box;

use canton_dr::secret::{Redactor, SecretRegistry};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use secrecy::SecretString;

/// Log-like output: mostly harmless lines, with a secret-bearing line now and then.
fn output(bytes: usize) -> String {
    let lines = [
        "2026-11-22T03:15:00.123456Z INFO  ingestion: processed offset 18234 record_time=2026-11-22T03:14:59Z\n",
        "2026-11-22T03:15:00.223456Z DEBUG grpc: GetLedgerEnd -> 18240 (synchronizer global-domain::1220abcd)\n",
        "connecting to postgres://ingest:Db-Password-0042@db.internal:5432/integration\n",
        "{\"level\":\"info\",\"msg\":\"token refreshed\",\"access_token\":\"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln\"}\n",
        "pg_dump: dumping contents of table \"public.transfers\" (38211 rows)\n",
        "> Authorization: Bearer Api-Token-Value-77\n",
    ];
    let mut out = String::with_capacity(bytes + 200);
    let mut i = 0;
    while out.len() < bytes {
        // Secret-bearing lines one time in eight.
        let pick = if i % 8 == 7 { 2 + (i / 8) % 4 } else { i % 2 };
        out.push_str(lines[pick]);
        i += 1;
    }
    out
}

fn bench(c: &mut Criterion) {
    let registry = SecretRegistry::new();
    for s in [
        "Db-Password-0042",
        "Api-Token-Value-77",
        "another-secret-value-1",
    ] {
        registry.register(&SecretString::from(s));
    }
    let with_secrets = registry.redactor();
    let patterns_only = Redactor::patterns_only();
    let mut group = c.benchmark_group("redact");
    for size in [64 * 1024, 1024 * 1024, 8 * 1024 * 1024] {
        let text = output(size);
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(format!("registered+patterns/{}KiB", size / 1024), |b| {
            b.iter(|| black_box(with_secrets.redact(black_box(&text))))
        });
        group.bench_function(format!("patterns-only/{}KiB", size / 1024), |b| {
            b.iter(|| black_box(patterns_only.redact(black_box(&text))))
        });
    }
    group.finish();
    c.bench_function("build-redactor/3-secrets", |b| {
        b.iter(|| {
            let r = SecretRegistry::new();
            for s in [
                "Db-Password-0042",
                "Api-Token-Value-77",
                "another-secret-value-1",
            ] {
                r.register(&SecretString::from(s));
            }
            black_box(r.redactor())
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
