//! Bech32 (BIP 173) decoding, for age identities (`AGE-SECRET-KEY-1...`).

const CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
const GENERATOR: [u32; 5] = [
    0x3b6a_57b2,
    0x2650_8e6d,
    0x1ea1_19fa,
    0x3d42_33dd,
    0x2a14_62b3,
];

fn polymod(values: impl Iterator<Item = u8>) -> u32 {
    values.fold(1u32, |chk, v| {
        let top = chk >> 25;
        let mut chk = ((chk & 0x01ff_ffff) << 5) ^ u32::from(v);
        for (i, g) in GENERATOR.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                chk ^= g;
            }
        }
        chk
    })
}

/// Decode a Bech32 string into its human-readable part (lower case) and data bytes. Mixed case
/// and bad checksums are refused. (age identities are longer than BIP 173's 90 characters.)
pub fn decode(text: &str) -> Option<(String, Vec<u8>)> {
    if text.chars().any(|c| c.is_ascii_lowercase()) && text.chars().any(|c| c.is_ascii_uppercase())
    {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    let split = lower.rfind('1')?;
    let (hrp, rest) = (&lower[..split], &lower[split + 1..]);
    if hrp.is_empty() || rest.len() < 6 || !hrp.bytes().all(|b| (33..=126).contains(&b)) {
        return None;
    }
    let values: Vec<u8> = rest
        .bytes()
        .map(|c| CHARSET.iter().position(|x| *x == c).map(|p| p as u8))
        .collect::<Option<_>>()?;
    let expanded = hrp
        .bytes()
        .map(|b| b >> 5)
        .chain([0])
        .chain(hrp.bytes().map(|b| b & 31));
    if polymod(expanded.chain(values.iter().copied())) != 1 {
        return None;
    }
    let data = &values[..values.len() - 6];
    // 5-bit groups to bytes; leftover bits must be zero padding shorter than a byte.
    let (mut acc, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for v in data {
        acc = (acc << 5) | u32::from(*v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if bits >= 5 || acc != 0 {
        return None;
    }
    Some((hrp.to_string(), out))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Valid and invalid strings from BIP 173's test vectors.
    #[test]
    fn bip173_vectors() {
        assert_eq!(decode("A12UEL5L"), Some(("a".into(), vec![])));
        assert_eq!(decode("a12uel5l"), Some(("a".into(), vec![])));
        assert!(decode("abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw").is_some());
        assert!(decode("split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w").is_some());
        assert_eq!(
            decode("A1G7SGD8"),
            None,
            "checksum calculated with upper-case form"
        );
        assert_eq!(decode("a12UEL5L"), None, "mixed case");
        assert_eq!(decode("10a06t8"), None, "empty human-readable part");
        assert_eq!(decode("x1b4n0q5v"), None, "invalid character in data");
        assert_eq!(decode("li1dgmt3"), None, "checksum too short");
    }
}
