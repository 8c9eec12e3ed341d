//! `trigger.signature` as users write it (SPEC §3.1): a preset, its secrets, the timestamp
//! tolerance, and for the generic `hmac` preset where the MAC is and how it is made.

use serde::{Deserialize, Serialize};

/// How a provider signs its calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    Stripe,
    Github,
    Shopify,
    StandardWebhooks,
    Slack,
    Cloudpayments,
    Adyen,
    Tbank,
    Hmac,
}

impl Preset {
    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Stripe => "stripe",
            Preset::Github => "github",
            Preset::Shopify => "shopify",
            Preset::StandardWebhooks => "standard-webhooks",
            Preset::Slack => "slack",
            Preset::Cloudpayments => "cloudpayments",
            Preset::Adyen => "adyen",
            Preset::Tbank => "tbank",
            Preset::Hmac => "hmac",
        }
    }
}

/// The hash of the generic preset's HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

/// How the generic preset's MAC is written in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Hex,
    Base64,
}

/// Seconds a signed timestamp may be off, either way, by default.
pub const DEFAULT_TOLERANCE: u64 = 300;

/// `trigger.signature`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignatureSpec {
    pub preset: Preset,
    /// Literals or `{{$env.NAME}}` references; any one may match (rotation).
    pub secrets: Vec<String>,
    /// Seconds a signed timestamp may be off either way ([`DEFAULT_TOLERANCE`] when absent);
    /// only for presets that sign one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<u64>,
    /// Generic preset: the header holding the MAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<Algorithm>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
    /// Generic preset: text before the MAC in its header (`sha256=`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Generic preset: a header with the Unix time of signing, checked against `tolerance`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_header: Option<String>,
    /// Generic preset: what is signed, over `{timestamp}` and `{body}` (default `{body}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
}

impl std::fmt::Debug for SignatureSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignatureSpec")
            .field("preset", &self.preset)
            .field("secrets", &self.secrets.len())
            .field("tolerance", &self.tolerance)
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

/// A secret written as `{{$env.NAME}}`: the name, without the braces.
pub fn env_reference(secret: &str) -> Option<&str> {
    let inner = secret.trim().strip_prefix("{{")?.strip_suffix("}}")?.trim();
    let name = inner.strip_prefix("$env.")?;
    (!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')).then_some(name)
}
