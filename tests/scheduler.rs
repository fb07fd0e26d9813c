//! The scheduler, in virtual time: priority and FIFO order, the concurrency cap, removal of
//! requests that can never fit, bounded backfill behind a blocked head (and no starvation),
//! retries keeping their place, and 100 000 entries.

use llm_pacer::core::bucket::Bucket;
use llm_pacer::core::limiter::{
    Cost, Decision, Dim, Limiter, Limits, Ticket, Usage, EDGE_MARGIN_MS,
};
use llm_pacer::core::scheduler::{Id, Poll, Scheduler, BACKFILL_SLACK_MS, BACKFILL_WINDOW};
use proptest::prelude::*;

const T0: f64 = 1_700_000_000_000.0;

/// Counts the heap allocations of the thread that asks ([`allocations`]): a deterministic
/// measure of a poll's work for the cost bounds below (a timer would be flaky; a poll that
/// looked at more of the queue than its window collects more keys).
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    pub struct Counting;

    thread_local! {
        static COUNT: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
    }

    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let _ = COUNT.try_with(|c| {
                let (n, bytes) = c.get();
                c.set((n + 1, bytes + layout.size() as u64));
            });
            System.alloc(layout)
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            System.dealloc(ptr, layout)
        }
    }

    /// (allocations, bytes) made by this thread so far.
    pub fn allocations() -> (u64, u64) {
        COUNT.with(|c| c.get())
    }
}

#[global_allocator]
static ALLOC: counting::Counting = counting::Counting;

fn cost(input: f64, output: f64) -> Cost {
    Cost::exact(input, output)
}

fn ids(p: &Poll) -> Vec<Id> {
    p.admitted.iter().map(|&(id, _)| id).collect()
}

fn unlimited() -> Limiter {
    Limiter::new(Limits::default(), T0)
}

fn itpm(limit: f64) -> Limiter {
    Limiter::new(
        Limits {
            itpm: Some(limit),
            ..Limits::default()
        },
        T0,
    )
}

/// A tiny seeded generator (xorshift64*), so the big tests are reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

// ---------------------------------------------------------------- order

#[test]
fn fifo_within_a_priority_whatever_the_push_order() {
    let mut s = Scheduler::new(None);
    for (id, seq) in [(1, 30), (2, 10), (3, 20), (4, 5)] {
        s.push(id, 0, seq, Cost::default());
    }
    let p = s.poll(T0, &mut unlimited());
    assert_eq!(ids(&p), [4, 2, 3, 1]);
    assert_eq!(p.wake_at_ms, None, "empty queue: nothing to wake for");
    assert!(s.is_empty());
    assert_eq!(s.in_flight(), 4);
}

#[test]
fn higher_priority_first_then_fifo() {
    let mut s = Scheduler::new(None);
    s.push(1, 0, 1, Cost::default());
    s.push(2, -1, 2, Cost::default());
    s.push(3, 5, 3, Cost::default());
    s.push(4, 0, 4, Cost::default());
    s.push(5, 5, 5, Cost::default());
    assert_eq!(s.drain(), [3, 5, 1, 4, 2]);
    assert!(s.is_empty());
    assert!(!s.contains(3));
}

#[test]
fn a_retried_call_keeps_its_place_by_seq() {
    let mut lim = Limiter::new(
        Limits {
            rpm: Some(1.0),
            ..Limits::default()
        },
        T0,
    );
    let mut s = Scheduler::new(None);
    for id in 1..=3 {
        s.push(id, 0, id, Cost::default());
    }
    let p = s.poll(T0, &mut lim);
    assert_eq!(ids(&p), [1]);
    // Call 1 failed and is retried: it queues again with its original seq, ahead of 2 and 3.
    s.push(1, 0, 1, Cost::default());
    assert_eq!(s.drain(), [1, 2, 3]);
}

