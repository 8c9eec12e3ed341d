//! Every signature preset against the provider's own published example where one exists (the
//! source is named above each), and the ways a call goes wrong: a tampered body, a wrong
//! secret, a stale or future timestamp, a missing header, several signatures of which one
//! matches, and secret rotation.

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use hookflow_shared::signature::{SignatureError, SignatureSpec, Verifier};
use serde_json::{json, Value};

/// `HOOKFLOW_VAR_*` is read once per process: set before any test compiles a secret.
fn environment() {
    static SET: std::sync::Once = std::sync::Once::new();
    SET.call_once(|| {
        std::env::set_var("HOOKFLOW_VAR_SIGNATURE_TEST_SECRET", "It's a Secret to Everybody");
        std::env::set_var("HOOKFLOW_VAR_SIGNATURE_TEST_EMPTY", "");
    });
}

fn verifier(spec: Value) -> Verifier {
    environment();
    let spec: SignatureSpec = serde_json::from_value(spec).unwrap();
    Verifier::compile(&spec).unwrap()
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
    }
    map
}

fn problems(spec: Value) -> Vec<String> {
    environment();
    let spec: SignatureSpec = serde_json::from_value(spec).unwrap();
    Verifier::compile(&spec).unwrap_err().into_iter().map(|p| p.path).collect()
}

use SignatureError::{Expired, Invalid, Missing};

// GitHub docs, "Validating webhook deliveries" → "Testing the webhook payload validation".
#[test]
fn github_docs_example() {
    let v = verifier(json!({"preset": "github", "secrets": ["It's a Secret to Everybody"]}));
    let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let h = headers(&[("x-hub-signature-256", good)]);
    assert_eq!(v.verify(&h, b"Hello, World!", 0), Ok(()));
    assert_eq!(v.verify(&h, b"Hello, World?", 0), Err(Invalid), "tampered body");
    assert_eq!(
        v.verify(
            &headers(&[("x-hub-signature-256", &good.to_uppercase().replace("SHA256", "sha256"))]),
            b"Hello, World!",
            0
        ),
        Ok(()),
        "hex in any case"
    );
    assert_eq!(v.verify(&headers(&[("x-hub-signature", "sha1=0123")]), b"Hello, World!", 0), Err(Missing));
    assert_eq!(
        v.verify(&headers(&[("x-hub-signature-256", "sha256=xyz")]), b"Hello, World!", 0),
        Err(Missing)
    );
    let wrong = verifier(json!({"preset": "github", "secrets": ["It's a secret to everybody"]}));
    assert_eq!(wrong.verify(&h, b"Hello, World!", 0), Err(Invalid), "wrong secret");
    // Rotation: the old secret first, the new one second; either verifies.
    let rotated = verifier(json!({"preset": "github", "secrets": ["old", "It's a Secret to Everybody"]}));
    assert_eq!(rotated.verify(&h, b"Hello, World!", 0), Ok(()));
    assert_eq!(v.signature_headers(), vec!["x-hub-signature-256", "x-hub-signature"]);
}

