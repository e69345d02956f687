//! Dense f32 kernels (dot, axpy, row-matrix × vector) with runtime CPU dispatch.
//!
//! Shipped binaries target baseline x86-64; on CPUs with AVX2+FMA the hot loops run through
//! `#[target_feature]` copies of the same generic code. Hot callers pick the [`Kernels`]
//! implementation once (per chunk of work) and stay monomorphic inside it.

/// The primitive operations that hot loops are written against.
pub trait Kernels: Copy + Send + Sync {
    /// `a · b` over the common length (callers pass equal lengths).
    fn dot(self, a: &[f32], b: &[f32]) -> f32;
    /// `y += alpha · x`.
    fn axpy(self, alpha: f32, x: &[f32], y: &mut [f32]);
    /// Four dot products against one shared vector: `[a[0]·b, a[1]·b, a[2]·b, a[3]·b]`.
    /// Sharing the loads of `b` doubles throughput over four separate calls.
    fn dot4(self, a: [&[f32]; 4], b: &[f32]) -> [f32; 4];
    /// `y += Σⱼ alpha[j] · x[j]`: four axpys with one load/store of `y`.
    fn axpy4(self, alpha: [f32; 4], x: [&[f32]; 4], y: &mut [f32]);
    /// Hints the CPU to bring `data` into cache (rows that a gather will read soon).
    #[inline(always)]
    fn prefetch(self, data: &[f32]) {
        prefetch_lines(data);
    }
    /// [`Kernels::dot4`] over rows stored as IEEE half floats ([`to_f16`]).
    fn dot4_h(self, a: [&[u16]; 4], b: &[f32]) -> [f32; 4];
    /// [`Kernels::axpy4`] over rows stored as IEEE half floats.
    fn axpy4_h(self, alpha: [f32; 4], x: [&[u16]; 4], y: &mut [f32]);
    /// `a · b` for a row stored as IEEE half floats.
    #[inline(always)]
    fn dot_h(self, a: &[u16], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(&h, &v)| f16_to_f32(h) * v).sum()
    }
    /// `y += alpha · x` for a row stored as IEEE half floats.
    #[inline(always)]
    fn axpy_h(self, alpha: f32, x: &[u16], y: &mut [f32]) {
        for (yi, &h) in y.iter_mut().zip(x) {
            *yi += alpha * f16_to_f32(h);
        }
    }
    /// `dst = src` rounded to IEEE half floats (to nearest, ties to even).
    #[inline(always)]
    fn to_f16(self, src: &[f32], dst: &mut [u16]) {
        for (d, &v) in dst.iter_mut().zip(src) {
            *d = f32_to_f16(v);
        }
    }
    /// `dst = src` for a row stored as IEEE half floats (exact).
    #[inline(always)]
    fn widen_f16(self, src: &[u16], dst: &mut [f32]) {
        for (d, &h) in dst.iter_mut().zip(src) {
            *d = f16_to_f32(h);
        }
    }
}

/// The element types factor rows are gathered as: `f32`, or IEEE half floats (`u16` bits, half
/// the bytes) for the [`Kernels`] `_h` operations.
pub trait Element: Copy + Default + Send + Sync {
    /// [`Kernels::dot4`] for rows of this type.
    fn dot4<K: Kernels>(kern: K, a: [&[Self]; 4], b: &[f32]) -> [f32; 4];
    /// [`Kernels::axpy4`] for rows of this type.
    fn axpy4<K: Kernels>(kern: K, alpha: [f32; 4], x: [&[Self]; 4], y: &mut [f32]);
    /// [`Kernels::dot`] for a row of this type.
    fn dot<K: Kernels>(kern: K, a: &[Self], b: &[f32]) -> f32;
    /// [`Kernels::axpy`] for a row of this type.
    fn axpy<K: Kernels>(kern: K, alpha: f32, x: &[Self], y: &mut [f32]);
    /// `dst = src` as f32 (exact).
    fn widen<K: Kernels>(kern: K, src: &[Self], dst: &mut [f32]);
}

