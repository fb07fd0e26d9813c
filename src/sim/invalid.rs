//! What is wrong with a scenario, by its field: the one error of every scenario check
//! ([`super::Scenario::validate`] and the parts it checks).

use std::fmt;

/// What is wrong with a scenario: the field, named as `simulate()`'s config names it
/// (`"workload.maxTokens"`; a setting only the command line has, by its flag), and the rule
/// it breaks. The command line names the flag instead where one sets it ([`Invalid::cli`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid {
    /// The config key (or flag).
    pub field: &'static str,
    /// The rule, as the rest of the sentence: `"must be at least 1"`.
    pub rule: &'static str,
}

impl Invalid {
    pub(crate) const fn new(field: &'static str, rule: &'static str) -> Self {
        Invalid { field, rule }
    }

    /// The message the command line prints: the field by the flag that sets it.
    pub fn cli(&self) -> String {
        const FLAGS: [(&str, &str); 13] = [
            ("clients", "--clients"),
            ("concurrency", "--concurrency"),
            ("workload.requests", "--requests"),
            ("workload.inputMedian", "--input-median"),
            ("workload.maxTokens", "--max-tokens"),
            ("workload.outputMin", "--output-min"),
            ("limits.rpm", "--rpm"),
            ("limits.itpm", "--itpm"),
            ("limits.otpm", "--otpm"),
            ("p529", "--p529"),
            ("skewMs", "--skew-ms"),
            ("storeMs", "--store-ms"),
            ("outside", "--outside"),
        ];
        let flag = FLAGS.iter().find(|(k, _)| *k == self.field);
        format!("{}: {}", flag.map_or(self.field, |(_, f)| f), self.rule)
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` {}", self.field, self.rule)
    }
}
