//! Provider tier presets: the published per-minute limits of a provider's usage tier for one
//! model class, as a data table.
//!
//! A preset's name is `provider:tier:class`, e.g. `anthropic:tier-1:sonnet` or
//! `openai:tier-1:gpt-4o-mini`. The JavaScript option `preset` starts from a preset's limits;
//! keys given in `limits` replace the preset's values one by one.
//!
//! ```
//! use llm_pacer::core::presets;
//!
//! let p = presets::find("anthropic:tier-1:sonnet").unwrap();
//! let l = p.limits();
//! assert_eq!((l.rpm, l.itpm, l.otpm), (Some(50.0), Some(30_000.0), Some(8_000.0)));
//! assert!(p.source().url.starts_with("https://"));
//! assert!(presets::find("anthropic:tier-9:sonnet").is_none());
//! ```
//!
//! # Where the numbers come from
//!
//! Every row names the page it was copied from, the day it was read and which revision of
//! the page it reflects ([`Preset::source`]). Only
//! numbers read on the provider's own documentation are here; nothing is extrapolated:
//!
//! * **Anthropic, current tiers** (`start`, `build`, `scale`): the rate-limits page as it reads
//!   now. It also states that OTPM is counted in real time as output is produced, so
//!   `max_tokens` no longer counts ([`OutputMetering::RealTime`]). New organisations may start
//!   in an *Evaluation* tier whose limits the page does not publish, and *Custom* limits are
//!   arranged with sales: neither has a row.
//! * **Anthropic, `tier-1` to `tier-4`**: the same page's earlier revision (usage tiers 1 to
//!   4, OTPM estimated from `max_tokens` and corrected at the end:
//!   [`OutputMetering::Reservation`]). Kept for organisations and tests that still reason in
//!   those tiers; the page now lists the Start, Build and Scale tiers instead.
//! * **OpenAI**: the rate-limits guide publishes the tiers' qualifications but puts per-model
//!   numbers on each model's page. Only the rows read there are included: `gpt-4o-mini`
//!   tiers 1 to 3 (its model page; tier 4 and 5 could not be read in full), and `gpt-4o`
//!   tier 1 (the guide's tier-1 table of the same period). OpenAI counts input and output
//!   against one TPM limit, so these presets set `rpm` and `tpm`.
//!
//! Limits change: the provider's console (and the response headers, which the pacer reads
//! anyway) are the truth for an organisation. A preset is a starting point, not a promise.

use super::limiter::Limits;
pub use super::limiter::OutputMetering;

/// Where a group of presets comes from: the provider's page, when it was read, which revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    /// The provider's documentation page the numbers were copied from.
    pub url: &'static str,
    /// The day the page was read, `YYYY-MM-DD`.
    pub read: &'static str,
    /// Which revision of the page the rows reflect.
    pub note: &'static str,
}

/// One row of the table: a provider's usage tier for one model class.
///
/// Stored compactly (whole numbers, and the provenance by index), so that the npm package,
/// which only looks presets up by name, carries the numbers and not the sources' text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    /// `provider:tier:class`, lower case, e.g. `anthropic:tier-1:sonnet`.
    pub name: &'static str,
    /// The models the limits apply to, as the source names them (a class shares one limit).
    pub models: &'static str,
    /// RPM, TPM, ITPM, OTPM; 0 where the provider publishes no such limit.
    per_minute: [u32; 4],
    /// Index into [`SOURCES`].
    source: u8,
}

impl Preset {
    /// The per-minute limits (only the dimensions the provider publishes are `Some`).
    pub fn limits(&self) -> Limits {
        let [rpm, tpm, itpm, otpm] = self.per_minute.map(|v| (v > 0).then_some(f64::from(v)));
        Limits {
            rpm,
            tpm,
            itpm,
            otpm,
        }
    }

