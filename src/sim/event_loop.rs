//! The discrete-event loop: virtual time, one queue of events ordered by (time, sequence).

use super::pacer::PacerClient;
use super::random;
use super::report::{lower_bound_ms, percentile, ClassReport, Report, Slot, SLOT_MS};
use super::scenario::{Scenario, START_MS};
use super::server::{Admission, Reply, Response};
use super::servers::Servers;
use super::store::SimStore;
use super::strategy::{Client, Cx, Effect, RetryPolicy, SlotRetry, StrategyKind, TokenWindow};
use super::workload::{RequestSpec, Totals};
use crate::core::Ms;
use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::rc::Rc;

/// Virtual time after which a run is stopped: 30 days.
const MAX_VIRTUAL_MS: Ms = 30.0 * 86_400_000.0;

enum Ev {
    /// A request arrives at its client.
    Arrive(usize),
    /// A request sent earlier reaches the server ([`ServerConfig::transit_ms`](super::server::ServerConfig::transit_ms)).
    Reach(usize),
    /// An admitted request completes at the server; its response reaches the client then, or
    /// after its way back ([`Ev::Answer`]).
    Complete(Admission),
    /// A final response (a refusal, or an answer on its way back) reaches the client of
    /// request `.0`.
    Answer(usize, Response),
    /// A stream's head reaches the client of request `.0`: its headers ([`Head::Admission`](super::server::Head::Admission)).
    Head(usize, Vec<(String, String)>),
    /// A client's timer fires: (client, tag).
    Timer(u32, u64),
}

struct Entry {
    at: Ms,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// Reversed, so that the max-heap pops the earliest event, and among simultaneous ones the
    /// first scheduled.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .at
            .total_cmp(&self.at)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Entry>,
    seq: u64,
}

impl Queue {
    fn push(&mut self, at: Ms, ev: Ev) {
        self.seq += 1;
        self.heap.push(Entry {
            at,
            seq: self.seq,
            ev,
        });
    }
}

/// Per-request bookkeeping.
#[derive(Clone, Copy, Default)]
struct Track {
    attempts: u32,
    /// Its 429s.
    refused: u32,
    finished: bool,
    /// Succeeded.
    ok: bool,
    /// When it finished.
    at: Ms,
}

/// The time series under construction.
struct Series {
    slots: Vec<Slot>,
}

impl Series {
    /// Make sure the slot of `now` exists; slots opened on the way inherit `queued`.
    fn at(&mut self, now: Ms, queued: u32) -> &mut Slot {
        let i = ((now - START_MS).max(0.0) / SLOT_MS) as usize;
        while self.slots.len() <= i {
            self.slots.push(Slot {
                queued,
                ..Slot::default()
            });
        }
        &mut self.slots[i]
    }
}

/// A client of `kind`; llm-pacer's with the run's `store` if there is one.
fn make_client(
    scenario: &Scenario,
    kind: StrategyKind,
    store: &Option<Rc<RefCell<SimStore>>>,
) -> Box<dyn Client> {
    match kind {
        StrategyKind::Pacer => Box::new(PacerClient::new(scenario, START_MS, store.clone())),
        StrategyKind::NaiveBackoff => {
            Box::new(SlotRetry::new(RetryPolicy::Naive, scenario.concurrency))
        }
        StrategyKind::SdkDefault => {
            Box::new(SlotRetry::new(RetryPolicy::Sdk, scenario.concurrency))
        }
        StrategyKind::TokenWindow => Box::new(TokenWindow::new(
            scenario.server.limits,
            scenario.concurrency,
        )),
    }
}

