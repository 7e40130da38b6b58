//! Fixed-base scalar multiplication in G2 for one point `H = hash_to_g2(m)`
//! shared by many keys: signed-digit windows over a precomputed table, with
//! additions only and a constant-time table scan.
//!
//! Table: for window `i` (of `n = 255 / w + 1`) and `j` in `1..=2^(w-1)`,
//! `T[i][j] = j * 2^(w*i) * H`, affine. A scalar `k < r < 2^255` is recoded
//! into digits `d_i` in `[-2^(w-1), 2^(w-1)]` with `k = Σ d_i 2^(w*i)`; then
//! `k*H = Σ sign(d_i) * T[i][|d_i|]` (with `T[i][0]` = infinity).
//!
//! Constant time (checked under valgrind memcheck in the test suite, with the
//! scalar marked undefined):
//! - recoding uses arithmetic masks only, no branch on a digit;
//! - selection reads every entry of the window and keeps the wanted one with a
//!   masked XOR; no address depends on a digit;
//! - negation is blst's constant-time `blst_fp2_cneg`; the addition is blst's
//!   `blst_p2_add_or_double_affine`, which is branch-free (infinity and
//!   doubling cases are handled by masked selects).

use blst::{blst_fp2_cneg, blst_p2, blst_p2_add_or_double_affine, blst_p2_affine, blst_p2_double};
use rayon::prelude::*;

/// Default window width, chosen by measurement on a 2-core x86-64 machine (see
/// `poolvc bench signing` and the `comb_window` criterion bench).
pub const DEFAULT_WINDOW: usize = 7;

const WORDS: usize = std::mem::size_of::<blst_p2_affine>() / 8;

/// The precomputed table for one base point.
pub struct CombTable {
    w: usize,
    windows: usize,
    half: usize,
    entries: Vec<blst_p2_affine>,
}

impl std::fmt::Debug for CombTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CombTable").field("w", &self.w).field("windows", &self.windows).finish()
    }
}

impl CombTable {
    /// Builds the table for `h` with window width `w` (2..=8), windows in
    /// parallel on the current rayon pool.
    pub fn new(h: &blst_p2, w: usize) -> Self {
        let w = w.clamp(2, 8);
        let windows = 255 / w + 1;
        let half = 1usize << (w - 1);
        // Bases 2^(w*i) * H: sequential doublings (public data).
        let mut bases = Vec::with_capacity(windows);
        let mut b = *h;
        for _ in 0..windows {
            bases.push(b);
            for _ in 0..w {
                let mut d = blst_p2::default();
                // SAFETY: valid points owned here.
                unsafe { blst_p2_double(&mut d, &b) };
                b = d;
            }
        }
        let mut bases_aff = vec![blst_p2_affine::default(); windows];
        let ptrs: Vec<*const blst_p2> = bases.iter().map(|p| p as *const blst_p2).collect();
        // SAFETY: `bases_aff` has room for `windows` points; `ptrs` holds that many valid pointers.
        unsafe { blst::blst_p2s_to_affine(bases_aff.as_mut_ptr(), ptrs.as_ptr(), windows) };

        // Entries j*base for j = 1..=half, by affine additions with one shared
        // inversion per step across a chunk of windows (public data: the
        // exceptional cases j*B = +-B cannot occur for 2 <= j <= half < r).
        let mut entries = vec![blst_p2_affine::default(); windows * half];
        let threads = rayon::current_num_threads().max(1);
        let per_chunk = windows.div_ceil(threads);
        entries.par_chunks_mut(per_chunk * half).zip(bases_aff.par_chunks(per_chunk)).for_each(|(out, bases)| {
            let m = bases.len();
            for (i, b) in bases.iter().enumerate() {
                out[i * half] = *b;
            }
            let mut num = vec![Fp2::default(); m];
            let mut den = vec![Fp2::default(); m];
            let mut prefix = vec![Fp2::default(); m];
            for j in 1..half {
                for i in 0..m {
                    let (p, q) = (&out[i * half + j - 1], &bases[i]);
                    if j == 1 {
                        let x2 = fp2_sqr(&p.x);
                        num[i] = fp2_add(&fp2_add(&x2, &x2), &x2);
                        den[i] = fp2_add(&p.y, &p.y);
                    } else {
                        num[i] = fp2_sub(&q.y, &p.y);
                        den[i] = fp2_sub(&q.x, &p.x);
                    }
                    prefix[i] = if i == 0 { den[0] } else { fp2_mul(&prefix[i - 1], &den[i]) };
                }
                let mut inv = fp2_inverse(&prefix[m - 1]);
                for i in (0..m).rev() {
                    let inv_i = if i == 0 { inv } else { fp2_mul(&inv, &prefix[i - 1]) };
                    inv = fp2_mul(&inv, &den[i]);
                    let (p, q) = (out[i * half + j - 1], bases[i]);
                    let lambda = fp2_mul(&num[i], &inv_i);
                    let x3 = fp2_sub(&fp2_sub(&fp2_sqr(&lambda), &p.x), &q.x);
                    let y3 = fp2_sub(&fp2_mul(&lambda, &fp2_sub(&p.x, &x3)), &p.y);
                    out[i * half + j] = blst_p2_affine { x: x3, y: y3 };
                }
            }
        });
        Self { w, windows, half, entries }
    }

