//! HMACs (RustCrypto `hmac` over `sha1`/`sha2`) and the constant-time comparison of what a
//! caller sent with what the secret gives.

use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

use super::spec::Algorithm;

/// The HMAC of the concatenated `parts` under `key`.
pub fn hmac(algorithm: Algorithm, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        // HMAC takes keys of any length, so this cannot fail.
        let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key).expect("HMAC accepts any key length");
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().to_vec()
    }
    match algorithm {
        Algorithm::Sha1 => run::<Hmac<sha1::Sha1>>(key, parts),
        Algorithm::Sha256 => run::<Hmac<sha2::Sha256>>(key, parts),
        Algorithm::Sha512 => run::<Hmac<sha2::Sha512>>(key, parts),
    }
}

/// Whether any candidate equals `expected`, each compared in constant time (a length
/// mismatch is no secret: every MAC of one algorithm has the same length).
pub fn any_matches(expected: &[u8], candidates: &[Vec<u8>]) -> bool {
    let mut found = subtle::Choice::from(0);
    for candidate in candidates {
        found |= expected.ct_eq(candidate);
    }
    found.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let mac = hmac(Algorithm::Sha256, b"Jefe", &[b"what do ya ", b"want for nothing?"]);
        assert_eq!(hex::encode(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        let mac = hmac(Algorithm::Sha512, b"Jefe", &[b"what do ya want for nothing?"]);
        assert!(
            hex::encode(mac).starts_with("164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554")
        );
        // RFC 2202 test case 2 (HMAC-SHA1).
        let mac = hmac(Algorithm::Sha1, b"Jefe", &[b"what do ya want for nothing?"]);
        assert_eq!(hex::encode(mac), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    }

    #[test]
    fn comparison() {
        assert!(any_matches(b"abc", &[b"x".to_vec(), b"abc".to_vec()]));
        assert!(!any_matches(b"abc", &[b"abd".to_vec(), b"ab".to_vec()]));
        assert!(!any_matches(b"abc", &[]));
    }
}
