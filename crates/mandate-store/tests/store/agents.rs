//! Agents' rows: a bootstrap secret enrolls once under concurrent use, a `jti` is taken once,
//! revoking a key or re-enrolling ends tokens, disabling keeps the secret unused.

use mandate_store::Db;
use mandate_store::agents::bootstrap::{self, EnrollRefused, NewSecret};
use mandate_store::agents::keys::{self, NewKey};
use mandate_store::agents::tokens::{self, Exchange, Exchanged};
use mandate_store::agents::{self, AgentChanges, AgentStatus, NewAgent};
use mandate_store::people::setup;
use mandate_store::people::users::NewUser;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

store_suite!(
    a_bootstrap_secret_enrolls_once_under_concurrent_use,
    a_jti_is_taken_once_and_revoking_a_key_ends_its_tokens,
    re_enrolling_replaces_keys_and_a_disabled_agent_keeps_its_secret,
);

fn key(kid: &str) -> NewKey<'_> {
    NewKey {
        kid,
        alg: "ES256",
        thumbprint: "thumb",
        public_jwk: r#"{"kty":"EC"}"#,
    }
}

/// A workspace with an agent and an unused bootstrap secret hashed as `[1; 32]`.
async fn agent_with_secret(db: &Db) -> (Uuid, agents::Agent) {
    let now = OffsetDateTime::now_utc();
    let owner = NewUser::new("owner@example.com", None, "$argon2id$stand-in".into()).unwrap();
    let (owner, workspace) = setup::complete(db, owner, "Acme", now).await.unwrap();
    let agent = agents::create(
        db,
        NewAgent {
            workspace_id: workspace.id,
            name: "mail bot",
            description: "reads mail",
            owner_id: owner.id,
            now,
        },
        NewSecret {
            token_hash: &[1; 32],
            created_by: owner.id,
            expires_at: now + Duration::hours(1),
        },
    )
    .await
    .unwrap();
    assert_eq!(agent.status, AgentStatus::Pending);
    (owner.id, agent)
}

async fn set_enabled(db: &Db, agent: &agents::Agent, enabled: bool) -> agents::Agent {
    agents::update(
        db,
        agent.workspace_id,
        agent.id,
        AgentChanges {
            enabled: Some(enabled),
            ..AgentChanges::default()
        },
    )
    .await
    .unwrap()
}

async fn a_bootstrap_secret_enrolls_once_under_concurrent_use(db: &Db) {
    let (_, agent) = agent_with_secret(db).await;
    let now = OffsetDateTime::now_utc();
    let attempts: Vec<_> = (0..16)
        .map(|i| {
            let db = db.clone();
            tokio::spawn(async move {
                let kid = format!("k{i}");
                bootstrap::enroll(&db, &[1; 32], key(&kid), now).await
            })
        })
        .collect();
    let mut enrolled = Vec::new();
    for attempt in attempts {
        match attempt.await.unwrap().unwrap() {
            Ok(agent) => enrolled.push(agent),
            Err(refused) => assert_eq!(refused, EnrollRefused::InvalidSecret),
        }
    }
    assert_eq!(enrolled.len(), 1, "exactly one enrollment");
    assert_eq!(enrolled[0].status, AgentStatus::Active);
    assert_eq!(keys::active(db, agent.id).await.unwrap().len(), 1);
    assert_eq!(
        agents::create(
            db,
            NewAgent {
                workspace_id: agent.workspace_id,
                name: "mail bot",
                description: "",
                owner_id: agent.owner_id.unwrap(),
                now,
            },
            NewSecret {
                token_hash: &[2; 32],
                created_by: agent.owner_id.unwrap(),
                expires_at: now + Duration::hours(1),
            },
        )
        .await
        .unwrap_err()
        .to_string(),
        "conflict: an agent with this name exists in this workspace"
    );
}

