//! Small dense linear algebra for per-row least-squares solves (k × k, k up to a few hundred).

use crate::error::{EngineError, Result};

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
            return Err(EngineError::Numerical(format!("matrix is not positive definite (pivot {i} = {diag})")));
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
