//! Execution and job statuses (SPEC §7) and the execution mode.

use serde::{Deserialize, Deserializer, Serialize};

/// Status of an execution or a job. NocoBase's numeric codes are accepted where numbers are
/// used (`null` queued, 0 started, 1 resolved, -1 failed, -2 error, -3 aborted, -4 canceled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionStatus {
    Queued,
    Started,
    Resolved,
    Failed,
    Error,
    Aborted,
    Canceled,
}

impl ExecutionStatus {
    pub const ALL: [ExecutionStatus; 7] = [
        Self::Queued,
        Self::Started,
        Self::Resolved,
        Self::Failed,
        Self::Error,
        Self::Aborted,
        Self::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Started => "started",
            Self::Resolved => "resolved",
            Self::Failed => "failed",
            Self::Error => "error",
            Self::Aborted => "aborted",
            Self::Canceled => "canceled",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    pub fn from_code(code: Option<i64>) -> Option<Self> {
        Some(match code {
            None => Self::Queued,
            Some(0) => Self::Started,
            Some(1) => Self::Resolved,
            Some(-1) => Self::Failed,
            Some(-2) => Self::Error,
            Some(-3) => Self::Aborted,
            Some(-4) => Self::Canceled,
            Some(_) => return None,
        })
    }
}

impl std::fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ExecutionStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Name(String),
            Code(Option<i64>),
        }
        let raw = Raw::deserialize(d)?;
        match raw {
            Raw::Name(name) => Self::from_name(&name),
            Raw::Code(code) => Self::from_code(code),
        }
        .ok_or_else(|| {
            serde::de::Error::custom(
                "expected a status name (resolved, failed, …) or a NocoBase code (1, -1, -2, -3, -4)",
            )
        })
    }
}

/// How the caller is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Sync,
    Async,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sync => "sync",
            Self::Async => "async",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes() {
        for (json, status) in [
            ("\"resolved\"", ExecutionStatus::Resolved),
            ("1", ExecutionStatus::Resolved),
            ("-1", ExecutionStatus::Failed),
            ("-2", ExecutionStatus::Error),
            ("-3", ExecutionStatus::Aborted),
            ("-4", ExecutionStatus::Canceled),
            ("0", ExecutionStatus::Started),
            ("null", ExecutionStatus::Queued),
        ] {
            assert_eq!(serde_json::from_str::<ExecutionStatus>(json).unwrap(), status, "{json}");
        }
        assert!(serde_json::from_str::<ExecutionStatus>("7").is_err());
        assert!(serde_json::from_str::<ExecutionStatus>("\"done\"").is_err());
        assert_eq!(serde_json::to_string(&ExecutionStatus::Aborted).unwrap(), "\"aborted\"");
    }
}
