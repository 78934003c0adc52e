//! A design experiment (bench/README.md, "Engine design choices"): the batched fused pass with a
//! hand-written kernel in which the runs sit across AVX-512 lanes and every entry is one chain of
//! fused multiply-adds along the packed index, timed against the engine's pass (faer's products)
//! on every core (four row chunks on rayon, as the engine), with the bits compared across
//! instruction sets. Needs pulp's AVX-512 types, hence the feature:
//!
//! cargo run --release -p bench --example lanes_kernel --features avx512-experiment [k…]
//!
//! Optional NM=n,m (default: the bench's three sizes); HUGE=1 gives the kernels a copy of 𝐀 in
//! memory advised for transparent huge pages (madvise; the engine keeps its own 4 KiB pages).
//! Prints GFLOP/s of the pass (4·m·p·k flops, best of 4) for the engine and the kernel, their
//! relative difference, and whether the kernel's bits are the same with 8-lane AVX-512, 4-lane
//! AVX2 and scalar fused multiply-adds; and, as a third design, the same kernel run as two
//! products, R = 𝐀·W − y·1ᵀ and then G = (𝐀ᵀ)·R over a transposed copy of 𝐀 (twice the memory).
//!
//! The register tiles' inner loops read through raw pointers: with slice indexing the compiler
//! kept six bounds checks and spilled the row pointers to the stack every step (38 → ~55
//! instructions per 24 fused multiply-adds), which cost 15–20% of the pass.
//!
//! # The kernel's arithmetic
//! For a chunk of c rows of 𝐀 (row-major c×p) and a inputs W (p×a):
//! ```text
//!   R_ij = fma(A_i,p−1, W_p−1,j, … fma(A_i1, W_1j, fma(A_i0, W_0j, 0)) …) − y_i     (l = 0, 1, … in order)
//!   G_lj = fma(A_c−1,l, R_c−1,j, … fma(A_1l, R_1j, fma(A_0l, R_0j, 0)) …)           (i = 0, 1, … in order)
//! ```
//! that is R = 𝐀_c·W − y·1ᵀ and G = 𝐀_cᵀ·R, each entry summed in index order with one rounding per
//! step. W, R and G are row-major with `ap` columns (a padded to a multiple of the lane count, the
//! padding columns ignored), so a vector holds entry j..j+L of one row: different runs, never
//! different terms of one sum. Hence the bits do not depend on the vector width (8-lane AVX-512,
//! 4-lane AVX2 and the scalar fallback agree; checked at start-up), nor on the tiling below, which is free to
//! suit the machine.
//!
//! # Tiling
//! Both products walk the packed index in slices of `slice_len` entries. For a slice, the forward
//! keeps an MI×NV register tile of R (MI rows, NV vectors of runs) while streaming W's slice (in L1)
//! and broadcasting the rows' entries of 𝐀; the adjoint keeps the tile of R in registers and streams
//! G's slice (in L1) through them. So 𝐀 is read twice per pass (it is the large operand, from
//! memory or the last-level cache), W and G once per slice per `BLOCK_ROWS` rows, R from L2.

#![allow(unsafe_code)]

use std::time::Instant;

use pulp::Simd;

use lowrank_core::operator::{FusedWorkspace, PackedOperator};
use lowrank_core::packing::packed_dim;
use ndarray::{Array1, Array2};
use rayon::prelude::*;

/// Whether the kernel gives the same bits with every instruction set this CPU has.
fn same_bits_across_instruction_sets() -> bool {
    let (n, m, a) = (23, 301, 13);
    let p = packed_dim(n);
    let ap = padded_width(a);
    let block: Vec<f64> = (0..m * p)
        .map(|i| ((i * 7919 % 1013) as f64 - 506.0) / 311.0)
        .collect();
    let w: Vec<f64> = (0..p * ap)
        .map(|i| ((i * 31 % 11) as f64 - 5.0) * 0.0173)
        .collect();
    let y: Vec<f64> = (0..m).map(|i| (i as f64).sin()).collect();
    let run = |f: &dyn Fn(&mut [f64], &mut [f64])| {
        let (mut r, mut g) = (vec![0.0; m * ap], vec![0.0; p * ap]);
        f(&mut r, &mut g);
        (r, g)
    };
    let scalar = run(&|r, g| {
        residual_and_adjoint_chunk_with(pulp::Scalar::new(), &block, p, &w, ap, &y, r, g)
    });
    let mut same = true;
    #[cfg(target_arch = "x86_64")]
    {
        if let Some(v3) = pulp::x86::V3::try_new() {
            same &= run(&|r, g| residual_and_adjoint_chunk_with(v3, &block, p, &w, ap, &y, r, g))
                == scalar;
        }
        if let Some(v4) = pulp::x86::V4::try_new() {
            same &= run(&|r, g| residual_and_adjoint_chunk_with(v4, &block, p, &w, ap, &y, r, g))
                == scalar;
        }
    }
    same
}