#[test]
fn remove_contains_len_and_replacing_an_entry() {
    let mut s = Scheduler::new(None);
    s.push(7, 0, 1, Cost::default());
    s.push(8, 0, 2, Cost::default());
    assert!(s.contains(7) && s.contains(8));
    assert_eq!(s.head(), Some(7));
    assert_eq!(s.len(), 2);
    assert!(s.remove(7));
    assert!(!s.remove(7), "not queued any more");
    assert!(!s.contains(7));
    // Re-pushing a queued id replaces it: one entry, the new place and cost.
    s.push(8, 3, 9, cost(5.0, 0.0));
    s.push(9, 0, 3, Cost::default());
    assert_eq!(s.len(), 2);
    let mut lim = itpm(4.0);
    let p = s.poll(T0, &mut lim);
    assert_eq!(p.never, [(8, Dim::InputTokens, 5.0, 4.0)]);
    assert_eq!(ids(&p), [9]);
    assert!(s.is_empty());
}

// ---------------------------------------------------------------- concurrency

#[test]
fn the_concurrency_cap_is_held() {
    let mut s = Scheduler::new(Some(3));
    assert_eq!(s.concurrency(), Some(3));
    for id in 0..10 {
        s.push(id, 0, id, Cost::default());
    }
    let mut lim = unlimited();
    let p = s.poll(T0, &mut lim);
    assert_eq!(ids(&p), [0, 1, 2]);
    assert_eq!(
        p.wake_at_ms, None,
        "blocked only by the cap: a finish wakes it"
    );
    assert_eq!(s.in_flight(), 3);
    assert!(s.poll(T0, &mut lim).admitted.is_empty());
    s.finish();
    assert_eq!(ids(&s.poll(T0, &mut lim)), [3]);
    s.finish();
    s.finish();
    assert_eq!(ids(&s.poll(T0, &mut lim)), [4, 5]);
    for _ in 0..10 {
        s.finish();
    }
    assert_eq!(s.in_flight(), 0, "finish saturates at 0");
    assert_eq!(ids(&s.poll(T0, &mut lim)), [6, 7, 8]);
}

#[test]
fn never_is_removed_and_reported_and_the_rest_goes_on() {
    let mut s = Scheduler::new(None);
    s.push(1, 0, 1, cost(100.0, 0.0));
    s.push(2, 0, 2, cost(10_000.0, 0.0));
    s.push(3, 0, 3, cost(100.0, 0.0));
    let mut lim = itpm(1_000.0);
    let p = s.poll(T0, &mut lim);
    assert_eq!(ids(&p), [1, 3]);
    assert_eq!(p.never, [(2, Dim::InputTokens, 10_000.0, 1_000.0)]);
    assert!(!s.contains(2));
}

#[test]
fn a_never_candidate_behind_a_blocked_head_is_removed_too() {
    let mut lim = itpm(60_000.0);
    let mut s = Scheduler::new(None);
    s.push(1, 0, 1, cost(40_000.0, 0.0));
    s.push(2, 0, 2, cost(40_000.0, 0.0)); // head, blocked
    s.push(3, 0, 3, cost(70_000.0, 0.0)); // never
    let p = s.poll(T0, &mut lim);
    assert_eq!(ids(&p), [1]);
    assert_eq!(p.never, [(3, Dim::InputTokens, 70_000.0, 60_000.0)]);
    assert_eq!(s.len(), 1);
}

// ---------------------------------------------------------------- head-of-line and backfill

#[test]
fn a_blocked_head_wakes_the_queue_at_its_start() {
    let mut lim = itpm(60_000.0); // 1 token per ms
    let mut s = Scheduler::new(None);
    s.push(1, 0, 1, cost(50_000.0, 0.0));
    s.push(2, 0, 2, cost(50_000.0, 0.0));
    let p = s.poll(T0, &mut lim);
    assert_eq!(ids(&p), [1]);
    let wake = p.wake_at_ms.unwrap();
    assert!((wake - (T0 + 40_000.0 + EDGE_MARGIN_MS)).abs() < 1e-6);
    let p = s.poll(wake, &mut lim);
    assert_eq!(ids(&p), [2], "admitted at the announced time");
}

