//! Dense decompositions of the small matrices the diagnostics need (n×r', r×r', n×n), via faer.
//!
//! faer is pure Rust (no LAPACK to install), reads ndarray views without copying (faer-ext), and
//! was the fastest of faer, nalgebra and ndarray-linalg on the project's 2-core machine.
//! Conventions: singular values are returned in *descending* order, eigenvalues of symmetric
//! matrices also in *descending* order (faer returns them ascending; we reverse).

use faer::Side;
use faer_ext::{IntoFaer, IntoNdarray};
use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2, Axis};

/// Error of a decomposition that did not converge (non-finite input, in practice).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} did not converge (non-finite input?)")]
pub struct DecompositionError(pub &'static str);

/// Thin SVD A = U·diag(s)·Vᵀ of an a×b matrix: U is a×k, s has k = min(a,b) entries (descending),
/// V is b×k.
pub struct ThinSvd {
    /// Left singular vectors, a×k.
    pub u: Array2<f64>,
    /// Singular values, descending.
    pub s: Array1<f64>,
    /// Right singular vectors, b×k.
    pub v: Array2<f64>,
}

/// Thin SVD of `a` (see [`ThinSvd`]).
pub fn thin_svd(a: ArrayView2<'_, f64>) -> Result<ThinSvd, DecompositionError> {
    if a.is_empty() {
        let k = a.nrows().min(a.ncols());
        return Ok(ThinSvd {
            u: Array2::zeros((a.nrows(), k)),
            s: Array1::zeros(k),
            v: Array2::zeros((a.ncols(), k)),
        });
    }
    let svd = a
        .into_faer()
        .thin_svd()
        .map_err(|_| DecompositionError("SVD"))?;
    Ok(ThinSvd {
        u: svd.U().into_ndarray().to_owned(),
        s: svd.S().column_vector().iter().copied().collect(),
        v: svd.V().into_ndarray().to_owned(),
    })
}

/// Singular values of `a`, descending.
pub fn singular_values(a: ArrayView2<'_, f64>) -> Result<Array1<f64>, DecompositionError> {
    if a.is_empty() {
        return Ok(Array1::zeros(0));
    }
    a.into_faer()
        .singular_values()
        .map(Array1::from)
        .map_err(|_| DecompositionError("SVD"))
}

/// Σ v_i², summed in one fixed order whatever `v`'s stride, the machine or the thread count:
/// entry i goes to partial sum i mod 8, in index order, and the eight are added pairwise at the
/// end (no fused multiply-add). BLAS's ddot is not used for the loss and the train error because
/// its order is not fixed: OpenBLAS splits a vector longer than 10000 entries across its threads.
pub fn sum_of_squares(v: ArrayView1<'_, f64>) -> f64 {
    let mut acc = [0.0_f64; 8];
    match v.as_slice() {
        Some(s) => {
            let mut chunks = s.chunks_exact(8);
            for c in &mut chunks {
                for (a, x) in acc.iter_mut().zip(c) {
                    *a += x * x;
                }
            }
            for (a, x) in acc.iter_mut().zip(chunks.remainder()) {
                *a += x * x;
            }
        }
        None => {
            for (i, x) in v.iter().enumerate() {
                acc[i % 8] += x * x;
            }
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

/// Frobenius norm ‖a‖_F = (Σ a_ij²)^(1/2).
pub fn frobenius_norm(a: ArrayView2<'_, f64>) -> f64 {
    a.iter().map(|v| v * v).sum::<f64>().sqrt()
}

/// Spectral norm ‖a‖ = σ_1(a) (0 for an empty matrix).
pub fn spectral_norm(a: ArrayView2<'_, f64>) -> Result<f64, DecompositionError> {
    Ok(singular_values(a)?.first().copied().unwrap_or(0.0))
}

/// Eigen-decomposition of a symmetric matrix: eigenvalues descending, eigenvectors as columns in
/// the same order. Only the lower triangle is read.
pub fn symmetric_eigen(
    a: ArrayView2<'_, f64>,
) -> Result<(Array1<f64>, Array2<f64>), DecompositionError> {
    let evd = a
        .into_faer()
        .self_adjoint_eigen(Side::Lower)
        .map_err(|_| DecompositionError("symmetric eigendecomposition"))?;
    let mut values: Array1<f64> = evd.S().column_vector().iter().copied().collect();
    let mut vectors = evd.U().into_ndarray().to_owned();
    values.invert_axis(Axis(0));
    vectors.invert_axis(Axis(1));
    Ok((values, vectors.as_standard_layout().into_owned()))
}

/// Orthonormal basis of the span of the leading `k` left singular vectors of `a` (a×k).
pub fn top_left_singular_subspace(
    a: ArrayView2<'_, f64>,
    k: usize,
) -> Result<Array2<f64>, DecompositionError> {
    let svd = thin_svd(a)?;
    let k = k.min(svd.u.ncols());
    Ok(svd.u.slice(s![.., ..k]).to_owned())
}

/// Orthonormal basis Q (a×b, a ≥ b) of the column space of a full-column-rank `a`, from a thin QR
/// decomposition with the signs fixed so that diag(R) ≥ 0 (this makes Q unique, and Haar-distributed
/// when `a` is Gaussian).
pub fn orthonormal_columns(a: ArrayView2<'_, f64>) -> Array2<f64> {
    let qr = a.into_faer().qr();
    let q = qr.compute_thin_Q();
    let r = qr.thin_R();
    let mut q = q.as_ref().into_ndarray().to_owned();
    for j in 0..q.ncols() {
        if r[(j, j)] < 0.0 {
            q.column_mut(j).mapv_inplace(|v| -v);
        }
    }
    q
}

/// sin of the largest principal angle between the column spaces of two matrices with orthonormal
/// columns: sin θ = ‖(I − P_B) P_A‖ = ‖A − B(BᵀA)‖, with A the n×k basis and B the n×l basis.
pub fn sin_largest_principal_angle(
    a: ArrayView2<'_, f64>,
    b: ArrayView2<'_, f64>,
) -> Result<f64, DecompositionError> {
    let residual = &a - &b.dot(&b.t().dot(&a));
    Ok(spectral_norm(residual.view())?.min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn sum_of_squares_has_one_order_for_any_stride() {
        // Entries of very different sizes, so that another order of summation gives other bits.
        let v = Array1::from_iter(
            (0..1003).map(|i| ((i * 37 % 101) as f64 - 50.0) * 1.1f64.powi(i % 29)),
        );
        let exact: f64 = v.iter().map(|x| x * x).sum();
        let contiguous = sum_of_squares(v.view());
        assert!((contiguous - exact).abs() <= 1e-14 * exact);
        // The same vector as a column of a row-major matrix (stride 3) and reversed (stride −1
        // over the reversed data gives v again).
        let mut m = Array2::zeros((v.len(), 3));
        m.column_mut(1).assign(&v);
        assert_eq!(sum_of_squares(m.column(1)).to_bits(), contiguous.to_bits());
        let reversed: Array1<f64> = v.iter().rev().copied().collect();
        let back = reversed.slice(s![..;-1]);
        assert_eq!(sum_of_squares(back).to_bits(), contiguous.to_bits());
        // Eight partial sums: entry i in sum i mod 8.
        let w = array![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
        assert_eq!(sum_of_squares(w.view()), 285.0);
        assert_eq!(sum_of_squares(Array1::<f64>::zeros(0).view()), 0.0);
    }

    #[test]
    fn svd_reconstructs_and_is_descending() {
        let a = array![[3.0, 1.0, 0.5], [1.0, -2.0, 4.0]];
        let d = thin_svd(a.view()).unwrap();
        assert!(d.s[0] >= d.s[1]);
        let rec = (&d.u * &d.s).dot(&d.v.t());
        assert!((&rec - &a).iter().all(|e| e.abs() < 1e-12));
    }

    #[test]
    fn eigen_is_descending_and_reconstructs() {
        let a = array![[2.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 4.0]];
        let (l, v) = symmetric_eigen(a.view()).unwrap();
        assert!(l[0] >= l[1] && l[1] >= l[2]);
        let rec = (&v * &l).dot(&v.t());
        assert!((&rec - &a).iter().all(|e| e.abs() < 1e-12));
    }

    #[test]
    fn principal_angle_of_rotated_line() {
        let t: f64 = 0.3;
        let a = array![[t.cos()], [t.sin()], [0.0]];
        let b = array![[1.0], [0.0], [0.0]];
        let s = sin_largest_principal_angle(a.view(), b.view()).unwrap();
        assert!((s - t.sin()).abs() < 1e-12);
    }
}
