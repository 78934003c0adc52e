//! The design experiment behind the batched operator pass (bench/README.md): the fused pass's block
//! products written out with faer (the engine's library) and with the linked OpenBLAS, for
//! block lengths and layouts of the adjoint G, on every core (four row chunks on rayon, as the
//! engine). Prints GFLOP/s of the pass (forward + adjoint: 4·m·p·k flops, best of 3) per batch
//! width k, and whether the layouts and block lengths give the same bits.
//!
//! cargo run --release -p bench --example block_products
use std::time::Instant;

use faer::linalg::matmul::matmul;
use faer::{Accum, Par};
use faer_ext::IntoFaer;
use lowrank_core::packing::packed_dim;
use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut2, ShapeBuilder};
use rayon::prelude::*;

#[derive(Clone, Copy, Debug)]
enum Lib {
    Faer,
    /// faer, forward as R_b = A_b·W (not R_bᵀ = Wᵀ·A_bᵀ)
    FaerNormal,
    OpenBlas,
}

fn chunk(
    lib: Lib,
    b: usize,
    block: ArrayView2<'_, f64>,
    w: ArrayView2<'_, f64>,
    y: ArrayView1<'_, f64>,
    mut r: ArrayViewMut2<'_, f64>,
    mut g: ArrayViewMut2<'_, f64>,
) {
    let c = block.nrows();
    let mut first = true;
    for start in (0..c).step_by(b) {
        let end = (start + b).min(c);
        let ab = block.slice(s![start..end, ..]);
        let mut rb = r.slice_mut(s![start..end, ..]);
        match lib {
            Lib::Faer => matmul(
                rb.view_mut().reversed_axes().into_faer(),
                Accum::Replace,
                w.t().into_faer(),
                ab.t().into_faer(),
                1.0,
                Par::Seq,
            ),
            Lib::FaerNormal => matmul(
                rb.view_mut().into_faer(),
                Accum::Replace,
                ab.into_faer(),
                w.into_faer(),
                1.0,
                Par::Seq,
            ),
            Lib::OpenBlas => general_mat_mul(1.0, &ab, &w, 0.0, &mut rb),
        }
        let yb = y.slice(s![start..end]);
        for mut col in rb.columns_mut() {
            col -= &yb;
        }
        let beta = if first { 0.0 } else { 1.0 };
        match lib {
            Lib::Faer | Lib::FaerNormal => matmul(
                g.view_mut().into_faer(),
                if first { Accum::Replace } else { Accum::Add },
                ab.t().into_faer(),
                rb.view().into_faer(),
                1.0,
                Par::Seq,
            ),
            Lib::OpenBlas => general_mat_mul(1.0, &ab.t(), &rb, beta, &mut g),
        }
        first = false;
    }
}

fn run(
    lib: Lib,
    b: usize,
    a: &Array2<f64>,
    w: &Array2<f64>,
    y: &Array1<f64>,
    g_col_major: bool,
) -> (f64, Array2<f64>, Array2<f64>) {
    let (m, p, k) = (a.nrows(), a.ncols(), w.ncols());
    let chunks = 4;
    let len = m.div_ceil(chunks);
    let mut r = Array2::<f64>::zeros((m, k));
    let mk = || {
        if g_col_major {
            Array2::<f64>::zeros((p, k).f())
        } else {
            Array2::<f64>::zeros((p, k))
        }
    };
    let mut gs: Vec<Array2<f64>> = (0..chunks).map(|_| mk()).collect();
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let start = Instant::now();
        let rs: Vec<_> = r.axis_chunks_iter_mut(ndarray::Axis(0), len).collect();
        gs.par_iter_mut()
            .zip(rs)
            .enumerate()
            .for_each(|(ci, (g, rc))| {
                let rows = ci * len..((ci + 1) * len).min(m);
                chunk(
                    lib,
                    b,
                    a.slice(s![rows.clone(), ..]),
                    w.view(),
                    y.slice(s![rows]),
                    rc,
                    g.view_mut(),
                );
            });
        best = best.min(start.elapsed().as_secs_f64());
    }
    let mut g = Array2::<f64>::zeros((p, k));
    for part in &gs {
        g += part;
    }
    (4.0 * (m * p * k) as f64 / best / 1e9, r, g)
}

fn main() {
    experiments::set_blas_threads(1);
    for (n, m) in [(50usize, 500usize), (100, 3000), (200, 10000)] {
        let p = packed_dim(n);
        let a = Array2::from_shape_fn((m, p), |(i, j)| {
            (((i * 7 + j * 13) % 17) as f64 - 8.0) * 0.37
        });
        let y = Array1::from_shape_fn(m, |i| (i % 3) as f64 * 1.3);
        for k in [2usize, 4, 8, 16, 32, 64] {
            let w = Array2::from_shape_fn((p, k), |(i, j)| ((i * 31 + 3 * j) % 11) as f64 * 0.0173);
            // The rule until 2026-12-04: 256-row blocks once G outgrew 2 MiB, G column-major.
            let b_old = if p * k * 8 <= 2 << 20 { 32 } else { 256 };
            let (old, _, g0) = run(Lib::Faer, b_old, &a, &w, &y, true);
            let (col32, _, g1) = run(Lib::Faer, 32, &a, &w, &y, true);
            let (row32, _, g2) = run(Lib::Faer, 32, &a, &w, &y, false);
            let (row32_normal, _, _) = run(Lib::FaerNormal, 32, &a, &w, &y, false);
            let (blas, _, _) = run(Lib::OpenBlas, 32, &a, &w, &y, false);
            println!(
                "n={n} k={k}: faer G col b={b_old} {old:.1}, G col b=32 {col32:.1}, G row b=32 \
                 {row32:.1} (forward as A_b·W: {row32_normal:.1}); OpenBLAS G row b=32 {blas:.1} \
                 GFLOP/s; same bits: layouts {}, b={b_old} vs 32 {}",
                g1 == g2,
                g0 == g1
            );
        }
    }
}
