//! Typed configuration: the commented defaults file (`config.default.toml`) overlaid by
//! `HOOKFLOW_*` environment variables, parsed once and validated at start-up.
//!
//! Nothing else in Hookflow reads the environment for settings; `$env` template variables are
//! the one exception and live in [`crate::template`].

use std::net::SocketAddr;
use std::time::Duration;

use figment::providers::{Format, Toml};
use figment::Figment;
use ipnet::IpNet;
use serde::Deserialize;

/// The defaults, shipped inside the binary so a bare `ingress` starts with no file around.
pub const DEFAULTS: &str = include_str!("config.default.toml");

/// Keys read from the environment. Listed so that unrelated `HOOKFLOW_*` variables (for
/// example `HOOKFLOW_VAR_*`, exposed to templates) are never mistaken for settings.
const KEYS: &[&str] = &[
    "listen",
    "public_url",
    "database_url",
    "amqp_url",
    "redis_url",
    "namespace",
    "admin_token",
    "internal_key",
    "workflows_dir",
    "sync_timeout_ms",
    "max_body_bytes",
    "max_inflight",
    "body_timeout_ms",
    "max_connections",
    "body_memory_bytes",
    "queue_memory_bytes",
    "worker_concurrency",
    "metrics_listen",
    "record_executions",
    "execution_retention",
    "trusted_proxies",
    "log",
    "log_format",
    "otlp_endpoint",
];

/// Shortest accepted `HOOKFLOW_ADMIN_TOKEN`.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 16;
/// Shortest accepted `HOOKFLOW_INTERNAL_KEY`: about 190 bits even for a key of letters and
/// digits, so the MAC key cannot be found by trying.
pub const MIN_INTERNAL_KEY_CHARS: usize = 32;

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("configuration: {key}: {message}")]
    Invalid { key: &'static str, message: String },
}

/// Which executions are written to the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordExecutions {
    All,
    Failed,
    None,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The raw shape of the file and environment, before parsing into domain types.
#[derive(Debug, Deserialize)]
struct RawConfig {
    listen: String,
    public_url: String,
    database_url: String,
    amqp_url: String,
    redis_url: String,
    namespace: String,
    admin_token: String,
    /// Commented out in the defaults file: a secret has no default.
    #[serde(default)]
    internal_key: String,
    workflows_dir: String,
    sync_timeout_ms: u64,
    max_body_bytes: usize,
    max_inflight: usize,
    body_timeout_ms: u64,
    max_connections: usize,
    body_memory_bytes: usize,
    queue_memory_bytes: usize,
    worker_concurrency: usize,
    metrics_listen: String,
    record_executions: RecordExecutions,
    execution_retention: String,
    trusted_proxies: String,
    log: String,
    log_format: LogFormat,
    otlp_endpoint: String,
}

/// Hookflow's settings, validated.
#[derive(Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Base of webhook URLs, without a trailing slash.
    pub public_url: String,
    pub database_url: String,
    pub amqp_url: Option<String>,
    pub redis_url: Option<String>,
    /// Prefix of queue names and Redis channels.
    pub namespace: String,
    /// Never printed: see the `Debug` implementation.
    pub admin_token: Option<String>,
    /// The key the MACs on queue envelopes and reply messages derive from (distributed mode).
    /// Never printed.
    pub internal_key: Option<String>,
    pub workflows_dir: Option<std::path::PathBuf>,
    pub sync_timeout: Duration,
    pub max_body_bytes: usize,
    /// Webhook requests handled at once (sync callers held included).
    pub max_inflight: usize,
    /// Longest time to receive a request body.
    pub body_timeout: Duration,
    pub max_connections: usize,
    /// Estimated memory of bodies being received and parsed at once.
    pub body_memory_bytes: usize,
    /// Estimated memory of the executions in embedded mode's queue.
    pub queue_memory_bytes: usize,
    pub worker_concurrency: usize,
    pub metrics_listen: SocketAddr,
    pub record_executions: RecordExecutions,
    pub execution_retention: Duration,
    pub trusted_proxies: Vec<IpNet>,
    pub log: String,
    pub log_format: LogFormat,
    /// Where OpenTelemetry traces go (OTLP over HTTP); `None`: no traces.
    pub otlp_endpoint: Option<String>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("database_url", &redact_url(&self.database_url))
            .field("amqp_url", &self.amqp_url.as_deref().map(redact_url))
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("namespace", &self.namespace)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "<set>"))
            .field("internal_key", &self.internal_key.as_ref().map(|_| "<set>"))
            .field("workflows_dir", &self.workflows_dir)
            .field("sync_timeout", &self.sync_timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_inflight", &self.max_inflight)
            .field("body_timeout", &self.body_timeout)
            .field("max_connections", &self.max_connections)
            .field("body_memory_bytes", &self.body_memory_bytes)
            .field("queue_memory_bytes", &self.queue_memory_bytes)
            .field("worker_concurrency", &self.worker_concurrency)
            .field("record_executions", &self.record_executions)
            .field("execution_retention", &self.execution_retention)
            .field("otlp_endpoint", &self.otlp_endpoint.as_deref().map(redact_url))
            .finish_non_exhaustive()
    }
}