#[test]
fn small_requests_backfill_within_the_slack_and_the_head_is_not_delayed_more() {
    // ITPM 60 000 = 1 token per ms. 30 000 used: a 60 000 head starts at +30 s alone.
    let mut lim = itpm(60_000.0);
    let mut s = Scheduler::new(None);
    s.push(0, 0, 0, cost(30_000.0, 0.0));
    s.push(1, 0, 1, cost(60_000.0, 0.0)); // the head
    for id in 2..12 {
        s.push(id, 0, id, cost(300.0, 0.0)); // each pushes the head back 300 ms
    }
    let p = s.poll(T0, &mut lim);
    // 0 goes; then 3 small ones fit in the 1 000 ms slack (900 ms), the 4th would not.
    assert_eq!(ids(&p), [0, 2, 3, 4]);
    let wake = p.wake_at_ms.unwrap();
    assert!(
        (wake - (T0 + 30_900.0 + EDGE_MARGIN_MS)).abs() < 1e-6,
        "{}",
        wake - T0
    );
    // Later polls before the head's start: no more slack for competing requests.
    let p = s.poll(T0 + 10_000.0, &mut lim);
    assert!(p.admitted.is_empty());
    let p = s.poll(wake, &mut lim);
    assert_eq!(ids(&p)[0], 1, "the head goes at solo start + 900 ms");
}

#[test]
fn requests_that_do_not_compete_with_the_head_backfill_freely() {
    // The head waits for input tokens; candidates that need none cost it nothing.
    let mut lim = itpm(60_000.0);
    let mut s = Scheduler::new(None);
    s.push(0, 0, 0, cost(50_000.0, 0.0));
    s.push(1, 0, 1, cost(60_000.0, 0.0));
    for id in 2..40 {
        s.push(id, 0, id, cost(0.0, 500.0));
    }
    let p = s.poll(T0, &mut lim);
    let got = ids(&p);
    assert_eq!(
        got.len(),
        1 + BACKFILL_WINDOW,
        "only the window is looked at"
    );
    assert_eq!(got[..3], [0, 2, 3]);
    // The next poll offers the next window.
    let p = s.poll(T0 + 1.0, &mut lim);
    assert_eq!(
        ids(&p),
        (2 + BACKFILL_WINDOW as u64..40).collect::<Vec<_>>()
    );
}

#[test]
fn backfill_keeps_a_slot_for_the_head() {
    let mut lim = itpm(60_000.0);
    let mut s = Scheduler::new(Some(3));
    s.push(0, 0, 0, cost(50_000.0, 0.0));
    s.push(1, 0, 1, cost(60_000.0, 0.0));
    for id in 2..10 {
        s.push(id, 0, id, cost(0.0, 0.0));
    }
    let p = s.poll(T0, &mut lim);
    assert_eq!(ids(&p), [0, 2], "one slot stays free for the head");
    assert!(p.wake_at_ms.is_some());
    // With a cap of 1 nothing backfills.
    let mut lim = itpm(60_000.0);
    let mut s = Scheduler::new(Some(1));
    s.push(1, 0, 1, cost(60_000.0, 0.0));
    s.push(2, 0, 2, cost(0.0, 0.0));
    lim.acquire(T0, cost(1.0, 0.0));
    let p = s.poll(T0, &mut lim);
    assert!(p.admitted.is_empty());
    assert!(p.wake_at_ms.is_some());
}

#[test]
fn a_pause_blocks_the_head_and_every_candidate() {
    let mut lim = unlimited();
    lim.pause_until(T0 + 5_000.0);
    let mut s = Scheduler::new(None);
    for id in 0..5 {
        s.push(id, 0, id, Cost::default());
    }
    let p = s.poll(T0, &mut lim);
    assert!(p.admitted.is_empty());
    assert_eq!(p.wake_at_ms, Some(T0 + 5_000.0));
    assert_eq!(ids(&s.poll(T0 + 5_000.0, &mut lim)), [0, 1, 2, 3, 4]);
}

