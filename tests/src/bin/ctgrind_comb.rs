//! Constant-time check target, run under valgrind memcheck by
//! `tests/constant_time.rs`: the secret scalar is marked undefined, so any
//! branch or memory address that depends on it is reported as an error.
//!
//! `ctgrind_comb ct`    the engine's table path (recode, scan, cneg, additions)
//! `ctgrind_comb leaky` a deliberately leaky lookup (negative control)

use poolvc_signer::batch::comb::{CombTable, DEFAULT_WINDOW};
use poolvc_signer::batch::valgrind::{mark_public, mark_secret};

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "ct".into());
    let mut h = blst::blst_p2::default();
    let dst = poolvc_signer::keys::ETH_DST;
    // SAFETY: live slices; output owned here.
    unsafe { blst::blst_hash_to_g2(&mut h, b"ct".as_ptr(), 2, dst.as_ptr(), dst.len(), std::ptr::null(), 0) };
    let table = CombTable::new(&h, DEFAULT_WINDOW);

    let mut scalars = [[0u8; 32]; 3];
    for (i, s) in scalars.iter_mut().enumerate() {
        for (k, b) in s.iter_mut().enumerate() {
            *b = (i * 97 + k * 31 + 5) as u8;
        }
        s[31] &= 0x3f;
    }
    // Expected results, computed before the scalars become "secret".
    let expected: Vec<blst::blst_p2> = scalars
        .iter()
        .map(|k| {
            let mut r = blst::blst_p2::default();
            // SAFETY: valid point and 32-byte scalar.
            unsafe { blst::blst_p2_mult(&mut r, &h, k.as_ptr(), 255) };
            r
        })
        .collect();

    for s in &scalars {
        mark_secret(s);
    }
    match mode.as_str() {
        "ct" => {
            let single = table.mul(&scalars[0]);
            let refs: Vec<&[u8; 32]> = scalars.iter().collect();
            let batch = table.mul_batch(&refs);
            mark_public(&single);
            mark_public(batch.as_slice());
            // SAFETY: valid points.
            let ok_single = unsafe { blst::blst_p2_is_equal(&single, &expected[0]) };
            let ok_batch = batch.iter().zip(&expected).all(|(a, e)| {
                let mut ea = blst::blst_p2_affine::default();
                // SAFETY: valid points.
                unsafe {
                    blst::blst_p2_to_affine(&mut ea, e);
                    blst::blst_p2_affine_is_equal(a, &ea)
                }
            });
            if !(ok_single && ok_batch) {
                eprintln!("wrong result");
                std::process::exit(3);
            }
            println!("ct ok");
        }
        "leaky" => {
            // Index a table by a secret nibble and branch on a secret bit.
            let lookup = [1u64, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, 1597];
            let mut acc = 0u64;
            for b in scalars[0].iter() {
                acc = acc.wrapping_add(lookup[(*b & 0x0f) as usize]);
                if b & 0x80 != 0 {
                    acc ^= 0x55;
                }
            }
            mark_public(&acc);
            println!("leaky {acc}");
        }
        other => {
            eprintln!("unknown mode {other}");
            std::process::exit(2);
        }
    }
}