fn main() {
    experiments::set_blas_threads(1);
    println!(
        "kernel bits the same with AVX-512, AVX2 and scalar fused multiply-adds: {}",
        same_bits_across_instruction_sets()
    );
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|s| s.parse().unwrap())
        .collect();
    let ks: Vec<usize> = if args.is_empty() {
        vec![2, 4, 8, 16, 32, 64]
    } else {
        args
    };
    let sizes: Vec<(usize, usize)> = match std::env::var("NM") {
        Ok(v) => vec![(
            v.split(',').next().unwrap().parse().unwrap(),
            v.split(',').nth(1).unwrap().parse().unwrap(),
        )],
        Err(_) => vec![(50usize, 500usize), (100, 3000), (200, 10000)],
    };
    for (n, m) in sizes {
        let p = packed_dim(n);
        let a = Array2::from_shape_fn((m, p), |(i, j)| {
            (((i * 7 + j * 13) % 17) as f64 - 8.0) * 0.37
        });
        let op = PackedOperator::from_packed(n, a.clone());
        let y = Array1::from_shape_fn(m, |i| (i % 3) as f64 * 1.3);
        let aslice_plain = a.as_slice().unwrap();
        let huge = std::env::var("HUGE").is_ok();
        let ah = huge_copy(aslice_plain);
        let aslice: &[f64] = if huge { &ah } else { aslice_plain };
        for &k in &ks {
            let w = Array2::from_shape_fn((p, k), |(i, j)| ((i * 31 + 3 * j) % 11) as f64 * 0.0173);
            let flops = 4.0 * m as f64 * p as f64 * k as f64;
            // engine
            let mut r = Array2::zeros((m, k));
            let mut g = Array2::zeros((p, k));
            let mut ws = FusedWorkspace::new();
            let mut best_e = f64::INFINITY;
            for _ in 0..4 {
                let t = Instant::now();
                op.residual_and_adjoint(w.view(), y.view(), r.view_mut(), g.view_mut(), &mut ws);
                best_e = best_e.min(t.elapsed().as_secs_f64());
            }
            // lanes
            let ap = padded_width(k);
            let mut wp = vec![0.0; p * ap];
            for l in 0..p {
                for j in 0..k {
                    wp[l * ap + j] = w[(l, j)];
                }
            }
            let len = m.div_ceil(4).div_ceil(4) * 4;
            let bounds: Vec<usize> = (0..5).map(|c| (c * len).min(m)).collect();
            let mut rp = vec![0.0; m * ap];
            let mut gp: Vec<Vec<f64>> = (0..4).map(|_| vec![0.0; p * ap]).collect();
            let mut best_l = f64::INFINITY;
            for _ in 0..4 {
                let t = Instant::now();
                let mut rparts = Vec::new();
                let mut rest = &mut rp[..];
                for c in 0..4 {
                    let (h, tl) = rest.split_at_mut((bounds[c + 1] - bounds[c]) * ap);
                    rparts.push(h);
                    rest = tl;
                }
                gp.par_iter_mut()
                    .zip(rparts)
                    .enumerate()
                    .for_each(|(c, (gc, rc))| {
                        let (i0, i1) = (bounds[c], bounds[c + 1]);
                        residual_and_adjoint_chunk(
                            &aslice[i0 * p..i1 * p],
                            p,
                            &wp,
                            ap,
                            &y.as_slice().unwrap()[i0..i1],
                            rc,
                            gc,
                        );
                    });
                best_l = best_l.min(t.elapsed().as_secs_f64());
            }
            // two passes, the adjoint over a transposed copy
            let at: Vec<f64> = {
                let mut v = vec![0.0; p * m];
                for i in 0..m {
                    for l in 0..p {
                        v[l * m + i] = aslice[i * p + l];
                    }
                }
                v
            };
            let mut r2 = vec![0.0; m * ap];
            let mut g2 = vec![0.0; p * ap];
            let nchunk = 4;
            let mut best_t = f64::INFINITY;
            let mut best_f = f64::INFINITY;
            for _ in 0..4 {
                let t = Instant::now();
                let rl = m.div_ceil(nchunk);
                r2.par_chunks_mut(rl * ap).enumerate().for_each(|(c, rc)| {
                    let i0 = c * rl;
                    let rows = rc.len() / ap;
                    product_dispatch(&aslice[i0 * p..(i0 + rows) * p], p, &wp, ap, rc);
                    for (row, &yi) in rc.chunks_exact_mut(ap).zip(&y.as_slice().unwrap()[i0..]) {
                        for v in row {
                            *v -= yi;
                        }
                    }
                });
                let tf = t.elapsed().as_secs_f64();
                let gl = p.div_ceil(nchunk);
                g2.par_chunks_mut(gl * ap).enumerate().for_each(|(c, gc)| {
                    let l0 = c * gl;
                    let rows = gc.len() / ap;
                    product_dispatch(&at[l0 * m..(l0 + rows) * m], m, &r2, ap, gc);
                });
                best_t = best_t.min(t.elapsed().as_secs_f64());
                best_f = best_f.min(tf);
            }
            let mut err2: f64 = 0.0;
            for l in 0..p {
                for j in 0..k {
                    err2 = err2.max((g2[l * ap + j] - g[(l, j)]).abs());
                }
            }
            println!(
                "n={n} k={k}: two-pass transposed {:.1} GFLOP/s (forward alone {:.1}), abs diff {:.1e}",
                flops / best_t / 1e9,
                flops / 2.0 / best_f / 1e9,
                err2
            );
            let mut err: f64 = 0.0;
            let mut scale: f64 = 0.0;
            for l in 0..p {
                for j in 0..k {
                    let v = gp.iter().map(|gc| gc[l * ap + j]).sum::<f64>();
                    err = err.max((v - g[(l, j)]).abs());
                    scale = scale.max(g[(l, j)].abs());
                }
            }
            println!(
                "n={n} k={k}: engine {:.1} GFLOP/s, lanes {:.1} GFLOP/s; rel diff {:.1e}",
                flops / best_e / 1e9,
                flops / best_l / 1e9,
                err / scale
            );
        }
    }
}

