use super::*;

fn all() -> Scanner {
    Scanner::for_types(&["all_pii"], None).unwrap()
}

#[test]
fn each_recognizer_finds_its_kind() {
    let cases = [
        ("write to jane.doe+work@example.co.uk today", "email"),
        ("call +1 415-555-0132 now", "phone"),
        ("card 4111 1111 1111 1111 exp", "credit_card"),
        ("iban GB82 WEST 1234 5698 7654 32 ok", "iban"),
        ("ssn 123-45-6789.", "us_ssn"),
        ("nino AB 12 34 56 C", "uk_nino"),
        ("from 203.0.113.7 at", "ip_address"),
        ("v6 2001:db8:85a3::8a2e:370:7334 x", "ip_address"),
        ("key sk-proj-abcdefghijklmnopqrstuvwx123", "api_key"),
        ("gh ghp_abcdefghijklmnopqrstuvwxyz0123456789", "api_key"),
        ("aws AKIAIOSFODNN7EXAMPLE", "api_key"),
        (
            "tok eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "jwt",
        ),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
            "private_key",
        ),
    ];
    let scanner = all();
    for (text, id) in cases {
        assert_eq!(scanner.detect(text), vec![id], "{text}");
    }
}

#[test]
fn look_alikes_are_not_reported() {
    let scanner = all();
    for text in [
        "order 4111 1111 1111 1112 shipped", // fails Luhn
        "ref DE89370400440532013001",        // fails mod 97
        "id 666-12-3456",                    // never-issued SSN area
        "on 2024-01-15 we met",              // a date
        "version 999.1.2.3",                 // not an address
        "plain words, nothing to see",
    ] {
        assert!(
            scanner.detect(text).is_empty(),
            "{text}: {:?}",
            scanner.detect(text)
        );
    }
}

#[test]
fn redaction_replaces_and_counts() {
    let scanner = Scanner::for_types(&["contact", "financial"], None).unwrap();
    let (out, counts) =
        scanner.redact("a@b.io and c@d.io paid with 4111111111111111 from 10.0.0.1");
    assert_eq!(
        out,
        "[REDACTED:email] and [REDACTED:email] paid with [REDACTED:credit_card] from 10.0.0.1"
    );
    assert_eq!(counts.get("email"), Some(&2));
    assert_eq!(counts.get("credit_card"), Some(&1));
}

#[test]
fn custom_patterns_and_replacements() {
    let mut scanner = Scanner::default();
    scanner
        .add("custom", Some(r"PRJ-\d{4}"), Some("<project>"))
        .unwrap();
    let (out, counts) = scanner.redact("see PRJ-1234 and PRJ-99");
    assert_eq!(out, "see <project> and PRJ-99");
    assert_eq!(counts.get("custom"), Some(&1));
    assert_eq!(
        Scanner::default().add("custom", None, None),
        Err(ScannerError::CustomWithoutPattern)
    );
    assert!(matches!(
        Scanner::default().add("passport", None, None),
        Err(ScannerError::UnknownType(_))
    ));
}

#[test]
fn groups_expand() {
    assert_eq!(expand("identity").unwrap(), vec!["us_ssn", "uk_nino"]);
    assert_eq!(expand("all_pii").unwrap().len(), IDS.len());
}

proptest::proptest! {
    /// Redaction never leaves a finding behind and never panics on any text.
    #[test]
    fn redacted_text_has_nothing_left(text in "\\PC{0,200}") {
        let scanner = all();
        let (out, _) = scanner.redact(&text);
        let (again, counts) = scanner.redact(&out);
        proptest::prop_assert_eq!(again, out);
        proptest::prop_assert!(counts.is_empty());
    }

    /// A valid card number is found wherever it sits in text.
    #[test]
    fn cards_with_a_valid_check_digit_are_found(body in proptest::collection::vec(0u32..10, 15), prefix in "[a-z ]{0,10}") {
        let mut digits = vec![4u32];
        digits.extend(body);
        // Compute the Luhn check digit for the 16th position.
        let sum: u32 = digits.iter().rev().enumerate().map(|(i, &n)| if i % 2 == 0 { let d = n * 2; if d > 9 { d - 9 } else { d } } else { n }).sum();
        digits.push((10 - sum % 10) % 10);
        let number: String = digits.iter().map(|d| char::from_digit(*d, 10).unwrap()).collect();
        let text = format!("{prefix} {number} end");
        let scanner = Scanner::for_types(&["financial"], None).unwrap();
        proptest::prop_assert_eq!(scanner.detect(&text), vec!["credit_card"]);
    }
}
