//! What a run measured: makespan against its lower bound, errors, retries, latency, and a
//! compact time series for plots.

use super::strategy::StrategyKind;
use super::workload::Totals;
use crate::core::limiter::Limits;
use crate::core::Ms;
use std::fmt;

/// Width of one [`Slot`] of the time series, ms of virtual time.
pub const SLOT_MS: Ms = 10_000.0;

/// What happened in one [`SLOT_MS`] of virtual time.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Slot {
    /// Attempts sent to the server.
    pub sent: u32,
    /// Input tokens the server admitted.
    pub input_tokens: f64,
    /// Output tokens the server produced (counted when the response completes).
    pub output_tokens: f64,
    /// 429s the server sent.
    pub rate_limited: u32,
    /// 529s the server sent.
    pub overloaded: u32,
    /// Requests arrived at their client and neither finished nor on the wire, at the end of
    /// the slot.
    pub queued: u32,
}

/// The result of one strategy on one scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The strategy.
    pub strategy: StrategyKind,
    /// Clients sharing the organisation's limits.
    pub clients: u32,
    /// Requests in the workload.
    pub requests: u32,
    /// Requests that succeeded.
    pub completed: u64,
    /// Requests that never succeeded (given up on, or still unfinished when the run stopped).
    pub failures: u64,
    /// Attempts sent to the server.
    pub attempts: u64,
    /// Attempts beyond each request's first.
    pub retries: u64,
    /// 429s the server sent.
    pub rate_limited: u64,
    /// 529s the server sent.
    pub overloaded: u64,
    /// From the start until the last request finished (succeeded or was given up on), ms.
    pub makespan_ms: Ms,
    /// No strategy can finish sooner: see [`lower_bound_ms`].
    pub lower_bound_ms: Ms,
    /// `makespan_ms / lower_bound_ms` (NaN when the lower bound is 0).
    pub ratio: f64,
    /// Median latency (completion - arrival) of the requests that succeeded, ms (NaN if none).
    pub latency_p50_ms: Ms,
    /// 99th percentile of the same, ms (NaN if none).
    pub latency_p99_ms: Ms,
    /// The run hit its safety limit on events or virtual time before every request finished
    /// (a strategy that never gives up and never succeeds).
    pub truncated: bool,
    /// Per [`SLOT_MS`] of virtual time, from the start.
    pub series: Vec<Slot>,
    /// Per model class, in a scenario that mixes them ([`super::Mix`]); empty otherwise.
    pub classes: Vec<ClassReport>,
    /// Reservations the llm-pacer clients asked of their shared store
    /// ([`super::Scenario::store_ms`]); 0 without one.
    pub store_reserves: u64,
    /// With clients outside the store ([`super::Scenario::outside`]): the requests of the
    /// clients that share it, and the 429s they drew (0 and 0 otherwise).
    pub fleet_requests: u64,
    /// See [`Report::fleet_requests`].
    pub fleet_rate_limited: u64,
}

/// What one model class of a mixed scenario measured.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassReport {
    /// The class.
    pub name: String,
    /// Its requests.
    pub requests: u32,
    /// Those that succeeded.
    pub completed: u64,
    /// 429s its servers sent.
    pub rate_limited: u64,
    /// From the start until its last request finished, ms.
    pub makespan_ms: Ms,
    /// Its lower bound: the largest over its organisations' buckets.
    pub lower_bound_ms: Ms,
    /// `makespan_ms / lower_bound_ms` (NaN when the lower bound is 0).
    pub ratio: f64,
}

/// A JSON number, or `null` when not finite (JSON has no NaN).
fn json_num(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "null".into()
    }
}

