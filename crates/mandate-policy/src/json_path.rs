//! Field paths into JSON bodies: `a.b`, `items[*].id`, `items[0].id`, `[*].email`. Keys with
//! dots or brackets are not addressable (none of the providers' bodies need it).

use serde_json::{Map, Value};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    AnyIndex,
    Index(usize),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonPath {
    source: String,
    segments: Vec<Segment>,
}

impl JsonPath {
    pub fn parse(source: &str) -> Result<JsonPath, String> {
        let mut segments = Vec::new();
        if source.is_empty() {
            return Err("an empty path".into());
        }
        for (n, part) in source.split('.').enumerate() {
            let (key, mut rest) = match part.find('[') {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            if key.is_empty() && (n > 0 || rest.is_empty()) {
                return Err(format!("`{source}` has an empty segment"));
            }
            if !key.is_empty() {
                segments.push(Segment::Key(key.to_string()));
            }
            while !rest.is_empty() {
                let close = rest
                    .find(']')
                    .ok_or_else(|| format!("`{source}` has an unclosed `[`"))?;
                let inner = &rest[1..close];
                segments.push(match inner {
                    "*" => Segment::AnyIndex,
                    n => Segment::Index(
                        n.parse()
                            .map_err(|_| format!("`{source}`: `[{n}]` is not `[*]` or an index"))?,
                    ),
                });
                rest = &rest[close + 1..];
                if !rest.is_empty() && !rest.starts_with('[') {
                    return Err(format!(
                        "`{source}`: text after `]` must start a new segment"
                    ));
                }
            }
        }
        Ok(JsonPath {
            source: source.to_string(),
            segments,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Every value the path reaches (`[*]` fans out).
    pub fn select<'a>(&self, value: &'a Value) -> Vec<&'a Value> {
        let mut current = vec![value];
        for seg in &self.segments {
            let mut next = Vec::new();
            for v in current {
                match (seg, v) {
                    (Segment::Key(k), Value::Object(m)) => next.extend(m.get(k)),
                    (Segment::AnyIndex, Value::Array(a)) => next.extend(a.iter()),
                    (Segment::Index(i), Value::Array(a)) => next.extend(a.get(*i)),
                    _ => {}
                }
            }
            current = next;
        }
        current
    }

    /// Remove what the path reaches.
    pub fn remove(&self, value: &mut Value) {
        remove_at(value, &self.segments);
    }

    /// Whether `segments` (a concrete location, indices included) lies on or under this path.
    fn covers(&self, location: &[Segment]) -> bool {
        self.segments.len() <= location.len()
            && self
                .segments
                .iter()
                .zip(location)
                .all(|(p, l)| match (p, l) {
                    (Segment::AnyIndex, Segment::Index(_)) => true,
                    (a, b) => a == b,
                })
    }

    /// Whether `location` is a strict ancestor of something this path reaches.
    fn leads_to(&self, location: &[Segment]) -> bool {
        location.len() < self.segments.len()
            && self.segments[..location.len()]
                .iter()
                .zip(location)
                .all(|(p, l)| match (p, l) {
                    (Segment::AnyIndex, Segment::Index(_)) => true,
                    (a, b) => a == b,
                })
    }
}

fn remove_at(value: &mut Value, segments: &[Segment]) {
    let Some((first, rest)) = segments.split_first() else {
        return;
    };
    match (first, value) {
        (Segment::Key(k), Value::Object(m)) => {
            if rest.is_empty() {
                m.remove(k);
            } else if let Some(child) = m.get_mut(k) {
                remove_at(child, rest);
            }
        }
        (Segment::AnyIndex, Value::Array(a)) => {
            if rest.is_empty() {
                a.clear();
            } else {
                a.iter_mut().for_each(|child| remove_at(child, rest));
            }
        }
        (Segment::Index(i), Value::Array(a)) => {
            if rest.is_empty() {
                if *i < a.len() {
                    a.remove(*i);
                }
            } else if let Some(child) = a.get_mut(*i) {
                remove_at(child, rest);
            }
        }
        _ => {}
    }
}

/// Keep only what one of `paths` reaches (with the objects and arrays that lead to it).
pub fn keep_only(value: &mut Value, paths: &[JsonPath]) {
    let mut location = Vec::new();
    keep_at(value, paths, &mut location);
}

fn keep_at(value: &mut Value, paths: &[JsonPath], location: &mut Vec<Segment>) {
    match value {
        Value::Object(m) => {
            let old = std::mem::take(m);
            let mut kept = Map::new();
            for (k, mut child) in old {
                location.push(Segment::Key(k.clone()));
                if paths.iter().any(|p| p.covers(location)) {
                    kept.insert(k, child);
                } else if paths.iter().any(|p| p.leads_to(location)) {
                    keep_at(&mut child, paths, location);
                    kept.insert(k, child);
                }
                location.pop();
            }
            *m = kept;
        }
        Value::Array(a) => {
            let old = std::mem::take(a);
            for (i, mut child) in old.into_iter().enumerate() {
                location.push(Segment::Index(i));
                if paths.iter().any(|p| p.covers(location)) {
                    a.push(child);
                } else if paths.iter().any(|p| p.leads_to(location)) {
                    keep_at(&mut child, paths, location);
                    a.push(child);
                }
                location.pop();
            }
        }
        // A scalar at the top with paths below it: nothing of it is allowed.
        _ if !location.is_empty() || !paths.is_empty() => *value = Value::Null,
        _ => {}
    }
}

/// Visit every string in `value` with its location written as a path (`items[*].email`, array
/// indices shown as `[*]` so counts group per field).
pub fn for_each_string(value: &mut Value, f: &mut dyn FnMut(&str, &mut String)) {
    let mut location = String::new();
    walk_strings(value, &mut location, f);
}

fn walk_strings(value: &mut Value, location: &mut String, f: &mut dyn FnMut(&str, &mut String)) {
    match value {
        Value::String(s) => f(location, s),
        Value::Array(a) => {
            let len = location.len();
            location.push_str("[*]");
            for child in a {
                walk_strings(child, location, f);
            }
            location.truncate(len);
        }
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                let len = location.len();
                if !location.is_empty() {
                    location.push('.');
                }
                location.push_str(k);
                walk_strings(child, location, f);
                location.truncate(len);
            }
        }
        _ => {}
    }
}

