//! Small dense linear algebra for per-row least-squares solves (k × k, k up to a few hundred).

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt::factor::{LltError, cholesky_in_place, cholesky_in_place_scratch};
use faer::linalg::cholesky::llt::solve::solve_in_place_with_conj;
use faer::prelude::{Reborrow, ReborrowMut};
use faer::{Conj, MatMut, Par};

use crate::error::{EngineError, Result};
use crate::simd::Kernels;

/// Scratch for [`cholesky_solve_blocked`] of `n × n` systems (reused across calls).
pub fn blocked_cholesky_scratch(n: usize) -> MemBuffer {
    MemBuffer::new(cholesky_in_place_scratch::<f32>(n, Par::Seq, Default::default()))
}

/// Solves `A x = b` in place for a symmetric positive-definite `n × n` matrix through faer's
/// blocked (GEMM-based) Cholesky factorisation, on the calling thread: `a` is **column-major**
/// and only its lower triangle is read (and overwritten by `L`); `b` becomes `x`. Returns the
/// failing pivot on a matrix that is not positive definite. For systems of a hundred or more
/// unknowns, where the blocked factorisation beats [`cholesky_solve_lower`]'s dot products.
pub fn cholesky_solve_blocked(
    a: &mut [f32],
    n: usize,
    b: &mut [f32],
    scratch: &mut MemBuffer,
) -> std::result::Result<(), usize> {
    let mut l = MatMut::from_column_major_slice_mut(&mut a[..n * n], n, n);
    cholesky_in_place(l.rb_mut(), Default::default(), Par::Seq, MemStack::new(scratch), Default::default())
        .map_err(|LltError::NonPositivePivot { index }| index)?;
    let rhs = MatMut::from_column_major_slice_mut(&mut b[..n], n, 1);
    solve_in_place_with_conj(l.rb(), Conj::No, rhs, Par::Seq, MemStack::new(scratch));
    Ok(())
}