/// Hides the password of a `scheme://user:password@host` URL.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

impl Config {
    /// Defaults overlaid by the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let vars: Vec<(String, String)> = std::env::vars()
            .filter_map(|(name, value)| {
                let key = name.strip_prefix("HOOKFLOW_")?.to_ascii_lowercase();
                KEYS.contains(&key.as_str()).then_some((key, value))
            })
            .collect();
        Self::from_pairs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// Defaults overlaid by the given `(key, value)` text pairs only; the environment is not read.
    /// Tests use this to run many differently configured instances in one process.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULTS));
        for (key, value) in pairs {
            figment = figment.merge((key, value));
        }
        Self::from_figment(figment)
    }

    fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        // Values given as text (environment) are read leniently so "250" fills a number field,
        // while text fields keep exactly what was given (a token "0123" stays "0123").
        let raw: RawConfig = figment.extract_lossy().map_err(Box::new)?;
        raw.try_into()
    }

    /// Whether this process runs everything itself (no broker configured).
    pub fn is_embedded(&self) -> bool {
        self.amqp_url.is_none()
    }
}

/// Memory this process may use: its cgroup's limit when one is set, else the machine's.
fn memory_limit() -> u64 {
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok());
    let machine = std::fs::read_to_string("/proc/meminfo").ok().and_then(|text| {
        let line = text.lines().find(|line| line.starts_with("MemTotal:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    });
    match (cgroup, machine) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b).unwrap_or(1 << 30),
    }
}

/// `HOOKFLOW_MAX_INFLIGHT` when unset: a held request costs little besides its body (which
/// `body_memory_bytes` bounds), so a quarter of memory at 256 KiB a request, within 256-16384.
fn inflight_for_memory(bytes: u64) -> usize {
    let count = bytes / 4 / (256 * 1024);
    usize::try_from(count).unwrap_or(usize::MAX).clamp(256, 16_384)
}

fn non_empty(value: String) -> Option<String> {
    let trimmed = value.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key, message: message.into() }
}

impl TryFrom<RawConfig> for Config {
    type Error = ConfigError;