    /// Window width.
    pub fn window(&self) -> usize {
        self.w
    }

    /// Number of windows (digits per scalar).
    pub fn windows(&self) -> usize {
        self.windows
    }

    /// Recodes `scalar_le` into signed digits, constant time: `out[i]` gets
    /// `|d_i| | (neg_i << 8)`. `out.len()` must be `self.windows()`.
    pub fn recode(&self, scalar_le: &[u8; 32], out: &mut [u64]) {
        let mut limbs = [0u64; 4];
        for (i, l) in limbs.iter_mut().enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(&scalar_le[8 * i..8 * i + 8]);
            *l = u64::from_le_bytes(b);
        }
        let mask_w = (1u64 << self.w) - 1;
        let half = self.half as u64;
        let mut carry = 0u64;
        for (i, o) in out.iter_mut().enumerate().take(self.windows) {
            // Window bits at public position i*w.
            let pos = i * self.w;
            let (word, shift) = (pos / 64, pos % 64);
            let mut bits = if word < 4 { limbs[word] >> shift } else { 0 };
            if shift + self.w > 64 && word + 1 < 4 {
                bits |= limbs[word + 1] << (64 - shift);
            }
            let v = (bits & mask_w) + carry; // 0..=2^w
                                             // neg = 1 iff v > half (the subtraction wraps, setting the top bit).
            let neg = half.wrapping_sub(v) >> 63;
            let neg_mask = 0u64.wrapping_sub(neg);
            let abs = v ^ ((v ^ (1u64 << self.w).wrapping_sub(v)) & neg_mask);
            carry = neg;
            *o = abs | (neg << 8);
        }
        wipe(&mut limbs);
    }

    /// `sign * T[i][abs]` into `out` (infinity, all zero, for `abs == 0`), in constant time.
    pub fn select_signed(&self, i: usize, digit: u64, out: &mut blst_p2_affine) {
        select_ct(&self.entries[i * self.half..(i + 1) * self.half], digit & 0xff, out);
        // SAFETY: `out.y` is a valid field element; in-place cneg is allowed by blst.
        unsafe {
            let y: *mut blst::blst_fp2 = &mut out.y;
            blst_fp2_cneg(y, y, std::hint::black_box(digit >> 8) != 0);
        }
    }

    /// `k * H` for the little-endian scalar `k < 2^255`, in constant time
    /// (projective additions; the reference path, see [`Self::mul_batch`]).
    pub fn mul(&self, scalar_le: &[u8; 32]) -> blst_p2 {
        let mut digits = [0u64; 128];
        self.recode(scalar_le, &mut digits[..self.windows]);
        let mut acc = blst_p2::default(); // infinity (Z = 0)
        let mut sel = blst_p2_affine::default();
        for (i, d) in digits.iter().enumerate().take(self.windows) {
            self.select_signed(i, *d, &mut sel);
            let mut r = blst_p2::default();
            // SAFETY: valid points owned here.
            unsafe { blst_p2_add_or_double_affine(&mut r, &acc, &sel) };
            acc = r;
        }
        wipe(&mut sel);
        digits.iter_mut().for_each(wipe);
        acc
    }

    /// `k_j * H` for every scalar, in affine form, in constant time, using
    /// affine additions with one shared field inversion per window across the
    /// batch (Montgomery's trick): about half the field work of projective
    /// mixed additions. Exceptional cases (infinity on either side, doubling,
    /// `P = -Q`) are handled by masked selects, never by branches.
    pub fn mul_batch(&self, scalars: &[&[u8; 32]]) -> Vec<blst_p2_affine> {
        let n = scalars.len();
        let nw = self.windows;
        let mut digits = vec![0u64; n * nw];
        for (k, d) in scalars.iter().zip(digits.chunks_mut(nw)) {
            self.recode(k, d);
        }
        let mut acc = vec![blst_p2_affine::default(); n];
        let mut acc_inf = vec![u64::MAX; n];
        let mut sel = vec![blst_p2_affine::default(); n];
        let mut num = vec![Fp2::default(); n];
        let mut den = vec![Fp2::default(); n];
        let mut prefix = vec![Fp2::default(); n];
        let one = fp2_one();
        // Window 0: the accumulator is infinity, so the sum is the selection.
        for l in 0..n {
            self.select_signed(0, digits[l * nw], &mut acc[l]);
            acc_inf[l] = (digits[l * nw] & 0xff).wrapping_sub(1) >> 63 & 1;
            acc_inf[l] = 0u64.wrapping_sub(acc_inf[l]);
        }
        for i in 1..nw {
            // P = +-Q needs |k_low| + |d_i| 2^(w i) >= r > 2^254, with
            // |k_low| < 2^(w i) and |d_i| <= 2^(w-1): impossible unless
            // w*i + w >= 254, whatever the scalar. Only those top windows pay
            // for the doubling-aware formula; the choice depends on i alone.
            let exceptional = self.w * i + self.w >= 254;
            for l in 0..n {
                self.select_signed(i, digits[l * nw + i], &mut sel[l]);
                let (p, q) = (&acc[l], &sel[l]);
                let num_a = fp2_sub(&q.y, &p.y);
                let den_a = fp2_sub(&q.x, &p.x);
                let d = if exceptional {
                    // Doubling: (3 x1^2) / (2 y1); addition: (y2 - y1) / (x2 - x1).
                    let x_eq = fp2_eq(&p.x, &q.x);
                    let x1sq = fp2_sqr(&p.x);
                    let num_d = fp2_add(&fp2_add(&x1sq, &x1sq), &x1sq);
                    let den_d = fp2_add(&p.y, &p.y);
                    num[l] = fp2_select(x_eq, &num_d, &num_a);
                    fp2_select(x_eq, &den_d, &den_a)
                } else {
                    num[l] = num_a;
                    den_a
                };
                // A zero denominator only arises in lanes whose result is
                // taken from a select below; 1 keeps the shared product invertible.
                den[l] = fp2_select(fp2_is_zero(&d), &one, &d);
                prefix[l] = if l == 0 { den[0] } else { fp2_mul(&prefix[l - 1], &den[l]) };
            }
            let mut inv = blinded_inverse(&prefix[n - 1]);
            for l in (0..n).rev() {
                let inv_l = if l == 0 { inv } else { fp2_mul(&inv, &prefix[l - 1]) };
                inv = fp2_mul(&inv, &den[l]);
                let (p, q) = (acc[l], sel[l]);
                let lambda = fp2_mul(&num[l], &inv_l);
                let x3 = fp2_sub(&fp2_sub(&fp2_sqr(&lambda), &p.x), &q.x);
                let y3 = fp2_sub(&fp2_mul(&lambda, &fp2_sub(&p.x, &x3)), &p.y);
                let p_inf = acc_inf[l];
                let q_inf = fp2_is_zero(&q.x) & fp2_is_zero(&q.y);
                let (mut rx, mut ry, mut rinf) = (x3, y3, 0u64);
                if exceptional {
                    let opposite = fp2_eq(&p.x, &q.x) & !fp2_eq(&p.y, &q.y) & !p_inf & !q_inf;
                    let zero = Fp2::default();
                    rx = fp2_select(opposite, &zero, &rx);
                    ry = fp2_select(opposite, &zero, &ry);
                    rinf = opposite;
                }
                // Priority: P = inf -> Q; Q = inf -> P; (P = -Q -> inf); else the sum.
                rx = fp2_select(q_inf, &p.x, &rx);
                ry = fp2_select(q_inf, &p.y, &ry);
                rinf = (q_inf & p_inf) | (!q_inf & rinf);
                rx = fp2_select(p_inf, &q.x, &rx);
                ry = fp2_select(p_inf, &q.y, &ry);
                rinf = (p_inf & q_inf) | (!p_inf & rinf);
                acc[l] = blst_p2_affine { x: rx, y: ry };
                acc_inf[l] = rinf;
            }
        }
        for v in [&mut num, &mut den, &mut prefix] {
            v.iter_mut().for_each(wipe);
        }
        sel.iter_mut().for_each(wipe);
        digits.iter_mut().for_each(wipe);
        acc
    }
}

