//! # llm-pacer
//!
//! Retry and rate-limit policy for LLM APIs, built to mirror the providers' own rules.
//!
//! The crate has three layers; a change belongs to exactly one of them:
//!
//! * [`core`] — the pure policy engine. Time (`now_ms`, epoch milliseconds as `f64`) and
//!   randomness (`u`, a uniform draw in `[0, 1)`) are *parameters*: nothing here reads a clock,
//!   draws random numbers of its own, does I/O or touches JavaScript. It parses rate-limit
//!   headers, classifies responses, computes backoff delays, keeps the same continuously
//!   refilled token buckets the server keeps, and drives every call through one sans-IO state
//!   machine ([`core::call::Engine`]).
//! * [`sim`] — a discrete-event simulator in virtual time: a server model with the same
//!   buckets, workloads, and client strategies (llm-pacer itself, driven through the very same
//!   [`core::call::Engine`], and the usual baselines).
//! * `wasm` (only on `wasm32`) — the one thin layer that reads a clock, draws random numbers
//!   and calls `fetch`: the `Pacer` class exported to JavaScript.
//!
//! ```
//! use llm_pacer::core::bucket::Bucket;
//!
//! // 60 requests per minute: one token per second, full at the start.
//! let mut b = Bucket::per_minute(60.0, 0.0);
//! b.take(0.0, 60.0);
//! assert_eq!(b.time_until(0.0, 1.0), Some(1_000.0));
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod core;
pub mod sim;

#[cfg(target_arch = "wasm32")]
mod wasm;