/// Solves `A x = b` in place for a symmetric positive-definite `n × n` matrix `a` (row-major;
/// only the upper triangle is read, and it is overwritten by the Cholesky factor).
/// On return `b` holds `x`. Accumulates in `f64` for stability at large `n`.
pub fn cholesky_solve(a: &mut [f32], n: usize, b: &mut [f32]) -> Result<()> {
    if a.len() != n * n {
        return Err(EngineError::Shape { what: "cholesky matrix", expected: n * n, got: a.len() });
    }
    if b.len() != n {
        return Err(EngineError::Shape { what: "cholesky right-hand side", expected: n, got: b.len() });
    }
    // Upper Cholesky A = Uᵀ U, row-oriented so that inner loops are contiguous.
    for i in 0..n {
        let mut diag = a[i * n + i] as f64;
        for k in 0..i {
            let u = a[k * n + i] as f64;
            diag -= u * u;
        }
        if diag <= 0.0 || !diag.is_finite() {
            return Err(EngineError::Numerical(format!(
                "matrix is not positive definite (pivot {i} = {diag})"
            )));
        }
        let d = diag.sqrt();
        a[i * n + i] = d as f32;
        let inv = 1.0 / d;
        for j in i + 1..n {
            let mut s = a[i * n + j] as f64;
            for k in 0..i {
                s -= a[k * n + i] as f64 * a[k * n + j] as f64;
            }
            a[i * n + j] = (s * inv) as f32;
        }
    }
    // Forward: Uᵀ y = b.
    for i in 0..n {
        let mut s = b[i] as f64;
        for k in 0..i {
            s -= a[k * n + i] as f64 * b[k] as f64;
        }
        b[i] = (s / a[i * n + i] as f64) as f32;
    }
    // Backward: U x = y.
    for i in (0..n).rev() {
        let mut s = b[i] as f64;
        for k in i + 1..n {
            s -= a[i * n + k] as f64 * b[k] as f64;
        }
        b[i] = (s / a[i * n + i] as f64) as f32;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_spd_system() {
        // A = [[4,2,0],[2,5,1],[0,1,3]], x = [1,-1,2] → b = A x.
        let mut a = vec![4.0, 2.0, 0.0, 2.0, 5.0, 1.0, 0.0, 1.0, 3.0];
        let mut b = vec![2.0, -1.0, 5.0];
        cholesky_solve(&mut a, 3, &mut b).unwrap();
        for (got, want) in b.iter().zip([1.0, -1.0, 2.0]) {
            assert!((got - want).abs() < 1e-5, "{b:?}");
        }
    }

    #[test]
    fn refuses_indefinite_and_misshapen_input() {
        let mut a = vec![1.0, 2.0, 2.0, 1.0];
        assert!(matches!(cholesky_solve(&mut a, 2, &mut [1.0, 1.0]), Err(EngineError::Numerical(_))));
        assert!(matches!(cholesky_solve(&mut [1.0; 3], 2, &mut [1.0, 1.0]), Err(EngineError::Shape { .. })));
    }
}

/// In-place Cholesky factorisation and solve of an SPD `n × n` system in `f32`, SIMD inner
/// loops. `a` is row-major and only its **lower** triangle (`a[i·n + j]`, `j ≤ i`) is read and
/// overwritten by `L`; `b` becomes the solution. Returns the failing pivot on a matrix that is
/// not positive definite. For the hot per-row solves of ALS (k up to a few hundred).
#[inline(always)]
pub fn cholesky_solve_lower<K: Kernels>(
    kern: K,
    a: &mut [f32],
    n: usize,
    b: &mut [f32],
) -> Result<(), usize> {
    debug_assert!(a.len() >= n * n && b.len() >= n);
    // Row-oriented Cholesky–Crout: L[i][j] = (A[i][j] − L[i][..j]·L[j][..j]) / L[j][j].
    for i in 0..n {
        let (done, rest) = a.split_at_mut(i * n);
        let row_i = &mut rest[..=i];
        let mut j = 0;
        while j + 4 <= i {
            let l = |r: usize| &done[(j + r) * n..][..j];
            let s = kern.dot4([l(0), l(1), l(2), l(3)], &row_i[..j]);
            for r in 0..4 {
                let row_j = &done[(j + r) * n..][..j + r + 1];
                let mut v = row_i[j + r] - s[r];
                for q in 0..r {
                    v -= row_i[j + q] * row_j[j + q];
                }
                row_i[j + r] = v / row_j[j + r];
            }
            j += 4;
        }
        while j < i {
            let row_j = &done[j * n..][..=j];
            row_i[j] = (row_i[j] - kern.dot(&row_i[..j], &row_j[..j])) / row_j[j];
            j += 1;
        }
        let d = row_i[i] - kern.dot(&row_i[..i], &row_i[..i]);
        if !(d > 0.0 && d.is_finite()) {
            return Err(i);
        }
        row_i[i] = d.sqrt();
    }
    // L y = b.
    for i in 0..n {
        let row = &a[i * n..][..=i];
        b[i] = (b[i] - kern.dot(&row[..i], &b[..i])) / row[i];
    }
    solve_lower_transposed(kern, a, n, b);
    Ok(())
}

/// Solves `Lᵀ x = y` in place (`y` in `b`) for the lower-triangular factor `l` that
/// [`cholesky_solve_lower`] leaves in its matrix, column-oriented so that each step is one
/// contiguous axpy. With `y` standard normal, `x` is a draw from `N(0, A⁻¹)`.
#[inline(always)]
pub fn solve_lower_transposed<K: Kernels>(kern: K, l: &[f32], n: usize, b: &mut [f32]) {
    for i in (0..n).rev() {
        let row = &l[i * n..][..=i];
        b[i] /= row[i];
        let xi = b[i];
        kern.axpy(-xi, &row[..i], &mut b[..i]);
    }
}

#[cfg(test)]
mod lower_tests {
    use super::*;
    use crate::simd::Portable;

    #[test]
    fn lower_solver_matches_f64_solver_on_random_spd() {
        let mut rng = crate::rng::Rng::new(5);
        for n in [1usize, 3, 4, 5, 9, 17, 64, 130] {
            // A = MᵀM + n·I is SPD.
            let m: Vec<f32> = (0..n * n).map(|_| rng.next_f32() - 0.5).collect();
            let mut a = vec![0f32; n * n];
            for i in 0..n {
                for j in 0..n {
                    a[i * n + j] = (0..n).map(|r| m[r * n + i] * m[r * n + j]).sum::<f32>()
                        + if i == j { 1.0 } else { 0.0 };
                }
            }
            let b: Vec<f32> = (0..n).map(|_| rng.next_f32()).collect();
            let (mut a1, mut x1) = (a.clone(), b.clone());
            cholesky_solve(&mut a1, n, &mut x1).unwrap();
            let (mut a2, mut x2) = (a.clone(), b.clone());
            cholesky_solve_lower(Portable, &mut a2, n, &mut x2).unwrap();
            let (mut a3, mut x3) = (a.clone(), b.clone());
            crate::with_kernels!(|k| cholesky_solve_lower(k, &mut a3, n, &mut x3)).unwrap();
            // A is symmetric: its row-major lower triangle is its column-major one too.
            let (mut a4, mut x4) = (a.clone(), b.clone());
            cholesky_solve_blocked(&mut a4, n, &mut x4, &mut blocked_cholesky_scratch(n)).unwrap();
            for i in 0..n {
                let close = |x: &[f32]| (x1[i] - x[i]).abs() < 1e-3;
                assert!(close(&x2) && close(&x3) && close(&x4), "n={n} i={i}");
            }
            // a2 now holds L (lower triangle): L Lᵀ = A, and Lᵀ (solve_lower_transposed(y)) = y.
            let l = |i: usize, j: usize| if j <= i { a2[i * n + j] } else { 0.0 };
            for i in 0..n {
                for j in 0..=i {
                    let llt: f32 = (0..n).map(|r| l(i, r) * l(j, r)).sum();
                    assert!((llt - a[i * n + j]).abs() < 1e-3 * a[i * n + i], "n={n} ({i},{j})");
                }
            }
            let mut x = b.clone();
            solve_lower_transposed(Portable, &a2, n, &mut x);
            for (i, y) in b.iter().enumerate() {
                let ltx: f32 = (i..n).map(|r| l(r, i) * x[r]).sum();
                assert!((ltx - y).abs() < 1e-3, "n={n} i={i}: {ltx} vs {y}");
            }
        }
        let mut not_spd = vec![1.0, 0.0, 2.0, 1.0];
        assert_eq!(cholesky_solve_lower(Portable, &mut not_spd, 2, &mut [1.0, 1.0]), Err(1));
    }
}