async fn a_jti_is_taken_once_and_revoking_a_key_ends_its_tokens(db: &Db) {
    let (_, agent) = agent_with_secret(db).await;
    let now = OffsetDateTime::now_utc();
    bootstrap::enroll(db, &[1; 32], key("k1"), now)
        .await
        .unwrap()
        .unwrap();
    let key_id = keys::active(db, agent.id).await.unwrap()[0].id;
    let exchange = |jti: &'static str, hash: &'static [u8; 32], touch: bool| Exchange {
        agent_id: agent.id,
        key_id,
        jti,
        jti_expires_at: now + Duration::minutes(2),
        token_hash: hash,
        expires_at: now + Duration::hours(2),
        now,
        touch,
        hit: None,
    };
    assert_eq!(
        tokens::exchange(db, exchange("j1", &[7; 32], true))
            .await
            .unwrap(),
        Exchanged::Issued
    );
    // Both paths (PostgreSQL has a one-statement one without the touch) refuse a replay.
    for touch in [true, false] {
        assert_eq!(
            tokens::exchange(db, exchange("j1", &[8; 32], touch))
                .await
                .unwrap(),
            Exchanged::Replayed
        );
    }
    assert_eq!(
        tokens::exchange(db, exchange("j2", &[9; 32], false))
            .await
            .unwrap(),
        Exchanged::Issued
    );
    // The refused exchange wrote nothing.
    assert!(tokens::by_token_hash(db, &[8; 32]).await.unwrap().is_none());
    let owner = tokens::by_token_hash(db, &[7; 32]).await.unwrap().unwrap();
    assert_eq!(owner.agent_id, agent.id);
    assert_eq!(owner.workspace_id, agent.workspace_id);
    assert_eq!((owner.kid.as_str(), owner.key_revoked), ("k1", false));
    // Disabling shows on the token at once.
    set_enabled(db, &agent, false).await;
    let owner = tokens::by_token_hash(db, &[7; 32]).await.unwrap().unwrap();
    assert_eq!(owner.agent_status, AgentStatus::Disabled);
    // A writer whose view is stale is stopped by the write itself, and records no jti.
    for touch in [true, false] {
        assert_eq!(
            tokens::exchange(db, exchange("j3", &[10; 32], touch))
                .await
                .unwrap(),
            Exchanged::NotActive
        );
    }
    let enabled = set_enabled(db, &agent, true).await;
    assert_eq!(enabled.status, AgentStatus::Active);
    // Counted with the exchange (max 2 in the window): issued, then a replay, then over.
    for (bucket, touch) in [
        ("agent_token:10.8.8.1", false),
        ("agent_token:10.8.8.2", true),
    ] {
        let counted = |jti: &'static str, hash: &'static [u8; 32]| Exchange {
            hit: Some(tokens::Hit {
                bucket,
                window: Duration::minutes(1),
                max: 2,
            }),
            ..exchange(jti, hash, touch)
        };
        let (first, second): (&'static str, &'static [u8; 32]) = if touch {
            ("j8", &[15; 32])
        } else {
            ("j7", &[14; 32])
        };
        assert_eq!(
            tokens::exchange(db, counted(first, second)).await.unwrap(),
            Exchanged::Issued
        );
        assert_eq!(
            tokens::exchange(db, counted(first, &[16; 32]))
                .await
                .unwrap(),
            Exchanged::Replayed
        );
        assert!(matches!(
            tokens::exchange(db, counted("j9", &[17; 32]))
                .await
                .unwrap(),
            Exchanged::RateLimited { .. }
        ));
        assert!(
            tokens::by_token_hash(db, &[17; 32])
                .await
                .unwrap()
                .is_none()
        );
    }
    keys::revoke(db, agent.id, "k1", now).await.unwrap();
    assert!(tokens::by_token_hash(db, &[7; 32]).await.unwrap().is_none());
    assert!(keys::revoke(db, agent.id, "k1", now).await.is_err());
    // Counted with the exchange: over the limit nothing is written, on both paths.
    let limited = |jti: &'static str, hash: &'static [u8; 32], touch: bool| Exchange {
        hit: Some(tokens::Hit {
            bucket: "agent_token:10.9.9.9",
            window: Duration::minutes(1),
            max: 2,
        }),
        ..exchange(jti, hash, touch)
    };
    assert_eq!(
        tokens::exchange(db, limited("j4", &[11; 32], false))
            .await
            .unwrap(),
        Exchanged::NotActive,
        "counted (1 of 2), then refused for the revoked key"
    );
    assert_eq!(
        tokens::exchange(db, limited("j5", &[12; 32], true))
            .await
            .unwrap(),
        Exchanged::NotActive
    );
    for touch in [false, true] {
        assert!(matches!(
            tokens::exchange(db, limited("j6", &[13; 32], touch))
                .await
                .unwrap(),
            Exchanged::RateLimited { .. }
        ));
    }
    assert!(
        tokens::by_token_hash(db, &[13; 32])
            .await
            .unwrap()
            .is_none()
    );
    // Past their windows, jtis are forgotten.
    assert_eq!(tokens::count_jtis(db).await.unwrap(), 4);
    tokens::delete_expired(db, now + Duration::minutes(3))
        .await
        .unwrap();
    assert_eq!(tokens::count_jtis(db).await.unwrap(), 0);
}