// standard-webhooks/standard-webhooks: libraries/{javascript,python,go,php,java,csharp} sign
// tests (vector A, also svix-webhooks' test_sign_function) and libraries/rust `test_sign` (B).
#[test]
fn standard_webhooks_library_vectors() {
    let a = verifier(
        json!({"preset": "standard-webhooks", "secrets": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]}),
    );
    let body = br#"{"test": 2432232314}"#;
    let good = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    let bad = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";
    let call = |prefix: &str, signature: &str| {
        headers(&[
            (&format!("{prefix}-id"), "msg_p5jXN8AQM9LWM0D4loKWxJek"),
            (&format!("{prefix}-timestamp"), "1614265330"),
            (&format!("{prefix}-signature"), signature),
        ])
    };
    let now = 1614265330;
    assert_eq!(a.verify(&call("webhook", good), body, now), Ok(()));
    assert_eq!(a.verify(&call("svix", good), body, now), Ok(()), "svix-* names");
    assert_eq!(a.verify(&call("webhook", bad), body, now), Err(Invalid));
    // Several signatures, other versions ignored, one matches (the library's own test shape).
    let several = format!("{bad} v2,{} {good} v1a,{}", &bad[3..], &good[3..]);
    assert_eq!(a.verify(&call("webhook", &several), body, now), Ok(()));
    let only_other_versions = format!("v2,{} v1a,{}", &good[3..], &good[3..]);
    assert_eq!(a.verify(&call("webhook", &only_other_versions), body, now), Err(Missing));
    assert_eq!(a.verify(&call("webhook", good), body, now - 301), Err(Expired), "stale");
    assert_eq!(a.verify(&call("webhook", good), body, now + 301), Err(Expired), "from the future");
    assert_eq!(a.verify(&call("webhook", good), body, now + 300), Ok(()), "inside the tolerance");
    assert_eq!(a.verify(&headers(&[("webhook-signature", good)]), body, now), Err(Missing));
    // Without `whsec_` a secret is base64 as it is.
    let bare =
        verifier(json!({"preset": "standard-webhooks", "secrets": ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]}));
    assert_eq!(bare.verify(&call("webhook", good), body, now), Ok(()));

    let b = verifier(
        json!({"preset": "standard-webhooks", "secrets": ["whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"]}),
    );
    let h = headers(&[
        ("webhook-id", "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk"),
        ("webhook-timestamp", "1649367553"),
        ("webhook-signature", "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="),
    ]);
    let body = br#"{"email":"test@example.com","username":"test_user"}"#;
    assert_eq!(b.verify(&h, body, 1649367553), Ok(()));
}