impl Element for f32 {
    #[inline(always)]
    fn dot4<K: Kernels>(kern: K, a: [&[f32]; 4], b: &[f32]) -> [f32; 4] {
        kern.dot4(a, b)
    }
    #[inline(always)]
    fn axpy4<K: Kernels>(kern: K, alpha: [f32; 4], x: [&[f32]; 4], y: &mut [f32]) {
        kern.axpy4(alpha, x, y)
    }
    #[inline(always)]
    fn dot<K: Kernels>(kern: K, a: &[f32], b: &[f32]) -> f32 {
        kern.dot(a, b)
    }
    #[inline(always)]
    fn axpy<K: Kernels>(kern: K, alpha: f32, x: &[f32], y: &mut [f32]) {
        kern.axpy(alpha, x, y)
    }
    #[inline(always)]
    fn widen<K: Kernels>(_: K, src: &[f32], dst: &mut [f32]) {
        dst.copy_from_slice(src)
    }
}

impl Element for u16 {
    #[inline(always)]
    fn dot4<K: Kernels>(kern: K, a: [&[u16]; 4], b: &[f32]) -> [f32; 4] {
        kern.dot4_h(a, b)
    }
    #[inline(always)]
    fn axpy4<K: Kernels>(kern: K, alpha: [f32; 4], x: [&[u16]; 4], y: &mut [f32]) {
        kern.axpy4_h(alpha, x, y)
    }
    #[inline(always)]
    fn dot<K: Kernels>(kern: K, a: &[u16], b: &[f32]) -> f32 {
        kern.dot_h(a, b)
    }
    #[inline(always)]
    fn axpy<K: Kernels>(kern: K, alpha: f32, x: &[u16], y: &mut [f32]) {
        kern.axpy_h(alpha, x, y)
    }
    #[inline(always)]
    fn widen<K: Kernels>(kern: K, src: &[u16], dst: &mut [f32]) {
        kern.widen_f16(src, dst)
    }
}

/// An `f32` rounded to the nearest IEEE 754 half float (ties to even), as its bits: overflow
/// gives ±infinity, tiny values subnormals or ±0.
pub fn f32_to_f16(x: f32) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32;
    let mant = bits & 0x7f_ffff;
    if exp == 0xff {
        return sign | 0x7c00 | if mant != 0 { 0x200 } else { 0 };
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        let m = mant | 0x80_0000;
        let shift = (14 - e) as u32;
        let rounded = (m + (1 << (shift - 1)) - 1 + ((m >> shift) & 1)) >> shift;
        return sign | rounded as u16;
    }
    let (half, rest) = (mant >> 13, mant & 0x1fff);
    let mut out = ((e as u32) << 10) | half;
    if rest > 0x1000 || (rest == 0x1000 && half & 1 == 1) {
        out += 1; // a carry into the exponent is the correct rounding
    }
    sign | out as u16
}

/// The `f32` value of IEEE 754 half-float bits (exact).
#[inline(always)]
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h & 0x8000) << 16;
    let exp = u32::from((h >> 10) & 0x1f);
    let mant = u32::from(h & 0x3ff);
    let bits = match exp {
        0 if mant == 0 => sign,
        0 => {
            // A subnormal: normalise.
            let (mut e, mut m) = (113u32, mant);
            while m & 0x400 == 0 {
                m <<= 1;
                e -= 1;
            }
            sign | (e << 23) | ((m & 0x3ff) << 13)
        }
        0x1f => sign | 0x7f80_0000 | (mant << 13),
        _ => sign | ((exp + 112) << 23) | (mant << 13),
    };
    f32::from_bits(bits)
}

/// `src` rounded to IEEE half floats, with the best kernel for this CPU, chunks in parallel.
pub fn to_f16(src: &[f32]) -> Vec<u16> {
    use rayon::prelude::*;
    let mut dst = vec![0u16; src.len()];
    dst.par_chunks_mut(1 << 16)
        .zip(src.par_chunks(1 << 16))
        .for_each(|(d, s)| crate::with_kernels!(|k| k.to_f16(s, d)));
    dst
}

