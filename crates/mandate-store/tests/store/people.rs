//! People's rows: the one-time setup under concurrent attempts, lockout counting, shared rate
//! limits, the last-owner rule, single-use invites, TOTP steps and backup codes.

use mandate_store::people::invites::{self, Acceptor, NewInvite};
use mandate_store::people::lockouts::{self, LockoutRule};
use mandate_store::people::users::NewUser;
use mandate_store::people::{Role, memberships, mfa, setup};
use mandate_store::{Db, StoreError, rate_limits};
use time::{Duration, OffsetDateTime};

store_suite!(
    setup_happens_once_under_concurrent_attempts,
    lockout_after_five_failures_in_the_window,
    rate_limit_counts_every_hit_once,
    a_written_behind_count_only_ever_rises,
    the_last_owner_cannot_be_demoted_or_removed,
    invites_work_once,
    totp_steps_and_backup_codes_work_once,
);

fn user(email: &str) -> NewUser {
    NewUser::new(email, None, "$argon2id$stand-in".into()).unwrap()
}

async fn setup_happens_once_under_concurrent_attempts(db: &Db) {
    assert!(!setup::is_done(db).await.unwrap());
    let now = OffsetDateTime::now_utc();
    let attempts = (0..16).map(|i| {
        let db = db.clone();
        tokio::spawn(async move {
            setup::complete(&db, user(&format!("owner{i}@example.com")), "Acme", now).await
        })
    });
    let mut won = Vec::new();
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(done) => won.push(done),
            Err(StoreError::Conflict(_)) => {}
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    assert_eq!(won.len(), 1, "exactly one attempt creates the owner");
    assert!(setup::is_done(db).await.unwrap());
    let (owner, workspace) = &won[0];
    let members = memberships::list(db, workspace.id).await.unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(
        (members[0].user_id, members[0].role),
        (owner.id, Role::Owner)
    );
    // Nothing of the losing attempts was written.
    for i in 0..16 {
        let email = format!("owner{i}@example.com");
        let found = mandate_store::people::users::by_email(db, &email)
            .await
            .unwrap();
        assert_eq!(found.is_some(), email == owner.email, "{email}");
    }
}

async fn lockout_after_five_failures_in_the_window(db: &Db) {
    let rule = LockoutRule {
        max_failures: 5,
        window: Duration::minutes(15),
        lock_for: Duration::minutes(15),
    };
    let t0 = OffsetDateTime::now_utc();
    for i in 0..4 {
        let locked = lockouts::record_failure(db, "s1", t0 + Duration::minutes(i), rule)
            .await
            .unwrap();
        assert_eq!(locked, None);
    }
    let fifth = t0 + Duration::minutes(4);
    let locked = lockouts::record_failure(db, "s1", fifth, rule)
        .await
        .unwrap();
    assert!(locked.is_some());
    assert!(
        lockouts::locked_until(db, "s1", fifth + Duration::minutes(14))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        lockouts::locked_until(db, "s1", fifth + Duration::minutes(16))
            .await
            .unwrap()
            .is_none()
    );
    // Failures spread wider than the window never lock.
    for i in 0..10 {
        let at = t0 + Duration::minutes(16 * i);
        assert_eq!(
            lockouts::record_failure(db, "s2", at, rule).await.unwrap(),
            None
        );
    }
    // Concurrent failures all count.
    let hits = (0..5).map(|_| {
        let db = db.clone();
        tokio::spawn(async move { lockouts::record_failure(&db, "s3", t0, rule).await.unwrap() })
    });
    let mut locks = 0;
    for hit in hits {
        locks += usize::from(hit.await.unwrap().is_some());
    }
    assert_eq!(locks, 1);
}

