//! The byte format of `journal.rbj`: the file header, record frames, the masked CRC32C and the
//! SHA-256 hash chain.
//!
//! ```text
//! header : b"CDRJ" | version:u32le (= 1)
//! frame  : len:u32le | crc32c_masked:u32le | seq:u64le | prev_hash:[u8;32] | payload
//!          \_________ prefix (8) _______/   \____________ body (len bytes) ___________/
//! ```
//!
//! `len` counts the body (`BODY_FIXED + payload.len()`), the CRC covers the body and is masked
//! the way LevelDB masks the CRCs it stores, and the chain links every record to the one before:
//! `h_i = SHA-256("rbj1-record\0" ‖ h_{i-1} ‖ seq_le ‖ len_le ‖ payload)`, with
//! `h_{-1} = SHA-256("rbj1-genesis\0" ‖ header)`.

use sha2::{Digest, Sha256};

/// The four magic bytes a journal file starts with.
pub const MAGIC: [u8; 4] = *b"CDRJ";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Length of the file header (magic + version).
pub const HEADER_LEN: usize = 8;
/// Length of the frame prefix (`len` + masked CRC) that precedes every body.
pub const FRAME_PREFIX: usize = 8;
/// Fixed part of a frame body: `seq` (8) + `prev_hash` (32).
pub const BODY_FIXED: usize = 40;
/// Largest payload a record may carry (1 MiB).
pub const MAX_RECORD: usize = 1 << 20;
/// Smallest possible frame (prefix + fixed body, empty payload).
pub const MIN_FRAME: usize = FRAME_PREFIX + BODY_FIXED;
/// Largest body length a valid frame may declare.
pub const MAX_BODY: usize = BODY_FIXED + MAX_RECORD;

const GENESIS_DOMAIN: &[u8] = b"rbj1-genesis\0";
const RECORD_DOMAIN: &[u8] = b"rbj1-record\0";
const CRC_MASK_DELTA: u32 = 0xa282_ead8;

/// The header of a version-1 journal.
pub fn header_bytes() -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[..4].copy_from_slice(&MAGIC);
    header[4..].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header
}

/// The chain value before the first record: `SHA-256("rbj1-genesis\0" ‖ header)`.
pub fn genesis_hash(header: &[u8; HEADER_LEN]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(GENESIS_DOMAIN);
    hasher.update(header);
    hasher.finalize().into()
}

/// The chain value of a record: `SHA-256("rbj1-record\0" ‖ prev ‖ seq_le ‖ len_le ‖ payload)`,
/// where `len` is the frame's body length.
pub fn chain_hash(prev: &[u8; 32], seq: u64, body_len: u32, payload: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(RECORD_DOMAIN);
    hasher.update(prev);
    hasher.update(seq.to_le_bytes());
    hasher.update(body_len.to_le_bytes());
    hasher.update(payload);
    hasher.finalize().into()
}

/// Masks a CRC the way LevelDB does, so that a CRC stored inside checksummed data does not
/// checksum to a trivial value.
pub fn mask_crc(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(CRC_MASK_DELTA)
}

/// The masked CRC32C of a frame body.
pub fn body_crc(body: &[u8]) -> u32 {
    mask_crc(crc32c::crc32c(body))
}

/// The body length a payload of `payload_len` bytes needs, or `None` if it exceeds
/// [`MAX_RECORD`].
pub fn body_len_for(payload_len: usize) -> Option<u32> {
    if payload_len > MAX_RECORD {
        return None;
    }
    u32::try_from(BODY_FIXED + payload_len).ok()
}

/// Whether a declared body length is one a valid frame can have.
pub fn body_len_in_range(len: u32) -> bool {
    let len = len as usize;
    (BODY_FIXED..=MAX_BODY).contains(&len)
}