impl Report {
    /// The report as compact JSON, keys spelled as in JavaScript (`makespanMs`,
    /// `rateLimited`, ...; `series` is an array of slots of [`SLOT_MS`] each), for the demo
    /// page and the Wasm `simulate` export. NaN values are `null`.
    ///
    /// ```
    /// use llm_pacer::sim::{run, Scenario, StrategyKind};
    ///
    /// let mut s = Scenario::issue_default(1);
    /// s.workload.requests = 10;
    /// let json = run(&s, StrategyKind::TokenWindow).to_json();
    /// assert!(json.starts_with(r#"{"strategy":"token-window","clients":1,"requests":10,"#));
    /// ```
    pub fn to_json(&self) -> String {
        use std::fmt::Write;
        let mut s = String::with_capacity(256 + 96 * self.series.len());
        let _ = write!(
            s,
            "{{\"strategy\":\"{}\",\"clients\":{},\"requests\":{},\"completed\":{},\
             \"failures\":{},\"attempts\":{},\"retries\":{},\"rateLimited\":{},\
             \"overloaded\":{},\"makespanMs\":{},\"lowerBoundMs\":{},\"ratio\":{},\
             \"latencyP50Ms\":{},\"latencyP99Ms\":{},\"truncated\":{},\"slotMs\":{},\
             \"series\":[",
            self.strategy.name(),
            self.clients,
            self.requests,
            self.completed,
            self.failures,
            self.attempts,
            self.retries,
            self.rate_limited,
            self.overloaded,
            json_num(self.makespan_ms),
            json_num(self.lower_bound_ms),
            json_num(self.ratio),
            json_num(self.latency_p50_ms),
            json_num(self.latency_p99_ms),
            self.truncated,
            SLOT_MS,
        );
        for (i, x) in self.series.iter().enumerate() {
            let _ = write!(
                s,
                "{}{{\"sent\":{},\"inputTokens\":{},\"outputTokens\":{},\"rateLimited\":{},\
                 \"overloaded\":{},\"queued\":{}}}",
                if i == 0 { "" } else { "," },
                x.sent,
                json_num(x.input_tokens),
                json_num(x.output_tokens),
                x.rate_limited,
                x.overloaded,
                x.queued
            );
        }
        s.push(']');
        if self.store_reserves > 0 {
            let _ = write!(s, ",\"storeReserves\":{}", self.store_reserves);
        }
        if self.fleet_requests > 0 {
            let _ = write!(
                s,
                ",\"fleetRequests\":{},\"fleetRateLimited\":{}",
                self.fleet_requests, self.fleet_rate_limited
            );
        }
        if !self.classes.is_empty() {
            s.push_str(",\"classes\":[");
            for (i, c) in self.classes.iter().enumerate() {
                let _ = write!(
                    s,
                    "{}{{\"name\":\"{}\",\"requests\":{},\"completed\":{},\"rateLimited\":{},\
                     \"makespanMs\":{},\"lowerBoundMs\":{},\"ratio\":{}}}",
                    if i == 0 { "" } else { "," },
                    c.name.replace(['"', '\\'], ""),
                    c.requests,
                    c.completed,
                    c.rate_limited,
                    json_num(c.makespan_ms),
                    json_num(c.lower_bound_ms),
                    json_num(c.ratio)
                );
            }
            s.push(']');
        }
        s.push('}');
        s
    }

    /// 429s per attempt (0 when nothing was sent).
    pub fn rate_limited_share(&self) -> f64 {
        if self.attempts == 0 {
            0.0
        } else {
            self.rate_limited as f64 / self.attempts as f64
        }
    }
}

/// The shortest makespan the limits allow for these totals: per limited dimension,
/// `(total - start_level × capacity) / refill rate` (the bucket as full at the start as
/// [`crate::sim::ServerConfig::start_level`] says, then the refill), the
/// largest over the dimensions, and never before the last arrival. The totals are what the
/// workload really needs (requests, metered input, actual output), so a strategy that
/// reserves more than it uses cannot reach it unless it gives the excess back.
///
/// Under real-time output metering a run may end slightly below it: the last requests are
/// admitted while the bucket is still above zero and push it into debt.
///
/// ```
/// use llm_pacer::core::limiter::Limits;
/// use llm_pacer::sim::{lower_bound_ms, Totals};
///
/// let limits = Limits { rpm: Some(60.0), otpm: Some(6_000.0), ..Limits::default() };
/// let totals = Totals { requests: 120.0, output_tokens: 30_000.0, ..Totals::default() };
/// // Requests: (120 - 60) / (1 per s) = 60 s; output: (30,000 - 6,000) / (100 per s) = 240 s.
/// assert_eq!(lower_bound_ms(&limits, &totals, 1.0), 240_000.0);
/// // From spent buckets: output 30,000 / (100 per s) = 300 s.
/// assert_eq!(lower_bound_ms(&limits, &totals, 0.0), 300_000.0);
/// ```
pub fn lower_bound_ms(limits: &Limits, totals: &Totals, start_level: f64) -> Ms {
    [
        (limits.rpm, totals.requests),
        (limits.itpm, totals.input_tokens),
        (limits.otpm, totals.output_tokens),
        (limits.tpm, totals.input_tokens + totals.output_tokens),
    ]
    .into_iter()
    .filter_map(|(limit, total)| limit.map(|c| (total - start_level * c).max(0.0) * 60_000.0 / c))
    .fold(totals.last_arrival_ms.max(0.0), f64::max)
}

/// Nearest-rank percentile `p` (0..=1) of sorted values (NaN if empty).
pub(crate) fn percentile(sorted: &[Ms], p: f64) -> Ms {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

fn secs(ms: Ms) -> String {
    if ms.is_finite() {
        format!("{:.1} s", ms / 1_000.0)
    } else {
        "-".into()
    }
}

/// A comparison table of reports, one row each (see [`Table`]'s `Display`).
#[derive(Debug, Clone, Copy)]
pub struct Table<'a>(pub &'a [Report]);

