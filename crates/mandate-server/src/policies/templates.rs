//! The policy library's action templates: what an agent can ask for (a permission request) and
//! what a person grants, as a ready policy document per provider capability. Embedded in the
//! binary; every document is checked by a test. `{apiHost}` in a base URL stands for the
//! connection's first API host (generic providers).

use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Clone, Debug, Deserialize)]
pub struct ActionTemplate {
    pub id: String,
    pub provider: String,
    #[serde(default)]
    pub service: Option<String>,
    pub name: String,
    pub description: String,
    pub document: Value,
}

impl ActionTemplate {
    /// The document for a connection whose first API host is `api_host`.
    pub fn document_for(&self, api_host: Option<&str>) -> Value {
        let text = self.document.to_string();
        match api_host {
            Some(host) => serde_json::from_str(&text.replace("{apiHost}", host))
                .unwrap_or_else(|_| self.document.clone()),
            None => self.document.clone(),
        }
    }

    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "provider": self.provider,
            "service": self.service,
            "name": self.name,
            "description": self.description,
            "document": self.document,
        })
    }
}

/// Every template, parsed once.
pub fn all() -> &'static [ActionTemplate] {
    static ALL: OnceLock<Vec<ActionTemplate>> = OnceLock::new();
    ALL.get_or_init(|| {
        serde_json::from_str(include_str!("templates.json")).unwrap_or_else(|e| {
            tracing::error!(error = %e, "the embedded action templates do not parse");
            Vec::new()
        })
    })
}

pub fn get(id: &str) -> Option<&'static ActionTemplate> {
    all().iter().find(|t| t.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_is_a_valid_policy_for_a_catalog_provider() {
        let catalog = crate::connections::catalog::Catalog::load(None).unwrap();
        assert!(all().len() >= 10);
        let mut ids = std::collections::HashSet::new();
        for t in all() {
            assert!(ids.insert(&t.id), "duplicate {}", t.id);
            let provider = catalog
                .get(&t.provider)
                .unwrap_or_else(|| panic!("{}: unknown provider {}", t.id, t.provider));
            if let Some(service) = &t.service {
                assert!(
                    provider.services.iter().any(|s| &s.id == service),
                    "{}: unknown service {service}",
                    t.id
                );
            }
            let doc = mandate_policy::from_value(t.document_for(Some("api.example.com")))
                .unwrap_or_else(|e| panic!("{}: {e:?}", t.id));
            mandate_policy::CompiledPolicy::compile(doc)
                .unwrap_or_else(|e| panic!("{}: {e:?}", t.id));
        }
    }
}