/// Appends the frame for `payload` to `out` and returns its body length, or `None` (leaving
/// `out` untouched) if the payload exceeds [`MAX_RECORD`].
pub fn encode_frame(
    out: &mut Vec<u8>,
    seq: u64,
    prev_hash: &[u8; 32],
    payload: &[u8],
) -> Option<u32> {
    let body_len = body_len_for(payload.len())?;
    let start = out.len();
    out.reserve(FRAME_PREFIX + body_len as usize);
    out.extend_from_slice(&body_len.to_le_bytes());
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(prev_hash);
    out.extend_from_slice(payload);
    let crc = body_crc(&out[start + FRAME_PREFIX..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Some(body_len)
}

/// Reads a little-endian `u32` at `at`, if the slice is long enough.
pub(crate) fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let end = at.checked_add(4)?;
    let raw: [u8; 4] = bytes.get(at..end)?.try_into().ok()?;
    Some(u32::from_le_bytes(raw))
}

/// Reads a little-endian `u64` at `at`, if the slice is long enough.
pub(crate) fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let end = at.checked_add(8)?;
    let raw: [u8; 8] = bytes.get(at..end)?.try_into().ok()?;
    Some(u64::from_le_bytes(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_magic_then_version_one() {
        assert_eq!(&header_bytes(), b"CDRJ\x01\x00\x00\x00");
    }

    #[test]
    fn crc_mask_matches_the_leveldb_formula() {
        for crc in [0u32, 1, 0xdead_beef, u32::MAX, 0x8000_0000] {
            #[allow(clippy::manual_rotate)] // spelled out as the format describes it
            let expected = ((crc >> 15) | (crc << 17)).wrapping_add(0xa282_ead8);
            assert_eq!(mask_crc(crc), expected);
        }
        // CRC32C check value from RFC 3720 (iSCSI).
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn frame_layout_is_as_documented() {
        let prev = [7u8; 32];
        let mut out = vec![0xAA];
        let len = encode_frame(&mut out, 5, &prev, b"{\"a\":1}");
        assert_eq!(len, Some(47));
        let frame = &out[1..];
        assert_eq!(frame.len(), 8 + 47);
        assert_eq!(read_u32(frame, 0), Some(47));
        assert_eq!(read_u32(frame, 4), Some(body_crc(&frame[8..])));
        assert_eq!(read_u64(frame, 8), Some(5));
        assert_eq!(&frame[16..48], &prev);
        assert_eq!(&frame[48..], b"{\"a\":1}");
        assert_eq!(out[0], 0xAA, "bytes before the frame are kept");
    }

    #[test]
    fn oversized_payload_is_refused_without_touching_the_buffer() {
        let mut out = Vec::new();
        assert_eq!(
            encode_frame(&mut out, 0, &[0; 32], &vec![b'x'; MAX_RECORD + 1]),
            None
        );
        assert!(out.is_empty());
        assert!(encode_frame(&mut out, 0, &[0; 32], &vec![b'x'; MAX_RECORD]).is_some());
        assert_eq!(out.len(), MIN_FRAME + MAX_RECORD);
    }

    #[test]
    fn body_length_range_is_inclusive() {
        assert!(!body_len_in_range(39));
        assert!(body_len_in_range(40));
        assert!(body_len_in_range((BODY_FIXED + MAX_RECORD) as u32));
        assert!(!body_len_in_range((BODY_FIXED + MAX_RECORD + 1) as u32));
        assert!(!body_len_in_range(u32::MAX));
    }

    #[test]
    fn chain_hash_depends_on_every_input() {
        let base = chain_hash(&[1; 32], 3, 44, b"abcd");
        assert_ne!(base, chain_hash(&[2; 32], 3, 44, b"abcd"));
        assert_ne!(base, chain_hash(&[1; 32], 4, 44, b"abcd"));
        assert_ne!(base, chain_hash(&[1; 32], 3, 45, b"abcd"));
        assert_ne!(base, chain_hash(&[1; 32], 3, 44, b"abce"));
        assert_ne!(
            genesis_hash(&header_bytes()),
            genesis_hash(b"CDRJ\x02\x00\x00\x00")
        );
    }
}