async fn re_enrolling_replaces_keys_and_a_disabled_agent_keeps_its_secret(db: &Db) {
    let (owner_id, agent) = agent_with_secret(db).await;
    let now = OffsetDateTime::now_utc();
    bootstrap::enroll(db, &[1; 32], key("k1"), now)
        .await
        .unwrap()
        .unwrap();
    keys::add(db, agent.id, key("k2"), now).await.unwrap();
    assert!(keys::add(db, agent.id, key("k2"), now).await.is_err());
    let secret = |hash: &'static [u8; 32]| NewSecret {
        token_hash: hash,
        created_by: owner_id,
        expires_at: now + Duration::hours(1),
    };
    bootstrap::issue(db, agent.workspace_id, agent.id, secret(&[3; 32]), now)
        .await
        .unwrap();
    // A newer secret replaces an unused older one.
    bootstrap::issue(db, agent.workspace_id, agent.id, secret(&[4; 32]), now)
        .await
        .unwrap();
    assert_eq!(
        bootstrap::enroll(db, &[3; 32], key("k3"), now)
            .await
            .unwrap(),
        Err(EnrollRefused::InvalidSecret)
    );
    set_enabled(db, &agent, false).await;
    assert_eq!(
        bootstrap::enroll(db, &[4; 32], key("k3"), now)
            .await
            .unwrap(),
        Err(EnrollRefused::Disabled)
    );
    set_enabled(db, &agent, true).await;
    // Still unused: it works now, and leaves k3 the only active key.
    bootstrap::enroll(db, &[4; 32], key("k3"), now)
        .await
        .unwrap()
        .unwrap();
    let active: Vec<String> = keys::active(db, agent.id)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(active, ["k3"]);
    assert_eq!(keys::list(db, agent.id).await.unwrap().len(), 3);
    // An expired secret does not enroll.
    bootstrap::issue(
        db,
        agent.workspace_id,
        agent.id,
        NewSecret {
            token_hash: &[5; 32],
            created_by: owner_id,
            expires_at: now - Duration::seconds(1),
        },
        now,
    )
    .await
    .unwrap();
    assert_eq!(
        bootstrap::enroll(db, &[5; 32], key("k4"), now)
            .await
            .unwrap(),
        Err(EnrollRefused::InvalidSecret)
    );
    agents::delete(db, agent.workspace_id, agent.id)
        .await
        .unwrap();
    assert!(agents::by_id(db, agent.id).await.unwrap().is_none());
    assert!(keys::list(db, agent.id).await.unwrap().is_empty());
}
