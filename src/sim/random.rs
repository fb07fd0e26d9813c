//! Seeded randomness for the simulator: independent streams derived from one seed, and the
//! few distributions the models need (normal via Box-Muller, lognormal, exponential).

use fastrand::Rng;

/// The stream that draws the workload (sizes, arrivals).
pub(crate) const STREAM_WORKLOAD: u64 = 1;
/// The stream the server draws latencies and overloads from.
pub(crate) const STREAM_SERVER: u64 = 2;
/// The stream that draws each request's transit to the server and its answers' way back.
pub(crate) const STREAM_TRANSIT: u64 = 3;
/// Client `i` draws from stream `STREAM_CLIENT + i`.
pub(crate) const STREAM_CLIENT: u64 = 1_000;

/// SplitMix64's finaliser: spreads nearby seeds over the whole 64-bit space.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The generator of stream `stream` under `seed`. Streams are independent of each other, so
/// the workload is the same whatever the strategy draws, and one client's draws never shift
/// another's.
pub(crate) fn stream(seed: u64, stream: u64) -> Rng {
    Rng::with_seed(mix(mix(seed) ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
}

/// A standard normal draw (Box-Muller; one of the pair is enough here).
pub(crate) fn normal(rng: &mut Rng) -> f64 {
    let u1 = 1.0 - rng.f64(); // (0, 1]: ln is finite
    let u2 = rng.f64();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A lognormal draw with the given median and shape `sigma` (the log's standard deviation).
pub(crate) fn lognormal(rng: &mut Rng, median: f64, sigma: f64) -> f64 {
    median * (sigma * normal(rng)).exp()
}

/// An exponential draw with the given mean.
pub(crate) fn exponential(rng: &mut Rng, mean: f64) -> f64 {
    -mean * (1.0 - rng.f64()).ln()
}

/// A uniform draw in `[lo, hi)` (`lo` when the range is empty).
pub(crate) fn uniform(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
    if hi > lo {
        lo + (hi - lo) * rng.f64()
    } else {
        lo
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| stream(7, 1).u64(..)).collect();
        let b: Vec<u64> = (0..4).map(|_| stream(7, 1).u64(..)).collect();
        assert_eq!(a, b);
        assert_ne!(stream(7, 1).u64(..), stream(7, 2).u64(..));
        assert_ne!(stream(7, 1).u64(..), stream(8, 1).u64(..));
    }

    #[test]
    fn lognormal_median_and_exponential_mean_are_right() {
        let mut rng = stream(1, 99);
        let mut xs: Vec<f64> = (0..20_001)
            .map(|_| lognormal(&mut rng, 1_500.0, 0.5))
            .collect();
        xs.sort_by(f64::total_cmp);
        let median = xs[10_000];
        assert!((median / 1_500.0 - 1.0).abs() < 0.03, "median {median}");
        let mean = (0..20_000).map(|_| exponential(&mut rng, 2.0)).sum::<f64>() / 20_000.0;
        assert!((mean - 2.0).abs() < 0.06, "mean {mean}");
        assert!(xs.iter().all(|x| x.is_finite() && *x > 0.0));
    }
}
