//! The options of the public API, with their defaults and validation.
//!
//! Errors name the option as the JavaScript user spells it (`retry.maxRetries`, not
//! `max_retries`) and the allowed range, and say whether the value was of the wrong type
//! ([`ErrorKind::Type`], a JS `TypeError`) or out of range ([`ErrorKind::Range`], a
//! `RangeError`).

use super::backoff::Backoff;
use super::budget::BudgetConfig;
use super::limiter::Limits;
use super::presets::OutputMetering;
use super::Ms;
use std::fmt;

/// How many output tokens to reserve against OTPM before a request.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum OutputReservation {
    /// The request's `max_tokens` (Anthropic reserves this much until the end). Default.
    #[default]
    MaxTokens,
    /// Reserve nothing up front (the server meters output as it is generated).
    None,
    /// A fixed number per request.
    Fixed(f64),
}

/// Retry options.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryConfig {
    /// Retries after the first attempt. Default 6.
    pub max_retries: u32,
    /// Delays and jitter.
    pub backoff: Backoff,
    /// A server hint longer than this (ms) is not waited on. Default 300 000.
    pub max_retry_after_ms: Ms,
    /// Replaces the default list of retryable statuses when given.
    pub retry_on: Option<Vec<u16>>,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_retries: 6,
            backoff: Backoff::default(),
            max_retry_after_ms: 300_000.0,
            retry_on: None,
        }
    }
}

/// Every option of a pacer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    /// Per-minute limits; unknown ones are learned from headers.
    pub limits: Limits,
    /// Retry options.
    pub retry: RetryConfig,
    /// The retry budget; `None` disables it. Default on, with [`BudgetConfig::default`].
    pub budget: Option<BudgetConfig>,
    /// Requests in flight at once; `None` = unlimited (default).
    pub concurrency: Option<u32>,
    /// Bound on a whole call, waits included, ms; `None` = no bound (default).
    pub timeout_ms: Option<Ms>,
    /// Output reservation. Default `max_tokens`.
    pub output_reservation: OutputReservation,
    /// Adaptive concurrency and rate ([`super::adaptive`]) while no limit is configured or
    /// learned. Default off.
    pub adaptive: bool,
    /// Limits per model class (`limits.models`); see [`limits_for`](super::models::limits_for).
    pub models: Vec<ModelLimits>,
    /// A whole preset tier (`preset: "anthropic:tier-1"`): its row for each class.
    pub tier: Option<&'static str>,
    /// How the server meters output, as the preset (one class's or a tier's) says: every
    /// key's limiter knows it ([`Limiter::set_output_metering`](super::limiter::Limiter::set_output_metering)).
    /// `None` (no preset, or one that does not say): learned from the server's answers.
    pub output_metering: Option<OutputMetering>,
}

/// Configured limits for one model class (`limits.models[class]`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelLimits {
    /// The class, as [`class_of`](super::models::class_of) names it (or a name of the
    /// caller's own).
    pub class: String,
    /// Its limits; a dimension not given falls back to the top-level `limits`.
    pub limits: Limits,
}

impl Config {
    /// The defaults of the public API (budget on).
    pub fn new() -> Self {
        Config {
            budget: Some(BudgetConfig::default()),
            ..Default::default()
        }
    }
}

/// Wrong type, or out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The value has the wrong type (JS `TypeError`).
    Type,
    /// The value is out of range (JS `RangeError`).
    Range,
}

/// An invalid option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The option's path as a JS user writes it, e.g. `retry.maxRetries`.
    pub option: String,
    /// Type or range.
    pub kind: ErrorKind,
    /// What is allowed, e.g. `an integer from 0 to 100`.
    pub expected: String,
}

impl ConfigError {
    /// A range error.
    pub fn range(option: &str, expected: &str) -> Self {
        ConfigError {
            option: option.into(),
            kind: ErrorKind::Range,
            expected: expected.into(),
        }
    }
    /// A type error.
    pub fn type_(option: &str, expected: &str) -> Self {
        ConfigError {
            option: option.into(),
            kind: ErrorKind::Type,
            expected: expected.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "llm-pacer: option `{}` must be {}",
            self.option, self.expected
        )
    }
}

impl std::error::Error for ConfigError {}

/// Upper bound for any duration option: 24 hours.
pub const MAX_DURATION_MS: Ms = 86_400_000.0;
/// Upper bound for any per-minute limit.
pub const MAX_LIMIT: f64 = 1.0e12;

fn check_range(option: &str, v: f64, lo: f64, hi: f64, expected: &str) -> Result<(), ConfigError> {
    if v.is_finite() && v >= lo && v <= hi {
        Ok(())
    } else {
        Err(ConfigError::range(option, expected))
    }
}

