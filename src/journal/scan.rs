//! Scanning a journal image: validate every frame, rebuild the chain and classify the tail
//! (R5, R6, R8).
//!
//! The scanner reads frames from the header on and stops at the first frame that is not valid
//! (bad length, bad checksum, wrong `seq`, wrong `prev_hash`, or cut short). What follows the
//! valid prefix decides the [`Tail`]:
//!
//! 1. If a valid frame with a plausible `seq` starts anywhere after the bad one, the damage is in
//!    the middle: [`Tail::Corrupt`]. This is checked first, so that a damaged length field in a
//!    middle frame (which makes the frame look cut short) is not mistaken for a torn tail.
//! 2. Otherwise, if the rest is shorter than a length field, shorter than the frame its (valid)
//!    length field declares, or all zeros, it is what a crash during the last append leaves
//!    behind: [`Tail::Torn`].
//! 3. Otherwise a complete but bad frame (or an impossible length field) ends the file:
//!    [`Tail::AmbiguousBadLastFrame`]. So does a search of step 1 that runs out of its work
//!    budget (only a file crafted to be full of plausible frame headers can make it).
//!
//! A declared length is never used before it is range-checked against
//! `BODY_FIXED..=BODY_FIXED + MAX_RECORD` and against the bytes that remain, no frame is ever
//! copied beyond `MAX_RECORD` payload bytes, and no input makes the scanner panic.

use std::fmt;

use super::Head;
use super::error::{HeaderProblem, JournalError};
use super::format::{self, BODY_FIXED, FORMAT_VERSION, FRAME_PREFIX, HEADER_LEN, MAGIC, MIN_FRAME};

/// One valid record of a journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Its sequence number (0 for the first record).
    pub seq: u64,
    /// Byte offset of its frame in the file.
    pub offset: u64,
    /// The payload exactly as stored.
    pub payload: Vec<u8>,
    /// The chain value `h_seq` after this record.
    pub hash: [u8; 32],
}

impl StoredRecord {
    /// Byte offset just past this record's frame (the next record boundary).
    pub fn end_offset(&self) -> u64 {
        self.offset + (MIN_FRAME + self.payload.len()) as u64
    }
}

/// What follows the valid prefix of a journal. Exactly one applies to any file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    /// The file ends exactly after the last valid record.
    Clean,
    /// The rest of the file is an incomplete last frame or zeros: what an interrupted append
    /// leaves. Repaired automatically.
    Torn {
        /// Where the valid prefix ends.
        valid_len: u64,
        /// The file length.
        file_len: u64,
    },
    /// A complete but invalid frame at `offset`, with nothing valid after it.
    AmbiguousBadLastFrame {
        /// Where the bad frame starts (the end of the valid prefix).
        offset: u64,
    },
    /// An invalid frame at `offset`, followed by a valid frame at `next_valid_offset`.
    Corrupt {
        /// Where the bad frame starts (the end of the valid prefix).
        offset: u64,
        /// Where a later valid frame starts.
        next_valid_offset: u64,
    },
}

impl fmt::Display for Tail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tail::Clean => write!(f, "clean"),
            Tail::Torn {
                valid_len,
                file_len,
            } => write!(
                f,
                "torn: the last {} bytes (from offset {valid_len}) are an incomplete record",
                file_len.saturating_sub(*valid_len)
            ),
            Tail::AmbiguousBadLastFrame { offset } => {
                write!(
                    f,
                    "damaged: the last record, at offset {offset}, is invalid"
                )
            }
            Tail::Corrupt {
                offset,
                next_valid_offset,
            } => write!(
                f,
                "corrupt: the record at offset {offset} is invalid, a valid record follows at \
                 offset {next_valid_offset}"
            ),
        }
    }
}

/// Why a frame was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameDefect {
    /// Fewer bytes remain than the length field or the frame it declares needs.
    Truncated {
        /// Bytes the frame needs (prefix included), or 4 if not even the length is there.
        needed: u64,
        /// Bytes that remain in the file.
        available: u64,
    },
    /// The length field is outside `BODY_FIXED..=BODY_FIXED + MAX_RECORD`.
    LengthOutOfRange {
        /// The declared body length.
        len: u32,
    },
    /// The CRC32C does not match the body.
    Checksum,
    /// The checksum matches but `seq` is not the next number.
    Sequence {
        /// The number the chain expects.
        expected: u64,
        /// The number in the frame.
        found: u64,
    },
    /// The checksum matches but `prev_hash` is not the chain value of the previous record.
    Chain,
}

