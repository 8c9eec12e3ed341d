//! Basic authentication of webhook callers, compared in constant time.

use actix_web::http::header::AUTHORIZATION;
use actix_web::HttpRequest;
use base64::Engine;
use hookflow_shared::model::BasicAuthentication;
use subtle::ConstantTimeEq;

/// Whether the request carries exactly the configured credentials.
pub fn basic_auth_matches(request: &HttpRequest, expected: &BasicAuthentication) -> bool {
    let Some(header) = request.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some((scheme, encoded)) = header.trim().split_once(' ') else { return false };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else { return false };
    let Some(colon) = decoded.iter().position(|b| *b == b':') else { return false };
    let (user, password) = (&decoded[..colon], &decoded[colon + 1..]);
    // Both parts are always compared so timing does not tell which one was wrong.
    let user_ok = user.ct_eq(expected.username.as_bytes());
    let password_ok = password.ct_eq(expected.password.as_bytes());
    (user_ok & password_ok).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn with_header(value: &str) -> HttpRequest {
        TestRequest::default().insert_header((AUTHORIZATION, value)).to_http_request()
    }

    #[test]
    fn checks_credentials() {
        let expected = BasicAuthentication { username: "psp".into(), password: "s3:cret".into() };
        let good = base64::engine::general_purpose::STANDARD.encode("psp:s3:cret");
        assert!(basic_auth_matches(&with_header(&format!("Basic {good}")), &expected));
        assert!(basic_auth_matches(&with_header(&format!("basic {good}")), &expected));
        let bad = base64::engine::general_purpose::STANDARD.encode("psp:wrong");
        assert!(!basic_auth_matches(&with_header(&format!("Basic {bad}")), &expected));
        assert!(!basic_auth_matches(&with_header("Basic !!!"), &expected));
        assert!(!basic_auth_matches(&with_header(&format!("Bearer {good}")), &expected));
        assert!(!basic_auth_matches(&TestRequest::default().to_http_request(), &expected));
    }
}
