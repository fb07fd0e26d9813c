//! The server of a scenario: one [`Server`] per (organisation, model class), each with the
//! class's limits, buckets and headers of its own. A scenario without a [`Mix`] has one.
//!
//! The single-class [`Server`] is used as it is: this file only routes each request to its
//! lane ([`Mix::lane`]) and adds up the counters.

use super::mix::Mix;
use super::scenario::{Scenario, START_MS};
use super::server::{Server, ServerConfig, ServerStats};

/// Every server of a scenario, by lane.
pub(crate) struct Servers {
    servers: Vec<Server>,
    mix: Option<Mix>,
}

impl Servers {
    /// The scenario's servers, full at the start; lane `k` draws from its own stream.
    pub fn new(scenario: &Scenario) -> Self {
        let servers = match &scenario.mix {
            None => vec![Server::new(&scenario.server, START_MS, scenario.seed)],
            Some(m) => (0..m.lanes())
                .map(|k| {
                    let config = ServerConfig {
                        limits: m.classes[k % m.classes.len()].limits,
                        ..scenario.server.clone()
                    };
                    let seed = scenario.seed ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                    Server::new(&config, START_MS, seed)
                })
                .collect(),
        };
        Servers {
            servers,
            mix: scenario.mix.clone(),
        }
    }

    /// The lane of request `index`.
    pub fn lane(&self, index: usize) -> usize {
        self.mix.as_ref().map_or(0, |m| m.lane(index))
    }

    /// The server that meters request `index`.
    pub fn of(&mut self, index: usize) -> &mut Server {
        let k = self.lane(index);
        &mut self.servers[k]
    }

    /// Every server, by lane.
    pub fn all(&self) -> &[Server] {
        &self.servers
    }

    /// The counters of every server, added up.
    pub fn stats(&self) -> ServerStats {
        self.servers.iter().map(Server::stats).fold(
            ServerStats {
                min_level_after_admission: f64::INFINITY,
                ..ServerStats::default()
            },
            |a, s| ServerStats {
                admitted: a.admitted + s.admitted,
                rate_limited: a.rate_limited + s.rate_limited,
                overloaded: a.overloaded + s.overloaded,
                min_level_after_admission: a
                    .min_level_after_admission
                    .min(s.min_level_after_admission),
            },
        )
    }
}
