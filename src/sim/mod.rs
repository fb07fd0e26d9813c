//! A discrete-event simulator of a rate-limited LLM API, in virtual time.
