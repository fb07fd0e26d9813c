//! Model classes: which model names share one set of rate limits, as dated data.
//!
//! A provider meters each model *class* on buckets of its own, and one class may cover several
//! model versions (Anthropic's "Opus 4.x" limit is shared by every Opus 4 version the page
//! lists). [`class_of`] maps a request's `model` to its class name — the names the presets use
//! (`anthropic:tier-1:sonnet` is the `sonnet` class) and the keys of `limits.models`. A model
//! this table does not know is a class of its own: its name, trimmed, lower case, at most
//! [`MAX_CLASS_LEN`] bytes (a longer one cut, with a hash of the whole); of an ARN, its
//! resource.
//!
//! ```
//! use llm_pacer::core::models::class_of;
//!
//! assert_eq!(class_of("claude-sonnet-4-5-20250929"), "sonnet");
//! assert_eq!(class_of("claude-3-5-haiku-latest"), "haiku-3.5");
//! assert_eq!(class_of("gpt-4o-mini-2024-07-18"), "gpt-4o-mini");
//! assert_eq!(class_of("  My-Model "), "my-model");
//! assert_eq!(class_of("models/gemini-2.0-flash"), class_of("gemini-2.0-flash"));
//! ```
//!
//! # Where the classes come from (read [`READ`])
//!
//! * Anthropic: the rate-limits page (`https://platform.claude.com/docs/en/api/rate-limits`)
//!   lists limits per class: Opus 4.x (every Opus 4 version), Sonnet 4.x, Haiku 4.5, and, apart,
//!   Opus 5, Sonnet 5 and Fable 5; its earlier revision lists Sonnet 3.7, Haiku 3.5, Haiku 3 and
//!   Opus 3 apart. Model ids are matched after `claude-` anywhere in the name, so Bedrock
//!   (`anthropic.claude-…-v1:0`) and Vertex (`claude-…@date`) ids map to the same classes.
//! * OpenAI: the rate-limits guide lists limits per model; a dated snapshot
//!   (`gpt-4o-2024-08-06`) shares its model's limits. Each model family below is a class.

/// The day the class table was checked against the providers' pages, `YYYY-MM-DD`.
pub const READ: &str = "2026-11-22";

/// The longest class name kept for a model the table does not know, in bytes.
pub const MAX_CLASS_LEN: usize = 64;

use super::config::Config;
pub use super::config::ModelLimits;
use super::find;
use super::limiter::Limits;
use super::presets::{Preset, PRESETS};
use super::sha256::{hex, Sha256};

/// Anthropic: what follows `claude-` (prefix) -> class. Longest prefixes first where one is a
/// prefix of another.
static ANTHROPIC: &[(&str, &str)] = &[
    ("opus-5", "opus-5"),
    ("sonnet-5", "sonnet-5"),
    ("fable-5", "fable"),
    ("opus-4", "opus"),
    ("sonnet-4", "sonnet"),
    ("haiku-4", "haiku"),
    ("3-7-sonnet", "sonnet-3.7"),
    ("3-5-sonnet", "sonnet-3.5"),
    ("3-5-haiku", "haiku-3.5"),
    ("3-haiku", "haiku-3"),
    ("3-opus", "opus-3"),
    ("3-sonnet", "sonnet-3"),
];

/// OpenAI: model (prefix) -> class. Longest prefixes first where one is a prefix of another.
static OPENAI: &[(&str, &str)] = &[
    ("gpt-4o-mini", "gpt-4o-mini"),
    ("gpt-4o", "gpt-4o"),
    ("gpt-4.1-mini", "gpt-4.1-mini"),
    ("gpt-4.1-nano", "gpt-4.1-nano"),
    ("gpt-4.1", "gpt-4.1"),
    ("gpt-4-turbo", "gpt-4-turbo"),
    ("gpt-5-mini", "gpt-5-mini"),
    ("gpt-5-nano", "gpt-5-nano"),
    ("gpt-5", "gpt-5"),
    ("gpt-3.5-turbo", "gpt-3.5-turbo"),
    ("o1-mini", "o1-mini"),
    ("o1", "o1"),
    ("o3-mini", "o3-mini"),
    ("o3", "o3"),
    ("o4-mini", "o4-mini"),
];

/// `rest` starts with `prefix`, and the prefix ends at a word boundary (`gpt-4o` does not
/// take `gpt-4oz`; `o1` does not take `o10`).
fn starts(rest: &str, prefix: &str) -> bool {
    rest.as_bytes().starts_with(prefix.as_bytes())
        && rest
            .as_bytes()
            .get(prefix.len())
            .is_none_or(|b| !b.is_ascii_alphanumeric())
}

