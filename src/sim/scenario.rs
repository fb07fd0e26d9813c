//! A scenario: one server, one workload, K clients, one seed.

use super::invalid::Invalid;
use super::mix::{Mix, PacerKeys};
use super::server::{Head, OtpmMetering, Rounding, ServerConfig};
use super::workload::{Arrival, Workload};
use crate::core::budget::BudgetConfig;
use crate::core::config::Config;
use crate::core::limiter::Limits;
use crate::core::models::ModelLimits;
use crate::core::presets::OutputMetering;
use crate::core::Ms;
use std::fmt;

/// The simulation's start: 2026-01-01T00:00:00Z in epoch ms, so that the dates in headers look
/// like real ones.
pub const START_MS: Ms = 1_767_225_600_000.0;

/// What the llm-pacer strategy is told about the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PacerLimits {
    /// The server's limits are configured (`limits: { rpm, itpm, otpm }`). Default.
    #[default]
    Configured,
    /// Nothing is configured: the limits are learned from the response headers.
    Learned,
}

/// Everything a run depends on. Same scenario and strategy, same report.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Seeds every random draw: the workload, the server, each client.
    pub seed: u64,
    /// Clients sharing the organisation's limits; each runs its own strategy instance and
    /// gets every K-th request.
    pub clients: u32,
    /// Requests in progress at once, per client, for every strategy.
    pub concurrency: u32,
    /// The requests.
    pub workload: Workload,
    /// The server.
    pub server: ServerConfig,
    /// What llm-pacer is told about the limits.
    pub pacer_limits: PacerLimits,
    /// How llm-pacer knows a request's input: `None`, counted exactly, as a caller's own
    /// tokenizer would (the `estimate` option; a request over a limit is refused). `Some(r)`:
    /// estimated at `r` times what the server counts, vouching for none of it, as the built-in
    /// estimate does (about 1.25 for English prose: 3 characters a token where tokenizers give
    /// 3.75).
    pub input_estimate: Option<f64>,
    /// llm-pacer sees a request's shared prefix ([`Workload::prefix_tokens`]) as the estimate
    /// finds it in a body with a `cache_control` breakpoint, and so learns from the usage
    /// what the server's prompt cache holds ([`crate::core::prompt_cache`]). `false`: it
    /// reserves every prompt whole, as before it knew of the cache.
    pub cache_prefixes: bool,
    /// Several model classes (and organisations), each with buckets of its own; `None`: one
    /// class, with the server's limits.
    pub mix: Option<Mix>,
    /// llm-pacer's retry budget (`None`: off); the public default unless told.
    pub budget: Option<BudgetConfig>,
    /// The llm-pacer clients share their limits through a store (the `store` option, as
    /// `llm-pacer/redis`) that answers a reservation this many ms after it is asked (its
    /// round trip); `None`: no store, each client on its own.
    pub store_ms: Option<Ms>,
    /// With a store: this many of the llm-pacer clients (the last ones) stay outside it, each
    /// on its own, beside the fleet that shares the store: other traffic on the same limits,
    /// which the store never sees.
    pub outside: u32,
}

impl Scenario {
    /// The issue's scenario with `clients` clients: 1,000 requests; RPM 50, ITPM 30,000,
    /// OTPM 8,000 (reserved from `max_tokens`); input lognormal with median 1,500 (sigma 0.5);
    /// `max_tokens` 1,024; output uniform in [100, 1,024]; concurrency 5 per client; all
    /// arriving at the start; seed 1.
    pub fn issue_default(clients: u32) -> Self {
        Scenario {
            seed: 1,
            clients,
            concurrency: 5,
            workload: Workload::default(),
            server: ServerConfig::default(),
            pacer_limits: PacerLimits::Configured,
            input_estimate: None,
            cache_prefixes: true,
            mix: None,
            budget: Some(BudgetConfig::default()),
            store_ms: None,
            outside: 0,
        }
    }

    /// The uncoordinated-burst variant of [`Scenario::issue_default`]: the same workload (all
    /// requests submitted at the start), but every admitted request answers after a uniform
    /// U[2 s, 8 s] (as a loopback test server does), and the server rounds token `remaining`
    /// *down* to the thousand. Long, even latencies make the clients' opening bursts land
    /// together, and rounding down hides up to 1,000 tokens of each bucket.
    pub fn burst_variant(clients: u32) -> Self {
        let mut s = Self::issue_default(clients);
        s.server.response_latency_ms = Some((2_000.0, 8_000.0));
        s.server.rounding = Rounding::Down;
        s
    }