#[test]
fn a_candidate_that_can_go_sooner_than_the_head_sets_the_wake_time() {
    let mut lim = Limiter::new(
        Limits {
            itpm: Some(60_000.0),
            otpm: Some(60_000.0),
            ..Limits::default()
        },
        T0,
    );
    lim.acquire(T0, cost(60_000.0, 59_000.0));
    let mut s = Scheduler::new(None);
    s.push(1, 0, 1, cost(10_000.0, 0.0)); // head: 10 s
    s.push(2, 0, 2, cost(0.0, 2_000.0)); // needs 1 s of output refill
    let p = s.poll(T0, &mut lim);
    assert!(p.admitted.is_empty());
    let wake = p.wake_at_ms.unwrap();
    assert!(
        (wake - (T0 + 1_000.0 + EDGE_MARGIN_MS)).abs() < 1e-6,
        "{}",
        wake - T0
    );
    assert_eq!(ids(&s.poll(wake, &mut lim)), [2]);
}

#[test]
fn a_large_request_is_not_starved_by_a_stream_of_small_ones() {
    // ITPM 60 000 (1 token/ms), RPM 600, two thirds used. A 50 000-token request arrives in a
    // steady stream of 100-token requests (one every 300 ms: a third of the capacity).
    let mut lim = Limiter::new(
        Limits {
            rpm: Some(600.0),
            itpm: Some(60_000.0),
            ..Limits::default()
        },
        T0,
    );
    assert!(lim.acquire(T0, cost(40_000.0, 0.0)).is_admit());
    let mut s = Scheduler::new(None);
    const BIG: Id = 1_000_000;
    const BIG_SEQ: u64 = 20;
    let big_cost = cost(50_000.0, 0.0);
    let mut now = T0;
    let mut seq = 0;
    let mut big_admitted = None;
    let mut solo_start = None;
    let mut small_after_big = 0;
    let mut next_small = T0;
    while now < T0 + 300_000.0 {
        if now >= next_small {
            seq += 1;
            s.push(seq, 0, seq, cost(100.0, 0.0));
            next_small += 300.0;
            if seq == BIG_SEQ - 1 {
                s.push(BIG, 0, BIG_SEQ, big_cost);
                seq += 1;
            }
        }
        let before = lim.clone();
        let p = s.poll(now, &mut lim);
        for &(id, _) in &p.admitted {
            if id == BIG {
                big_admitted = Some(now);
            } else if big_admitted.is_some() {
                small_after_big += 1;
            }
        }
        // The first time the big one is a blocked head, its solo start is when it would go
        // with only the requests ahead of it admitted.
        if solo_start.is_none() && s.head() == Some(BIG) {
            let mut solo = before;
            for &(id, _) in p.admitted.iter().filter(|&&(id, _)| id < BIG_SEQ) {
                assert!(solo.acquire(now, cost(100.0, 0.0)).is_admit(), "{id}");
            }
            match solo.check(now, big_cost) {
                Decision::Wait { until_ms, .. } => solo_start = Some(until_ms),
                d => panic!("{d:?}"),
            }
        }
        now = p.wake_at_ms.unwrap_or(f64::INFINITY).min(next_small);
    }
    let admitted = big_admitted.expect("the large request was starved");
    let solo = solo_start.expect("the large request was never a blocked head");
    assert!(
        admitted <= solo + BACKFILL_SLACK_MS + 1e-6,
        "admitted {} ms after its solo start",
        admitted - solo
    );
    assert!(
        admitted > solo + BACKFILL_SLACK_MS / 2.0,
        "small ones did backfill"
    );
    assert!(small_after_big > 100, "the stream goes on afterwards");
}

trait IsAdmit {
    fn is_admit(&self) -> bool;
}

impl IsAdmit for Decision {
    fn is_admit(&self) -> bool {
        matches!(self, Decision::Admit(_))
    }
}

