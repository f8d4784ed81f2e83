//! The digests every PutObject computes on its body, alone and together: MD5 (the ETag) and
//! CRC64NVME (S3's default checksum), over 64 MiB in the chunk sizes a body arrives in. Prints
//! MiB/s; asserts nothing.
//!
//! `cargo bench -p ipfs-s3-host --bench hashing` (or `make bench-hashing`).

use std::time::Instant;

use ipfs_s3_common::record::ChecksumAlgorithm;
use ipfs_s3_host::checksum::Hasher;
use md5::{Digest, Md5};

const MIB: usize = 1024 * 1024;
const TOTAL: usize = 64 * MIB;
const ROUNDS: usize = 5;

fn rate(name: &str, chunk: usize, mut run: impl FnMut(&[u8])) {
    let data: Vec<u8> = (0..TOTAL).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let mut best = f64::MAX;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        for c in data.chunks(chunk) {
            run(c);
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("{name:<28} chunks of {:>6} B  {:8.1} MiB/s", chunk, (TOTAL / MIB) as f64 / best);
}

fn main() {
    for chunk in [16 * 1024, 256 * 1024] {
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
