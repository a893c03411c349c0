//! Just enough of the tar format to find `toc.dat` in a tar-format pg_dump archive.
//!
//! A tar archive is a sequence of 512-byte header blocks, each followed by the member's data
//! padded to a multiple of 512 bytes, and ends with zero blocks. pg_dump writes `toc.dat`
//! first, but any order is accepted.

use std::io::{self, Read};

use super::archive::read_full;

/// The size of a tar block.
pub(super) const BLOCK: usize = 512;

/// How many members are looked at before giving up on finding `toc.dat`.
const MAX_MEMBERS: usize = 100_000;

/// Whether `block` is a tar header block: not all zeros, with a valid checksum.
pub(super) fn is_header(block: &[u8]) -> bool {
    block.len() == BLOCK && block.iter().any(|&b| b != 0) && checksum_ok(block)
}

fn checksum_ok(block: &[u8]) -> bool {
    let Some(stored) = octal(&block[148..156]) else {
        return false;
    };
    let mut unsigned: u64 = 0;
    let mut signed: i64 = 0;
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    stored == unsigned || i64::try_from(stored).is_ok_and(|s| s == signed)
}

/// An octal number field (NUL- or space-terminated, possibly space-padded).
fn octal(field: &[u8]) -> Option<u64> {
    let text: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|&b| b == b' ')
        .take_while(|&b| b != 0 && b != b' ')
        .collect();
    if text.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for b in text {
        if !(b'0'..=b'7').contains(&b) {
            return None;
        }
        v = v.checked_mul(8)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

/// The size field: octal, or base-256 (high bit set) for members over 8 GiB.
fn size(field: &[u8]) -> Option<u64> {
    if field[0] & 0x80 != 0 {
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        Some(v)
    } else {
        octal(field)
    }
}

fn name(block: &[u8]) -> String {
    let field = |range: std::ops::Range<usize>| {
        let raw = &block[range];
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        String::from_utf8_lossy(&raw[..end]).into_owned()
    };
    let name = field(0..100);
    let prefix = if &block[257..262] == b"ustar" {
        field(345..500)
    } else {
        String::new()
    };
    let full = if prefix.is_empty() {
        name
    } else {
        format!("{prefix}/{name}")
    };
    super::one_line(&full)
}

/// Walks the archive whose first header block is `first` (already read from `r`) to the
/// member called `wanted` (or ending in `/wanted`). On success `r` is positioned at the start
/// of the member's data and its size is returned.
pub(super) fn find_member<R: Read>(
    r: &mut R,
    first: &[u8; BLOCK],
    wanted: &str,
) -> Result<u64, String> {
    let mut block = *first;
    for _ in 0..MAX_MEMBERS {
        if block.iter().all(|&b| b == 0) {
            return Err(format!("the tar archive holds no {wanted}"));
        }
        if !checksum_ok(&block) {
            return Err("a tar header block is corrupt (bad checksum)".into());
        }
        let member = name(&block);
        let Some(len) = size(&block[124..136]) else {
            return Err(format!("the tar header of {member} has no valid size"));
        };
        let regular = matches!(block[156], b'0' | 0);
        let base = member.trim_start_matches("./");
        if regular && (base == wanted || base.ends_with(&format!("/{wanted}"))) {
            return Ok(len);
        }
        let padded = len.div_ceil(BLOCK as u64) * BLOCK as u64;
        let skipped = io::copy(&mut r.by_ref().take(padded), &mut io::sink()).unwrap_or(0);
        if skipped < padded {
            return Err(format!("the tar archive ends inside {member}"));
        }
        if read_full(r, &mut block) < BLOCK {
            return Err(format!("the tar archive ends early, before any {wanted}"));
        }
    }
    Err(format!(
        "no {wanted} among the first {MAX_MEMBERS} tar members"
    ))
}

#[cfg(test)]
pub(super) mod build {
    //! Writes ustar members, for tests.
    use super::BLOCK;

    /// A ustar header block for a regular file.
    pub fn header(name: &str, len: usize) -> [u8; BLOCK] {
        let mut h = [0u8; BLOCK];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..108].copy_from_slice(b"0000600\0");
        h[108..116].copy_from_slice(b"0000000\0");
        h[116..124].copy_from_slice(b"0000000\0");
        h[124..136].copy_from_slice(format!("{len:011o}\0").as_bytes());
        h[136..148].copy_from_slice(b"00000000000\0");
        h[156] = b'0';
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        h
    }

    /// A whole member: header and padded data.
    pub fn member(name: &str, data: &[u8]) -> Vec<u8> {
        let mut out = header(name, data.len()).to_vec();
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::build::member;
    use super::*;

    fn first_block(bytes: &[u8]) -> [u8; BLOCK] {
        let mut b = [0u8; BLOCK];
        b.copy_from_slice(&bytes[..BLOCK]);
        b
    }

    #[test]
    fn finds_toc_dat_after_other_members() {
        let mut tar = member("3377.dat", &[b'x'; 700]);
        tar.extend(member("toc.dat", b"PGDMP..."));
        tar.extend([0u8; 1024]);
        assert!(is_header(&tar[..BLOCK]));
        let mut r = &tar[BLOCK..];
        let len = find_member(&mut r, &first_block(&tar), "toc.dat").unwrap();
        assert_eq!(len, 8);
        assert!(r.starts_with(b"PGDMP..."));
    }

    #[test]
    fn reports_a_missing_member_or_a_cut_archive() {
        let mut tar = member("restore.sql", b"select 1;");
        tar.extend([0u8; 1024]);
        let mut r = &tar[BLOCK..];
        assert_eq!(
            find_member(&mut r, &first_block(&tar), "toc.dat").unwrap_err(),
            "the tar archive holds no toc.dat"
        );
        let tar = member("3377.dat", &[b'x'; 700]);
        let mut r = &tar[BLOCK..900];
        assert_eq!(
            find_member(&mut r, &first_block(&tar), "toc.dat").unwrap_err(),
            "the tar archive ends inside 3377.dat"
        );
    }

    #[test]
    fn a_flipped_byte_breaks_the_checksum() {
        let mut tar = member("toc.dat", b"PGDMP");
        tar[3] ^= 0x20;
        assert!(!is_header(&tar[..BLOCK]));
        assert!(!is_header(&[0u8; BLOCK]));
    }

    #[test]
    fn large_sizes_use_base_256() {
        let mut field = [0u8; 12];
        field[0] = 0x80;
        field[7] = 0x02; // 2 << 32
        assert_eq!(size(&field), Some(2 << 32));
        assert_eq!(size(b"00000001750\0"), Some(0o1750));
    }
}