impl Config {
    /// Check every range; the first bad option is reported.
    pub fn validate(&self) -> Result<(), ConfigError> {
        // Below 1, a bucket never holds one request or one token: every call would be refused.
        let limit = |name: &str, v: Option<f64>| match v {
            Some(v) => check_range(name, v, 1.0, MAX_LIMIT, "a number from 1 to 1e12"),
            None => Ok(()),
        };
        limit("limits.rpm", self.limits.rpm)?;
        limit("limits.tpm", self.limits.tpm)?;
        limit("limits.itpm", self.limits.itpm)?;
        limit("limits.otpm", self.limits.otpm)?;
        for m in &self.models {
            let l = &m.limits;
            let name = |d: &str| format!("limits.models.{}.{d}", m.class);
            limit(&name("rpm"), l.rpm)?;
            limit(&name("tpm"), l.tpm)?;
            limit(&name("itpm"), l.itpm)?;
            limit(&name("otpm"), l.otpm)?;
        }
        let r = &self.retry;
        if r.max_retries > 100 {
            return Err(ConfigError::range(
                "retry.maxRetries",
                "an integer from 0 to 100",
            ));
        }
        let b = &r.backoff;
        check_range(
            "retry.initialDelayMs",
            b.initial_delay_ms,
            0.0,
            MAX_DURATION_MS,
            "a number of ms from 0 to 86400000",
        )?;
        check_range(
            "retry.maxDelayMs",
            b.max_delay_ms,
            0.0,
            MAX_DURATION_MS,
            "a number of ms from 0 to 86400000",
        )?;
        if b.max_delay_ms < b.initial_delay_ms {
            return Err(ConfigError::range(
                "retry.maxDelayMs",
                "at least retry.initialDelayMs",
            ));
        }
        check_range(
            "retry.multiplier",
            b.multiplier,
            1.0,
            100.0,
            "a number from 1 to 100",
        )?;
        check_range(
            "retry.maxRetryAfterMs",
            r.max_retry_after_ms,
            0.0,
            MAX_DURATION_MS,
            "a number of ms from 0 to 86400000",
        )?;
        if let Some(list) = &r.retry_on {
            if list.iter().any(|&s| !(100..=599).contains(&s)) {
                return Err(ConfigError::range(
                    "retry.retryOn",
                    "a list of HTTP statuses from 100 to 599",
                ));
            }
        }
        if let Some(bc) = &self.budget {
            check_range(
                "budget.ratio",
                bc.ratio,
                0.0,
                1_000.0,
                "a number from 0 to 1000",
            )?;
            check_range(
                "budget.maxTokens",
                bc.max_tokens,
                1.0,
                1.0e6,
                "a number from 1 to 1000000",
            )?;
        }
        if let Some(c) = self.concurrency {
            if c == 0 || c > 1_000_000 {
                return Err(ConfigError::range(
                    "concurrency",
                    "an integer from 1 to 1000000",
                ));
            }
        }
        if let Some(t) = self.timeout_ms {
            check_range(
                "timeoutMs",
                t,
                f64::MIN_POSITIVE,
                MAX_DURATION_MS,
                "a number of ms greater than 0 and at most 86400000",
            )?;
        }
        if let OutputReservation::Fixed(n) = self.output_reservation {
            check_range(
                "outputReservation",
                n,
                0.0,
                MAX_LIMIT,
                "\"max_tokens\", \"none\" or a number from 0 to 1e12",
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_the_contract() {
        let c = Config::new();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.retry.max_retries, 6);
        assert_eq!(c.retry.backoff.initial_delay_ms, 1_000.0);
        assert_eq!(c.retry.backoff.max_delay_ms, 60_000.0);
        assert_eq!(c.retry.backoff.multiplier, 2.0);
        assert_eq!(c.retry.max_retry_after_ms, 300_000.0);
        assert_eq!(
            c.budget,
            Some(BudgetConfig {
                ratio: 1.0,
                max_tokens: 10.0
            })
        );
        assert_eq!(c.concurrency, None);
        assert_eq!(c.output_reservation, OutputReservation::MaxTokens);
    }

    #[test]
    fn errors_name_the_option_as_js_spells_it() {
        let mut c = Config::new();
        c.retry.max_retries = 101;
        let e = c.validate().unwrap_err();
        assert_eq!(e.option, "retry.maxRetries");
        assert_eq!(e.kind, ErrorKind::Range);
        assert!(e.to_string().contains("retry.maxRetries"));

        let mut c = Config::new();
        c.limits.itpm = Some(f64::NAN);
        assert_eq!(c.validate().unwrap_err().option, "limits.itpm");

        let mut c = Config::new();
        c.retry.backoff.initial_delay_ms = 5_000.0;
        c.retry.backoff.max_delay_ms = 1_000.0;
        assert_eq!(c.validate().unwrap_err().option, "retry.maxDelayMs");

        let mut c = Config::new();
        c.concurrency = Some(0);
        assert_eq!(c.validate().unwrap_err().option, "concurrency");

        let mut c = Config::new();
        c.timeout_ms = Some(-1.0);
        assert_eq!(c.validate().unwrap_err().option, "timeoutMs");

        let mut c = Config::new();
        c.retry.retry_on = Some(vec![429, 42]);
        assert_eq!(c.validate().unwrap_err().option, "retry.retryOn");

        let mut c = Config::new();
        c.models.push(ModelLimits {
            class: "haiku".into(),
            limits: Limits {
                itpm: Some(0.0),
                ..Limits::default()
            },
        });
        assert_eq!(c.validate().unwrap_err().option, "limits.models.haiku.itpm");
    }
}

/// Where a limit shown by `limits()` comes from: 0 `configured`, 1 `headers` (learned), 2
/// `configured+headers` (configured, and the server's headers lowered it: the limit shown is
/// the server's).
pub fn source(limits: &Limits, d: &super::limiter::DimState) -> u8 {
    use super::limiter::{Dim, Source};
    let configured = match d.dim {
        Dim::Requests => limits.rpm,
        Dim::InputTokens => limits.itpm,
        Dim::OutputTokens => limits.otpm,
        Dim::Tokens => limits.tpm,
    };
    match (d.source, configured) {
        (Source::Headers, _) => 1,
        (Source::Configured, Some(c)) if d.limit < c => 2,
        (Source::Configured, _) => 0,
    }
}

#[cfg(test)]
mod source_tests {
    use super::source;
    use crate::core::limiter::{Dim, DimState, Limits, Source};

    #[test]
    fn a_configured_limit_the_server_lowered_names_both_sources() {
        let limits = Limits {
            rpm: Some(50.0),
            ..Limits::default()
        };
        let d = |dim, limit, source| DimState {
            dim,
            limit,
            window_ms: 60_000.0,
            remaining: 0.0,
            reset_at_ms: 0.0,
            source,
        };
        assert_eq!(
            source(&limits, &d(Dim::Requests, 50.0, Source::Configured)),
            0
        );
        assert_eq!(
            source(&limits, &d(Dim::Requests, 40.0, Source::Configured)),
            2
        );
        assert_eq!(source(&limits, &d(Dim::Tokens, 40.0, Source::Headers)), 1);
    }
}

/// Up to `n` of `names` nearest `name` for an error message: by edit distance (Levenshtein,
/// ASCII case ignored, over the first 64 bytes of each), the table order on a tie. Never
/// empty when `n > 0` and `names` is not. Plain loops and fixed rows: it is in the Wasm module.
pub fn nearest<'a>(name: &str, names: &[&'a str], n: usize) -> Vec<&'a str> {
    const W: usize = 64;
    let a = &name.as_bytes()[..name.len().min(W)];
    let mut dist: Vec<usize> = Vec::with_capacity(names.len());
    for s in names {
        let b = &s.as_bytes()[..s.len().min(W)];
        let mut row = [0usize; W + 1];
        for (j, r) in row.iter_mut().enumerate() {
            *r = j;
        }
        for (i, x) in a.iter().enumerate() {
            let mut diag = row[0];
            row[0] = i + 1;
            for (j, y) in b.iter().enumerate() {
                let up = row[j + 1];
                let cost = usize::from(!x.eq_ignore_ascii_case(y));
                row[j + 1] = (up + 1).min(row[j] + 1).min(diag + cost);
                diag = up;
            }
        }
        dist.push(row[b.len()]);
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut best = None;
        for (i, &d) in dist.iter().enumerate() {
            if d != usize::MAX && best.is_none_or(|b: usize| d < dist[b]) {
                best = Some(i);
            }
        }
        let Some(i) = best else { break };
        dist[i] = usize::MAX;
        out.push(names[i]);
    }
    out
}

#[cfg(test)]
mod nearest_tests {
    use super::nearest;

    #[test]
    fn the_nearest_names_by_edit_distance_case_ignored() {
        let names = [
            "anthropic:tier-1:sonnet",
            "anthropic:tier-1:opus",
            "openai:tier-1:gpt-4o",
            "anthropic:tier-2:sonnet",
        ];
        assert_eq!(
            nearest("antropic:tier-1:sonnet", &names, 2),
            ["anthropic:tier-1:sonnet", "anthropic:tier-2:sonnet"]
        );
        assert_eq!(
            nearest("OPENAI:TIER-1:GPT-4O", &names, 1),
            ["openai:tier-1:gpt-4o"]
        );
        assert_eq!(nearest("x", &names, 9).len(), 4);
        assert!(nearest("x", &[], 3).is_empty());
    }
}
