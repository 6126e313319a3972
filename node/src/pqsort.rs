//! Redis' partial quicksort (`pqsort.c`, Bentley and McIlroy's quicksort
//! that only recurses into parts overlapping a wanted range).
//!
//! GEORADIUS and GEOSEARCH with COUNT sort their matches with it, and it
//! is not stable: members at the same distance come out in the order its
//! exchanges leave them. Doing the same exchanges gives the same order as
//! Redis, which a stable sort would not.

use std::cmp::Ordering;

/// Sorts `v` so that positions `lo..=hi` hold what a full sort would put
/// there, exchanging elements exactly as Redis' `pqsort` does.
pub fn pqsort<T>(v: &mut [T], cmp: &dyn Fn(&T, &T) -> Ordering, lo: usize, hi: usize) {
    sort_part(v, 0, v.len(), cmp, lo, hi);
}

fn med3<T>(v: &[T], a: usize, b: usize, c: usize, cmp: &dyn Fn(&T, &T) -> Ordering) -> usize {
    let lt = |x: usize, y: usize| cmp(&v[x], &v[y]) == Ordering::Less;
    let gt = |x: usize, y: usize| cmp(&v[x], &v[y]) == Ordering::Greater;
    if lt(a, b) {
        if lt(b, c) {
            b
        } else if lt(a, c) {
            c
        } else {
            a
        }
    } else if gt(b, c) {
        b
    } else if lt(a, c) {
        a
    } else {
        c
    }
}

/// Exchanges the `n` elements from `a` with the `n` from `b`, pairwise.
fn vecswap<T>(v: &mut [T], a: usize, b: usize, n: usize) {
    for i in 0..n {
        v.swap(a + i, b + i);
    }
}

/// Whether the part `start..start+len` holds none of the wanted range.
fn outside(start: usize, len: usize, lo: usize, hi: usize) -> bool {
    (lo < start && hi < start) || (lo >= start + len && hi >= start + len)
}

fn sort_part<T>(v: &mut [T], mut a: usize, mut n: usize, cmp: &dyn Fn(&T, &T) -> Ordering, lo: usize, hi: usize) {
    loop {
        if n < 7 {
            // Insertion sort.
            for m in a + 1..a + n {
                let mut l = m;
                while l > a && cmp(&v[l - 1], &v[l]) == Ordering::Greater {
                    v.swap(l, l - 1);
                    l -= 1;
                }
            }
            return;
        }
        let mut pm = a + n / 2;
        if n > 7 {
            let mut pl = a;
            let mut pn = a + n - 1;
            if n > 40 {
                let d = n / 8;
                pl = med3(v, pl, pl + d, pl + 2 * d, cmp);
                pm = med3(v, pm - d, pm, pm + d, cmp);
                pn = med3(v, pn - 2 * d, pn - d, pn, cmp);
            }
            pm = med3(v, pl, pm, pn, cmp);
        }
        v.swap(a, pm);
        let (mut pa, mut pb) = (a + 1, a + 1);
        let (mut pc, mut pd) = (a + n - 1, a + n - 1);
        loop {
            while pb <= pc {
                let r = cmp(&v[pb], &v[a]);
                if r == Ordering::Greater {
                    break;
                }
                if r == Ordering::Equal {
                    v.swap(pa, pb);
                    pa += 1;
                }
                pb += 1;
            }
            while pb <= pc {
                let r = cmp(&v[pc], &v[a]);
                if r == Ordering::Less {
                    break;
                }
                if r == Ordering::Equal {
                    v.swap(pc, pd);
                    pd -= 1;
                }
                pc -= 1;
            }
            if pb > pc {
                break;
            }
            v.swap(pb, pc);
            pb += 1;
            pc -= 1;
        }
        let pn = a + n;
        let r = (pa - a).min(pb - pa);
        vecswap(v, a, pb - r, r);
        let r = (pd - pc).min(pn - pd - 1);
        vecswap(v, pb, pn - r, r);
        let r = pb - pa;
        if r > 1 && !outside(a, r, lo, hi) {
            sort_part(v, a, r, cmp, lo, hi);
        }
        let r = pd - pc;
        if r <= 1 {
            return;
        }
        a = pn - r;
        n = r;
        if outside(a, n, lo, hi) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn the_wanted_range_is_sorted() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..500 {
            let n = rng.gen_range(1..200);
            let v: Vec<u32> = (0..n).map(|_| rng.gen_range(0..50)).collect();
            let hi = rng.gen_range(0..n);
            let mut got = v.clone();
            pqsort(&mut got, &|a: &u32, b: &u32| a.cmp(b), 0, hi);
            let mut want = v.clone();
            want.sort();
            assert_eq!(got[..=hi], want[..=hi], "{v:?} to {hi}");
            let mut rest = got.clone();
            rest.sort();
            assert_eq!(rest, want, "a permutation");
        }
    }
}
