//! Packed storage of symmetric matrices (the "svec" convention).
//!
//! A symmetric Z ∈ S^n is stored as a vector of length p = n(n+1)/2 over its upper triangle,
//! row by row (i ≤ j), with the off-diagonal entries scaled by √2:
//!
//! ```text
//!   svec(Z)_{k(i,j)} = Z_ii        if i = j
//!                    = √2 · Z_ij   if i < j
//!   k(i,j) = i·n − i(i+1)/2 + j              (row-major upper triangle)
//! ```
//!
//! With this scaling svec is an isometry: ⟨Z, Y⟩_F = svec(Z)·svec(Y) for symmetric Z, Y,
//! so the packed measurement operator applies ⟨A_i, Z⟩ as a plain dot product and its
//! transpose is the adjoint. `smat` is the inverse of `svec`.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2};

/// √2, the scaling of off-diagonal entries in packed storage.
pub const SQRT2: f64 = std::f64::consts::SQRT_2;

/// p = n(n+1)/2, the dimension of the space of symmetric n×n matrices.
pub const fn packed_dim(n: usize) -> usize {
    n * (n + 1) / 2
}

/// Index k(i, j) of the entry (i, j), i ≤ j, in packed storage.
pub const fn packed_index(n: usize, i: usize, j: usize) -> usize {
    debug_assert!(i <= j && j < n);
    i * n - i * (i + 1) / 2 + j
}

/// Writes svec(Z) into `out` (length n(n+1)/2). Only the upper triangle of `z` is read.
pub fn svec_into(z: ArrayView2<'_, f64>, mut out: ArrayViewMut1<'_, f64>) {
    let n = z.nrows();
    debug_assert_eq!(z.ncols(), n);
    debug_assert_eq!(out.len(), packed_dim(n));
    let mut k = 0;
    for i in 0..n {
        out[k] = z[[i, i]];
        k += 1;
        for j in (i + 1)..n {
            out[k] = SQRT2 * z[[i, j]];
            k += 1;
        }
    }
}

/// svec(Z), see the module documentation.
pub fn svec(z: ArrayView2<'_, f64>) -> Array1<f64> {
    let mut out = Array1::zeros(packed_dim(z.nrows()));
    svec_into(z, out.view_mut());
    out
}

/// Writes smat(w) (the symmetric matrix whose svec is w) into `out` (n×n).
pub fn smat_into(w: ArrayView1<'_, f64>, mut out: ArrayViewMut2<'_, f64>) {
    let n = out.nrows();
    debug_assert_eq!(w.len(), packed_dim(n));
    let mut k = 0;
    for i in 0..n {
        out[[i, i]] = w[k];
        k += 1;
        for j in (i + 1)..n {
            let v = w[k] / SQRT2;
            out[[i, j]] = v;
            out[[j, i]] = v;
            k += 1;
        }
    }
}

/// smat(w): inverse of [`svec`].
pub fn smat(w: ArrayView1<'_, f64>, n: usize) -> Array2<f64> {
    let mut out = Array2::zeros((n, n));
    smat_into(w, out.view_mut());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn packed_index_matches_svec_order() {
        let n = 5;
        let mut k = 0;
        for i in 0..n {
            for j in i..n {
                assert_eq!(packed_index(n, i, j), k, "(i, j) = ({i}, {j})");
                k += 1;
            }
        }
        assert_eq!(k, packed_dim(n));
    }

    #[test]
    fn svec_is_an_isometry_and_smat_inverts_it() {
        let a = array![[1.0, 2.0, -3.0], [2.0, 0.5, 4.0], [-3.0, 4.0, 7.0]];
        let b = array![[0.3, -1.0, 2.0], [-1.0, 5.0, 0.25], [2.0, 0.25, -2.0]];
        let frob: f64 = (&a * &b).sum();
        assert!((svec(a.view()).dot(&svec(b.view())) - frob).abs() < 1e-12);
        let back = smat(svec(a.view()).view(), 3);
        assert!((&back - &a).iter().all(|d| d.abs() < 1e-15));
    }
}
