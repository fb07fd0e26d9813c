//! Seeded operation sequences through `core::store`, printed as JSON lines: the reference the
//! Redis Lua script is compared with (tests/js/store-redis.test.mjs).
//!
//! `cargo run --example store_ops -- SEEDS OPS` prints, for each seed in `0..SEEDS`, `OPS`
//! operations on one limit key, one JSON object a line:
//! `{"seed":s,"op":"reserve","now":t,"args":[...],"kind":"admit|wait|never|ok","wait":ms,
//! "dim":d,"levels":[l1,l2,l3,l4]}` (levels after the operation at `now`; `null` = no bucket).
//! The arguments are exactly what the Lua script takes after its operation and clock.

use llm_pacer::core::limiter::Dim;
use llm_pacer::core::store::{amounts, KeyState, Reserve};

fn num(x: f64) -> String {
    // Shortest representation that parses back to the same f64 (JSON has no NaN: null).
    if x.is_finite() {
        format!("{x:?}")
    } else {
        "null".into()
    }
}

fn arg(x: Option<f64>) -> String {
    match x {
        Some(v) => format!("\"{}\"", num(v)),
        None => "\"\"".into(),
    }
}

fn main() {
    let a: Vec<u64> = std::env::args()
        .skip(1)
        .map(|s| s.parse().unwrap())
        .collect();
    let (seeds, ops) = (
        a.first().copied().unwrap_or(20),
        a.get(1).copied().unwrap_or(200),
    );
    for seed in 0..seeds {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut s = KeyState::new();
        let mut now = 1_700_000_000_000.0 + rng.f64() * 1e6;
        // Limits this "process" was configured with: some known, some not.
        let pick = |rng: &mut fastrand::Rng, lo: f64, hi: f64| {
            if rng.u8(0..4) == 0 {
                None
            } else {
                Some((lo + rng.f64() * (hi - lo)).round())
            }
        };
        let mut limits = [
            pick(&mut rng, 5.0, 100.0),
            pick(&mut rng, 1_000.0, 50_000.0),
            pick(&mut rng, 500.0, 10_000.0),
            pick(&mut rng, 2_000.0, 80_000.0),
        ];
        // A third of the keys know no limit (the opening probe) until a `learn` names one.
        if seed % 3 == 0 {
            limits = [None; 4];
        }
        let mut held: Vec<(f64, f64)> = Vec::new();
        for _ in 0..ops {
            // Time moves on by a random step, sometimes not at all, sometimes by seconds.
            now += match rng.u8(0..4) {
                0 => 0.0,
                1 => rng.f64() * 10.0,
                2 => rng.f64() * 2_000.0,
                _ => rng.f64() * 20_000.0,
            };
            let (op, args): (&str, Vec<String>) = match rng.u8(0..10) {
                0..=4 => {
                    let (i, o) = (
                        (rng.f64() * 4_000.0).round() + rng.f64(),
                        (rng.f64() * 2_000.0).round(),
                    );
                    // A third come back at their turn (as the engine does after a wait).
                    let turn = rng.u8(0..3) == 0;
                    // Half book the output expected, a part of it (sometimes more than the
                    // output, which books it all); the others all of it (no argument).
                    let book = rng.bool().then(|| (o * rng.f64() * 1.2).round());
                    let lim = limits.map(|l| l.unwrap_or(0.0));
                    let booked = amounts(i, book.unwrap_or(o));
                    let r = s.reserve_booking(now, lim, amounts(i, o), booked, turn);
                    let mut args: Vec<String> = limits.iter().map(|&l| arg(l)).collect();
                    args.extend([arg(Some(i)), arg(Some(o)), arg(Some(turn as u8 as f64))]);
                    if book.is_some() {
                        args.push(arg(book));
                    }
                    let (kind, wait, dim) = match r {
                        Reserve::Admit => {
                            held.push((i, o));
                            ("admit", 0.0, String::new())
                        }
                        Reserve::Wait { wait_ms, dim } => (
                            "wait",
                            wait_ms,
                            dim.map_or(0, |d| d as usize + 1).to_string(),
                        ),
                        Reserve::Probing { wait_ms } => ("wait", wait_ms, "5".to_string()),
                        Reserve::Never { dim } => ("never", 0.0, (dim as usize + 1).to_string()),
                    };
                    emit(seed, "reserve", now, &args, kind, wait, &dim, &s);
                    continue;
                }
                5 | 6 if !held.is_empty() => {
                    let (ri, ro) = held.remove(rng.usize(0..held.len()));
                    let (ai, ao) = ((ri * rng.f64() * 1.5).round(), (ro * rng.f64()).round());
                    s.settle(now, amounts(ri, ro), amounts(ai, ao));
                    ("settle", [ri, ro, ai, ao].map(|x| arg(Some(x))).to_vec())
                }
                7 if !held.is_empty() => {
                    let (ri, ro) = held.remove(rng.usize(0..held.len()));
                    // Now and then only the turn (a late answer that said wait).
                    let only = rng.bool();
                    if only {
                        s.unbook(now, amounts(ri, ro));
                    } else {
                        s.refund(now, amounts(ri, ro));
                    }
                    let only = if only { 1.0 } else { 0.0 };
                    ("refund", [ri, ro, only].map(|x| arg(Some(x))).to_vec())
                }
                // Now and then a give-back of a request the store never held, up to a figure
                // near the level (above it, below it, or none).
                8 if rng.u8(0..3) == 0 => {
                    let d = rng.usize(0..4);
                    let given = pick(&mut rng, 0.0, 3_000.0);
                    let up_to = s.levels(now)[d]
                        .and_then(|l| pick(&mut rng, -2_000.0, 2_000.0).map(|x| (l + x).round()));
                    s.give_back(
                        now,
                        Dim::ALL[d],
                        given.unwrap_or(f64::NAN),
                        up_to.unwrap_or(f64::NAN),
                    );
                    (
                        "giveback",
                        vec![format!("\"{}\"", d + 1), arg(given), arg(up_to)],
                    )
                }
                8 => {
                    let d = rng.usize(0..4);
                    // A key that knows no limit learns one now and then (its probe's waits).
                    let limit = pick(&mut rng, 10.0, 60_000.0)
                        .filter(|_| seed % 3 != 0 || rng.u8(0..4) == 0);
                    let remaining = if rng.bool() {
                        Some((rng.f64() * limit.unwrap_or(10_000.0)).round())
                    } else {
                        None
                    };
                    s.learn(
                        now,
                        Dim::ALL[d],
                        limit.unwrap_or(f64::NAN),
                        remaining.unwrap_or(f64::NAN),
                    );
                    (
                        "learn",
                        vec![format!("\"{}\"", d + 1), arg(limit), arg(remaining)],
                    )
                }
                // Now and then the probe's answer without a limit (a 2xx opens the key).
                9 if rng.u8(0..3) == 0 => {
                    let open = rng.u8(0..4) == 0;
                    s.probed(open);
                    ("probed", vec![arg(Some(if open { 1.0 } else { 0.0 }))])
                }
                _ => {
                    let ra = (rng.f64() * 30_000.0).round();
                    s.pause(now, ra);
                    ("pause", vec![arg(Some(ra))])
                }
            };
            emit(seed, op, now, &args, "ok", 0.0, "", &s);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn emit(
    seed: u64,
    op: &str,
    now: f64,
    args: &[String],
    kind: &str,
    wait: f64,
    dim: &str,
    s: &KeyState,
) {
    let levels: Vec<String> = s
        .levels(now)
        .iter()
        .map(|l| l.map_or("null".into(), num))
        .collect();
    println!(
        "{{\"seed\":{seed},\"op\":\"{op}\",\"now\":{},\"args\":[{}],\"kind\":\"{kind}\",\"wait\":{},\"dim\":\"{dim}\",\"levels\":[{}]}}",
        num(now),
        args.join(","),
        num(wait),
        levels.join(",")
    );
}
