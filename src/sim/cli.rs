//! The `simulate` command line, shared by the Rust binary (`cargo run --release --bin
//! simulate`) and the npm package's `llm-pacer simulate` (through the simulator's Wasm
//! module): one flag parser, one help text, one report format. Pure: it returns the text to
//! print, and the caller prints it (and may add the wall time, which this module cannot read).

use super::{
    compare, run as run_one, Head, Mix, OtpmMetering, PacerKeys, PacerLimits, Rounding, Scenario,
    StrategyKind, Table,
};
use crate::core::budget::BudgetConfig;
use std::fmt::Write as _;

/// The help text, for a program called `prog`.
pub fn help(prog: &str) -> String {
    HELP.replace("{prog}", prog)
}

const HELP: &str = "\
{prog}: llm-pacer against the usual retry recipes, on a simulated rate-limited LLM API
(virtual time, seeded; the same flags always print the same numbers)

USAGE:
    {prog} [OPTIONS]

OPTIONS:
    --clients K         clients sharing the organisation's limits (default: run 1, then 4)
    --requests N        requests in the workload (default 1000)
    --rpm R             requests per minute (default 50)
    --itpm I            input tokens per minute (default 30000)
    --otpm O            output tokens per minute (default 8000)
    --concurrency C     requests in progress per client, every strategy (default 5)
    --seed S            seed of every random draw (default 1)
    --p529 P            probability that an admissible request gets a 529 (default 0)
    --budget R          llm-pacer's retry budget gives back R tokens of 10 per success
                        (default 1), or `off`
    --metering M        OTPM metering: reservation (default) or realtime
    --learn-limits      llm-pacer is not told the limits: it learns them from headers
    --estimate R        llm-pacer estimates each input at R times the server's count and
                        vouches for none of it, as the built-in estimate (about 1.25 for
                        prose); default: it counts exactly, as an `estimate` option would
    --input-median N    the median input of the workload, tokens (default 1500)
    --max-tokens N      every request's `max_tokens` (default 1024)
    --output-min N      the smallest actual output, tokens (default 100)
    --output-max N      the largest actual output, tokens (default 1024; at most
                        `max_tokens`): outputs are uniform between the two
    --prefix-tokens N   every prompt starts with the same N tokens, a system prompt marked
                        for Anthropic's prompt cache: the server counts them only when its
                        cache (5 minutes from the last use) does not hold them (default 0)
    --no-cache-prefixes llm-pacer is not shown the prefix: it reserves every prompt whole
    --skew-ms MS        the server's clock runs MS ms ahead (negative: behind; default 0)
    --start-level F     the server's buckets start F full (default 1; 0: spent by an earlier
                        run, as a restarted process finds them)
    --rounding R        token `remaining` rounded to the thousand: nearest (default, as
                        Anthropic documents), down or up
    --head H            a 2xx's head written before (default) or after the server settles
                        that request's output (then its headers count the give-back), or
                        `admission`: every 2xx a stream, its head written at admission and
                        sent after the time to first byte, its usage at the end; or
                        `admission-json`: every 2xx a JSON answer sent at the end, its
                        headers as they stood right after its admission
    --streams F         with `--head admission`: only the part F of the requests (0 to 1,
                        default 1) is answered by a stream, the others as `before`
    --latency-ms LO,HI  an admitted request answers after U[LO, HI] ms (default: time to
                        first byte + output at 80 tokens/s)
    --transit-ms LO,HI  a request reaches the server U[LO, HI] ms after it is sent, and its
                        answers come back after another such time, each request on its own,
                        so that requests may arrive in another order than sent (default 0,0:
                        at once)
    --variant V         standard (default), or burst: latency U[2000, 8000] ms and
                        `remaining` rounded down (flags after it override its settings)
    --seeds N           instead of the comparison: llm-pacer alone over seeds 1..N, for 1, 2,
                        4 and 8 clients (or --clients K): 429s per request, worst and mean ratio
    --hidden-capacity   instead: a server that sends no rate-limit headers (8 concurrent,
                        2 requests/s, a bare 503 beyond; and a fast one: 8 concurrent, no
                        rate, 16-24 ms), adaptive llm-pacer against fixed concurrencies 4,
                        16, 64 (uses --requests, default 1000, and --seeds, default 3)
    --models            two model classes (Anthropic tier-1 sonnet and haiku), each with its
                        own buckets and headers, requests alternating; compares one pacer with
                        limit keys, one pacer with one limiter, and one pacer per model, with
                        per-class rows (with --seeds N: the worst over seeds 1..N)
    --orgs N            with --models: N organisations (API keys), each with its own buckets
    --store-ms MS       llm-pacer's clients share their limits through a store (the `store`
                        option, as llm-pacer/redis) that answers a reservation MS ms after it
                        is asked (0 to 999); default: each client on its own
    --outside N         with --store-ms: N of the clients stay outside the store, each on its
                        own beside the fleet (other traffic on the same limits; needs
                        --clients above N)
    -h, --help          print this help