/// Issues a cache prefetch for every 64-byte line of `data` (no-op off x86-64).
#[inline(always)]
pub fn prefetch_lines<T>(data: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let start = data.as_ptr().cast::<i8>();
        for offset in (0..std::mem::size_of_val(data)).step_by(64) {
            // SAFETY: prefetch never faults and the address lies inside a live slice; SSE is
            // part of the x86-64 baseline.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.add(offset)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}

/// Portable kernels: eight independent accumulators so that the compiler can vectorize with
/// whatever the baseline target offers (SSE2 on x86-64).
#[derive(Clone, Copy, Debug, Default)]
pub struct Portable;

impl Kernels for Portable {
    #[inline(always)]
    fn dot(self, a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        let mut acc = [0f32; 8];
        let chunks = n / 8;
        for c in 0..chunks {
            let (x, y) = (&a[c * 8..c * 8 + 8], &b[c * 8..c * 8 + 8]);
            for j in 0..8 {
                acc[j] += x[j] * y[j];
            }
        }
        let mut res = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
        for j in chunks * 8..n {
            res += a[j] * b[j];
        }
        res
    }

    #[inline(always)]
    fn axpy(self, alpha: f32, x: &[f32], y: &mut [f32]) {
        for (yi, xi) in y.iter_mut().zip(x) {
            *yi += alpha * xi;
        }
    }

    #[inline(always)]
    fn dot4(self, a: [&[f32]; 4], b: &[f32]) -> [f32; 4] {
        a.map(|row| self.dot(row, b))
    }

    #[inline(always)]
    fn axpy4(self, alpha: [f32; 4], x: [&[f32]; 4], y: &mut [f32]) {
        let n = y.len();
        let (x0, x1, x2, x3) = (&x[0][..n], &x[1][..n], &x[2][..n], &x[3][..n]);
        for j in 0..n {
            y[j] += alpha[0] * x0[j] + alpha[1] * x1[j] + alpha[2] * x2[j] + alpha[3] * x3[j];
        }
    }

    #[inline(always)]
    fn dot4_h(self, a: [&[u16]; 4], b: &[f32]) -> [f32; 4] {
        a.map(|row| self.dot_h(row, b))
    }

    #[inline(always)]
    fn axpy4_h(self, alpha: [f32; 4], x: [&[u16]; 4], y: &mut [f32]) {
        for (r, row) in x.iter().enumerate() {
            self.axpy_h(alpha[r], row, y);
        }
    }
}

/// AVX2 + FMA (+ F16C) kernels. A value of this type exists only on CPUs that have them.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug)]
pub struct Avx2Fma(());

#[cfg(target_arch = "x86_64")]
impl Avx2Fma {
    /// `Some` when the running CPU supports AVX2, FMA and F16C (every AVX2 CPU has F16C).
    pub fn detect() -> Option<Self> {
        (std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
            && std::is_x86_feature_detected!("f16c"))
        .then_some(Self(()))
    }
}

#[cfg(target_arch = "x86_64")]
impl Kernels for Avx2Fma {
    #[inline(always)]
    fn dot(self, a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: a value of `Avx2Fma` proves the CPU supports the features.
        unsafe { x86::dot(a, b) }
    }

    #[inline(always)]
    fn axpy(self, alpha: f32, x: &[f32], y: &mut [f32]) {
        // SAFETY: as above.
        unsafe { x86::axpy(alpha, x, y) }
    }

    #[inline(always)]
    fn dot4(self, a: [&[f32]; 4], b: &[f32]) -> [f32; 4] {
        // SAFETY: as above.
        unsafe { x86::dot4(a, b) }
    }

    #[inline(always)]
    fn axpy4(self, alpha: [f32; 4], x: [&[f32]; 4], y: &mut [f32]) {
        // SAFETY: as above.
        unsafe { x86::axpy4(alpha, x, y) }
    }

    #[inline(always)]
    fn dot4_h(self, a: [&[u16]; 4], b: &[f32]) -> [f32; 4] {
        // SAFETY: as above.
        unsafe { x86::dot4(a, b) }
    }

    #[inline(always)]
    fn axpy4_h(self, alpha: [f32; 4], x: [&[u16]; 4], y: &mut [f32]) {
        // SAFETY: as above.
        unsafe { x86::axpy4(alpha, x, y) }
    }

    #[inline(always)]
    fn to_f16(self, src: &[f32], dst: &mut [u16]) {
        // SAFETY: as above.
        unsafe { x86::to_f16(src, dst) }
    }

    #[inline(always)]
    fn widen_f16(self, src: &[u16], dst: &mut [f32]) {
        // SAFETY: as above.
        unsafe { x86::widen_f16(src, dst) }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn hsum(v: __m256) -> f32 {
        let lo = _mm256_castps256_ps128(v);
        let hi = _mm256_extractf128_ps::<1>(v);
        let s = _mm_add_ps(lo, hi);
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps::<0b01>(s, s));
        _mm_cvtss_f32(s)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut i = 0;
        let (mut s0, mut s1, mut s2, mut s3) =
            (_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps());
        // SAFETY (all loads): indices stay below `n`, the length of both slices.
        unsafe {
            while i + 32 <= n {
                s0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), s0);
                s1 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i + 8)), _mm256_loadu_ps(pb.add(i + 8)), s1);
                s2 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i + 16)), _mm256_loadu_ps(pb.add(i + 16)), s2);
                s3 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i + 24)), _mm256_loadu_ps(pb.add(i + 24)), s3);
                i += 32;
            }
            while i + 8 <= n {
                s0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), s0);
                i += 8;
            }
        }
        let mut res = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
        while i < n {
            res += a[i] * b[i];
            i += 1;
        }
        res
    }

    /// Sums each of four vectors horizontally: `[Σa, Σb, Σc, Σd]`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn hsum4(a: __m256, b: __m256, c: __m256, d: __m256) -> [f32; 4] {
        let ab = _mm256_hadd_ps(a, b); // a01 a23 b01 b23 | a45 a67 b45 b67
        let cd = _mm256_hadd_ps(c, d);
        let abcd = _mm256_hadd_ps(ab, cd); // a0123 b0123 c0123 d0123 | a4567 b4567 ...
        let sum = _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps::<1>(abcd));
        let mut res = [0f32; 4];
        // SAFETY: `res` has room for four floats.
        unsafe { _mm_storeu_ps(res.as_mut_ptr(), sum) };
        res
    }

    /// A row element the kernels read eight at a time as f32 lanes: `f32`, or half-float bits.
    pub(super) trait Lanes: Copy {
        /// Eight elements from `p`, as f32.
        ///
        /// # Safety
        /// Eight elements must be readable at `p`, and the CPU must have AVX2 and F16C.
        unsafe fn load8(p: *const Self) -> __m256;
        /// One element as f32.
        fn widen(self) -> f32;
    }

    impl Lanes for f32 {
        #[inline(always)]
        unsafe fn load8(p: *const f32) -> __m256 {
            // SAFETY: the caller's contract.
            unsafe { _mm256_loadu_ps(p) }
        }
        #[inline(always)]
        fn widen(self) -> f32 {
            self
        }
    }

    impl Lanes for u16 {
        #[inline(always)]
        unsafe fn load8(p: *const u16) -> __m256 {
            // SAFETY: the caller's contract.
            unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.cast())) }
        }
        #[inline(always)]
        fn widen(self) -> f32 {
            super::f16_to_f32(self)
        }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) fn dot4<E: Lanes>(a: [&[E]; 4], b: &[f32]) -> [f32; 4] {
        let n = b.len().min(a[0].len()).min(a[1].len()).min(a[2].len()).min(a[3].len());
        let pb = b.as_ptr();
        let pa = [a[0].as_ptr(), a[1].as_ptr(), a[2].as_ptr(), a[3].as_ptr()];
        let mut acc = [_mm256_setzero_ps(); 8];
        let mut i = 0;
        // SAFETY (all loads): indices stay below `n`, the length of every slice.
        unsafe {
            while i + 16 <= n {
                let b0 = _mm256_loadu_ps(pb.add(i));
                let b1 = _mm256_loadu_ps(pb.add(i + 8));
                for r in 0..4 {
                    acc[r] = _mm256_fmadd_ps(E::load8(pa[r].add(i)), b0, acc[r]);
                    acc[r + 4] = _mm256_fmadd_ps(E::load8(pa[r].add(i + 8)), b1, acc[r + 4]);
                }
                i += 16;
            }
            while i + 8 <= n {
                let b0 = _mm256_loadu_ps(pb.add(i));
                for r in 0..4 {
                    acc[r] = _mm256_fmadd_ps(E::load8(pa[r].add(i)), b0, acc[r]);
                }
                i += 8;
            }
        }
        let mut res = hsum4(
            _mm256_add_ps(acc[0], acc[4]),
            _mm256_add_ps(acc[1], acc[5]),
            _mm256_add_ps(acc[2], acc[6]),
            _mm256_add_ps(acc[3], acc[7]),
        );
        while i < n {
            for r in 0..4 {
                res[r] += a[r][i].widen() * b[i];
            }
            i += 1;
        }
        res
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) fn axpy4<E: Lanes>(alpha: [f32; 4], x: [&[E]; 4], y: &mut [f32]) {
        let n = y.len().min(x[0].len()).min(x[1].len()).min(x[2].len()).min(x[3].len());
        let px = [x[0].as_ptr(), x[1].as_ptr(), x[2].as_ptr(), x[3].as_ptr()];
        let py = y.as_mut_ptr();
        let va = alpha.map(|s| _mm256_set1_ps(s));
        let mut i = 0;
        // SAFETY: indices stay below `n`, the length of every slice.
        unsafe {
            while i + 8 <= n {
                let mut acc = _mm256_loadu_ps(py.add(i));
                acc = _mm256_fmadd_ps(va[0], E::load8(px[0].add(i)), acc);
                acc = _mm256_fmadd_ps(va[1], E::load8(px[1].add(i)), acc);
                acc = _mm256_fmadd_ps(va[2], E::load8(px[2].add(i)), acc);
                acc = _mm256_fmadd_ps(va[3], E::load8(px[3].add(i)), acc);
                _mm256_storeu_ps(py.add(i), acc);
                i += 8;
            }
        }
        while i < n {
            let w = |r: usize| x[r][i].widen();
            y[i] += alpha[0] * w(0) + alpha[1] * w(1) + alpha[2] * w(2) + alpha[3] * w(3);
            i += 1;
        }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) fn to_f16(src: &[f32], dst: &mut [u16]) {
        let n = src.len().min(dst.len());
        let (ps, pd) = (src.as_ptr(), dst.as_mut_ptr());
        let mut i = 0;
        // SAFETY: indices stay below `n`, the length of both slices.
        unsafe {
            while i + 8 <= n {
                let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm256_loadu_ps(ps.add(i)));
                _mm_storeu_si128(pd.add(i).cast(), h);
                i += 8;
            }
        }
        while i < n {
            dst[i] = super::f32_to_f16(src[i]);
            i += 1;
        }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) fn widen_f16(src: &[u16], dst: &mut [f32]) {
        let n = src.len().min(dst.len());
        let (ps, pd) = (src.as_ptr(), dst.as_mut_ptr());
        let mut i = 0;
        // SAFETY: indices stay below `n`, the length of both slices.
        unsafe {
            while i + 8 <= n {
                _mm256_storeu_ps(pd.add(i), <u16 as Lanes>::load8(ps.add(i)));
                i += 8;
            }
        }
        while i < n {
            dst[i] = super::f16_to_f32(src[i]);
            i += 1;
        }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
        let n = x.len().min(y.len());
        let (px, py) = (x.as_ptr(), y.as_mut_ptr());
        let va = _mm256_set1_ps(alpha);
        let mut i = 0;
        // SAFETY: indices stay below `n`, the length of both slices.
        unsafe {
            while i + 8 <= n {
                let r = _mm256_fmadd_ps(va, _mm256_loadu_ps(px.add(i)), _mm256_loadu_ps(py.add(i)));
                _mm256_storeu_ps(py.add(i), r);
                i += 8;
            }
        }
        while i < n {
            y[i] += alpha * x[i];
            i += 1;
        }
    }
}

