//! XML bodies as JSON (SPEC §4): `{root: …}`, an element with neither attributes nor child
//! elements is its text; otherwise an object with `@name` attributes, child elements by name
//! (repeated ones as an array, in order) and its text, if any, under `#text`.
//!
//! Read with quick-xml as a stream of events, nesting bounded. Only the five predefined
//! entities and character references are resolved: a DTD is skipped, never applied, so no
//! entity can expand (billion laughs) or reach outside the document (XXE).

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};
use serde_json::{Map, Value};

/// An element being read: its name, attributes and children so far, and its text.
struct Open {
    name: String,
    fields: Map<String, Value>,
    text: String,
}

/// Converts an XML document; `Err` says why it is not one (or nests deeper than `max_depth`).
pub fn to_json(body: &[u8], max_depth: usize) -> Result<Value, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("XML bodies must be UTF-8: {e}"))?;
    let mut reader = Reader::from_str(text);
    // Text is trimmed once per element, at its end: trimming each piece would eat the spaces
    // around an entity (`b &amp; c`), which comes as a piece of its own.
    let config = reader.config_mut();
    config.trim_text(false);
    config.check_end_names = true;
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<Value> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("malformed XML at byte {}: {e}", reader.error_position()))?;
        match event {
            Event::Start(start) => {
                if stack.len() >= max_depth {
                    return Err(format!("the XML body is nested deeper than {max_depth} levels"));
                }
                if root.is_some() && stack.is_empty() {
                    return Err("the XML body has more than one root element".into());
                }
                stack.push(open(&start)?);
            }
            Event::Empty(start) => {
                if stack.len() >= max_depth {
                    return Err(format!("the XML body is nested deeper than {max_depth} levels"));
                }
                if root.is_some() && stack.is_empty() {
                    return Err("the XML body has more than one root element".into());
                }
                let element = open(&start)?;
                close(element, &mut stack, &mut root);
            }
            Event::End(_) => {
                let element = stack.pop().ok_or("an end tag without its start tag")?;
                close(element, &mut stack, &mut root);
            }
            Event::Text(content) => append(&mut stack, &content.xml10_content())?,
            Event::CData(content) => append(&mut stack, &content.xml10_content())?,
            Event::GeneralRef(reference) => {
                let resolved = match reference
                    .resolve_char_ref()
                    .map_err(|e| format!("malformed XML: {e}"))?
                {
                    Some(ch) => ch.to_string(),
                    None => match resolve_predefined_entity(&reference) {
                        Some(text) => text.to_owned(),
                        None => {
                            return Err(format!("the XML body uses an undeclared entity &{};", &*reference))
                        }
                    },
                };
                append(&mut stack, &resolved)?;
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err("the XML body ends inside an element".into());
    }
    root.ok_or_else(|| "the XML body has no root element".into())
}

fn open(start: &BytesStart<'_>) -> Result<Open, String> {
    let mut fields = Map::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| format!("malformed XML attribute: {e}"))?;
        let value = attribute
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| format!("malformed XML attribute value: {e}"))?;
        fields.insert(format!("@{}", attribute.key.as_ref()), Value::String(value.into_owned()));
    }
    Ok(Open { name: start.name().as_ref().to_owned(), fields, text: String::new() })
}

/// Text outside the root element is only whitespace in a document; anything else is refused.
fn append(stack: &mut [Open], text: &str) -> Result<(), String> {
    match stack.last_mut() {
        Some(element) => {
            element.text.push_str(text);
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err("the XML body has text outside its root element".into()),
    }
}

fn close(element: Open, stack: &mut [Open], root: &mut Option<Value>) {
    let Open { name, mut fields, text } = element;
    let text = text.trim().to_owned();
    let value = if fields.is_empty() {
        Value::String(text)
    } else {
        if !text.is_empty() {
            fields.insert("#text".into(), Value::String(text));
        }
        Value::Object(fields)
    };
    match stack.last_mut() {
        // An element's value is never an array, so an array here is a repeated element.
        Some(parent) => match parent.fields.get_mut(&name) {
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
            None => {
                parent.fields.insert(name, value);
            }
        },
        None => {
            let mut document = Map::new();
            document.insert(name, value);
            *root = Some(Value::Object(document));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn convert(xml: &str) -> Value {
        to_json(xml.as_bytes(), 64).unwrap()
    }

    #[test]
    fn documents() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
            <!-- a notification -->
            <notification id="42" kind="payment">
              <amount currency="EUR">10.50</amount>
              <item>a</item><item>b &amp; c</item><item/>
              <note><![CDATA[<raw> & text]]></note>
              <empty></empty>
              <x:ns xmlns:x="urn:x">&#x41;&#66;</x:ns>
            </notification>"#;
        assert_eq!(
            convert(xml),
            json!({"notification": {
                "@id": "42", "@kind": "payment",
                "amount": {"@currency": "EUR", "#text": "10.50"},
                "item": ["a", "b & c", ""],
                "note": "<raw> & text",
                "empty": "",
                "x:ns": {"@xmlns:x": "urn:x", "#text": "AB"}
            }})
        );
        assert_eq!(convert("<a>1<b>2</b>3</a>"), json!({"a": {"b": "2", "#text": "13"}}));
    }

    #[test]
    fn malformed_or_hostile_documents_are_refused() {
        for bad in [
            "",
            "just text",
            "<a>",
            "<a></b>",
            "</a>",
            "<a/><b/>",
            "<a>&unknown;</a>",
            "<a x='1' x='2'/>",
            "<a>&#0;</a>",
            "text<a/>",
        ] {
            assert!(to_json(bad.as_bytes(), 64).is_err(), "{bad:?} was accepted");
        }
        assert!(to_json(&[0xff, b'<', b'a', b'/', b'>'], 64).is_err(), "not UTF-8");
        // An entity declared in a DTD is never expanded.
        let laughs = r#"<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><l>&b;</l>"#;
        assert!(to_json(laughs.as_bytes(), 64).is_err());
        let deep = "<a>".repeat(65) + &"</a>".repeat(65);
        assert!(to_json(deep.as_bytes(), 64).unwrap_err().contains("deeper"));
        let ok = "<a>".repeat(64) + &"</a>".repeat(64);
        assert!(to_json(ok.as_bytes(), 64).is_ok());
    }
}