Workload: input tokens lognormal (median 1500, sigma 0.5), max_tokens 1024, output uniform
in [100, 1024], all requests arriving at the start.
";

/// What a command line asks for.
struct Args {
    hidden: bool,
    clients: Option<u32>,
    seeds: Option<u64>,
    base: Scenario,
}

/// One pacer with limit keys, one with one limiter, one per model: each over `seeds`, with the
/// worst ratio overall and per class.
fn models(out: &mut String, base: &Scenario, clients: Option<u32>, seeds: Option<u64>) {
    let k = clients.unwrap_or(1);
    let seeds: Vec<u64> = match seeds {
        Some(n) => (1..=n).collect(),
        None => vec![base.seed],
    };
    let mut s = base.clone();
    s.clients = k;
    let _ = writeln!(out, "{s}");
    let _ = writeln!(
        out,
        "llm-pacer over seed{} {}\n",
        if seeds.len() == 1 { "" } else { "s" },
        match seeds.len() {
            1 => seeds[0].to_string(),
            n => format!("1..={n} (worst and mean ratio over the seeds)"),
        }
    );
    let names: Vec<String> = base
        .mix
        .iter()
        .flat_map(|m| m.classes.iter().map(|c| c.name.clone()))
        .collect();
    let _ = write!(
        out,
        "{:<24} {:>11} {:>10} {:>13} {:>8}",
        "variant", "worst ratio", "mean ratio", "429s/request", "failures"
    );
    for n in &names {
        let _ = write!(out, " {:>10}", n);
    }
    out.push('\n');
    for variant in PacerKeys::ALL {
        let (mut worst, mut sum, mut limited, mut requests, mut failures) =
            (0.0f64, 0.0f64, 0u64, 0u64, 0u64);
        let mut per_class = vec![0.0f64; names.len()];
        for &seed in &seeds {
            let mut s = base.clone();
            s.clients = k;
            s.seed = seed;
            if let Some(m) = s.mix.as_mut() {
                m.pacer = variant;
            }
            let r = run_one(&s, StrategyKind::Pacer);
            worst = worst.max(r.ratio);
            sum += r.ratio;
            limited += r.rate_limited;
            requests += u64::from(r.requests);
            failures += r.failures;
            for (w, c) in per_class.iter_mut().zip(&r.classes) {
                *w = w.max(c.ratio);
            }
        }
        let _ = write!(
            out,
            "{:<24} {worst:>11.3} {:>10.3} {:>12.1}% {failures:>8}",
            variant.name(),
            sum / seeds.len() as f64,
            100.0 * limited as f64 / requests.max(1) as f64
        );
        for w in per_class {
            let _ = write!(out, " {w:>10.3}");
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "(ratio: makespan over the lower bound, the slowest class's; per class: that class's \
         makespan over its own lower bound)"
    );
}

/// Run the command line `args` (without the program name): `Ok(stdout)`, or `Err(message)`
/// for a bad flag (the caller prints it with a pointer to `--help` and exits with status 2).
/// `--help` gives the help text for `prog`.
///
/// ```
/// use llm_pacer::sim::cli;
///
/// let out = cli::run(["--clients", "1", "--requests", "40"].map(String::from), "simulate").unwrap();
/// assert!(out.contains("llm-pacer"));
/// assert_eq!(
///     cli::run(["--clients", "x"].map(String::from), "simulate").unwrap_err(),
///     "--clients: invalid value `x`"
/// );
/// ```
pub fn run(args: impl IntoIterator<Item = String>, prog: &str) -> Result<String, String> {
    let Some(args) = parse(args)? else {
        return Ok(help(prog));
    };
    let mut out = String::new();
    if args.hidden {
        let seeds = args.seeds.unwrap_or(3);
        return Ok(super::capacity::table(args.base.workload.requests, seeds));
    }
    if args.base.mix.is_some() {
        models(&mut out, &args.base, args.clients, args.seeds);
        return Ok(out);
    }
    if let Some(n) = args.seeds {
        sweep(&mut out, &args.base, args.clients, n);
        return Ok(out);
    }
    let runs: Vec<u32> = match args.clients {
        Some(k) => vec![k],
        None => vec![1, 4],
    };
    for (i, k) in runs.into_iter().enumerate() {
        let mut scenario = args.base.clone();
        scenario.clients = k;
        if i > 0 {
            out.push('\n');
        }
        let _ = writeln!(out, "{scenario}");
        let reports = compare(&scenario);
        let _ = write!(out, "\n{}", Table(&reports));
    }
    Ok(out)
}

fn value<T: std::str::FromStr>(flag: &str, v: Option<String>) -> Result<T, String> {
    let v = v.ok_or_else(|| format!("{flag} needs a value"))?;
    v.parse::<T>()
        .map_err(|_| format!("{flag}: invalid value `{v}`"))
}

/// A range `LO,HI` of ms.
fn range(v: &str) -> Option<(f64, f64)> {
    let (lo, hi) = v.split_once(',')?;
    Some((lo.trim().parse().ok()?, hi.trim().parse().ok()?))
}

fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Args>, String> {
    let mut s = Scenario::issue_default(1);
    let mut clients = None;
    let mut seeds = None;
    let mut hidden = false;
    let mut orgs = None;
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let (flag, mut inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut next = || inline.take().or_else(|| it.next());
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--clients" => clients = Some(value::<u32>(&flag, next())?),
            "--requests" => s.workload.requests = value(&flag, next())?,
            "--rpm" => s.server.limits.rpm = Some(value(&flag, next())?),
            "--itpm" => s.server.limits.itpm = Some(value(&flag, next())?),
            "--otpm" => s.server.limits.otpm = Some(value(&flag, next())?),
            "--concurrency" => s.concurrency = value(&flag, next())?,
            "--seed" => s.seed = value(&flag, next())?,
            "--seeds" => match value::<u64>(&flag, next())? {
                0 => return Err("--seeds: at least 1".into()),
                n => seeds = Some(n),
            },
            "--p529" => s.server.p_overloaded = value(&flag, next())?,
            "--budget" => {
                let v = value::<String>(&flag, next())?;
                s.budget = match v.as_str() {
                    "off" => None,
                    r => match r.parse::<f64>() {
                        Ok(ratio) => Some(BudgetConfig {
                            ratio,
                            ..BudgetConfig::default()
                        }),
                        Err(_) => {
                            return Err(format!("--budget: expected a ratio or `off`, got `{v}`"))
                        }
                    },
                }
            }
            "--skew-ms" => s.server.clock_offset_ms = value(&flag, next())?,
            "--start-level" => s.server.start_level = value(&flag, next())?,
            "--learn-limits" => s.pacer_limits = PacerLimits::Learned,
            "--estimate" => s.input_estimate = Some(value(&flag, next())?),
            "--input-median" => s.workload.input_median = value(&flag, next())?,
            "--max-tokens" => s.workload.max_tokens = value(&flag, next())?,
            "--output-min" => s.workload.output_min = value(&flag, next())?,
            "--output-max" => s.workload.output_max = value(&flag, next())?,
            "--prefix-tokens" => s.workload.prefix_tokens = value(&flag, next())?,
            "--no-cache-prefixes" => s.cache_prefixes = false,
            "--hidden-capacity" => hidden = true,
            "--models" => s.mix = Some(Mix::two_models()),
            "--orgs" => orgs = Some(value::<u32>(&flag, next())?),
            "--store-ms" => s.store_ms = Some(value(&flag, next())?),
            "--outside" => s.outside = value(&flag, next())?,
            "--rounding" => {
                s.server.rounding = match value::<String>(&flag, next())?.as_str() {
                    "nearest" => Rounding::Nearest,
                    "down" => Rounding::Down,
                    "up" => Rounding::Up,
                    other => {
                        return Err(format!(
                            "--rounding: expected `nearest`, `down` or `up`, got `{other}`"
                        ))
                    }
                }
            }
            "--streams" => {
                s.server.stream_fraction = value::<f64>(&flag, next())?;
            }
            "--head" => {
                s.server.head = match value::<String>(&flag, next())?.as_str() {
                    "before" => Head::Before,
                    "after" => Head::After,
                    "admission" => Head::Admission,
                    "admission-json" => Head::AdmissionJson,
                    other => {
                        return Err(format!(
                            "--head: expected `before`, `after`, `admission` or \
                             `admission-json`, got `{other}`"
                        ))
                    }
                }
            }
            "--latency-ms" => {
                let v = value::<String>(&flag, next())?;
                match range(&v) {
                    Some(r) => s.server.response_latency_ms = Some(r),
                    None => return Err(format!("--latency-ms: expected `LO,HI`, got `{v}`")),
                }
            }
            "--transit-ms" => {
                let v = value::<String>(&flag, next())?;
                match range(&v) {
                    Some(r) => s.server.transit_ms = r,
                    None => return Err(format!("--transit-ms: expected `LO,HI`, got `{v}`")),
                }
            }
            "--variant" => match value::<String>(&flag, next())?.as_str() {
                "standard" => {
                    let d = Scenario::issue_default(1).server;
                    s.server.response_latency_ms = d.response_latency_ms;
                    s.server.rounding = d.rounding;
                }
                "burst" => {
                    let b = Scenario::burst_variant(1).server;
                    s.server.response_latency_ms = b.response_latency_ms;
                    s.server.rounding = b.rounding;
                }
                other => {
                    return Err(format!(
                        "--variant: expected `standard` or `burst`, got `{other}`"
                    ))
                }
            },
            "--metering" => {
                s.server.metering = match value::<String>(&flag, next())?.as_str() {
                    "reservation" => OtpmMetering::Reservation,
                    "realtime" => OtpmMetering::RealTime,
                    other => {
                        return Err(format!(
                            "--metering: expected `reservation` or `realtime`, got `{other}`"
                        ))
                    }
                }
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
        if inline.is_some() {
            return Err(format!("{flag} takes no value"));
        }
    }
    if let Some(n) = orgs {
        match s.mix.as_mut() {
            Some(m) => m.orgs = n,
            None => return Err("--orgs needs --models".into()),
        }
    }
    for k in clients.map_or(vec![1, 4], |k| vec![k]) {
        let mut check = s.clone();
        check.clients = k;
        check.validate().map_err(|e| e.cli())?;
    }
    Ok(Some(Args {
        hidden,
        clients,
        seeds,
        base: s,
    }))
}

/// llm-pacer alone over seeds `1..=n`: how its 429s and ratio spread across workloads.
fn sweep(out: &mut String, base: &Scenario, clients: Option<u32>, n: u64) {
    let _ = writeln!(
        out,
        "llm-pacer over seeds 1..={n} (each seed draws another workload and server)"
    );
    // The scenario's own first line names one client count and one seed: the rows' instead.
    let text = base.to_string();
    let rest = text.split_once('\n').map_or("", |(_, rest)| rest);
    let _ = writeln!(
        out,
        "{} requests, each client at concurrency {}, clients as in the rows",
        base.workload.requests, base.concurrency
    );
    let _ = writeln!(out, "{rest}");
    out.push('\n');
    let store = base.store_ms.is_some();
    let outside = base.outside > 0;
    let _ = writeln!(
        out,
        "clients  429s/request  worst ratio  mean ratio  failures{}{}",
        if store {
            "  store reserves/request"
        } else {
            ""
        },
        if outside {
            "  the fleet's 429s/request"
        } else {
            ""
        }
    );
    for k in clients.map_or(vec![1, 2, 4, 8], |k| vec![k]) {
        let (mut limited, mut requests, mut failures, mut reserves) = (0u64, 0u64, 0u64, 0u64);
        let (mut fleet_limited, mut fleet_requests) = (0u64, 0u64);
        let (mut worst, mut sum) = (0.0f64, 0.0f64);
        for seed in 1..=n {
            let mut s = base.clone();
            s.clients = k;
            s.seed = seed;
            let r = run_one(&s, StrategyKind::Pacer);
            limited += r.rate_limited;
            requests += u64::from(r.requests);
            failures += r.failures;
            reserves += r.store_reserves;
            fleet_limited += r.fleet_rate_limited;
            fleet_requests += r.fleet_requests;
            worst = worst.max(r.ratio);
            sum += r.ratio;
        }
        let _ = write!(
            out,
            "{k:>7}  {:>11.1}%  {worst:>11.3}  {:>10.3}  {failures:>8}",
            100.0 * limited as f64 / requests as f64,
            sum / n as f64
        );
        if store {
            let _ = write!(out, "  {:>23.2}", reserves as f64 / requests as f64);
        }
        if outside {
            let share = 100.0 * fleet_limited as f64 / fleet_requests.max(1) as f64;
            let _ = write!(out, "  {share:>24.1}%");
        }
        out.push('\n');
    }
}
