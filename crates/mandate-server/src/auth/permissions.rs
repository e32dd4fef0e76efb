//! The permission matrix, and which permission each `/v1` route needs: the one place where
//! access to the management API is decided (enforced by [`super::authorize`]). docs/security.md
//! shows both tables; a test checks that it says exactly what this file says.
//!
//! A route missing from [`ROUTES`] is refused with 403 for everyone: new routes are closed until
//! someone decides who may call them.

use axum::http::Method;
use mandate_store::people::Role;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    ReadWorkspace,
    ManageWorkspace,
    ReadMembers,
    InviteMembers,
    RemoveMembers,
    ChangeRoles,
    ManageOwnTokens,
    ReadAudit,
    ExportAudit,
    ReadSystemHealth,
    ReadKeys,
    RotateKeys,
    ReadConnections,
    ManageOAuthApps,
    ConnectAccounts,
    DeleteConnections,
    ReadAgents,
    ManageAgents,
    ReadPolicies,
    ManagePolicies,
    ReadApprovals,
    Approve,
    ReadEvents,
    ManageNotifications,
}

/// What a permission asks of the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gate {
    /// The lowest role that has it (roles above have it too).
    pub min_role: Role,
    /// A second factor within the last 5 minutes (so never with a personal access token).
    pub step_up: bool,
}

const fn gate(min_role: Role, step_up: bool) -> Gate {
    Gate { min_role, step_up }
}

impl Permission {
    pub const ALL: [Permission; 24] = [
        Permission::ReadWorkspace,
        Permission::ManageWorkspace,
        Permission::ReadMembers,
        Permission::InviteMembers,
        Permission::RemoveMembers,
        Permission::ChangeRoles,
        Permission::ManageOwnTokens,
        Permission::ReadAudit,
        Permission::ExportAudit,
        Permission::ReadSystemHealth,
        Permission::ReadKeys,
        Permission::RotateKeys,
        Permission::ReadConnections,
        Permission::ManageOAuthApps,
        Permission::ConnectAccounts,
        Permission::DeleteConnections,
        Permission::ReadAgents,
        Permission::ManageAgents,
        Permission::ReadPolicies,
        Permission::ManagePolicies,
        Permission::ReadApprovals,
        Permission::Approve,
        Permission::ReadEvents,
        Permission::ManageNotifications,
    ];

    pub fn gate(self) -> Gate {
        use Role::*;
        match self {
            Permission::ReadWorkspace => gate(Viewer, false),
            Permission::ManageWorkspace => gate(Admin, false),
            Permission::ReadMembers => gate(Viewer, false),
            Permission::InviteMembers => gate(Admin, false),
            Permission::RemoveMembers => gate(Admin, true),
            Permission::ChangeRoles => gate(Admin, true),
            Permission::ManageOwnTokens => gate(Viewer, false),
            Permission::ReadAudit => gate(Viewer, false),
            Permission::ExportAudit => gate(Admin, true),
            Permission::ReadSystemHealth => gate(Admin, false),
            Permission::ReadKeys => gate(Admin, false),
            Permission::RotateKeys => gate(Owner, true),
            Permission::ReadConnections => gate(Viewer, false),
            Permission::ManageOAuthApps => gate(Admin, false),
            Permission::ConnectAccounts => gate(Operator, false),
            Permission::DeleteConnections => gate(Operator, true),
            Permission::ReadAgents => gate(Viewer, false),
            Permission::ManageAgents => gate(Operator, false),
            Permission::ReadPolicies => gate(Viewer, false),
            Permission::ManagePolicies => gate(Admin, false),
            Permission::ReadApprovals => gate(Viewer, false),
            Permission::Approve => gate(Operator, false),
            Permission::ReadEvents => gate(Viewer, false),
            Permission::ManageNotifications => gate(Admin, false),
        }
    }

    /// The name used in docs/security.md.
    pub fn name(self) -> &'static str {
        match self {
            Permission::ReadWorkspace => "read workspace",
            Permission::ManageWorkspace => "manage workspace",
            Permission::ReadMembers => "read members",
            Permission::InviteMembers => "invite members",
            Permission::RemoveMembers => "remove members",
            Permission::ChangeRoles => "change roles",
            Permission::ManageOwnTokens => "manage own tokens",
            Permission::ReadAudit => "read audit",
            Permission::ExportAudit => "export audit",
            Permission::ReadSystemHealth => "read system health",
            Permission::ReadKeys => "read keys",
            Permission::RotateKeys => "rotate keys",
            Permission::ReadConnections => "read connections",
            Permission::ManageOAuthApps => "manage oauth apps",
            Permission::ConnectAccounts => "connect accounts",
            Permission::DeleteConnections => "delete connections",
            Permission::ReadAgents => "read agents",
            Permission::ManageAgents => "manage agents",
            Permission::ReadPolicies => "read policies",
            Permission::ManagePolicies => "manage policies",
            Permission::ReadApprovals => "read approvals",
            Permission::Approve => "approve",
            Permission::ReadEvents => "read live events",
            Permission::ManageNotifications => "manage notifications",
        }
    }
}

