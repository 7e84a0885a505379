#![no_main]
//! See fuzz/README.md and `ssi_fuzz::targets::unseal_sealed_key`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ssi_fuzz::targets::unseal_sealed_key(data);
});
