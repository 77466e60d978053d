//! The simulator's random numbers: a xoshiro256** generator seeded through SplitMix64, and
//! the distributions of handling times and callers' patience drawn from one uniform each.
//!
//! Written out here rather than taken from a library so that a seed means the same draws
//! in every build and on every machine: the same seed gives byte-identical output.

/// A xoshiro256** generator (Blackman and Vigna), seeded by SplitMix64.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

/// One step of SplitMix64: the next state and its output.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator for `seed`, and for stream `stream` of it (runs and the independent
    /// streams within a run take their own).
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut state = seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03);
        let s = [
            splitmix64(&mut state),
            splitmix64(&mut state),
            splitmix64(&mut state),
            splitmix64(&mut state),
        ];
        Self { s }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// A uniform number in the open interval (0, 1).
    pub fn uniform(&mut self) -> f64 {
        // 53 random bits, shifted off zero by half a step.
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
}

/// A distribution of durations, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Distribution {
    /// Exponential with this mean.
    Exponential {
        /// Mean, seconds.
        mean: f64,
    },
    /// Log-normal with this mean and standard deviation (of the duration itself).
    LogNormal {
        /// Mean, seconds.
        mean: f64,
        /// Standard deviation, seconds.
        sd: f64,
    },
    /// Always this long.
    Fixed {
        /// Seconds.
        seconds: f64,
    },
    /// Never ends (a caller who never hangs up).
    Never,
}

impl Distribution {
    /// The mean, seconds (infinite for [`Distribution::Never`]).
    pub fn mean(&self) -> f64 {
        match *self {
            Self::Exponential { mean } | Self::LogNormal { mean, .. } => mean,
            Self::Fixed { seconds } => seconds,
            Self::Never => f64::INFINITY,
        }
    }

    /// The duration at quantile `u` in (0, 1): one uniform per draw, so that two scenarios
    /// run with the same seed give each caller the same patience and each call the same
    /// place in its site's distribution (common random numbers).
    pub fn at(&self, u: f64) -> f64 {
        match *self {
            Self::Exponential { mean } => -mean * (1.0 - u).ln(),
            Self::LogNormal { mean, sd } => {
                let sigma2 = (1.0 + (sd * sd) / (mean * mean)).ln();
                let mu = mean.ln() - sigma2 / 2.0;
                (mu + sigma2.sqrt() * normal_quantile(u)).exp()
            }
            Self::Fixed { seconds } => seconds,
            Self::Never => f64::INFINITY,
        }
    }
}

/// The standard normal quantile (Acklam's rational approximation, relative error below
/// 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const LOW: f64 = 0.024_25;
    if p < LOW {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    }
}

/// The two-sided 99 % quantile of Student's t with `df` degrees of freedom (the 0.995
/// quantile): the table for up to 30, the Cornish–Fisher expansion beyond.
pub fn t_quantile_99(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        63.657, 9.925, 5.841, 4.604, 4.032, 3.707, 3.499, 3.355, 3.250, 3.169, 3.106, 3.055, 3.012,
        2.977, 2.947, 2.921, 2.898, 2.878, 2.861, 2.845, 2.831, 2.819, 2.807, 2.797, 2.787, 2.779,
        2.771, 2.763, 2.756, 2.750,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => TABLE[df - 1],
        _ => {
            let z: f64 = 2.575_829_303_548_9;
            let n = df as f64;
            z + (z.powi(3) + z) / (4.0 * n)
                + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * n * n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_the_same_draws_and_streams_differ() {
        let mut a = Rng::new(7, 0);
        let mut b = Rng::new(7, 0);
        let mut c = Rng::new(7, 1);
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..5).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn draws_have_the_distributions_mean() {
        let mut rng = Rng::new(1, 0);
        for d in [
            Distribution::Exponential { mean: 180.0 },
            Distribution::LogNormal {
                mean: 180.0,
                sd: 90.0,
            },
        ] {
            let n = 200_000;
            let sum: f64 = (0..n).map(|_| d.at(rng.uniform())).sum();
            let mean = sum / f64::from(n);
            assert!((mean - 180.0).abs() < 2.0, "{d:?}: {mean}");
        }
    }

    #[test]
    fn the_normal_quantile_is_right_at_known_points() {
        assert!(normal_quantile(0.5).abs() < 1e-9);
        assert!((normal_quantile(0.975) - 1.959_963_985).abs() < 1e-6);
        assert!((normal_quantile(0.005) + 2.575_829_304).abs() < 1e-6);
        assert!((t_quantile_99(1000) - 2.5808).abs() < 1e-3);
        assert!((t_quantile_99(60) - 2.660).abs() < 2e-3);
    }
}
