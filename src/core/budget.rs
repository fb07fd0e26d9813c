//! A retry budget against retry storms, as in gRPC's retry throttling.
//!
//! The budget holds `tokens`, starting full at `max_tokens`. Each failed attempt that counts
//! against it takes one token; each success gives back `ratio`. Retries are allowed only while
//! `tokens > max_tokens / 2`. So when most calls fail, retries stop; when the service recovers,
//! successes refill the budget.

/// Budget parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetConfig {
    /// Tokens given back per success. Default 0.1.
    pub ratio: f64,
    /// Capacity and start value. Default 10.
    pub max_tokens: f64,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        BudgetConfig {
            ratio: 0.1,
            max_tokens: 10.0,
        }
    }
}

/// The budget's state: one plain number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryBudget {
    config: BudgetConfig,
    tokens: f64,
}

impl RetryBudget {
    /// A full budget.
    pub fn new(config: BudgetConfig) -> Self {
        let _ = config;
        todo!("RetryBudget::new")
    }
    /// Record a success: give back `ratio`, up to `max_tokens`.
    pub fn on_success(&mut self) {
        todo!("RetryBudget::on_success")
    }
    /// Record a failure: take one token, down to 0.
    pub fn on_failure(&mut self) {
        todo!("RetryBudget::on_failure")
    }
    /// May a retry be made now?
    pub fn can_retry(&self) -> bool {
        todo!("RetryBudget::can_retry")
    }
    /// Tokens now.
    pub fn tokens(&self) -> f64 {
        self.tokens
    }
}