/// Every `/v1` management route: method, path as routed, permission.
pub const ROUTES: &[(Method, &str, Permission)] = &[
    (Method::GET, "/v1/workspace", Permission::ReadWorkspace),
    (Method::PATCH, "/v1/workspace", Permission::ManageWorkspace),
    (Method::GET, "/v1/workspaces", Permission::ReadWorkspace),
    (Method::GET, "/v1/members", Permission::ReadMembers),
    (Method::GET, "/v1/members/{userId}", Permission::ReadMembers),
    (
        Method::PATCH,
        "/v1/members/{userId}",
        Permission::ChangeRoles,
    ),
    (
        Method::DELETE,
        "/v1/members/{userId}",
        Permission::RemoveMembers,
    ),
    (Method::GET, "/v1/invites", Permission::InviteMembers),
    (Method::POST, "/v1/invites", Permission::InviteMembers),
    (
        Method::DELETE,
        "/v1/invites/{inviteId}",
        Permission::InviteMembers,
    ),
    (Method::GET, "/v1/tokens", Permission::ManageOwnTokens),
    (Method::POST, "/v1/tokens", Permission::ManageOwnTokens),
    (
        Method::DELETE,
        "/v1/tokens/{tokenId}",
        Permission::ManageOwnTokens,
    ),
    (Method::GET, "/v1/audit", Permission::ReadAudit),
    (Method::GET, "/v1/audit/export", Permission::ExportAudit),
    (
        Method::GET,
        "/v1/system/health",
        Permission::ReadSystemHealth,
    ),
    (Method::GET, "/v1/keys", Permission::ReadKeys),
    (Method::POST, "/v1/keys/rotate-dek", Permission::RotateKeys),
    (Method::GET, "/v1/agents", Permission::ReadAgents),
    (Method::POST, "/v1/agents", Permission::ManageAgents),
    (Method::GET, "/v1/agents/{agentId}", Permission::ReadAgents),
    (
        Method::PATCH,
        "/v1/agents/{agentId}",
        Permission::ManageAgents,
    ),
    (
        Method::DELETE,
        "/v1/agents/{agentId}",
        Permission::ManageAgents,
    ),
    (
        Method::POST,
        "/v1/agents/{agentId}/bootstrap-secret",
        Permission::ManageAgents,
    ),
    (
        Method::DELETE,
        "/v1/agents/{agentId}/keys/{kid}",
        Permission::ManageAgents,
    ),
    (Method::GET, "/v1/oauth-apps", Permission::ReadConnections),
    (Method::POST, "/v1/oauth-apps", Permission::ManageOAuthApps),
    (
        Method::GET,
        "/v1/oauth-apps/{appId}",
        Permission::ReadConnections,
    ),
    (
        Method::PATCH,
        "/v1/oauth-apps/{appId}",
        Permission::ManageOAuthApps,
    ),
    (
        Method::DELETE,
        "/v1/oauth-apps/{appId}",
        Permission::ManageOAuthApps,
    ),
    (Method::GET, "/v1/connections", Permission::ReadConnections),
    (Method::POST, "/v1/connections", Permission::ConnectAccounts),
    (
        Method::GET,
        "/v1/connections/{connectionId}",
        Permission::ReadConnections,
    ),
    (
        Method::DELETE,
        "/v1/connections/{connectionId}",
        Permission::DeleteConnections,
    ),
    (
        Method::POST,
        "/v1/connections/oauth/start",
        Permission::ConnectAccounts,
    ),
    (
        Method::GET,
        "/v1/connections/oauth/callback",
        Permission::ConnectAccounts,
    ),
    (
        Method::POST,
        "/v1/connections/{connectionId}/reconnect",
        Permission::ConnectAccounts,
    ),
    (Method::GET, "/v1/policies", Permission::ReadPolicies),
    (Method::POST, "/v1/policies", Permission::ManagePolicies),
    (
        Method::GET,
        "/v1/policies/{policyId}",
        Permission::ReadPolicies,
    ),
    (
        Method::PUT,
        "/v1/policies/{policyId}",
        Permission::ManagePolicies,
    ),
    (
        Method::DELETE,
        "/v1/policies/{policyId}",
        Permission::ManagePolicies,
    ),
    (
        Method::POST,
        "/v1/policies/{policyId}/test",
        Permission::ReadPolicies,
    ),
    (Method::GET, "/v1/approvals", Permission::ReadApprovals),
    (
        Method::GET,
        "/v1/approvals/{approvalId}",
        Permission::ReadApprovals,
    ),
    (
        Method::POST,
        "/v1/approvals/{approvalId}/approve",
        Permission::Approve,
    ),
    (
        Method::POST,
        "/v1/approvals/{approvalId}/deny",
        Permission::Approve,
    ),
    (
        Method::GET,
        "/v1/capabilities/services",
        Permission::ReadPolicies,
    ),
    (
        Method::GET,
        "/v1/agent-permission-requests",
        Permission::ReadApprovals,
    ),
    (
        Method::GET,
        "/v1/agent-permission-requests/{requestId}",
        Permission::ReadApprovals,
    ),
    (
        Method::POST,
        "/v1/agent-permission-requests/{requestId}/grant",
        Permission::ManagePolicies,
    ),
    (
        Method::POST,
        "/v1/agent-permission-requests/{requestId}/refuse",
        Permission::Approve,
    ),
    (Method::GET, "/v1/events", Permission::ReadEvents),
    (
        Method::GET,
        "/v1/notification-channels",
        Permission::ManageNotifications,
    ),
    (
        Method::POST,
        "/v1/notification-channels",
        Permission::ManageNotifications,
    ),
    (
        Method::GET,
        "/v1/notification-channels/{channelId}",
        Permission::ManageNotifications,
    ),
    (
        Method::PATCH,
        "/v1/notification-channels/{channelId}",
        Permission::ManageNotifications,
    ),
    (
        Method::DELETE,
        "/v1/notification-channels/{channelId}",
        Permission::ManageNotifications,
    ),
    (
        Method::POST,
        "/v1/notification-channels/{channelId}/rotate-secret",
        Permission::ManageNotifications,
    ),
    (
        Method::POST,
        "/v1/notification-channels/{channelId}/test",
        Permission::ManageNotifications,
    ),
    (
        Method::GET,
        "/v1/notification-channels/{channelId}/deliveries",
        Permission::ManageNotifications,
    ),
];

