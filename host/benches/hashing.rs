//! The digests every PutObject computes on its body, alone and together: MD5 (the ETag) and
//! CRC64NVME (S3's default checksum), over 64 MiB in the chunk sizes a body arrives in; and MD5 of
//! 16 uploads at once on the MD5 thread (`md5_lanes`), against RustCrypto's `md-5` on one stream.
//! Prints MiB/s; asserts nothing.
//!
//! `cargo bench -p ipfs-s3-host --bench hashing` (or `make bench-hashing`).

use std::time::Instant;

use ipfs_s3_common::record::ChecksumAlgorithm;
use bytes::Bytes;
use ipfs_s3_host::checksum::Hasher;
use ipfs_s3_host::md5_lanes::Lanes;
use md5::{Digest, Md5};

const MIB: usize = 1024 * 1024;
const TOTAL: usize = 64 * MIB;
const ROUNDS: usize = 5;

fn body() -> Vec<u8> {
    (0..TOTAL).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

fn report(name: &str, chunk: usize, best_secs: f64) {
    println!("{name:<28} chunks of {chunk:>6} B  {:8.1} MiB/s", (TOTAL / MIB) as f64 / best_secs);
}

fn rate(name: &str, chunk: usize, mut run: impl FnMut(&[u8])) {
    let data = body();
    let mut best = f64::MAX;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        for c in data.chunks(chunk) {
            run(c);
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    report(name, chunk, best);
}

/// 16 streams of `TOTAL / 16` bytes each, hashed together on the MD5 thread.
fn lanes(chunk: usize) {
    let data = Bytes::from(body());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().expect("runtime");
    let lanes = Lanes::global();
    let mut best = f64::MAX;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        rt.block_on(async {
            let streams = (0..16).map(|k| {
                let part = data.slice(k * TOTAL / 16..(k + 1) * TOTAL / 16);
                tokio::spawn(async move {
                    let mut s = lanes.open();
                    for at in (0..part.len()).step_by(chunk) {
                        if let Some(send) = s.update(part.slice(at..(at + chunk).min(part.len()))) {
                            send.await;
                        }
                    }
                    s.finish().await.expect("MD5 thread")
                })
            });
            for s in streams.collect::<Vec<_>>() {
                s.await.expect("stream");
            }
        });
        best = best.min(t.elapsed().as_secs_f64());
    }
    report("MD5, 16 streams on lanes", chunk, best);
}

fn main() {
    for chunk in [16 * 1024, 256 * 1024] {
        let mut reference = md5_reference::Md5::new();
        rate("MD5 (md-5, reference)", chunk, |c| reference.update(c));
        lanes(chunk);
        let mut md5 = Md5::new();
        rate("MD5", chunk, |c| md5.update(c));
        let mut crc = Hasher::new(ChecksumAlgorithm::Crc64nvme);
        rate("CRC64NVME", chunk, |c| crc.update(c));
        let (mut md5, mut crc) = (Md5::new(), Hasher::new(ChecksumAlgorithm::Crc64nvme));
        rate("MD5 + CRC64NVME in line", chunk, |c| {
            md5.update(c);
            crc.update(c);
        });
    }
}