// ---------------------------------------------------------------- scale

#[test]
fn a_hundred_thousand_entries_come_out_in_order() {
    const N: u64 = 100_000;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut s = Scheduler::new(Some(1_000));
    let mut expected: Vec<(i32, u64, Id)> = Vec::new();
    for id in 0..N {
        let priority = rng.below(5) as i32 - 2;
        let seq = rng.below(N * 10);
        s.push(id, priority, seq, cost(rng.below(1_000) as f64, 100.0));
        expected.push((-priority, seq, id));
    }
    // A few removals on the way.
    for id in (0..N).step_by(1_000) {
        assert!(s.remove(id));
    }
    expected.retain(|&(_, _, id)| id % 1_000 != 0);
    expected.sort_unstable();
    assert_eq!(s.len(), expected.len());
    let mut lim = Limiter::new(
        Limits {
            rpm: Some(1e12),
            tpm: Some(1e12),
            itpm: Some(1e12),
            otpm: Some(1e12),
        },
        T0,
    );
    let mut out = Vec::with_capacity(expected.len());
    let mut now = T0;
    while !s.is_empty() {
        let p = s.poll(now, &mut lim);
        assert!(p.never.is_empty());
        assert!(s.in_flight() <= 1_000);
        assert!(!p.admitted.is_empty(), "progress");
        for _ in &p.admitted {
            s.finish();
        }
        out.extend(ids(&p));
        now += 1.0;
    }
    let want: Vec<Id> = expected.iter().map(|&(_, _, id)| id).collect();
    assert_eq!(out, want);
}

/// Drain `n` equal-cost entries through a limiter of 600 RPM, every poll finding the head
/// blocked and a full backfill window behind it. Returns the polls, the most allocations any
/// one poll after the first made (the first admits the full bucket, 600 at once), and the
/// bytes all of them allocated.
fn drain_blocked(n: u64) -> (u64, u64, u64) {
    let mut lim = Limiter::new(
        Limits {
            rpm: Some(600.0),
            ..Limits::default()
        },
        T0,
    );
    let mut s = Scheduler::new(None);
    for id in 0..n {
        s.push(id, 0, id, Cost::default());
    }
    let mut now = T0;
    let mut out = Vec::with_capacity(n as usize);
    let (mut polls, mut most_allocs, mut bytes) = (0, 0, 0);
    while !s.is_empty() {
        let (a0, b0) = counting::allocations();
        let p = s.poll(now, &mut lim);
        let (a1, b1) = counting::allocations();
        if polls > 0 {
            most_allocs = most_allocs.max(a1 - a0);
            bytes += b1 - b0;
        }
        out.extend(ids(&p));
        now = p.wake_at_ms.unwrap_or(now);
        polls += 1;
    }
    assert_eq!(out, (0..n).collect::<Vec<_>>(), "equal costs: strict FIFO");
    (polls, most_allocs, bytes)
}

#[test]
fn twenty_thousand_blocked_polls_with_backfill_stay_cheap() {
    // The cost of a blocked poll is bounded by the backfill window, not by the queue: counted
    // in allocations (deterministic, unlike a timer), a poll makes a few (the window's keys,
    // the admitted, the free lists growing by doubling), the same few for 2 000 and 20 000
    // queued entries, and the bytes per poll do not grow with the queue. A poll that scanned
    // the queue (or a window that grew with it) fails.
    let (polls_small, allocs_small, bytes_small) = drain_blocked(2_000);
    let (polls, allocs, bytes) = drain_blocked(20_000);
    assert!(
        polls > 19_000 && polls_small > 1_000,
        "{polls} / {polls_small} polls"
    );
    assert!(
        allocs <= 16 && allocs_small <= 16,
        "{allocs} / {allocs_small} allocations in one poll"
    );
    let per_poll = bytes as f64 / polls as f64;
    let per_poll_small = bytes_small as f64 / polls_small as f64;
    // The window's keys (3 x u64 each) in one Vec, plus the amortised growth of the free
    // lists and the admitted: well under 4 KB per poll, whatever the queue's length.
    let window_bytes = (BACKFILL_WINDOW * std::mem::size_of::<(u64, u64, u64)>()) as f64;
    assert!(
        per_poll <= 4.0 * window_bytes && per_poll_small <= 4.0 * window_bytes,
        "{per_poll:.0} / {per_poll_small:.0} bytes per poll"
    );
    assert!(
        per_poll <= 1.25 * per_poll_small,
        "a poll's cost grew with the queue: {per_poll_small:.0} -> {per_poll:.0} bytes"
    );
}