    /// Where the numbers come from.
    pub fn source(&self) -> &'static Source {
        &SOURCES[usize::from(self.source)]
    }

    /// How output is metered, where the source says so ([`METERING`]).
    pub fn metering(&self) -> Option<OutputMetering> {
        METERING[usize::from(self.source)]
    }

    /// `anthropic` or `openai`: the part of the name before the first `:`.
    pub fn provider(&self) -> &'static str {
        self.part(0)
    }

    /// The whole tier's name, as the option `preset` takes it: the name without its class
    /// (`anthropic:tier-1`).
    pub fn tier_name(&self) -> &'static str {
        let cut = self.name.bytes().rposition(|b| b == b':');
        cut.and_then(|c| self.name.get(..c)).unwrap_or(self.name)
    }
    /// The tier: the middle part of the name (`tier-1`, `start`, ...).
    pub fn tier(&self) -> &'static str {
        self.part(1)
    }

    /// The model class: the last part of the name (`sonnet`, `gpt-4o-mini`, ...).
    pub fn class(&self) -> &'static str {
        self.part(2)
    }

    fn part(&self, i: usize) -> &'static str {
        self.name.split(':').nth(i).unwrap_or("")
    }

    /// The preset's limits with every dimension given in `explicit` replacing the preset's
    /// (how `new Pacer({ preset, limits })` combines the two).
    ///
    /// ```
    /// use llm_pacer::core::limiter::Limits;
    /// use llm_pacer::core::presets;
    ///
    /// let p = presets::find("anthropic:tier-1:sonnet").unwrap();
    /// let mine = Limits { otpm: Some(4_000.0), ..Limits::default() };
    /// let l = p.merged(&mine);
    /// assert_eq!((l.rpm, l.itpm, l.otpm, l.tpm), (Some(50.0), Some(30_000.0), Some(4_000.0), None));
    /// ```
    pub fn merged(&self, explicit: &Limits) -> Limits {
        let own = self.limits();
        Limits {
            rpm: explicit.rpm.or(own.rpm),
            tpm: explicit.tpm.or(own.tpm),
            itpm: explicit.itpm.or(own.itpm),
            otpm: explicit.otpm.or(own.otpm),
        }
    }
}

/// The preset named `name` (exact, lower case), if there is one.
pub fn find(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

/// Every name the option `preset` takes: each whole tier (`provider:tier`), then its rows,
/// in table order. What an unknown name is held against for suggestions
/// ([`crate::core::config::nearest`]).
///
/// ```
/// use llm_pacer::core::{config, presets};
///
/// let names: Vec<&str> = presets::names().collect();
/// assert_eq!(config::nearest("anthropic:tier1", &names, 1), ["anthropic:tier-1"]);
/// assert_eq!(
///     config::nearest("anthropic:tier-1:sonet", &names, 1),
///     ["anthropic:tier-1:sonnet"]
/// );
/// ```
pub fn names() -> impl Iterator<Item = &'static str> + Clone {
    PRESETS.iter().enumerate().flat_map(|(i, p)| {
        let tier = p.tier_name();
        let first = i == 0 || PRESETS[i - 1].tier_name() != tier;
        first.then_some(tier).into_iter().chain([p.name])
    })
}

const READ: &str = "2026-11-22";

/// The pages the presets come from; [`Preset::source`] points into it.
pub static SOURCES: [Source; 4] = [
    Source {
        url: "https://platform.claude.com/docs/en/api/rate-limits",
        read: READ,
        note: "Start/Build/Scale revision (Opus 4.x = Opus 4.8, 4.7, 4.6, 4.5 combined; \
               Sonnet 4.x = Sonnet 4.6, 4.5 combined; Opus 5 and Sonnet 5 separate)",
    },
    Source {
        url: "https://docs.claude.com/en/api/rate-limits",
        read: READ,
        note: "Tier 1-4 revision (Opus 4.x = Opus 4, 4.1 combined; Sonnet 4.x = Sonnet 4, 4.5 \
               combined); since replaced on the page by Start/Build/Scale",
    },
    Source {
        url: "https://platform.openai.com/docs/models/gpt-4o-mini",
        read: READ,
        note: "model page, rate limits by usage tier",
    },
    Source {
        url: "https://platform.openai.com/docs/guides/rate-limits",
        read: READ,
        note: "guide's usage-tier table, tier 1 (late-2024 revision)",
    },
];
/// How each of [`SOURCES`] says output is metered, apart from their text: the package reads
/// this (a preset's metering decides whether `max_tokens` can make a request too large) and
/// never links the pages' addresses and notes.
pub const METERING: [Option<OutputMetering>; 4] = [
    Some(OutputMetering::RealTime),
    Some(OutputMetering::Reservation),
    None,
    None,
];
const ANTHROPIC_NOW: u8 = 0;
const ANTHROPIC_TIERS: u8 = 1;
const OPENAI_MINI: u8 = 2;
const OPENAI_GUIDE: u8 = 3;

/// A row of the current Anthropic tiers: RPM, ITPM, OTPM.
const fn now(name: &'static str, models: &'static str, rpm: u32, itpm: u32, otpm: u32) -> Preset {
    Preset {
        name,
        models,
        per_minute: [rpm, 0, itpm, otpm],
        source: ANTHROPIC_NOW,
    }
}

