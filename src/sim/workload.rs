//! Workloads: how many requests, how large, when they arrive, and which client sends each.
//!
//! A [`Workload`] is a recipe; [`Workload::generate`] draws the concrete [`RequestSpec`]s
//! from a seed. The draws come from a stream of their own, so every strategy compared on a
//! scenario faces exactly the same requests.

use super::invalid::Invalid;
use super::random;
use crate::core::Ms;

/// When requests arrive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arrival {
    /// All at the start (a batch job).
    AtStart,
    /// A Poisson process: exponential gaps with this mean rate, requests per second.
    Poisson {
        /// Mean arrivals per second.
        per_s: f64,
    },
}

/// A workload recipe.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// Number of requests.
    pub requests: u32,
    /// Median input tokens (lognormal).
    pub input_median: f64,
    /// Shape of the input distribution: the standard deviation of its logarithm.
    pub input_sigma: f64,
    /// Every request's `max_tokens`.
    pub max_tokens: u32,
    /// Smallest actual output, tokens (uniform between this and `output_max`).
    pub output_min: u32,
    /// Largest actual output, tokens (clamped to `max_tokens`).
    pub output_max: u32,
    /// The arrival pattern.
    pub arrival: Arrival,
    /// Every request's prompt starts with the same this many tokens (a system prompt marked
    /// for Anthropic's prompt cache, `cache_control`), before its own input: the server counts
    /// them against ITPM only when its cache does not hold them. 0: no shared prefix.
    pub prefix_tokens: u32,
}

impl Default for Workload {
    /// The workload: 1,000 requests, input lognormal (median 1,500, sigma 0.5),
    /// `max_tokens` 1,024, output uniform in [100, 1,024], all arriving at the start.
    fn default() -> Self {
        Workload {
            requests: 1_000,
            input_median: 1_500.0,
            input_sigma: 0.5,
            max_tokens: 1_024,
            output_min: 100,
            output_max: 1_024,
            arrival: Arrival::AtStart,
            prefix_tokens: 0,
        }
    }
}

/// One concrete request of a generated workload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequestSpec {
    /// Position in the workload (0-based); also its index in [`Workload::generate`]'s result.
    pub index: usize,
    /// The client that sends it (requests are dealt round-robin).
    pub client: u32,
    /// When it arrives at its client, epoch ms.
    pub arrival_ms: Ms,
    /// Input tokens of its own, after the shared prefix (if any): the server always meters
    /// them against ITPM. At least 1.
    pub input_tokens: u32,
    /// The shared prefix's tokens ([`Workload::prefix_tokens`]): metered when the server's
    /// prompt cache does not hold it (a cache write), free when it does (a cache read).
    pub prefix_tokens: u32,
    /// The request's `max_tokens`.
    pub max_tokens: u32,
    /// The output the model will actually produce (at most `max_tokens`).
    pub output_tokens: u32,
}

/// What a workload needs in all: the numbers behind the makespan's lower bound.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Totals {
    /// Requests.
    pub requests: f64,
    /// Metered input tokens.
    pub input_tokens: f64,
    /// Actual output tokens.
    pub output_tokens: f64,
    /// The last arrival, ms after the start.
    pub last_arrival_ms: Ms,
}

impl Totals {
    /// Sum up generated requests; `start_ms` is the simulation's start. A shared prefix is
    /// metered once (one cache write, then reads): the least the server can meter.
    pub fn of(requests: &[RequestSpec], start_ms: Ms) -> Totals {
        let prefix = requests.iter().map(|r| r.prefix_tokens).max().unwrap_or(0);
        let start = Totals {
            input_tokens: f64::from(prefix),
            ..Totals::default()
        };
        requests.iter().fold(start, |t, r| Totals {
            requests: t.requests + 1.0,
            input_tokens: t.input_tokens + f64::from(r.input_tokens),
            output_tokens: t.output_tokens + f64::from(r.output_tokens),
            last_arrival_ms: t.last_arrival_ms.max(r.arrival_ms - start_ms),
        })
    }
}

