//! Write-only secrets (SPEC §3 "Secrets"): what a definition holds that the admin API never
//! shows. Answers carry [`MASK`] in their place; a definition saved with [`MASK`] in a secret's
//! place keeps the value stored for it, so a client can GET, edit and PUT back a workflow
//! without knowing (or erasing) its password.
//!
//! The secrets are `trigger.basicAuthentication.password` and the literal entries of
//! `trigger.signature.secrets` (masked by position; `{{$env.NAME}}` references are no secret
//! and are shown as written). This module owns only the substitution; storing and showing are
//! the storage's and the admin API's.

use super::decode::Problem;
use super::workflow::WorkflowDefinition;
use crate::signature::env_reference;

/// What every answer shows instead of a secret, and what a save sends to keep one.
pub const MASK: &str = "********";

/// Where the password is, for problems.
const PASSWORD_PATH: &str = "trigger.basicAuthentication.password";

impl WorkflowDefinition {
    /// A copy fit for an answer: every secret replaced by [`MASK`].
    pub fn masked(&self) -> WorkflowDefinition {
        let mut copy = self.clone();
        if let Some(auth) = &mut copy.trigger.basic_authentication {
            auth.password = MASK.to_owned();
        }
        if let Some(signature) = &mut copy.trigger.signature {
            for secret in signature.secrets.iter_mut().filter(|s| env_reference(s).is_none()) {
                *secret = MASK.to_owned();
            }
        }
        copy
    }

    /// Whether some secret is [`MASK`], i.e. the save means "keep what is stored".
    pub fn has_masked_secrets(&self) -> bool {
        self.trigger.basic_authentication.as_ref().is_some_and(|auth| auth.password == MASK)
            || self.trigger.signature.as_ref().is_some_and(|s| s.secrets.iter().any(|secret| secret == MASK))
    }

