//! Benchmark placeholder: throughput.

fn main() {}