// ---------------------------------------------------------------- properties

#[derive(Debug, Clone)]
struct Job {
    gap_ms: f64,
    estimate: f64,
    input: f64,
    max_tokens: f64,
    output_share: f64,
    duration_ms: f64,
    priority: i32,
}

fn job() -> impl Strategy<Value = Job> {
    (
        (0.0..2_000.0f64, 1.0..20_000.0f64, 0.5..1.5f64),
        (1.0..4_000.0f64, 0.0..=1.0f64, 10.0..20_000.0f64, -1..2i32),
    )
        .prop_map(|((gap_ms, estimate, err), (mt, share, dur, prio))| Job {
            gap_ms,
            estimate: estimate.round(),
            input: (estimate * err).round(),
            max_tokens: mt.round(),
            output_share: share,
            duration_ms: dur,
            priority: prio,
        })
}

/// The server's buckets, written out independently of the limiter.
struct Server {
    rpm: Bucket,
    itpm: Bucket,
    otpm: Bucket,
}

impl Server {
    fn admit(&mut self, now: f64, t: &Ticket) -> Result<(), String> {
        for (name, b, n) in [
            ("rpm", &self.rpm, 1.0),
            ("itpm", &self.itpm, t.input),
            ("otpm", &self.otpm, t.output),
        ] {
            if b.level(now) < n - 1e-6 {
                return Err(format!("server refuses: {name} {} < {n}", b.level(now)));
            }
        }
        self.rpm.take(now, 1.0);
        self.itpm.take(now, t.input);
        self.otpm.take(now, t.output);
        Ok(())
    }
    fn end(&mut self, now: f64, t: &Ticket, input: f64, output: f64) {
        for (b, d) in [
            (&mut self.itpm, input - t.input),
            (&mut self.otpm, output - t.output),
        ] {
            if d >= 0.0 {
                b.take(now, d);
            } else {
                b.give(now, -d);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Through the scheduler (priorities, backfill, a cap), every admitted request is one the
    /// server accepts, the cap is never exceeded, and every request is eventually admitted.
    #[test]
    fn scheduled_requests_never_overrun_the_server(
        jobs in prop::collection::vec(job(), 1..120),
        cap in prop::option::of(1u32..6),
    ) {
        let limits = Limits { rpm: Some(50.0), itpm: Some(40_000.0), otpm: Some(8_000.0), tpm: None };
        let mut lim = Limiter::new(limits, T0);
        let mut server = Server {
            rpm: Bucket::per_minute(50.0, T0),
            itpm: Bucket::per_minute(40_000.0, T0),
            otpm: Bucket::per_minute(8_000.0, T0),
        };
        let mut s = Scheduler::new(cap);
        let mut arrivals = Vec::new();
        let mut t = T0;
        for j in &jobs {
            t += j.gap_ms;
            arrivals.push(t);
        }
        let mut next = 0;
        let mut running: Vec<(f64, usize, Ticket)> = Vec::new();
        let mut done = 0;
        let mut now = T0;
        let mut guard = 0;
        while done < jobs.len() {
            guard += 1;
            prop_assert!(guard < 200_000, "no progress");
            running.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
            while running.first().is_some_and(|r| r.0 <= now) {
                let (end, i, t) = running.remove(0);
                let j = &jobs[i];
                let out = (j.max_tokens * j.output_share).round();
                server.end(end, &t, j.input, out);
                lim.settle(end, t, &Usage { input_tokens: j.input, output_tokens: out, ..Usage::default() });
                s.finish();
                done += 1;
            }
            while next < jobs.len() && arrivals[next] <= now {
                let j = &jobs[next];
                s.push(next as Id, j.priority, next as u64, cost(j.estimate, j.max_tokens));
                next += 1;
            }
            let p = s.poll(now, &mut lim);
            prop_assert!(p.never.is_empty());
            for (id, t) in &p.admitted {
                server.admit(now, t).map_err(TestCaseError::fail)?;
                running.push((now + jobs[*id as usize].duration_ms, *id as usize, *t));
            }
            if let Some(c) = cap {
                prop_assert!(s.in_flight() <= c);
            }
            prop_assert_eq!(s.in_flight() as usize, running.len());
            if let Some(w) = p.wake_at_ms {
                prop_assert!(w >= now);
            }
            let mut t = p.wake_at_ms.unwrap_or(f64::INFINITY);
            if next < jobs.len() { t = t.min(arrivals[next]); }
            if let Some(r) = running.iter().map(|r| r.0).reduce(f64::min) { t = t.min(r); }
            if t.is_finite() {
                now = now.max(t);
            }
        }
        prop_assert!(s.is_empty());
    }

    /// One priority, usage equal to the reservations: every request that becomes a blocked
    /// head is admitted no later than its solo start (its start with nothing admitted behind
    /// it) plus the slack, whatever arrives behind it.
    #[test]
    fn a_head_starts_no_later_than_its_solo_start_plus_the_slack(
        costs in prop::collection::vec((0.0..30_000.0f64, 0.0..5_000.0f64, 0.0..500.0f64), 2..150),
    ) {
        let limits = Limits { rpm: Some(120.0), itpm: Some(60_000.0), otpm: Some(10_000.0), tpm: None };
        let mut lim = Limiter::new(limits, T0);
        let mut s = Scheduler::new(None);
        let mut arrivals = Vec::new();
        let mut t = T0;
        for &(_, _, gap) in &costs {
            t += gap;
            arrivals.push(t);
        }
        let cost_of = |i: usize| cost(costs[i].0.round(), costs[i].1.round());
        let mut next = 0;
        let mut admitted = 0;
        let mut now = T0;
        let mut head: Option<(Id, f64)> = None; // (id, solo start)
        let mut guard = 0;
        while admitted < costs.len() {
            guard += 1;
            prop_assert!(guard < 100_000, "no progress");
            while next < costs.len() && arrivals[next] <= now {
                s.push(next as Id, 0, next as u64, cost_of(next));
                next += 1;
            }
            let before = lim.clone();
            let p = s.poll(now, &mut lim);
            admitted += p.admitted.len();
            if let Some((id, solo)) = head {
                if p.admitted.iter().any(|&(a, _)| a == id) {
                    // Times are epoch milliseconds (an ulp is about 2.4e-4 ms): allow a few.
                    prop_assert!(now <= solo + BACKFILL_SLACK_MS + 1e-2,
                        "head {} admitted {} ms after its solo start", id, now - solo);
                    head = None;
                }
            }
            // A new blocked head: its solo start replays only the admissions before it.
            let current = s.head();
            if let Some(h) = current {
                if head.map(|(id, _)| id) != Some(h) {
                    let mut replay = before;
                    for &(a, _) in p.admitted.iter().filter(|&&(a, _)| a < h) {
                        replay.acquire(now, cost_of(a as usize));
                    }
                    if let Decision::Wait { until_ms, .. } = replay.check(now, cost_of(h as usize)) {
                        head = Some((h, until_ms));
                    }
                }
            }
            let mut t = p.wake_at_ms.unwrap_or(f64::INFINITY);
            if next < costs.len() { t = t.min(arrivals[next]); }
            prop_assert!(t.is_finite() || admitted == costs.len());
            if t.is_finite() {
                now = now.max(t);
            }
        }
    }
}