    /// Puts the stored value of `current` (the version this save replaces) in place of every
    /// [`MASK`]: the password, and each signature secret by its position. A mask with nothing
    /// stored to keep — a new workflow, no basic authentication, no literal secret at that
    /// position — is a problem: the service would otherwise check callers against the mask.
    pub fn restore_secrets(&mut self, current: Option<&WorkflowDefinition>) -> Result<(), Vec<Problem>> {
        let mut problems = Vec::new();
        if let Some(auth) = self.trigger.basic_authentication.as_mut().filter(|auth| auth.password == MASK) {
            match current.and_then(|c| c.trigger.basic_authentication.as_ref()) {
                Some(stored) => auth.password = stored.password.clone(),
                None => problems.push(Problem::new(
                    PASSWORD_PATH,
                    format!(
                        "{MASK:?} keeps the stored password, but there is none to keep: send the password"
                    ),
                )),
            }
        }
        if let Some(signature) = &mut self.trigger.signature {
            let stored = current.and_then(|c| c.trigger.signature.as_ref()).map(|s| s.secrets.as_slice());
            let masks = signature.secrets.iter().any(|secret| secret == MASK);
            if masks && signature.secrets.len() < stored.map_or(0, <[String]>::len) {
                // Which stored secret a mask keeps is decided by its position, and a shorter
                // list cannot say which one was removed: refusing beats keeping the wrong one
                // (the leaked one, in a rotation).
                problems.push(Problem::new(
                    "trigger.signature.secrets",
                    format!(
                        "{MASK:?} keeps the secret stored at its position, so a list with masks cannot be \
                         shorter than the stored one; to remove a secret, send the ones that stay in full"
                    ),
                ));
                return Err(problems);
            }
            for (i, secret) in signature.secrets.iter_mut().enumerate().filter(|(_, s)| *s == MASK) {
                match stored.and_then(|stored| stored.get(i)).filter(|s| env_reference(s).is_none()) {
                    Some(kept) => *secret = kept.clone(),
                    None => problems.push(Problem::new(
                        format!("trigger.signature.secrets[{i}]"),
                        format!("{MASK:?} keeps the secret stored at this position, but there is none: send the secret"),
                    )),
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::decode_workflow;
    use serde_json::json;

    fn with_password(password: &str) -> WorkflowDefinition {
        decode_workflow(json!({"key": "k-1", "trigger": {"type": "webhook",
            "basicAuthentication": {"username": "psp", "password": password}}}))
        .unwrap()
    }

    #[test]
    fn answers_show_the_mask() {
        let stored = with_password("s3cret");
        let shown = serde_json::to_value(stored.masked()).unwrap();
        assert_eq!(shown["trigger"]["basicAuthentication"], json!({"username": "psp", "password": MASK}));
        assert!(!shown.to_string().contains("s3cret"));
        let open = decode_workflow(json!({"key": "k-1", "trigger": {"type": "webhook"}})).unwrap();
        assert_eq!(open.masked(), open, "nothing to hide, nothing changed");
    }

    #[test]
    fn the_mask_keeps_the_stored_password() {
        let stored = with_password("s3cret");
        let mut sent = with_password(MASK);
        assert!(sent.has_masked_secrets());
        sent.restore_secrets(Some(&stored)).unwrap();
        assert_eq!(sent, stored);

        let mut changed = with_password("n3w");
        assert!(!changed.has_masked_secrets());
        changed.restore_secrets(Some(&stored)).unwrap();
        assert_eq!(changed.trigger.basic_authentication.unwrap().password, "n3w");
    }

    /// Decoded without validation: `{{$env.…}}` would need the variable set.
    fn with_secrets(secrets: serde_json::Value) -> WorkflowDefinition {
        serde_json::from_value(json!({"key": "k-1", "trigger": {"type": "webhook",
            "signature": {"preset": "github", "secrets": secrets}}}))
        .unwrap()
    }

    #[test]
    fn signature_secrets_are_masked_by_position() {
        let stored = with_secrets(json!(["old-secret", "{{$env.GITHUB_SECRET}}", "new-secret"]));
        let shown = serde_json::to_value(stored.masked()).unwrap();
        assert_eq!(shown["trigger"]["signature"]["secrets"], json!([MASK, "{{$env.GITHUB_SECRET}}", MASK]));
        assert!(!shown.to_string().contains("old-secret"));

        // Rotation: drop the first, keep the third by its mask, add a fourth.
        let mut sent = with_secrets(json!(["{{$env.GITHUB_SECRET}}", MASK, "newest"]));
        let problems = sent.restore_secrets(Some(&stored)).unwrap_err();
        assert_eq!(problems[0].path, "trigger.signature.secrets[1]", "position 1 holds a reference");
        let mut sent = with_secrets(json!([MASK, "{{$env.GITHUB_SECRET}}", MASK, "newest"]));
        sent.restore_secrets(Some(&stored)).unwrap();
        assert_eq!(
            sent.trigger.signature.unwrap().secrets,
            vec!["old-secret", "{{$env.GITHUB_SECRET}}", "new-secret", "newest"]
        );
        let mut extra = with_secrets(json!([MASK, "x", MASK, MASK]));
        let problems = extra.restore_secrets(Some(&stored)).unwrap_err();
        assert_eq!(problems[0].path, "trigger.signature.secrets[3]");
        // Removing one by sending fewer masks is ambiguous: refused, not guessed.
        let mut shorter = with_secrets(json!([MASK, MASK]));
        let problems = shorter.restore_secrets(Some(&stored)).unwrap_err();
        assert_eq!(problems[0].path, "trigger.signature.secrets");
        let mut literals = with_secrets(json!(["kept-literal"]));
        literals.restore_secrets(Some(&stored)).unwrap();
    }

    #[test]
    fn a_mask_with_nothing_to_keep_is_a_problem() {
        let mut sent = with_password(MASK);
        let problems = sent.restore_secrets(None).unwrap_err();
        assert_eq!(problems[0].path, "trigger.basicAuthentication.password");
        let without_auth = decode_workflow(json!({"key": "k-1", "trigger": {"type": "webhook"}})).unwrap();
        assert!(sent.restore_secrets(Some(&without_auth)).is_err());
    }
}
