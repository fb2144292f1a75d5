//! One reconciliation run: plan, fetch, diff, match, classify, apply, record (PRODUCT.md
//! section 3).

pub mod classify;
pub mod diff;
pub mod matching;
pub mod plan;

#[cfg(test)]
mod test_helpers;