impl fmt::Display for Table<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<14} {:>10} {:>11} {:>6} {:>6} {:>5} {:>7} {:>8} {:>9} {:>9}",
            "strategy",
            "makespan",
            "lower bound",
            "ratio",
            "429s",
            "529s",
            "retries",
            "failures",
            "p50",
            "p99"
        )?;
        for r in self.0 {
            let ratio = if r.ratio.is_finite() {
                format!("{:.3}", r.ratio)
            } else {
                "-".into()
            };
            writeln!(
                f,
                "{:<14} {:>10} {:>11} {:>6} {:>6} {:>5} {:>7} {:>8} {:>9} {:>9}{}",
                r.strategy.name(),
                secs(r.makespan_ms),
                secs(r.lower_bound_ms),
                ratio,
                r.rate_limited,
                r.overloaded,
                r.retries,
                r.failures,
                secs(r.latency_p50_ms),
                secs(r.latency_p99_ms),
                if r.truncated { "  (stopped)" } else { "" }
            )?;
            for c in &r.classes {
                let ratio = if c.ratio.is_finite() {
                    format!("{:.3}", c.ratio)
                } else {
                    "-".into()
                };
                writeln!(
                    f,
                    "  {:<12} {:>10} {:>11} {:>6} {:>6}",
                    c.name,
                    secs(c.makespan_ms),
                    secs(c.lower_bound_ms),
                    ratio,
                    c.rate_limited
                )?;
            }
        }
        if self.0.iter().any(|r| r.failures > 0) {
            writeln!(
                f,
                "(failures: requests given up on; a strategy that gives up finishes sooner, \
                 so its makespan and ratio do not compare)"
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for Report {
    /// The report as a one-row [`Table`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Table(std::slice::from_ref(self)).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_every_field_and_no_nan() {
        let r = Report {
            strategy: StrategyKind::Pacer,
            clients: 2,
            requests: 3,
            completed: 0,
            failures: 3,
            attempts: 4,
            retries: 1,
            rate_limited: 1,
            overloaded: 0,
            makespan_ms: 1_500.5,
            lower_bound_ms: 0.0,
            ratio: f64::NAN,
            latency_p50_ms: f64::NAN,
            latency_p99_ms: f64::NAN,
            truncated: false,
            series: vec![Slot {
                sent: 4,
                input_tokens: 100.0,
                output_tokens: 0.0,
                rate_limited: 1,
                overloaded: 0,
                queued: 2,
            }],
            classes: Vec::new(),
            store_reserves: 0,
            fleet_requests: 0,
            fleet_rate_limited: 0,
        };
        assert_eq!(
            r.to_json(),
            "{\"strategy\":\"llm-pacer\",\"clients\":2,\"requests\":3,\"completed\":0,\
             \"failures\":3,\"attempts\":4,\"retries\":1,\"rateLimited\":1,\"overloaded\":0,\
             \"makespanMs\":1500.5,\"lowerBoundMs\":0,\"ratio\":null,\"latencyP50Ms\":null,\
             \"latencyP99Ms\":null,\"truncated\":false,\"slotMs\":10000,\"series\":[{\"sent\":4,\
             \"inputTokens\":100,\"outputTokens\":0,\"rateLimited\":1,\"overloaded\":0,\
             \"queued\":2}]}"
        );
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&[7.0], 0.99), 7.0);
        assert!(percentile(&[], 0.5).is_nan());
    }

    #[test]
    fn lower_bound_takes_the_tightest_dimension_and_the_last_arrival() {
        let limits = Limits {
            rpm: Some(50.0),
            itpm: Some(30_000.0),
            otpm: Some(8_000.0),
            tpm: None,
        };
        let t = Totals {
            requests: 1_000.0,
            input_tokens: 1_700_000.0,
            output_tokens: 560_000.0,
            last_arrival_ms: 0.0,
        };
        // rpm: 950 * 1.2 s = 1140 s; itpm: 1,670,000 / 500 per s = 3340 s;
        // otpm: 552,000 / (8000/60 per s) = 4140 s.
        assert_eq!(lower_bound_ms(&limits, &t, 1.0), 4_140_000.0);
        let late = Totals {
            last_arrival_ms: 5_000_000.0,
            ..t
        };
        assert_eq!(lower_bound_ms(&limits, &late, 1.0), 5_000_000.0);
        let small = Totals {
            requests: 10.0,
            input_tokens: 100.0,
            output_tokens: 100.0,
            last_arrival_ms: 0.0,
        };
        assert_eq!(lower_bound_ms(&limits, &small, 1.0), 0.0);
        let tpm = Limits {
            tpm: Some(60_000.0),
            ..Limits::default()
        };
        // (1,700,000 + 560,000 - 60,000) / 1000 per s = 2200 s.
        assert_eq!(lower_bound_ms(&tpm, &t, 1.0), 2_200_000.0);
    }
}