type Fp2 = blst::blst_fp2;

fn fp2_one() -> Fp2 {
    let mut one = Fp2::default();
    let raw: [u64; 6] = [1, 0, 0, 0, 0, 0];
    // SAFETY: converts the integer 1 into blst's Montgomery form; live buffers.
    unsafe { blst::blst_fp_from_uint64(&mut one.fp[0], raw.as_ptr()) };
    one
}

#[inline]
fn fp2_add(a: &Fp2, b: &Fp2) -> Fp2 {
    let mut r = Fp2::default();
    // SAFETY: valid field elements.
    unsafe { blst::blst_fp2_add(&mut r, a, b) };
    r
}

#[inline]
fn fp2_sub(a: &Fp2, b: &Fp2) -> Fp2 {
    let mut r = Fp2::default();
    // SAFETY: valid field elements.
    unsafe { blst::blst_fp2_sub(&mut r, a, b) };
    r
}

#[inline]
fn fp2_mul(a: &Fp2, b: &Fp2) -> Fp2 {
    let mut r = Fp2::default();
    // SAFETY: valid field elements.
    unsafe { blst::blst_fp2_mul(&mut r, a, b) };
    r
}

#[inline]
fn fp2_sqr(a: &Fp2) -> Fp2 {
    let mut r = Fp2::default();
    // SAFETY: valid field element.
    unsafe { blst::blst_fp2_sqr(&mut r, a) };
    r
}

