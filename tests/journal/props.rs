//! Property tests of the scanner (R5, R6, R8): arbitrary bytes and arbitrary damage to valid
//! journals never make it panic, the valid prefix always ends at a record boundary, the records
//! always form a gap-free chain, and damage never costs a record that lies before it.

use canton_dr::journal::{HEADER_LEN, Scan, Tail, format, scan};
use proptest::prelude::*;

use crate::common::encode_image;

/// The structural invariants every successful scan must satisfy.
fn check_invariants(bytes: &[u8], s: &Scan) -> Result<(), TestCaseError> {
    prop_assert_eq!(s.file_len, bytes.len() as u64);
    prop_assert!(s.valid_len <= s.file_len);
    let header: [u8; HEADER_LEN] = bytes[..HEADER_LEN].try_into().expect("header");
    let mut prev = format::genesis_hash(&header);
    let mut at = HEADER_LEN as u64;
    for (i, r) in s.records.iter().enumerate() {
        prop_assert_eq!(r.seq, i as u64);
        prop_assert_eq!(r.offset, at, "records are contiguous");
        let len = (format::BODY_FIXED + r.payload.len()) as u32;
        prop_assert!(r.payload.len() <= format::MAX_RECORD);
        let start = (r.offset as usize) + format::FRAME_PREFIX + format::BODY_FIXED;
        prop_assert_eq!(&bytes[start..start + r.payload.len()], r.payload.as_slice());
        prev = format::chain_hash(&prev, r.seq, len, &r.payload);
        prop_assert_eq!(r.hash, prev, "chain value of record {}", i);
        at = r.end_offset();
    }
    prop_assert_eq!(s.valid_len, at, "valid_len is a record boundary");
    prop_assert_eq!(s.head.count, s.records.len() as u64);
    prop_assert_eq!(s.head.hash, prev);
    match s.tail {
        Tail::Clean => {
            prop_assert_eq!(s.valid_len, s.file_len);
            prop_assert!(s.defect.is_none());
        }
        Tail::Torn {
            valid_len,
            file_len,
        } => {
            prop_assert_eq!((valid_len, file_len), (s.valid_len, s.file_len));
            prop_assert!(valid_len < file_len && s.defect.is_some());
        }
        Tail::AmbiguousBadLastFrame { offset } => {
            prop_assert_eq!(offset, s.valid_len);
            prop_assert!(offset < s.file_len && s.defect.is_some());
        }
        Tail::Corrupt {
            offset,
            next_valid_offset,
        } => {
            prop_assert_eq!(offset, s.valid_len);
            prop_assert!(next_valid_offset > offset && s.defect.is_some());
            // The later frame really is complete and checksummed.
            let p = next_valid_offset as usize;
            let len = u32::from_le_bytes(bytes[p..p + 4].try_into().expect("len")) as usize;
            let crc = u32::from_le_bytes(bytes[p + 4..p + 8].try_into().expect("crc"));
            prop_assert!(p + 8 + len <= bytes.len());
            prop_assert_eq!(crc, format::body_crc(&bytes[p + 8..p + 8 + len]));
        }
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, bit: u8 },
    Truncate { at: usize },
    Insert { at: usize, bytes: Vec<u8> },
    Delete { at: usize, len: usize },
    Overwrite { at: usize, bytes: Vec<u8> },
    Zero { at: usize, len: usize },
    DuplicateTail { at: usize },
    Append { bytes: Vec<u8> },
}

impl Mutation {
    /// Applies the mutation and returns the first byte offset it changed.
    fn apply(&self, bytes: &mut Vec<u8>) -> usize {
        let n = bytes.len();
        let pos = |at: usize| if n == 0 { 0 } else { at % (n + 1) };
        match self {
            Mutation::Flip { .. } if n == 0 => usize::MAX,
            Mutation::Flip { at, bit } => {
                let p = at % n;
                bytes[p] ^= 1 << (bit % 8);
                p
            }
            Mutation::Truncate { at } => {
                let p = pos(*at);
                bytes.truncate(p);
                p
            }
            Mutation::Insert { at, bytes: ins } => {
                let p = pos(*at);
                bytes.splice(p..p, ins.iter().copied());
                p
            }
            Mutation::Delete { at, len } => {
                let p = pos(*at);
                let end = (p + len).min(n);
                bytes.drain(p..end);
                p
            }
            Mutation::Overwrite { at, bytes: new } => {
                let p = pos(*at);
                for (i, b) in new.iter().enumerate() {
                    match bytes.get_mut(p + i) {
                        Some(slot) => *slot = *b,
                        None => bytes.push(*b),
                    }
                }
                p
            }
            Mutation::Zero { at, len } => {
                let p = pos(*at);
                let end = (p + len).min(n);
                bytes[p..end].fill(0);
                p
            }
            Mutation::DuplicateTail { at } => {
                let p = pos(*at);
                let tail = bytes[p..].to_vec();
                bytes.extend_from_slice(&tail);
                n
            }
            Mutation::Append { bytes: more } => {
                bytes.extend_from_slice(more);
                n
            }
        }
    }
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let small = proptest::collection::vec(any::<u8>(), 1..64);
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), small.clone()).prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (any::<usize>(), 1usize..100).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), small.clone()).prop_map(|(at, bytes)| Mutation::Overwrite { at, bytes }),
        (any::<usize>(), 1usize..100).prop_map(|(at, len)| Mutation::Zero { at, len }),
        any::<usize>().prop_map(|at| Mutation::DuplicateTail { at }),
        small.prop_map(|bytes| Mutation::Append { bytes }),
    ]
}

fn payloads() -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..12)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn arbitrary_bytes_never_panic_the_scanner(
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        with_header in any::<bool>(),
    ) {
        let mut bytes = if with_header { format::header_bytes().to_vec() } else { Vec::new() };
        bytes.extend_from_slice(&body);
        if let Ok(s) = scan(&bytes) {
            check_invariants(&bytes, &s)?;
        }
    }

    #[test]
    fn valid_journals_scan_back_exactly(payloads in payloads()) {
        let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
        let bytes = encode_image(&refs);
        let s = scan(&bytes).expect("scan");
        check_invariants(&bytes, &s)?;
        prop_assert_eq!(s.tail, Tail::Clean);
        let back: Vec<Vec<u8>> = s.records.into_iter().map(|r| r.payload).collect();
        prop_assert_eq!(back, payloads);
    }

    #[test]
    fn damaged_journals_keep_every_record_before_the_damage(
        payloads in payloads(),
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
        let original = encode_image(&refs);
        let intact = scan(&original).expect("scan intact");
        let mut bytes = original.clone();
        let mut first_change = usize::MAX;
        for m in &mutations {
            first_change = first_change.min(m.apply(&mut bytes));
        }
        match scan(&bytes) {
            Ok(s) => {
                check_invariants(&bytes, &s)?;
                let untouched = intact
                    .records
                    .iter()
                    .take_while(|r| r.end_offset() as usize <= first_change)
                    .count();
                prop_assert!(s.records.len() >= untouched);
                prop_assert_eq!(&s.records[..untouched], &intact.records[..untouched]);
                if s.tail == Tail::Clean && bytes != original {
                    // Only a cut at a boundary (or a change that re-forms the same bytes) can
                    // leave a clean journal, and then it is a prefix of the original.
                    prop_assert!(original.starts_with(&bytes), "undetected damage");
                }
            }
            Err(_) => prop_assert!(first_change < HEADER_LEN, "only header damage is an error"),
        }
    }
}