/// Run one strategy on a scenario; see [`super::run`].
pub(crate) fn run(scenario: &Scenario, kind: StrategyKind) -> Report {
    if let Err(e) = scenario.validate() {
        panic!("llm-pacer sim: invalid scenario: {e}");
    }
    let reqs: Vec<RequestSpec> =
        scenario
            .workload
            .generate(scenario.clients, START_MS, scenario.seed);
    let mut servers = Servers::new(scenario);
    let store = scenario
        .store_ms
        .map(|_| Rc::new(RefCell::new(SimStore::default())));
    let inside = scenario.clients - scenario.outside;
    let mut clients: Vec<Box<dyn Client>> = (0..scenario.clients)
        .map(|i| make_client(scenario, kind, if i < inside { &store } else { &None }))
        .collect();
    let mut rngs: Vec<fastrand::Rng> = (0..scenario.clients)
        .map(|i| random::stream(scenario.seed, random::STREAM_CLIENT + u64::from(i)))
        .collect();

    let mut transit = random::stream(scenario.seed, random::STREAM_TRANSIT);
    // Each request's way back from the server, for its current attempt (0: at once).
    let mut back = vec![0.0; reqs.len()];
    let mut queue = Queue::default();
    for r in &reqs {
        queue.push(r.arrival_ms, Ev::Arrive(r.index));
    }
    let mut track = vec![Track::default(); reqs.len()];
    let mut series = Series { slots: Vec::new() };
    let mut effects: Vec<Effect> = Vec::new();
    let mut latencies: Vec<Ms> = Vec::new();
    let (mut arrived, mut finished, mut on_wire) = (0u32, 0u32, 0u32);
    let (mut attempts, mut completed) = (0u64, 0u64);
    let mut last_finish = START_MS;
    let max_events = 500 * reqs.len() as u64 + 100_000;
    let mut events = 0u64;
    let mut truncated = false;

    while let Some(Entry { at: now, ev, .. }) = queue.heap.pop() {
        events += 1;
        let queued = |a: u32, f: u32, w: u32| a.saturating_sub(f).saturating_sub(w);
        if events > max_events || now - START_MS > MAX_VIRTUAL_MS {
            truncated = true;
            break;
        }
        series.at(now, queued(arrived, finished, on_wire));
        let c = match &ev {
            Ev::Arrive(i) | Ev::Reach(i) => reqs[*i].client,
            Ev::Complete(a) => reqs[a.request].client,
            Ev::Answer(i, _) | Ev::Head(i, _) => reqs[*i].client,
            Ev::Timer(c, _) => *c,
        } as usize;
        let mut cx = Cx {
            now,
            rng: &mut rngs[c],
            reqs: &reqs,
            effects: &mut effects,
        };
        match ev {
            Ev::Arrive(i) => {
                arrived += 1;
                clients[c].arrive(&mut cx, i);
            }
            Ev::Complete(a) => {
                let resp = servers.of(a.request).complete(now, &a);
                series.at(now, 0).output_tokens += f64::from(a.output_tokens);
                let b = back[a.request];
                if b > 0.0 {
                    queue.push(now + b, Ev::Answer(a.request, resp));
                } else {
                    on_wire -= 1;
                    clients[c].respond(&mut cx, a.request, &resp);
                }
            }
            Ev::Answer(i, resp) => {
                on_wire -= 1;
                if resp.status == 429 {
                    track[i].refused += 1;
                }
                clients[c].respond(&mut cx, i, &resp);
            }
            Ev::Reach(i) => reach(
                now,
                i,
                back[i],
                &reqs,
                &mut servers,
                &mut queue,
                &mut series,
            ),
            Ev::Head(i, headers) => clients[c].head(&mut cx, i, &headers),
            Ev::Timer(_, tag) => clients[c].timer(&mut cx, tag),
        }
        for e in effects.drain(..) {
            match e {
                Effect::Send(i) => {
                    let t = &mut track[i];
                    if t.finished {
                        continue; // a confused strategy: the request is over
                    }
                    t.attempts += 1;
                    attempts += 1;
                    on_wire += 1;
                    series.at(now, 0).sent += 1;
                    // Each way its own time: to the server, and back (for every reply of
                    // the attempt, as one connection carries them).
                    match scenario.server.transit_ms {
                        (lo, hi) if hi > 0.0 => {
                            let at = now + random::uniform(&mut transit, lo, hi);
                            back[i] = random::uniform(&mut transit, lo, hi);
                            queue.push(at, Ev::Reach(i));
                        }
                        _ => reach(now, i, 0.0, &reqs, &mut servers, &mut queue, &mut series),
                    }
                }
                Effect::Done(i) | Effect::Fail(i) => {
                    let t = &mut track[i];
                    if t.finished {
                        continue;
                    }
                    t.finished = true;
                    t.ok = matches!(e, Effect::Done(_));
                    t.at = now;
                    finished += 1;
                    last_finish = last_finish.max(now);
                    if matches!(e, Effect::Done(_)) {
                        completed += 1;
                        latencies.push(now - reqs[i].arrival_ms);
                    }
                }
                Effect::Timer(at, tag) => queue.push(at, Ev::Timer(c as u32, tag)),
            }
        }
        series.at(now, 0).queued = queued(arrived, finished, on_wire);
    }

    latencies.sort_by(f64::total_cmp);
    let totals = Totals::of(&reqs, START_MS);
    let classes = class_reports(scenario, &servers, &reqs, &track);
    let lower_bound = if classes.is_empty() {
        lower_bound_ms(
            &scenario.server.limits,
            &totals,
            scenario.server.start_level,
        )
    } else {
        classes.iter().map(|c| c.lower_bound_ms).fold(0.0, f64::max)
    };
    let makespan = last_finish - START_MS;
    let stats = servers.stats();
    // With clients outside the store: the requests and 429s of the fleet that shares it.
    let (mut fleet_requests, mut fleet_rate_limited) = (0, 0);
    if scenario.outside > 0 {
        for r in reqs.iter().filter(|r| r.client < inside) {
            fleet_requests += 1;
            fleet_rate_limited += u64::from(track[r.index].refused);
        }
    }
    Report {
        strategy: kind,
        clients: scenario.clients,
        requests: scenario.workload.requests,
        completed,
        failures: reqs.len() as u64 - completed,
        attempts,
        retries: attempts - track.iter().filter(|t| t.attempts > 0).count() as u64,
        rate_limited: stats.rate_limited,
        overloaded: stats.overloaded,
        makespan_ms: makespan,
        lower_bound_ms: lower_bound,
        ratio: if lower_bound > 0.0 {
            makespan / lower_bound
        } else {
            f64::NAN
        },
        latency_p50_ms: percentile(&latencies, 0.5),
        latency_p99_ms: percentile(&latencies, 0.99),
        truncated,
        series: series.slots,
        classes,
        store_reserves: store.map_or(0, |s| s.borrow().reserves),
        fleet_requests,
        fleet_rate_limited,
    }
}

