//! The format of an encrypted object: its plaintext cut into segments of [`SEGMENT`] bytes, each
//! sealed with AES-256-GCM under the object's own data key, in the STREAM construction (Hoang,
//! Reyhanitabar, Rogaway and Vizár, "Online Authenticated-Encryption and its Nonce-Reuse
//! Misuse-Resistance") as the `aead` crate implements it ([`StreamBE32`]): the nonce of segment
//! `i` is the object's 7-byte nonce, `i` as a 32-bit big-endian counter, and a last-segment flag.
//!
//! Each segment is `SEGMENT` bytes of plaintext (the last one fewer, an empty object one empty
//! segment) followed by its 16-byte tag. A segment decrypts only at its own position and with the
//! right last-segment flag, under the object's own key, so a flipped bit, segments swapped or
//! moved, a truncation at a segment boundary, or segments of another object are all detected:
//! reading fails, it never returns other bytes. A range read decrypts only the segments it touches
//! ([`SegmentRange`]). The layout is the one MinIO's DARE format uses, without its headers: the
//! record of the object holds what a header would (the wrapped data key and the nonce).

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::stream::{NewStream, StreamBE32, StreamPrimitive};
use aes_gcm::aead::{KeyInit, Payload};

use super::{CryptoError, DataKey};

/// Plaintext bytes per segment.
pub const SEGMENT: usize = 64 * 1024;
/// Bytes the seal adds to each segment (the GCM tag).
pub const TAG: usize = 16;
/// Bytes of a sealed full segment.
pub const SEALED: usize = SEGMENT + TAG;
/// Bytes of the object nonce (the rest of the 12-byte GCM nonce is counter and flag).
pub const NONCE: usize = 7;

/// Segments an object of `plain_len` bytes has (at least one: an empty object is one empty segment).
pub fn segment_count(plain_len: u64) -> u64 {
    plain_len.div_ceil(SEGMENT as u64).max(1)
}

/// Stored size of an object of `plain_len` bytes.
pub fn sealed_len(plain_len: u64) -> u64 {
    plain_len + segment_count(plain_len) * TAG as u64
}

/// What a read of plaintext bytes `start..=end` needs of the stored object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentRange {
    /// First and last segment touched.
    pub first: u64,
    pub last: u64,
    /// The stored bytes of those segments: `offset`, `length`.
    pub offset: u64,
    pub length: u64,
    /// Plaintext bytes to drop from the front of the first segment, and to return in all.
    pub skip: u64,
    pub take: u64,
}

impl SegmentRange {
    /// The segments of plaintext bytes `start..=end` of an object of `plain_len` bytes (the
    /// caller has resolved the range against the size: `start <= end < plain_len`, or the whole
    /// of an empty object with `start = 0, end = None`).
    pub fn of(plain_len: u64, start: u64, end: Option<u64>) -> Self {
        let seg = SEGMENT as u64;
        let count = segment_count(plain_len);
        let end = end.unwrap_or(plain_len.saturating_sub(1)).min(plain_len.saturating_sub(1));
        let first = (start / seg).min(count - 1);
        let last = (end / seg).clamp(first, count - 1);
        let offset = first * SEALED as u64;
        let stop = ((last + 1) * SEALED as u64).min(sealed_len(plain_len));
        let take = if plain_len == 0 { 0 } else { end + 1 - start };
        Self { first, last, offset, length: stop - offset, skip: start - first * seg, take }
    }
}

/// Seals and opens the segments of one object.
pub struct Segments {
    stream: StreamBE32<Aes256Gcm>,
    count: u64,
}

impl Segments {
    /// The segments of an object of `plain_len` bytes under `key` and `nonce`.
    pub fn new(key: &DataKey, nonce: &[u8; NONCE], plain_len: u64) -> Self {
        let aead = Aes256Gcm::new(key.as_bytes().into());
        Self { stream: StreamBE32::from_aead(aead, nonce.into()), count: segment_count(plain_len) }
    }

    fn position(&self, index: u64) -> Result<(u32, bool), CryptoError> {
        let position = u32::try_from(index).map_err(|_| CryptoError::TooLarge)?;
        if index >= self.count {
            return Err(CryptoError::Corrupt(format!("segment {index} of an object of {} segments", self.count)));
        }
        Ok((position, index + 1 == self.count))
    }

    /// Segment `index` of the object, sealed.
    pub fn seal(&self, index: u64, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let (position, last) = self.position(index)?;
        self.stream
            .encrypt(position, last, Payload { msg: plaintext, aad: &[] })
            .map_err(|_| CryptoError::Corrupt("sealing a segment".into()))
    }

    /// The plaintext of sealed segment `index`; an error if it is not that segment of this object.
    pub fn open(&self, index: u64, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let (position, last) = self.position(index)?;
        let expected = if last { None } else { Some(SEALED) };
        if sealed.len() < TAG || expected.is_some_and(|n| sealed.len() != n) || sealed.len() > SEALED {
            return Err(CryptoError::Corrupt(format!("segment {index} has {} bytes", sealed.len())));
        }
        self.stream
            .decrypt(position, last, Payload { msg: sealed, aad: &[] })
            .map_err(|_| CryptoError::Corrupt(format!("segment {index} does not authenticate")))
    }
}

#[cfg(test)]
mod tests {
    use aes_gcm::aead::Aead;

    use super::*;

    const KEY: [u8; 32] = [0x42; 32];
    const OBJECT_NONCE: [u8; NONCE] = [1, 2, 3, 4, 5, 6, 7];

    fn segments(len: u64) -> Segments {
        Segments::new(&DataKey::from_bytes(KEY), &OBJECT_NONCE, len)
    }