// Shopify/shopify-app-js, packages/apps/shopify-api/lib/webhooks/__tests__/validate.test.ts.
#[test]
fn shopify_library_test() {
    let v = verifier(json!({"preset": "shopify", "secrets": ["test_secret_key"]}));
    let h = headers(&[("x-shopify-hmac-sha256", "B23tXN681gZ0qIWNRrgtzBE9XSDo5yaUu6wfmhu3a7g=")]);
    assert_eq!(v.verify(&h, br#"{"foo": "bar"}"#, 0), Ok(()));
    assert_eq!(v.verify(&h, br#"{"foo":"bar"}"#, 0), Err(Invalid), "re-serialised body");
    assert_eq!(v.verify(&headers(&[]), br#"{"foo": "bar"}"#, 0), Err(Missing));
}

/// The item of Adyen's hmac-validation-webhook.json fixture (Java library, also the Python
/// library's mixed_notification.json).
fn adyen_item() -> Value {
    json!({"NotificationRequestItem": {
        "additionalData": {"acquirerCode": "TestPmmAcquirer", "authCode": "052095", "cardSummary": "1111",
            "hmacSignature": "CZErGCNQaSsxbaQfZaJlakqo7KPP+mIa8a+wx3yNs9A=", "paymentMethod": "visa"},
        "amount": {"currency": "EUR", "value": 1000},
        "eventCode": "AUTHORISATION",
        "eventDate": "2023-01-10T13:42:29+01:00",
        "merchantAccountCode": "AntoniStroinski",
        "merchantReference": "\\:/\\/slashes are fun",
        "operations": ["CANCEL", "CAPTURE", "REFUND"],
        "paymentMethod": "visa",
        "pspReference": "ZVWN7D3WSMK2WN82",
        "reason": "052095:1111:03/2030",
        "success": "true"
    }})
}

// Adyen/adyen-java-api-library HMACValidatorTest (testValidateHMACWithoutEscaping) and
// Adyen/adyen-node-api-library hmacValidator.spec.ts.
#[test]
fn adyen_library_tests() {
    let key = "74F490DD33F7327BAECC88B2947C011FC02D014A473AAA33A8EC93E4DC069174";
    let v = verifier(json!({"preset": "adyen", "secrets": [key]}));
    let body = |items: Vec<Value>| json!({"live": "false", "notificationItems": items}).to_string();
    assert_eq!(v.verify(&headers(&[]), body(vec![adyen_item()]).as_bytes(), 0), Ok(()));

    let mut tampered = adyen_item();
    tampered["NotificationRequestItem"]["amount"]["value"] = json!(100000);
    assert_eq!(v.verify(&headers(&[]), body(vec![tampered.clone()]).as_bytes(), 0), Err(Invalid));
    // A forged item cannot ride along with a genuine one.
    assert_eq!(v.verify(&headers(&[]), body(vec![adyen_item(), tampered]).as_bytes(), 0), Err(Invalid));
    let mut unsigned = adyen_item();
    unsigned["NotificationRequestItem"]["additionalData"].as_object_mut().unwrap().remove("hmacSignature");
    assert_eq!(v.verify(&headers(&[]), body(vec![unsigned]).as_bytes(), 0), Err(Missing));
    assert_eq!(v.verify(&headers(&[]), b"not json", 0), Err(Missing));
    assert_eq!(v.verify(&headers(&[]), body(vec![]).as_bytes(), 0), Err(Missing));

    // Node library: missing originalReference is empty, value a number.
    let node_key = "DFB1EB5485895CFA84146406857104ABB4CBCABDC8AAF103A624C8F6A3EAAB00";
    let item = json!({"NotificationRequestItem": {
        "pspReference": "pspReference", "originalReference": "originalReference",
        "merchantAccountCode": "merchantAccount", "merchantReference": "reference",
        "amount": {"currency": "EUR", "value": 1000}, "eventCode": "REPORT_AVAILABLE", "success": "true",
        "additionalData": {"hmacSignature": "ZNBPtI+oDyyRrLyD1XirkKnQgIAlFc07Vj27TeHsDRE="}}});
    let node = verifier(json!({"preset": "adyen", "secrets": [node_key]}));
    assert_eq!(node.verify(&headers(&[]), body(vec![item]).as_bytes(), 0), Ok(()));
}

// T-Bank acquiring API ("Проверка токенов" notification example; Password "Dfsfh56dgKl").
#[test]
fn tbank_documented_notification() {
    let v = verifier(json!({"preset": "tbank", "secrets": ["Dfsfh56dgKl"]}));
    let body = r#"{"TerminalKey":"1321054611234DEMO","OrderId":"201709","Success":true,"Status":"AUTHORIZED","PaymentId":8742591,"ErrorCode":"0","Amount":9855,"CardId":322264,"Pan":"430000******0777","ExpDate":"1122","RebillId":101709,"Token":"b906d28e76c6428e37b25fcf86c0adc52c63d503013fdd632e300593d165766b"}"#;
    assert_eq!(v.verify(&headers(&[]), body.as_bytes(), 0), Ok(()));
    assert_eq!(v.verify(&headers(&[]), body.replace("9855", "98550").as_bytes(), 0), Err(Invalid));
    // Nested objects and arrays take no part.
    let nested = body.replacen('{', r#"{"Data":{"a":1},"Receipt":[1,2],"#, 1);
    assert_eq!(v.verify(&headers(&[]), nested.as_bytes(), 0), Ok(()));
    assert_eq!(v.verify(&headers(&[]), br#"{"Amount":1}"#, 0), Err(Missing));
    let wrong = verifier(json!({"preset": "tbank", "secrets": ["other"]}));
    assert_eq!(wrong.verify(&headers(&[]), body.as_bytes(), 0), Err(Invalid));

    // Values with leading zeros are hashed as written (developer.tbank.ru's example).
    let v = verifier(json!({"preset": "tbank", "secrets": ["11111111111"]}));
    let body = r#"{"TerminalKey":"1234567890DEMO","OrderId":"000000","Success":true,"Status":"AUTHORIZED","PaymentId":"0000000","ErrorCode":"0","Amount":"1111","CardId":"000000","Pan":"200000******0000","ExpDate":"1111","RebillId":"000000","Token":"1c0964277d0213349243065a0d5b838b8e90d2d25f740d0f2767836e710e80c8"}"#;
    assert_eq!(v.verify(&headers(&[]), body.as_bytes(), 0), Ok(()));
}

// CloudPayments: Content-HMAC over the raw form body (the cloud_payments gem's webhook test,
// secret "pass"; computed as CloudPayments' own OpenCart module does); X-Content-HMAC over the
// URL-decoded body.
#[test]
fn cloudpayments_content_hmac() {
    let v = verifier(json!({"preset": "cloudpayments", "secrets": ["pass"]}));
    let body = "TransactionId=666&Amount=123.00&Currency=RUB&PaymentAmount=123.00&PaymentCurrency=RUB&InvoiceId=1234567&AccountId=user%40example.com&SubscriptionId=&Name=VLADIMIR+KOCHNEV&Email=user%40example.com&DateTime=2015-11-17+14%3a51%3a20&IpAddress=127.0.0.1&IpCountry=RU&IpCity=%d0%a1%d0%b0%d0%bd%d0%ba%d1%82-%d0%9f%d0%b5%d1%82%d0%b5%d1%80%d0%b1%d1%83%d1%80%d0%b3&IpRegion=%d0%a1%d0%b0%d0%bd%d0%ba%d1%82-%d0%9f%d0%b5%d1%82%d0%b5%d1%80%d0%b1%d1%83%d1%80%d0%b3&IpDistrict=%d0%a1%d0%b5%d0%b2%d0%b5%d1%80%d0%be-%d0%97%d0%b0%d0%bf%d0%b0%d0%b4%d0%bd%d1%8b%d0%b9+%d1%84%d0%b5%d0%b4%d0%b5%d1%80%d0%b0%d0%bb%d1%8c%d0%bd%d1%8b%d0%b9+%d0%be%d0%ba%d1%80%d1%83%d0%b3&IpLatitude=59.939000&IpLongitude=30.315800&CardFirstSix=411111&CardLastFour=1111&CardType=Visa&CardExpDate=01%2f19&Issuer=&IssuerBankCountry=&Description=%d0%9e%d0%bf%d0%bb%d0%b0%d1%82%d0%b0+%d0%b2+example.com&AuthCode=DEADBEEF&Token=1234567890&TestMode=1&Status=Completed";
    let good = headers(&[("content-hmac", "tJW02TMAce4Em8eJTNqjhOax+BYRM5K2D8mX9xsmUUc=")]);
    assert_eq!(v.verify(&good, body.as_bytes(), 0), Ok(()));
    let bad = headers(&[("content-hmac", "6sUXv4W0wmhfpkkDtp+3Hw/M8deAPkMRVV3OWANcqro=")]);
    assert_eq!(v.verify(&bad, body.as_bytes(), 0), Err(Invalid));
    let decoded = headers(&[("x-content-hmac", "fFZ7aYvfBM6M494rVz5jg1YQ6fTDu6NGTDCIqxeLfqA=")]);
    assert_eq!(v.verify(&decoded, body.as_bytes(), 0), Ok(()));
    // With both, the MAC over the bytes as sent decides: the decoded form alone could be
    // re-cut into other fields.
    let both = headers(&[
        ("content-hmac", "6sUXv4W0wmhfpkkDtp+3Hw/M8deAPkMRVV3OWANcqro="),
        ("x-content-hmac", "fFZ7aYvfBM6M494rVz5jg1YQ6fTDu6NGTDCIqxeLfqA="),
    ]);
    assert_eq!(v.verify(&both, body.as_bytes(), 0), Err(Invalid));
    assert_eq!(v.verify(&headers(&[]), body.as_bytes(), 0), Err(Missing));
}

// Stripe: built from stripe-python's own test constants (its tests compute the header at run
// time) and accepted by stripe-python's `WebhookSignature.verify_header`.
#[test]
fn stripe_signature_header() {
    let v = verifier(json!({"preset": "stripe", "secrets": ["whsec_test_secret"]}));
    let body = "{\n  \"id\": \"evt_test_webhook\",\n  \"object\": \"event\",\n  \"data\": { \"object\": { \"id\": \"rdr_123\", \"object\": \"terminal.reader\" } }\n}";
    let t = 1492774577;
    let sig = "d21d91b425674689e03346536b8fec6384a8721d43ebe269a1689a3ad22cba9c";
    let call = |value: String| headers(&[("stripe-signature", &value)]);
    assert_eq!(v.verify(&call(format!("t={t},v1={sig}")), body.as_bytes(), t), Ok(()));
    // Several v1 (Stripe sends one per secret during rotation) and a v0: one match suffices.
    let several = format!("t={t},v1={},v0={sig},v1={sig}", "00".repeat(32));
    assert_eq!(v.verify(&call(several), body.as_bytes(), t + 10), Ok(()));
    assert_eq!(v.verify(&call(format!("t={t},v1={sig}")), body.as_bytes(), t + 301), Err(Expired));
    assert_eq!(v.verify(&call(format!("t={t},v1={sig}")), body.as_bytes(), t - 301), Err(Expired));
    // The timestamp is signed: moving it breaks the MAC.
    assert_eq!(v.verify(&call(format!("t={},v1={sig}", t + 1)), body.as_bytes(), t), Err(Invalid));
    assert_eq!(v.verify(&call(format!("v1={sig}")), body.as_bytes(), t), Err(Missing));
    assert_eq!(v.verify(&call(format!("t={t},v0={sig}")), body.as_bytes(), t), Err(Missing));
    // Expired is decided before the MAC: a stale call with a bad MAC says expired.
    assert_eq!(
        v.verify(&call(format!("t={t},v1={}", "00".repeat(32))), body.as_bytes(), t + 9999),
        Err(Expired)
    );
    let compact = verifier(json!({"preset": "stripe", "secrets": ["whsec_test_secret"], "tolerance": 5}));
    let h = call(format!("t={t},v1=88a022085c6bdb887b02cb26ff76dd681234d9675c0f22844059f55552a8883a"));
    assert_eq!(compact.verify(&h, br#"{"id":"evt_test_webhook","object":"event"}"#, t + 5), Ok(()));
    assert_eq!(compact.verify(&h, br#"{"id":"evt_test_webhook","object":"event"}"#, t + 6), Err(Expired));
}

// Slack docs, "Verifying requests from Slack" (body from slackapi/python-slack-sdk's test of it).
#[test]
fn slack_docs_example() {
    let v = verifier(json!({"preset": "slack", "secrets": ["8f742231b10e8888abcd99yyyzzz85a5"]}));
    let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    let h = headers(&[
        ("x-slack-request-timestamp", "1531420618"),
        ("x-slack-signature", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"),
    ]);
    assert_eq!(v.verify(&h, body.as_bytes(), 1531420618), Ok(()));
    assert_eq!(v.verify(&h, body.replace("foobar", "foobaz").as_bytes(), 1531420618), Err(Invalid));
    assert_eq!(v.verify(&h, body.as_bytes(), 1531420618 + 3600), Err(Expired));
    let no_time = headers(&[(
        "x-slack-signature",
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
    )]);
    assert_eq!(v.verify(&no_time, body.as_bytes(), 1531420618), Err(Missing));
}

// The generic preset reproduces the named ones: GitHub's example as sha256/hex/`sha256=`, and
// Slack's with a timestamp header and payload template; plus sha1, sha512 and base64.
#[test]
fn generic_hmac_preset() {
    let github = verifier(json!({"preset": "hmac", "secrets": ["It's a Secret to Everybody"],
        "header": "X-Hub-Signature-256", "algorithm": "sha256", "encoding": "hex", "prefix": "sha256="}));
    let h = headers(&[(
        "x-hub-signature-256",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    )]);
    assert_eq!(github.verify(&h, b"Hello, World!", 0), Ok(()));
    assert_eq!(github.signature_headers(), vec!["x-hub-signature-256"]);

    let slack = verifier(json!({"preset": "hmac", "secrets": ["8f742231b10e8888abcd99yyyzzz85a5"],
        "header": "X-Slack-Signature", "algorithm": "sha256", "encoding": "hex", "prefix": "v0=",
        "timestampHeader": "X-Slack-Request-Timestamp", "payload": "v0:{timestamp}:{body}"}));
    let body = b"token=abc";
    let mac = |algorithm: &str, payload: &[u8]| {
        use hookflow_shared::signature::{mac, Algorithm};
        let algorithm = match algorithm {
            "sha1" => Algorithm::Sha1,
            "sha512" => Algorithm::Sha512,
            _ => Algorithm::Sha256,
        };
        mac::hmac(algorithm, b"8f742231b10e8888abcd99yyyzzz85a5", &[payload])
    };
    let signed = hex::encode(mac("sha256", b"v0:1000:token=abc"));
    let h = headers(&[("x-slack-request-timestamp", "1000"), ("x-slack-signature", &format!("v0={signed}"))]);
    assert_eq!(slack.verify(&h, body, 1000), Ok(()));
    assert_eq!(slack.verify(&h, body, 2000), Err(Expired));

    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    for (algorithm, encoding, value) in [
        ("sha1", "hex", hex::encode(mac("sha1", body))),
        ("sha512", "base64", b64.encode(mac("sha512", body))),
    ] {
        let v = verifier(json!({"preset": "hmac", "secrets": ["8f742231b10e8888abcd99yyyzzz85a5"],
            "header": "X-Signature", "algorithm": algorithm, "encoding": encoding}));
        assert_eq!(v.verify(&headers(&[("x-signature", &value)]), body, 0), Ok(()), "{algorithm}");
        assert_eq!(v.verify(&headers(&[("x-signature", &value)]), b"token=abd", 0), Err(Invalid));
    }
}

#[test]
fn bad_settings_are_problems_at_save() {
    assert_eq!(problems(json!({"preset": "github", "secrets": []})), vec!["trigger.signature.secrets"]);
    assert_eq!(problems(json!({"preset": "github", "secrets": [""]})), vec!["trigger.signature.secrets[0]"]);
    assert_eq!(
        problems(json!({"preset": "github", "secrets": ["{{$env.HOOKFLOW_TEST_NEVER_SET}}"]})),
        vec!["trigger.signature.secrets[0]"]
    );
    assert_eq!(
        problems(json!({"preset": "github", "secrets": ["a{{x}}"]})),
        vec!["trigger.signature.secrets[0]"]
    );
    assert_eq!(
        problems(json!({"preset": "standard-webhooks", "secrets": ["whsec_b2s=", "whsec_not base64!"]})),
        vec!["trigger.signature.secrets[1]"]
    );
    assert_eq!(
        problems(json!({"preset": "adyen", "secrets": ["XYZ"]})),
        vec!["trigger.signature.secrets[0]"]
    );
    assert_eq!(
        problems(json!({"preset": "stripe", "secrets": ["s"], "tolerance": 0})),
        vec!["trigger.signature.tolerance"]
    );
    // A preset that signs no timestamp takes no tolerance: it would not protect anything.
    assert_eq!(
        problems(json!({"preset": "github", "secrets": ["s"], "tolerance": 60})),
        vec!["trigger.signature.tolerance"]
    );
    // Empty keys would let anyone sign: refused however they come about.
    for (preset, secret) in [("github", "  "), ("standard-webhooks", "whsec_"), ("adyen", " "), ("tbank", "")]
    {
        assert_eq!(
            problems(json!({"preset": preset, "secrets": [secret]})),
            vec!["trigger.signature.secrets[0]"],
            "{preset} {secret:?}"
        );
    }
    assert_eq!(
        problems(json!({"preset": "github", "secrets": ["{{$env.SIGNATURE_TEST_EMPTY}}"]})),
        vec!["trigger.signature.secrets[0]"],
        "an empty variable"
    );
    // A checked timestamp must be signed, or a replayer could simply replace it.
    assert_eq!(
        problems(json!({"preset": "hmac", "secrets": ["s"], "header": "x-sig", "algorithm": "sha256",
            "encoding": "hex", "timestampHeader": "x-ts"})),
        vec!["trigger.signature.payload"]
    );
    assert_eq!(
        problems(json!({"preset": "github", "secrets": ["s"], "header": "x-sig"})),
        vec!["trigger.signature.header"]
    );
    assert_eq!(
        problems(json!({"preset": "hmac", "secrets": ["s"]})),
        vec!["trigger.signature.header", "trigger.signature.algorithm", "trigger.signature.encoding"]
    );
    assert_eq!(
        problems(json!({"preset": "hmac", "secrets": ["s"], "header": "x-sig", "algorithm": "sha256",
            "encoding": "hex", "payload": "{timestamp}.{body}"})),
        vec!["trigger.signature.payload"],
        "{{timestamp}} without timestampHeader"
    );
    assert_eq!(
        problems(json!({"preset": "hmac", "secrets": ["s"], "header": "x sig", "algorithm": "sha256",
            "encoding": "hex", "payload": "{id}"})),
        vec!["trigger.signature.header", "trigger.signature.payload"]
    );
    let unknown: Result<SignatureSpec, _> =
        serde_json::from_value(json!({"preset": "paypal", "secrets": ["s"]}));
    assert!(unknown.is_err());
}

#[test]
fn secrets_from_the_environment() {
    let v = verifier(json!({"preset": "github", "secrets": ["{{ $env.SIGNATURE_TEST_SECRET }}"]}));
    let h = headers(&[(
        "x-hub-signature-256",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    )]);
    assert_eq!(v.verify(&h, b"Hello, World!", 0), Ok(()));
}
