//! A dense measurement operator 𝒜 : S^n → R^m and its adjoint, stored packed (Gaussian sensing).
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
//!   𝒜(Z) = 𝐀 · svec(Z)            (a product with the packed matrix)
//!   𝒜*(v) = smat(𝐀ᵀ · v)           (a product with its transpose)
//! ```
//! and ⟨𝒜(Z), v⟩ = ⟨Z, 𝒜*(v)⟩ holds exactly because svec is an isometry. No n×n matrix A_i is
//! ever formed and no trace product is taken.
//!
//! # Sampling
//! For A_i = (G_i + G_iᵀ)/2 the diagonal entries are N(0, 1) and the off-diagonal ones N(0, 1/2);
//! svec multiplies the latter by √2, so **every entry of svec(A_i) is i.i.d. N(0, 1)**.
//! [`PackedOperator::sample_gaussian`] therefore draws 𝐀 directly as i.i.d. N(0, 1/m),
//! row by row from [`Stream::Operator`](crate::seeds::Stream::Operator); this is the same
//! distribution as the definition, at half the random draws.

use ndarray::linalg::general_mat_vec_mul;
use ndarray::{
    s, Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis, ShapeBuilder,
};
use ndarray_rand::rand::Rng;
use ndarray_rand::rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

use ndarray::linalg::general_mat_mul;

use super::batch_kernel::{self, padded_width};
use super::huge_pages::streamed_vec;
use super::{BatchPass, MeasurementOperator, PassKernel, PassRun};
use crate::packing::{packed_dim, smat, smat_into, svec, svec_into};

/// Bytes of the packed operator for n and m: m · n(n+1)/2 · 8 (in u128, so that the sizes of
/// absurd specs are reported right instead of overflowing).
pub const fn operator_bytes(n: usize, m: usize) -> u128 {
    let n = n as u128;
    (m as u128) * (n * (n + 1) / 2) * 8
}

/// The linear map 𝒜 : S^n → R^m, stored packed (see the module docs for the convention).
#[derive(Debug, Clone)]
pub struct PackedOperator {
    n: usize,
    /// m×p, row i = svec(A_i)/√m.
    packed: Array2<f64>,
}

impl PackedOperator {
    /// Gaussian measurements A_i = (G_i + G_iᵀ)/2 (see the module docs for how they are drawn),
    /// stored in memory advised for transparent huge pages ([`streamed_vec`]).
    pub fn sample_gaussian<R: Rng + ?Sized>(n: usize, m: usize, rng: &mut R) -> Self {
        let scale = 1.0 / (m as f64).sqrt();
        let p = packed_dim(n);
        let entries = streamed_vec(m * p, || {
            let a: f64 = StandardNormal.sample(rng);
            a * scale
        });
        let packed = Array2::from_shape_vec((m, p), entries).expect("m·p entries");
        Self { n, packed }
    }

    /// The operator with the given measurement matrices A_1..A_m (each n×n), scaled by 1/√m as
    /// in the module docs, stored like [`Self::sample_gaussian`]'s. Lets new measurement models
    /// reuse the packed machinery. Each A_i is stored as its symmetric part (A_i + A_iᵀ)/2, which
    /// has the same ⟨A_i, Z⟩ for every symmetric Z (a symmetric A_i is stored exactly).
    ///
    /// # Panics
    /// If the matrices are not all n×n with n the first one's row count.
    pub fn from_symmetric_matrices(matrices: &[Array2<f64>]) -> Self {
        let m = matrices.len();
        let n = matrices.first().map_or(0, |a| a.nrows());
        let scale = 1.0 / (m as f64).sqrt();
        let p = packed_dim(n);
        let mut packed =
            Array2::from_shape_vec((m, p), streamed_vec(m * p, || 0.0)).expect("m·p entries");
        for (mut row, a) in packed.rows_mut().into_iter().zip(matrices) {
            assert_eq!(a.dim(), (n, n), "measurement matrices must all be n×n");
            // A symmetric A_i as it is (its symmetric part would overflow above f64::MAX/2).
            if a == a.t() {
                svec_into(a.view(), row.view_mut());
            } else {
                let symmetric = (a + &a.t()) / 2.0;
                svec_into(symmetric.view(), row.view_mut());
            }
            row.mapv_inplace(|v| v * scale);
        }
        Self { n, packed }
    }

