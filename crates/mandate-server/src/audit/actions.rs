//! The names of audited actions, in one place so the vocabulary stays consistent and an auditor
//! can read the whole list. Later features add theirs here.

/// The chain's first HMAC key was generated.
pub const AUDIT_KEY_CREATED: &str = "audit.key.created";
/// Every data key was re-wrapped under a new key encryption key (`mandate keys rotate-kek`).
pub const KEK_ROTATED: &str = "keys.kek.rotated";
/// Data keys still wrapped by a previous KEK were re-wrapped at start (after ENCRYPTION_KEY
/// changed, or a provider key version was rotated).
pub const KEK_REWRAPPED: &str = "keys.kek.rewrapped";
/// A workspace got a new data key and its secrets were re-encrypted.
pub const DEK_ROTATED: &str = "keys.dek.rotated";
/// A new signing key became current.
pub const SIGNING_KEY_ROTATED: &str = "keys.signing.rotated";
/// A key operation failed part-way (it resumes when run again).
pub const KEY_OPERATION_FAILED: &str = "keys.operation.failed";

/// The first owner and workspace were created (POST /api/setup or `mandate admin create-owner`).
pub const SETUP_COMPLETED: &str = "auth.setup.completed";
/// A setup attempt with a wrong or expired setup token.
pub const SETUP_REFUSED: &str = "auth.setup.refused";
/// Someone created an account and workspace through public registration.
pub const ACCOUNT_REGISTERED: &str = "auth.account.registered";
/// A password (and, if needed, second factor) sign-in succeeded; `details.stage` says which.
pub const LOGIN_SUCCEEDED: &str = "auth.login.succeeded";
/// A sign-in failed (wrong password, unknown address, wrong second factor).
pub const LOGIN_FAILED: &str = "auth.login.failed";
/// Too many failures locked an account (or an unknown address) for a while.
pub const LOGIN_LOCKED: &str = "auth.login.locked";
/// A second factor was confirmed in an already signed-in session (step-up).
pub const STEP_UP_SUCCEEDED: &str = "auth.mfa.step_up";
pub const LOGGED_OUT: &str = "auth.session.ended";
/// Every session of a person was ended ("log out everywhere").
pub const LOGGED_OUT_EVERYWHERE: &str = "auth.session.ended_all";
pub const SESSION_WORKSPACE_CHANGED: &str = "auth.session.workspace_changed";
pub const PASSWORD_CHANGED: &str = "auth.password.changed";
/// A short-lived JWT was issued from a session.
pub const JWT_ISSUED: &str = "auth.jwt.issued";
/// A presented bearer token was invalid, expired or revoked.
pub const AUTH_TOKEN_REJECTED: &str = "auth.token.rejected";
/// A request was refused by the permission matrix (role, read-only token, missing step-up).
pub const ACCESS_DENIED: &str = "auth.access.denied";
pub const TOTP_ENROLLED: &str = "auth.totp.enrolled";
pub const TOTP_REMOVED: &str = "auth.totp.removed";
pub const PASSKEY_ADDED: &str = "auth.passkey.added";
pub const PASSKEY_REMOVED: &str = "auth.passkey.removed";
pub const BACKUP_CODES_REGENERATED: &str = "auth.backup_codes.regenerated";
pub const PAT_CREATED: &str = "auth.pat.created";
pub const PAT_REVOKED: &str = "auth.pat.revoked";
pub const INVITE_CREATED: &str = "workspace.invite.created";
pub const INVITE_REVOKED: &str = "workspace.invite.revoked";
pub const INVITE_ACCEPTED: &str = "workspace.invite.accepted";
pub const MEMBER_ROLE_CHANGED: &str = "workspace.member.role_changed";
pub const MEMBER_REMOVED: &str = "workspace.member.removed";
pub const WORKSPACE_RENAMED: &str = "workspace.renamed";
/// Someone exported the audit log (the export's filter is in the details).
pub const AUDIT_EXPORTED: &str = "audit.exported";
/// A data key rotation was started from the API.
pub const DEK_ROTATION_STARTED: &str = "keys.dek.rotation_started";

