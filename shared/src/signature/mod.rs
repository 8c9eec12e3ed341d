//! Webhook signatures (SPEC §3.1): a workflow's `trigger.signature` compiled once into a
//! [`Verifier`] (secrets resolved and decoded), which checks a call's raw body bytes and
//! headers before anything is parsed. Failures say only which of three things went wrong
//! ([`SignatureError`]): never what was expected.
//!
//! - [`spec`]: the configuration as written;
//! - [`headers`]: parsers of the providers' signature headers;
//! - [`embedded`]: the presets whose signature travels in the body (Adyen, T-Bank);
//! - [`mac`]: HMACs and constant-time comparison.

pub mod embedded;
pub mod headers;
pub mod mac;
pub mod spec;

use actix_web::http::header::HeaderMap;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::model::{Problem, MASK};
pub use spec::{env_reference, Algorithm, Encoding, Preset, SignatureSpec, DEFAULT_TOLERANCE};

/// Why a call's signature was refused (401 `signature_missing|expired|invalid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the request carries no readable signature")]
    Missing,
    #[error("the signature's timestamp is outside the accepted window")]
    Expired,
    #[error("the signature does not match")]
    Invalid,
}

impl SignatureError {
    pub fn code(self) -> &'static str {
        match self {
            SignatureError::Missing => "signature_missing",
            SignatureError::Expired => "signature_expired",
            SignatureError::Invalid => "signature_invalid",
        }
    }
}

/// Longest accepted tolerance: a day. A wider window makes replays easy.
pub const MAX_TOLERANCE: u64 = 86_400;
/// Most secrets one workflow may hold (rotation needs two or three).
pub const MAX_SECRETS: usize = 8;

/// The generic preset's settings.
#[derive(Debug, Clone)]
struct Generic {
    header: String,
    algorithm: Algorithm,
    encoding: Encoding,
    prefix: String,
    timestamp_header: Option<String>,
    payload: Vec<PayloadPart>,
}

/// A piece of the generic preset's signed payload.
#[derive(Debug, Clone, PartialEq)]
enum PayloadPart {
    Timestamp,
    Body,
    Text(String),
}

/// A workflow's signature check, ready to run.
#[derive(Clone)]
pub struct Verifier {
    preset: Preset,
    /// Decoded keys (T-Bank: passwords), any of which may match.
    keys: Vec<Vec<u8>>,
    tolerance: i64,
    generic: Option<Generic>,
    /// The headers never stored in `$context` ([`Verifier::signature_headers`]).
    unstored: Vec<String>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").field("preset", &self.preset).field("keys", &self.keys.len()).finish()
    }
}

const PATH: &str = "trigger.signature";

impl Verifier {
    /// Resolves and decodes the secrets (`{{$env.NAME}}` from `HOOKFLOW_VAR_NAME`) and checks
    /// the settings; every problem is reported with its path.
    pub fn compile(spec: &SignatureSpec) -> Result<Self, Vec<Problem>> {
        Self::build(spec, Masks::Refused)
    }

    /// The problems of settings about to be saved. A [`MASK`] in a secret's place stands for
    /// the secret stored there, restored after this check: it is not checked as a key.
    pub fn check(spec: &SignatureSpec) -> Vec<Problem> {
        Self::build(spec, Masks::StandForStored).err().unwrap_or_default()
    }

    fn build(spec: &SignatureSpec, masks: Masks) -> Result<Self, Vec<Problem>> {
        let mut problems = Vec::new();
        if spec.secrets.is_empty() {
            problems.push(Problem::new(format!("{PATH}.secrets"), "at least one secret is needed"));
        }
        if spec.secrets.len() > MAX_SECRETS {
            problems.push(Problem::new(format!("{PATH}.secrets"), format!("at most {MAX_SECRETS} secrets")));
        }
        let tolerance = spec.tolerance.unwrap_or(DEFAULT_TOLERANCE);
        if tolerance == 0 || tolerance > MAX_TOLERANCE {
            problems.push(Problem::new(
                format!("{PATH}.tolerance"),
                format!("must be between 1 and {MAX_TOLERANCE} seconds"),
            ));
        }
        if spec.tolerance.is_some() && !signs_time(spec) {
            problems.push(Problem::new(
                format!("{PATH}.tolerance"),
                format!("{} signs no timestamp, so a tolerance would not apply", spec.preset.as_str()),
            ));
        }
        let mut keys = Vec::new();
        for (i, secret) in spec.secrets.iter().enumerate() {
            if masks == Masks::StandForStored && secret == MASK {
                continue;
            }
            let path = format!("{PATH}.secrets[{i}]");
            match resolve_secret(secret).and_then(|text| decode_key(spec.preset, &text)) {
                Ok(key) => keys.push(key),
                Err(message) => problems.push(Problem::new(path, message)),
            }
        }
        let generic = check_generic(spec, &mut problems);
        if !problems.is_empty() {
            return Err(problems);
        }
        // Bounded by MAX_TOLERANCE above.
        let tolerance = i64::try_from(tolerance).unwrap_or(i64::MAX);
        let unstored = unstored_headers(spec.preset, generic.as_ref());
        Ok(Self { preset: spec.preset, keys, tolerance, generic, unstored })
    }

