//! `$prompt_text`: the text a person or agent wrote into an LLM request, whatever the provider's
//! shape: OpenAI / Anthropic / OpenRouter `messages[*].content` (a string or parts with `text`),
//! `system`, `prompt`, `input`, `instructions`, and Gemini `contents[*].parts[*].text` and
//! `systemInstruction.parts[*].text`. Plain-text bodies are their own prompt.

use serde_json::Value;

use crate::decide::Body;

/// The prompt's text, parts joined by newlines; `None` when the body holds none.
pub fn text(body: &Body) -> Option<String> {
    let v = match body {
        Body::Text(t) => return Some(t.clone()),
        Body::Json(v) => v,
    };
    let mut parts = Vec::new();
    for key in ["system", "prompt", "input", "instructions"] {
        if let Some(x) = v.get(key) {
            content(x, &mut parts);
        }
    }
    if let Some(messages) = v.get("messages").and_then(Value::as_array) {
        for m in messages {
            if let Some(c) = m.get("content") {
                content(c, &mut parts);
            }
        }
    }
    for key in ["contents", "systemInstruction"] {
        match v.get(key) {
            Some(Value::Array(items)) => items.iter().for_each(|i| gemini(i, &mut parts)),
            Some(item) => gemini(item, &mut parts),
            None => {}
        }
    }
    (!parts.is_empty()).then(|| parts.join("\n"))
}

fn content(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|i| content(i, out)),
        Value::Object(o) => {
            if let Some(Value::String(t)) = o.get("text") {
                out.push(t.clone());
            } else if let Some(c) = o.get("content") {
                content(c, out);
            }
        }
        _ => {}
    }
}

fn gemini(item: &Value, out: &mut Vec<String>) {
    if let Some(parts) = item.get("parts").and_then(Value::as_array) {
        for p in parts {
            if let Some(Value::String(t)) = p.get("text") {
                out.push(t.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_shape() {
        let openai = json!({"model": "m", "messages": [{"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hello"}]}]});
        assert_eq!(text(&Body::Json(openai)).unwrap(), "be brief\nhello");
        let anthropic = json!({"system": "sys", "messages": [{"role": "user", "content": "hi"}]});
        assert_eq!(text(&Body::Json(anthropic)).unwrap(), "sys\nhi");
        let gemini = json!({"contents": [{"parts": [{"text": "a"}, {"text": "b"}]}]});
        assert_eq!(text(&Body::Json(gemini)).unwrap(), "a\nb");
        assert_eq!(text(&Body::Json(json!({"x": 1}))), None);
        assert_eq!(text(&Body::Text("t".into())).unwrap(), "t");
    }
}