/// Calls `$body` with `$k` bound to the best [`Kernels`] for this CPU. The body is compiled
/// once per kernel set inside a `#[target_feature]` function, so use it around a whole loop
/// (one chunk of users), not around a single dot product.
#[macro_export]
#[doc(hidden)]
macro_rules! with_kernels {
    (|$k:ident| $body:expr) => {{
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(kernels) = $crate::simd::Avx2Fma::detect() {
                #[target_feature(enable = "avx2,fma,f16c")]
                fn run_avx2<R>(f: impl FnOnce($crate::simd::Avx2Fma) -> R, k: $crate::simd::Avx2Fma) -> R {
                    f(k)
                }
                // SAFETY: `detect` returned Some, so the CPU has AVX2, FMA and F16C.
                unsafe {
                    run_avx2(
                        #[inline(always)]
                        |$k| $body,
                        kernels,
                    )
                }
            } else {
                let $k = $crate::simd::Portable;
                $body
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let $k = $crate::simd::Portable;
            $body
        }
    }};
}

/// `out[i] = rows[i] · x` for a row-major matrix with `x.len()` columns.
pub fn matvec_rows(rows: &[f32], x: &[f32], out: &mut [f32]) {
    let dim = x.len();
    debug_assert_eq!(rows.len(), out.len() * dim);
    if dim == 0 {
        out.fill(0.0);
        return;
    }
    with_kernels!(|k| {
        let mut quads = out.chunks_exact_mut(4).zip(rows.chunks_exact(4 * dim));
        for (o, block) in &mut quads {
            let row = |r: usize| &block[r * dim..][..dim];
            o.copy_from_slice(&k.dot4([row(0), row(1), row(2), row(3)], x));
        }
        let done = out.len() / 4 * 4;
        for (o, row) in out[done..].iter_mut().zip(rows[done * dim..].chunks_exact(dim)) {
            *o = k.dot(row, x);
        }
    })
}

