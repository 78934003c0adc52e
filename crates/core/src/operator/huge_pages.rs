//! Storage for an operator that every pass streams from memory: a `Vec<f64>` whose pages the OS is
//! asked to back with transparent huge pages (2 MiB on x86-64), before its first touch.
//!
//! Each pass reads all of 𝐀 (m·n(n+1)/2 entries: 182 MB at n = 100, m = 4500) once or twice. With
//! 4 KiB pages that is one TLB entry per 512 entries, and the page walks cost the batched pass
//! measurably (bench/README.md). On Linux, where `transparent_hugepage/enabled` is commonly
//! `madvise`, [`streamed_vec`] advises the buffer's 2 MiB-aligned interior with
//! `madvise(MADV_HUGEPAGE)`; elsewhere, or if the call fails, it is an ordinary vector. Only where
//! the entries live changes, never their values.
#![allow(unsafe_code)]

/// A vector of `len` entries, `fill()` called once per entry in order, in memory advised for
/// transparent huge pages (see the module docs).
pub fn streamed_vec(len: usize, mut fill: impl FnMut() -> f64) -> Vec<f64> {
    let mut v: Vec<f64> = Vec::with_capacity(len);
    advise_huge_pages(&v);
    v.extend((0..len).map(|_| fill()));
    v
}

/// Bytes of a transparent huge page on x86-64 and aarch64 (with 4 KiB base pages).
const HUGE_PAGE: usize = 2 << 20;

/// Asks the kernel to back the 2 MiB-aligned part of `v`'s allocation with huge pages. Advice
/// only: a failure (no transparent huge pages, an old kernel) leaves ordinary pages.
#[cfg(target_os = "linux")]
fn advise_huge_pages(v: &Vec<f64>) {
    let bytes = v.capacity() * std::mem::size_of::<f64>();
    if bytes < HUGE_PAGE {
        return;
    }
    let addr = v.as_ptr() as usize;
    let start = addr.next_multiple_of(HUGE_PAGE);
    let end = (addr + bytes) / HUGE_PAGE * HUGE_PAGE;
    if end > start {
        // SAFETY: [start, end) lies inside v's allocation, which v owns; MADV_HUGEPAGE changes only
        // how those pages are backed, never their contents or the mapping's validity.
        let _ =
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_v: &Vec<f64>) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_vec_holds_the_filled_values_in_order() {
        for len in [0, 1, 1000, (HUGE_PAGE / 8) * 3 + 17] {
            let mut k = 0u64;
            let v = streamed_vec(len, || {
                k += 1;
                k as f64 * 0.5
            });
            assert_eq!(v.len(), len);
            assert!(v
                .iter()
                .enumerate()
                .all(|(i, &x)| x == (i + 1) as f64 * 0.5));
        }
    }
}