/// A copy in memory advised for transparent huge pages (2 MiB).
fn huge_copy(src: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = Vec::with_capacity(src.len() + (1 << 18));
    let addr = v.as_ptr() as usize;
    let start = (addr + (1 << 21) - 1) & !((1 << 21) - 1);
    let end = (addr + v.capacity() * 8) & !((1 << 21) - 1);
    if end > start {
        // SAFETY: the range lies inside v's allocation.
        let rc =
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
        assert_eq!(rc, 0);
    }
    let skip = (start - addr) / 8;
    v.resize(skip, 0.0);
    v.extend_from_slice(src);
    v.drain(..skip);
    v
}

/// Bytes of W's (forward) or G's (adjoint) slice: the slice stays in L1 while a block's rows
/// stream past it.
const SLICE_BYTES: usize = 24 << 10;

/// Entries of the packed index per slice for `ap` padded columns: SLICE_BYTES / (8·ap), a multiple
/// of 8 between 16 and 512.
fn slice_len(ap: usize) -> usize {
    (SLICE_BYTES / (8 * ap)).clamp(16, 512) / 8 * 8
}

/// Rows of 𝐀 per block: a block's R (BLOCK_ROWS·ap·8 bytes) stays in L2 between its slices.
const BLOCK_ROWS: usize = 1024;

/// Rows per register tile.
const MI: usize = 6;

/// Most vectors of runs per register tile.
const NV_MAX: usize = 4;

/// Columns of the padded W, R and G for a inputs: 4 for a ≤ 4, else a rounded up to a multiple of 8.
fn padded_width(a: usize) -> usize {
    if a <= 4 {
        4
    } else {
        a.div_ceil(8) * 8
    }
}

