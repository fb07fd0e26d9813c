//! `simulate`: compare llm-pacer with the usual retry recipes on a simulated rate-limited API.
//!
//! ```text
//! cargo run --release --bin simulate -- [--clients K] [--requests N] [--rpm R] [--itpm I]
//!     [--otpm O] [--concurrency C] [--seed S] [--p529 P] [--metering reservation|realtime]
//!     [--learn-limits] [--skew-ms MS] [--seeds N]
//! ```
//!
//! Without `--clients`, runs the 1-client and the 4-client scenario one after the other. The
//! flags, the help and the report live in [`llm_pacer::sim::cli`], which `npx llm-pacer
//! simulate` runs too.

use llm_pacer::sim::cli;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let started = Instant::now();
    match cli::run(std::env::args().skip(1), "simulate") {
        Ok(out) => {
            print!("{out}");
            eprintln!(
                "(simulated in {:.0} ms of wall time)",
                started.elapsed().as_secs_f64() * 1_000.0
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("simulate: {e}\nTry `simulate --help`.");
            ExitCode::from(2)
        }
    }
}