    /// The preset this verifier checks.
    pub fn preset(&self) -> Preset {
        self.preset
    }

    /// Whether the signature covers fields of a JSON body (Adyen, T-Bank) rather than its
    /// bytes: the body must then be read as JSON, whatever content type it declares.
    pub fn signs_json_fields(&self) -> bool {
        matches!(self.preset, Preset::Adyen | Preset::Tbank)
    }

    /// Headers that carry the signature: never stored in `$context`.
    pub fn signature_headers(&self) -> &[String] {
        &self.unstored
    }

    /// Checks a call: `Missing` (no readable signature), then `Expired` (timestamp outside
    /// the tolerance of `now`, Unix seconds), then `Invalid` (no secret gives the MAC sent).
    pub fn verify(&self, headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), SignatureError> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let sha256 = |parts: &[&[u8]], sent: &[Vec<u8>]| {
            self.keys.iter().any(|key| mac::any_matches(&mac::hmac(Algorithm::Sha256, key, parts), sent))
        };
        let verdict = |matched: bool| if matched { Ok(()) } else { Err(SignatureError::Invalid) };
        match self.preset {
            Preset::Stripe => {
                let (timestamp, sent) =
                    header("stripe-signature").and_then(headers::stripe).ok_or(SignatureError::Missing)?;
                self.check_time(timestamp, now)?;
                verdict(sha256(&[timestamp.to_string().as_bytes(), b".", body], &sent))
            }
            Preset::Github => {
                let sent = header("x-hub-signature-256")
                    .and_then(|v| headers::prefixed(v, "sha256=", Encoding::Hex))
                    .ok_or(SignatureError::Missing)?;
                verdict(sha256(&[body], &[sent]))
            }
            Preset::Shopify => {
                let sent = header("x-shopify-hmac-sha256")
                    .and_then(|v| headers::prefixed(v, "", Encoding::Base64))
                    .ok_or(SignatureError::Missing)?;
                verdict(sha256(&[body], &[sent]))
            }
            Preset::StandardWebhooks => {
                let prefix = if headers.contains_key("webhook-signature") { "webhook" } else { "svix" };
                let named = |suffix: &str| header(&format!("{prefix}-{suffix}"));
                let (Some(id), Some(timestamp), Some(signatures)) =
                    (named("id"), named("timestamp"), named("signature"))
                else {
                    return Err(SignatureError::Missing);
                };
                let timestamp = headers::unix_seconds(timestamp).ok_or(SignatureError::Missing)?;
                let sent = headers::standard_webhooks(signatures);
                if sent.is_empty() {
                    return Err(SignatureError::Missing);
                }
                self.check_time(timestamp, now)?;
                let timestamp = timestamp.to_string();
                let signed = [id.as_bytes(), b".", timestamp.as_bytes(), b".", body];
                verdict(sha256(&signed, &sent))
            }
            Preset::Slack => {
                let sent =
                    header("x-slack-signature").and_then(|v| headers::prefixed(v, "v0=", Encoding::Hex));
                let timestamp = header("x-slack-request-timestamp").and_then(headers::unix_seconds);
                let (Some(sent), Some(timestamp)) = (sent, timestamp) else {
                    return Err(SignatureError::Missing);
                };
                self.check_time(timestamp, now)?;
                verdict(sha256(&[b"v0:", timestamp.to_string().as_bytes(), b":", body], &[sent]))
            }
            Preset::Cloudpayments => {
                let raw = header("content-hmac").and_then(|v| headers::prefixed(v, "", Encoding::Base64));
                let decoded =
                    header("x-content-hmac").and_then(|v| headers::prefixed(v, "", Encoding::Base64));
                // The MAC over the bytes as sent wins when both come: the decoded form lets a
                // captured call be re-cut into other fields.
                match (raw, decoded) {
                    (Some(sent), _) => verdict(sha256(&[body], &[sent])),
                    (None, Some(sent)) => verdict(sha256(&[&embedded::url_decoded(body)], &[sent])),
                    (None, None) => Err(SignatureError::Missing),
                }
            }
            Preset::Adyen => embedded::adyen(body, &self.keys),
            Preset::Tbank => embedded::tbank(body, &self.keys),
            Preset::Hmac => self.verify_generic(&header, body, now),
        }
    }

    fn verify_generic<'h>(
        &self,
        header: &impl Fn(&str) -> Option<&'h str>,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignatureError> {
        let Some(generic) = &self.generic else { return Err(SignatureError::Invalid) };
        let sent = header(&generic.header)
            .and_then(|v| headers::prefixed(v, &generic.prefix, generic.encoding))
            .ok_or(SignatureError::Missing)?;
        let timestamp = match &generic.timestamp_header {
            Some(name) => {
                let timestamp =
                    header(name).and_then(headers::unix_seconds).ok_or(SignatureError::Missing)?;
                self.check_time(timestamp, now)?;
                Some(timestamp.to_string())
            }
            None => None,
        };
        let parts: Vec<&[u8]> = generic
            .payload
            .iter()
            .map(|part| match part {
                PayloadPart::Timestamp => timestamp.as_deref().unwrap_or_default().as_bytes(),
                PayloadPart::Body => body,
                PayloadPart::Text(text) => text.as_bytes(),
            })
            .collect();
        let matched = self.keys.iter().any(|key| {
            mac::any_matches(&mac::hmac(generic.algorithm, key, &parts), std::slice::from_ref(&sent))
        });
        if matched {
            Ok(())
        } else {
            Err(SignatureError::Invalid)
        }
    }

    fn check_time(&self, timestamp: i64, now: i64) -> Result<(), SignatureError> {
        if now.abs_diff(timestamp) > self.tolerance.unsigned_abs() {
            Err(SignatureError::Expired)
        } else {
            Ok(())
        }
    }
}

