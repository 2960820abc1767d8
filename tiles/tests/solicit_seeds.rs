//! The committed fuzz seeds of `solicit_decode` are valid frames, so the fuzzer starts from
//! inputs that reach the engine rather than only the decoder's rejections.

use std::path::Path;

use netbase_tiles::solicit::decode;

#[test]
fn fuzz_seeds_decode() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/solicit_decode");
    for name in ["solicit.bin", "keepalive.bin"] {
        let bytes = std::fs::read(dir.join(name)).expect("seed");
        decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
    let seq = std::fs::read(dir.join("sequence.bin")).expect("seed");
    for chunk in seq.chunks(17) {
        decode(&chunk[1..])
            .expect("every 17-byte chunk carries a valid frame after its control byte");
    }
}