/// Whether a generalised location (`items[*].email`) lies on or under one of `paths`.
pub fn location_under(location: &str, paths: &[JsonPath]) -> bool {
    let Ok(at) = JsonPath::parse(location) else {
        return false;
    };
    let at: Vec<Segment> = at
        .segments
        .into_iter()
        .map(|s| match s {
            Segment::AnyIndex => Segment::Index(0),
            other => other,
        })
        .collect();
    paths.iter().any(|p| {
        p.segments.len() <= at.len()
            && p.segments.iter().zip(&at).all(|(a, b)| match (a, b) {
                (Segment::AnyIndex | Segment::Index(_), Segment::Index(_)) => true,
                (a, b) => a == b,
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> JsonPath {
        JsonPath::parse(s).unwrap()
    }

    #[test]
    fn parse_and_select() {
        let v = json!({"a": {"b": [{"c": 1}, {"c": 2}, {"d": 3}]}, "top": [{"e": "x"}]});
        assert_eq!(p("a.b[*].c").select(&v), vec![&json!(1), &json!(2)]);
        assert_eq!(p("a.b[1].c").select(&v), vec![&json!(2)]);
        assert_eq!(p("top[*].e").select(&v), vec![&json!("x")]);
        assert!(p("a.zz").select(&v).is_empty());
        assert_eq!(p("[*].id").select(&json!([{"id": 1}])), vec![&json!(1)]);
        for bad in ["", "a..b", "a[", "a[x]", "a[*]b"] {
            assert!(JsonPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn remove_and_keep() {
        let mut v =
            json!({"id": 1, "user": {"email": "e", "name": "n"}, "items": [{"a": 1, "b": 2}]});
        p("user.email").remove(&mut v);
        p("items[*].b").remove(&mut v);
        assert_eq!(
            v,
            json!({"id": 1, "user": {"name": "n"}, "items": [{"a": 1}]})
        );
        let mut v = json!({"id": 1, "secret": "s", "items": [{"a": 1, "b": 2}], "user": {"name": "n", "email": "e"}});
        keep_only(&mut v, &[p("id"), p("items[*].a"), p("user")]);
        assert_eq!(
            v,
            json!({"id": 1, "items": [{"a": 1}], "user": {"name": "n", "email": "e"}})
        );
    }

    #[test]
    fn strings_are_visited_with_their_location() {
        let mut v = json!({"a": [{"b": "x"}], "c": "y"});
        let mut seen = Vec::new();
        for_each_string(&mut v, &mut |at, s| seen.push((at.to_string(), s.clone())));
        seen.sort();
        assert_eq!(
            seen,
            vec![("a[*].b".into(), "x".into()), ("c".into(), "y".into())]
        );
        assert!(location_under("a[*].b", &[p("a")]));
        assert!(location_under("a[*].b", &[p("a[*].b")]));
        assert!(!location_under("c", &[p("a")]));
    }
}