/// A secret's text: the literal, or the `HOOKFLOW_VAR_*` variable it names. Never empty: an
/// empty key would let anyone compute a valid signature.
fn resolve_secret(secret: &str) -> Result<String, String> {
    if secret == MASK {
        return Err(format!("{MASK:?} stands for a stored secret, and none is stored here"));
    }
    let text = if let Some(name) = env_reference(secret) {
        crate::template::env_var(name).map(str::to_owned).ok_or_else(|| {
            format!("{{{{$env.{name}}}}} needs the environment variable HOOKFLOW_VAR_{name}")
        })?
    } else if secret.contains("{{") {
        return Err("a secret is a literal or exactly {{$env.NAME}}".into());
    } else {
        secret.to_owned()
    };
    if text.trim().is_empty() {
        return Err(match env_reference(secret) {
            Some(name) => format!("HOOKFLOW_VAR_{name} is empty"),
            None => "must not be empty".into(),
        });
    }
    Ok(text)
}

/// Headers that carry a preset's signature (listed once, at compile time).
fn unstored_headers(preset: Preset, generic: Option<&Generic>) -> Vec<String> {
    let fixed: &[&str] = match preset {
        Preset::Stripe => &["stripe-signature"],
        Preset::Github => &["x-hub-signature-256", "x-hub-signature"],
        Preset::Shopify => &["x-shopify-hmac-sha256"],
        Preset::StandardWebhooks => &["webhook-signature", "svix-signature"],
        Preset::Slack => &["x-slack-signature"],
        Preset::Cloudpayments => &["content-hmac", "x-content-hmac"],
        Preset::Adyen | Preset::Tbank => &[],
        Preset::Hmac => return generic.map(|g| vec![g.header.clone()]).unwrap_or_default(),
    };
    fixed.iter().map(|name| (*name).to_owned()).collect()
}

/// How [`MASK`] in a secret's place is taken.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Masks {
    /// Compiling for use: a mask is no secret (it was restored on save, so it cannot be here).
    Refused,
    /// Checking a save: a mask stands for the secret stored at its position.
    StandForStored,
}

