//! `multipart/form-data` bodies as JSON (SPEC §4): each text field by its name (repeated names
//! as an array, in order), each file as `{filename, contentType, size}`; file contents stay
//! in `rawBody` only. Parsed by multer from the bytes already read (and size-checked).

use bytes::Bytes;
use serde_json::{json, Map, Value};

use crate::qs::MAX_PARAMS;

/// The fields of a multipart body sent with `boundary`; `Err` says why it is not one.
pub async fn to_json(body: Bytes, boundary: &str) -> Result<Value, String> {
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::convert::Infallible>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut fields = Map::new();
    let mut count = 0usize;
    while let Some(field) =
        multipart.next_field().await.map_err(|e| format!("malformed multipart body: {e}"))?
    {
        count += 1;
        if count > MAX_PARAMS {
            return Err(format!("the multipart body has more than {MAX_PARAMS} fields"));
        }
        let name = field.name().unwrap_or_default().to_owned();
        let file = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(ToString::to_string);
        let data = field.bytes().await.map_err(|e| format!("malformed multipart body: {e}"))?;
        let value = match file {
            Some(filename) => json!({"filename": filename, "contentType": content_type, "size": data.len()}),
            None => Value::String(String::from_utf8_lossy(&data).into_owned()),
        };
        match fields.get_mut(&name) {
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
            None => {
                fields.insert(name, value);
            }
        }
    }
    Ok(Value::Object(fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(parts: &[&str]) -> Bytes {
        let mut text = String::new();
        for part in parts {
            text.push_str("--XyZ\r\n");
            text.push_str(part);
            text.push_str("\r\n");
        }
        text.push_str("--XyZ--\r\n");
        Bytes::from(text)
    }

    #[tokio::test]
    async fn fields_and_files() {
        let sent = body(&[
            "Content-Disposition: form-data; name=\"orderId\"\r\n\r\n42",
            "Content-Disposition: form-data; name=\"tag\"\r\n\r\na",
            "Content-Disposition: form-data; name=\"tag\"\r\n\r\nb",
            "Content-Disposition: form-data; name=\"receipt\"; filename=\"r.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1",
        ]);
        assert_eq!(
            to_json(sent, "XyZ").await.unwrap(),
            json!({"orderId": "42", "tag": ["a", "b"],
                   "receipt": {"filename": "r.pdf", "contentType": "application/pdf", "size": 6}})
        );
    }

    #[tokio::test]
    async fn malformed_bodies_are_refused() {
        assert!(to_json(Bytes::from_static(b"no parts here"), "XyZ").await.is_err());
        assert!(to_json(
            Bytes::from_static(b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunterminated"),
            "XyZ"
        )
        .await
        .is_err());
        let many: Vec<String> = (0..=MAX_PARAMS)
            .map(|i| format!("Content-Disposition: form-data; name=\"f{i}\"\r\n\r\nx"))
            .collect();
        let parts: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(to_json(body(&parts), "XyZ").await.unwrap_err().contains("fields"));
    }
}
