//! The envelope parser on arbitrary input: it must never panic, an envelope it accepts must
//! print back to exactly the same text (one canonical form), and opening it must fail cleanly
//! (the key is random, so nothing can authenticate).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mandate_crypto::Key256;
use mandate_crypto::envelope::{DataKey, Envelope, RecordBinding};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(envelope) = Envelope::parse(text) else { return };
    assert_eq!(envelope.to_string(), text, "accepted a non-canonical form");
    let binding = RecordBinding { kind: "fuzz", row_id: "1", workspace_id: "w" };
    if let Ok(material) = Key256::generate() {
        if let Ok(key) = DataKey::new(envelope.kid(), &material) {
            assert!(envelope.open(&key, binding).is_err(), "opened without the key");
        }
    }
});
