#![no_main]
//! See fuzz/README.md and `ssi_fuzz::targets::proto_messages`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ssi_fuzz::targets::proto_messages(data);
});
