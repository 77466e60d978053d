//! Fuzz target `bundle`: any bytes as a bundle's `tenant.toml` through the daemon's bundle
//! loader, with placeholder wasm files and no compilation. The invariants:
//! `leitstand_fuzz::check_bundle`.
#![no_main]

use libfuzzer_sys::Corpus;

libfuzzer_sys::fuzz_target!(|data: &[u8]| -> Corpus {
    match leitstand_fuzz::check_bundle(data) {
        // A manifest naming a wasm file outside the bundle is not loaded; keeping it in
        // the corpus would only breed more of them.
        None => Corpus::Reject,
        Some(_) => Corpus::Keep,
    }
});
