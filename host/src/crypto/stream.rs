//! Sealing a body on its way into IPFS and opening stored segments on the way out, one segment
//! at a time: memory stays at a segment or two, whatever the object's size.

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};

use super::segments::{SEALED, SEGMENT, SegmentRange, Segments};
use crate::ipfs::ByteStream;

fn io(e: super::CryptoError) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e)
}

/// The sealed segments of `plain`, which must be `plain_len` bytes long (the length is part of
/// the format: it says which segment is the last). A body of another length fails the stream.
pub fn seal(segments: Segments, plain_len: u64, plain: ByteStream) -> ByteStream {
    struct State {
        body: ByteStream,
        buf: BytesMut,
        index: u64,
        seen: u64,
        done: bool,
    }
    let state = State { body: plain, buf: BytesMut::new(), index: 0, seen: 0, done: false };
    Box::pin(futures::stream::try_unfold((segments, state), move |(segments, mut st)| async move {
        if st.done {
            return Ok(None);
        }
        // Fill a whole segment, or reach the end of the body.
        while st.buf.len() < SEGMENT {
            match st.body.next().await {
                Some(chunk) => {
                    let chunk = chunk?;
                    st.seen += chunk.len() as u64;
                    st.buf.extend_from_slice(&chunk);
                }
                None => break,
            }
        }
        if st.seen > plain_len {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "body longer than its declared length"));
        }
        let take = st.buf.len().min(SEGMENT);
        let segment = st.buf.split_to(take);
        let consumed = st.index * SEGMENT as u64 + take as u64;
        let last = consumed == plain_len;
        if !last && take < SEGMENT {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "body shorter than its declared length"));
        }
        let sealed = segments.seal(st.index, &segment).map_err(io)?;
        st.index += 1;
        st.done = last;
        Ok(Some((Bytes::from(sealed), (segments, st))))
    }))
}

/// The plaintext of `range` from `stored`, the stored bytes of its segments (as read from
/// `range.offset`, `range.length` bytes). A segment that does not authenticate, or stored bytes
/// that end early, fail the stream: it never yields bytes that were not sealed there.
pub fn open(segments: Segments, range: SegmentRange, stored: impl Stream<Item = std::io::Result<Bytes>> + Send + 'static) -> ByteStream {
    struct State<S> {
        stored: std::pin::Pin<Box<S>>,
        buf: BytesMut,
        index: u64,
        skip: u64,
        left: u64,
    }
    let st = State { stored: Box::pin(stored), buf: BytesMut::new(), index: range.first, skip: range.skip, left: range.take };
    let stored_end = range.offset + range.length;
    Box::pin(futures::stream::try_unfold((segments, st), move |(segments, mut st)| async move {
        if st.index > range.last {
            return Ok(None);
        }
        // The stored size of this segment: full, or what is left of the object.
        let start = st.index * SEALED as u64;
        let want = (SEALED as u64).min(stored_end - start) as usize;
        while st.buf.len() < want {
            match st.stored.next().await {
                Some(chunk) => st.buf.extend_from_slice(&chunk?),
                None => {
                    return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "encrypted object cut short"));
                }
            }
        }
        let sealed = st.buf.split_to(want);
        let plain = segments.open(st.index, &sealed).map_err(io)?;
        let from = usize::try_from(st.skip).unwrap_or(usize::MAX).min(plain.len());
        let n = usize::try_from(st.left).unwrap_or(usize::MAX).min(plain.len() - from);
        let out = Bytes::from(plain).slice(from..from + n);
        st.skip = 0;
        st.left -= n as u64;
        st.index += 1;
        Ok(Some((out, (segments, st))))
    }))
}

#[cfg(test)]
mod tests {
    use super::super::DataKey;
    use super::super::segments::{NONCE, sealed_len};
    use super::*;

    fn segs(len: u64) -> Segments {
        Segments::new(&DataKey::from_bytes([3; 32]), &[9; NONCE], len)
    }

    /// `data` as a body in pieces of `piece` bytes.
    fn body(data: &[u8], piece: usize) -> ByteStream {
        let pieces: Vec<std::io::Result<Bytes>> = data.chunks(piece.max(1)).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        Box::pin(futures::stream::iter(pieces))
    }

    async fn collect(s: ByteStream) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut s = s;
        while let Some(c) = s.next().await {
            out.extend_from_slice(&c?);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn bodies_of_any_shape_seal_and_open_whole_and_in_ranges() {
        for len in [0usize, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT + 17] {
            let plain: Vec<u8> = (0..len).map(|i| (i % 241) as u8).collect();
            let sealed = collect(seal(segs(len as u64), len as u64, body(&plain, 10_007))).await.unwrap();
            assert_eq!(sealed.len() as u64, sealed_len(len as u64), "len {len}");
            let whole = SegmentRange::of(len as u64, 0, None);
            let opened = collect(open(segs(len as u64), whole, body(&sealed, 4096))).await.unwrap();
            assert_eq!(opened, plain, "len {len}");
            if len > 2 {
                let (a, b) = (len / 3, len - 2);
                let r = SegmentRange::of(len as u64, a as u64, Some(b as u64));
                let part = &sealed[r.offset as usize..(r.offset + r.length) as usize];
                let opened = collect(open(segs(len as u64), r, body(part, 999))).await.unwrap();
                assert_eq!(opened, &plain[a..=b], "len {len} range {a}-{b}");
            }
        }
    }

    #[tokio::test]
    async fn a_body_of_another_length_fails() {
        let plain = vec![1u8; SEGMENT + 5];
        assert!(collect(seal(segs(SEGMENT as u64 + 6), SEGMENT as u64 + 6, body(&plain, 100))).await.is_err());
        assert!(collect(seal(segs(SEGMENT as u64 + 4), SEGMENT as u64 + 4, body(&plain, 100))).await.is_err());
    }

    #[tokio::test]
    async fn changed_or_cut_content_fails_the_read() {
        let len = 2 * SEGMENT + 3;
        let plain = vec![4u8; len];
        let sealed = collect(seal(segs(len as u64), len as u64, body(&plain, SEGMENT))).await.unwrap();
        let whole = SegmentRange::of(len as u64, 0, None);
        let mut flipped = sealed.clone();
        flipped[SEALED + 10] ^= 0x80;
        assert!(collect(open(segs(len as u64), whole, body(&flipped, 1000))).await.is_err());
        let cut = &sealed[..sealed.len() - 1];
        assert!(collect(open(segs(len as u64), whole, body(cut, 1000))).await.is_err());
        let mut swapped = sealed[SEALED..2 * SEALED].to_vec();
        swapped.extend_from_slice(&sealed[..SEALED]);
        swapped.extend_from_slice(&sealed[2 * SEALED..]);
        assert!(collect(open(segs(len as u64), whole, body(&swapped, 1000))).await.is_err());
    }
}