/// `out[j] = rows[at[j]] · x`: the values [`matvec_rows`] would write at rows `at`, bit for bit
/// (rows inside its 4-row blocks go through `dot4`, the rows after the last block through `dot`;
/// a row's `dot4` result does not depend on the other three rows).
pub fn matvec_rows_at(rows: &[f32], x: &[f32], at: &[u32], out: &mut [f32]) {
    let dim = x.len();
    assert_eq!(at.len(), out.len(), "matvec_rows_at: one output per row index");
    if dim == 0 {
        out.fill(0.0);
        return;
    }
    let in_blocks = rows.len() / dim / 4 * 4;
    let row = |r: u32| &rows[r as usize * dim..][..dim];
    with_kernels!(|k| {
        // Up to four pending rows inside the blocks: (output slot, row index).
        let mut pending = [(0usize, 0u32); 4];
        let mut n_pending = 0;
        for (slot, &r) in at.iter().enumerate() {
            if (r as usize) < in_blocks {
                pending[n_pending] = (slot, r);
                n_pending += 1;
                if n_pending == 4 {
                    let res = k.dot4(pending.map(|(_, r)| row(r)), x);
                    for ((slot, _), v) in pending.iter().zip(res) {
                        out[*slot] = v;
                    }
                    n_pending = 0;
                }
            } else {
                out[slot] = k.dot(row(r), x);
            }
        }
        if n_pending > 0 {
            // Repeat the first pending row in the unused lanes; their results are dropped.
            let rows4: [&[f32]; 4] =
                std::array::from_fn(|i| row(pending[if i < n_pending { i } else { 0 }].1));
            let res = k.dot4(rows4, x);
            for ((slot, _), v) in pending[..n_pending].iter().zip(res) {
                out[*slot] = v;
            }
        }
    })
}