    /// The operator from its packed rows (m×p, row i = svec(A_i)/√m), stored row-major in the
    /// caller's allocation (not advised for huge pages: build it with [`streamed_vec`] for that).
    pub fn from_packed(n: usize, packed: Array2<f64>) -> Self {
        assert_eq!(
            packed.ncols(),
            packed_dim(n),
            "packed operator must have n(n+1)/2 columns"
        );
        let packed = if packed.is_standard_layout() {
            packed
        } else {
            packed.as_standard_layout().into_owned()
        };
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

    /// Fused residual and adjoint for a batch of a packed inputs, one per column of `w` (p×a),
    /// each with its own data, one per column of `y` (m×a; a broadcast view for shared data):
    /// ```text
    ///   R = 𝐀·W − Y   (m×a, written to `residual`)
    ///   G = 𝐀ᵀ·R      (p×a, written to `adjoint`)
    /// ```
    /// The rows of 𝐀 are split into [`ROW_CHUNKS`] contiguous chunks that run in parallel on the
    /// rayon pool (so at most ROW_CHUNKS threads work). Each chunk streams its rows in blocks (four
    /// rows for the single-input kernel, [`FUSED_BLOCK_ROWS`] for the batch kernel): a block's
    /// residual entries are computed and immediately accumulated into the chunk's partial G, so
    /// the block's second use comes from cache. The partial G's are added in chunk order, so the
    /// result does not depend on the number of threads.
    ///
    /// [`PassKernel::SingleInput`]: one input after another through a hand-written kernel (memory
    /// bound: dot products of four rows at a time, then one axpy of those rows).
    /// [`PassKernel::Batch`]: all inputs at once through the kernel of [`super::batch_kernel`]
    /// (compute bound: the inputs across the lanes of a vector, each entry one chain of fused
    /// multiply-adds in index order), with the inputs, data, residuals and partial adjoints in
    /// padded row-major copies in `workspace` ([`FusedWorkspace`]). Either way a column's bits
    /// depend neither on the other columns nor on the vector width, and any memory layouts of `w`,
    /// `y`, `residual` and `adjoint` give the same bits (tested); the two kernels round
    /// differently.
    pub fn residual_and_adjoint(
        &self,
        kernel: PassKernel,
        w: ArrayView2<'_, f64>,
        y: ArrayView2<'_, f64>,
        residual: ArrayViewMut2<'_, f64>,
        adjoint: ArrayViewMut2<'_, f64>,
        workspace: &mut FusedWorkspace,
    ) {
        let (m, p, a) = (self.m(), self.packed.ncols(), w.ncols());
        assert_eq!(w.nrows(), p, "w must be p×a");
        assert_eq!(y.dim(), (m, a), "y must be m×a");
        assert_eq!(residual.dim(), (m, a), "residual must be m×a");
        assert_eq!(adjoint.dim(), (p, a), "adjoint must be p×a");
        let mut adjoint = adjoint;
        let bounds = chunk_bounds(m);
        if kernel == PassKernel::SingleInput {
            let mut residual = residual;
            for j in 0..a {
                self.single_input(
                    w.column(j),
                    y.column(j),
                    residual.column_mut(j),
                    adjoint.column_mut(j),
                    workspace,
                );
            }
            return;
        }
        let ap = padded_width(a);
        workspace.reserve(ap, p, m);
        let FusedWorkspace {
            w_pad,
            r_pad,
            y_pad,
            partial,
            ..
        } = workspace;
        // W and Y in the padded layout; the padding columns keep whatever finite values they hold
        // (each column is its own chain of operations, so they cannot touch the others).
        let w_pad = &mut w_pad.as_mut_slice()[..p * ap];
        pad_rows(w, w_pad, ap);
        let w_pad = &*w_pad;
        let y_pad = &mut y_pad.as_mut_slice()[..m * ap];
        pad_rows(y, y_pad, ap);
        let y_pad = &*y_pad;
        let packed = self.packed.as_slice().expect("standard layout");
        let mut r_parts: Vec<&mut [f64]> = Vec::with_capacity(ROW_CHUNKS);
        let mut rest = &mut r_pad.as_mut_slice()[..m * ap];
        for c in 0..ROW_CHUNKS {
            let (head, tail) = rest.split_at_mut((bounds[c + 1] - bounds[c]) * ap);
            r_parts.push(head);
            rest = tail;
        }
        let jobs = partial.par_iter_mut().zip(r_parts).enumerate();
        jobs.for_each(|(c, (g, r))| {
            let rows = bounds[c]..bounds[c + 1];
            batch_kernel::residual_and_adjoint_chunk(
                &packed[rows.start * p..rows.end * p],
                p,
                w_pad,
                ap,
                &y_pad[rows.start * ap..rows.end * ap],
                r,
                &mut g.as_mut_slice()[..p * ap],
            );
        });
        unpad_rows(&r_pad.as_slice()[..m * ap], residual, ap);
        // G = partial_0 + partial_1 + … in chunk order.
        let partial: [&[f64]; ROW_CHUNKS] = std::array::from_fn(|c| partial[c].as_slice());
        adjoint
            .axis_chunks_iter_mut(Axis(0), COPY_ROWS)
            .into_par_iter()
            .enumerate()
            .for_each(|(c, mut dst)| {
                for (i, mut row) in dst.rows_mut().into_iter().enumerate() {
                    let l = c * COPY_ROWS + i;
                    for (j, d) in row.iter_mut().enumerate() {
                        let mut v = partial[0][l * ap + j];
                        for part in &partial[1..] {
                            v += part[l * ap + j];
                        }
                        *d = v;
                    }
                }
            });
    }

    /// r = 𝐀·w − y and g = 𝐀ᵀ·r for one input, with the single-input kernel (see
    /// [`Self::residual_and_adjoint`]).
    fn single_input(
        &self,
        w: ArrayView1<'_, f64>,
        y: ArrayView1<'_, f64>,
        r: ArrayViewMut1<'_, f64>,
        mut g: ArrayViewMut1<'_, f64>,
        workspace: &mut FusedWorkspace,
    ) {
        let bounds = chunk_bounds(self.m());
        let residual_parts = split_rows(r.insert_axis(Axis(1)), &bounds);
        // Contiguous copies for the hand-written kernel (w may be a column of a wider buffer).
        workspace.reserve_single(self.packed.ncols());
        let FusedWorkspace { w1, single, .. } = workspace;
        w1.assign(&w);
        let w1 = w1.as_slice().expect("owned vector");
        let jobs = single.par_iter_mut().zip(residual_parts).enumerate();
        jobs.for_each(|(c, (g, r))| {
            let rows = bounds[c]..bounds[c + 1];
            let g = g.as_slice_mut().expect("owned vector");
            let r = r.index_axis_move(Axis(1), 0);
            SingleKernel {
                block: self.packed.slice(s![rows.clone(), ..]),
                w: w1,
                y: y.slice(s![rows]),
                r,
                g,
            }
            .dispatch();
        });
        g.assign(&single[0]);
        for part in &single[1..] {
            g += part;
        }
    }

    /// 𝒜*(v) as a symmetric n×n matrix.
    pub fn adjoint(&self, v: ArrayView1<'_, f64>) -> Array2<f64> {
        let mut w = Array1::zeros(self.packed.ncols());
        self.adjoint_packed_into(v, w.view_mut());
        smat(w.view(), self.n)
    }
}

impl MeasurementOperator for PackedOperator {
    fn n(&self) -> usize {
        self.n
    }