impl Workload {
    /// Draw the requests: sizes and arrivals from `seed`, dealt round-robin over `clients`
    /// (at least 1), arriving from `start_ms` on, in arrival order.
    pub fn generate(&self, clients: u32, start_ms: Ms, seed: u64) -> Vec<RequestSpec> {
        let mut rng = random::stream(seed, random::STREAM_WORKLOAD);
        let clients = clients.max(1);
        let out_hi = self.output_max.min(self.max_tokens);
        let out_lo = self.output_min.min(out_hi);
        let mut t = start_ms;
        (0..self.requests as usize)
            .map(|index| {
                if let Arrival::Poisson { per_s } = self.arrival {
                    if index > 0 {
                        t += random::exponential(&mut rng, 1_000.0 / per_s);
                    }
                }
                let input = random::lognormal(&mut rng, self.input_median, self.input_sigma);
                RequestSpec {
                    index,
                    client: (index % clients as usize) as u32,
                    arrival_ms: t,
                    input_tokens: crate::core::clamp(input.round(), 1.0, f64::from(u32::MAX))
                        as u32,
                    max_tokens: self.max_tokens,
                    output_tokens: rng.u32(out_lo..=out_hi),
                    prefix_tokens: self.prefix_tokens,
                }
            })
            .collect()
    }

    /// Check the recipe: what is wrong, by its field.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.requests == 0 {
            return Err(Invalid::new("workload.requests", "must be at least 1"));
        }
        if !(self.input_median.is_finite() && self.input_median >= 1.0) {
            return Err(Invalid::new(
                "workload.inputMedian",
                "must be a number of tokens >= 1",
            ));
        }
        if !(self.input_sigma.is_finite() && (0.0..=5.0).contains(&self.input_sigma)) {
            return Err(Invalid::new("workload.inputSigma", "must be from 0 to 5"));
        }
        if self.max_tokens == 0 {
            return Err(Invalid::new("workload.maxTokens", "must be at least 1"));
        }
        if self.output_min > self.output_max {
            return Err(Invalid::new(
                "workload.outputMin",
                "must not exceed `workload.outputMax`",
            ));
        }
        if let Arrival::Poisson { per_s } = self.arrival {
            if !(per_s.is_finite() && per_s > 0.0) {
                return Err(Invalid::new(
                    "workload.arrivalPerS",
                    "must be a positive number",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_dealt_round_robin_with_sizes_in_range() {
        let w = Workload::default();
        let reqs = w.generate(4, 0.0, 1);
        assert_eq!(reqs.len(), 1_000);
        for (i, r) in reqs.iter().enumerate() {
            assert_eq!(r.index, i);
            assert_eq!(r.client, (i % 4) as u32);
            assert_eq!(r.arrival_ms, 0.0);
            assert!((100..=1_024).contains(&r.output_tokens));
            assert!(r.input_tokens >= 1);
        }
        let t = Totals::of(&reqs, 0.0);
        // Mean of the lognormal: 1500 * e^(0.5^2 / 2) ~ 1700; of the output: 562.
        assert!((t.input_tokens / 1_000.0 - 1_700.0).abs() < 60.0, "{t:?}");
        assert!((t.output_tokens / 1_000.0 - 562.0).abs() < 25.0, "{t:?}");
    }

    #[test]
    fn poisson_arrivals_have_the_requested_rate() {
        let w = Workload {
            requests: 2_000,
            arrival: Arrival::Poisson { per_s: 2.0 },
            ..Workload::default()
        };
        let reqs = w.generate(1, 10_000.0, 3);
        assert_eq!(reqs[0].arrival_ms, 10_000.0);
        assert!(reqs.windows(2).all(|p| p[0].arrival_ms <= p[1].arrival_ms));
        let span_s = (reqs[1_999].arrival_ms - 10_000.0) / 1_000.0;
        assert!((span_s - 1_000.0).abs() < 70.0, "span {span_s}");
    }

    #[test]
    fn output_is_clamped_to_max_tokens() {
        let w = Workload {
            max_tokens: 50,
            ..Workload::default()
        };
        assert!(w.generate(1, 0.0, 1).iter().all(|r| r.output_tokens == 50));
    }
}