impl fmt::Display for FrameDefect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameDefect::Truncated { needed, available } => write!(
                f,
                "incomplete: {available} bytes left where the record needs {needed}"
            ),
            FrameDefect::LengthOutOfRange { len } => {
                write!(f, "impossible length field {len}")
            }
            FrameDefect::Checksum => write!(f, "checksum mismatch"),
            FrameDefect::Sequence { expected, found } => {
                write!(f, "sequence number {found} where {expected} was expected")
            }
            FrameDefect::Chain => write!(f, "hash chain broken: prev_hash does not match"),
        }
    }
}

/// The result of scanning a journal image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// The valid records, `seq` 0, 1, 2, … without gaps.
    pub records: Vec<StoredRecord>,
    /// Length of the valid prefix (header plus valid frames); always a record boundary.
    pub valid_len: u64,
    /// Length of the scanned image.
    pub file_len: u64,
    /// Record count and chain value after the last valid record.
    pub head: Head,
    /// What follows the valid prefix.
    pub tail: Tail,
    /// Why the first rejected frame was rejected (`None` when the tail is clean).
    pub defect: Option<FrameDefect>,
}

impl Scan {
    /// Whether `offset` is a record boundary of the valid prefix: the end of the header or the
    /// end of a valid record.
    pub fn is_boundary(&self, offset: u64) -> bool {
        offset == HEADER_LEN as u64
            || self
                .records
                .binary_search_by_key(&offset, StoredRecord::end_offset)
                .is_ok()
    }

    /// The largest record boundary at or below `offset`.
    pub fn boundary_at_or_below(&self, offset: u64) -> Option<u64> {
        if offset < HEADER_LEN as u64 {
            return None;
        }
        let below = self.records.partition_point(|r| r.end_offset() <= offset);
        Some(match below {
            0 => HEADER_LEN as u64,
            n => self.records[n - 1].end_offset(),
        })
    }
}

/// Parses and checks the 8-byte header.
pub fn parse_header(bytes: &[u8]) -> Result<[u8; HEADER_LEN], JournalError> {
    let header_error = |problem| JournalError::Header {
        path: None,
        problem,
    };
    let Some(header) = bytes.get(..HEADER_LEN) else {
        let n = bytes.len().min(MAGIC.len());
        return Err(header_error(if bytes[..n] == MAGIC[..n] {
            HeaderProblem::TooShort {
                len: bytes.len() as u64,
            }
        } else {
            HeaderProblem::BadMagic
        }));
    };
    if header[..4] != MAGIC {
        return Err(header_error(HeaderProblem::BadMagic));
    }
    let version = format::read_u32(header, 4).unwrap_or(0);
    if version > FORMAT_VERSION {
        return Err(header_error(HeaderProblem::NewerVersion { version }));
    }
    if version != FORMAT_VERSION {
        return Err(header_error(HeaderProblem::UnsupportedVersion { version }));
    }
    let mut out = [0u8; HEADER_LEN];
    out.copy_from_slice(header);
    Ok(out)
}

/// Scans a whole journal image. Fails only if the header is missing, foreign or newer; any
/// damage after the header is reported in [`Scan::tail`].
pub fn scan(bytes: &[u8]) -> Result<Scan, JournalError> {
    let header = parse_header(bytes)?;
    let mut head_hash = format::genesis_hash(&header);
    let mut records = Vec::new();
    let mut pos = HEADER_LEN;
    let (tail, defect) = loop {
        if pos == bytes.len() {
            break (Tail::Clean, None);
        }
        let expected_seq = records.len() as u64;
        match check_frame(bytes, pos, expected_seq, &head_hash) {
            Ok(body_len) => {
                let payload_start = pos + FRAME_PREFIX + BODY_FIXED;
                let end = pos + FRAME_PREFIX + body_len as usize;
                let payload = &bytes[payload_start..end];
                head_hash = format::chain_hash(&head_hash, expected_seq, body_len, payload);
                records.push(StoredRecord {
                    seq: expected_seq,
                    offset: pos as u64,
                    payload: payload.to_vec(),
                    hash: head_hash,
                });
                pos = end;
            }
            Err(defect) => break (classify(bytes, pos, expected_seq, defect), Some(defect)),
        }
    };
    Ok(Scan {
        head: Head {
            count: records.len() as u64,
            hash: head_hash,
        },
        records,
        valid_len: pos as u64,
        file_len: bytes.len() as u64,
        tail,
        defect,
    })
}