    fn m(&self) -> usize {
        self.packed.nrows()
    }

    fn apply(&self, z: ArrayView2<'_, f64>) -> Array1<f64> {
        PackedOperator::apply(self, z)
    }

    fn adjoint(&self, v: ArrayView1<'_, f64>) -> Array2<f64> {
        PackedOperator::adjoint(self, v)
    }

    /// m·n(n+1)/2·8 ([`operator_bytes`]).
    fn bytes(&self) -> u128 {
        operator_bytes(self.n, self.m())
    }

    /// [`DensePass::bytes`].
    fn pass_bytes(&self, k: usize) -> u128 {
        DensePass::bytes(self.n, self.m(), k)
    }

    fn batch_pass(&self, k_max: usize, kernel: PassKernel) -> Box<dyn BatchPass + '_> {
        Box::new(DensePass::new(self, k_max, kernel))
    }

    fn as_packed(&self) -> Option<&PackedOperator> {
        Some(self)
    }
}

/// The batched pass of a [`PackedOperator`]: W = [svec(U_iU_iᵀ)]_i and Y = (y_1 … y_k), then the
/// fused R = 𝐀·W − Y, G = 𝐀ᵀ·R ([`PackedOperator::residual_and_adjoint`]), then
/// ∇f(U_i) = smat(G_i)·U_i. The per-run steps run in parallel, one task per run.
///
/// With [`PassKernel::Batch`] every call uses the batch kernel, also when one run is left; with
/// [`PassKernel::SingleInput`] each run goes through the single-input kernel on its own. Either
/// way a run's bits do not depend on the other runs of the call.
#[derive(Debug)]
pub struct DensePass<'o> {
    op: &'o PackedOperator,
    kernel: PassKernel,
    /// W (p×k), column-major (each run's svec(U_iU_iᵀ) contiguous, so that the runs' tasks write
    /// apart; the batch kernel reads it through its padded row-major copy).
    w: Array2<f64>,
    /// Y (m×k), column-major (each run's data contiguous).
    y: Array2<f64>,
    /// R: with the batch kernel m×max(k, 2) row-major, with the single-input kernel m×k
    /// column-major. The loop's reductions over a run's residual (the loss ¼‖r‖², the train
    /// error) use `linalg::sum_of_squares`, whose order does not depend on the layout.
    residual: Array2<f64>,
    /// G (p×a for a batch of a runs), column-major (each run's column contiguous): storage for p·k.
    g: Vec<f64>,
    /// smat(G_i) per run (n×n each).
    adjoint: Vec<Array2<f64>>,
    workspace: FusedWorkspace,
}

impl<'o> DensePass<'o> {
    /// The pass over `op` for up to `k_max` runs with `kernel`.
    pub fn new(op: &'o PackedOperator, k_max: usize, kernel: PassKernel) -> Self {
        let (n, m, p) = (op.n, op.m(), op.packed.ncols());
        Self {
            op,
            kernel,
            w: Array2::zeros((p, k_max).f()),
            y: Array2::zeros((m, k_max).f()),
            residual: match kernel {
                PassKernel::Batch => Array2::zeros((m, k_max.max(2))),
                PassKernel::SingleInput => Array2::zeros((m, k_max).f()),
            },
            g: vec![0.0; p * k_max],
            adjoint: (0..k_max).map(|_| Array2::zeros((n, n))).collect(),
            workspace: FusedWorkspace::new(),
        }
    }

