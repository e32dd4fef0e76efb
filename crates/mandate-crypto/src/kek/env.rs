//! `ENCRYPTION_KEY_MODE=env`: the KEK is ENCRYPTION_KEY itself (and, while rotating,
//! ENCRYPTION_KEY_PREVIOUS too). A DEK is wrapped as an [`envelope`](crate::envelope) under the
//! KEK, bound to the record `data_key/<dek kid>/<workspace>`.
//!
//! A KEK's id is `env-` and 12 hex characters of HMAC-SHA256(KEK, "mandate kek id"): stable,
//! tells keys apart, and reveals nothing usable about the key.

use aws_lc_rs::hmac;

use super::{KekError, WrapContext, WrappedDek};
use crate::Key256;
use crate::envelope::{self, DataKey, Envelope, RecordBinding};

const KIND: &str = "data_key";

pub struct EnvKek {
    current: DataKey,
    previous: Option<DataKey>,
}

impl std::fmt::Debug for EnvKek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvKek")
            .field("current", &self.current.kid())
            .field("previous", &self.previous.as_ref().map(DataKey::kid))
            .finish()
    }
}

/// The public id of an `env` KEK.
#[cfg(test)]
fn kek_id(key: &Key256) -> String {
    kek_id_with_prefix("env", key)
}

/// `<prefix>-` and 12 hex characters of HMAC-SHA256(key, "mandate kek id").
fn kek_id_with_prefix(prefix: &str, key: &Key256) -> String {
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, key.as_bytes()),
        b"mandate kek id",
    );
    let mut id = format!("{prefix}-");
    for byte in &tag.as_ref()[..6] {
        id.push_str(&format!("{byte:02x}"));
    }
    id
}

impl EnvKek {
    pub fn new(current: &Key256, previous: Option<&Key256>) -> Result<EnvKek, KekError> {
        EnvKek::with_prefix("env", current, previous)
    }

    /// A KEK held in memory whose ids start with `prefix` (`age` keeps its KEK this way once the
    /// age file is opened).
    pub fn with_prefix(
        prefix: &'static str,
        current: &Key256,
        previous: Option<&Key256>,
    ) -> Result<EnvKek, KekError> {
        let build = |key: &Key256| {
            DataKey::new(kek_id_with_prefix(prefix, key), key).map_err(|e| KekError::Provider {
                provider: prefix,
                reason: e.to_string(),
            })
        };
        let previous = previous.filter(|p| *p != current).map(build).transpose()?;
        Ok(EnvKek {
            current: build(current)?,
            previous,
        })
    }

    pub fn current_id(&self) -> &str {
        self.current.kid()
    }

    pub fn previous_id(&self) -> Option<&str> {
        self.previous.as_ref().map(DataKey::kid)
    }

    pub(super) fn wrap(
        &self,
        dek: &Key256,
        context: WrapContext<'_>,
    ) -> Result<WrappedDek, KekError> {
        let sealed =
            envelope::seal(&self.current, binding(context), dek.as_bytes()).map_err(|e| {
                KekError::Wrap {
                    dek_kid: context.dek_kid.to_string(),
                    reason: e.to_string(),
                }
            })?;
        Ok(WrappedDek {
            kek_id: self.current.kid().to_string(),
            wrapped: sealed.to_string(),
        })
    }

    pub(super) fn unwrap(
        &self,
        wrapped: &WrappedDek,
        context: WrapContext<'_>,
    ) -> Result<Key256, KekError> {
        let fail = |reason: String| KekError::Unwrap {
            dek_kid: context.dek_kid.to_string(),
            reason,
        };
        let key = [Some(&self.current), self.previous.as_ref()]
            .into_iter()
            .flatten()
            .find(|k| k.kid() == wrapped.kek_id)
            .ok_or_else(|| KekError::UnknownKek {
                kek_id: wrapped.kek_id.clone(),
                dek_kid: context.dek_kid.to_string(),
            })?;
        let envelope = Envelope::parse(&wrapped.wrapped).map_err(|e| fail(e.to_string()))?;
        let bytes = envelope
            .open(key, binding(context))
            .map_err(|e| fail(e.to_string()))?;
        let array: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| fail("not a 256-bit key".into()))?;
        Ok(Key256::from_bytes(array))
    }
}

fn binding(context: WrapContext<'_>) -> RecordBinding<'_> {
    RecordBinding {
        kind: KIND,
        row_id: context.dek_kid,
        workspace_id: context.workspace_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: WrapContext<'static> = WrapContext {
        workspace_id: "w1",
        dek_kid: "dek-1",
    };

    #[test]
    fn wraps_and_unwraps_bound_to_its_context() {
        let kek = EnvKek::new(&Key256::generate().unwrap(), None).unwrap();
        let dek = Key256::generate().unwrap();
        let wrapped = kek.wrap(&dek, CTX).unwrap();
        assert_eq!(wrapped.kek_id, kek.current_id());
        assert_eq!(kek.unwrap(&wrapped, CTX).unwrap(), dek);
        let other_ws = WrapContext {
            workspace_id: "w2",
            ..CTX
        };
        assert!(matches!(
            kek.unwrap(&wrapped, other_ws),
            Err(KekError::Unwrap { .. })
        ));
        let other_kid = WrapContext {
            dek_kid: "dek-2",
            ..CTX
        };
        assert!(matches!(
            kek.unwrap(&wrapped, other_kid),
            Err(KekError::Unwrap { .. })
        ));
    }

    #[test]
    fn previous_key_still_unwraps_and_unknown_keys_are_named() {
        let old = Key256::generate().unwrap();
        let new = Key256::generate().unwrap();
        let dek = Key256::generate().unwrap();
        let wrapped_by_old = EnvKek::new(&old, None).unwrap().wrap(&dek, CTX).unwrap();

        let rotating = EnvKek::new(&new, Some(&old)).unwrap();
        assert_eq!(rotating.unwrap(&wrapped_by_old, CTX).unwrap(), dek);
        assert_eq!(rotating.wrap(&dek, CTX).unwrap().kek_id, kek_id(&new));

        let forgot_previous = EnvKek::new(&new, None).unwrap();
        assert_eq!(
            forgot_previous.unwrap(&wrapped_by_old, CTX),
            Err(KekError::UnknownKek {
                kek_id: kek_id(&old),
                dek_kid: "dek-1".into()
            })
        );
    }

    #[test]
    fn kek_ids_are_stable_and_distinct() {
        let a = Key256::generate().unwrap();
        assert_eq!(kek_id(&a), kek_id(&a.clone()));
        assert_ne!(kek_id(&a), kek_id(&Key256::generate().unwrap()));
        assert_eq!(kek_id(&a).len(), 16);
    }
}
