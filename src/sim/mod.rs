//! A discrete-event simulator of a rate-limited LLM API, in virtual time.
//!
//! A [`Scenario`] puts K clients of one organisation in front of a [`Server`] that keeps the
//! provider's buckets (RPM, ITPM, OTPM, optionally TPM, refilled continuously) and emits its
//! headers exactly as Anthropic does. Each client runs one strategy: llm-pacer itself — the
//! very [`crate::core::call::Engine`] the Wasm driver runs, fed the server's headers through
//! [`crate::core::headers::parse`] — or one of the usual baselines ([`StrategyKind`]).
//! [`run`] measures one strategy, [`compare`] all of them, each in a [`Report`]: makespan
//! against the limits' [`lower_bound_ms`], 429s, 529s, retries, failures, latency, and a time
//! series per 10 s.
//!
//! Everything is virtual: time is a number (epoch ms from [`START_MS`], 2026-01-01), and
//! every random draw comes from streams seeded by [`Scenario::seed`] — the workload, the
//! server and each client have their own — so the same scenario always gives the same report.
//!
//! ```
//! use llm_pacer::sim::{run, Scenario, StrategyKind, Table};
//!
//! let mut scenario = Scenario::issue_default(1);
//! scenario.workload.requests = 60;
//! let report = run(&scenario, StrategyKind::TokenWindow);
//! assert_eq!(report, run(&scenario, StrategyKind::TokenWindow)); // reproducible
//! assert_eq!(report.failures, 0);
//! assert!(report.makespan_ms >= report.lower_bound_ms);
//! println!("{}", Table(&[report]));
//! ```

pub mod capacity;
pub mod cli;
mod event_loop;
mod invalid;
mod mix;
mod pacer;
mod random;
mod report;
mod scenario;
mod server;
mod servers;
mod store;
mod strategy;
mod workload;

pub use invalid::Invalid;
pub use mix::{ClassSpec, Mix, PacerKeys};
pub use report::{lower_bound_ms, ClassReport, Report, Slot, Table, SLOT_MS};
pub use scenario::{PacerLimits, Scenario, START_MS};
pub use server::{
    http_date, rfc3339_ceil, round_tokens, Admission, Body, Head, OtpmMetering, Reply, Response,
    Rounding, Server, ServerConfig, ServerStats,
};
pub use strategy::StrategyKind;
pub use workload::{Arrival, RequestSpec, Totals, Workload};

/// Run one strategy on a scenario and report what it measured.
///
/// # Panics
///
/// If the scenario is invalid ([`Scenario::validate`]).
pub fn run(scenario: &Scenario, strategy: StrategyKind) -> Report {
    event_loop::run(scenario, strategy)
}

/// Run every strategy ([`StrategyKind::ALL`], llm-pacer first) on the same scenario.
///
/// # Panics
///
/// If the scenario is invalid ([`Scenario::validate`]).
pub fn compare(scenario: &Scenario) -> Vec<Report> {
    StrategyKind::ALL
        .into_iter()
        .map(|k| run(scenario, k))
        .collect()
}
