//! The JavaScript binding: the only module that reads a clock, draws random numbers, or calls
//! `fetch`. Compiled only for `wasm32`.
