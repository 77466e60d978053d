//! Fuzz target `boundary`: bytes as a script of what a plugin hands the host — host calls
//! and decisions of any shape — replayed beside a calm neighbour. The invariants:
//! `leitstand_fuzz::check_boundary`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(script) = leitstand_fuzz::check_script(data) {
        leitstand_fuzz::check_boundary(&[script]);
    }
});