/// A row of Anthropic's earlier tiers 1 to 4: RPM, ITPM, OTPM.
const fn tier(name: &'static str, models: &'static str, rpm: u32, itpm: u32, otpm: u32) -> Preset {
    Preset {
        name,
        models,
        per_minute: [rpm, 0, itpm, otpm],
        source: ANTHROPIC_TIERS,
    }
}

/// An OpenAI row: RPM and TPM (input and output combined).
const fn openai(
    name: &'static str,
    models: &'static str,
    rpm: u32,
    tpm: u32,
    source: u8,
) -> Preset {
    Preset {
        name,
        models,
        per_minute: [rpm, tpm, 0, 0],
        source,
    }
}

const FABLE: &str = "Claude Fable 5";
const OPUS_5: &str = "Claude Opus 5";
const SONNET_5: &str = "Claude Sonnet 5";
const OPUS_4: &str = "Claude Opus 4.x";
const SONNET_4: &str = "Claude Sonnet 4.x";
const HAIKU: &str = "Claude Haiku 4.5";

/// Every preset, grouped by provider and tier. See the [module docs](self) for the sources.
pub static PRESETS: &[Preset] = &[
    // Anthropic, current tiers (OTPM counted in real time).
    now("anthropic:start:fable", FABLE, 1_000, 500_000, 100_000),
    now("anthropic:start:opus-5", OPUS_5, 1_000, 2_000_000, 400_000),
    now("anthropic:start:opus", OPUS_4, 1_000, 2_000_000, 400_000),
    now(
        "anthropic:start:sonnet-5",
        SONNET_5,
        1_000,
        2_000_000,
        400_000,
    ),
    now(
        "anthropic:start:sonnet",
        SONNET_4,
        1_000,
        2_000_000,
        400_000,
    ),
    now("anthropic:start:haiku", HAIKU, 1_000, 2_000_000, 400_000),
    now("anthropic:build:fable", FABLE, 2_000, 1_500_000, 300_000),
    now(
        "anthropic:build:opus-5",
        OPUS_5,
        5_000,
        5_000_000,
        1_000_000,
    ),
    now("anthropic:build:opus", OPUS_4, 5_000, 5_000_000, 1_000_000),
    now(
        "anthropic:build:sonnet-5",
        SONNET_5,
        5_000,
        5_000_000,
        1_000_000,
    ),
    now(
        "anthropic:build:sonnet",
        SONNET_4,
        5_000,
        5_000_000,
        1_000_000,
    ),
    now("anthropic:build:haiku", HAIKU, 5_000, 5_000_000, 1_000_000),
    now("anthropic:scale:fable", FABLE, 4_000, 4_000_000, 800_000),
    now(
        "anthropic:scale:opus-5",
        OPUS_5,
        10_000,
        10_000_000,
        2_000_000,
    ),
    now(
        "anthropic:scale:opus",
        OPUS_4,
        10_000,
        10_000_000,
        2_000_000,
    ),
    now(
        "anthropic:scale:sonnet-5",
        SONNET_5,
        10_000,
        10_000_000,
        2_000_000,
    ),
    now(
        "anthropic:scale:sonnet",
        SONNET_4,
        10_000,
        10_000_000,
        2_000_000,
    ),
    now(
        "anthropic:scale:haiku",
        HAIKU,
        10_000,
        10_000_000,
        2_000_000,
    ),
    // Anthropic, tiers 1 to 4 (OTPM reserved from max_tokens).
    tier("anthropic:tier-1:opus", OPUS_4, 50, 30_000, 8_000),
    tier("anthropic:tier-1:sonnet", SONNET_4, 50, 30_000, 8_000),
    tier("anthropic:tier-1:haiku", HAIKU, 50, 50_000, 10_000),
    tier("anthropic:tier-2:opus", OPUS_4, 1_000, 450_000, 90_000),
    tier("anthropic:tier-2:sonnet", SONNET_4, 1_000, 450_000, 90_000),
    tier("anthropic:tier-2:haiku", HAIKU, 1_000, 450_000, 90_000),
    tier("anthropic:tier-3:opus", OPUS_4, 2_000, 800_000, 160_000),
    tier("anthropic:tier-3:sonnet", SONNET_4, 2_000, 800_000, 160_000),
    tier("anthropic:tier-3:haiku", HAIKU, 2_000, 1_000_000, 200_000),
    tier("anthropic:tier-4:opus", OPUS_4, 4_000, 2_000_000, 400_000),
    tier(
        "anthropic:tier-4:sonnet",
        SONNET_4,
        4_000,
        2_000_000,
        400_000,
    ),
    tier("anthropic:tier-4:haiku", HAIKU, 4_000, 4_000_000, 800_000),
    // OpenAI: RPM and combined TPM.
    openai("openai:tier-1:gpt-4o", "gpt-4o", 500, 30_000, OPENAI_GUIDE),
    openai(
        "openai:tier-1:gpt-4o-mini",
        "gpt-4o-mini",
        500,
        200_000,
        OPENAI_MINI,
    ),
    openai(
        "openai:tier-2:gpt-4o-mini",
        "gpt-4o-mini",
        5_000,
        2_000_000,
        OPENAI_MINI,
    ),
    openai(
        "openai:tier-3:gpt-4o-mini",
        "gpt-4o-mini",
        5_000,
        4_000_000,
        OPENAI_MINI,
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::{nearest, Config};

    #[test]
    fn names_are_unique_lower_case_and_have_three_parts() {
        for (i, p) in PRESETS.iter().enumerate() {
            assert_eq!(p.name.split(':').count(), 3, "{}", p.name);
            assert!(
                p.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-:.".contains(&b)),
                "{}",
                p.name
            );
            assert!(
                PRESETS[i + 1..].iter().all(|q| q.name != p.name),
                "duplicate {}",
                p.name
            );
            assert_eq!(
                format!("{}:{}:{}", p.provider(), p.tier(), p.class()),
                p.name
            );
        }
    }

    #[test]
    fn every_row_is_sourced_and_valid_as_configured_limits() {
        for p in PRESETS {
            let src = p.source();
            assert!(src.url.starts_with("https://"), "{}", p.name);
            assert!(!p.models.is_empty() && !src.note.is_empty(), "{}", p.name);
            let date = src.read.as_bytes();
            assert!(
                date.len() == 10 && date[4] == b'-' && date[7] == b'-',
                "{}: read {}",
                p.name,
                src.read
            );
            // Usable as is: the configuration accepts every preset's limits.
            let mut c = Config::new();
            c.limits = p.limits();
            assert_eq!(c.validate(), Ok(()), "{}", p.name);
            assert!(
                p.limits().rpm.is_some(),
                "{}: RPM is always published",
                p.name
            );
        }
    }

    #[test]
    fn anthropic_rows_have_split_token_limits_and_openai_rows_a_combined_one() {
        for p in PRESETS {
            let l = &p.limits();
            match p.provider() {
                "anthropic" => {
                    assert!(l.itpm.is_some() && l.otpm.is_some() && l.tpm.is_none());
                    assert!(p.metering().is_some(), "{}", p.name);
                    // Output is always the scarcer budget.
                    assert!(l.otpm.unwrap() < l.itpm.unwrap(), "{}", p.name);
                }
                "openai" => {
                    assert!(l.tpm.is_some() && l.itpm.is_none() && l.otpm.is_none());
                    assert!(p.source().url.contains("openai.com"), "{}", p.name);
                }
                other => panic!("unknown provider {other}"),
            }
        }
    }

    #[test]
    fn the_sources_numbers_are_transcribed_as_read() {
        let l = |n: &str| find(n).unwrap().limits();
        let t = |rpm: f64, itpm: f64, otpm: f64| Limits {
            rpm: Some(rpm),
            tpm: None,
            itpm: Some(itpm),
            otpm: Some(otpm),
        };
        assert_eq!(l("anthropic:tier-1:sonnet"), t(50.0, 30_000.0, 8_000.0));
        assert_eq!(l("anthropic:tier-1:haiku"), t(50.0, 50_000.0, 10_000.0));
        assert_eq!(l("anthropic:tier-2:opus"), t(1_000.0, 450_000.0, 90_000.0));
        assert_eq!(
            l("anthropic:tier-3:haiku"),
            t(2_000.0, 1_000_000.0, 200_000.0)
        );
        assert_eq!(
            l("anthropic:tier-4:opus"),
            t(4_000.0, 2_000_000.0, 400_000.0)
        );
        assert_eq!(
            l("anthropic:tier-4:haiku"),
            t(4_000.0, 4_000_000.0, 800_000.0)
        );
        assert_eq!(l("anthropic:start:fable"), t(1_000.0, 500_000.0, 100_000.0));
        assert_eq!(
            l("anthropic:build:fable"),
            t(2_000.0, 1_500_000.0, 300_000.0)
        );
        assert_eq!(
            l("anthropic:scale:sonnet"),
            t(10_000.0, 10_000_000.0, 2_000_000.0)
        );
        let o = l("openai:tier-1:gpt-4o-mini");
        assert_eq!((o.rpm, o.tpm), (Some(500.0), Some(200_000.0)));
        let o = l("openai:tier-1:gpt-4o");
        assert_eq!((o.rpm, o.tpm), (Some(500.0), Some(30_000.0)));
        // The simulator's default scenario is Anthropic's tier 1 for Sonnet.
        assert_eq!(
            Some(l("anthropic:tier-1:sonnet")),
            Some(crate::sim::ServerConfig::default().limits)
        );
    }

    #[test]
    fn every_source_is_used() {
        for (i, src) in SOURCES.iter().enumerate() {
            let used = PRESETS.iter().any(|p| usize::from(p.source) == i);
            assert!(used, "{}", src.url);
        }
    }

    #[test]
    fn metering_follows_the_revision_of_the_page() {
        for p in PRESETS.iter().filter(|p| p.provider() == "anthropic") {
            let want = if p.tier().starts_with("tier-") {
                OutputMetering::Reservation
            } else {
                OutputMetering::RealTime
            };
            assert_eq!(p.metering(), Some(want), "{}", p.name);
        }
        assert_eq!(OutputMetering::RealTime.name(), "realtime");
        assert_eq!(OutputMetering::Reservation.name(), "reservation");
    }

    #[test]
    fn tiers_only_grow() {
        // Within a provider and class, each later tier allows at least as much everywhere.
        let order = [
            "tier-1", "tier-2", "tier-3", "tier-4", "start", "build", "scale",
        ];
        let rank = |p: &Preset| order.iter().position(|t| *t == p.tier()).unwrap();
        for a in PRESETS {
            for b in PRESETS {
                let same_scheme = a.tier().starts_with("tier-") == b.tier().starts_with("tier-");
                if a.provider() == b.provider()
                    && a.class() == b.class()
                    && same_scheme
                    && rank(a) < rank(b)
                {
                    let ge = |x: Option<f64>, y: Option<f64>| match (x, y) {
                        (Some(x), Some(y)) => y >= x,
                        (None, None) => true,
                        _ => false,
                    };
                    let (x, y) = (&a.limits(), &b.limits());
                    assert!(
                        ge(x.rpm, y.rpm)
                            && ge(x.tpm, y.tpm)
                            && ge(x.itpm, y.itpm)
                            && ge(x.otpm, y.otpm),
                        "{} > {}",
                        a.name,
                        b.name
                    );
                }
            }
        }
    }

    #[test]
    fn explicit_limits_override_the_preset_one_by_one() {
        let p = find("openai:tier-1:gpt-4o-mini").unwrap();
        assert_eq!(p.merged(&Limits::default()), p.limits());
        let mine = Limits {
            rpm: Some(10.0),
            itpm: Some(1_000.0),
            ..Limits::default()
        };
        let m = p.merged(&mine);
        assert_eq!(m.rpm, Some(10.0));
        assert_eq!(m.tpm, Some(200_000.0));
        assert_eq!(m.itpm, Some(1_000.0));
        assert_eq!(m.otpm, None);
    }

    #[test]
    fn lookup_is_exact_and_a_mistyped_tier_is_nearest_its_tier() {
        assert!(find("anthropic:tier-1:sonnet").is_some());
        assert!(find("Anthropic:tier-1:sonnet").is_none());
        assert!(find(" anthropic:tier-1:sonnet").is_none());
        assert!(find("anthropic:tier-1").is_none());
        assert!(find("").is_none());
        // Typos of a tier's name: the tier first.
        let names: Vec<&str> = names().collect();
        for typo in [
            "anthropic:tier1",
            "anthropic:teir-1",
            "anthropic:tier-1 ",
            "Anthropic:Tier-1",
        ] {
            assert_eq!(nearest(typo, &names, 1), ["anthropic:tier-1"], "{typo:?}");
        }
        assert_eq!(nearest("openai:tier1", &names, 1), ["openai:tier-1"]);
        // Every row and every tier once, each tier before its rows.
        let mut tiers: Vec<&str> = PRESETS.iter().map(Preset::tier_name).collect();
        tiers.dedup();
        assert_eq!(names.len(), PRESETS.len() + tiers.len());
        assert_eq!(names[..2], [PRESETS[0].tier_name(), PRESETS[0].name]);
        assert!(tiers.iter().all(|t| names.contains(t)));
    }
}