/// `a · b` with the best kernel for this CPU (for cold paths; hot loops use [`with_kernels!`]).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    with_kernels!(|k| k.dot(a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
    }

    #[test]
    fn kernels_agree_with_naive_on_all_tail_lengths() {
        let mut rng = crate::rng::Rng::new(9);
        for n in [0usize, 1, 7, 8, 9, 31, 32, 33, 64, 100, 257] {
            let a: Vec<f32> = (0..n).map(|_| rng.next_f32() - 0.5).collect();
            let b: Vec<f32> = (0..n).map(|_| rng.next_f32() - 0.5).collect();
            let want = naive_dot(&a, &b);
            assert!((Portable.dot(&a, &b) as f64 - want).abs() < 1e-4, "portable n={n}");
            assert!((dot(&a, &b) as f64 - want).abs() < 1e-4, "dispatched n={n}");
            let rows: Vec<Vec<f32>> =
                (0..4).map(|r| a.iter().map(|v| v * (r as f32 + 1.0)).collect()).collect();
            let refs = [&rows[0][..], &rows[1][..], &rows[2][..], &rows[3][..]];
            let got = with_kernels!(|k| k.dot4(refs, &b));
            for (r, g) in got.iter().enumerate() {
                assert!((*g as f64 - want * (r as f64 + 1.0)).abs() < 1e-3, "dot4 n={n} r={r}");
            }
            let mut z1 = b.clone();
            let mut z2 = b.clone();
            Portable.axpy4([0.5, -1.0, 2.0, 0.25], refs, &mut z1);
            with_kernels!(|k| k.axpy4([0.5, -1.0, 2.0, 0.25], refs, &mut z2));
            for (j, (p, q)) in z1.iter().zip(&z2).enumerate() {
                let want = b[j] + a[j] * (0.5 - 2.0 + 6.0 + 1.0);
                assert!((p - q).abs() < 1e-5 && (p - want).abs() < 1e-5, "axpy4 n={n} j={j}");
            }
            let mut y1 = b.clone();
            let mut y2 = b.clone();
            Portable.axpy(0.3, &a, &mut y1);
            with_kernels!(|k| k.axpy(0.3, &a, &mut y2));
            for (p, q) in y1.iter().zip(&y2) {
                assert!((p - q).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn half_floats_round_to_nearest_even_and_the_kernels_agree() {
        // Exact values, ties, subnormals, overflow, the dispatched conversion bit for bit.
        for (x, bits) in [(1.0f32, 0x3c00u16), (-2.0, 0xc000), (65504.0, 0x7bff), (1e6, 0x7c00), (0.0, 0)] {
            assert_eq!(f32_to_f16(x), bits, "{x}");
            assert_eq!(f16_to_f32(bits), if x > 65504.0 { f32::INFINITY } else { x });
        }
        assert_eq!(f32_to_f16(1.0 + 1.0 / 2048.0), 0x3c00, "a tie rounds to even");
        assert_eq!(f32_to_f16(1.0 + 3.0 / 2048.0), 0x3c02, "a tie rounds to even");
        assert_eq!(f16_to_f32(1), 2f32.powi(-24), "the smallest subnormal");
        let mut rng = crate::rng::Rng::new(3);
        let values: Vec<f32> = (0..4099)
            .map(|i| (rng.next_f32() - 0.5) * 2f32.powi(i % 40 - 28))
            .chain([f32::NAN, f32::NEG_INFINITY, 3e-8, -6.1e-5])
            .collect();
        let dispatched = to_f16(&values);
        for (&v, &h) in values.iter().zip(&dispatched) {
            let soft = f32_to_f16(v);
            assert!(soft == h || (v.is_nan() && h & 0x7c00 == 0x7c00), "{v}: {soft:#x} vs {h:#x}");
            let back = f16_to_f32(soft);
            if v.abs() >= 6.2e-5 && v.abs() < 65504.0 {
                assert!((back - v).abs() <= v.abs() / 2048.0, "{v} -> {back}");
            }
        }
        // dot4_h and axpy4_h against the f32 kernels on the widened rows.
        for n in [1usize, 7, 8, 17, 64, 257] {
            let rows: Vec<Vec<u16>> =
                (0..4).map(|_| to_f16(&(0..n).map(|_| rng.next_f32() - 0.5).collect::<Vec<_>>())).collect();
            let wide: Vec<Vec<f32>> =
                rows.iter().map(|r| r.iter().map(|&h| f16_to_f32(h)).collect()).collect();
            let b: Vec<f32> = (0..n).map(|_| rng.next_f32() - 0.5).collect();
            let h = [&rows[0][..], &rows[1][..], &rows[2][..], &rows[3][..]];
            let f = [&wide[0][..], &wide[1][..], &wide[2][..], &wide[3][..]];
            let (got, want) = with_kernels!(|k| (k.dot4_h(h, &b), k.dot4(f, &b)));
            for r in 0..4 {
                assert!((got[r] - want[r]).abs() < 1e-5, "dot4_h n={n}");
                assert!((Portable.dot4_h(h, &b)[r] - want[r]).abs() < 1e-5, "portable dot4_h n={n}");
            }
            let (mut y1, mut y2) = (b.clone(), b.clone());
            with_kernels!(|k| k.axpy4_h([0.5, -1.0, 2.0, 0.25], h, &mut y1));
            with_kernels!(|k| k.axpy4([0.5, -1.0, 2.0, 0.25], f, &mut y2));
            assert!(y1.iter().zip(&y2).all(|(p, q)| (p - q).abs() < 1e-5), "axpy4_h n={n}");
        }
    }

    #[test]
    fn matvec_rows_at_is_bit_identical_to_matvec_rows() {
        let mut rng = crate::rng::Rng::new(5);
        for (n_rows, dim) in [(1usize, 3usize), (4, 8), (9, 13), (26, 128), (103, 33)] {
            let rows: Vec<f32> = (0..n_rows * dim).map(|_| rng.next_f32() - 0.5).collect();
            let x: Vec<f32> = (0..dim).map(|_| rng.next_f32() - 0.5).collect();
            let mut all = vec![0f32; n_rows];
            matvec_rows(&rows, &x, &mut all);
            // Every row, a shuffled subset with repeats, and odd counts (partial quads).
            let mut at: Vec<u32> = (0..n_rows as u32).rev().collect();
            at.extend((0..7).map(|_| rng.below(n_rows as u64) as u32));
            for len in [at.len(), 1, 3, 5] {
                let at = &at[..len.min(at.len())];
                let mut out = vec![f32::NAN; at.len()];
                matvec_rows_at(&rows, &x, at, &mut out);
                for (&r, o) in at.iter().zip(&out) {
                    assert_eq!(o.to_bits(), all[r as usize].to_bits(), "rows={n_rows} dim={dim} row={r}");
                }
            }
        }
    }

    #[test]
    fn matvec_matches_dots() {
        let rows: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let mut out = [0f32; 3];
        matvec_rows(&rows, &[1.0, 0.0, 2.0, -1.0], &mut out);
        assert_eq!(out, [0.0 + 4.0 - 3.0, 4.0 + 12.0 - 7.0, 8.0 + 20.0 - 11.0]);
        // Row counts on both sides of the 4-row blocks, and a dimension with a scalar tail.
        for (n_rows, dim) in [(4usize, 8usize), (9, 13), (1, 3)] {
            let rows: Vec<f32> = (0..n_rows * dim).map(|v| (v % 7) as f32 - 3.0).collect();
            let x: Vec<f32> = (0..dim).map(|v| v as f32 * 0.5).collect();
            let mut out = vec![0f32; n_rows];
            matvec_rows(&rows, &x, &mut out);
            for (r, o) in out.iter().enumerate() {
                let want: f32 = rows[r * dim..][..dim].iter().zip(&x).map(|(a, b)| a * b).sum();
                assert!((o - want).abs() < 1e-4, "rows={n_rows} dim={dim} r={r}");
            }
        }
    }
}
