//! Throughput of `file.dump` on a gzip-compressed plain dump: the whole stream is inflated
//! and its CRC and length checked, so this is the time an operator waits per byte of dump.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::io::Write;

use canton_dr::probe::ProbeRequest;
use canton_dr::probe::file::observe;
use canton_dr::runbook::catalog::ProbeKind;
use canton_dr::runbook::expr::Ty;
use canton_dr::runbook::model::ProbeCall;
use canton_dr::value::Value;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flate2::Compression;
use flate2::write::GzEncoder;

/// Decompressed size of the dump.
const SQL_BYTES: usize = 32 * 1024 * 1024;

/// SQL-like text that compresses about as well as a real data dump (roughly 4:1).
fn plain_dump() -> Vec<u8> {
    let mut out =
        b"--\n-- PostgreSQL database dump\n--\n\nCOPY t (o, update_id) FROM stdin;\n".to_vec();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut i: u64 = 0;
    while out.len() < SQL_BYTES {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        writeln!(
            out,
            "{i}\t1220{x:016x}{:08x}\t2026-11-20 04:00:00+00",
            x >> 40
        )
        .ok();
        i += 1;
    }
    out
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("validator_20261120_040000.sql.gz");
    let sql = plain_dump();
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(&sql).expect("compress");
    std::fs::write(&path, enc.finish().expect("compress")).expect("write dump");

    let req = ProbeRequest {
        call: ProbeCall {
            kind: ProbeKind::find("file.dump").expect("catalog kind"),
            args: BTreeMap::new(),
            result_ty: Ty::Dyn,
        },
        args: [("path".to_owned(), Value::Text(path.display().to_string()))].into(),
        step: "bench".into(),
    };
    let mut group = c.benchmark_group("file.dump");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(sql.len() as u64));
    group.bench_function("gzip plain, 32 MiB inflated", |b| {
        b.iter(|| {
            let o = observe(black_box(&req), chrono::Utc::now()).expect("observe");
            assert_eq!(o.value.field("gzip_ok"), Some(&Value::Bool(true)));
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
