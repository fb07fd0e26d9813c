//! Workloads that mix model classes and organisations, and how llm-pacer keys its limits
//! there.
//!
//! A provider meters each organisation's use of each model class on buckets of their own, and
//! each response's headers describe the buckets of its own class. A [`Mix`] puts several
//! classes (each with its limits) and several organisations (API keys) in a scenario: the
//! requests take the classes in turn (request `i` is of class `i % classes`) and the
//! organisations in turn after that; the server keeps one set of buckets per (organisation,
//! class) ([`super::servers`]). [`PacerKeys`] says how the llm-pacer clients key their limits,
//! so that one pacer with limit keys can be compared with one pacer with a single limiter (as
//! before limit keys) and with one pacer per model.
//!
//! ```
//! use llm_pacer::sim::{run, Mix, PacerKeys, Scenario, StrategyKind};
//!
//! let mut s = Scenario::issue_default(1);
//! s.workload.requests = 40;
//! s.mix = Some(Mix::two_models());
//! let r = run(&s, StrategyKind::Pacer);
//! assert_eq!(r.failures, 0);
//! let names: Vec<&str> = r.classes.iter().map(|c| c.name.as_str()).collect();
//! assert_eq!(names, ["sonnet", "haiku"]);
//! ```

use super::invalid::Invalid;
use crate::core::keys::LimitKey;
use crate::core::limiter::Limits;
use crate::core::presets;
use std::fmt;

/// One model class of a [`Mix`]: its name (a limit key's class) and the server's limits for it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassSpec {
    /// The class name, e.g. `sonnet`.
    pub name: String,
    /// The organisation's per-minute limits for this class.
    pub limits: Limits,
}

/// How the llm-pacer clients of a mixed scenario key their limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PacerKeys {
    /// One pacer per client, one limit key per (organisation, class): the default.
    #[default]
    Keyed,
    /// One pacer per client with one limiter for every request (what a pacer did before
    /// limit keys).
    Single,
    /// One pacer per (organisation, class) in each client, each with one limiter (and its own
    /// concurrency cap).
    PerModel,
}

impl PacerKeys {
    /// Every variant, in report order.
    pub const ALL: [PacerKeys; 3] = [PacerKeys::Keyed, PacerKeys::Single, PacerKeys::PerModel];

    /// A short description, for tables.
    pub fn name(self) -> &'static str {
        match self {
            PacerKeys::Keyed => "one pacer, limit keys",
            PacerKeys::Single => "one pacer, one limiter",
            PacerKeys::PerModel => "one pacer per model",
        }
    }
}

/// Several model classes and organisations in one scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Mix {
    /// The classes, taken in turn by the requests.
    pub classes: Vec<ClassSpec>,
    /// Organisations (API keys), taken in turn after the classes; each has every class's
    /// limits on buckets of its own.
    pub orgs: u32,
    /// How llm-pacer keys its limits.
    pub pacer: PacerKeys,
}

impl Mix {
    /// Two classes with different token limits, one organisation: Anthropic's tier-1 Sonnet
    /// (RPM 50, ITPM 30,000, OTPM 8,000) and Haiku (RPM 50, ITPM 50,000, OTPM 10,000), as
    /// the presets give them.
    pub fn two_models() -> Mix {
        let class = |name: &str| ClassSpec {
            name: name.into(),
            limits: presets::find(&format!("anthropic:tier-1:{name}"))
                .map(|p| p.limits())
                .unwrap_or_default(),
        };
        Mix {
            classes: vec![class("sonnet"), class("haiku")],
            orgs: 1,
            pacer: PacerKeys::Keyed,
        }
    }

    /// Request `index`'s (organisation, class index).
    pub fn route(&self, index: usize) -> (u32, usize) {
        let n = self.classes.len().max(1);
        ((index / n % self.orgs.max(1) as usize) as u32, index % n)
    }

    /// The limit key of request `index` (organisation as the id, the class's name).
    pub fn key(&self, index: usize) -> LimitKey {
        let (org, class) = self.route(index);
        LimitKey::new(u64::from(org), &self.classes[class].name)
    }

    /// The (organisation, class) pairs: how many server bucket sets there are.
    pub fn lanes(&self) -> usize {
        self.classes.len() * self.orgs as usize
    }

    /// Request `index`'s lane: `org * classes + class`.
    pub fn lane(&self, index: usize) -> usize {
        let (org, class) = self.route(index);
        org as usize * self.classes.len() + class
    }

    /// The tightest limit of every class, dimension by dimension (what a single limiter for
    /// every class must be told to be safe).
    pub fn tightest(&self) -> Limits {
        let min = |f: fn(&Limits) -> Option<f64>| {
            self.classes
                .iter()
                .filter_map(|c| f(&c.limits))
                .reduce(f64::min)
        };
        Limits {
            rpm: min(|l| l.rpm),
            tpm: min(|l| l.tpm),
            itpm: min(|l| l.itpm),
            otpm: min(|l| l.otpm),
        }
    }

    /// Check the mix; the message names what is wrong.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.classes.is_empty() || self.classes.len() > 64 {
            return Err(Invalid::new(
                "models",
                "must have from 1 to 64 model classes",
            ));
        }
        if self.orgs == 0 || self.orgs > 64 {
            return Err(Invalid::new("orgs", "must be from 1 to 64"));
        }
        for c in &self.classes {
            let l = &c.limits;
            for v in [l.rpm, l.tpm, l.itpm, l.otpm].into_iter().flatten() {
                if !(1.0..=1e12).contains(&v) {
                    return Err(Invalid::new("limits", "must be numbers from 1 to 1e12"));
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "model classes, taken in turn:")?;
        for c in &self.classes {
            let l = &c.limits;
            let part = |n: &str, v: Option<f64>| v.map(|v| format!(" {n} {v}")).unwrap_or_default();
            write!(
                f,
                " {} ({}{}{}{} )",
                c.name,
                part("RPM", l.rpm),
                part("ITPM", l.itpm),
                part("OTPM", l.otpm),
                part("TPM", l.tpm)
            )?;
        }
        write!(
            f,
            "; {} organisation{}; llm-pacer: {}",
            self.orgs,
            if self.orgs == 1 { "" } else { "s" },
            self.pacer.name()
        )
    }
}