    /// Bytes of the buffers of the pass for k runs on an operator with n and m, with
    /// p = n(n+1)/2 and k̄ = k padded to the widest layout, 8 lanes
    /// ([`batch_kernel::padded_width_for_lanes`]; an upper bound on every CPU, so that what fits in
    /// a memory budget does not depend on the CPU):
    /// ```text
    ///   8 · ( 2·p·k + (ROW_CHUNKS + 1)·p·k̄   W and G; padded W and the chunks' partial G
    ///       + (ROW_CHUNKS + 1)·p              the single-input kernel's copy of w and partial G's
    ///       + m·(k + max(k, 2) + 2·k̄)         Y and R; padded Y and padded R
    ///       + k·n²                            smat(G_i) per run
    ///       + 7·(ROW_CHUNKS + 3) )            the padded buffers' alignment to 64-byte lines
    /// ```
    pub fn bytes(n: usize, m: usize, k: usize) -> u128 {
        let kp = batch_kernel::padded_width_for_lanes(k, 8) as u128;
        let (n, m, k) = (n as u128, m as u128, k as u128);
        let p = n * (n + 1) / 2;
        let chunks = ROW_CHUNKS as u128;
        8 * (2 * p * k
            + (chunks + 1) * p * kp
            + (chunks + 1) * p
            + m * (k + k.max(2) + 2 * kp)
            + k * n * n
            + LineAligned::SLACK as u128 * (chunks + 3))
    }
}

impl BatchPass for DensePass<'_> {
    fn compute(&mut self, runs: &mut [PassRun<'_>]) {
        let a = runs.len();
        let p = self.w.nrows();
        runs.par_iter()
            .zip(self.w.slice_mut(s![.., ..a]).axis_iter_mut(Axis(1)))
            .for_each(|(run, col)| svec_into(run.uut, col));
        runs.par_iter()
            .zip(self.y.axis_iter_mut(Axis(1)).into_par_iter())
            .for_each(|(run, mut col)| col.assign(&run.y));
        self.op.residual_and_adjoint(
            self.kernel,
            self.w.slice(s![.., ..a]),
            self.y.slice(s![.., ..a]),
            self.residual.slice_mut(s![.., ..a]),
            column_major(&mut self.g, p, a),
            &mut self.workspace,
        );
        let g = column_major(&mut self.g, p, a);
        let g = g.view();
        runs.par_iter_mut()
            .zip(self.adjoint.par_iter_mut())
            .enumerate()
            .for_each(|(i, (run, adj))| {
                smat_into(g.column(i), adj.view_mut());
                general_mat_mul(1.0, &*adj, &run.u, 0.0, &mut run.gradient);
            });
    }

    fn residual(&self, i: usize) -> ArrayView1<'_, f64> {
        self.residual.column(i)
    }
}

/// Number of contiguous row chunks of 𝐀 processed in parallel by
/// [`PackedOperator::residual_and_adjoint`]. Fixed (not the number of threads), so results
/// are bitwise the same on any number of cores.
pub const ROW_CHUNKS: usize = 4;

/// Rows of 𝐀 per block within a chunk for the batch kernel ([`batch_kernel::BLOCK_ROWS`]).
pub const FUSED_BLOCK_ROWS: usize = batch_kernel::BLOCK_ROWS;

/// Scratch space of [`PackedOperator::residual_and_adjoint`], allocated at first use and
/// reused: for the batch kernel padded row-major copies of W (p×k̄), Y and R (m×k̄ each), and every
/// row chunk's partial adjoint (p×k̄ each), each a [`LineAligned`] buffer; for the
/// single-input kernel a contiguous copy of w and every chunk's partial adjoint (p each).
#[derive(Debug, Default, Clone)]
pub struct FusedWorkspace {
    w_pad: LineAligned,
    r_pad: LineAligned,
    y_pad: LineAligned,
    partial: Vec<LineAligned>,
    w1: Array1<f64>,
    single: Vec<Array1<f64>>,
}

/// Entries of f64 whose first one starts a 64-byte cache line, so that the batch kernel's
/// vectors of padded rows (ap entries, a multiple of the vector width) never straddle two lines:
/// 7 entries more than asked for, and the slice starts at the first line boundary.
#[derive(Debug, Default)]
pub struct LineAligned {
    buf: Vec<f64>,
    len: usize,
}

/// A copy of the aligned entries, aligned in its own buffer (a clone of `buf` could start its
/// line at another offset and shift them).
impl Clone for LineAligned {
    fn clone(&self) -> Self {
        let mut copy = Self::zeros(self.len);
        copy.as_mut_slice().copy_from_slice(self.as_slice());
        copy
    }
}

impl LineAligned {
    /// Entries of padding beyond `len`.
    const SLACK: usize = 7;

    /// `len` zeros.
    pub fn zeros(len: usize) -> Self {
        Self {
            buf: vec![0.0; len + Self::SLACK],
            len,
        }
    }

    /// Entries (not counting the slack).
    fn len(&self) -> usize {
        self.len
    }

    /// Where the aligned entries start in `buf`.
    fn offset(&self) -> usize {
        (64 - self.buf.as_ptr() as usize % 64) % 64 / std::mem::size_of::<f64>()
    }

    /// The `len` entries, starting on a line.
    pub fn as_slice(&self) -> &[f64] {
        let off = self.offset();
        &self.buf[off..off + self.len]
    }

    /// The `len` entries, starting on a line.
    pub fn as_mut_slice(&mut self) -> &mut [f64] {
        let off = self.offset();
        &mut self.buf[off..off + self.len]
    }
}

impl FusedWorkspace {
    /// Empty scratch space (allocated at first use).
    pub fn new() -> Self {
        Self::default()
    }