/// R = block·W − y·1ᵀ (c×ap) and G = blockᵀ·R (p×ap), both overwritten, with the widest vectors
/// the CPU has that divide `ap` (see the module docs for the arithmetic).
fn residual_and_adjoint_chunk(
    block: &[f64],
    p: usize,
    w: &[f64],
    ap: usize,
    y: &[f64],
    r: &mut [f64],
    g: &mut [f64],
) {
    let kernel = Chunk {
        block,
        p,
        w,
        ap,
        y,
        r,
        g,
    };
    #[cfg(target_arch = "x86_64")]
    {
        if ap.is_multiple_of(8) {
            if let Some(v4) = pulp::x86::V4::try_new() {
                return Simd::vectorize(v4, kernel);
            }
        }
        if let Some(v3) = pulp::x86::V3::try_new() {
            return Simd::vectorize(v3, kernel);
        }
        Simd::vectorize(pulp::Scalar::new(), kernel)
    }
    #[cfg(not(target_arch = "x86_64"))]
    pulp::Arch::new().dispatch(kernel)
}

/// [`residual_and_adjoint_chunk`] with the given SIMD instruction set.
#[allow(clippy::too_many_arguments)]
fn residual_and_adjoint_chunk_with<S: Simd>(
    simd: S,
    block: &[f64],
    p: usize,
    w: &[f64],
    ap: usize,
    y: &[f64],
    r: &mut [f64],
    g: &mut [f64],
) {
    chunk(simd, block, p, w, ap, y, r, g);
}

struct Chunk<'a> {
    block: &'a [f64],
    p: usize,
    w: &'a [f64],
    ap: usize,
    y: &'a [f64],
    r: &'a mut [f64],
    g: &'a mut [f64],
}

impl pulp::WithSimd for Chunk<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        chunk(
            simd, self.block, self.p, self.w, self.ap, self.y, self.r, self.g,
        );
    }
}

