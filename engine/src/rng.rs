//! A small, explicit, seedable PRNG (xoshiro256++ seeded through SplitMix64).
//!
//! The engine keeps its own generator so that results depend only on the seed, never on a
//! dependency's version.

/// xoshiro256++: fast, 256-bit state, good statistical quality for initialisation and sampling.
#[derive(Clone, Debug)]
pub struct Rng {
    state: [u64; 4],
}

impl Rng {
    /// A generator fully determined by `seed`.
    pub fn new(seed: u64) -> Self {
        let mut sm = seed;
        let mut next = || {
            sm = sm.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = sm;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Self { state: [next(), next(), next(), next()] }
    }

    /// A generator for stream `stream` of `seed`: independent streams for parallel work.
    pub fn for_stream(seed: u64, stream: u64) -> Self {
        Self::new(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03).rotate_left(17))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.state;
        let res = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        res
    }

    /// Uniform in `[0, 1)` with 53 bits of precision.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[0, 1)` as `f32`.
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u32 << 24) as f32)
    }

    /// Uniform integer in `0..bound` (`bound > 0`), without modulo bias worth noticing for
    /// bounds far below 2^64 (Lemire's multiply-shift).
    pub fn below(&mut self, bound: u64) -> u64 {
        ((self.next_u64() as u128 * bound as u128) >> 64) as u64
    }

    /// A standard normal draw (Box–Muller; one of the pair is discarded, which keeps the
    /// generator stateless beyond its four words).
    pub fn normal(&mut self) -> f64 {
        let u = 1.0 - self.next_f64(); // (0, 1], so the logarithm is finite.
        let v = self.next_f64();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// A Gamma(`shape`, `rate`) draw (mean `shape / rate`) by Marsaglia and Tsang's method,
    /// boosted by `U^(1/shape)` for shapes below 1. Both arguments must be positive.
    pub fn gamma(&mut self, shape: f64, rate: f64) -> f64 {
        if shape < 1.0 {
            let boost = (1.0 - self.next_f64()).powf(1.0 / shape);
            return self.gamma(shape + 1.0, rate) * boost;
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = (1.0 + c * x).powi(3);
            if v <= 0.0 {
                continue;
            }
            let u = 1.0 - self.next_f64();
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v / rate;
            }
        }
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_values_in_range() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        let mut c = Rng::new(43);
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
        for _ in 0..1000 {
            let f = a.next_f32();
            assert!((0.0..1.0).contains(&f));
            assert!(a.below(7) < 7);
        }
    }

    #[test]
    fn normal_and_gamma_draws_have_their_moments() {
        let mut rng = Rng::new(9);
        let n = 200_000;
        let moments = |draws: Vec<f64>| {
            let mean = draws.iter().sum::<f64>() / n as f64;
            let var = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
            (mean, var)
        };
        let (mean, var) = moments((0..n).map(|_| rng.normal()).collect());
        assert!(mean.abs() < 0.01 && (var - 1.0).abs() < 0.02, "normal: {mean} {var}");
        // Gamma(a, b): mean a/b, variance a/b², for a shape above and below 1.
        for (shape, rate) in [(3.5, 2.0), (0.5, 0.25), (5000.0, 10.0)] {
            let (mean, var) = moments((0..n).map(|_| rng.gamma(shape, rate)).collect());
            let (want_mean, want_var) = (shape / rate, shape / (rate * rate));
            assert!((mean / want_mean - 1.0).abs() < 0.02, "gamma({shape}, {rate}) mean {mean}");
            assert!((var / want_var - 1.0).abs() < 0.05, "gamma({shape}, {rate}) variance {var}");
        }
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let mut v: Vec<u32> = (0..100).collect();
        Rng::new(1).shuffle(&mut v);
        assert_ne!(v, (0..100).collect::<Vec<_>>());
        v.sort_unstable();
        assert_eq!(v, (0..100).collect::<Vec<_>>());
    }
}