/// The class of `model`: a known model's class, else the name itself (trimmed, lower case,
/// Gemini's `models/` prefix dropped, an ARN's account and region dropped; longer than
/// [`MAX_CLASS_LEN`] bytes, cut at a character boundary and ended with `~` and 16 hex digits
/// of a hash of the whole). `""` for an empty name.
pub fn class_of(model: &str) -> String {
    let m = model.trim().to_ascii_lowercase();
    // Gemini's resource name (`models/gemini-2.0-flash`, as `embedContent`'s body may name it)
    // is the model its URL names.
    let mut m = match m.strip_prefix("models/") {
        Some(rest) if !rest.is_empty() => rest.to_string(),
        _ => m,
    };
    // An Amazon Resource Name (Bedrock's application inference profiles, provisioned and
    // imported models) is `arn:partition:service:region:account:resource`: the class is the
    // resource (`application-inference-profile/a1b2c3d4e5f6`). Whole, two profiles of one
    // account were cut to one class at the length bound, and the account id was in the class.
    if let Some(resource) = m.strip_prefix("arn:").and_then(|r| r.splitn(5, ':').nth(4)) {
        if !resource.is_empty() {
            m = resource.to_string();
        }
    }
    if let Some(rest) = find(m.as_bytes(), b"claude-").and_then(|i| m.get(i + 7..)) {
        if let Some((_, class)) = ANTHROPIC
            .iter()
            .find(|(p, _)| rest.as_bytes().starts_with(p.as_bytes()))
        {
            return (*class).into();
        }
    }
    if let Some((_, class)) = OPENAI.iter().find(|(p, _)| starts(&m, p)) {
        return (*class).into();
    }
    if m.len() <= MAX_CLASS_LEN {
        return m;
    }
    // Longer: its start and a hash of the whole, so that two long names that share a start
    // are two classes (cut alone, they were one).
    let mut h = Sha256::new();
    h.update(m.as_bytes());
    let tag = hex(&h.finish()[..8]);
    let mut end = MAX_CLASS_LEN - tag.len() - 1;
    while !m.is_char_boundary(end) {
        end -= 1;
    }
    m.truncate(end);
    m.push('~');
    m.push_str(&tag);
    m
}

/// The limits of a key of model class `class`, dimension by dimension: `limits.models[class]`
/// (else an entry named by one of its model ids, `claude-haiku-4-5`: [`class_of`]),
/// else the top-level `limits` (a single-class `preset` is merged into them), else the tier
/// preset's row for the class (`preset: "anthropic:tier-1"` covers every class it lists).
///
/// ```
/// use llm_pacer::core::config::Config;
/// use llm_pacer::core::limiter::Limits;
/// use llm_pacer::core::models::{limits_for, ModelLimits};
///
/// let mut c = Config::new();
/// c.tier = Some("anthropic:tier-1");
/// c.limits.rpm = Some(40.0);
/// c.models.push(ModelLimits { class: "haiku".into(), limits: Limits { otpm: Some(5_000.0), ..Limits::default() } });
/// let h = limits_for(&c, "haiku");
/// assert_eq!((h.rpm, h.itpm, h.otpm), (Some(40.0), Some(50_000.0), Some(5_000.0)));
/// let s = limits_for(&c, "sonnet");
/// assert_eq!((s.rpm, s.itpm, s.otpm), (Some(40.0), Some(30_000.0), Some(8_000.0)));
/// assert_eq!(limits_for(&c, "my-model").itpm, None);
/// c.models[0].class = "claude-haiku-4-5-20251001".into();
/// assert_eq!(limits_for(&c, "haiku").otpm, Some(5_000.0), "a model id names its class");
/// ```
pub fn limits_for(config: &Config, class: &str) -> Limits {
    let own = config
        .models
        .iter()
        .find(|m| m.class == class)
        .or_else(|| config.models.iter().find(|m| class_of(&m.class) == class))
        .map(|m| m.limits)
        .unwrap_or_default();
    let tier = config
        .tier
        .and_then(|t| {
            PRESETS.iter().find(|p| {
                p.class() == class && p.name.strip_prefix(t).is_some_and(|r| r.starts_with(':'))
            })
        })
        .map(|p| p.limits())
        .unwrap_or_default();
    let pick = |f: fn(&Limits) -> Option<f64>| f(&own).or(f(&config.limits)).or(f(&tier));
    Limits {
        rpm: pick(|l| l.rpm),
        tpm: pick(|l| l.tpm),
        itpm: pick(|l| l.itpm),
        otpm: pick(|l| l.otpm),
    }
}