async fn rate_limit_counts_every_hit_once(db: &Db) {
    let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    let hits = (0..20).map(|_| {
        let db = db.clone();
        tokio::spawn(async move {
            rate_limits::hit(&db, "ip:192.0.2.1", Duration::minutes(1), now)
                .await
                .unwrap()
                .count
        })
    });
    let mut counts = Vec::new();
    for hit in hits {
        counts.push(hit.await.unwrap());
    }
    counts.sort();
    assert_eq!(counts, (1..=20).collect::<Vec<i64>>());
    let next = rate_limits::hit(
        db,
        "ip:192.0.2.1",
        Duration::minutes(1),
        now + Duration::minutes(1),
    )
    .await
    .unwrap();
    assert_eq!(next.count, 1, "a new window starts from zero");
}

async fn a_written_behind_count_only_ever_rises(db: &Db) {
    let now = OffsetDateTime::from_unix_timestamp(1_800_000_030).unwrap();
    let hour = Duration::hours(1);
    let (start, _) = rate_limits::window_of(hour, now).unwrap();
    let bucket = "policy:written-behind";
    assert_eq!(
        rate_limits::count(db, bucket, hour, now)
            .await
            .unwrap()
            .count,
        0
    );
    rate_limits::raise(db, bucket, start, 7).await.unwrap();
    rate_limits::raise(db, bucket, start, 5).await.unwrap();
    let seen = rate_limits::count(db, bucket, hour, now).await.unwrap();
    assert_eq!(seen.count, 7, "a lower total does not replace a higher one");
    assert_eq!(seen.window_ends, start + hour);
    rate_limits::raise(db, bucket, start, 9).await.unwrap();
    assert_eq!(
        rate_limits::count(db, bucket, hour, now)
            .await
            .unwrap()
            .count,
        9
    );
    let next_hour = rate_limits::count(db, bucket, hour, now + hour)
        .await
        .unwrap();
    assert_eq!(next_hour.count, 0, "the next window starts from zero");
    assert_eq!(
        rate_limits::hit(db, bucket, hour, now).await.unwrap().count,
        10,
        "hits and written-behind totals share the row"
    );
}