/// Calls the register-tile kernel `$kernel` for `$mi` rows (MI, or 1 at the end of a block) and
/// `$nvp` vectors of runs (1..=NV_MAX), each a compile-time shape.
macro_rules! tile {
    ($kernel:ident, $simd:expr, $mi:expr, $nvp:expr, $rows:expr, ($($arg:expr),*)) => {
        match ($mi, $nvp) {
            (MI, 4) => $kernel::<S, MI, 4>($simd, $rows, $($arg),*),
            (MI, 3) => $kernel::<S, MI, 3>($simd, $rows, $($arg),*),
            (MI, 2) => $kernel::<S, MI, 2>($simd, $rows, $($arg),*),
            (MI, _) => $kernel::<S, MI, 1>($simd, $rows, $($arg),*),
            (_, 4) => $kernel::<S, 1, 4>($simd, [$rows[0]], $($arg),*),
            (_, 3) => $kernel::<S, 1, 3>($simd, [$rows[0]], $($arg),*),
            (_, 2) => $kernel::<S, 1, 2>($simd, [$rows[0]], $($arg),*),
            (_, _) => $kernel::<S, 1, 1>($simd, [$rows[0]], $($arg),*),
        }
    };
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn chunk<S: Simd>(
    simd: S,
    block: &[f64],
    p: usize,
    w: &[f64],
    ap: usize,
    y: &[f64],
    r: &mut [f64],
    g: &mut [f64],
) {
    let lanes = S::F64_LANES;
    assert!(
        ap.is_multiple_of(lanes),
        "padded width {ap} is not a multiple of {lanes} lanes"
    );
    let c = y.len();
    assert_eq!(block.len(), c * p, "block must be c×p");
    assert_eq!(w.len(), p * ap, "w must be p×ap");
    assert_eq!(r.len(), c * ap, "r must be c×ap");
    assert_eq!(g.len(), p * ap, "g must be p×ap");
    let nv = ap / lanes;
    let slice = slice_len(ap);
    r.fill(0.0);
    g.fill(0.0);
    for i0 in (0..c).step_by(BLOCK_ROWS) {
        let i1 = (i0 + BLOCK_ROWS).min(c);
        let rb = &mut r[i0 * ap..i1 * ap];
        for l0 in (0..p).step_by(slice) {
            let l1 = (l0 + slice).min(p);
            let ws = &w[l0 * ap..l1 * ap];
            let mut i = i0;
            while i < i1 {
                let mi = if i + MI <= i1 { MI } else { 1 };
                let rows: [&[f64]; MI] =
                    std::array::from_fn(|q| &block[(i + q.min(mi - 1)) * p + l0..][..l1 - l0]);
                let next = block.as_ptr().wrapping_add((i + mi) * p + l0);
                let rt = &mut rb[(i - i0) * ap..(i - i0 + mi) * ap];
                let mut v0 = 0;
                while v0 < nv {
                    let nvp = (nv - v0).min(NV_MAX);
                    let off = v0 * lanes;
                    tile!(forward, simd, mi, nvp, rows, (next, p, ws, ap, off, rt));
                    v0 += nvp;
                }
                i += mi;
            }
        }
        for (row, &yi) in rb.chunks_exact_mut(ap).zip(&y[i0..i1]) {
            for v in row {
                *v -= yi;
            }
        }
        for l0 in (0..p).step_by(slice) {
            let l1 = (l0 + slice).min(p);
            let gs = &mut g[l0 * ap..l1 * ap];
            let mut i = i0;
            while i < i1 {
                let mi = if i + MI <= i1 { MI } else { 1 };
                let rows: [&[f64]; MI] =
                    std::array::from_fn(|q| &block[(i + q.min(mi - 1)) * p + l0..][..l1 - l0]);
                let next = block.as_ptr().wrapping_add((i + mi) * p + l0);
                let rt = &rb[(i - i0) * ap..(i - i0 + mi) * ap];
                let mut v0 = 0;
                while v0 < nv {
                    let nvp = (nv - v0).min(NV_MAX);
                    let off = v0 * lanes;
                    tile!(adjoint, simd, mi, nvp, rows, (next, p, rt, ap, off, gs));
                    v0 += nvp;
                }
                i += mi;
            }
        }
    }
}

/// out = block·w (c×ap) with the forward's tiling: block is c×kk row-major, w is kk×ap.
#[inline(always)]
fn product<S: Simd>(simd: S, block: &[f64], kk: usize, w: &[f64], ap: usize, out: &mut [f64]) {
    let lanes = S::F64_LANES;
    let c = out.len() / ap;
    let nv = ap / lanes;
    let slice = slice_len(ap);
    out.fill(0.0);
    for i0 in (0..c).step_by(BLOCK_ROWS) {
        let i1 = (i0 + BLOCK_ROWS).min(c);
        let rb = &mut out[i0 * ap..i1 * ap];
        for l0 in (0..kk).step_by(slice) {
            let l1 = (l0 + slice).min(kk);
            let ws = &w[l0 * ap..l1 * ap];
            let mut i = i0;
            while i < i1 {
                let mi = if i + MI <= i1 { MI } else { 1 };
                let rows: [&[f64]; MI] =
                    std::array::from_fn(|q| &block[(i + q.min(mi - 1)) * kk + l0..][..l1 - l0]);
                let next = block.as_ptr().wrapping_add((i + mi) * kk + l0);
                let rt = &mut rb[(i - i0) * ap..(i - i0 + mi) * ap];
                let mut v0 = 0;
                while v0 < nv {
                    let nvp = (nv - v0).min(NV_MAX);
                    let off = v0 * lanes;
                    tile!(forward, simd, mi, nvp, rows, (next, kk, ws, ap, off, rt));
                    v0 += nvp;
                }
                i += mi;
            }
        }
    }
}

struct Product<'a> {
    block: &'a [f64],
    kk: usize,
    w: &'a [f64],
    ap: usize,
    out: &'a mut [f64],
}

impl pulp::WithSimd for Product<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        product(simd, self.block, self.kk, self.w, self.ap, self.out);
    }
}

fn product_dispatch(block: &[f64], kk: usize, w: &[f64], ap: usize, out: &mut [f64]) {
    let kernel = Product {
        block,
        kk,
        w,
        ap,
        out,
    };
    if ap.is_multiple_of(8) {
        if let Some(v4) = pulp::x86::V4::try_new() {
            return Simd::vectorize(v4, kernel);
        }
    }
    Simd::vectorize(pulp::x86::V3::try_new().unwrap(), kernel)
}

