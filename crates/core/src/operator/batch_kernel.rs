//! The kernel of the batched pass: [`residual_and_adjoint`] with [`PassKernel::Batch`].
//!
//! [`residual_and_adjoint`]: super::PackedOperator::residual_and_adjoint
//! [`PassKernel::Batch`]: super::PassKernel::Batch
//!
//! # Arithmetic
//! For a chunk of c rows of 𝐀 (row-major c×p) and the inputs W (p×ap, row-major):
//! ```text
//!   R_ij = fma(A_i,p−1, W_p−1,j, … fma(A_i1, W_1j, fma(A_i0, W_0j, 0)) …) − Y_ij   (l = 0, 1, … in order)
//!   G_lj = fma(A_c−1,l, R_c−1,j, … fma(A_1l, R_1j, fma(A_0l, R_0j, 0)) …)          (i = 0, 1, … in order)
//! ```
//! that is R = 𝐀_c·W − Y and G = 𝐀_cᵀ·R, every entry one chain of fused multiply-adds in index
//! order; column j of Y is run j's data y (its rows of this chunk). W, Y, R and G have `ap`
//! columns: the a runs padded to the vector width ([`padded_width`]); the padding columns hold
//! anything finite and are ignored. A vector holds entries j..j+L of one row — different runs,
//! never different terms of one sum — so the bits depend neither on the vector width (8-lane
//! AVX-512, 4-lane AVX2 and the scalar fallback agree; tested) nor on the tiling below, which is
//! free to suit the machine.
//!
//! # Tiling
//! Rows come in blocks of [`BLOCK_ROWS`]; both products walk the packed index in slices sized so
//! that W's (forward) or G's (adjoint) slice stays in L1 ([`slice_bytes`]). For a slice, the
//! forward keeps a register tile of R (6 rows × up to 4 AVX-512 or 2 narrower vectors of runs)
//! while streaming W's slice and broadcasting the rows' entries of 𝐀; the adjoint keeps the tile
//! of R in registers and streams G's slice through them. 𝐀 is read twice per block (the second
//! time mostly from the last-level cache), W and G once per slice per block, R from L2. The rows of
//! the next tile are prefetched into L1 while the current one runs.
//!
//! The tiles' inner loops read through raw pointers (this module allows `unsafe_code`): indexed
//! slices kept six bounds checks per step and spilled the row pointers to the stack, which cost
//! 15–25% of the pass (bench/README.md). Every pointer's range is checked once, before the loop.
#![allow(unsafe_code)]

use pulp::Simd;

use super::dense::Prefetch;

/// Bytes of W's (forward) or G's (adjoint) slice, which stays in L1 while a block's rows stream
/// past it, for vectors of `lanes` entries: 24 KiB with AVX-512, 12 KiB with AVX2 and narrower
/// (chosen by measurement on an Intel Xeon with AVX-512 and an AMD EPYC Zen 3, whose L1 data
/// caches hold 48 and 32 KiB; bench/README.md).
pub const fn slice_bytes(lanes: usize) -> usize {
    if lanes >= 8 {
        24 << 10
    } else {
        12 << 10
    }
}

/// Rows of 𝐀 per block: the block's R (BLOCK_ROWS·ap·8 bytes) stays in L2 between slices.
pub const BLOCK_ROWS: usize = 1024;

/// Rows per register tile.
const MI: usize = 6;

/// Most vectors of runs per register tile for `lanes`-wide vectors: 4 with AVX-512 (6 × 4 = 24
/// accumulators of its 32 registers; a 5 × 5 tile for 33–40 runs measured no faster), 2 with
/// narrower vectors, whose instruction sets have 16 registers (6 × 2 = 12 accumulators, the
/// AVX2 shape of BLIS's dgemm kernel; 6 × 4 spilled to the stack and ran at half the speed).
const fn nv_max(lanes: usize) -> usize {
    if lanes >= 8 {
        4
    } else {
        2
    }
}

/// Columns of the padded W, R and G for a runs on this CPU: [`padded_width_for_lanes`] with 8
/// lanes if it has AVX-512, else 4 (AVX2 pads 9 runs to 12 columns, not 16). The padding does not
/// enter any run's arithmetic.
pub fn padded_width(a: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    let lanes = if pulp::x86::V4::is_available() { 8 } else { 4 };
    #[cfg(not(target_arch = "x86_64"))]
    let lanes = 4;
    padded_width_for_lanes(a, lanes)
}

/// Columns of the padded W, R and G for a runs and vectors of `lanes` entries: 4 for a ≤ 4, else a
/// rounded up to a multiple of `lanes`.
pub const fn padded_width_for_lanes(a: usize, lanes: usize) -> usize {
    if a <= 4 {
        4
    } else {
        a.div_ceil(lanes) * lanes
    }
}

