//! The measurement operator 𝒜 : S^n → R^m and its adjoint, stored packed.
//!
//! # Convention
//! ```text
//!   𝒜(Z)_i = ⟨A_i, Z⟩_F / √m,            i = 1..m,
//!   𝒜*(v)  = Σ_i v_i A_i / √m,
//!   A_i    = (G_i + G_iᵀ)/2,  (G_i)_jk i.i.d. N(0, 1).
//! ```
//! With this scaling E‖𝒜(Z)‖² = ‖Z‖_F² for every symmetric Z (near-isometry; RIP for m ≳ nr).
//!
//! # Storage
//! The operator is one m×p row-major matrix 𝐀 (p = n(n+1)/2) whose row i is svec(A_i)/√m
//! (see [`crate::packing`] for svec). Then
//! ```text
//!   𝒜(Z) = 𝐀 · svec(Z)            (one GEMV / GEMM pass)
//!   𝒜*(v) = smat(𝐀ᵀ · v)           (one GEMVᵀ pass)
//! ```
//! and ⟨𝒜(Z), v⟩ = ⟨Z, 𝒜*(v)⟩ holds exactly because svec is an isometry. No n×n matrix A_i is
//! ever formed and no trace product is taken.
//!
//! # Sampling
//! For A_i = (G_i + G_iᵀ)/2 the diagonal entries are N(0, 1) and the off-diagonal ones N(0, 1/2);
//! svec multiplies the latter by √2, so **every entry of svec(A_i) is i.i.d. N(0, 1)**.
//! [`MeasurementOperator::sample_gaussian`] therefore draws 𝐀 directly as i.i.d. N(0, 1/m),
//! row by row from [`Stream::Operator`](crate::seeds::Stream::Operator); this is the same
//! distribution as the definition, at half the random draws.

use ndarray::linalg::{general_mat_mul, general_mat_vec_mul};
use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2};
use ndarray_rand::rand::Rng;
use ndarray_rand::rand_distr::StandardNormal;
use ndarray_rand::RandomExt;

use crate::packing::{packed_dim, smat, svec, svec_into};

/// Rows of 𝐀 per block in [`MeasurementOperator::residual_and_adjoint`]: 128 rows of n(n+1)/2
/// doubles (5 MB at n = 100) stay in the last-level cache between the forward and adjoint products
/// (measured here: 32–128 rows all give the same 1.5× gain over two passes).
pub const FUSED_BLOCK_ROWS: usize = 128;

/// Bytes of the packed operator for n and m: m · n(n+1)/2 · 8.
pub const fn operator_bytes(n: usize, m: usize) -> u128 {
    (m as u128) * (packed_dim(n) as u128) * 8
}

/// The linear map 𝒜 : S^n → R^m, stored packed (see the module docs for the convention).
#[derive(Debug, Clone)]
pub struct MeasurementOperator {
    n: usize,
    /// m×p, row i = svec(A_i)/√m.
    packed: Array2<f64>,
}

impl MeasurementOperator {
    /// Gaussian measurements A_i = (G_i + G_iᵀ)/2 (see the module docs for how they are drawn).
    pub fn sample_gaussian<R: Rng + ?Sized>(n: usize, m: usize, rng: &mut R) -> Self {
        let scale = 1.0 / (m as f64).sqrt();
        let mut packed = Array2::<f64>::random_using((m, packed_dim(n)), StandardNormal, rng);
        packed.mapv_inplace(|a| a * scale);
        Self { n, packed }
    }

    /// The operator with the given symmetric measurement matrices A_1..A_m (each n×n), scaled by
    /// 1/√m as in the module docs. Lets new measurement models reuse the packed machinery.
    pub fn from_symmetric_matrices(matrices: &[Array2<f64>]) -> Self {
        let m = matrices.len();
        let n = matrices.first().map_or(0, |a| a.nrows());
        let scale = 1.0 / (m as f64).sqrt();
        let mut packed = Array2::zeros((m, packed_dim(n)));
        for (mut row, a) in packed.rows_mut().into_iter().zip(matrices) {
            assert_eq!(a.dim(), (n, n), "measurement matrices must all be n×n");
            svec_into(a.view(), row.view_mut());
            row.mapv_inplace(|v| v * scale);
        }
        Self { n, packed }
    }