    fn reserve_single(&mut self, p: usize) {
        if self.w1.len() != p || self.single.len() != ROW_CHUNKS {
            self.w1 = Array1::zeros(p);
            self.single = (0..ROW_CHUNKS).map(|_| Array1::zeros(p)).collect();
        }
    }

    /// Room for a batch with `ap` padded columns.
    fn reserve(&mut self, ap: usize, p: usize, m: usize) {
        let fits = self.partial.len() == ROW_CHUNKS
            && self.partial.iter().all(|b| b.len() >= p * ap)
            && self.w_pad.len() >= p * ap
            && self.r_pad.len() >= m * ap
            && self.y_pad.len() >= m * ap;
        if !fits {
            self.partial = (0..ROW_CHUNKS)
                .map(|_| LineAligned::zeros(p * ap))
                .collect();
            self.w_pad = LineAligned::zeros(p * ap);
            self.r_pad = LineAligned::zeros(m * ap);
            self.y_pad = LineAligned::zeros(m * ap);
        }
    }
}

/// Rows per task when the batched pass copies W and Y into its padded buffers, R out of them
/// and sums the chunks' partial G's (in parallel on the rayon pool; each entry is copied or summed
/// on its own, so the split does not enter the arithmetic).
const COPY_ROWS: usize = 256;

/// `src` (rows×a) into the first rows·ap entries of `dst`, row-major with `ap` ≥ a columns (the
/// padding columns keep their values).
fn pad_rows(src: ArrayView2<'_, f64>, dst: &mut [f64], ap: usize) {
    dst.par_chunks_mut(COPY_ROWS * ap)
        .zip(src.axis_chunks_iter(Axis(0), COPY_ROWS).into_par_iter())
        .for_each(|(dst, src)| {
            for (d, s) in dst.chunks_exact_mut(ap).zip(src.rows()) {
                for (d, &v) in d.iter_mut().zip(&s) {
                    *d = v;
                }
            }
        });
}

/// The inverse of [`pad_rows`]: the first a columns of `src` (row-major with `ap` columns) into
/// `dst` (rows×a).
fn unpad_rows(src: &[f64], mut dst: ArrayViewMut2<'_, f64>, ap: usize) {
    dst.axis_chunks_iter_mut(Axis(0), COPY_ROWS)
        .into_par_iter()
        .zip(src.par_chunks(COPY_ROWS * ap))
        .for_each(|(mut dst, src)| {
            for (mut d, s) in dst.rows_mut().into_iter().zip(src.chunks_exact(ap)) {
                for (d, &v) in d.iter_mut().zip(s) {
                    *d = v;
                }
            }
        });
}

/// The first p·a entries of `buf` as a column-major p×a matrix.
fn column_major(buf: &mut [f64], p: usize, a: usize) -> ArrayViewMut2<'_, f64> {
    ArrayViewMut2::from_shape((p, a).f(), &mut buf[..p * a]).expect("p·a entries")
}

/// `residual` (m×a) cut into the row chunks of `bounds`.
fn split_rows<'a>(
    residual: ArrayViewMut2<'a, f64>,
    bounds: &[usize; ROW_CHUNKS + 1],
) -> Vec<ArrayViewMut2<'a, f64>> {
    let mut parts = Vec::with_capacity(ROW_CHUNKS);
    let mut rest = residual;
    for c in 0..ROW_CHUNKS {
        let (head, tail) = rest.split_at(Axis(0), bounds[c + 1] - bounds[c]);
        parts.push(head);
        rest = tail;
    }
    parts
}

/// Start of each row chunk and m at the end: chunk c is rows bounds[c]..bounds[c+1]. Chunk
/// lengths are multiples of 4 (the single-input kernel's row tile) except possibly the last.
fn chunk_bounds(m: usize) -> [usize; ROW_CHUNKS + 1] {
    let len = m.div_ceil(ROW_CHUNKS).div_ceil(4) * 4;
    let mut b = [0; ROW_CHUNKS + 1];
    for (c, v) in b.iter_mut().enumerate() {
        *v = (c * len).min(m);
    }
    b
}

/// [`fused_chunk_single`] compiled for an instruction set chosen at run time
/// ([`SingleKernel::dispatch`]). On x86-64 CPUs with AVX2 (AVX-512 ones too) its inner loop is
/// written with pulp's 4-lane f64 vectors and prefetches; elsewhere it is the same arithmetic on
/// `[f64; 4]` arrays, without prefetches (explicit lanes because the
/// compiler's own vectorization gathered across rows instead of loading them, at about half the
/// bandwidth; with the software prefetch of [`PREFETCH_AHEAD`] one core streams near its read
/// rate; measurements in bench/README.md).
/// The kernel has no fused multiply-adds and its lanes are explicit, so the arithmetic, and every
/// bit of the result, is the same for every instruction set (tested).
struct SingleKernel<'a> {
    block: ArrayView2<'a, f64>,
    w: &'a [f64],
    y: ArrayView1<'a, f64>,
    r: ArrayViewMut1<'a, f64>,
    g: &'a mut [f64],
}

impl SingleKernel<'_> {
    /// Runs the kernel with 4-lane vectors where the CPU has them (AVX2, also on AVX-512 CPUs,
    /// whose 8-lane vectors the kernel does not use), else with pulp's widest instruction set.
    fn dispatch(self) {
        #[cfg(target_arch = "x86_64")]
        if let Some(v3) = pulp::x86::V3::try_new() {
            return pulp::Simd::vectorize(v3, self);
        }
        pulp::Arch::new().dispatch(self)
    }
}

