//! Which key each request touches: uniform, zipfian or sequential over the
//! key space, optionally restricted to the keys one client owns (--verify).

use clap::ValueEnum;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};
use serde::Serialize;

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DistKind {
    Uniform,
    /// Rank r is picked with probability proportional to 1/r^skew; key 0 is
    /// the hottest (slots hash key names, so hot keys still spread out).
    Zipf,
    /// Each client walks the key space in order from its own offset.
    Sequential,
}

enum Picker {
    Uniform,
    Zipf(Zipf<f64>),
    Sequential { next: u64 },
}

/// Picks key indexes in `[0, keyspace)`.
pub struct KeyChooser {
    picker: Picker,
    rng: SmallRng,
    /// How many keys this chooser picks among.
    span: u64,
    /// Owned keys are `i * stride + offset`; without ownership stride 1, offset 0.
    stride: u64,
    offset: u64,
}

impl KeyChooser {
    /// `owner`: `Some((client, clients))` restricts the choice to the keys
    /// `k` with `k % clients == client`, so no other client writes them.
    pub fn new(kind: DistKind, skew: f64, keyspace: u64, owner: Option<(u64, u64)>, seed: u64) -> KeyChooser {
        let (stride, offset) = match owner {
            // Fewer keys than clients: client c owns key c % keyspace, shared
            // by several clients only when they could not be told apart anyway.
            Some((c, n)) if keyspace >= n => (n, c),
            Some((c, _)) => (keyspace, c % keyspace),
            None => (1, 0),
        };
        let span = (keyspace - offset).div_ceil(stride);
        let mut rng = SmallRng::seed_from_u64(seed);
        let picker = match kind {
            DistKind::Uniform => Picker::Uniform,
            DistKind::Zipf => Picker::Zipf(Zipf::new(span, skew).expect("skew > 0 and span >= 1")),
            DistKind::Sequential => Picker::Sequential { next: rng.gen_range(0..span) },
        };
        KeyChooser { picker, rng, span, stride, offset }
    }

    #[allow(clippy::should_implement_trait)] // endless: an Iterator's Option would only get in the way
    pub fn next(&mut self) -> u64 {
        let i = match &mut self.picker {
            Picker::Uniform => self.rng.gen_range(0..self.span),
            // Zipf samples ranks 1..=span as floats.
            Picker::Zipf(z) => (z.sample(&mut self.rng) as u64).clamp(1, self.span) - 1,
            Picker::Sequential { next } => {
                let i = *next;
                *next = (i + 1) % self.span;
                i
            }
        };
        i * self.stride + self.offset
    }

    /// Random numbers for the workload's other choices (members, scores, sizes).
    pub fn rng(&mut self) -> &mut SmallRng {
        &mut self.rng
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(kind: DistKind, keyspace: u64, draws: usize) -> Vec<u64> {
        let mut c = KeyChooser::new(kind, 0.99, keyspace, None, 7);
        let mut n = vec![0u64; keyspace as usize];
        for _ in 0..draws {
            n[c.next() as usize] += 1;
        }
        n
    }

    #[test]
    fn uniform_covers_the_key_space_evenly() {
        let n = counts(DistKind::Uniform, 100, 100_000);
        // Expected 1000 each; a fixed seed keeps this deterministic.
        assert!(n.iter().all(|&x| (850..1150).contains(&x)), "{n:?}");
    }

    #[test]
    fn zipf_follows_its_power_law() {
        let n = counts(DistKind::Zipf, 1000, 200_000);
        // P(rank 1) = 1 / H(1000, 0.99) ~= 0.134; P(1)/P(2) = 2^0.99 ~= 1.99.
        let p0 = n[0] as f64 / 200_000.0;
        assert!((0.12..0.15).contains(&p0), "p0 {p0}");
        let ratio = n[0] as f64 / n[1] as f64;
        assert!((1.8..2.2).contains(&ratio), "ratio {ratio}");
        // Monotone on average: the first ten keys take more than the last 500.
        let head: u64 = n[..10].iter().sum();
        let tail: u64 = n[500..].iter().sum();
        assert!(head > tail, "head {head} tail {tail}");
    }

    #[test]
    fn sequential_walks_in_order_and_wraps() {
        let mut c = KeyChooser::new(DistKind::Sequential, 0.99, 10, None, 3);
        let first = c.next();
        let walk: Vec<u64> = (0..10).map(|_| c.next()).collect();
        for (i, k) in walk.iter().enumerate() {
            assert_eq!(*k, (first + 1 + i as u64) % 10);
        }
    }

    #[test]
    fn owned_keys_belong_to_their_client_only() {
        for kind in [DistKind::Uniform, DistKind::Zipf, DistKind::Sequential] {
            let mut c = KeyChooser::new(kind, 0.99, 1000, Some((3, 8)), 1);
            for _ in 0..10_000 {
                let k = c.next();
                assert!(k < 1000 && k % 8 == 3, "{kind:?} picked {k}");
            }
        }
        // The last client of an uneven split still stays within the key space.
        let mut c = KeyChooser::new(DistKind::Sequential, 0.99, 10, Some((3, 4)), 1);
        let keys: std::collections::BTreeSet<u64> = (0..20).map(|_| c.next()).collect();
        assert_eq!(keys.into_iter().collect::<Vec<_>>(), vec![3, 7]);
    }
}