    /// The operator from its packed rows (m×p, row i = svec(A_i)/√m).
    pub fn from_packed(n: usize, packed: Array2<f64>) -> Self {
        assert_eq!(
            packed.ncols(),
            packed_dim(n),
            "packed operator must have n(n+1)/2 columns"
        );
        Self { n, packed }
    }

    /// Side length n of the matrices measured.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Number of measurements m.
    pub fn m(&self) -> usize {
        self.packed.nrows()
    }

    /// The packed m×p matrix 𝐀 (row i = svec(A_i)/√m).
    pub fn packed(&self) -> ArrayView2<'_, f64> {
        self.packed.view()
    }

    /// The i-th measurement matrix A_i (n×n, without the 1/√m scale): A_i = √m · smat(𝐀_i).
    pub fn measurement_matrix(&self, i: usize) -> Array2<f64> {
        let mut a = smat(self.packed.row(i), self.n);
        a.mapv_inplace(|v| v * (self.m() as f64).sqrt());
        a
    }

    /// 𝒜(Z) for a symmetric n×n Z.
    pub fn apply(&self, z: ArrayView2<'_, f64>) -> Array1<f64> {
        self.apply_packed(svec(z).view())
    }

    /// 𝐀·w for a packed w = svec(Z), written into `out` (length m).
    pub fn apply_packed_into(&self, w: ArrayView1<'_, f64>, out: ArrayViewMut1<'_, f64>) {
        let mut out = out;
        general_mat_vec_mul(1.0, &self.packed, &w, 0.0, &mut out);
    }

    /// 𝐀·w for a packed w = svec(Z).
    pub fn apply_packed(&self, w: ArrayView1<'_, f64>) -> Array1<f64> {
        let mut out = Array1::zeros(self.m());
        self.apply_packed_into(w, out.view_mut());
        out
    }

    /// 𝐀ᵀ·v = svec(𝒜*(v)), written into `out` (length p).
    pub fn adjoint_packed_into(&self, v: ArrayView1<'_, f64>, out: ArrayViewMut1<'_, f64>) {
        let mut out = out;
        general_mat_vec_mul(1.0, &self.packed.t(), &v, 0.0, &mut out);
    }

    /// Fused residual and adjoint for a batch of a packed inputs `w` (a×p):
    /// ```text
    ///   R = w·𝐀ᵀ − 1yᵀ   (a×m, written to `residual`)
    ///   G = R·𝐀          (a×p, written to `adjoint`)
    /// ```
    /// 𝐀 is streamed in blocks of [`FUSED_BLOCK_ROWS`] rows; each block's residual rows are
    /// computed and immediately accumulated into G while the block is in cache, so 𝐀 is read from
    /// main memory once per call instead of twice. Uses GEMV when a = 1 and GEMM otherwise.
    pub fn residual_and_adjoint(
        &self,
        w: ArrayView2<'_, f64>,
        y: ArrayView1<'_, f64>,
        residual: ArrayViewMut2<'_, f64>,
        adjoint: ArrayViewMut2<'_, f64>,
    ) {
        let (mut residual, mut adjoint) = (residual, adjoint);
        let m = self.m();
        let single = w.nrows() == 1;
        for start in (0..m).step_by(FUSED_BLOCK_ROWS) {
            let end = (start + FUSED_BLOCK_ROWS).min(m);
            let block = self.packed.slice(s![start..end, ..]);
            let beta = if start == 0 { 0.0 } else { 1.0 };
            let mut r = residual.slice_mut(s![.., start..end]);
            if single {
                let mut r0 = r.row_mut(0);
                general_mat_vec_mul(1.0, &block, &w.row(0), 0.0, &mut r0);
            } else {
                general_mat_mul(1.0, &w, &block.t(), 0.0, &mut r);
            }
            let yb = y.slice(s![start..end]);
            for mut row in r.rows_mut() {
                row -= &yb;
            }
            if single {
                let mut g0 = adjoint.row_mut(0);
                general_mat_vec_mul(1.0, &block.t(), &r.row(0), beta, &mut g0);
            } else {
                general_mat_mul(1.0, &r, &block, beta, &mut adjoint);
            }
        }
    }

    /// 𝒜*(v) as a symmetric n×n matrix.
    pub fn adjoint(&self, v: ArrayView1<'_, f64>) -> Array2<f64> {
        let mut w = Array1::zeros(self.packed.ncols());
        self.adjoint_packed_into(v, w.view_mut());
        smat(w.view(), self.n)
    }
}
