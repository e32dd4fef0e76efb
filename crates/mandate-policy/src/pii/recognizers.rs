//! The built-in recognizers: a regex that finds candidates and, where the format has one, a
//! check that throws out look-alikes (Luhn for cards, mod-97 for IBANs, the issuing rules for
//! SSNs and NINOs, a real parse for IP addresses, a digit count for phone numbers).

use std::net::{Ipv4Addr, Ipv6Addr};

/// The recognizer ids, most specific first: when two findings overlap, the earlier id wins.
pub const IDS: &[&str] = &[
    "private_key",
    "jwt",
    "api_key",
    "email",
    "iban",
    "credit_card",
    "us_ssn",
    "uk_nino",
    "ip_address",
    "phone",
];

/// Groups usable wherever a recognizer id is.
pub const GROUPS: &[(&str, &[&str])] = &[
    ("all_pii", IDS),
    ("financial", &["credit_card", "iban"]),
    ("identity", &["us_ssn", "uk_nino"]),
    ("contact", &["email", "phone"]),
    ("secrets", &["api_key", "jwt", "private_key"]),
];

/// The regex of a built-in recognizer.
pub fn pattern(id: &str) -> Option<&'static str> {
    Some(match id {
        "private_key" => {
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----"
        }
        "jwt" => r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",
        "api_key" => concat!(
            r"\b(?:sk-(?:proj-|ant-(?:api\d\d-)?)?[A-Za-z0-9_-]{20,}",
            r"|[rs]k_(?:live|test)_[A-Za-z0-9]{16,}",
            r"|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,}",
            r"|xox[abposr]-[A-Za-z0-9-]{10,}",
            r"|(?:AKIA|ASIA)[0-9A-Z]{16}",
            r"|AIza[0-9A-Za-z_-]{35}",
            r"|glpat-[A-Za-z0-9_-]{20,}",
            r"|mandate_[a-z]{2,4}_[A-Za-z0-9]{40,})"
        ),
        "email" => r"(?i)\b[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b",
        "iban" => r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b",
        "credit_card" => r"\b\d(?:[ -]?\d){12,18}\b",
        "us_ssn" => r"\b\d{3}-\d{2}-\d{4}\b",
        "uk_nino" => r"(?i)\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b",
        "ip_address" => {
            r"(?i)\b(?:\d{1,3}\.){3}\d{1,3}\b|(?:\b[0-9a-f]{1,4}|)(?::[0-9a-f]{0,4}){2,7}\b"
        }
        "phone" => {
            r"(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,4}){1,4}\b|\+\d{8,15}\b"
        }
        _ => return None,
    })
}

/// Whether a candidate found by the regex of `id` is the real thing.
pub fn is_valid(id: &str, candidate: &str) -> bool {
    match id {
        "credit_card" => luhn(candidate),
        "iban" => iban_checksum(candidate),
        "us_ssn" => ssn_issuable(candidate),
        "uk_nino" => nino_issuable(candidate),
        "ip_address" => ip_address(candidate),
        "phone" => phone(candidate),
        _ => true,
    }
}

fn digits(s: &str) -> Vec<u32> {
    s.chars().filter_map(|c| c.to_digit(10)).collect()
}

pub fn luhn(candidate: &str) -> bool {
    let d = digits(candidate);
    if !(13..=19).contains(&d.len()) {
        return false;
    }
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &n)| {
            if i % 2 == 1 {
                let doubled = n * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                n
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// ISO 13616: move the first four characters to the end, letters to numbers, mod 97 = 1.
pub fn iban_checksum(candidate: &str) -> bool {
    let compact: String = candidate.chars().filter(|c| *c != ' ').collect();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut remainder: u32 = 0;
    for c in tail.chars().chain(head.chars()) {
        let value = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'A'..='Z' => c as u32 - 'A' as u32 + 10,
            _ => return false,
        };
        remainder = if value >= 10 {
            (remainder * 100 + value) % 97
        } else {
            (remainder * 10 + value) % 97
        };
    }
    remainder == 1
}

/// Area 000, 666 and 900-999, group 00 and serial 0000 are never issued.
fn ssn_issuable(candidate: &str) -> bool {
    let parts: Vec<&str> = candidate.split('-').collect();
    let [area, group, serial] = parts.as_slice() else {
        return false;
    };
    *area != "000"
        && *area != "666"
        && !area.starts_with('9')
        && *group != "00"
        && *serial != "0000"
}

/// Prefixes BG, GB, KN, NK, NT, TN and ZZ are never issued.
fn nino_issuable(candidate: &str) -> bool {
    let prefix: String = candidate.chars().take(2).collect::<String>().to_uppercase();
    !["BG", "GB", "KN", "NK", "NT", "TN", "ZZ"].contains(&prefix.as_str())
}

fn ip_address(candidate: &str) -> bool {
    candidate.parse::<Ipv4Addr>().is_ok()
        || (candidate.contains("::") || candidate.matches(':').count() == 7)
            && candidate.parse::<Ipv6Addr>().is_ok()
}

/// 8 to 15 digits (E.164), and not a date, an SSN-shaped number or a dotted quad.
fn phone(candidate: &str) -> bool {
    let count = digits(candidate).len();
    if !(8..=15).contains(&count) {
        return false;
    }
    let looks_like_date = candidate.len() == 10
        && candidate.as_bytes().get(4) == Some(&b'-')
        && candidate.as_bytes().get(7) == Some(&b'-');
    let ssn_shaped = candidate.len() == 11
        && candidate.as_bytes().get(3) == Some(&b'-')
        && candidate.as_bytes().get(6) == Some(&b'-');
    !looks_like_date && !ssn_shaped && candidate.parse::<Ipv4Addr>().is_err()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums() {
        assert!(luhn("4111 1111 1111 1111"));
        assert!(luhn("5500-0000-0000-0004"));
        assert!(!luhn("4111 1111 1111 1112"));
        assert!(iban_checksum("GB82 WEST 1234 5698 7654 32"));
        assert!(iban_checksum("DE89370400440532013000"));
        assert!(!iban_checksum("DE89370400440532013001"));
        assert!(ssn_issuable("123-45-6789"));
        assert!(!ssn_issuable("666-45-6789"));
        assert!(!ssn_issuable("123-00-6789"));
        assert!(nino_issuable("AB123456C"));
        assert!(!nino_issuable("GB123456C"));
        assert!(phone("+33 6 12 34 56 78") || phone("+33 612 345 678"));
        assert!(!phone("2024-01-15"));
        assert!(ip_address("10.1.2.3") && ip_address("2001:db8::1") && !ip_address("999.1.1.1"));
    }

    #[test]
    fn every_id_has_a_pattern_and_groups_name_known_ids() {
        for id in IDS {
            assert!(pattern(id).is_some(), "{id}");
        }
        for (_, members) in GROUPS {
            for m in *members {
                assert!(IDS.contains(m), "{m}");
            }
        }
    }
}