/// Entries of the packed index per slice for `ap` padded columns and `lanes`-wide vectors:
/// slice_bytes(lanes) / (8·ap), a multiple of 8 between 16 and 512.
fn slice_len(ap: usize, lanes: usize) -> usize {
    (slice_bytes(lanes) / (8 * ap)).clamp(16, 512) / 8 * 8
}

/// R = block·W − Y (c×ap, Y row-major c×ap) and G = blockᵀ·R (p×ap), both overwritten, with the
/// widest vectors the CPU has that divide `ap` (see the module docs for the arithmetic).
pub fn residual_and_adjoint_chunk(
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
/// `$nvp` vectors of runs (1..=4), each a compile-time shape; the brackets hold the kernel's further
/// const generic arguments (the adjoint's FIRST).
macro_rules! tile {
    ($kernel:ident [$($extra:tt)*], $simd:expr, $mi:expr, $nvp:expr, $rows:expr, ($($arg:expr),*)) => {
        match ($mi, $nvp) {
            (MI, 4) => $kernel::<S, MI, 4, $($extra)*>($simd, $rows, $($arg),*),
            (MI, 3) => $kernel::<S, MI, 3, $($extra)*>($simd, $rows, $($arg),*),
            (MI, 2) => $kernel::<S, MI, 2, $($extra)*>($simd, $rows, $($arg),*),
            (MI, _) => $kernel::<S, MI, 1, $($extra)*>($simd, $rows, $($arg),*),
            (_, 4) => $kernel::<S, 1, 4, $($extra)*>($simd, [$rows[0]], $($arg),*),
            (_, 3) => $kernel::<S, 1, 3, $($extra)*>($simd, [$rows[0]], $($arg),*),
            (_, 2) => $kernel::<S, 1, 2, $($extra)*>($simd, [$rows[0]], $($arg),*),
            (_, _) => $kernel::<S, 1, 1, $($extra)*>($simd, [$rows[0]], $($arg),*),
        }
    };
}

/// [`residual_and_adjoint_chunk`] with the instruction set `simd`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn chunk<S: Simd>(
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
        ap.is_multiple_of(lanes) && ap > 0,
        "padded width {ap} is not a positive multiple of {lanes} lanes"
    );
    let c = block.len() / p.max(1);
    assert_eq!(block.len(), c * p, "block must be c×p");
    assert_eq!(y.len(), c * ap, "y must be c×ap");
    assert_eq!(w.len(), p * ap, "w must be p×ap");
    assert_eq!(r.len(), c * ap, "r must be c×ap");
    assert_eq!(g.len(), p * ap, "g must be p×ap");
    let nv = ap / lanes;
    let slice = slice_len(ap, lanes);
    // No zeroing of R and G first: the tiles of the first slice (R) and of the first rows (G)
    // start their sums from +0 in registers, which gives the same bits as loading stored zeros.
    // Without rows (also the only case with p = 0) no tile runs, so the sums are the empty ones.
    if c == 0 {
        r.fill(0.0);
        g.fill(0.0);
    }
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
                let next = Next::rows(block, (i + mi) * p + l0, p);
                let rt = &mut rb[(i - i0) * ap..(i - i0 + mi) * ap];
                let mut v0 = 0;
                while v0 < nv {
                    let nvp = (nv - v0).min(nv_max(lanes));
                    let off = v0 * lanes;
                    tile!(
                        forward[],
                        simd,
                        mi,
                        nvp,
                        rows,
                        (next, ws, ap, off, rt, l0 == 0)
                    );
                    v0 += nvp;
                }
                i += mi;
            }
        }
        for (row, y_row) in rb
            .chunks_exact_mut(ap)
            .zip(y[i0 * ap..i1 * ap].chunks_exact(ap))
        {
            for (v, &yi) in row.iter_mut().zip(y_row) {
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
                let next = Next::rows(block, (i + mi) * p + l0, p);
                let rt = &rb[(i - i0) * ap..(i - i0 + mi) * ap];
                let mut v0 = 0;
                while v0 < nv {
                    let nvp = (nv - v0).min(nv_max(lanes));
                    let off = v0 * lanes;
                    if i == 0 {
                        tile!(adjoint[true], simd, mi, nvp, rows, (next, rt, ap, off, gs));
                    } else {
                        tile!(adjoint[false], simd, mi, nvp, rows, (next, rt, ap, off, gs));
                    }
                    v0 += nvp;
                }
                i += mi;
            }
        }
    }
}

/// Where the next register tile's rows start (for the prefetch): MI rows `stride` entries apart
/// from `start`, as addresses only (never dereferenced; a prefetch of any address is harmless).
#[derive(Clone, Copy)]
struct Next {
    start: *const f64,
    stride: usize,
}