/// Whether the preset signs a timestamp, so that `tolerance` means something.
fn signs_time(spec: &SignatureSpec) -> bool {
    match spec.preset {
        Preset::Stripe | Preset::StandardWebhooks | Preset::Slack => true,
        Preset::Hmac => spec.timestamp_header.is_some(),
        Preset::Github | Preset::Shopify | Preset::Cloudpayments | Preset::Adyen | Preset::Tbank => false,
    }
}

/// The key bytes each preset signs with; never empty.
fn decode_key(preset: Preset, secret: &str) -> Result<Vec<u8>, String> {
    let key = match preset {
        Preset::StandardWebhooks => {
            let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
            STANDARD
                .decode(encoded)
                .map_err(|_| "a Standard Webhooks secret is base64 (after whsec_)".to_owned())?
        }
        Preset::Adyen => {
            hex::decode(secret.trim()).map_err(|_| "an Adyen HMAC key is hexadecimal".to_owned())?
        }
        _ => secret.as_bytes().to_vec(),
    };
    if key.is_empty() {
        return Err("the key is empty".into());
    }
    Ok(key)
}

/// Checks the generic preset's fields (required for `hmac`, refused for the others).
fn check_generic(spec: &SignatureSpec, problems: &mut Vec<Problem>) -> Option<Generic> {
    let given = [
        ("header", spec.header.is_some()),
        ("algorithm", spec.algorithm.is_some()),
        ("encoding", spec.encoding.is_some()),
        ("prefix", spec.prefix.is_some()),
        ("timestampHeader", spec.timestamp_header.is_some()),
        ("payload", spec.payload.is_some()),
    ];
    if spec.preset != Preset::Hmac {
        for (field, _) in given.iter().filter(|(_, set)| *set) {
            problems.push(Problem::new(
                format!("{PATH}.{field}"),
                format!("only the hmac preset takes {field}; {} fixes it", spec.preset.as_str()),
            ));
        }
        return None;
    }
    let mut missing =
        |field: &str| problems.push(Problem::new(format!("{PATH}.{field}"), "the hmac preset needs it"));
    let header = spec.header.as_deref().map(str::to_ascii_lowercase);
    if header.is_none() {
        missing("header");
    }
    if spec.algorithm.is_none() {
        missing("algorithm");
    }
    if spec.encoding.is_none() {
        missing("encoding");
    }
    for (field, name) in [("header", &header), ("timestampHeader", &spec.timestamp_header)] {
        if let Some(name) = name {
            if !crate::model::is_valid_header_name(name) {
                problems
                    .push(Problem::new(format!("{PATH}.{field}"), format!("not a header name: {name:?}")));
            }
        }
    }
    let payload = match parse_payload(spec.payload.as_deref().unwrap_or("{body}")) {
        Ok(payload) => payload,
        Err(message) => {
            problems.push(Problem::new(format!("{PATH}.payload"), message));
            Vec::new()
        }
    };
    if payload.contains(&PayloadPart::Timestamp) && spec.timestamp_header.is_none() {
        problems.push(Problem::new(format!("{PATH}.payload"), "{timestamp} needs timestampHeader"));
    }
    // A timestamp that is checked but not signed can be replaced by a replayer.
    if spec.timestamp_header.is_some() && !payload.is_empty() && !payload.contains(&PayloadPart::Timestamp) {
        problems.push(Problem::new(
            format!("{PATH}.payload"),
            "with timestampHeader the payload must sign {timestamp}",
        ));
    }
    Some(Generic {
        header: header?,
        algorithm: spec.algorithm?,
        encoding: spec.encoding?,
        prefix: spec.prefix.clone().unwrap_or_default(),
        timestamp_header: spec.timestamp_header.as_deref().map(str::to_ascii_lowercase),
        payload,
    })
}

/// `{timestamp}` and `{body}` between literal text; any other `{…}` is a mistake.
fn parse_payload(template: &str) -> Result<Vec<PayloadPart>, String> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        if start > 0 {
            parts.push(PayloadPart::Text(rest[..start].to_owned()));
        }
        let after = &rest[start..];
        if let Some(tail) = after.strip_prefix("{timestamp}") {
            parts.push(PayloadPart::Timestamp);
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("{body}") {
            parts.push(PayloadPart::Body);
            rest = tail;
        } else {
            return Err("only {timestamp} and {body} may appear in braces".into());
        }
    }
    if !rest.is_empty() {
        parts.push(PayloadPart::Text(rest.to_owned()));
    }
    if !parts.contains(&PayloadPart::Body) {
        return Err("the payload must contain {body}".into());
    }
    Ok(parts)
}
