//! A design experiment (bench/README.md, "Engine design choices"): the engine's batched pass
//! against the same batch kernel run on a copy of 𝐀 in memory advised for transparent huge pages.
//!
//! cargo run --release -p bench --example lanes_kernel [k…]
//!
//! Optional NM=n,m (default: the bench's three sizes). Prints GFLOP/s of the pass (4·m·p·k flops,
//! best of 4) for the engine (`PackedOperator::residual_and_adjoint` over `from_packed`'s ordinary
//! pages: copies into padded buffers that start on 64-byte lines, then
//! `batch_kernel::residual_and_adjoint_chunk` on four row chunks) and for the kernel alone on four
//! chunks of the huge-page copy (`huge_pages::streamed_vec`, as `sample_gaussian` stores 𝐀; its
//! buffers aligned the same way), and whether the two agree bit for bit (the tiling, the alignment
//! and the pages do not enter the arithmetic).
//!
//! The kernel was developed here; earlier versions of this file (git history) held its own copy
//! with variants since measured and dropped: a transposed copy of 𝐀 for the adjoint (twice the
//! memory, no faster) and adjoints with G's tile in registers.
use std::time::Instant;

use lowrank_core::operator::batch_kernel::{padded_width, residual_and_adjoint_chunk};
use lowrank_core::operator::huge_pages::streamed_vec;
use lowrank_core::operator::{FusedWorkspace, LineAligned, PackedOperator, PassKernel};
use lowrank_core::packing::packed_dim;
use ndarray::{Array1, Array2};
use rayon::prelude::*;

fn main() {
    experiments::set_blas_threads(1);
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|s| s.parse().expect("batch widths k are integers"))
        .collect();
    let ks: Vec<usize> = if args.is_empty() {
        vec![2, 4, 8, 16, 32, 64]
    } else {
        args
    };
    let sizes: Vec<(usize, usize)> = match std::env::var("NM") {
        Ok(v) => {
            let mut it = v.split(',').map(|s| s.parse().expect("NM=n,m"));
            vec![(it.next().expect("NM=n,m"), it.next().expect("NM=n,m"))]
        }
        Err(_) => vec![(50usize, 500usize), (100, 3000), (200, 10000)],
    };
    for (n, m) in sizes {
        let p = packed_dim(n);
        let a = Array2::from_shape_fn((m, p), |(i, j)| {
            (((i * 7 + j * 13) % 17) as f64 - 8.0) * 0.37
        });
        let mut entries = a.iter().copied();
        let huge = streamed_vec(a.len(), || entries.next().expect("m·p entries"));
        let op = PackedOperator::from_packed(n, a);
        let y = Array1::from_shape_fn(m, |i| (i % 3) as f64 * 1.3);
        for &k in &ks {
            let w = Array2::from_shape_fn((p, k), |(i, j)| ((i * 31 + 3 * j) % 11) as f64 * 0.0173);
            let flops = 4.0 * m as f64 * p as f64 * k as f64;
            let mut r = Array2::zeros((m, k));
            let mut g = Array2::zeros((p, k));
            let mut ws = FusedWorkspace::new();
            let mut best_engine = f64::INFINITY;
            for _ in 0..4 {
                let t = Instant::now();
                let y_all = y.broadcast((k, m)).expect("m entries").reversed_axes();
                op.residual_and_adjoint(
                    PassKernel::for_batch_of(k),
                    w.view(),
                    y_all,
                    r.view_mut(),
                    g.view_mut(),
                    &mut ws,
                );
                best_engine = best_engine.min(t.elapsed().as_secs_f64());
            }
            // The kernel alone on the huge-page copy, the engine's four row chunks.
            let ap = padded_width(k);
            // Padded buffers that start on a 64-byte line, as the engine's workspace does.
            let mut wp_buf = LineAligned::zeros(p * ap);
            let wp = wp_buf.as_mut_slice();
            for l in 0..p {
                for j in 0..k {
                    wp[l * ap + j] = w[(l, j)];
                }
            }
            let len = m.div_ceil(4).div_ceil(4) * 4;
            let bounds: Vec<usize> = (0..5).map(|c| (c * len).min(m)).collect();
            let wp = &*wp;
            let mut rp_buf = LineAligned::zeros(m * ap);
            let rp = rp_buf.as_mut_slice();
            let mut gp_bufs: Vec<LineAligned> =
                (0..4).map(|_| LineAligned::zeros(p * ap)).collect();
            let mut gp: Vec<&mut [f64]> = gp_bufs.iter_mut().map(|b| b.as_mut_slice()).collect();
            let yv: Vec<f64> = (0..m * ap).map(|i| y[i / ap]).collect();
            let mut best_huge = f64::INFINITY;
            for _ in 0..4 {
                let t = Instant::now();
                let mut parts = Vec::new();
                let mut rest = &mut rp[..];
                for c in 0..4 {
                    let (h, tl) = rest.split_at_mut((bounds[c + 1] - bounds[c]) * ap);
                    parts.push(h);
                    rest = tl;
                }
                gp.par_iter_mut()
                    .zip(parts)
                    .enumerate()
                    .for_each(|(c, (gc, rc))| {
                        let (i0, i1) = (bounds[c], bounds[c + 1]);
                        let block = &huge[i0 * p..i1 * p];
                        let yc = &yv[i0 * ap..i1 * ap];
                        residual_and_adjoint_chunk(block, p, wp, ap, yc, rc, gc);
                    });
                best_huge = best_huge.min(t.elapsed().as_secs_f64());
            }
            let same = (0..p).all(|l| {
                (0..k).all(|j| {
                    let v = gp[1..]
                        .iter()
                        .fold(gp[0][l * ap + j], |s, gc| s + gc[l * ap + j]);
                    v.to_bits() == g[(l, j)].to_bits()
                })
            });
            println!(
                "n={n} k={k}: engine {:.1} GFLOP/s, kernel on huge pages {:.1} GFLOP/s; same bits: {same}",
                flops / best_engine / 1e9,
                flops / best_huge / 1e9,
            );
        }
    }
}