impl pulp::WithSimd for SingleKernel<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        fused_chunk_single(simd, self.block, self.w, self.y, self.r, self.g);
    }
}

/// Single input over a chunk of rows `block` (c×p): r = block·w − y, g = blockᵀ·r (overwritten).
///
/// Four rows at a time: their dot products with w (four accumulators per row, summed as
/// (s₀+s₂)+(s₁+s₃) plus the tail), then g += Σ_q r_q·row_q while the four rows are still in cache.
/// The axpy of quad i runs in the same sweep as the dot products of quad i+1 (same sums in the
/// same order), so reading 𝐀 from memory never pauses for an axpy sweep: at n = 200, where a quad
/// (640 KB) no longer fits in L2, that was 5% faster; at n = 100 it is the same.
#[inline(always)]
fn fused_chunk_single<S: pulp::Simd>(
    simd: S,
    block: ArrayView2<'_, f64>,
    w: &[f64],
    y: ArrayView1<'_, f64>,
    r: ArrayViewMut1<'_, f64>,
    g: &mut [f64],
) {
    let mut r = r;
    let (c, p) = block.dim();
    g.fill(0.0);
    let Some(a) = block.to_slice() else {
        unreachable!("row ranges of a standard-layout matrix are contiguous")
    };
    let rows = |i: usize| &a[i * p..(i + 1) * p];
    // Software pipeline: one sweep computes quad i's dot products and quad i−1's axpy, so the
    // stream from memory never waits for an axpy sweep (which rereads its rows from cache).
    let mut prev: Option<([&[f64]; 4], [f64; 4])> = None;
    let mut i = 0;
    while i + 4 <= c {
        let quad = [rows(i), rows(i + 1), rows(i + 2), rows(i + 3)];
        let d = match prev {
            Some((prev_quad, prev_r)) => dot4_axpy4::<S, true>(simd, quad, w, prev_quad, prev_r, g),
            None => dot4_axpy4::<S, false>(simd, quad, w, quad, [0.0; 4], g),
        };
        let rq = [
            d[0] - y[i],
            d[1] - y[i + 1],
            d[2] - y[i + 2],
            d[3] - y[i + 3],
        ];
        for q in 0..4 {
            r[i + q] = rq[q];
        }
        prev = Some((quad, rq));
        i += 4;
    }
    if let Some((quad, rq)) = prev {
        axpy4(quad, rq, g);
    }
    for i in i..c {
        let row = rows(i);
        let ri = row.iter().zip(w).map(|(x, z)| x * z).sum::<f64>() - y[i];
        r[i] = ri;
        for (gl, x) in g.iter_mut().zip(row) {
            *gl += ri * x;
        }
    }
}

/// g += Σ_q r_q·row_q (summed left to right, then added to g).
#[inline(always)]
fn axpy4(rows: [&[f64]; 4], r: [f64; 4], g: &mut [f64]) {
    let p = g.len();
    let [a0, a1, a2, a3] = rows.map(|x| &x[..p]);
    for (l, gl) in g.iter_mut().enumerate() {
        *gl += r[0] * a0[l] + r[1] * a1[l] + r[2] * a2[l] + r[3] * a3[l];
    }
}

/// The dot products of four rows with w (four interleaved accumulators per row, lane e summing
/// the entries l ≡ e mod 4, then (s₀+s₂)+(s₁+s₃) plus the tail) and, if `AXPY`, in the same sweep
/// [`axpy4`] of the previous quad `prev` with its residuals `r` into g (bitwise the same as the
/// axpy on its own). With 4-lane SIMD (AVX2) the lanes are vector registers, otherwise `[f64; 4]`.
#[inline(always)]
fn dot4_axpy4<S: pulp::Simd, const AXPY: bool>(
    simd: S,
    rows: [&[f64]; 4],
    w: &[f64],
    prev: [&[f64]; 4],
    r: [f64; 4],
    g: &mut [f64],
) -> [f64; 4] {
    let p = w.len();
    let body = p / 4 * 4;
    let rows = rows.map(|x| &x[..p]);
    let prev = prev.map(|x| &x[..p]);
    let g = &mut g[..p];
    let acc = if S::F64_LANES == 4 {
        dot4_axpy4_body_simd::<S, AXPY>(simd, rows, w, prev, r, g)
    } else {
        dot4_axpy4_body_lanes::<AXPY>(rows, w, prev, r, g)
    };
    if AXPY {
        axpy4(prev.map(|x| &x[body..]), r, &mut g[body..]);
    }
    let mut out = [0.0; 4];
    for q in 0..4 {
        let mut sum = (acc[q][0] + acc[q][2]) + (acc[q][1] + acc[q][3]);
        for l in body..p {
            sum += rows[q][l] * w[l];
        }
        out[q] = sum;
    }
    out
}