/// The routes agents call (the agent API contract's, as far as they exist): enrollment, token
/// exchange and key addition without a token, the rest with an agent access token. No other
/// `/v1` route accepts an agent token (403); a test checks it route by route.
pub const AGENT_ROUTES: &[(Method, &str)] = &[
    (Method::POST, "/v1/agents/bootstrap"),
    (Method::POST, "/v1/agents/token"),
    (Method::POST, "/v1/agents/keys"),
    (Method::GET, "/v1/agents/me"),
    (Method::DELETE, "/v1/agents/keys/{kid}"),
    (Method::POST, "/v1/vault/execute"),
    (Method::POST, "/v1/vault/token"),
    // Shared with people (`auth::caller`): an agent sees the connections it is bound to and
    // its own approval requests.
    (Method::GET, "/v1/connections"),
    (Method::GET, "/v1/approvals"),
    (Method::GET, "/v1/approvals/{approvalId}"),
    // Capability discovery and permission requests (the agent's own).
    (Method::GET, "/v1/capabilities/services"),
    (Method::GET, "/v1/capabilities/me"),
    (Method::POST, "/v1/agent-permission-requests"),
    (Method::GET, "/v1/agent-permission-requests"),
    (Method::GET, "/v1/agent-permission-requests/{requestId}"),
];

pub fn permission_for(method: &Method, path: &str) -> Option<Permission> {
    // HEAD is answered like GET.
    let method = if method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    ROUTES
        .iter()
        .find(|(m, p, _)| m == method && *p == path)
        .map(|(_, _, permission)| *permission)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_permission_once_and_routes_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for p in Permission::ALL {
            assert!(seen.insert(p.name()));
        }
        let mut routes = std::collections::HashSet::new();
        for (m, p, _) in ROUTES {
            assert!(routes.insert((m.clone(), *p)), "{m} {p} twice");
        }
    }

    #[test]
    fn the_sensitive_operations_need_step_up() {
        for p in [
            Permission::RotateKeys,
            Permission::ChangeRoles,
            Permission::DeleteConnections,
            Permission::ExportAudit,
        ] {
            assert!(p.gate().step_up, "{}", p.name());
        }
        assert_eq!(
            permission_for(&Method::HEAD, "/v1/audit"),
            Some(Permission::ReadAudit)
        );
        assert_eq!(permission_for(&Method::PUT, "/v1/audit"), None);
    }
}
