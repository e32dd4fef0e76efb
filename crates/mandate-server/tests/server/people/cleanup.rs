//! The cleanup job removes what expired and nothing else.

use mandate_server::jobs::cleanup;
use mandate_store::people::{passkeys, setup};
use mandate_store::rate_limits;
use time::{Duration, OffsetDateTime};

use super::{Backend, Instance, PASSWORD, people_suite};

people_suite!(cleanup_removes_only_what_expired);

async fn cleanup_removes_only_what_expired(backend: Backend) {
    let instance = Instance::start(backend, &[]).await;
    let db = &instance.state.db;
    let mut kept = instance.owner("owner@example.com").await;
    let mut idle = instance.client();
    assert_eq!(idle.login("owner@example.com", PASSWORD).await.0, 200);
    let (_, me) = idle.get("/api/auth/session").await;
    let idle_id = me["createdAt"].clone();
    assert!(idle_id.is_string());
    let now = OffsetDateTime::now_utc();
    let sql = "UPDATE sessions SET last_seen_at = $1 WHERE created_at = (SELECT MAX(created_at) FROM sessions)";
    let old = now - Duration::minutes(31);
    match db {
        mandate_store::Db::Sqlite(pool) => {
            sqlx::query(sql).bind(old).execute(pool).await.unwrap();
        }
        mandate_store::Db::Postgres(pool) => {
            sqlx::query(sql).bind(old).execute(pool).await.unwrap();
        }
    }
    rate_limits::hit(
        db,
        "test:old",
        Duration::minutes(1),
        now - Duration::hours(3),
    )
    .await
    .unwrap();
    rate_limits::hit(db, "test:new", Duration::minutes(1), now)
        .await
        .unwrap();
    // Notice counters live a day: kept at 3 hours, gone at 3 days.
    for (bucket, at) in [
        ("notify:test-kept", now - Duration::hours(3)),
        ("notify:test-gone", now - Duration::days(3)),
    ] {
        rate_limits::hit(db, bucket, Duration::days(1), at)
            .await
            .unwrap();
    }
    setup::insert_token(
        db,
        &[7; 32],
        now - Duration::hours(30),
        now - Duration::hours(6),
    )
    .await
    .unwrap();

    // The owner's session, which stays (the idle one is the newest).
    const KEPT_SESSION: &str =
        "SELECT id FROM sessions WHERE created_at = (SELECT MIN(created_at) FROM sessions)";
    let session_id: uuid::Uuid = match db {
        mandate_store::Db::Sqlite(pool) => sqlx::query_scalar(KEPT_SESSION)
            .fetch_one(pool)
            .await
            .unwrap(),
        mandate_store::Db::Postgres(pool) => sqlx::query_scalar(KEPT_SESSION)
            .fetch_one(pool)
            .await
            .unwrap(),
    };
    for (kind, started) in [
        (
            passkeys::CeremonyKind::Registration,
            now - Duration::minutes(6),
        ),
        (passkeys::CeremonyKind::Authentication, now),
    ] {
        passkeys::start_ceremony(
            db,
            passkeys::NewCeremony {
                session_id,
                kind,
                state: "{}",
                label: None,
                now: started,
                expires_at: started + Duration::minutes(5),
            },
        )
        .await
        .unwrap();
    }

    let removed = cleanup::run_once(db, std::time::Duration::from_secs(1800), now)
        .await
        .unwrap();
    assert_eq!(removed.passkey_ceremonies, 1, "{removed:?}");
    assert_eq!(removed.sessions, 1, "{removed:?}");
    assert_eq!(removed.rate_limit_windows, 2, "{removed:?}");
    let kept_notice = rate_limits::count(
        db,
        "notify:test-kept",
        Duration::days(1),
        now - Duration::hours(3),
    )
    .await
    .unwrap();
    assert_eq!(kept_notice.count, 1);
    assert_eq!(removed.setup_tokens, 1, "{removed:?}");
    assert_eq!(kept.get("/v1/workspace").await.0, 200);
    assert_eq!(idle.get("/v1/workspace").await.0, 401);
    let again = cleanup::run_once(db, std::time::Duration::from_secs(1800), now)
        .await
        .unwrap();
    assert_eq!(again, cleanup::Removed::default());
    instance.stop().await;
}
