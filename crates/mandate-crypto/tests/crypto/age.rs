//! age decryption against files written by the real `age` command (Debian package `age`, which
//! scripts/test installs): interop, chunk boundaries of the STREAM payload, armor, several
//! recipients, and every kind of alteration.

use std::path::Path;

use mandate_crypto::age::{self, AgeError};
use mandate_testkit::TempDir;
use mandate_testkit::age as age_cli;

fn encrypt(dir: &Path, plaintext: &[u8], args: &[&str]) -> Vec<u8> {
    age_cli::encrypt(args, plaintext, &dir.join("sealed.age"))
}

fn identities(path: &Path) -> Vec<age::Identity> {
    age::parse_identities(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn opens_what_age_wrote_at_every_chunk_boundary() {
    let dir = TempDir::new("age");
    let (id, recipient) = age_cli::keygen(dir.path(), "id.txt");
    for len in [0usize, 1, 64, 65_535, 65_536, 65_537, 200_000] {
        let plaintext: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        for armor in [false, true] {
            let mut args = vec!["-r", recipient.as_str()];
            if armor {
                args.push("-a");
            }
            let sealed = encrypt(dir.path(), &plaintext, &args);
            let opened = age::decrypt(&sealed, &identities(&id)).unwrap();
            assert_eq!(
                opened.as_slice(),
                plaintext.as_slice(),
                "len {len}, armor {armor}"
            );
        }
    }
}

#[test]
fn finds_its_stanza_among_several_recipients() {
    let dir = TempDir::new("age");
    let (_, other) = age_cli::keygen(dir.path(), "other.txt");
    let (id, mine) = age_cli::keygen(dir.path(), "mine.txt");
    let sealed = encrypt(dir.path(), b"kek", &["-r", &other, "-r", &mine]);
    assert_eq!(
        age::decrypt(&sealed, &identities(&id)).unwrap().as_slice(),
        b"kek"
    );
}

#[test]
fn alterations_and_strangers_are_refused() {
    let dir = TempDir::new("age");
    let (id, recipient) = age_cli::keygen(dir.path(), "id.txt");
    let (stranger, _) = age_cli::keygen(dir.path(), "stranger.txt");
    let sealed = encrypt(dir.path(), &[7u8; 100_000], &["-r", &recipient]);
    let ids = identities(&id);
    assert!(age::decrypt(&sealed, &ids).is_ok());

    assert_eq!(
        age::decrypt(&sealed, &identities(&stranger)).err(),
        Some(AgeError::NoMatchingIdentity)
    );

    let header_end = sealed.windows(4).position(|w| w == b"--- ").unwrap();
    // A changed stanza argument: the file key no longer unwraps for this identity.
    let mut in_stanza = sealed.clone();
    in_stanza[30] ^= 0x01;
    assert!(age::decrypt(&in_stanza, &ids).is_err());
    // A changed MAC.
    let mut in_mac = sealed.clone();
    in_mac[header_end + 6] = if in_mac[header_end + 6] == b'A' {
        b'B'
    } else {
        b'A'
    };
    assert_eq!(age::decrypt(&in_mac, &ids).err(), Some(AgeError::HeaderMac));
    // A changed payload byte, and a payload cut at a chunk boundary.
    let mut in_payload = sealed.clone();
    let last = in_payload.len() - 10;
    in_payload[last] ^= 0x80;
    assert_eq!(
        age::decrypt(&in_payload, &ids).err(),
        Some(AgeError::Payload)
    );
    let payload_start = sealed[header_end..]
        .iter()
        .position(|b| *b == b'\n')
        .unwrap()
        + header_end
        + 1;
    let cut = &sealed[..payload_start + 16 + 65_536 + 16];
    assert_eq!(age::decrypt(cut, &ids).err(), Some(AgeError::Payload));
    assert!(matches!(
        age::decrypt(b"not age", &ids),
        Err(AgeError::Format(_))
    ));
}

#[test]
fn passphrase_files_and_bad_identity_files_are_named() {
    assert!(matches!(
        age::parse_identities("# nothing\n"),
        Err(AgeError::Identity(_))
    ));
    assert!(matches!(
        age::parse_identities("AGE-SECRET-KEY-1QQQQ"),
        Err(AgeError::Identity(_))
    ));
    // A recipient (public key) is not an identity.
    let dir = TempDir::new("age");
    let (_, recipient) = age_cli::keygen(dir.path(), "id.txt");
    assert!(matches!(
        age::parse_identities(&recipient),
        Err(AgeError::Identity(_))
    ));
}