    /// Check the scenario: what is wrong, by its field.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.clients == 0 || self.clients > 10_000 {
            return Err(Invalid::new("clients", "must be from 1 to 10000"));
        }
        if self.concurrency == 0 || self.concurrency > 1_000_000 {
            return Err(Invalid::new("concurrency", "must be from 1 to 1000000"));
        }
        self.workload.validate()?;
        if let Some(r) = self.input_estimate {
            if !(r.is_finite() && (0.1..=10.0).contains(&r)) {
                return Err(Invalid::new("--estimate", "must be a ratio from 0.1 to 10"));
            }
        }
        if let Some(m) = &self.mix {
            m.validate()?;
        }
        if self.outside > 0 && (self.store_ms.is_none() || self.outside >= self.clients) {
            return Err(Invalid::new(
                "outside",
                "needs a store and fewer than the clients",
            ));
        }
        if let Some(ms) = self.store_ms {
            // Within the store's own timeout (`core::store::STORE_TIMEOUT_MS`): a store that
            // answers later is down, which this store never is.
            if !(ms.is_finite() && (0.0..crate::core::store::STORE_TIMEOUT_MS).contains(&ms)) {
                return Err(Invalid::new("storeMs", "must be from 0 to 999 ms"));
            }
        }
        // The package's own rule for a budget (`budget.ratio` from 0 to 1000).
        let budget = Config {
            budget: self.budget,
            ..Config::new()
        };
        if budget.validate().is_err() {
            return Err(Invalid::new(
                "--budget",
                "must be a ratio from 0 to 1000, or `off`",
            ));
        }
        self.server.validate()
    }

    /// The llm-pacer configuration of each client: the public defaults, the scenario's
    /// concurrency, and the server's limits unless they are to be learned.
    pub fn pacer_config(&self) -> Config {
        let mut c = Config::new();
        c.concurrency = Some(self.concurrency);
        c.budget = self.budget;
        if self.pacer_limits == PacerLimits::Configured {
            // Told the plan, as its preset tells a pacer: how it meters output too.
            c.output_metering = Some(match self.server.metering {
                OtpmMetering::RealTime => OutputMetering::RealTime,
                OtpmMetering::Reservation => OutputMetering::Reservation,
            });
            c.limits = self.server.limits;
            if let Some(m) = &self.mix {
                c.limits = Limits::default();
                match m.pacer {
                    // One limiter for every class: the tightest of their limits.
                    PacerKeys::Single => c.limits = m.tightest(),
                    PacerKeys::Keyed | PacerKeys::PerModel => {
                        c.models = m
                            .classes
                            .iter()
                            .map(|k| ModelLimits {
                                class: k.name.clone(),
                                limits: k.limits,
                            })
                            .collect()
                    }
                }
            }
        }
        c
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = &self.workload;
        let s = &self.server;
        let lim = |name: &str, v: Option<f64>| v.map(|v| format!(" {name} {v}"));
        let limits: String = [
            lim("RPM", s.limits.rpm),
            lim("ITPM", s.limits.itpm),
            lim("OTPM", s.limits.otpm),
            lim("TPM", s.limits.tpm),
        ]
        .into_iter()
        .flatten()
        .collect();
        let arrival = match w.arrival {
            Arrival::AtStart => "all at the start".to_string(),
            Arrival::Poisson { per_s } => format!("Poisson, {per_s}/s"),
        };
        writeln!(
            f,
            "{} requests, {} client{} x concurrency {}, seed {}",
            w.requests,
            self.clients,
            if self.clients == 1 { "" } else { "s" },
            self.concurrency,
            self.seed
        )?;
        let limits = if self.mix.is_some() {
            " per model class (below)".to_string()
        } else {
            limits
        };
        let latency = match s.response_latency_ms {
            Some((lo, hi)) => format!("U[{lo}, {hi}] ms"),
            None => format!(
                "ttfb lognormal median {} ms + output at {}/s",
                s.ttfb_median_ms, s.tokens_per_s
            ),
        };
        let transit = match s.transit_ms {
            (lo, hi) if hi > 0.0 => format!("; transit U[{lo}, {hi}] ms"),
            _ => String::new(),
        };
        let head = match s.head {
            Head::Admission => format!(
                "{}% of the 2xx streams, their heads written at admission, the others' before \
                 the settlement",
                (s.stream_fraction * 100.0).round()
            ),
            Head::AdmissionJson => "JSON answers' figures written at admission".to_string(),
            h => format!("head {} the settlement", h.name()),
        };
        writeln!(
            f,
            "limits:{limits} (OTPM metered by {}; token remaining rounded {}; {head}); p529 {}; \
             latency {latency}{transit}",
            s.metering.name(),
            match s.rounding {
                Rounding::Nearest => "to the nearest thousand",
                Rounding::Down => "down to the thousand",
                Rounding::Up => "up to the thousand",
            },
            s.p_overloaded
        )?;
        if let Some(m) = &self.mix {
            writeln!(f, "{m}")?;
        }
        if let Some(ms) = self.store_ms {
            writeln!(
                f,
                "llm-pacer clients share their limits through a store ({ms} ms a reservation){}",
                match self.outside {
                    0 => String::new(),
                    n => format!(", but {n} of them on their own beside it"),
                }
            )?;
        }
        write!(
            f,
            "input lognormal median {} sigma {}{}; max_tokens {}; output U[{}, {}]; arrivals {}; \
             llm-pacer limits {}, input {}",
            w.input_median,
            w.input_sigma,
            match (w.prefix_tokens, self.cache_prefixes) {
                (0, _) => String::new(),
                (n, true) => format!(" after a cached prefix of {n}"),
                (n, false) => format!(" after a cached prefix of {n} llm-pacer is not shown"),
            },
            w.max_tokens,
            w.output_min,
            w.output_max.min(w.max_tokens),
            arrival,
            match self.pacer_limits {
                PacerLimits::Configured => "configured",
                PacerLimits::Learned => "learned from headers",
            },
            match self.input_estimate {
                None => "counted".to_string(),
                Some(r) => format!("estimated at {r}x the server's count"),
            }
        )
    }
}