/// A uniformly random non-zero element of Fp2 (both halves below 2^376 < p).
fn random_fp2() -> Fp2 {
    use rand::RngCore;
    let mut rng = rand::thread_rng();
    loop {
        let mut r = Fp2::default();
        for k in 0..2 {
            let mut be = [0u8; 48];
            rng.fill_bytes(&mut be[1..]);
            // SAFETY: 48-byte big-endian input below p; output owned here.
            unsafe { blst::blst_fp_from_bendian(&mut r.fp[k], be.as_ptr()) };
        }
        if fp2_is_zero(&r) == 0 {
            return r;
        }
    }
}

/// `1/x` through a random blinding factor: `(x*rho)^-1 * rho`. The value
/// inverted is uniformly random and independent of `x`, so it carries no
/// secret; it is declassified for the valgrind constant-time check, whose
/// memcheck would otherwise flag blst's always-taken self-check branch in
/// `reciprocal_fp` (it verifies `inv * x == 1`).
fn blinded_inverse(x: &Fp2) -> Fp2 {
    let rho = random_fp2();
    let y = fp2_mul(x, &rho);
    super::valgrind::mark_public(&y);
    fp2_mul(&fp2_inverse(&y), &rho)
}

/// Constant-time inverse (blst's `reciprocal`; zero maps to zero).
fn fp2_inverse(a: &Fp2) -> Fp2 {
    let mut r = Fp2::default();
    // SAFETY: valid field element.
    unsafe { blst::blst_fp2_inverse(&mut r, a) };
    r
}

#[inline]
fn limbs(a: &Fp2) -> [u64; 12] {
    let mut out = [0u64; 12];
    out[..6].copy_from_slice(&a.fp[0].l);
    out[6..].copy_from_slice(&a.fp[1].l);
    out
}

/// All-ones if `a == 0`, else zero; arithmetic only.
#[inline]
fn fp2_is_zero(a: &Fp2) -> u64 {
    let acc = limbs(a).iter().fold(0u64, |acc, l| acc | l);
    std::hint::black_box(((acc | acc.wrapping_neg()) >> 63).wrapping_sub(1))
}

/// All-ones if `a == b` (both fully reduced, as blst keeps them), else zero.
#[inline]
fn fp2_eq(a: &Fp2, b: &Fp2) -> u64 {
    let (la, lb) = (limbs(a), limbs(b));
    let acc = la.iter().zip(lb.iter()).fold(0u64, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(((acc | acc.wrapping_neg()) >> 63).wrapping_sub(1))
}

/// `mask ? a : b` for an all-ones/all-zero mask.
#[inline]
fn fp2_select(mask: u64, a: &Fp2, b: &Fp2) -> Fp2 {
    let mut r = *b;
    for k in 0..2 {
        for j in 0..6 {
            r.fp[k].l[j] = b.fp[k].l[j] ^ ((a.fp[k].l[j] ^ b.fp[k].l[j]) & mask);
        }
    }
    r
}

/// Copies `entries[abs - 1]` into `out`, or infinity (all zero) when `abs == 0`,
/// reading every entry and masking, so neither a branch nor an address depends
/// on `abs`.
fn select_ct(entries: &[blst_p2_affine], abs: u64, out: &mut blst_p2_affine) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe { select_ct_avx2(entries, abs, out) };
        }
    }
    select_ct_generic(entries, abs, out)
}

