//! The time a request takes to reach the server after its admission: reserved, then bounded by
//! the attempt's round trip.
//!
//! While a request is in transit, a full server bucket wastes its refill (it cannot hold more
//! than its capacity) while the pacer's copy, lowered at admission, keeps it. A limiter counts
//! that waste at admission for a transit time ([`crate::core::limiter::Limiter::set_latency`]);
//! counted too short, the copy ends up above the server after each burst from a full bucket,
//! and with no rate-limit headers nothing corrects it (the soak, tests/js/soak.test.mjs, saw
//! ~40 admissions over the server's limits with a fixed 250 ms and a slow, loaded path).
//!
//! The one-way transit cannot be observed, and no fixed guess fits every path, but it is never
//! longer than the attempt's round trip (admission to response head): the server answered after
//! it received the request. So the engine reserves the waste of a long transit,
//! [`RESERVED_MS`], at admission, and when the response head comes back it gives back what the
//! round trip shows was not wasted ([`crate::core::limiter::Limiter::arrived`] with
//! [`bound`]). The copy is then never above the server, whatever the transit, and the
//! reservation costs only what a burst from full buckets holds back until its first response
//! (the waste is counted only by an admission from a nearly full bucket).
//!
//! An attempt with no response head (a network error, an abort, a timeout) keeps the whole
//! reservation. A head that waits for a whole generation (a non-streamed answer) bounds
//! nothing below [`RESERVED_MS`]: such a server costs at most that much refill per burst from
//! full buckets, a tenth of a per-minute limit.
//!
//! Pure: the times come in as arguments.
use super::{clamp, Ms};

/// The transit reserved at admission, ms: a tenth of a per-minute window, so an admission
/// from a full bucket holds back at most a tenth of its refill until its response head.
pub const RESERVED_MS: Ms = 6_000.0;

/// The transit an attempt admitted at `sent_ms` can have had, its response head arriving at
/// `head_ms`: the round trip, within `[0, RESERVED_MS]`; `RESERVED_MS` (nothing learned) if
/// either time is not finite.
pub fn bound(sent_ms: Ms, head_ms: Ms) -> Ms {
    let rt = head_ms - sent_ms;
    if rt.is_finite() {
        clamp(rt, 0.0, RESERVED_MS)
    } else {
        RESERVED_MS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_round_trip_bounds_the_transit_within_the_reservation() {
        assert_eq!(bound(1_000.0, 1_350.0), 350.0);
        assert_eq!(bound(1_000.0, 1_000.0), 0.0);
        assert_eq!(
            bound(1_000.0, 900.0),
            0.0,
            "a clock step back: nothing wasted"
        );
        assert_eq!(
            bound(0.0, 60_000.0),
            RESERVED_MS,
            "a generation: the reservation"
        );
        assert_eq!(bound(0.0, RESERVED_MS), RESERVED_MS);
        assert_eq!(bound(f64::NAN, 5.0), RESERVED_MS);
        assert_eq!(bound(0.0, f64::INFINITY), RESERVED_MS);
    }
}