/// Validates the frame at `pos` as the next record of the chain; returns its body length.
fn check_frame(
    bytes: &[u8],
    pos: usize,
    expected_seq: u64,
    prev_hash: &[u8; 32],
) -> Result<u32, FrameDefect> {
    let available = bytes.len().saturating_sub(pos) as u64;
    let Some(len) = format::read_u32(bytes, pos) else {
        return Err(FrameDefect::Truncated {
            needed: 4,
            available,
        });
    };
    if !format::body_len_in_range(len) {
        return Err(FrameDefect::LengthOutOfRange { len });
    }
    let needed = (FRAME_PREFIX + len as usize) as u64;
    if needed > available {
        return Err(FrameDefect::Truncated { needed, available });
    }
    let body = &bytes[pos + FRAME_PREFIX..pos + FRAME_PREFIX + len as usize];
    if format::read_u32(bytes, pos + 4) != Some(format::body_crc(body)) {
        return Err(FrameDefect::Checksum);
    }
    let found = format::read_u64(body, 0).unwrap_or(u64::MAX);
    if found != expected_seq {
        return Err(FrameDefect::Sequence {
            expected: expected_seq,
            found,
        });
    }
    if body[8..BODY_FIXED] != prev_hash[..] {
        return Err(FrameDefect::Chain);
    }
    Ok(len)
}

/// Most checksum bytes the forward search after a bad frame may compute. Real damage is found
/// (or ruled out) with a tiny fraction of this; only a file crafted to be full of plausible frame
/// headers can exhaust it, and then the tail is reported as ambiguous, never as torn.
const SEARCH_BUDGET: usize = 256 << 20;

/// Decides the tail after a rejected frame at `pos` (see the module documentation).
fn classify(bytes: &[u8], pos: usize, expected_seq: u64, defect: FrameDefect) -> Tail {
    match find_later_valid_frame(bytes, pos, expected_seq, SEARCH_BUDGET) {
        Search::Found(next) => {
            return Tail::Corrupt {
                offset: pos as u64,
                next_valid_offset: next as u64,
            };
        }
        Search::GaveUp => return Tail::AmbiguousBadLastFrame { offset: pos as u64 },
        Search::NotFound => {}
    }
    let rest = &bytes[pos..];
    if matches!(defect, FrameDefect::Truncated { .. }) || rest.iter().all(|&b| b == 0) {
        return Tail::Torn {
            valid_len: pos as u64,
            file_len: bytes.len() as u64,
        };
    }
    Tail::AmbiguousBadLastFrame { offset: pos as u64 }
}

/// The result of the forward search for a valid frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Search {
    Found(usize),
    NotFound,
    GaveUp,
}