/// The same scan with AVX2: the mask comes from a SIMD compare (`vpcmpeqq`,
/// no branch), and the 192-byte entry is ANDed and ORed in six 256-bit lanes
/// kept in registers. Same access pattern: every entry, in order.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn select_ct_avx2(entries: &[blst_p2_affine], abs: u64, out: &mut blst_p2_affine) {
    use std::arch::x86_64::*;
    const LANES256: usize = std::mem::size_of::<blst_p2_affine>() / 32;
    let mut acc = [_mm256_setzero_si256(); LANES256];
    let target = _mm256_set1_epi64x(abs as i64);
    for (j, e) in entries.iter().enumerate() {
        let mask = _mm256_cmpeq_epi64(_mm256_set1_epi64x(j as i64 + 1), target);
        let p = e as *const blst_p2_affine as *const __m256i;
        for (k, a) in acc.iter_mut().enumerate() {
            // SAFETY: `p` points at 192 readable bytes = LANES256 unaligned 32-byte loads.
            *a = _mm256_or_si256(*a, _mm256_and_si256(unsafe { _mm256_loadu_si256(p.add(k)) }, mask));
        }
    }
    let o = out as *mut blst_p2_affine as *mut __m256i;
    for (k, a) in acc.iter().enumerate() {
        // SAFETY: `out` is 192 writable bytes.
        unsafe { _mm256_storeu_si256(o.add(k), *a) };
    }
}

#[inline(always)]
fn select_ct_generic(entries: &[blst_p2_affine], abs: u64, out: &mut blst_p2_affine) {
    let mut acc = [0u64; WORDS];
    for (j, e) in entries.iter().enumerate() {
        let x = (j as u64 + 1) ^ abs;
        // all-ones iff x == 0, from arithmetic only.
        let mask = std::hint::black_box(((x | x.wrapping_neg()) >> 63).wrapping_sub(1));
        // SAFETY: blst_p2_affine is plain data of WORDS u64 words (192 bytes).
        let words: &[u64; WORDS] = unsafe { &*(e as *const blst_p2_affine as *const [u64; WORDS]) };
        for (a, w) in acc.iter_mut().zip(words.iter()) {
            *a |= w & mask;
        }
    }
    // SAFETY: as above, `out` is plain data of the same size.
    let dst: &mut [u64; WORDS] = unsafe { &mut *(out as *mut blst_p2_affine as *mut [u64; WORDS]) };
    *dst = acc;
    wipe(&mut acc);
}

/// Overwrites `v` with zeros in a way the compiler keeps.
fn wipe<T: Default>(v: &mut T) {
    // SAFETY: `v` is a valid, exclusive reference.
    unsafe { std::ptr::write_volatile(v, T::default()) };
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(msg: &[u8]) -> blst_p2 {
        let mut h = blst_p2::default();
        let dst = crate::keys::ETH_DST;
        // SAFETY: live slices.
        unsafe { blst::blst_hash_to_g2(&mut h, msg.as_ptr(), msg.len(), dst.as_ptr(), dst.len(), std::ptr::null(), 0) };
        h
    }

    fn reference(h: &blst_p2, k: &[u8; 32]) -> blst_p2 {
        let mut r = blst_p2::default();
        // SAFETY: live data; 255 bits of a 32-byte scalar.
        unsafe { blst::blst_p2_mult(&mut r, h, k.as_ptr(), 256) };
        r
    }

    #[test]
    fn matches_blst_mult_for_every_window() {
        let h = hash(b"comb");
        let scalars: Vec<[u8; 32]> = vec![
            [0u8; 32],
            {
                let mut s = [0u8; 32];
                s[0] = 1;
                s
            },
            {
                let mut s = [0xffu8; 32];
                s[31] = 0x3f;
                s
            },
            {
                let mut s = [0x55u8; 32];
                s[31] = 0x73;
                s
            },
        ];
        for w in 2..=8 {
            let t = CombTable::new(&h, w);
            for k in &scalars {
                let (a, b) = (t.mul(k), reference(&h, k));
                // SAFETY: valid points.
                assert!(unsafe { blst::blst_p2_is_equal(&a, &b) }, "w={w}");
            }
            let refs: Vec<&[u8; 32]> = scalars.iter().collect();
            for (k, a) in scalars.iter().zip(t.mul_batch(&refs)) {
                let mut b = blst_p2_affine::default();
                // SAFETY: valid points.
                unsafe { blst::blst_p2_to_affine(&mut b, &reference(&h, k)) };
                assert_eq!(limbs(&a.x), limbs(&b.x), "batch w={w}");
                assert_eq!(limbs(&a.y), limbs(&b.y), "batch w={w}");
            }
        }
    }
}
