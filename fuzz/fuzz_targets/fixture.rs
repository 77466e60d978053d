//! Fuzz target `fixture`: JSON Lines as a plugin test's expectation and output through the
//! harness's difference and report. The invariants: `leitstand_fuzz::check_fixture`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    leitstand_fuzz::check_fixture(data);
});