/// Request `i` reaches its server at `now`: it is admitted (its head and completion
/// scheduled) or refused (the refusal scheduled), what it sends back taking `back` ms more.
fn reach(
    now: Ms,
    i: usize,
    back: Ms,
    reqs: &[RequestSpec],
    servers: &mut Servers,
    queue: &mut Queue,
    series: &mut Series,
) {
    match servers.of(i).receive(now, &reqs[i]) {
        Reply::Admitted {
            admission,
            done_at_ms,
            head,
        } => {
            series.at(now, 0).input_tokens += admission.metered_input();
            if let Some((at, headers)) = head {
                queue.push(at + back, Ev::Head(i, headers));
            }
            queue.push(done_at_ms, Ev::Complete(admission));
        }
        Reply::Refused { response, at_ms } => {
            let slot = series.at(now, 0);
            if response.status == 429 {
                slot.rate_limited += 1;
            } else {
                slot.overloaded += 1;
            }
            queue.push(at_ms + back, Ev::Answer(i, response));
        }
    }
}

/// Per model class of a mixed scenario: its requests, successes, 429s, makespan and lower
/// bound (the largest over its organisations' buckets). Empty without a mix.
fn class_reports(
    scenario: &Scenario,
    servers: &Servers,
    reqs: &[RequestSpec],
    track: &[Track],
) -> Vec<ClassReport> {
    let Some(mix) = &scenario.mix else {
        return Vec::new();
    };
    let n = mix.classes.len();
    let mut lanes: Vec<Vec<RequestSpec>> = vec![Vec::new(); mix.lanes()];
    for r in reqs {
        lanes[mix.lane(r.index)].push(*r);
    }
    mix.classes
        .iter()
        .enumerate()
        .map(|(c, spec)| {
            let mine = reqs.iter().filter(|r| mix.route(r.index).1 == c);
            let (mut requests, mut completed, mut last) = (0u32, 0u64, START_MS);
            for r in mine {
                requests += 1;
                let t = &track[r.index];
                completed += u64::from(t.ok);
                if t.finished {
                    last = last.max(t.at);
                }
            }
            let lanes_of_c = (0..mix.orgs as usize).map(|o| o * n + c);
            let mut lower_bound = 0.0f64;
            let mut rate_limited = 0;
            for k in lanes_of_c {
                let totals = Totals::of(&lanes[k], START_MS);
                lower_bound = lower_bound.max(lower_bound_ms(
                    &spec.limits,
                    &totals,
                    scenario.server.start_level,
                ));
                rate_limited += servers.all()[k].stats().rate_limited;
            }
            let makespan = last - START_MS;
            ClassReport {
                name: spec.name.clone(),
                requests,
                completed,
                rate_limited,
                makespan_ms: makespan,
                lower_bound_ms: lower_bound,
                ratio: if lower_bound > 0.0 {
                    makespan / lower_bound
                } else {
                    f64::NAN
                },
            }
        })
        .collect()
}
