//! Benchmark placeholder: month.

fn main() {}