    fn seal_all(plain: &[u8]) -> Vec<Vec<u8>> {
        let s = segments(plain.len() as u64);
        let chunks: Vec<&[u8]> = if plain.is_empty() { vec![&[]] } else { plain.chunks(SEGMENT).collect() };
        chunks.iter().enumerate().map(|(i, c)| s.seal(i as u64, c).unwrap()).collect()
    }

    #[test]
    fn each_segment_is_plain_aes_gcm_at_its_stream_nonce() {
        // Checked against the AEAD alone, independently of the STREAM implementation: nonce =
        // object nonce ‖ index (u32, big-endian) ‖ last flag.
        let plain: Vec<u8> = (0..SEGMENT + 10).map(|i| (i % 251) as u8).collect();
        let sealed = seal_all(&plain);
        let aead = Aes256Gcm::new((&KEY).into());
        for (i, (seg, chunk)) in sealed.iter().zip(plain.chunks(SEGMENT)).enumerate() {
            let mut nonce = [0u8; 12];
            nonce[..7].copy_from_slice(&OBJECT_NONCE);
            nonce[7..11].copy_from_slice(&(i as u32).to_be_bytes());
            nonce[11] = u8::from(i == 1);
            assert_eq!(seg, &aead.encrypt((&nonce).into(), &chunk[..]).unwrap());
        }
    }

    #[test]
    fn the_format_does_not_drift() {
        // A fixed vector: objects sealed today must open tomorrow.
        let sealed = seal_all(b"ipfs-s3");
        assert_eq!(hex::encode(&sealed[0]), KNOWN_VECTOR);
        assert_eq!(segments(7).open(0, &sealed[0]).unwrap(), b"ipfs-s3");
    }

    /// Key 0x42 × 32, nonce 01 02 03 04 05 06 07 ‖ 00000000 ‖ 01, plaintext "ipfs-s3": computed
    /// with OpenSSL's AES-256-GCM, an implementation independent of the one used here.
    const KNOWN_VECTOR: &str = "6aedcfec7026e5772232a4728937cb79402ae46ed11cee";

    #[test]
    fn sizes_and_counts() {
        assert_eq!((segment_count(0), sealed_len(0)), (1, 16));
        assert_eq!((segment_count(1), sealed_len(1)), (1, 17));
        assert_eq!(segment_count(SEGMENT as u64), 1);
        assert_eq!(segment_count(SEGMENT as u64 + 1), 2);
        assert_eq!(sealed_len(3 * SEGMENT as u64), 3 * SEALED as u64);
        let total: usize = seal_all(&vec![0u8; 2 * SEGMENT + 5]).iter().map(Vec::len).sum();
        assert_eq!(total as u64, sealed_len(2 * SEGMENT as u64 + 5));
    }

    #[test]
    fn ranges_touch_only_their_segments() {
        let seg = SEGMENT as u64;
        let len = 3 * seg + 100;
        let r = SegmentRange::of(len, 10, Some(20));
        assert_eq!((r.first, r.last, r.offset, r.length, r.skip, r.take), (0, 0, 0, SEALED as u64, 10, 11));
        let r = SegmentRange::of(len, seg - 1, Some(seg));
        assert_eq!((r.first, r.last, r.offset, r.length, r.skip, r.take), (0, 1, 0, 2 * SEALED as u64, seg - 1, 2));
        let r = SegmentRange::of(len, 3 * seg + 50, None);
        assert_eq!((r.first, r.last, r.offset, r.length, r.skip, r.take), (3, 3, 3 * SEALED as u64, 116, 50, 50));
        let r = SegmentRange::of(0, 0, None);
        assert_eq!((r.first, r.last, r.offset, r.length, r.take), (0, 0, 0, 16, 0));
        // Decrypting the chosen segments gives the bytes asked for.
        let plain: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
        let sealed: Vec<u8> = seal_all(&plain).concat();
        let r = SegmentRange::of(len, seg - 3, Some(2 * seg + 7));
        let s = segments(len);
        let stored = &sealed[r.offset as usize..(r.offset + r.length) as usize];
        let opened: Vec<u8> =
            stored.chunks(SEALED).enumerate().flat_map(|(i, c)| s.open(r.first + i as u64, c).unwrap()).collect();
        assert_eq!(&opened[r.skip as usize..(r.skip + r.take) as usize], &plain[(seg - 3) as usize..=(2 * seg + 7) as usize]);
    }

    #[test]
    fn tampering_reordering_truncation_and_other_keys_are_detected() {
        let plain = vec![9u8; 2 * SEGMENT + 1];
        let sealed = seal_all(&plain);
        let s = segments(plain.len() as u64);
        let mut flipped = sealed[1].clone();
        flipped[100] ^= 1;
        assert!(s.open(1, &flipped).is_err(), "a flipped bit");
        assert!(s.open(1, &sealed[0]).is_err(), "a segment moved");
        assert!(s.open(0, &sealed[0][..SEALED - 1]).is_err(), "a short segment");
        // Cut after segment 1: segment 1 is not the last one, so it does not open as such.
        assert!(segments(2 * SEGMENT as u64).open(1, &sealed[1]).is_err(), "truncated to two segments");
        assert!(s.open(3, &sealed[2]).is_err(), "past the end");
        let other = Segments::new(&DataKey::from_bytes([7; 32]), &OBJECT_NONCE, plain.len() as u64);
        assert!(other.open(0, &sealed[0]).is_err(), "another object's key");
        let other_nonce = Segments::new(&DataKey::from_bytes(KEY), &[0; NONCE], plain.len() as u64);
        assert!(other_nonce.open(0, &sealed[0]).is_err(), "another object's nonce");
        for (i, seg) in sealed.iter().enumerate() {
            assert_eq!(s.open(i as u64, seg).unwrap(), plain.chunks(SEGMENT).nth(i).unwrap());
        }
    }
}
