//! `audit { redact [...] }`: the expression paths whose values are hidden
//! before an event is written anywhere. A string becomes `sha256:` and the
//! first 16 hex digits of its hash (equal values stay comparable); any
//! other value (a list of messages, an object) becomes `"[redacted]"`.
//!
//! Paths map onto event fields: `request.body.PATH` → `request.body.PATH`
//! (present only under `log_prompts on`), `request.header["NAME"]` →
//! `request.headers.NAME`, `client.id` → `client`, `client.team` → `team`,
//! `request.model` → `model`, `request.path` → `path`.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// The compiled `redact` list.
#[derive(Debug, Clone, Default)]
pub struct Rules(Vec<Vec<Step>>);

impl Rules {
    pub fn new(paths: &[String]) -> Self {
        Rules(paths.iter().filter_map(|p| parse(p)).collect())
    }

    pub fn apply(&self, fields: &mut Map<String, Value>) {
        for path in &self.0 {
            let Some((Step::Key(first), rest)) = path.split_first() else { continue };
            if let Some(v) = fields.get_mut(first) {
                hide_at(v, rest);
            }
        }
    }
}

fn hide_at(v: &mut Value, path: &[Step]) {
    match path.split_first() {
        None => *v = hidden(v),
        Some((Step::Key(k), rest)) => {
            if let Some(next) = v.as_object_mut().and_then(|o| o.get_mut(k)) {
                hide_at(next, rest);
            }
        }
        Some((Step::Index(i), rest)) => {
            if let Some(next) = v.as_array_mut().and_then(|a| a.get_mut(*i)) {
                hide_at(next, rest);
            }
        }
    }
}

/// The value written in place of a redacted one.
pub fn hidden(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::from(format!("sha256:{}", &super::chain::sha256_hex(s.as_bytes())[..16])),
        Value::Null => Value::Null,
        _ => Value::from("[redacted]"),
    }
}

/// An expression path as event field steps; `None` for a path no event
/// carries.
fn parse(path: &str) -> Option<Vec<Step>> {
    let path = path.trim();
    let simple = |f: &str| Some(vec![Step::Key(f.into())]);
    match path {
        "client.id" => return simple("client"),
        "client.team" => return simple("team"),
        "client.tier" => return simple("tier"),
        "request.model" => return simple("model"),
        "request.path" => return simple("path"),
        _ => {}
    }
    if let Some(name) = path.strip_prefix("request.header[").and_then(|r| r.strip_suffix(']')) {
        let name = name.trim().trim_matches('"').to_ascii_lowercase();
        return Some(vec![Step::Key("request".into()), Step::Key("headers".into()), Step::Key(name)]);
    }
    let rest = path.strip_prefix("request.body")?;
    let mut steps = vec![Step::Key("request".into()), Step::Key("body".into())];
    let mut rest = rest;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            steps.push(Step::Key(r[..end].to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = r[..end].trim();
            match inner.parse::<usize>() {
                Ok(i) => steps.push(Step::Index(i)),
                Err(_) => steps.push(Step::Key(inner.trim_matches('"').to_string())),
            }
            rest = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_hide_what_they_name_and_nothing_else() {
        let rules = Rules::new(&[
            "request.body.messages".into(),
            "request.body.metadata.user".into(),
            "request.body.tools[1].name".into(),
            "request.header[\"X-User\"]".into(),
            "client.id".into(),
            "time.hour".into(),
        ]);
        let mut e = json!({
            "client": "alice",
            "route": "chat",
            "request": {
                "headers": { "x-user": "bob@example.com", "user-agent": "sdk" },
                "body": {
                    "messages": [{ "role": "user", "content": "my secret" }],
                    "metadata": { "user": "u-1", "other": 1 },
                    "tools": [{ "name": "a" }, { "name": "b" }]
                }
            }
        });
        rules.apply(e.as_object_mut().unwrap());
        let text = e.to_string();
        assert!(!text.contains("my secret") && !text.contains("bob@example.com") && !text.contains("alice"), "{text}");
        assert_eq!(e["request"]["body"]["messages"], "[redacted]");
        assert_eq!(e["request"]["body"]["metadata"]["user"], hidden(&json!("u-1")));
        assert_eq!(e["request"]["body"]["metadata"]["other"], 1);
        assert_eq!(e["request"]["body"]["tools"][0]["name"], "a");
        assert!(e["request"]["body"]["tools"][1]["name"].as_str().unwrap().starts_with("sha256:"));
        assert_eq!(e["request"]["headers"]["user-agent"], "sdk");
        assert_eq!(e["route"], "chat");
    }
}