/// One register tile of the forward: R[q, off..off + NV·L] += Σ_t rows[q][t] · ws[t, off..] over
/// the slice (t in order), for the MI rows whose R rows are `rt` (MI·ap entries).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn forward<S: Simd, const M: usize, const NV: usize>(
    simd: S,
    rows: [&[f64]; M],
    next: *const f64,
    p: usize,
    ws: &[f64],
    ap: usize,
    off: usize,
    rt: &mut [f64],
) {
    let lanes = S::F64_LANES;
    let len = rows[0].len().min(ws.len() / ap);
    let rows = rows.map(|row| &row[..len]);
    let prefetch = Prefetch::new();
    let mut acc = [[simd.splat_f64s(0.0); NV]; M];
    for q in 0..M {
        let (tile, _) = S::as_simd_f64s(&rt[q * ap + off..][..NV * lanes]);
        acc[q].copy_from_slice(&tile[..NV]);
    }
    let ptrs = rows.map(|row| row.as_ptr());
    let wp = ws.as_ptr().wrapping_add(off);
    let mut t8 = 0;
    while t8 < len {
        for q in 0..M {
            prefetch.line(next.wrapping_add(q * p + t8));
        }
        let end = (t8 + 8).min(len);
        for t in t8..end {
            // SAFETY: t < len ≤ every row's length and ws has len rows of ap ≥ off + NV·lanes.
            let wv: [S::f64s; NV] = std::array::from_fn(|v| unsafe {
                (wp.add(t * ap + v * lanes) as *const S::f64s).read_unaligned()
            });
            for q in 0..M {
                let s = simd.splat_f64s(unsafe { *ptrs[q].add(t) });
                for v in 0..NV {
                    acc[q][v] = simd.mul_add_f64s(s, wv[v], acc[q][v]);
                }
            }
        }
        t8 = end;
    }
    for q in 0..M {
        let (tile, _) = S::as_mut_simd_f64s(&mut rt[q * ap + off..][..NV * lanes]);
        tile[..NV].copy_from_slice(&acc[q]);
    }
}

/// One register tile of the adjoint: G[t, off..off + NV·L] += Σ_q rows[q][t] · R[q, off..] (q in
/// order) for every t of the slice, with R's MI rows `rt` held in registers.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn adjoint<S: Simd, const M: usize, const NV: usize>(
    simd: S,
    rows: [&[f64]; M],
    next: *const f64,
    p: usize,
    rt: &[f64],
    ap: usize,
    off: usize,
    gs: &mut [f64],
) {
    let lanes = S::F64_LANES;
    let len = rows[0].len().min(gs.len() / ap);
    let rows = rows.map(|row| &row[..len]);
    let prefetch = Prefetch::new();
    let mut rv = [[simd.splat_f64s(0.0); NV]; M];
    for q in 0..M {
        let (tile, _) = S::as_simd_f64s(&rt[q * ap + off..][..NV * lanes]);
        rv[q].copy_from_slice(&tile[..NV]);
    }
    let ptrs = rows.map(|row| row.as_ptr());
    let gp = gs.as_mut_ptr().wrapping_add(off);
    let mut t8 = 0;
    while t8 < len {
        for q in 0..M {
            prefetch.line(next.wrapping_add(q * p + t8));
        }
        let end = (t8 + 8).min(len);
        for t in t8..end {
            // SAFETY: as in the forward.
            let gt = gp.wrapping_add(t * ap) as *mut S::f64s;
            let mut acc: [S::f64s; NV] =
                std::array::from_fn(|v| unsafe { gt.add(v).read_unaligned() });
            for q in 0..M {
                let s = simd.splat_f64s(unsafe { *ptrs[q].add(t) });
                for v in 0..NV {
                    acc[v] = simd.mul_add_f64s(s, rv[q][v], acc[v]);
                }
            }
            for v in 0..NV {
                unsafe { gt.add(v).write_unaligned(acc[v]) };
            }
        }
        t8 = end;
    }
}

/// A software prefetch into L1 (x86-64; a no-op elsewhere).
#[derive(Clone, Copy)]
struct Prefetch {
    #[cfg(target_arch = "x86_64")]
    sse: Option<pulp::core_arch::x86::Sse>,
}

impl Prefetch {
    #[inline(always)]
    fn new() -> Self {
        Self {
            #[cfg(target_arch = "x86_64")]
            sse: pulp::core_arch::x86::Sse::try_new(),
        }
    }

    #[inline(always)]
    fn line(self, ptr: *const f64) {
        #[cfg(target_arch = "x86_64")]
        if let Some(sse) = self.sse {
            sse._mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(ptr.cast());
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = ptr;
    }
}