/// The body (first p − p mod 4 entries) of [`dot4_axpy4`] on `[f64; 4]` lanes.
#[inline(always)]
fn dot4_axpy4_body_lanes<const AXPY: bool>(
    rows: [&[f64]; 4],
    w: &[f64],
    prev: [&[f64]; 4],
    r: [f64; 4],
    g: &mut [f64],
) -> [[f64; 4]; 4] {
    let body = w.len() / 4 * 4;
    let [b0, b1, b2, b3] = prev;
    let mut acc = [[0.0f64; 4]; 4];
    for l in (0..body).step_by(4) {
        let wl = &w[l..l + 4];
        for q in 0..4 {
            let al = &rows[q][l..l + 4];
            for e in 0..4 {
                acc[q][e] += al[e] * wl[e];
            }
        }
        if AXPY {
            let gl = &mut g[l..l + 4];
            for e in 0..4 {
                gl[e] += r[0] * b0[l + e] + r[1] * b1[l + e] + r[2] * b2[l + e] + r[3] * b3[l + e];
            }
        }
    }
    acc
}

/// How far ahead (in f64 entries, 2 KiB) the single-input kernel asks for each of its four rows
/// (chosen by measurement against 128, 512 and 1024 entries; bench/README.md).
pub const PREFETCH_AHEAD: usize = 256;

/// A software prefetch into L1 (x86-64; a no-op elsewhere). Prefetching reads nothing into the
/// program and never faults, so any address (even past the end of a row) may be asked for. Public
/// for the bench, whose read-bandwidth probe reads the way the single-input kernel does.
#[derive(Clone, Copy)]
pub struct Prefetch {
    #[cfg(target_arch = "x86_64")]
    sse: Option<pulp::core_arch::x86::Sse>,
}

impl Prefetch {
    /// The prefetch of this CPU (SSE on x86-64).
    #[inline(always)]
    pub fn new() -> Self {
        Self {
            #[cfg(target_arch = "x86_64")]
            sse: pulp::core_arch::x86::Sse::try_new(),
        }
    }

