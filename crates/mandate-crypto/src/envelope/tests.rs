use proptest::prelude::*;

use super::*;
use crate::Key256;

fn key(kid: &str) -> DataKey {
    DataKey::new(kid, &Key256::generate().unwrap()).unwrap()
}

const ROW: RecordBinding<'static> = RecordBinding {
    kind: "connection.credentials",
    row_id: "0193a0c4-0000-7000-8000-000000000001",
    workspace_id: "0193a0c4-0000-7000-8000-0000000000aa",
};

#[test]
fn round_trip_through_the_text_form() {
    let k = key("dek-1");
    let sealed = seal(&k, ROW, b"xoxb-slack-bot-token").unwrap();
    let text = sealed.to_string();
    assert!(
        text.starts_with(r#"{"v":1,"alg":"A256GCM","kid":"dek-1","iv":""#),
        "{text}"
    );
    assert!(!text.contains("xoxb"));
    let parsed = Envelope::parse(&text).unwrap();
    assert_eq!(parsed, sealed);
    assert_eq!(parsed.to_string(), text, "one canonical text form");
    assert_eq!(
        open(&k, ROW, &text).unwrap().as_slice(),
        b"xoxb-slack-bot-token"
    );
    assert_eq!(
        open(&k, ROW, &seal(&k, ROW, b"").unwrap().to_string())
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn every_seal_uses_a_fresh_iv() {
    let k = key("dek-1");
    let a = seal(&k, ROW, b"same").unwrap();
    let b = seal(&k, ROW, b"same").unwrap();
    assert_ne!(a.iv(), b.iv());
    assert_ne!(a.ciphertext(), b.ciphertext());
}

#[test]
fn each_failure_is_its_own_error() {
    let k = key("dek-1");
    let text = seal(&k, ROW, b"secret").unwrap().to_string();

    let v2 = text.replacen(r#""v":1"#, r#""v":2"#, 1);
    assert_eq!(
        open(&k, ROW, &v2),
        Err(EnvelopeError::UnsupportedVersion(2))
    );
    let alg = text.replacen("A256GCM", "A128GCM", 1);
    assert_eq!(
        open(&k, ROW, &alg),
        Err(EnvelopeError::UnsupportedAlgorithm("A128GCM".into()))
    );
    assert_eq!(
        open(&k, ROW, &text[..text.len() - 10]),
        Err(EnvelopeError::Truncated)
    );
    assert!(matches!(
        open(&k, ROW, "hello"),
        Err(EnvelopeError::Malformed(_))
    ));
    let extra = text.replacen('{', r#"{"x":1,"#, 1);
    assert!(matches!(
        open(&k, ROW, &extra),
        Err(EnvelopeError::Malformed(_))
    ));
    let padded = text.replacen(r#"","ciphertext""#, r#"=","ciphertext""#, 1);
    assert!(matches!(
        open(&k, ROW, &padded),
        Err(EnvelopeError::Malformed(_))
    ));

    let other = key("dek-2");
    assert_eq!(
        open(&other, ROW, &text),
        Err(EnvelopeError::WrongKey {
            envelope_kid: "dek-1".into(),
            key_kid: "dek-2".into()
        })
    );
    // Same kid, different key material: indistinguishable from tampering, and reported so.
    let impostor = key("dek-1");
    assert_eq!(open(&impostor, ROW, &text), Err(EnvelopeError::Tampered));
}

#[test]
fn a_ciphertext_moved_to_another_record_does_not_open() {
    let k = key("dek-1");
    let text = seal(&k, ROW, b"secret").unwrap().to_string();
    for moved in [
        RecordBinding {
            row_id: "0193a0c4-0000-7000-8000-000000000002",
            ..ROW
        },
        RecordBinding {
            workspace_id: "0193a0c4-0000-7000-8000-0000000000bb",
            ..ROW
        },
        RecordBinding {
            kind: "user.totp_seed",
            ..ROW
        },
    ] {
        assert_eq!(
            open(&k, moved, &text),
            Err(EnvelopeError::Tampered),
            "{moved:?}"
        );
    }
    // Length prefixes: shifting bytes between fields changes the associated data.
    let shifted = RecordBinding {
        kind: "connection.credentials0193a0c4",
        row_id: "-0000-7000-8000-000000000001",
        ..ROW
    };
    assert_eq!(open(&k, shifted, &text), Err(EnvelopeError::Tampered));
}

#[test]
fn key_ids_are_restricted() {
    let material = Key256::generate().unwrap();
    assert!(DataKey::new("", &material).is_err());
    assert!(DataKey::new("a\"b", &material).is_err());
    assert!(DataKey::new("x".repeat(65), &material).is_err());
    assert!(format!("{:?}", DataKey::new("dek-1", &material).unwrap()).contains("dek-1"));
}

fn bind(t: &(String, String, String)) -> RecordBinding<'_> {
    RecordBinding {
        kind: &t.0,
        row_id: &t.1,
        workspace_id: &t.2,
    }
}

fn binding_strategy() -> impl Strategy<Value = (String, String, String)> {
    ("[a-z._]{1,24}", "[0-9a-f-]{1,36}", "[0-9a-f-]{1,36}")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Flipping any single byte anywhere in the stored text never yields plaintext.
    #[test]
    fn any_flipped_byte_is_detected(
        plaintext in proptest::collection::vec(any::<u8>(), 0..300),
        position in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let k = key("dek-1");
        let mut bytes = seal(&k, ROW, &plaintext).unwrap().to_string().into_bytes();
        let i = position.index(bytes.len());
        bytes[i] ^= flip;
        if let Ok(text) = String::from_utf8(bytes) {
            prop_assert!(open(&k, ROW, &text).is_err(), "byte {} flipped and still opened", i);
        }
    }

    /// Flipping any bit of the decoded iv, ciphertext or tag is detected as tampering.
    #[test]
    fn any_flipped_bit_of_a_field_is_detected(
        plaintext in proptest::collection::vec(any::<u8>(), 1..300),
        field in 0usize..3,
        position in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let k = key("dek-1");
        let sealed = seal(&k, ROW, &plaintext).unwrap();
        let (mut iv, mut ct, mut tag) = (*sealed.iv(), sealed.ciphertext().to_vec(), *sealed.tag());
        match field {
            0 => iv[position.index(IV_LEN)] ^= 1 << bit,
            1 => { let i = position.index(ct.len()); ct[i] ^= 1 << bit }
            _ => tag[position.index(TAG_LEN)] ^= 1 << bit,
        }
        let altered = Envelope::from_parts("dek-1".into(), iv, ct, tag);
        prop_assert_eq!(altered.open(&k, ROW), Err(EnvelopeError::Tampered));
    }

    /// A ciphertext opens only for the exact record it was sealed for.
    #[test]
    fn only_the_sealing_record_opens(
        a in binding_strategy(),
        b in binding_strategy(),
        plaintext in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let k = key("dek-1");
        let text = seal(&k, bind(&a), &plaintext).unwrap().to_string();
        let result = open(&k, bind(&b), &text);
        if a == b {
            let opened = result.unwrap();
            prop_assert_eq!(opened.as_slice(), plaintext.as_slice());
        } else {
            prop_assert_eq!(result, Err(EnvelopeError::Tampered));
        }
    }

    /// The parser never panics, whatever it is given.
    #[test]
    fn parser_never_panics(text in ".{0,400}") {
        let _ = Envelope::parse(&text);
    }
}