/// The tier a preset name such as `anthropic:tier-1` names (every class of that provider's
/// tier), as stored in [`Config::tier`], if any preset belongs to it.
pub fn find_tier(name: &str) -> Option<&'static str> {
    PRESETS.iter().map(Preset::tier_name).find(|t| *t == name)
}

/// The index in [`PRESETS`] of the first row of the tier `tier` ([`find_tier`]).
pub fn tier_start(tier: &str) -> Option<usize> {
    PRESETS.iter().position(|p| p.tier_name() == tier)
}

/// The tier of the preset row at `index`, if any.
pub fn tier_at(index: usize) -> Option<&'static str> {
    PRESETS.get(index).map(Preset::tier_name)
}

/// Every class the table names, Anthropic's then OpenAI's.
pub fn known_classes() -> impl Iterator<Item = &'static str> {
    ANTHROPIC.iter().chain(OPENAI).map(|&(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anthropic_versions_map_to_their_class() {
        for (model, class) in [
            ("claude-opus-4-1-20250805", "opus"),
            ("claude-opus-4-20250514", "opus"),
            ("claude-opus-4-5", "opus"),
            ("claude-sonnet-4-5-20250929", "sonnet"),
            ("claude-sonnet-4-20250514", "sonnet"),
            ("claude-haiku-4-5", "haiku"),
            ("claude-opus-5", "opus-5"),
            ("claude-sonnet-5-20261001", "sonnet-5"),
            ("claude-fable-5", "fable"),
            ("claude-3-7-sonnet-latest", "sonnet-3.7"),
            ("claude-3-5-haiku-20241022", "haiku-3.5"),
            ("claude-3-haiku-20240307", "haiku-3"),
            ("anthropic.claude-sonnet-4-5-20250929-v1:0", "sonnet"),
            ("claude-opus-4-1@20250805", "opus"),
            ("Claude-Sonnet-4-5", "sonnet"),
        ] {
            assert_eq!(class_of(model), class, "{model}");
        }
    }

    #[test]
    fn openai_snapshots_map_to_their_model() {
        for (model, class) in [
            ("gpt-4o", "gpt-4o"),
            ("gpt-4o-2024-08-06", "gpt-4o"),
            ("gpt-4o-mini", "gpt-4o-mini"),
            ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
            ("gpt-4.1", "gpt-4.1"),
            ("gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"),
            ("o1", "o1"),
            ("o1-2024-12-17", "o1"),
            ("o3-mini", "o3-mini"),
            ("o4-mini-2025-04-16", "o4-mini"),
            ("gpt-5-nano", "gpt-5-nano"),
        ] {
            assert_eq!(class_of(model), class, "{model}");
        }
    }

    #[test]
    fn unknown_models_are_classes_of_their_own_trimmed_and_bounded() {
        assert_eq!(class_of("o10-preview"), "o10-preview");
        assert_eq!(class_of("gpt-4oz"), "gpt-4oz");
        assert_eq!(class_of(" Llama-3.1-70B "), "llama-3.1-70b");
        assert_eq!(class_of(""), "");
        let long = "é".repeat(100);
        let c = class_of(&long);
        let (start, tag) = c.rsplit_once('~').unwrap();
        assert!(c.len() <= MAX_CLASS_LEN && long.starts_with(start), "{c}");
        assert_eq!(tag.len(), 16);
        let other = "é".repeat(99) + "e";
        assert_ne!(
            class_of(&other),
            c,
            "a long name's start alone is not its class"
        );
    }

    #[test]
    fn an_arn_is_classed_by_its_resource_without_account_or_region() {
        let arn = |id: &str| {
            format!("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/{id}")
        };
        let (a, b) = (
            class_of(&arn("opusprof0001")),
            class_of(&arn("haikuprof001")),
        );
        assert_eq!(a, "application-inference-profile/opusprof0001");
        assert_ne!(a, b, "two profiles, two classes");
        assert!(!a.contains("123456789012") && !a.contains("us-east-1"));
        // A system-defined cross-region profile names its model: the model's class.
        let us = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0";
        assert_eq!(class_of(us), "sonnet");
        assert_eq!(class_of("arn:aws:bedrock"), "arn:aws:bedrock");
    }

    #[test]
    fn every_preset_class_is_a_class_of_the_table() {
        let known: Vec<&str> = known_classes().collect();
        for p in PRESETS {
            assert!(known.contains(&p.class()), "{}", p.name);
        }
    }
}
