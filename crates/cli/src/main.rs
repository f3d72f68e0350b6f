//! proxctl binary entry point.
fn main() {}
