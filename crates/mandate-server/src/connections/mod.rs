//! Connections: a person's account at a provider, linked to Mandate with its credentials in the
//! vault. So far: the provider [`catalog`] (what each provider is, where its credential may go,
//! how it is injected and refreshed). The connect flows, refresh and revocation come next.

pub mod catalog;