/// An agent was created (with its first bootstrap secret).
pub const AGENT_CREATED: &str = "agent.created";
/// An agent's name, description or status changed; `details` says what.
pub const AGENT_UPDATED: &str = "agent.updated";
/// An agent was deleted with its keys and tokens.
pub const AGENT_DELETED: &str = "agent.deleted";
/// A new bootstrap secret was issued for an agent (earlier unused ones stop working).
pub const AGENT_BOOTSTRAP_ISSUED: &str = "agent.bootstrap.issued";
/// An agent enrolled a key with a bootstrap secret (earlier keys and tokens revoked).
pub const AGENT_ENROLLED: &str = "agent.enrolled";
/// An enrollment was refused; `details.reason` says why.
pub const AGENT_ENROLL_REFUSED: &str = "agent.enroll.refused";
/// An agent exchanged a client assertion for an access token.
pub const AGENT_TOKEN_ISSUED: &str = "agent.token.issued";
/// A client assertion was refused; `details.reason` names the exact check.
pub const AGENT_ASSERTION_REFUSED: &str = "agent.assertion.refused";
/// An agent access token was refused on an agent route (unknown, expired, agent disabled, key
/// revoked).
pub const AGENT_TOKEN_REJECTED: &str = "agent.token.rejected";
/// An agent added a key, proving it with its current key.
pub const AGENT_KEY_ADDED: &str = "agent.key.added";
/// An agent key was revoked (by the agent or a person); its tokens end.
pub const AGENT_KEY_REVOKED: &str = "agent.key.revoked";

/// A workspace registered an OAuth app (never with its secret in the record).
pub const OAUTH_APP_CREATED: &str = "oauth_app.created";
/// An OAuth app's name, client id, secret or endpoints changed; `details` says which.
pub const OAUTH_APP_UPDATED: &str = "oauth_app.updated";
pub const OAUTH_APP_DELETED: &str = "oauth_app.deleted";

/// A connection was made (OAuth callback or a pasted secret; `details.method` says which).
pub const CONNECTION_CREATED: &str = "connection.created";
/// A person consented again for an existing connection; its credential was replaced.
pub const CONNECTION_RECONNECTED: &str = "connection.reconnected";
/// A connect attempt failed (consent denied, bad or replayed state, provider error, no refresh
/// token); nothing was stored. `details.reason` says why.
pub const CONNECTION_CONNECT_FAILED: &str = "connection.connect_failed";
/// An access token was refreshed (`details.refreshTokenRotated`).
pub const CONNECTION_REFRESHED: &str = "connection.refreshed";
/// The provider refused the refresh token (`invalid_grant`): the connection needs re-consent.
pub const CONNECTION_NEEDS_REAUTH: &str = "connection.needs_reauth";
/// Refreshing failed for another reason; retried on the next use.
pub const CONNECTION_REFRESH_FAILED: &str = "connection.refresh_failed";
/// A connection was revoked: ciphertext deleted, provider asked to revoke
/// (`details.providerRevocation` says what it answered).
pub const CONNECTION_REVOKED: &str = "connection.revoked";

/// A policy bound an agent to a connection; `details` has the version and the document's hash.
pub const POLICY_CREATED: &str = "policy.created";
/// A policy's document changed; `details.beforeHash` and `afterHash` are SHA-256 of the
/// canonical documents, `version` the new version.
pub const POLICY_UPDATED: &str = "policy.updated";
/// A policy was deleted (the agent lost the connection); `details.beforeHash` is what it was.
pub const POLICY_DELETED: &str = "policy.deleted";

/// The gateway's decision on an agent's request, made durable before anything reaches the
/// provider: `decision`, `rule`, the request summary (method, host, path), the model.
pub const EXECUTE_DECISION: &str = "vault.execute.decision";
/// What happened after an allowed decision: the provider's status, the duration, redaction
/// counts; `correlation_id` ties it to its decision record.
pub const EXECUTE_OUTCOME: &str = "vault.execute.outcome";
/// A provider access token was handed to an agent (Model A); never the token itself.
pub const TOKEN_VENDED: &str = "vault.token.vended";
// A policy asking for approval is the decision record itself (`vault.execute.decision`,
// decision `approval_required`, with the approval request's id in its details).
/// A person approved an approval request (the decider is the actor; the reason in details).
pub const APPROVAL_APPROVED: &str = "approval.approved";
/// A person refused an approval request.
pub const APPROVAL_DENIED: &str = "approval.denied";
/// A notification channel was created (its kind and name; never its secrets).
pub const NOTIFICATION_CHANNEL_CREATED: &str = "notification_channel.created";
/// A channel's name, events or enabled flag changed.
pub const NOTIFICATION_CHANNEL_UPDATED: &str = "notification_channel.updated";
/// A channel was deleted (its queued deliveries with it).
pub const NOTIFICATION_CHANNEL_DELETED: &str = "notification_channel.deleted";
/// A webhook channel's signing secret was replaced; the old one stays valid until the time in
/// details.
pub const NOTIFICATION_SECRET_ROTATED: &str = "notification_channel.secret_rotated";
/// A notification could not be delivered after every retry: channel, event, attempts, reason.
pub const NOTIFICATION_FAILED: &str = "notification.failed";
/// An agent asked for an action template it has no policy for (its reason in details).
pub const PERMISSION_REQUESTED: &str = "permission_request.created";
/// A person granted a permission request: the connection bound and the policy created.
pub const PERMISSION_GRANTED: &str = "permission_request.granted";
/// A person refused a permission request.
pub const PERMISSION_REFUSED: &str = "permission_request.refused";
