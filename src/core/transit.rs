//! The time a request takes to reach the server after its admission: reserved at admission,
//! then counted from the attempt's round trip.
//!
//! While a request is in transit, a full server bucket wastes its refill (it cannot hold more
//! than its capacity) while the pacer's copy, lowered at admission, keeps it. The limiter
//! counts that waste at admission for a transit time
//! ([`crate::core::limiter::Limiter::set_latency`]); counted too short, the copy ends up above
//! the server after each burst from a full bucket, and with no rate-limit headers nothing
//! corrects it (the soak, tests/js/soak.test.mjs, saw ~40 admissions over the server's limits
//! with a fixed 250 ms on a slow, loaded path).
//!
//! The one-way transit cannot be observed, but it is never longer than the attempt's round
//! trip (admission to response head): the server answered after it received the request. So:
//!
//! * before any response, an admission counts the waste of [`RESERVED_MS`] of transit;
//! * when its response head comes back, the waste is recounted for the round trip, up to
//!   [`MAX_MS`] ([`bound`], [`crate::core::limiter::Limiter::arrived`]): given back when the
//!   round trip was shorter, taken when it was longer;
//! * a response that carries the server's rate-limit figures needs only [`WITH_HEADERS_MS`]
//!   (the limiter never keeps a higher level than they report, so only their rounding is left
//!   to cover), and later admissions reserve that much ([`reserve`]) while the server keeps
//!   sending them.
//!
//! The waste is counted only by an admission from a nearly full bucket, so the reservation
//! costs at most [`RESERVED_MS`] of refill per burst from full buckets, until the first
//! response. A head that waits for a whole generation (a non-streamed answer, no headers)
//! bounds the transit only loosely: it is counted up to [`MAX_MS`], a sixth of a per-minute
//! limit's refill per burst from full. An attempt with no response head (a network error, an
//! abort, a timeout) keeps its reservation.
//!
//! Pure: the times come in as arguments.
use super::{clamp, Ms};

/// The transit reserved at admission before a response shows better, ms (a twentieth of a
/// per-minute window).
pub const RESERVED_MS: Ms = 3_000.0;

/// The longest transit a round trip is taken for, ms (a sixth of a per-minute window).
pub const MAX_MS: Ms = 10_000.0;

const _: () = assert!(WITH_HEADERS_MS < RESERVED_MS && RESERVED_MS < MAX_MS);

/// The transit counted once a response shows the server's own rate-limit figures, ms: it
/// covers their rounding (a demo against a local server drifted 11-65 output tokens above the
/// server through an opening burst without it), and a one-way transit of up to half a second.
/// (At 250 ms, requests that took up to 300 ms to reach the simulator's server left the copy
/// three output tokens above it after the opening burst, too little for rounded figures to
/// show, enough for a 429 minutes later; 500 ms costs a lone process 0.2-0.4% of its mean
/// makespan over the simulator's tables.)
pub const WITH_HEADERS_MS: Ms = 500.0;

/// The transit an attempt admitted at `sent_ms` can have had, its response head arriving at
/// `head_ms`: the round trip, within `[0, MAX_MS]` (`MAX_MS` if either time is not finite);
/// or [`WITH_HEADERS_MS`] when the response carries the server's rate-limit figures
/// (`server_figures`), which correct the rest.
pub fn bound(sent_ms: Ms, head_ms: Ms, server_figures: bool) -> Ms {
    if server_figures {
        return WITH_HEADERS_MS;
    }
    let rt = head_ms - sent_ms;
    if rt.is_finite() {
        clamp(rt, 0.0, MAX_MS)
    } else {
        MAX_MS
    }
}

/// The transit to reserve at admission, given whether the last response carried the
/// server's rate-limit figures: [`WITH_HEADERS_MS`] if so, else [`RESERVED_MS`] (the engine
/// starts with it: nothing is known before the first response).
pub fn reserve(server_figures: bool) -> Ms {
    if server_figures {
        WITH_HEADERS_MS
    } else {
        RESERVED_MS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_round_trip_bounds_the_transit() {
        assert_eq!(bound(1_000.0, 1_350.0, false), 350.0);
        assert_eq!(bound(1_000.0, 1_000.0, false), 0.0);
        assert_eq!(bound(1_000.0, 900.0, false), 0.0, "a clock step back");
        assert_eq!(bound(0.0, 7_000.0, false), 7_000.0, "longer than reserved");
        assert_eq!(bound(0.0, 60_000.0, false), MAX_MS, "a generation");
        assert_eq!(bound(f64::NAN, 5.0, false), MAX_MS);
        assert_eq!(bound(0.0, f64::INFINITY, false), MAX_MS);
    }

    #[test]
    fn the_servers_figures_leave_only_their_rounding_to_cover() {
        assert_eq!(bound(0.0, 60_000.0, true), WITH_HEADERS_MS);
        assert_eq!(bound(0.0, 100.0, true), WITH_HEADERS_MS);
        assert_eq!(reserve(true), WITH_HEADERS_MS);
        assert_eq!(reserve(false), RESERVED_MS);
    }
}