/// Searches byte by byte after a bad frame at `bad` for a frame that is complete, has a valid
/// checksum and a `seq` that could follow the valid prefix: at least `expected_seq`, and at most
/// `expected_seq` plus the number of minimum-size frames that fit between `bad` and it. Gives up
/// once it would checksum more than `budget` bytes.
fn find_later_valid_frame(bytes: &[u8], bad: usize, expected_seq: u64, budget: usize) -> Search {
    let Some(last_start) = bytes.len().checked_sub(MIN_FRAME) else {
        return Search::NotFound;
    };
    let mut spent = 0usize;
    for p in bad + 1..=last_start {
        let Some(len) = format::read_u32(bytes, p) else {
            continue;
        };
        let end = p + FRAME_PREFIX + len as usize;
        if !format::body_len_in_range(len) || end > bytes.len() {
            continue;
        }
        let Some(seq) = format::read_u64(bytes, p + FRAME_PREFIX) else {
            continue;
        };
        let max_skipped = ((p - bad) / MIN_FRAME) as u64;
        if seq < expected_seq || seq - expected_seq > max_skipped {
            continue;
        }
        spent += len as usize;
        if spent > budget {
            return Search::GaveUp;
        }
        if format::read_u32(bytes, p + 4) == Some(format::body_crc(&bytes[p + FRAME_PREFIX..end])) {
            return Search::Found(p);
        }
    }
    Search::NotFound
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(payloads: &[&[u8]]) -> Vec<u8> {
        let header = format::header_bytes();
        let mut out = header.to_vec();
        let mut prev = format::genesis_hash(&header);
        for (seq, payload) in payloads.iter().enumerate() {
            let len = format::encode_frame(&mut out, seq as u64, &prev, payload).unwrap();
            prev = format::chain_hash(&prev, seq as u64, len, payload);
        }
        out
    }

    fn offsets(bytes: &[u8]) -> Vec<usize> {
        scan(bytes)
            .unwrap()
            .records
            .iter()
            .map(|r| r.offset as usize)
            .collect()
    }

    #[test]
    fn empty_journal_is_clean_with_the_genesis_head() {
        let s = scan(&format::header_bytes()).unwrap();
        assert_eq!(s.tail, Tail::Clean);
        assert_eq!(s.valid_len, 8);
        assert_eq!(s.head.count, 0);
        assert_eq!(s.head.hash, format::genesis_hash(&format::header_bytes()));
        assert!(s.records.is_empty() && s.defect.is_none());
    }

    #[test]
    fn records_come_back_in_order_with_their_chain() {
        let bytes = image(&[b"{\"a\":1}", b"", b"{\"b\":\"xyz\"}"]);
        let s = scan(&bytes).unwrap();
        assert_eq!(s.tail, Tail::Clean);
        assert_eq!(s.valid_len as usize, bytes.len());
        let payloads: Vec<&[u8]> = s.records.iter().map(|r| r.payload.as_slice()).collect();
        assert_eq!(payloads, vec![&b"{\"a\":1}"[..], b"", b"{\"b\":\"xyz\"}"]);
        let mut prev = format::genesis_hash(&format::header_bytes());
        for (i, r) in s.records.iter().enumerate() {
            assert_eq!(r.seq, i as u64);
            let len = (BODY_FIXED + r.payload.len()) as u32;
            prev = format::chain_hash(&prev, r.seq, len, &r.payload);
            assert_eq!(r.hash, prev);
        }
        assert_eq!(s.head.hash, prev);
        assert_eq!(s.head.count, 3);
        assert_eq!(s.records[0].offset, 8);
        assert_eq!(s.records[1].offset, s.records[0].end_offset());
    }

    #[test]
    fn header_problems_are_errors() {
        let problem = |bytes: &[u8]| match scan(bytes) {
            Err(JournalError::Header { problem, .. }) => problem,
            other => panic!("expected a header error, got {other:?}"),
        };
        assert_eq!(problem(b""), HeaderProblem::TooShort { len: 0 });
        assert_eq!(problem(b"CDRJ\x01"), HeaderProblem::TooShort { len: 5 });
        assert_eq!(problem(b"CD"), HeaderProblem::TooShort { len: 2 });
        assert_eq!(problem(b"XD"), HeaderProblem::BadMagic);
        assert_eq!(problem(b"SQLite format 3\0"), HeaderProblem::BadMagic);
        assert_eq!(
            problem(b"CDRJ\x02\x00\x00\x00"),
            HeaderProblem::NewerVersion { version: 2 }
        );
        assert_eq!(
            problem(b"CDRJ\x00\x00\x00\x00"),
            HeaderProblem::UnsupportedVersion { version: 0 }
        );
        let newer = scan(b"CDRJ\x02\x00\x00\x00").unwrap_err().to_string();
        assert_eq!(
            newer,
            "journal format version 2 is newer than this canton-dr understands (1); upgrade \
             canton-dr"
        );
        assert!(
            scan(b"nope nope")
                .unwrap_err()
                .to_string()
                .contains("not a canton-dr journal")
        );
    }

    #[test]
    fn a_cut_last_frame_and_trailing_zeros_are_torn() {
        let bytes = image(&[b"{\"a\":1}", b"{\"b\":2}"]);
        let second = offsets(&bytes)[1];
        for cut in [
            second + 1,
            second + 3,
            second + 4,
            second + 30,
            bytes.len() - 1,
        ] {
            let s = scan(&bytes[..cut]).unwrap();
            assert_eq!(
                s.tail,
                Tail::Torn {
                    valid_len: second as u64,
                    file_len: cut as u64
                },
                "cut at {cut}"
            );
            assert_eq!(s.records.len(), 1);
        }
        let mut zeros = bytes.clone();
        zeros.extend_from_slice(&[0u8; 4096]);
        let s = scan(&zeros).unwrap();
        assert_eq!(
            s.tail,
            Tail::Torn {
                valid_len: bytes.len() as u64,
                file_len: zeros.len() as u64
            }
        );
        assert_eq!(s.records.len(), 2);
    }

    #[test]
    fn a_bad_last_frame_is_ambiguous_and_a_bad_middle_frame_is_corrupt() {
        let bytes = image(&[b"{\"a\":1}", b"{\"b\":2}", b"{\"c\":3}"]);
        let offs = offsets(&bytes);
        let mut last = bytes.clone();
        *last.last_mut().unwrap() ^= 0x01;
        let s = scan(&last).unwrap();
        assert_eq!(
            s.tail,
            Tail::AmbiguousBadLastFrame {
                offset: offs[2] as u64
            }
        );
        assert_eq!(s.defect, Some(FrameDefect::Checksum));
        assert_eq!(s.records.len(), 2);

        let mut middle = bytes.clone();
        middle[offs[1] + 50] ^= 0x80;
        let s = scan(&middle).unwrap();
        assert_eq!(
            s.tail,
            Tail::Corrupt {
                offset: offs[1] as u64,
                next_valid_offset: offs[2] as u64
            }
        );
        assert_eq!(s.records.len(), 1);
    }

    #[test]
    fn a_damaged_length_in_a_middle_frame_is_corrupt_not_torn() {
        let bytes = image(&[b"{\"a\":1}", b"{\"b\":2}", b"{\"c\":3}"]);
        let offs = offsets(&bytes);
        for (byte, bit) in [(0usize, 6u8), (1, 0), (2, 3)] {
            let mut damaged = bytes.clone();
            damaged[offs[1] + byte] ^= 1 << bit;
            let s = scan(&damaged).unwrap();
            assert_eq!(
                s.tail,
                Tail::Corrupt {
                    offset: offs[1] as u64,
                    next_valid_offset: offs[2] as u64
                },
                "flip of bit {bit} in length byte {byte}"
            );
        }
    }

    #[test]
    fn valid_checksum_with_wrong_seq_or_link_is_still_rejected() {
        let header = format::header_bytes();
        let genesis = format::genesis_hash(&header);
        let mut bytes = header.to_vec();
        let len = format::encode_frame(&mut bytes, 0, &genesis, b"{}").unwrap();
        let h0 = format::chain_hash(&genesis, 0, len, b"{}");
        let good = bytes.len();

        let mut wrong_seq = bytes.clone();
        format::encode_frame(&mut wrong_seq, 2, &h0, b"{}").unwrap();
        let s = scan(&wrong_seq).unwrap();
        assert_eq!(
            s.tail,
            Tail::AmbiguousBadLastFrame {
                offset: good as u64
            }
        );
        assert_eq!(
            s.defect,
            Some(FrameDefect::Sequence {
                expected: 1,
                found: 2
            })
        );

        let mut wrong_link = bytes.clone();
        format::encode_frame(&mut wrong_link, 1, &genesis, b"{}").unwrap();
        let s = scan(&wrong_link).unwrap();
        assert_eq!(
            s.tail,
            Tail::AmbiguousBadLastFrame {
                offset: good as u64
            }
        );
        assert_eq!(s.defect, Some(FrameDefect::Chain));
    }

    #[test]
    fn impossible_lengths_are_not_trusted() {
        let bytes = image(&[b"{\"a\":1}"]);
        for len in [0u32, 39, (format::MAX_BODY + 1) as u32, u32::MAX] {
            let mut damaged = bytes.clone();
            damaged.extend_from_slice(&len.to_le_bytes());
            damaged.extend_from_slice(&[0xEE; 60]);
            let s = scan(&damaged).unwrap();
            assert_eq!(
                s.tail,
                Tail::AmbiguousBadLastFrame {
                    offset: bytes.len() as u64
                }
            );
            assert_eq!(s.defect, Some(FrameDefect::LengthOutOfRange { len }));
        }
    }

    #[test]
    fn boundaries_are_the_header_end_and_record_ends() {
        let bytes = image(&[b"{\"a\":1}", b"{\"b\":2}"]);
        let s = scan(&bytes).unwrap();
        let ends: Vec<u64> = s.records.iter().map(StoredRecord::end_offset).collect();
        assert!(s.is_boundary(8));
        assert!(ends.iter().all(|&e| s.is_boundary(e)));
        assert!(!s.is_boundary(9) && !s.is_boundary(ends[0] + 1));
        assert_eq!(s.boundary_at_or_below(7), None);
        assert_eq!(s.boundary_at_or_below(8), Some(8));
        assert_eq!(s.boundary_at_or_below(ends[0] + 5), Some(ends[0]));
        assert_eq!(s.boundary_at_or_below(u64::MAX), Some(ends[1]));
    }

    #[test]
    fn the_forward_search_can_give_up_but_only_as_ambiguous() {
        let bytes = image(&[b"{\"a\":1}", b"{\"b\":2}", b"{\"c\":3}"]);
        let offs = offsets(&bytes);
        let mut damaged = bytes.clone();
        damaged[offs[1] + 50] ^= 0x80;
        assert_eq!(
            find_later_valid_frame(&damaged, offs[1], 1, usize::MAX),
            Search::Found(offs[2])
        );
        assert_eq!(
            find_later_valid_frame(&damaged, offs[1], 1, 10),
            Search::GaveUp
        );
        let cut = &bytes[..bytes.len() - 1];
        assert_eq!(
            find_later_valid_frame(cut, offs[2], 3, usize::MAX),
            Search::NotFound
        );
    }
}
