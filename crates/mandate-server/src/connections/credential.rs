//! What a connection's sealed column holds: the provider credential, serialised and sealed by
//! the vault, bound to the connection's row (kind [`KIND`]). Never logged, never answered.

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::vault::{Vault, VaultError};

/// The vault kind connection credentials are bound to (and `sealed_columns::ALL` lists).
pub const KIND: &str = "connection_credential";
/// The vault kind of OAuth apps' client secrets.
pub const CLIENT_SECRET_KIND: &str = "oauth_client_secret";

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Credential {
    /// Tokens from an OAuth 2.0 provider.
    Oauth {
        access_token: String,
        refresh_token: Option<String>,
    },
    /// A pasted API key or bot token.
    Secret { secret: String },
    /// A user name and password or token, for HTTP basic.
    Basic { username: String, password: String },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credential::Oauth { .. } => "Credential::Oauth(..)",
            Credential::Secret { .. } => "Credential::Secret(..)",
            Credential::Basic { .. } => "Credential::Basic(..)",
        })
    }
}

impl Credential {
    pub fn refresh_token(&self) -> Option<&str> {
        match self {
            Credential::Oauth { refresh_token, .. } => refresh_token.as_deref(),
            _ => None,
        }
    }

    /// What is sent to the provider's API (bearer, header, query or path): the access token,
    /// or the pasted secret. None for basic credentials, which are sent as a pair.
    pub fn api_token(&self) -> Option<&str> {
        match self {
            Credential::Oauth { access_token, .. } => Some(access_token),
            Credential::Secret { secret } => Some(secret),
            Credential::Basic { .. } => None,
        }
    }

    pub async fn seal(
        &self,
        vault: &Vault,
        workspace_id: Uuid,
        connection_id: &str,
    ) -> Result<String, VaultError> {
        let json = Zeroizing::new(serde_json::to_vec(self).unwrap_or_default());
        vault.seal(workspace_id, KIND, connection_id, &json).await
    }

    pub async fn open(
        vault: &Vault,
        workspace_id: Uuid,
        connection_id: &str,
        sealed: &str,
    ) -> Result<Credential, VaultError> {
        let json = vault
            .open(workspace_id, KIND, connection_id, sealed)
            .await?;
        serde_json::from_slice(&json).map_err(|_| VaultError::Corrupt(KIND))
    }
}