async fn the_last_owner_cannot_be_demoted_or_removed(db: &Db) {
    let now = OffsetDateTime::now_utc();
    let (owner, ws) = setup::complete(db, user("o@example.com"), "W", now)
        .await
        .unwrap();
    let (other, _) = setup::register(db, user("p@example.com"), "P", now)
        .await
        .unwrap();
    assert!(matches!(
        memberships::set_role(db, ws.id, owner.id, Role::Admin).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        memberships::remove(db, ws.id, owner.id).await,
        Err(StoreError::Conflict(_))
    ));
    memberships::add(db, ws.id, other.id, Role::Owner, now)
        .await
        .unwrap();
    // Two owners demoting each other at once: one of them stays owner.
    let a = tokio::spawn({
        let db = db.clone();
        async move { memberships::set_role(&db, ws.id, owner.id, Role::Viewer).await }
    });
    let b = tokio::spawn({
        let db = db.clone();
        async move { memberships::set_role(&db, ws.id, other.id, Role::Viewer).await }
    });
    let results = [a.await.unwrap(), b.await.unwrap()];
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    let owners = memberships::list(db, ws.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.role == Role::Owner)
        .count();
    assert_eq!(owners, 1);
    assert!(matches!(
        memberships::set_role(db, ws.id, uuid::Uuid::now_v7(), Role::Viewer).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn invites_work_once(db: &Db) {
    let now = OffsetDateTime::now_utc();
    let (owner, ws) = setup::complete(db, user("o@example.com"), "W", now)
        .await
        .unwrap();
    let hash = [7u8; 32];
    let invite = invites::create(
        db,
        NewInvite {
            workspace_id: ws.id,
            email: "New@Example.com",
            role: Role::Operator,
            token_hash: &hash,
            created_by: owner.id,
            now,
            expires_at: now + Duration::hours(1),
        },
    )
    .await
    .unwrap();
    assert_eq!(invite.email, "new@example.com");
    let found = invites::by_token_hash(db, &hash).await.unwrap().unwrap();
    let both = [0, 1].map(|i| {
        let (db, found) = (db.clone(), found.clone());
        tokio::spawn(async move {
            invites::accept(
                &db,
                &found,
                Acceptor::New(user(&format!("n{i}@example.com"))),
                now,
            )
            .await
        })
    });
    let mut ok = 0;
    for r in both {
        ok += usize::from(r.await.unwrap().is_ok());
    }
    assert_eq!(ok, 1, "one link, one account");
    assert_eq!(memberships::list(db, ws.id).await.unwrap().len(), 2);
    assert!(invites::pending(db, ws.id, now).await.unwrap().is_empty());

    // Expired and revoked invites do not work.
    let hash2 = [8u8; 32];
    let short = invites::create(
        db,
        NewInvite {
            workspace_id: ws.id,
            email: "late@example.com",
            role: Role::Viewer,
            token_hash: &hash2,
            created_by: owner.id,
            now,
            expires_at: now + Duration::seconds(1),
        },
    )
    .await
    .unwrap();
    let later = now + Duration::seconds(2);
    assert!(matches!(
        invites::accept(db, &short, Acceptor::New(user("late@example.com")), later).await,
        Err(StoreError::Conflict(_))
    ));
    let hash3 = [9u8; 32];
    let revoked = invites::create(
        db,
        NewInvite {
            workspace_id: ws.id,
            email: "r@example.com",
            role: Role::Viewer,
            token_hash: &hash3,
            created_by: owner.id,
            now,
            expires_at: now + Duration::hours(1),
        },
    )
    .await
    .unwrap();
    invites::revoke(db, ws.id, revoked.id, now).await.unwrap();
    assert!(
        invites::accept(db, &revoked, Acceptor::New(user("r@example.com")), now)
            .await
            .is_err()
    );
    assert!(
        mandate_store::people::users::by_email(db, "r@example.com")
            .await
            .unwrap()
            .is_none()
    );
}

async fn totp_steps_and_backup_codes_work_once(db: &Db) {
    let now = OffsetDateTime::now_utc();
    let (owner, _) = setup::complete(db, user("o@example.com"), "W", now)
        .await
        .unwrap();
    mfa::begin_totp(db, owner.id, "sealed-1", now)
        .await
        .unwrap();
    // Unconfirmed: codes do not count as a second factor yet.
    assert!(!mfa::use_totp_step(db, owner.id, 100, None).await.unwrap());
    assert!(
        mfa::use_totp_step(db, owner.id, 100, Some(now))
            .await
            .unwrap()
    );
    assert!(matches!(
        mfa::begin_totp(db, owner.id, "sealed-2", now).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(
        !mfa::use_totp_step(db, owner.id, 100, None).await.unwrap(),
        "same step twice"
    );
    assert!(
        !mfa::use_totp_step(db, owner.id, 99, None).await.unwrap(),
        "older step"
    );
    let both = [0, 1].map(|_| {
        let db = db.clone();
        tokio::spawn(async move { mfa::use_totp_step(&db, owner.id, 101, None).await.unwrap() })
    });
    let mut accepted = 0;
    for r in both {
        accepted += usize::from(r.await.unwrap());
    }
    assert_eq!(accepted, 1);

    let hashes: Vec<[u8; 32]> = (0..10u8).map(|i| [i; 32]).collect();
    mfa::replace_backup_codes(db, owner.id, &hashes)
        .await
        .unwrap();
    assert_eq!(mfa::backup_codes_left(db, owner.id).await.unwrap(), 10);
    assert!(
        mfa::use_backup_code(db, owner.id, &[3; 32], now)
            .await
            .unwrap()
    );
    assert!(
        !mfa::use_backup_code(db, owner.id, &[3; 32], now)
            .await
            .unwrap()
    );
    assert!(
        !mfa::use_backup_code(db, owner.id, &[42; 32], now)
            .await
            .unwrap()
    );
    assert_eq!(mfa::backup_codes_left(db, owner.id).await.unwrap(), 9);
    assert!(mfa::remove_totp(db, owner.id).await.unwrap());
    assert_eq!(mfa::backup_codes_left(db, owner.id).await.unwrap(), 0);
}