    fn try_from(raw: RawConfig) -> Result<Self, ConfigError> {
        let listen: SocketAddr =
            raw.listen.parse().map_err(|e| invalid("HOOKFLOW_LISTEN", format!("{e}: {:?}", raw.listen)))?;
        let metrics_listen: SocketAddr = raw
            .metrics_listen
            .parse()
            .map_err(|e| invalid("HOOKFLOW_METRICS_LISTEN", format!("{e}: {:?}", raw.metrics_listen)))?;
        let public_url = non_empty(raw.public_url)
            .map(|url| url.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| format!("http://{listen}"));
        if raw.sync_timeout_ms == 0 {
            return Err(invalid("HOOKFLOW_SYNC_TIMEOUT_MS", "must be at least 1"));
        }
        if raw.max_body_bytes == 0 {
            return Err(invalid("HOOKFLOW_MAX_BODY_BYTES", "must be at least 1"));
        }
        if raw.body_timeout_ms == 0 {
            return Err(invalid("HOOKFLOW_BODY_TIMEOUT_MS", "must be at least 1"));
        }
        if raw.max_connections == 0 {
            return Err(invalid("HOOKFLOW_MAX_CONNECTIONS", "must be at least 1"));
        }
        // A budget smaller than one largest body would refuse every large request.
        if raw.body_memory_bytes < raw.max_body_bytes.saturating_mul(2) {
            return Err(invalid(
                "HOOKFLOW_BODY_MEMORY_BYTES",
                "must be at least twice HOOKFLOW_MAX_BODY_BYTES",
            ));
        }
        if raw.queue_memory_bytes < 1024 * 1024 {
            return Err(invalid("HOOKFLOW_QUEUE_MEMORY_BYTES", "must be at least 1048576"));
        }
        if raw.worker_concurrency == 0 || raw.worker_concurrency > u16::MAX as usize {
            return Err(invalid("HOOKFLOW_WORKER_CONCURRENCY", "must be between 1 and 65535"));
        }
        let execution_retention = humantime::parse_duration(raw.execution_retention.trim())
            .map_err(|e| invalid("HOOKFLOW_EXECUTION_RETENTION", e.to_string()))?;
        let trusted_proxies = raw
            .trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                // As allow-lists read them: an IPv4-mapped form counts as IPv4, like peers do.
                crate::client_ip::parse_network(s)
                    .ok_or_else(|| invalid("HOOKFLOW_TRUSTED_PROXIES", format!("not a CIDR: {s:?}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let namespace = raw.namespace.trim().to_owned();
        if namespace.is_empty()
            || namespace.len() > 64
            || !namespace.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        {
            return Err(invalid("HOOKFLOW_NAMESPACE", "1-64 letters, digits, '_', '-' or '.'"));
        }
        let otlp_endpoint = non_empty(raw.otlp_endpoint);
        if let Some(endpoint) = &otlp_endpoint {
            let scheme_ok = endpoint.starts_with("http://") || endpoint.starts_with("https://");
            if !scheme_ok || endpoint.parse::<actix_web::http::Uri>().is_err() {
                return Err(invalid(
                    "HOOKFLOW_OTLP_ENDPOINT",
                    "an http:// or https:// URL, e.g. http://otel-collector:4318",
                ));
            }
        }
        let amqp_url = non_empty(raw.amqp_url);
        let redis_url = non_empty(raw.redis_url);
        let admin_token = non_empty(raw.admin_token);
        // A short bearer token can be guessed online; 16 characters of a random token are out
        // of reach. The value itself is never part of the message.
        if admin_token.as_ref().is_some_and(|token| token.chars().count() < MIN_ADMIN_TOKEN_CHARS) {
            return Err(invalid(
                "HOOKFLOW_ADMIN_TOKEN",
                format!("must be at least {MIN_ADMIN_TOKEN_CHARS} characters long"),
            ));
        }
        let internal_key = non_empty(raw.internal_key);
        if internal_key.as_ref().is_some_and(|key| key.chars().count() < MIN_INTERNAL_KEY_CHARS) {
            return Err(invalid(
                "HOOKFLOW_INTERNAL_KEY",
                format!("must be at least {MIN_INTERNAL_KEY_CHARS} characters long"),
            ));
        }
        if amqp_url.is_some() {
            if redis_url.is_none() {
                return Err(invalid(
                    "HOOKFLOW_REDIS_URL",
                    "required in distributed mode (HOOKFLOW_AMQP_URL is set)",
                ));
            }
            if raw.database_url.trim().starts_with("sqlite:") {
                return Err(invalid(
                    "HOOKFLOW_DATABASE_URL",
                    "a PostgreSQL URL is required in distributed mode (HOOKFLOW_AMQP_URL is set)",
                ));
            }
            if internal_key.is_none() {
                return Err(invalid(
                    "HOOKFLOW_INTERNAL_KEY",
                    "required in distributed mode (HOOKFLOW_AMQP_URL is set): it authenticates queue \
                     messages and replies between the processes",
                ));
            }
        }
        Ok(Self {
            listen,
            public_url,
            database_url: raw.database_url.trim().to_owned(),
            amqp_url,
            redis_url,
            namespace,
            admin_token,
            internal_key,
            workflows_dir: non_empty(raw.workflows_dir).map(Into::into),
            sync_timeout: Duration::from_millis(raw.sync_timeout_ms),
            max_body_bytes: raw.max_body_bytes,
            max_inflight: match raw.max_inflight {
                0 => inflight_for_memory(memory_limit()),
                n => n,
            },
            body_timeout: Duration::from_millis(raw.body_timeout_ms),
            max_connections: raw.max_connections,
            body_memory_bytes: raw.body_memory_bytes,
            queue_memory_bytes: raw.queue_memory_bytes,
            worker_concurrency: raw.worker_concurrency,
            metrics_listen,
            record_executions: raw.record_executions,
            execution_retention,
            trusted_proxies,
            log: raw.log,
            log_format: raw.log_format,
            otlp_endpoint,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse() {
        let config = Config::from_pairs([]).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:13000");
        assert_eq!(config.public_url, "http://127.0.0.1:13000");
        assert_eq!(config.database_url, "sqlite://hookflow.db?mode=rwc");
        assert!(config.is_embedded());
        assert_eq!(config.sync_timeout, Duration::from_secs(30));
        assert_eq!(config.max_body_bytes, 1_048_576);
        assert_eq!(config.worker_concurrency, 64);
        assert!((256..=16_384).contains(&config.max_inflight));
        assert_eq!(config.body_timeout, Duration::from_secs(10));
        assert_eq!(config.record_executions, RecordExecutions::All);
        assert_eq!(config.execution_retention, Duration::from_secs(7 * 86_400));
        assert_eq!(config.log_format, LogFormat::Text);
    }

    #[test]
    fn overrides_and_numeric_token() {
        let config = Config::from_pairs([
            ("sync_timeout_ms", "250"),
            ("admin_token", "0123456789012345"),
            ("public_url", "https://hooks.example.com/"),
            ("trusted_proxies", "10.0.0.0/8, 192.168.1.1"),
            ("record_executions", "failed"),
        ])
        .unwrap();
        assert_eq!(config.sync_timeout, Duration::from_millis(250));
        assert_eq!(config.admin_token.as_deref(), Some("0123456789012345"));
        assert_eq!(config.public_url, "https://hooks.example.com");
        assert_eq!(config.trusted_proxies.len(), 2);
        assert_eq!(config.record_executions, RecordExecutions::Failed);
        assert!(!format!("{config:?}").contains("0123456789012345"), "the token is never printed");
    }

    #[test]
    fn a_short_admin_token_is_refused_without_showing_it() {
        let err = Config::from_pairs([("admin_token", "short-token-15c")]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("HOOKFLOW_ADMIN_TOKEN") && text.contains("16"), "{text}");
        assert!(!text.contains("short-token-15c"), "{text}");
        // Surrounding blanks do not count towards the length.
        assert!(Config::from_pairs([("admin_token", "  fifteen-chars!!  ")]).is_err());
        assert!(Config::from_pairs([("admin_token", "sixteen-chars-ok")]).is_ok());
    }

    /// The settings of a distributed process but the one under test.
    fn distributed(extra: &[(&'static str, &'static str)]) -> Result<Config, ConfigError> {
        let mut pairs = vec![
            ("amqp_url", "amqp://127.0.0.1"),
            ("redis_url", "redis://127.0.0.1"),
            ("database_url", "postgres://hf@127.0.0.1/hookflow"),
        ];
        pairs.extend_from_slice(extra);
        Config::from_pairs(pairs)
    }

    #[test]
    fn the_internal_key_is_required_in_distributed_mode_and_never_printed() {
        let key = "0123456789abcdef0123456789abcdef";
        let err = distributed(&[]).unwrap_err();
        assert!(err.to_string().contains("HOOKFLOW_INTERNAL_KEY"), "{err}");
        let err = distributed(&[("internal_key", "0123456789abcdef0123456789abcde")]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("HOOKFLOW_INTERNAL_KEY") && text.contains("32"), "{text}");
        assert!(!text.contains("0123456789abcdef"), "{text}");
        let config = distributed(&[("internal_key", key)]).unwrap();
        assert_eq!(config.internal_key.as_deref(), Some(key));
        let printed = format!("{config:?}");
        assert!(!printed.contains(key) && printed.contains("internal_key"), "{printed}");
        // Embedded mode needs none.
        assert!(Config::from_pairs([]).unwrap().internal_key.is_none());
    }

    #[test]
    fn invalid_values_name_the_variable() {
        let err = Config::from_pairs([("worker_concurrency", "0")]).unwrap_err();
        assert!(err.to_string().contains("HOOKFLOW_WORKER_CONCURRENCY"), "{err}");
        let err = Config::from_pairs([("execution_retention", "soon")]).unwrap_err();
        assert!(err.to_string().contains("HOOKFLOW_EXECUTION_RETENTION"), "{err}");
        let err = Config::from_pairs([("amqp_url", "amqp://127.0.0.1")]).unwrap_err();
        assert!(err.to_string().contains("HOOKFLOW_REDIS_URL"), "{err}");
        for endpoint in ["otel-collector:4318", "grpc://collector:4317", "http://bad host"] {
            let err = Config::from_pairs([("otlp_endpoint", endpoint)]).unwrap_err();
            assert!(err.to_string().contains("HOOKFLOW_OTLP_ENDPOINT"), "{endpoint}: {err}");
        }
        let config = Config::from_pairs([("otlp_endpoint", "http://collector:4318")]).unwrap();
        assert_eq!(config.otlp_endpoint.as_deref(), Some("http://collector:4318"));
        assert_eq!(Config::from_pairs([("otlp_endpoint", "")]).unwrap().otlp_endpoint, None);
    }

    #[test]
    fn inflight_follows_memory() {
        assert_eq!(inflight_for_memory(512 << 20), 512);
        assert_eq!(inflight_for_memory(64 << 20), 256);
        assert_eq!(inflight_for_memory(1 << 40), 16_384);
        let config = Config::from_pairs([("max_inflight", "7")]).unwrap();
        assert_eq!(config.max_inflight, 7);
        let err = Config::from_pairs([("body_memory_bytes", "1000")]).unwrap_err();
        assert!(err.to_string().contains("HOOKFLOW_BODY_MEMORY_BYTES"), "{err}");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact_url("postgres://hf:secret@127.0.0.1/db"), "postgres://hf:***@127.0.0.1/db");
        assert_eq!(redact_url("sqlite://hookflow.db"), "sqlite://hookflow.db");
    }
}
