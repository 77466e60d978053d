//! Fuzz target `event`: any bytes as an inbound AMQP message (a body, or a routing key,
//! headers and a body) through the daemon's intake and dispatch's tenant checks.
//! The input format and the invariants: `leitstand_fuzz::Delivery` and
//! `leitstand_fuzz::check_delivery`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _verdict = leitstand_fuzz::check_event(data);
});
