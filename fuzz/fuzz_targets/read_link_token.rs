#![no_main]
//! See fuzz/README.md and `ssi_fuzz::targets::read_link_token`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ssi_fuzz::targets::read_link_token(data);
});
