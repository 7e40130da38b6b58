//! Times the pieces of the table path (developer tool): table build and
//! per-scalar cost of `mul_batch` for each window width.

use poolvc_signer::batch::comb::CombTable;
use std::time::Instant;

fn main() {
    let mut h = blst::blst_p2::default();
    let dst = poolvc_signer::keys::ETH_DST;
    // SAFETY: live slices.
    unsafe { blst::blst_hash_to_g2(&mut h, b"m".as_ptr(), 1, dst.as_ptr(), dst.len(), std::ptr::null(), 0) };
    let scalars: Vec<[u8; 32]> = (0..1024u32)
        .map(|i| {
            let mut s = [0u8; 32];
            for (k, b) in s.iter_mut().enumerate() {
                *b = (i as usize * 131 + k * 17 + 7) as u8;
            }
            s[31] &= 0x3f;
            s
        })
        .collect();
    let refs: Vec<&[u8; 32]> = scalars.iter().collect();
    for w in 4..=8 {
        let t = Instant::now();
        let table = CombTable::new(&h, w);
        let build = t.elapsed();
        for lanes in [16usize, 64, 256] {
            let t = Instant::now();
            for chunk in refs.chunks(lanes) {
                std::hint::black_box(table.mul_batch(chunk));
            }
            let per = t.elapsed() / refs.len() as u32;
            println!("w={w} build={build:?} lanes={lanes} per-scalar={per:?}");
        }
    }
}