    /// Asks for the cache line holding `ptr`.
    #[inline(always)]
    pub fn line(self, ptr: *const f64) {
        #[cfg(target_arch = "x86_64")]
        if let Some(sse) = self.sse {
            sse._mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(ptr.cast());
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = ptr;
    }
}

impl Default for Prefetch {
    fn default() -> Self {
        Self::new()
    }
}

/// The body of [`dot4_axpy4`] with S's 4-lane f64 vectors (S::F64_LANES = 4): the same
/// operations in the same order as [`dot4_axpy4_body_lanes`], one vector instruction per lane
/// quadruple, and each row prefetched [`PREFETCH_AHEAD`] entries ahead.
#[inline(always)]
fn dot4_axpy4_body_simd<S: pulp::Simd, const AXPY: bool>(
    simd: S,
    rows: [&[f64]; 4],
    w: &[f64],
    prev: [&[f64]; 4],
    r: [f64; 4],
    g: &mut [f64],
) -> [[f64; 4]; 4] {
    use pulp::bytemuck::cast;
    let body = w.len() / 4;
    let (w4, _) = pulp::as_arrays::<4, f64>(w);
    let w4 = &w4[..body];
    let a4 = rows.map(|x| &pulp::as_arrays::<4, f64>(x).0[..body]);
    let b4 = prev.map(|x| &pulp::as_arrays::<4, f64>(x).0[..body]);
    let g4 = &mut pulp::as_arrays_mut::<4, f64>(g).0[..body];
    let rv = r.map(|x| simd.splat_f64s(x));
    let zero = simd.splat_f64s(0.0);
    let mut acc = [zero; 4];
    let prefetch = Prefetch::new();
    for l in 0..body {
        // One prefetch per row and 64-byte line: every other step of four entries.
        if l % 2 == 0 {
            for row in rows {
                prefetch.line(row.as_ptr().wrapping_add(4 * l + PREFETCH_AHEAD));
            }
        }
        let wl: S::f64s = cast(w4[l]);
        for q in 0..4 {
            let al: S::f64s = cast(a4[q][l]);
            acc[q] = simd.add_f64s(acc[q], simd.mul_f64s(al, wl));
        }
        if AXPY {
            let mut s = simd.mul_f64s(rv[0], cast(b4[0][l]));
            s = simd.add_f64s(s, simd.mul_f64s(rv[1], cast(b4[1][l])));
            s = simd.add_f64s(s, simd.mul_f64s(rv[2], cast(b4[2][l])));
            s = simd.add_f64s(s, simd.mul_f64s(rv[3], cast(b4[3][l])));
            let gl: S::f64s = cast(g4[l]);
            g4[l] = cast(simd.add_f64s(gl, s));
        }
    }
    acc.map(cast::<S::f64s, [f64; 4]>)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;

    /// The batch workspace's buffers start on 64-byte lines, whatever the allocator returned
    /// (small sizes from the heap, large ones from mmap at 16 bytes past a page), also in a clone,
    /// and hold exactly the entries asked for.
    #[test]
    fn workspace_buffers_start_on_cache_lines() {
        for len in [1, 8, 100, 5050 * 32, 20100 * 40] {
            let mut buf = LineAligned::zeros(len);
            assert_eq!(buf.as_slice().as_ptr() as usize % 64, 0, "len {len}");
            assert_eq!(buf.as_mut_slice().len(), len);
            buf.as_mut_slice()[len - 1] = 3.0;
            let copy = buf.clone();
            assert_eq!(
                copy.as_slice().as_ptr() as usize % 64,
                0,
                "clone, len {len}"
            );
            assert_eq!(copy.as_slice()[len - 1], 3.0);
        }
    }

    /// The batch kernel gives the same bits with AVX-512 (8 lanes), AVX2 (4 lanes) and scalar
    /// fused multiply-adds, for widths that exercise one to ten vectors, every register tile shape
    /// and the row tile's tail.
    #[test]
    fn batch_kernel_bits_do_not_depend_on_the_instruction_set() {
        use super::batch_kernel::{chunk, padded_width_for_lanes};
        let (n, m) = (13, 301); // p = 91; 301 rows: 50 six-row tiles and one single row
        let p = packed_dim(n);
        let block: Vec<f64> = (0..m * p)
            .map(|i| ((i * 7919 % 1013) as f64 - 506.0) / 311.0)
            .collect();
        for (a, lanes) in [2, 8, 9, 13, 20, 40]
            .into_iter()
            .flat_map(|a| [(a, 4), (a, 8)])
        {
            let ap = padded_width_for_lanes(a, lanes);
            let w: Vec<f64> = (0..p * ap)
                .map(|i| ((i * 31 % 11) as f64 - 5.0) * 0.0173)
                .collect();
            // Each run its own data (row-major m×ap).
            let y: Vec<f64> = (0..m * ap).map(|i| (i as f64 * 0.37).sin()).collect();
            // R and G start as NaN: the kernel must overwrite every entry (it does not zero them
            // first; the engine reuses its buffers from pass to pass).
            let run = |f: &dyn Fn(&mut [f64], &mut [f64])| {
                let (mut r, mut g) = (vec![f64::NAN; m * ap], vec![f64::NAN; p * ap]);
                f(&mut r, &mut g);
                (r, g)
            };
            let scalar = run(&|r, g| chunk(pulp::Scalar::new(), &block, p, &w, ap, &y, r, g));
            assert!(scalar.1.iter().any(|&v| v != 0.0));
            assert!(
                scalar.0.iter().chain(&scalar.1).all(|v| v.is_finite()),
                "an entry of R or G left unwritten at a = {a}"
            );
            // The scalar kernel is the definition: one fused multiply-add per term, in order.
            for (i, ri) in scalar.0.chunks_exact(ap).enumerate().step_by(37) {
                for (j, &rij) in ri.iter().enumerate() {
                    let chain =
                        (0..p).fold(0.0f64, |s, l| block[i * p + l].mul_add(w[l * ap + j], s));
                    assert_eq!(rij.to_bits(), (chain - y[i * ap + j]).to_bits());
                }
            }
            // And G: per entry one chain over the rows, in order, of the residuals just checked.
            for (l, gl) in scalar.1.chunks_exact(ap).enumerate().step_by(7) {
                for (j, &glj) in gl.iter().enumerate() {
                    let chain = (0..m).fold(0.0f64, |s, i| {
                        block[i * p + l].mul_add(scalar.0[i * ap + j], s)
                    });
                    assert_eq!(glj.to_bits(), chain.to_bits(), "G[{l}, {j}] at a = {a}");
                }
            }
            #[cfg(target_arch = "x86_64")]
            {
                if let Some(v3) = pulp::x86::V3::try_new() {
                    let v3 = run(&|r, g| chunk(v3, &block, p, &w, ap, &y, r, g));
                    assert!(v3 == scalar, "AVX2 bits differ at a = {a}");
                }
                if let Some(v4) = pulp::x86::V4::try_new() {
                    if ap.is_multiple_of(8) {
                        let v4 = run(&|r, g| chunk(v4, &block, p, &w, ap, &y, r, g));
                        assert!(v4 == scalar, "AVX-512 bits differ at a = {a}");
                    }
                }
            }
        }
    }

    /// The single-input kernel gives the same bits with the instruction set `residual_and_adjoint`
    /// uses (AVX2 where the CPU has it), with the widest one the CPU has (AVX-512 where it has it)
    /// and with pulp's portable fallback.
    #[test]
    fn single_kernel_bits_do_not_depend_on_the_instruction_set() {
        let (n, m) = (13, 37); // p = 91: both kernels' tails (p mod 4, m mod 4) are exercised
        let p = packed_dim(n);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let op = PackedOperator::sample_gaussian(n, m, &mut rng);
        let w: Vec<f64> = (0..p).map(|l| ((l * 37 % 11) as f64 - 5.0) / 7.0).collect();
        let y = Array1::from_shape_fn(m, |i| (i as f64).sin());
        let run = |arch: Option<pulp::Arch>| {
            let mut r = Array1::<f64>::zeros(m);
            let mut g = vec![0.0; p];
            let kernel = SingleKernel {
                block: op.packed(),
                w: &w,
                y: y.view(),
                r: r.view_mut(),
                g: &mut g,
            };
            match arch {
                Some(arch) => arch.dispatch(kernel),
                None => kernel.dispatch(),
            }
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            (bits(r.as_slice().expect("owned")), bits(&g))
        };
        let used = run(None);
        assert!(
            used == run(Some(pulp::Arch::new())),
            "widest instruction set"
        );
        assert!(used == run(Some(pulp::Arch::Scalar)), "portable fallback");
        assert!(used.0.iter().any(|&v| v != 0) && used.1.iter().any(|&v| v != 0));
    }
}
