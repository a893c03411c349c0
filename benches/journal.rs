//! Journal benchmarks: durable appends of 300-byte JSON records compared with a bare
//! `write` + `fdatasync` loop and SQLite (WAL, `synchronous=FULL`, one transaction per insert)
//! on the same file system; and replay of a 100,000-record journal with full CRC and chain
//! verification compared with hashing the same bytes once with SHA-256.
//!
//! Files go under Cargo's target temporary directory (`CARGO_TARGET_TMPDIR`), so all three
//! durable variants share one file system. Run with `cargo bench --bench journal`.

use std::fs::{File, OpenOptions};
use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use canton_dr::journal::{self, Journal, format, scan};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use sha2::{Digest, Sha256};

const PAYLOAD_LEN: usize = 300;
const REPLAY_RECORDS: usize = 100_000;

/// A JSON object of exactly `PAYLOAD_LEN` bytes, shaped like a step record.
fn payload(n: usize) -> Vec<u8> {
    let head = format!(
        "{{\"kind\":\"step_completed\",\"seq_hint\":{n},\"step\":\"verify-ledger-end\",\
         \"ts\":\"2026-11-22T03:15:00.123456Z\",\"note\":\""
    );
    let pad = PAYLOAD_LEN - head.len() - 2;
    let mut out = head.into_bytes();
    out.extend(std::iter::repeat_n(b'x', pad));
    out.extend_from_slice(b"\"}");
    assert_eq!(out.len(), PAYLOAD_LEN);
    out
}

fn scratch_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("journal-bench")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("create a scratch directory under the target directory")
}

fn durable_appends(c: &mut Criterion) {
    let mut group = c.benchmark_group("durable_append_300B");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6))
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Elements(1));
    let record = payload(0);

    let tmp = scratch_dir();
    let dir = journal::create_incident_dir(tmp.path(), "bench").expect("incident dir");
    let mut j = Journal::create(&dir).expect("create journal");
    group.bench_function("journal_append", |b| {
        b.iter(|| j.append(black_box(&record)).expect("append"))
    });
    drop(j);

    // The same frame size, written and fdatasync'ed with no encoding, hashing or checks.
    let frame_len = format::MIN_FRAME + PAYLOAD_LEN;
    let raw_path = tmp.path().join("raw.bin");
    let mut raw = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&raw_path)
        .expect("open raw file");
    let frame = vec![b'r'; frame_len];
    group.bench_function("raw_write_fdatasync", |b| {
        b.iter(|| {
            raw.write_all(black_box(&frame)).expect("write");
            raw.sync_data().expect("fdatasync");
        })
    });
    drop(raw);

    let db = rusqlite::Connection::open(tmp.path().join("bench.sqlite")).expect("open sqlite");
    db.pragma_update(None, "journal_mode", "WAL")
        .expect("WAL mode");
    db.pragma_update(None, "synchronous", "FULL")
        .expect("synchronous=FULL");
    db.execute(
        "CREATE TABLE records (seq INTEGER PRIMARY KEY, payload BLOB NOT NULL)",
        [],
    )
    .expect("create table");
    let mut insert = db
        .prepare("INSERT INTO records (payload) VALUES (?1)")
        .expect("prepare");
    group.bench_function("sqlite_wal_full_insert", |b| {
        b.iter(|| insert.execute([black_box(&record)]).expect("insert"))
    });
    group.finish();
}

/// A valid journal image of `REPLAY_RECORDS` 300-byte records.
fn replay_image() -> Vec<u8> {
    let header = format::header_bytes();
    let mut out = header.to_vec();
    let mut prev = format::genesis_hash(&header);
    for seq in 0..REPLAY_RECORDS {
        let p = payload(seq);
        let len = format::encode_frame(&mut out, seq as u64, &prev, &p).expect("encode");
        prev = format::chain_hash(&prev, seq as u64, len, &p);
    }
    out
}

fn write_journal(dir: &Path, bytes: &[u8]) {
    let mut f = OpenOptions::new()
        .create_new(true)
        .write(true)
        .open(dir.join(journal::JOURNAL_FILE))
        .expect("create journal file");
    f.write_all(bytes).expect("write journal");
    f.sync_all().expect("sync journal");
    let perms = std::os::unix::fs::PermissionsExt::from_mode(0o600);
    File::set_permissions(&f, perms).expect("chmod");
}

fn replay(c: &mut Criterion) {
    let image = replay_image();
    let mut group = c.benchmark_group("replay_100k_records");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8))
        .sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Bytes(image.len() as u64));

    group.bench_function("scan_crc_and_chain", |b| {
        b.iter(|| {
            let s = scan(black_box(&image)).expect("scan");
            assert_eq!(s.records.len(), REPLAY_RECORDS);
            s
        })
    });
    group.bench_function("sha256_of_same_bytes", |b| {
        b.iter(|| Sha256::digest(black_box(&image)))
    });

    // The whole open path from the page cache: checks, read, scan, records.
    let tmp = scratch_dir();
    let dir = journal::create_incident_dir(tmp.path(), "replay").expect("incident dir");
    write_journal(&dir, &image);
    group.bench_function("journal_open_from_file", |b| {
        b.iter(|| {
            let (j, records, _) = Journal::open(&dir, |_| Vec::new()).expect("open");
            assert_eq!(records.len(), REPLAY_RECORDS);
            (j, records)
        })
    });
    group.finish();
}

criterion_group!(benches, durable_appends, replay);
criterion_main!(benches);