impl Next {
    fn rows(block: &[f64], start: usize, stride: usize) -> Self {
        Self {
            start: block.as_ptr().wrapping_add(start),
            stride,
        }
    }

    #[inline(always)]
    fn prefetch(self, prefetch: Prefetch, t: usize) {
        for q in 0..MI {
            prefetch.line(self.start.wrapping_add(q * self.stride + t));
        }
    }
}

/// The register tile of R (M rows of `rt`, ap entries apart) at columns off..off + NV·L, or zeros
/// if `zeros`, with the range asserted once for the tile's kernel either way.
#[inline(always)]
fn load_tile<S: Simd, const M: usize, const NV: usize>(
    simd: S,
    rt: &[f64],
    ap: usize,
    off: usize,
    zeros: bool,
) -> [[S::f64s; NV]; M] {
    let lanes = S::F64_LANES;
    assert!(off + NV * lanes <= ap && rt.len() >= M * ap);
    let mut tile = [[simd.splat_f64s(0.0); NV]; M];
    if zeros {
        return tile;
    }
    for (q, row) in tile.iter_mut().enumerate() {
        let (v, _) = S::as_simd_f64s(&rt[q * ap + off..][..NV * lanes]);
        row.copy_from_slice(&v[..NV]);
    }
    tile
}

/// One register tile of the forward: R[q, off..off + NV·L] += Σ_t rows[q][t] · ws[t, off..] over
/// the slice (t in order), for the M rows whose R rows are `rt` (M·ap entries); with `first` (the
/// first slice) the sums start from +0 instead of R's stored values.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn forward<S: Simd, const M: usize, const NV: usize>(
    simd: S,
    rows: [&[f64]; M],
    next: Next,
    ws: &[f64],
    ap: usize,
    off: usize,
    rt: &mut [f64],
    first: bool,
) {
    let lanes = S::F64_LANES;
    let len = ws.len() / ap;
    assert!(rows.iter().all(|row| row.len() >= len));
    let prefetch = Prefetch::new();
    let mut acc = load_tile::<S, M, NV>(simd, rt, ap, off, first);
    let ptrs = rows.map(|row| row.as_ptr());
    let wp = ws.as_ptr().wrapping_add(off);
    let mut t8 = 0;
    while t8 < len {
        next.prefetch(prefetch, t8);
        let end = (t8 + 8).min(len);
        for t in t8..end {
            // SAFETY: t < len ≤ every row's length (asserted above), and row t of `ws` holds ap ≥
            // off + NV·lanes entries (asserted by load_tile).
            let wv: [S::f64s; NV] = std::array::from_fn(|v| unsafe {
                (wp.add(t * ap + v * lanes) as *const S::f64s).read_unaligned()
            });
            for q in 0..M {
                // SAFETY: as above.
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
/// order) for every t of the slice, with R's M rows `rt` held in registers. With FIRST (the
/// chunk's first rows) the sums start from +0 instead of G's stored values (which may be anything).
#[inline(always)]
fn adjoint<S: Simd, const M: usize, const NV: usize, const FIRST: bool>(
    simd: S,
    rows: [&[f64]; M],
    next: Next,
    rt: &[f64],
    ap: usize,
    off: usize,
    gs: &mut [f64],
) {
    let len = gs.len() / ap;
    assert!(rows.iter().all(|row| row.len() >= len));
    let prefetch = Prefetch::new();
    let rv = load_tile::<S, M, NV>(simd, rt, ap, off, false);
    let ptrs = rows.map(|row| row.as_ptr());
    let gp = gs.as_mut_ptr().wrapping_add(off);
    let mut t8 = 0;
    while t8 < len {
        next.prefetch(prefetch, t8);
        let end = (t8 + 8).min(len);
        for t in t8..end {
            let gt = gp.wrapping_add(t * ap) as *mut S::f64s;
            // SAFETY: t < len, so row t of `gs` holds ap ≥ off + NV·lanes entries from gp (asserted
            // by load_tile); every row of 𝐀 has ≥ len entries (asserted above).
            let mut acc: [S::f64s; NV] = if FIRST {
                [simd.splat_f64s(0.0); NV]
            } else {
                std::array::from_fn(|v| unsafe { gt.add(v).read_unaligned() })
            };
            for q in 0..M {
                // SAFETY: as above.
                let s = simd.splat_f64s(unsafe { *ptrs[q].add(t) });
                for v in 0..NV {
                    acc[v] = simd.mul_add_f64s(s, rv[q][v], acc[v]);
                }
            }
            for (v, value) in acc.into_iter().enumerate() {
                // SAFETY: as above.
                unsafe { gt.add(v).write_unaligned(value) };
            }
        }
        t8 = end;
    }
}
